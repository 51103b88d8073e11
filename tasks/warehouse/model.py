"""The SQL models in ``sql/``: found, ordered, built (whole or incrementally) and tested.

``sql/staging/*.sql`` are views in schema ``staging``, ``sql/intermediate/*.sql`` and
``sql/marts/*.sql`` tables in schemas ``intermediate`` and ``marts``; the order comes from the
tables each query reads (DuckDB's own parser), never from a hand-kept list. Each file starts with
a header comment that documents it (``-- model: …``, ``-- column <name>: …``; it generates
``docs/models.md``) and configures it, as dbt's ``config()`` does:

- ``-- materialized: view|table|incremental`` (default: staging views, other tables);
- ``-- unique_key: a, b``: an incremental model's rows replace the rows with the same key;
  ``-- incremental_strategy: merge`` with ``-- merge_update_columns: c, d`` updates only those
  columns of a key already there (its other columns are kept), ``append`` adds rows whose keys
  are new by construction (no lookup of the keys there), else delete+insert;
- ``-- partition_by: col`` and ``-- file_by: col``: exported as a Hive-partitioned dataset
  (tasks/warehouse/export.py);
- ``-- test <kind>[ (warn)]: …``: generic data tests (tasks/warehouse/datatests.py).

**What changed.** A model sees the rows a build adds or changes as ``changed.<model>``: for a
staging view over the lake, the rows of the runs loaded since the models were last built (the
runner keeps which runs' lake files each build applied, in ``meta.applied_lake``); for an
incremental model, the rows this build wrote; for a table, all its rows. An incremental model
is a plain SELECT of the rows for the keys ``changed.*`` touched, which the runner merges into its
table. Built from scratch (``--full-refresh``, a first build, a changed definition or an upstream
model rebuilt, a lake that lost rows), every ``changed.<model>`` is the whole model, so the same
query gives the whole table: the two paths cannot drift apart.

All of a build (models, data tests, state, the search index) is one transaction.
"""

from __future__ import annotations

import functools
import graphlib
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from prefect import task
from prefect.cache_policies import NO_CACHE

from ..crashpoints import crash_point
from ..layout import WarehouseLayout
from .database import connect, default_wait_seconds, rollback

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"  # the repository's sql/, or the installed package's
SCHEMAS = ("staging", "intermediate", "marts")  # model folders, in the order docs list them
DEFAULT_MATERIALIZED = {"staging": "view", "intermediate": "table", "marts": "table"}
MATERIALIZATIONS = ("view", "table", "incremental")
STRATEGIES = ("delete+insert", "merge", "append")
CONFIG_KEYS = ("materialized", "unique_key", "incremental_strategy", "merge_update_columns", "partition_by", "file_by",
               "severity")
CHANGED = "changed"  # schema of the ``changed.<model>`` relations; exists only inside a build's transaction
LAKE_WITH_RUNS = ("documents", "articles", "boilerplate", "quarantine")  # lake tables whose rows carry run_id
LITERAL_KEYS = 5000  # up to this many keys are fetched through a literal IN list (a filter DuckDB pushes into the scan)

STATE_DDL = [
    "CREATE SCHEMA IF NOT EXISTS meta",
    # the definition each model was last built from; a new one rebuilds it (and what reads it) from scratch
    "CREATE TABLE IF NOT EXISTS meta.model_definitions (model VARCHAR, definition VARCHAR, built_at TIMESTAMPTZ)",
    # the lake files (by table and run) the models hold: later runs' files are what changed
    "CREATE TABLE IF NOT EXISTS meta.applied_lake (table_name VARCHAR, run_id VARCHAR)",
    # rows of partitioned marts whose export files are out of date (export.py reads and clears it)
    """CREATE TABLE IF NOT EXISTS meta.export_pending (mart VARCHAR, partition_value VARCHAR, file_group VARCHAR)""",
    # what the data tests found (datatests.py), per run
    """CREATE TABLE IF NOT EXISTS meta.test_results (
        run_id VARCHAR, tested_at TIMESTAMPTZ, test VARCHAR, severity VARCHAR, scope VARCHAR,
        n_rows BIGINT, first_rows VARCHAR[], description VARCHAR, path VARCHAR)""",
]


class ModelError(Exception):
    pass


class DataTestFailure(ModelError):
    pass


@dataclass(frozen=True)
class TestDeclaration:
    kind: str
    arguments: str
    severity: str = "error"


@dataclass(frozen=True)
class Header:
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    summary: str = ""  # the first line of the description (the ``model:``/``test:`` entry itself)
    tests: tuple[TestDeclaration, ...] = ()  # each ``-- test <kind>[ (warn)]: <arguments>``
    config: dict[str, str] = field(default_factory=dict)  # materialized, unique_key, … (CONFIG_KEYS)


@dataclass(frozen=True)
class Model:
    schema: str
    name: str
    path: Path
    sql: str
    depends_on: tuple[str, ...]
    reads: tuple[str, ...] = ()  # every table the query reads, models or not (``changed.x`` as such)
    header: Header = Header()
    procedure: Callable | None = None  # a Python model (see PythonModel) instead of a SELECT

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def materialized(self) -> str:
        if self.procedure:
            return "incremental"
        return self.header.config.get("materialized", DEFAULT_MATERIALIZED.get(self.schema, "table"))

    @property
    def kind(self) -> str:
        return self.materialized if not self.procedure else "python"

    def _list(self, key: str) -> tuple[str, ...]:
        value = self.header.config.get(key, "")
        return tuple(c.strip() for c in value.split(",") if c.strip())

    @property
    def unique_key(self) -> tuple[str, ...]:
        return self._list("unique_key")

    @property
    def strategy(self) -> str:
        return self.header.config.get("incremental_strategy", "delete+insert")

    @property
    def merge_update_columns(self) -> tuple[str, ...]:
        return self._list("merge_update_columns")

    @property
    def partition_by(self) -> str | None:
        return self.header.config.get("partition_by")

    @property
    def file_by(self) -> str | None:
        return self.header.config.get("file_by")

    @property
    def definition(self) -> str:
        """What a change of rebuilds the model from scratch: its SQL (header included) or its code."""
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PythonModel:
    """Tables maintained by Python code (e.g. near-duplicate clusters), in the models' DAG.

    ``build(con, ctx)`` creates or updates ``schema.name`` (from scratch when ``ctx.full``, else from
    ``changed.*`` of what it reads) and returns the qualified name of a table holding the rows it
    wrote, which becomes ``changed.<name>``; ``source`` is its code, whose change rebuilds it."""

    schema: str
    name: str
    reads: tuple[str, ...]
    header: Header
    build: Callable
    source: str


PYTHON_MODELS: dict[str, Callable[[], PythonModel]] = {}


def python_model(qualified: str):
    """Register a factory of a Python model, found when a SQL model reads ``qualified``."""
    def register(factory):
        PYTHON_MODELS[qualified] = factory
        return factory
    return register


_HEADER_LINE = re.compile(r"--\s?(?P<text>.*)")
_ENTRY = re.compile(r"(?P<key>model|test(?:\s+(?P<kind>\w+)(?:\s*\(\s*(?P<severity>\w+)\s*\))?)?"
                    r"|column\s+(?P<col>[A-Za-z_][A-Za-z0-9_]*)|" + "|".join(CONFIG_KEYS) + r")\s*:\s*(?P<text>.*)")
SEVERITIES = ("error", "warn")


def parse_header(sql: str) -> Header:
    """Read the leading ``--`` comment: ``model:``/``test:``, ``column <name>:``, ``test <kind>:`` and
    configuration entries; an indented comment line continues the previous entry."""
    description, columns, tests, config, current = [], {}, [], {}, None
    for line in sql.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _HEADER_LINE.match(line)
        if not m:
            break
        text = m.group("text")
        entry = _ENTRY.match(text.strip())
        if entry and not text.startswith("  "):
            key, value = entry.group("key"), entry.group("text").strip()
            current = None
            if entry.group("col"):
                current = entry.group("col")
                columns[current] = value
            elif entry.group("kind"):
                tests.append(TestDeclaration(entry.group("kind"), value, (entry.group("severity") or "error").lower()))
            elif key in CONFIG_KEYS:
                config[key] = value
            else:
                description.append(value)
        elif current:
            columns[current] = f"{columns[current]} {text.strip()}".strip()
        elif description:
            description.append(text.strip())
    return Header(" ".join(d for d in description if d), columns, description[0] if description else "", tuple(tests), config)


def _read_sql(path: Path) -> str:
    sql = path.read_text(encoding="utf-8").strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql


def _one_select(path: Path, sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ModelError(f"{path}: cannot parse: {exc}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ModelError(f"{path}: a model is exactly one SELECT statement")


def _split_name(qualified: str) -> list[str]:
    """``db.marts."x y" AS t`` (as get_table_names(qualified=True) returns it) -> [db, marts, x y]."""
    parts, buf, quoted, i = [], [], False, 0
    while i < len(qualified):
        ch = qualified[i]
        if ch == '"':
            if quoted and qualified[i + 1:i + 2] == '"':
                buf.append('"')
                i += 1
            else:
                quoted = not quoted
        elif not quoted and ch == ".":
            parts.append("".join(buf))
            buf = []
        elif not quoted and ch.isspace():
            break  # the alias follows
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


@functools.lru_cache(maxsize=1)
def _parser() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _tables_in_parse_tree(sql: str) -> set[str]:
    tree = json.loads(_parser().cursor().execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        raise duckdb.ParserException(tree.get("error_message", "cannot parse"))
    found, ctes, todo = set(), set(), [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE":
                found.add(".".join(p for p in (node["schema_name"], node["table_name"]) if p))
            if isinstance(node.get("cte_map"), dict):
                ctes.update(entry["key"] for entry in node["cte_map"].get("map", []))
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found - ctes  # a CTE's name, read without a schema, is no table


@functools.lru_cache(maxsize=1024)
def tables_read(sql: str) -> tuple[str, ...]:
    """``schema.table`` (or ``table``) of every table a query reads, by DuckDB's parser; lower case
    like DuckDB's own name resolution."""
    try:
        names = {".".join(_split_name(t)[-2:]) for t in duckdb.get_table_names(sql, qualified=True)}
    except duckdb.BinderException:
        # get_table_names binds JOIN ... USING against tables it cannot see and fails; the parse
        # tree alone has the same table references (CTE names come without a schema there).
        names = _tables_in_parse_tree(sql)
    return tuple(sorted(n.lower() for n in names))


def _python_model(qualified: str) -> Model:
    pm = PYTHON_MODELS[qualified]()
    return Model(pm.schema, pm.name, Path(pm.build.__code__.co_filename), pm.source, (), tuple(sorted(pm.reads)), pm.header,
                 procedure=pm.build)


def _import_python_models() -> None:
    from . import neardup  # noqa: F401  (registers dedup.clusters)


def discover_models(sql_dir: Path) -> list[Model]:
    """All models, ordered so that each comes after the models it reads.

    A reference to a model schema's table without a file, a ``changed.x`` of no model ``x``, two
    models of one name, or a dependency cycle is a ModelError naming the file(s). Kept per
    process until a file of ``sql_dir`` changes (a run discovers them several times)."""
    files = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                  for schema in (*SCHEMAS, "tests") for p in sorted((Path(sql_dir) / schema).glob("*.sql")))
    return list(_discover_models(Path(sql_dir), files))


@functools.lru_cache(maxsize=8)
def _discover_models(sql_dir: Path, files: tuple) -> tuple[Model, ...]:
    _import_python_models()
    raw = {}
    for schema in SCHEMAS:
        for path in sorted((Path(sql_dir) / schema).glob("*.sql")):
            raw[f"{schema}.{path.stem}"] = (schema, path, _read_sql(path))
    parsed: dict[str, Model] = {}
    for qualified, (schema, path, sql) in raw.items():
        _one_select(path, sql)
        try:
            tables = tables_read(sql)
        except duckdb.Error as exc:
            raise ModelError(f"{path}: cannot parse: {exc}") from None
        header = parse_header(sql)
        _check_config(path, schema, header)
        parsed[qualified] = Model(schema, path.stem, path, sql, (), tuple(tables), header)
    todo = [t for m in parsed.values() for t in m.reads if t in PYTHON_MODELS]
    while todo:  # Python models some SQL model reads, and what they read
        q = todo.pop()
        if q not in parsed:
            parsed[q] = _python_model(q)
            todo.extend(t for t in parsed[q].reads if t in PYTHON_MODELS)
    by_name: dict[str, Model] = {}
    for m in parsed.values():
        if m.name in by_name:
            raise ModelError(f"two models named {m.name} ({by_name[m.name].path} and {m.path}): "
                             f"changed.{m.name} would be ambiguous")
        by_name[m.name] = m
    models = {}
    for qualified, m in parsed.items():
        deps = []
        for ref in m.reads:
            ref_schema, _, ref_name = ref.rpartition(".")
            if ref_schema == CHANGED:
                if ref_name not in by_name:
                    raise ModelError(f"{m.path}: reads {ref}, but there is no model {ref_name}")
                deps.append(by_name[ref_name].qualified)
            elif ref_schema in SCHEMAS or ref in parsed:
                if ref not in parsed:
                    raise ModelError(f"{m.path}: reads {ref}, which is not a model (no {Path(sql_dir) / ref_schema / ref_name}.sql)")
                deps.append(ref)
        models[qualified] = Model(m.schema, m.name, m.path, m.sql, tuple(sorted(set(deps) - {qualified})), m.reads, m.header,
                                  m.procedure)
    sorter = graphlib.TopologicalSorter({q: m.depends_on for q, m in models.items()})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        files = " -> ".join(str(models[q].path) for q in cycle)
        raise ModelError(f"dependency cycle between models: {files}") from None
    return tuple(models[q] for q in order)


def _check_config(path: Path, schema: str, header: Header) -> None:
    config = header.config
    materialized = config.get("materialized", DEFAULT_MATERIALIZED[schema])
    if materialized not in MATERIALIZATIONS:
        raise ModelError(f"{path}: materialized: {materialized!r} (expected one of {', '.join(MATERIALIZATIONS)})")
    if materialized == "incremental" and not config.get("unique_key"):
        raise ModelError(f"{path}: an incremental model needs '-- unique_key: <columns>'")
    if config.get("incremental_strategy", "delete+insert") not in STRATEGIES:
        raise ModelError(f"{path}: incremental_strategy: {config['incremental_strategy']!r} (one of {', '.join(STRATEGIES)})")
    if config.get("incremental_strategy") == "merge" and not config.get("merge_update_columns"):
        raise ModelError(f"{path}: incremental_strategy merge needs '-- merge_update_columns: <columns>'")
    if config.get("file_by") and not config.get("partition_by"):
        raise ModelError(f"{path}: file_by needs partition_by")
    for t in header.tests:
        if t.severity not in SEVERITIES:
            raise ModelError(f"{path}: test {t.kind} ({t.severity}): severity is error or warn")


def _existing(con) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()}


def _qualify(name: str, models: list[Model]) -> str:
    if "." in name:
        return name
    matches = [m.qualified for m in models if m.name == name]
    if len(matches) != 1:
        raise ModelError(f"unknown model {name!r}" if not matches else f"ambiguous model {name!r}: {matches}")
    return matches[0]


def select_models(models: list[Model], select: list[str] | None, existing: set[str]) -> list[Model]:
    """The selected models plus, transitively, the models they read that do not exist yet."""
    if select is None:
        return models
    by_name = {m.qualified: m for m in models}
    wanted, todo = set(), [_qualify(n, models) for n in select]
    for q in todo:
        if q not in by_name:
            raise ModelError(f"unknown model {q!r}")
    while todo:
        q = todo.pop()
        if q in wanted:
            continue
        wanted.add(q)
        todo.extend(d for d in by_name[q].depends_on if d not in existing)
    return [m for m in models if m.qualified in wanted]


def export_value(column: str, type_: str) -> str:
    """SQL of a column's value as its export path spells it, whatever the session's time zone."""
    if type_.upper() in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"strftime(timezone('UTC', \"{column}\"), '%Y-%m-%dT%H:%M:%S.%fZ')"
    if type_.upper() == "DATE":
        return f"strftime(\"{column}\", '%Y-%m-%d')"
    return f'"{column}"::VARCHAR'


def export_groups(con, m: Model, relation: str) -> str:
    """SELECT of the distinct (partition, file group) values of ``relation``'s rows, for meta.export_pending."""
    types = dict(con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                             f"WHERE table_schema = '{m.schema}' AND table_name = '{m.name}'").fetchall())
    group = export_value(m.file_by, types[m.file_by]) if m.file_by else "NULL"
    return f"SELECT DISTINCT '{m.name}', {export_value(m.partition_by, types[m.partition_by])}, {group} FROM {relation}"


def quote_literals(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


# --- a build --------------------------------------------------------------------------------------

@dataclass
class BuildContext:
    """What one build knows while it runs: which models it rebuilds from scratch and, for each
    model built so far, the relation holding the rows it changed."""

    con: object
    models: dict[str, Model]
    full_refresh: bool
    pending: dict[str, list[str]]  # lake table -> runs whose files the marts do not hold yet
    existing: set[str] = field(default_factory=set)  # tables and views there now
    delta: dict[str, str | None] = field(default_factory=dict)  # model -> SELECT of its changed rows (None: all)
    rebuilt: set[str] = field(default_factory=set)  # models built from scratch (or whose definition changed)
    full: bool = False  # the model being built is built from scratch
    temps: list[str] = field(default_factory=list)

    def temp_table(self, name: str, select: str) -> str:
        """Create a temporary table (dropped at the end of the build) from ``select``; its qualified
        name. (A table created and dropped in one transaction in the database itself cannot
        commit in DuckDB 1.5.)"""
        self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {select}')
        self.temps.append(f'temp.main."{name}"')
        return self.temps[-1]

    def bind_changed(self, names, full: bool) -> None:
        """Define ``changed.<name>`` for each name: every row when ``full``, else this build's changes."""
        for name in names:
            m = self.models[name]
            select = None if full else self.delta.get(m.qualified, "SELECT * FROM {q} WHERE false")
            body = f"SELECT * FROM {m.qualified}" if select is None else select.format(q=m.qualified)
            self.con.execute(f'CREATE OR REPLACE VIEW {CHANGED}."{m.name}" AS {body}')

    def changed_names(self, m: Model) -> list[str]:
        """The models whose ``changed.<name>`` ``m`` reads (a Python model: every model it reads)."""
        if m.procedure:
            return [r for r in m.reads if r in self.models]
        names = {x.name: q for q, x in self.models.items()}
        return [names[r.partition(".")[2]] for r in m.reads if r.startswith(CHANGED + ".")]


@dataclass(frozen=True)
class BuildResult:
    models: list[str]  # built, in order
    rebuilt: list[str]  # of those, built from scratch
    tests: list  # TestResult of each data test run (datatests.py)
    scope: str  # "changed" or "all": the rows the data tests saw

    @property
    def warnings(self) -> list:
        return [t for t in self.tests if t.severity == "warn" and t.n_rows]


def _lake_state(con) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """The runs whose lake files each table holds now, and the (table, run) pairs the models hold."""
    current: dict[str, set[str]] = {t: set() for t in LAKE_WITH_RUNS}
    has_files = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = 'meta' AND table_name = 'lake_files'").fetchone()[0]
    if has_files:
        for table, run in con.execute("SELECT DISTINCT table_name, run_id FROM meta.lake_files").fetchall():
            current.setdefault(table, set()).add(run)
    applied = set(con.execute("SELECT table_name, run_id FROM meta.applied_lake").fetchall())
    return current, applied


def _staging_delta(m: Model, pending: dict[str, list[str]]) -> str | None:
    """A staging view over one lake table with a run_id: its rows of the pending runs."""
    lake = [r.partition(".")[2] for r in m.reads if r.startswith("lake.")]
    if m.schema != "staging" or len(lake) != 1 or lake[0] not in LAKE_WITH_RUNS or len(m.reads) != 1:
        return None
    runs = pending.get(lake[0], [])
    return "SELECT * FROM {q} WHERE " + (f"run_id IN ({quote_literals(runs)})" if runs else "false")


def _build_model(ctx: BuildContext, m: Model) -> None:
    con = ctx.con
    if m.procedure:
        ctx.bind_changed(ctx.changed_names(m), ctx.full)
        changed_table = m.procedure(con, ctx)
        ctx.delta[m.qualified] = None if ctx.full else f"SELECT * FROM {changed_table}"
        return
    ctx.bind_changed(ctx.changed_names(m), ctx.full or m.materialized == "table")
    if m.materialized == "view":
        con.execute(f"CREATE OR REPLACE VIEW {m.qualified} AS {m.sql}")
        ctx.delta[m.qualified] = _staging_delta(m, ctx.pending)
        return
    if m.materialized == "table" or ctx.full:
        con.execute(f"CREATE OR REPLACE TABLE {m.qualified} AS {m.sql}")
        ctx.delta[m.qualified] = None
        if m.partition_by:
            con.execute("DELETE FROM meta.export_pending WHERE mart = ?", [m.name])
            con.execute("INSERT INTO meta.export_pending VALUES (?, '*', '*')", [m.name])
        return
    _merge(ctx, m)


def _merge(ctx: BuildContext, m: Model) -> None:
    """Merge the model's rows (those of the keys its ``changed.*`` touched) into its table."""
    con, key = ctx.con, ", ".join(f'"{c}"' for c in m.unique_key)
    delta = ctx.temp_table(f"__delta_{m.name}", m.sql)
    if m.strategy == "append":  # keys new by construction: no lookup of the keys already there
        if m.partition_by:
            con.execute("INSERT INTO meta.export_pending " + export_groups(con, m, delta))
        con.execute(f"INSERT INTO {m.qualified} SELECT * FROM {delta}")
        ctx.delta[m.qualified] = f"SELECT * FROM {delta}"
        return
    existing = ctx.temp_table(f"__existing_{m.name}", f"SELECT {key} FROM {m.qualified} SEMI JOIN {delta} USING ({key})")
    n_existing = con.execute(f"SELECT count(*) FROM {existing}").fetchone()[0]
    if m.partition_by:
        if m.strategy != "merge":  # rows deleted now may leave a file of their own
            con.execute("INSERT INTO meta.export_pending "
                        + export_groups(con, m, f"{m.qualified} SEMI JOIN {existing} USING ({key})"))
        con.execute("INSERT INTO meta.export_pending " + export_groups(con, m, delta))
    match = " AND ".join(f't."{c}" = d."{c}"' for c in m.unique_key)
    if m.strategy == "merge":
        if n_existing:
            sets = ", ".join(f'"{c}" = d."{c}"' for c in m.merge_update_columns)
            con.execute(f"UPDATE {m.qualified} AS t SET {sets} FROM {delta} AS d WHERE {match}")
        con.execute(f"INSERT INTO {m.qualified} SELECT * FROM {delta} ANTI JOIN {existing} USING ({key})")
        # the rows written: new keys as the model gave them, updated ones as the table now holds them
        updated = f"SELECT * FROM {{q}} SEMI JOIN {existing} USING ({key})"
        if n_existing and len(m.unique_key) == 1 and n_existing <= LITERAL_KEYS:
            keys = [r[0] for r in con.execute(f"SELECT {key} FROM {existing}").fetchall()]
            updated = f"SELECT * FROM {{q}} WHERE {key} IN ({quote_literals(keys)})"
        ctx.delta[m.qualified] = (f"SELECT * FROM {delta} ANTI JOIN {existing} USING ({key})"
                                  + (f" UNION ALL {updated}" if n_existing else ""))
    else:
        if n_existing:
            con.execute(f"DELETE FROM {m.qualified} AS t USING {existing} AS d WHERE {match}")
        con.execute(f"INSERT INTO {m.qualified} SELECT * FROM {delta}")
        ctx.delta[m.qualified] = f"SELECT * FROM {delta}"


def _ensure_state(con) -> None:
    for ddl in STATE_DDL:
        con.execute(ddl)


def build_on(con, sql_dir: Path = SQL_DIR, select: list[str] | None = None, stemmer: str | None = "german",
             layout: WarehouseLayout | None = None, full_refresh: bool = False, run_id: str | None = None) -> BuildResult:
    """Build the models (all, or ``select`` and what they need that does not exist), run the data
    tests on what changed (on every row when ``full_refresh``) and bring the search index up to
    date (given the ``layout`` of the warehouse, whose lake files it reads, and a ``stemmer``), in
    one transaction on ``con``: all or nothing. Data tests of severity ``error`` that find rows
    fail the build; ``warn`` findings are kept in ``meta.test_results`` under ``run_id``."""
    from .datatests import data_tests, record_results, run_data_tests

    con.execute("SET enable_progress_bar = false")  # it would interleave with the flow's own output
    models = discover_models(sql_dir)
    tests = data_tests(sql_dir, models)
    by_q = {m.qualified: m for m in models}
    con.execute("BEGIN TRANSACTION")
    try:
        _ensure_state(con)
        for schema in (*SCHEMAS, *{m.schema for m in models}):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"DROP SCHEMA IF EXISTS {CHANGED} CASCADE")
        con.execute(f"CREATE SCHEMA {CHANGED}")
        existing = _existing(con)
        current, applied = _lake_state(con)
        now = {(t, r) for t, runs in current.items() for r in runs}
        lost = bool(applied - now)  # a rebuild replaced lake rows the marts hold: build them from scratch
        pending = {t: sorted(r for r in runs if (t, r) not in applied) for t, runs in current.items()}
        definitions = dict(con.execute("SELECT model, definition FROM meta.model_definitions").fetchall())
        selected = select_models(models, select, existing)
        ctx = BuildContext(con, by_q, full_refresh or lost, pending, existing)
        for m in selected:
            changed_definition = definitions.get(m.qualified) != m.definition
            upstream_rebuilt = any(d in ctx.rebuilt for d in m.depends_on)
            ctx.full = (ctx.full_refresh or changed_definition or upstream_rebuilt
                        or (m.materialized != "view" and m.qualified not in existing))
            try:
                _build_model(ctx, m)
            except duckdb.Error as exc:
                raise ModelError(f"{m.path}: {exc}") from None
            if (ctx.full and m.materialized == "incremental") or changed_definition or upstream_rebuilt:
                ctx.rebuilt.add(m.qualified)
            existing.add(m.qualified)
            if m.materialized == "incremental":
                crash_point("mid_model")  # a test kills the run here: the transaction holds merged rows
        built = [m.qualified for m in selected]
        scope = "all" if full_refresh else "changed"
        results = run_data_tests(con, tests, ctx, None if select is None else set(built), scope, in_transaction=True)
        errors = [r for r in results if r.error]
        if errors:  # the error aborted the transaction: nothing more can run in it
            raise DataTestFailure(errors[0].message())
        record_results(con, results, run_id, scope)
        con.execute("DELETE FROM meta.model_definitions WHERE model IN (SELECT unnest(?::VARCHAR[]))", [built])
        con.execute("INSERT INTO meta.model_definitions SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), now()",
                    [built, [m.definition for m in selected]])
        if select is None:
            con.execute("DELETE FROM meta.applied_lake")
            con.execute("INSERT INTO meta.applied_lake SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                        [[t for t, _ in sorted(now)], [r for _, r in sorted(now)]])
        if layout and stemmer and "marts.articles" in built:
            from .search import update_index

            # the articles of the runs this build applied, unless the lake lost rows meanwhile
            update_index(con, layout, stemmer, None if ctx.full_refresh else pending.get("articles", []))
        con.execute(f"DROP SCHEMA {CHANGED} CASCADE")
        for table in ctx.temps:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        failures = [r for r in results if r.severity == "error" and r.n_rows]
        if failures:
            raise DataTestFailure("\n".join(r.message() for r in failures))
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return BuildResult(built, sorted(ctx.rebuilt), results, scope)


def build(layout: WarehouseLayout, select: list[str] | None = None, sql_dir: Path = SQL_DIR, full_refresh: bool = False,
          run_id: str | None = None, con=None) -> BuildResult:
    """Build every model (or ``select``: those models plus missing dependencies), run the data
    tests and update the search index, in one transaction (on ``con`` if given)."""
    own = con is None
    con = con or connect(layout, wait_seconds=default_wait_seconds())
    try:
        return build_on(con, sql_dir, select, layout=layout, full_refresh=full_refresh, run_id=run_id)
    finally:
        if own:
            con.close()


def render_docs(sql_dir: Path) -> str:
    """Markdown reference of every model and data test, generated from the SQL headers."""
    from .datatests import data_tests

    sql_dir = Path(sql_dir)
    order = [*SCHEMAS]
    models = sorted(discover_models(sql_dir), key=lambda m: (order.index(m.schema) if m.schema in order else len(order),
                                                              m.schema, m.name))
    lines = [
        "# Models",
        "",
        "Generated from the header comments of `sql/**/*.sql` (and the Python models' docstrings) by",
        "`news-etl models --docs docs/models.md`; do not edit by hand. Staging models are views over the",
        "lake; intermediate models and marts are tables, rebuilt whole (`table`) or merged from what a run",
        "changed (`incremental`, by their `unique_key`; see README, *SQL models*). Marts are exported",
        "for BI tools: `warehouse/marts/<name>.parquet`, or a Hive-partitioned dataset",
        "`warehouse/marts/<name>/<partition_by>=…/` for those with a `partition_by`.",
        "",
        "| model | kind | key | reads |",
        "|---|---|---|---|",
    ]
    for m in models:
        key = ", ".join(m.unique_key) if m.materialized == "incremental" and not m.procedure else ""
        reads = ", ".join(f"`{t}`" for t in m.reads)
        lines.append(f"| [`{m.qualified}`](#{m.schema}{m.name}) | {m.kind} | {key and f'`{key}`'} | {reads} |")
    for m in models:
        where = f"`{m.path.relative_to(sql_dir.parent)}`" if not m.procedure else f"`tasks/warehouse/{m.path.name}`"
        lines += ["", f"## {m.qualified}", "", f"{m.kind}, {where}", ""]
        if m.header.description:
            lines += [m.header.description, ""]
        config = {k: v for k, v in m.header.config.items() if k != "materialized"}
        if config:
            lines += ["Config: " + "; ".join(f"{k} `{v}`" for k, v in config.items()) + ".", ""]
        lines += ["| column | description |", "|---|---|"]
        lines += [f"| `{c}` | {_cell(d)} |" for c, d in m.header.columns.items()]
        if m.header.tests:
            lines += ["", "Tests: " + "; ".join(f"{t.kind}{' (warn)' if t.severity == 'warn' else ''} `{t.arguments}`"
                                                for t in m.header.tests) + "."]
    lines += ["", "## Data tests", "",
              "Each returns the offending rows. A test of severity `error` with rows fails the build (and the",
              "run); a `warn` test's rows are reported (run summary, Prefect artifact, `news-etl status`) and",
              "kept in `meta.test_results`. A run tests what it changed (`changed.<model>`), `news-etl test`",
              "and `--full-refresh` every row. Generic tests are declared in the models' headers",
              "(`-- test unique|not_null|relationships[ (warn)]: …`), custom ones are `sql/tests/*.sql`",
              "(`-- severity: warn` in the header).", "",
              "| test | severity | declared in | checks |", "|---|---|---|---|"]
    for t in data_tests(sql_dir, models):
        lines.append(f"| `{t.name}` | {t.severity} | `{t.path.relative_to(sql_dir.parent)}` | {_cell(t.details or t.description)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "&#124;")


@task(name="model", cache_policy=NO_CACHE)
def model_task(layout: WarehouseLayout, select: list[str] | None = None, sql_dir: Path = SQL_DIR, full_refresh: bool = False,
               run_id: str | None = None, con=None) -> BuildResult:
    return build(layout, select, sql_dir, full_refresh, run_id, con)
