-- model: Lines each boilerplate rule removed, per run that loaded them: what `marts.boilerplate_rules` adds up.
--   A run adds its own rows (the rows of a run are loaded together).
-- materialized: incremental
-- unique_key: run_id
-- incremental_strategy: append
-- column run_id: the run that removed the lines.
-- column rule: rule name from the TOML rule files.
-- column lines_removed: lines the rule removed in the run's documents.
-- column documents_affected: the run's documents with at least one line removed by the rule.
select run_id, rule, count(*) as lines_removed, count(distinct doc_id) as documents_affected
from changed.stg_boilerplate
group by all
