-- test: marts.sources has exactly one row per (source_key) and no null key.
select source_key, count(*) as n_rows
from marts.sources
group by all
having count(*) > 1 or source_key is null
