-- model: Pairs of near-copies within the clusters of at most 50 articles, with their estimated similarity (a view, computed when read).
-- materialized: view
-- column doc_id_a: the article of the pair with the smaller doc_id (`marts.articles.doc_id`).
-- column doc_id_b: the other article of the pair.
-- column cluster_id: their cluster (`marts.near_duplicates.cluster_id`).
-- column similarity: estimated Jaccard similarity of their 5-word shingles (4 decimals).
-- column matching_bins: MinHash bins (of 64) where both bodies have the same smallest shingle.
with small as (
    select cluster_no from dedup.clusters group by cluster_no having count(*) between 2 and 50
),
members as (
    select art_no, doc_id, cluster_no, cluster_id, minhash from dedup.clusters semi join small using (cluster_no)
),
pairs as (
    select least(a.doc_id, b.doc_id) as doc_id_a, greatest(a.doc_id, b.doc_id) as doc_id_b, a.cluster_id,
           list_count(list_filter(list_zip(a.minhash, b.minhash), p -> p[1] = p[2])) as matching_bins,
           list_count(list_filter(list_zip(a.minhash, b.minhash), p -> p[1] is not null or p[2] is not null)) as used_bins
    from members a
    join members b on a.cluster_no = b.cluster_no and a.art_no < b.art_no
)
select doc_id_a, doc_id_b, cluster_id, round(matching_bins / used_bins, 4) as similarity, matching_bins
from pairs
where used_bins > 0
