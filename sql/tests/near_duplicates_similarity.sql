-- test: the similarity of every near-duplicate pair is within 0.5..1.
select doc_id_a, doc_id_b, similarity
from marts.near_duplicates
where similarity not between 0.5 and 1
