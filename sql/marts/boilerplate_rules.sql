-- boilerplate_rules: how much each cleaning rule removed.
-- columns: rule, lines_removed, documents_affected, share_of_lines
select
    rule,
    count(*) as lines_removed,
    count(distinct doc_id) as documents_affected,
    round(count(*) / sum(count(*)) over (), 4) as share_of_lines
from staging.stg_boilerplate
group by rule
