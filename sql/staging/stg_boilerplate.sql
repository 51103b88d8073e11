-- model: Every line removed from a document, with the rule that removed it.
-- column doc_id: the document the line was removed from.
-- column line_no: 1-based line number in the text the cleaner read (a text document; an HTML page's extracted text, 0 for its title from the metadata); for the rule `extractor:trafilatura`, in the page's visible text.
-- column text: the removed line, or the span an inline rule cut out of a line.
-- column rule: name of the boilerplate rule (from the TOML rule files) that matched; `extractor:trafilatura` for a line of an HTML page's visible text the extractor left out.
-- column ingest_date: lake partition date (UTC).
-- column run_id: the run that removed it.
select doc_id, line_no, text, rule, ingest_date, run_id
from lake.boilerplate
