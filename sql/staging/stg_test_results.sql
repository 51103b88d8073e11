-- model: Findings of the data tests, as each build recorded them in `meta.test_results`.
-- column run_id: the run whose build ran the test (null for `news-etl test`).
-- column tested_at: when (UTC).
-- column test: the data test (see docs/models.md, *Data tests*).
-- column severity: `error` (the build failed) or `warn` (reported, the build went on).
-- column scope: `changed` (the rows the run added or changed) or `all`.
-- column n_rows: offending rows found.
-- column first_rows: the first offending rows, as `column=value, …`.
-- column description: what the test checks.
-- column path: the file that declares the test.
select run_id, tested_at, test, severity, scope, n_rows, first_rows, description, path
from meta.test_results
