"""Data tests: queries returning offending rows, declared in the models' headers or in ``sql/tests/``.

Generic tests (``-- test unique|not_null|relationships[ (warn)]: …`` in a model's header) are
generated here; custom tests are ``sql/tests/*.sql`` (``-- severity: warn`` in their header). A run
tests what it changed: each test reads ``changed.<model>`` where its rows are enough, and a
generic test reads the changed rows of the model it tests; ``news-etl test`` and
``--full-refresh`` bind ``changed.<model>`` to every row. A test of severity ``error`` with rows
fails the build, a ``warn`` test's rows are reported and kept in ``meta.test_results``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .model import CHANGED, SCHEMAS, SEVERITIES, Model, ModelError, _read_sql, parse_header, tables_read

GENERIC_TESTS = ("unique", "not_null", "relationships")
SHOW_ROWS = 5


@dataclass(frozen=True)
class DataTest:
    """A query returning offending rows: declared in a model's header, or a file in ``sql/tests/``."""

    name: str
    sql: str
    description: str
    path: Path  # the file that declares it
    severity: str = "error"
    details: str = ""  # the whole description, for the docs


@dataclass(frozen=True)
class TestResult:
    test: DataTest
    n_rows: int
    first_rows: list[str]  # "col=value, …" of the first offending rows
    error: str | None = None  # the test could not run

    @property
    def severity(self) -> str:
        return self.test.severity

    def message(self) -> str:
        t = self.test
        if self.error:
            return f"data test {t.name} ({t.path}) could not run: {self.error}"
        shown = "\n".join("    " + r for r in self.first_rows)
        more = f"\n    … and {self.n_rows - len(self.first_rows)} more" if self.n_rows > len(self.first_rows) else ""
        return (f"data test {t.name} {'failed' if t.severity == 'error' else 'warns'} ({t.description or t.path}): "
                f"{self.n_rows} offending row{'s' if self.n_rows != 1 else ''}:\n{shown}{more}")


_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RELATIONSHIP = re.compile(r"(?P<col>\w+)\s*->\s*(?P<schema>\w+)\.(?P<table>\w+)\.(?P<to>\w+)")


def _columns(m: Model, arguments: str) -> list[str]:
    columns = [c.strip() for c in arguments.split(",")]
    if not all(_COLUMN.fullmatch(c) for c in columns):
        raise ModelError(f"{m.path}: cannot read the columns of test {arguments!r} (expected e.g. 'doc_id' or 'a, b')")
    return columns


def generic_test(m: Model, kind: str, arguments: str, severity: str = "error") -> DataTest:
    """The SQL of a generic test a model's header declares (``-- test <kind>: <arguments>``): on the
    rows of ``changed.<model>`` (all of them when the build binds it so)."""
    changed = f'{CHANGED}."{m.name}"'
    if kind == "unique":
        cols = _columns(m, arguments)
        keys = ", ".join(f'"{c}"' for c in cols)
        return DataTest(f"unique_{m.name}_{'_'.join(cols)}",
                        f"select {keys}, count(*) as n_rows from {m.qualified} "
                        f"semi join (select distinct {keys} from {changed}) using ({keys}) group by all having count(*) > 1",
                        f"{m.qualified} has one row per ({', '.join(cols)}).", m.path, severity)
    if kind == "not_null":
        cols = _columns(m, arguments)
        return DataTest(f"not_null_{m.name}_{'_'.join(cols)}",
                        f"select * from {changed} where " + " or ".join(f'"{c}" is null' for c in cols),
                        f"no {', '.join(cols)} in {m.qualified} is null.", m.path, severity)
    if kind == "relationships":
        r = _RELATIONSHIP.fullmatch(arguments)
        if not r:
            raise ModelError(f"{m.path}: cannot read test relationships: {arguments!r} (expected 'column -> schema.model.column')")
        col, parent, to = r["col"], f"{r['schema']}.{r['table']}", r["to"]
        # the parent's matching keys first (a scan of one column, hashing only the changed keys),
        # then the changed rows without one: no hash table over the whole parent
        return DataTest(f"relationships_{m.name}_{col}",
                        f'with c as (select distinct "{col}" as k from {changed} where "{col}" is not null), '
                        f'found as (select distinct p."{to}" as k from {parent} p semi join c on c.k = p."{to}") '
                        f'select c.k as "{col}" from c anti join found using (k)',
                        f"every {col} of {m.qualified} is in {parent}.{to}.", m.path, severity)
    raise ModelError(f"{m.path}: unknown test {kind!r} (generic tests: {', '.join(GENERIC_TESTS)})")


def data_tests(sql_dir: Path, models: list[Model]) -> list[DataTest]:
    """The generic tests the models declare and the custom tests in ``sql/tests/``, by name."""
    tests = [generic_test(m, t.kind, t.arguments, t.severity) for m in models for t in m.header.tests]
    for path in sorted((Path(sql_dir) / "tests").glob("*.sql")):
        sql = _read_sql(path)
        header = parse_header(sql)
        severity = header.config.get("severity", "error").lower()
        if severity not in SEVERITIES:
            raise ModelError(f"{path}: severity: {severity!r} (error or warn)")
        tests.append(DataTest(path.stem, sql, header.summary, path, severity, header.description))
    by_name: dict[str, DataTest] = {}
    for t in tests:
        if t.name in by_name:
            raise ModelError(f"two data tests named {t.name}: in {by_name[t.name].path} and {t.path}")
        by_name[t.name] = t
    return sorted(tests, key=lambda t: t.name)


def _show(value, width: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def models_read(sql: str, models: dict[str, Model]) -> set[str]:
    """The models a query reads, ``changed.<name>`` counted as its model."""
    by_name = {m.name: q for q, m in models.items()}
    out = set()
    for r in tables_read(sql):
        schema, _, name = r.partition(".")
        if schema == CHANGED and name in by_name:
            out.add(by_name[name])
        elif r in models or schema in SCHEMAS:
            out.add(r)
    return out


def run_test(con, t: DataTest, max_rows: int = SHOW_ROWS) -> TestResult:
    """Run one test: its offending rows are materialised once, then counted and the first ones
    fetched. (A ``count(*) OVER ()`` over the test's query instead, as earlier versions did, hits a
    race in DuckDB 1.5's parallel window operator now and then: "Attempted to access index 0
    within vector of size 0", duckdb/duckdb#22846 and #25713.)"""
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE __offending AS {t.sql}")
        n = con.execute("SELECT count(*) FROM __offending").fetchone()[0]
        cur = con.execute(f"SELECT * FROM __offending LIMIT {int(max_rows)}")
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description]
    except duckdb.Error as exc:
        return TestResult(t, 0, [], " ".join(str(exc).split()))
    finally:
        try:
            con.execute("DROP TABLE IF EXISTS __offending")
        except duckdb.Error:
            pass
    return TestResult(t, n, [", ".join(f"{c}={_show(v)}" for c, v in zip(columns, r)) for r in rows])


def run_data_tests(con, tests: list[DataTest], ctx, only_reading: set[str] | None = None,
                   scope: str = "changed", in_transaction: bool = False) -> list[TestResult]:
    """Run the data tests; ``ctx`` (a BuildContext, or anything with ``models``, ``existing`` and
    ``bind_changed``) binds ``changed.<model>`` to its changes (scope "changed") or to every row
    (scope "all"). With ``only_reading``, just the tests that read one of those models and none
    that does not exist. ``in_transaction``: the first test that cannot run ends the list, since
    its error aborted the transaction and every later statement would fail for that reason."""
    results = []
    for t in tests:
        reads = models_read(t.sql, ctx.models)
        missing = reads - ctx.existing
        if only_reading is not None and (not reads & only_reading or missing):
            continue
        if missing:
            results.append(TestResult(t, 0, [], f"reads {', '.join(sorted(missing))}, which does not exist"))
            continue
        ctx.bind_changed([q for q in reads if q in ctx.models], scope == "all")
        results.append(run_test(con, t))
        if in_transaction and results[-1].error:
            break
    return results


def record_results(con, results: list[TestResult], run_id: str | None, scope: str) -> None:
    """Keep the findings (tests with rows) of a build in ``meta.test_results``."""
    rows = [(run_id, r.test.name, r.severity, scope, r.n_rows, r.first_rows, r.test.description, str(r.test.path))
            for r in results if r.n_rows or r.error]
    if rows:
        con.executemany("INSERT INTO meta.test_results VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?)", rows)


class _EveryRow:
    """Binds ``changed.<model>`` to every row of the model, in an in-memory catalog named
    ``changed``, so that the tests run on a read-only connection to the warehouse."""

    def __init__(self, con, models: dict[str, Model]):
        from .model import _existing

        self.con, self.models = con, models
        self.database = con.execute("SELECT current_database()").fetchone()[0]
        self.existing = _existing(con)
        con.execute(f"ATTACH ':memory:' AS {CHANGED}")

    def bind_changed(self, names, full: bool = True) -> None:
        for q in names:
            self.con.execute(f'CREATE OR REPLACE VIEW {CHANGED}.main."{self.models[q].name}" AS '
                             f'SELECT * FROM "{self.database}".{q}')


def test_warehouse(layout, sql_dir: Path | None = None, wait_seconds: float = 10.0) -> list[TestResult]:
    """Every data test on every row of the warehouse's models (``news-etl test``), read-only."""
    from .database import connect
    from .model import SQL_DIR, discover_models

    models = discover_models(sql_dir or SQL_DIR)
    tests = data_tests(sql_dir or SQL_DIR, models)
    con = connect(layout, read_only=True, wait_seconds=wait_seconds)
    try:
        binder = _EveryRow(con, {m.qualified: m for m in models})
        return run_data_tests(con, tests, binder, scope="all")
    finally:
        con.close()
