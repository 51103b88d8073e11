-- model: One row per flow run: what went in and out, and where the time went.
-- column run_id: id of the run; primary key.
-- column started_at: when the run started (UTC).
-- column ended_at: when the run ended (UTC); null while running or after a crash.
-- column status: run status.
-- column documents_in: documents found in the inputs.
-- column articles_out: new articles loaded.
-- column duplicates: documents skipped as already loaded or seen twice.
-- column quarantined: inputs quarantined.
-- column seconds_total: ended_at - started_at in seconds, else the sum of the recorded steps.
-- column seconds_discover: seconds walking the inputs.
-- column seconds_process: seconds reading, extracting and cleaning batches.
-- column seconds_load: seconds loading staged parts into DuckDB and publishing them to the lake.
-- column seconds_model: seconds building the SQL models and data tests.
-- column seconds_export: seconds exporting the marts to Parquet.
-- test unique: run_id
-- test not_null: run_id
select
    run_id,
    started_at,
    ended_at,
    status,
    documents_in,
    articles_out,
    duplicates,
    quarantined,
    coalesce(epoch(ended_at - started_at), list_sum(map_values(step_seconds)))::DOUBLE as seconds_total,
    step_seconds['discover']::DOUBLE as seconds_discover,
    step_seconds['process']::DOUBLE as seconds_process,
    step_seconds['load']::DOUBLE as seconds_load,
    step_seconds['model']::DOUBLE as seconds_model,
    step_seconds['export']::DOUBLE as seconds_export
from staging.stg_runs
