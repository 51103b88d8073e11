-- test: marts.near_duplicates has exactly one row per (doc_id_a, doc_id_b) and no null key.
select doc_id_a, doc_id_b, count(*) as n_rows
from marts.near_duplicates
group by all
having count(*) > 1 or doc_id_a is null or doc_id_b is null
