-- test: marts.sources has exactly one row per (source) and no null key.
select source, count(*) as n_rows
from marts.sources
group by all
having count(*) > 1 or source is null
