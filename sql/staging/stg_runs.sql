-- model: Flow runs as recorded in `meta.runs` by the loader (and completed at the end of the run).
-- column run_id: id of the run (UUID).
-- column started_at: when the run started (UTC).
-- column ended_at: when the run ended (UTC); null while running or if it crashed.
-- column inputs: input paths given to the run.
-- column documents_in: documents found in the inputs.
-- column articles_out: new articles loaded.
-- column duplicates: documents skipped because they were already loaded or seen twice.
-- column quarantined: inputs quarantined.
-- column step_seconds: seconds per step (`discover`, `process`, `load`, `model`, `export`).
-- column status: run status (`loaded`, then the final state set at the end of the run).
select run_id, started_at, ended_at, inputs, documents_in, articles_out, duplicates, quarantined, step_seconds, status
from meta.runs
