-- stg_quarantine: inputs that could not become articles, with the reason.
-- columns: source_uri, reason, detail, n_bytes, copy_path, run_id, quarantined_at, ingest_date
select source_uri, reason, detail, n_bytes, copy_path, run_id, "at" as quarantined_at, ingest_date
from lake.quarantine
