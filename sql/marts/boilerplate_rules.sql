-- model: How much each boilerplate rule removed, over all loaded documents.
-- column rule: rule name from the TOML rule files; primary key.
-- column lines_removed: lines the rule removed.
-- column documents_affected: documents with at least one line removed by the rule.
-- column share_of_lines: lines_removed / all removed lines (0..1, 4 decimals).
-- test unique: rule
-- test not_null: rule
select
    rule,
    count(*) as lines_removed,
    count(distinct doc_id) as documents_affected,
    round(count(*) / sum(count(*)) over (), 4) as share_of_lines
from staging.stg_boilerplate
group by rule
