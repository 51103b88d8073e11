-- model: Raw documents as ingested into the lake, one row per doc_id; renaming and typing only.
-- column doc_id: SHA-256 of the raw input bytes (or of the JSONL record); primary key.
-- column source_uri: path of the input file, with `#L<n>` for the record on line n of a JSONL file.
-- column source_name: name of the input root the document was found under.
-- column content_type: MIME type of the document's text: `text/plain`, or `text/html` for HTML files and JSONL records
--   with `html` (a JSONL record's own format, not the file's).
-- column n_bytes: size of the raw input in bytes.
-- column encoding: character encoding the raw bytes were decoded with.
-- column raw_text: the decoded input text before cleaning.
-- column url: original URL of the article, when the input carries one.
-- column external_id: id of the record in its source system, when the input carries one.
-- column published_raw: publication date as found in the input, unparsed.
-- column ingested_at: when the run that loaded the document processed it (UTC).
-- column ingest_date: lake partition date (UTC) of the load.
-- column run_id: the run that loaded the document (see `marts.runs`).
select
    doc_id,
    source_uri,
    source_name,
    content_type,
    n_bytes,
    encoding,
    raw_text,
    url,
    external_id,
    published_raw,
    ingested_at,
    ingest_date,
    run_id
from lake.documents
