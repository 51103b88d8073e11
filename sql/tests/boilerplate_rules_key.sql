-- test: marts.boilerplate_rules has exactly one row per (rule) and no null key.
select rule, count(*) as n_rows
from marts.boilerplate_rules
group by all
having count(*) > 1 or rule is null
