-- test: both sides of every near-duplicate pair are unique articles, and similarity is within 0.5..1.
select n.doc_id_a, n.doc_id_b, n.similarity
from marts.near_duplicates n
left join marts.articles a on a.doc_id = n.doc_id_a
left join marts.articles b on b.doc_id = n.doc_id_b
where a.doc_id is null or b.doc_id is null or n.similarity not between 0.5 and 1
