-- model: Every line the cleaner removed from a document, with the rule that removed it.
-- column doc_id: the document the line was removed from.
-- column line_no: 1-based line number in the decoded text.
-- column text: the removed line.
-- column rule: name of the boilerplate rule (from the TOML rule files) that matched.
-- column ingest_date: lake partition date (UTC).
-- column run_id: the run that removed it.
select doc_id, line_no, text, rule, ingest_date, run_id
from lake.boilerplate
