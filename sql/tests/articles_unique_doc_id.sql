-- marts.articles has one row per doc_id
select doc_id, count(*) as n from marts.articles group by doc_id having count(*) > 1
