-- test: marts.articles has one row per body_hash (exact copies collapsed) and no null hash.
select body_hash, count(*) as n_rows
from marts.articles
group by all
having count(*) > 1 or body_hash is null
