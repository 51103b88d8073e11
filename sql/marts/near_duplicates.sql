-- model: Syndicated near-copies: pairs of unique articles whose bodies share most 5-word shingles, clustered.
--   Candidates come from MinHash LSH (one-permutation MinHash: 64 bins of the shingle hash, 21 bands
--   of 3 bins; a pair is a candidate if one band matches: 94% of pairs at similarity 0.5, 2% at
--   0.1), then the exact Jaccard similarity of the two shingle sets is computed and pairs at 0.5 or
--   more kept. Clusters are connected components.
-- column doc_id_a: the article (`marts.articles.doc_id`) with the smaller doc_id of the pair; key with doc_id_b.
-- column doc_id_b: the other article of the pair.
-- column similarity: Jaccard similarity of the two sets of 5-word shingles (0.5..1, 4 decimals).
-- column shared_shingles: shingles the two bodies have in common.
-- column cluster_id: smallest doc_id in the cluster of near-copies (connected pairs) both belong to.
-- column cluster_size: articles in that cluster.
with recursive
words as (
    -- Bodies from the staging view, restricted to the unique articles: marts.articles is rebuilt in
    -- the same transaction, and DuckDB plans joins over such uncommitted rows badly (10x slower).
    select doc_id, list_filter(regexp_split_to_array(lower(body), '[^\p{L}\p{N}]+'), w -> w <> '') as words
    from staging.stg_articles
    where doc_id in (select doc_id from marts.articles)
),
shingles as materialized (
    -- 5-word shingles: the word list zipped with itself shifted by 1..4 (no lambda: fast)
    select distinct doc_id, hash(shingle) as h
    from (
        select doc_id, unnest(list_zip(words, words[2:], words[3:], words[4:], words[5:])) as shingle
        from words
        where len(words) >= 5
    )
    where shingle[5] is not null
),
sizes as (
    select doc_id, count(*) as n from shingles group by doc_id
),
signatures as (
    select doc_id, h % 64 as bin, min(h // 64) as v from shingles group by all
),
bands as (
    select doc_id, bin // 3 as band, hash(list(v order by bin)) as band_hash
    from signatures
    where bin < 63
    group by all
    having count(*) = 3
),
candidates as (
    select distinct a.doc_id as doc_id_a, b.doc_id as doc_id_b
    from bands a join bands b on a.band = b.band and a.band_hash = b.band_hash and a.doc_id < b.doc_id
),
pairs as (
    select c.doc_id_a, c.doc_id_b, count(*) as shared_shingles
    from candidates c
    join shingles sa on sa.doc_id = c.doc_id_a
    join shingles sb on sb.doc_id = c.doc_id_b and sb.h = sa.h
    group by all
),
close_pairs as (
    select p.doc_id_a, p.doc_id_b, p.shared_shingles,
           round(p.shared_shingles / (na.n + nb.n - p.shared_shingles), 4) as similarity
    from pairs p join sizes na on na.doc_id = p.doc_id_a join sizes nb on nb.doc_id = p.doc_id_b
    where p.shared_shingles / (na.n + nb.n - p.shared_shingles) >= 0.5
),
edges as (
    select doc_id_a as a, doc_id_b as b from close_pairs
    union all
    select doc_id_b, doc_id_a from close_pairs
),
reach(doc_id, root) as (
    select a, a from edges
    union
    select e.b, reach.root from reach join edges e on e.a = reach.doc_id
),
clusters as (
    select doc_id, min(root) as cluster_id from reach group by doc_id
),
cluster_sizes as (
    select cluster_id, count(*) as cluster_size from clusters group by cluster_id
)
select s.doc_id_a, s.doc_id_b, s.similarity, s.shared_shingles, c.cluster_id, cs.cluster_size
from close_pairs s
join clusters c on c.doc_id = s.doc_id_a
join cluster_sizes cs using (cluster_id)
