-- model: Syndicated near-copies by cluster: every unique article with at least one near-copy, its cluster and its similarity to the cluster's representative.
--   Clusters come from `dedup.clusters` (tasks/warehouse/neardup.py): MinHash LSH buckets over
--   16 bands of 4 bins, each article linked to the earliest article of each of its buckets when
--   their similarity is at least 0.5, clusters the connected components of these links, the
--   representative a cluster's earliest article. A run recomputes the clusters its new articles
--   joined. Pairs within small clusters: `marts.near_duplicate_pairs`.
-- materialized: incremental
-- unique_key: doc_id
-- partition_by: ingest_date
-- file_by: first_seen
-- column doc_id: the article (`marts.articles.doc_id`); primary key.
-- column cluster_id: doc_id of the cluster's representative, its earliest article.
-- column cluster_size: unique articles in the cluster.
-- column similarity: estimated Jaccard similarity of the article's 5-word shingles and the representative's
--   (1 for the representative; below 0.5 for an article linked through another member).
-- column first_seen: when the article's first copy was ingested (UTC).
-- column ingest_date: lake partition date of the article's first copy.
-- test unique: doc_id
-- test not_null: doc_id, cluster_id
-- test relationships: doc_id -> marts.articles.doc_id
-- test relationships: cluster_id -> marts.articles.doc_id
with touched as (
    select distinct cluster_no from changed.clusters
),
members as (
    select * from dedup.clusters semi join touched using (cluster_no)
),
sizes as (
    select cluster_no, count(*) as cluster_size from members group by cluster_no
)
select m.doc_id, m.cluster_id, s.cluster_size, m.similarity, m.first_seen, m.ingest_date
from members m
join sizes s using (cluster_no)
where s.cluster_size > 1
