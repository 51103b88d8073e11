-- model: Syndicated near-copies: pairs of unique articles whose bodies share most 5-word shingles, clustered.
--   Each article carries a one-permutation MinHash of its shingles (64 bins, computed while
--   cleaning: tasks/ingest/fingerprint.py). Candidates share one of 16 bands of 4 bins (LSH: 64% of pairs
--   at similarity 0.5 meet in a band, 99.6% at 0.7, 0.1% at 0.1); their similarity is the share of
--   bins, non-empty in either, holding the same value: an estimate of the Jaccard similarity of
--   the shingle sets. Pairs at 0.5 or more are kept; clusters are connected components.
-- column doc_id_a: the article (`marts.articles.doc_id`) with the smaller doc_id of the pair; key with doc_id_b.
-- column doc_id_b: the other article of the pair.
-- column similarity: estimated Jaccard similarity of the two sets of 5-word shingles (0.5..1, 4 decimals).
-- column matching_bins: MinHash bins (of 64) where both bodies have the same smallest shingle.
-- column cluster_id: smallest doc_id in the cluster of near-copies (connected pairs) both belong to.
-- column cluster_size: articles in that cluster.
-- test unique: doc_id_a, doc_id_b
-- test not_null: doc_id_a, doc_id_b
-- test relationships: doc_id_a -> marts.articles.doc_id
-- test relationships: doc_id_b -> marts.articles.doc_id
with recursive
signatures as (
    -- from the staging view, restricted to unique articles: marts.articles is rebuilt in the same
    -- transaction, and DuckDB plans joins over such uncommitted rows badly. Pairs are found on
    -- the row's integer id, not on the 64-character doc_id, which costs a join more memory and time
    select doc_id, lake_rowid as id, minhash
    from staging.stg_articles
    where minhash is not null and doc_id in (select doc_id from marts.articles)
),
bands as (
    select id, band, hash(minhash[band * 4 + 1 : band * 4 + 4]) as band_hash
    from signatures, range(16) as b(band)
    where list_count(minhash[band * 4 + 1 : band * 4 + 4]) = 4
),
candidates as (
    select distinct a.id as id_a, b.id as id_b
    from bands a join bands b on a.band = b.band and a.band_hash = b.band_hash and a.id < b.id
),
scored as (
    select least(sa.doc_id, sb.doc_id) as doc_id_a, greatest(sa.doc_id, sb.doc_id) as doc_id_b,
           list_count(list_filter(list_zip(sa.minhash, sb.minhash), p -> p[1] = p[2])) as matching_bins,
           list_count(list_filter(list_zip(sa.minhash, sb.minhash), p -> p[1] is not null or p[2] is not null)) as used_bins
    from candidates c
    join signatures sa on sa.id = c.id_a
    join signatures sb on sb.id = c.id_b
),
close_pairs as (
    select doc_id_a, doc_id_b, matching_bins, round(matching_bins / used_bins, 4) as similarity
    from scored
    where used_bins > 0 and matching_bins / used_bins >= 0.5
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
select s.doc_id_a, s.doc_id_b, s.similarity, s.matching_bins, c.cluster_id, cs.cluster_size
from close_pairs s
join clusters c on c.doc_id = s.doc_id_a
join cluster_sizes cs using (cluster_id)
