-- stg_boilerplate: every line the cleaner removed, with the rule that removed it.
-- columns: doc_id, line_no, text, rule, ingest_date
select doc_id, line_no, text, rule, ingest_date
from lake.boilerplate
