-- test: marts.runs has exactly one row per (run_id) and no null key.
select run_id, count(*) as n_rows
from marts.runs
group by all
having count(*) > 1 or run_id is null
