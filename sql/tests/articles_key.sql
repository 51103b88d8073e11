-- test: marts.articles has exactly one row per (doc_id) and no null key.
select doc_id, count(*) as n_rows
from marts.articles
group by all
having count(*) > 1 or doc_id is null
