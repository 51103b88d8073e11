"""Build the SQL models in ``sql/`` in dependency order and run their data tests.

``sql/staging/*.sql`` become views in schema ``staging``, ``sql/marts/*.sql`` tables in schema
``marts``; the order comes from the tables each query reads (DuckDB's own parser), never from a
hand-kept list. Each file starts with a header comment (``-- model: …`` / ``-- column <name>: …``)
that documents it and generates ``docs/models.md``; it also declares the model's generic data
tests (``-- test unique: a, b``, ``-- test not_null: a``, ``-- test relationships: a ->
marts.x.b``), whose SQL is generated here. ``sql/tests/*.sql`` are the custom data tests. A data
test returns offending rows: any row fails the build.
"""

from __future__ import annotations

import graphlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from prefect import task

from ..layout import WarehouseLayout
from .database import connect, default_wait_seconds, rollback

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"  # the repository's sql/, or the installed package's
MATERIALIZATION = {"staging": "VIEW", "marts": "TABLE"}
GENERIC_TESTS = ("unique", "not_null", "relationships")
SHOW_ROWS = 5


class ModelError(Exception):
    pass


class DataTestFailure(ModelError):
    pass


@dataclass(frozen=True)
class Header:
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    tests: tuple[tuple[str, str], ...] = ()  # (kind, arguments) of each ``-- test <kind>: <arguments>``


@dataclass(frozen=True)
class Model:
    schema: str
    name: str
    path: Path
    sql: str
    depends_on: tuple[str, ...]
    reads: tuple[str, ...] = ()  # every table the query reads, models or not
    header: Header = Header()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def kind(self) -> str:
        return MATERIALIZATION[self.schema].lower()


_HEADER_LINE = re.compile(r"--\s?(?P<text>.*)")
_ENTRY = re.compile(r"(?P<key>model|test(?:\s+(?P<kind>\w+))?|column\s+(?P<col>[A-Za-z_][A-Za-z0-9_]*))\s*:\s*(?P<text>.*)")


def parse_header(sql: str) -> Header:
    """Read the leading ``--`` comment: ``model:``/``test:``, ``column <name>:`` and ``test <kind>:``
    entries; an indented comment line continues the previous entry."""
    description, columns, tests, current = [], {}, [], None
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
            if entry.group("col"):
                current = entry.group("col")
                columns[current] = entry.group("text").strip()
            elif entry.group("kind"):
                current = None
                tests.append((entry.group("kind"), entry.group("text").strip()))
            else:
                current = None
                description.append(entry.group("text").strip())
        elif current:
            columns[current] = f"{columns[current]} {text.strip()}".strip()
        elif description:
            description.append(text.strip())
    return Header(" ".join(d for d in description if d), columns, tuple(tests))


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


def _tables_in_parse_tree(sql: str) -> set[str]:
    with duckdb.connect() as con:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        raise duckdb.ParserException(tree.get("error_message", "cannot parse"))
    found, todo = set(), [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE":
                found.add(".".join(p for p in (node["schema_name"], node["table_name"]) if p))
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


def tables_read(sql: str) -> list[str]:
    """``schema.table`` (or ``table``) of every table a query reads, by DuckDB's parser; lower case
    like DuckDB's own name resolution."""
    try:
        names = {".".join(_split_name(t)[-2:]) for t in duckdb.get_table_names(sql, qualified=True)}
    except duckdb.BinderException:
        # get_table_names binds JOIN ... USING against tables it cannot see and fails; the parse
        # tree alone has the same table references (CTE names come without a schema there).
        names = _tables_in_parse_tree(sql)
    return sorted(n.lower() for n in names)


def discover_models(sql_dir: Path) -> list[Model]:
    """All models, ordered so that each comes after the models it reads.

    A reference to ``staging.x``/``marts.x`` without a file, or a dependency cycle, is a
    ModelError naming the file(s)."""
    raw = {}
    for schema in MATERIALIZATION:
        for path in sorted((Path(sql_dir) / schema).glob("*.sql")):
            raw[f"{schema}.{path.stem}"] = (schema, path, _read_sql(path))
    models = {}
    for qualified, (schema, path, sql) in raw.items():
        _one_select(path, sql)
        try:
            tables = tables_read(sql)
        except duckdb.Error as exc:
            raise ModelError(f"{path}: cannot parse: {exc}") from None
        deps = []
        for ref in tables:
            ref_schema, _, ref_name = ref.rpartition(".")
            if ref_schema in MATERIALIZATION:
                if ref not in raw:
                    raise ModelError(f"{path}: reads {ref}, which is not a model (no {Path(sql_dir) / ref_schema / ref_name}.sql)")
                deps.append(ref)
        models[qualified] = Model(schema, path.stem, path, sql, tuple(sorted(set(deps))), tuple(tables), parse_header(sql))
    sorter = graphlib.TopologicalSorter({q: m.depends_on for q, m in models.items()})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        files = " -> ".join(str(models[q].path) for q in cycle)
        raise ModelError(f"dependency cycle between models: {files}") from None
    return [models[q] for q in order]


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


def build_models(con, models: list[Model]) -> None:
    """Create ``models`` in the order given on an open connection."""
    for schema in MATERIALIZATION:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for m in models:
        try:
            con.execute(f"CREATE OR REPLACE {MATERIALIZATION[m.schema]} {m.qualified} AS {m.sql}")
        except duckdb.Error as exc:
            raise ModelError(f"{m.path}: {exc}") from None


@dataclass(frozen=True)
class DataTest:
    """A query returning offending rows: declared in a model's header, or a file in ``sql/tests/``."""

    name: str
    sql: str
    description: str
    path: Path  # the file that declares it


_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RELATIONSHIP = re.compile(r"(?P<col>\w+)\s*->\s*(?P<schema>\w+)\.(?P<table>\w+)\.(?P<to>\w+)")


def _columns(m: Model, arguments: str) -> list[str]:
    columns = [c.strip() for c in arguments.split(",")]
    if not all(_COLUMN.fullmatch(c) for c in columns):
        raise ModelError(f"{m.path}: cannot read the columns of test {arguments!r} (expected e.g. 'doc_id' or 'a, b')")
    return columns


def generic_test(m: Model, kind: str, arguments: str) -> DataTest:
    """The SQL of a generic test a model's header declares (``-- test <kind>: <arguments>``)."""
    if kind == "unique":
        cols = _columns(m, arguments)
        keys = ", ".join(f'"{c}"' for c in cols)
        return DataTest(f"unique_{m.name}_{'_'.join(cols)}",
                        f"select {keys}, count(*) as n_rows from {m.qualified} group by all having count(*) > 1",
                        f"{m.qualified} has one row per ({', '.join(cols)}).", m.path)
    if kind == "not_null":
        cols = _columns(m, arguments)
        return DataTest(f"not_null_{m.name}_{'_'.join(cols)}",
                        f"select * from {m.qualified} where " + " or ".join(f'"{c}" is null' for c in cols),
                        f"no {', '.join(cols)} in {m.qualified} is null.", m.path)
    if kind == "relationships":
        r = _RELATIONSHIP.fullmatch(arguments)
        if not r:
            raise ModelError(f"{m.path}: cannot read test relationships: {arguments!r} (expected 'column -> schema.model.column')")
        col, parent, to = r["col"], f"{r['schema']}.{r['table']}", r["to"]
        return DataTest(f"relationships_{m.name}_{col}",
                        f'select c."{col}" from {m.qualified} c anti join {parent} p on p."{to}" = c."{col}" where c."{col}" is not null',
                        f"every {col} of {m.qualified} is in {parent}.{to}.", m.path)
    raise ModelError(f"{m.path}: unknown test {kind!r} (generic tests: {', '.join(GENERIC_TESTS)})")


def data_tests(sql_dir: Path, models: list[Model]) -> list[DataTest]:
    """The generic tests the models declare and the custom tests in ``sql/tests/``, by name."""
    tests = [generic_test(m, kind, arguments) for m in models for kind, arguments in m.header.tests]
    for path in sorted((Path(sql_dir) / "tests").glob("*.sql")):
        sql = _read_sql(path)
        tests.append(DataTest(path.stem, sql, parse_header(sql).description, path))
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


def run_data_tests(con, tests: list[DataTest], only_reading: set[str] | None = None, max_rows: int = SHOW_ROWS) -> list[str]:
    """Run the data tests; with only_reading, just those that read one of those tables and no
    model that has not been built yet.

    Returns the names of the tests run; raises DataTestFailure naming each failing test with its
    number of offending rows and the first ones."""
    failures, ran = [], []
    existing = _existing(con)
    for t in tests:
        if only_reading is not None:
            reads = {r for r in tables_read(t.sql) if r.partition(".")[0] in MATERIALIZATION}
            if not reads & only_reading or reads - existing:
                continue
        ran.append(t.name)
        try:
            cur = con.execute(f"SELECT *, count(*) OVER () AS __offending FROM ({t.sql}) LIMIT {int(max_rows)}")
            rows = cur.fetchall()
        except duckdb.Error as exc:
            failures.append(f"data test {t.name} ({t.path}) could not run: {exc}")
            continue
        if not rows:
            continue
        columns, n = [d[0] for d in cur.description[:-1]], rows[0][-1]
        shown = "\n".join("    " + ", ".join(f"{c}={_show(v)}" for c, v in zip(columns, r)) for r in rows)
        more = f"\n    … and {n - len(rows)} more" if n > len(rows) else ""
        failures.append(
            f"data test {t.name} failed ({t.description or t.path}): {n} offending row{'s' if n != 1 else ''}:\n{shown}{more}"
        )
    if failures:
        raise DataTestFailure("\n".join(failures))
    return ran


def build_on(con, sql_dir: Path, select: list[str] | None = None, stemmer: str | None = "german",
             layout: WarehouseLayout | None = None) -> list[Model]:
    """Build models, run the data tests touching them and bring the search index up to date
    (given the ``layout`` of the warehouse, whose lake files it reads, and a ``stemmer``), in one
    transaction on ``con``: all or nothing."""
    con.execute("SET enable_progress_bar = false")  # it would interleave with the flow's own output
    models = discover_models(sql_dir)
    tests = data_tests(sql_dir, models)
    con.execute("BEGIN TRANSACTION")
    try:
        selected = select_models(models, select, _existing(con))
        build_models(con, selected)
        built = {m.qualified for m in selected}
        run_data_tests(con, tests, None if select is None else built)
        if layout and stemmer and "marts.articles" in built:
            from .search import update_index

            update_index(con, layout, stemmer)
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return selected


def build(layout: WarehouseLayout, select: list[str] | None = None, sql_dir: Path = SQL_DIR) -> list[Model]:
    """Build every model (or ``select``: those models plus missing dependencies), run the data
    tests and update the search index, in one transaction."""
    con = connect(layout, wait_seconds=default_wait_seconds())
    try:
        return build_on(con, sql_dir, select, layout=layout)
    finally:
        con.close()


def render_docs(sql_dir: Path) -> str:
    """Markdown reference of every model and data test, generated from the SQL headers."""
    sql_dir = Path(sql_dir)
    models = sorted(discover_models(sql_dir), key=lambda m: (list(MATERIALIZATION).index(m.schema), m.name))
    lines = [
        "# Models",
        "",
        "Generated from the header comments of `sql/**/*.sql` by `news-etl models --docs docs/models.md`;",
        "do not edit by hand. Staging models are views over the lake, marts are tables (also exported",
        "to `warehouse/marts/<name>.parquet`).",
        "",
        "| model | kind | reads |",
        "|---|---|---|",
    ]
    for m in models:
        lines.append(f"| [`{m.qualified}`](#{m.schema}{m.name}) | {m.kind} | {', '.join(f'`{t}`' for t in m.reads)} |")
    for m in models:
        lines += ["", f"## {m.qualified}", "", f"{m.kind}, `{m.path.relative_to(sql_dir.parent)}`", ""]
        if m.header.description:
            lines += [m.header.description, ""]
        lines += ["| column | description |", "|---|---|"]
        lines += [f"| `{c}` | {_cell(d)} |" for c, d in m.header.columns.items()]
        if m.header.tests:
            lines += ["", "Tests: " + "; ".join(f"{kind} `{arguments}`" for kind, arguments in m.header.tests) + "."]
    lines += ["", "## Data tests", "",
              "Each returns the offending rows; any row fails the build. Generic tests are declared in the",
              "models' headers (`-- test unique|not_null|relationships: …`), custom ones are `sql/tests/*.sql`.", "",
              "| test | declared in | checks |", "|---|---|---|"]
    for t in data_tests(sql_dir, models):
        lines.append(f"| `{t.name}` | `{t.path.relative_to(sql_dir.parent)}` | {_cell(t.description)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "&#124;")


@task(name="model")
def model_task(layout: WarehouseLayout, select: list[str] | None = None, sql_dir: Path = SQL_DIR) -> list[str]:
    return [m.qualified for m in build(layout, select, sql_dir)]
