-- test: every near-copy's similarity to its representative is within 0..1, and the representative's is 1.
select doc_id, cluster_id, similarity
from changed.near_duplicates
where similarity not between 0 and 1 or (doc_id = cluster_id and similarity <> 1)
