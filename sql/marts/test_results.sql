-- model: What the data tests found, per run: a `warn` test's offending rows are reported here, in the run summary and in `news-etl status`.
-- column run_id: the run whose build ran the test.
-- column tested_at: when (UTC).
-- column test: the data test.
-- column severity: `error` or `warn`.
-- column scope: `changed` (the rows the run added or changed) or `all` (a full refresh).
-- column n_rows: offending rows found.
-- column first_rows: the first offending rows, as `column=value, …`.
-- column description: what the test checks.
select run_id, tested_at, test, severity, scope, n_rows, first_rows, description
from staging.stg_test_results
where run_id is not null
