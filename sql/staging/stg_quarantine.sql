-- model: Inputs that could not become articles, with the reason; the bytes are kept under `warehouse/quarantine/`.
-- column source_uri: the rejected input (file path, `#L<n>` for the record on line n of a JSONL file).
-- column reason: short machine-readable reason (e.g. `binary`, `empty`, `undecodable`, `no_content`).
-- column detail: human-readable detail of the reason.
-- column n_bytes: size of the rejected input in bytes.
-- column copy_path: where the rejected bytes were copied, relative to the warehouse.
-- column run_id: the run that rejected it.
-- column quarantined_at: when it was rejected (UTC).
-- column ingest_date: lake partition date (UTC).
select source_uri, reason, detail, n_bytes, copy_path, run_id, quarantined_at, ingest_date
from lake.quarantine
