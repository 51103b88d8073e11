-- stg_documents: raw documents as ingested, one row per doc_id.
-- columns: doc_id, source_uri, source_name, content_type, n_bytes, encoding, raw_text, url,
--   external_id, published_raw, ingested_at, ingest_date, run_id
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
    published as published_raw,
    ingested_at,
    ingest_date,
    run_id
from lake.documents
