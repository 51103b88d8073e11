-- model: How much each boilerplate rule removed, over all loaded documents.
-- column rule: rule name from the TOML rule files; primary key.
-- column lines_removed: lines the rule removed.
-- column documents_affected: documents with at least one line removed by the rule.
-- column share_of_lines: lines_removed / all removed lines (0..1, 4 decimals).
-- test unique: rule
-- test not_null: rule
with rules as (
    select rule, sum(lines_removed)::BIGINT as lines_removed, sum(documents_affected)::BIGINT as documents_affected
    from intermediate.int_boilerplate_by_run
    group by rule
)
select rule, lines_removed, documents_affected,
       round(lines_removed / (select sum(lines_removed) from rules), 4) as share_of_lines
from rules
