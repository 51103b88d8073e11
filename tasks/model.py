"""Build the SQL models in ``sql/`` in dependency order and run their data tests.

``sql/staging/*.sql`` become views in schema ``staging``, ``sql/marts/*.sql`` tables in schema
``marts``; the order comes from the tables each query reads (DuckDB's own parser).
``sql/tests/*.sql`` return offending rows: any row fails the build.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
from prefect import task

from .database import connect
from .settings import Settings

MATERIALIZATION = {"staging": "VIEW", "marts": "TABLE"}


class ModelError(Exception):
    pass


class DataTestFailure(ModelError):
    pass


@dataclass(frozen=True)
class Model:
    schema: str
    name: str
    path: Path
    sql: str
    depends_on: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def _read_sql(path: Path) -> str:
    sql = path.read_text(encoding="utf-8").strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql


def discover_models(sql_dir: Path) -> list[Model]:
    """All models, ordered so that each comes after the models it reads."""
    raw = {}
    for schema in MATERIALIZATION:
        for path in sorted((Path(sql_dir) / schema).glob("*.sql")):
            raw[f"{schema}.{path.stem}"] = (schema, path, _read_sql(path))
    models = {}
    for qualified, (schema, path, sql) in raw.items():
        try:
            tables = duckdb.get_table_names(sql, qualified=True)
        except duckdb.Error as exc:
            raise ModelError(f"{path}: cannot parse: {exc}") from None
        deps = []
        for t in tables:
            parts = t.split(".")
            if len(parts) >= 2 and parts[-2] in MATERIALIZATION:
                ref = ".".join(parts[-2:])
                if ref not in raw:
                    raise ModelError(f"{path}: reads {ref}, which is not a model in {sql_dir}")
                deps.append(ref)
        models[qualified] = Model(schema, path.stem, path, sql, tuple(sorted(set(deps))))
    sorter = graphlib.TopologicalSorter({q: m.depends_on for q, m in models.items()})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        files = " -> ".join(str(models[q].path) for q in cycle)
        raise ModelError(f"dependency cycle between models: {files}") from None
    return [models[q] for q in order]


def build_models(con, sql_dir: Path) -> list[Model]:
    models = discover_models(sql_dir)
    for schema in MATERIALIZATION:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for m in models:
        kind = MATERIALIZATION[m.schema]
        try:
            con.execute(f"CREATE OR REPLACE {kind} {m.qualified} AS {m.sql}")
        except duckdb.Error as exc:
            raise ModelError(f"{m.path}: {exc}") from None
    return models


def run_data_tests(con, sql_dir: Path, max_rows: int = 5) -> None:
    failures = []
    for path in sorted((Path(sql_dir) / "tests").glob("*.sql")):
        try:
            cur = con.execute(_read_sql(path))
            rows = cur.fetchmany(max_rows)
            columns = [d[0] for d in cur.description]
        except duckdb.Error as exc:
            failures.append(f"{path.stem}: error: {exc}")
            continue
        if rows:
            shown = "; ".join(str(dict(zip(columns, r))) for r in rows)
            failures.append(f"{path.stem}: offending rows: {shown}")
    if failures:
        raise DataTestFailure("data tests failed:\n  " + "\n  ".join(failures))


def build(settings: Settings) -> list[Model]:
    """Build every model and run the data tests in one transaction: all or nothing."""
    con = connect(settings.db_path, wait_seconds=settings.extra.get("db_wait_seconds", 30))
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            models = build_models(con, settings.sql_dir)
            run_data_tests(con, settings.sql_dir)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return models


@task(name="model")
def model_task(settings: Settings) -> list[str]:
    return [m.qualified for m in build(settings)]
