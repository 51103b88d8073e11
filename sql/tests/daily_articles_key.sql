-- test: marts.daily_articles has exactly one row per (ingest_date, published_date) and no null ingest_date (published_date may be null).
select ingest_date, published_date, count(*) as n_rows
from marts.daily_articles
group by all
having count(*) > 1 or ingest_date is null
