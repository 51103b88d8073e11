"""The readers' database, ``catalog.duckdb``, and the locked-down connection users query through.

The catalog holds no data: views over the Parquet files a run publishes (the marts as exported,
the lake, the search index), the bridge views of ``sql/catalog/`` and the ``search.match`` macro,
with the models' header descriptions as DuckDB comments (``duckdb_columns().comment``), where BI
catalogs read them. A run writes a new catalog under a temporary name and renames it over the
old one, and only when its content changed. So nothing ever locks the catalog a reader holds:
a BI tool or a DuckDB session can keep it open for as long as it likes, and every run goes on;
``news.duckdb`` stays the run's own.

``open_reader`` is the connection ``news-etl sql``, ``search``, ``models`` and ``report`` use. It
reads the catalog's list of objects and hands DuckDB each Parquet source as an Arrow dataset,
then switches DuckDB's file access off entirely and locks its configuration. DuckDB's own
``allowed_directories`` would keep the warehouse's folders readable, but also writable: a
``COPY … TO`` into ``marts/`` or ``lake/`` would replace a published file. With no file access at
all a query can read the warehouse through the views and nothing else, and write nowhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..ingest.lake import FILE_ONLY_COLUMNS, LAKE_TABLES, SCHEMAS
from ..layout import WarehouseLayout, commit, temp_path
from .database import fts_extension_path
from .search import DESCRIPTIONS as SEARCH_DESCRIPTIONS
from .search import EXPORTED as SEARCH_TABLES
from .search import MATCH_MACRO, SQL_WORD

FORMAT_VERSION = 1
PARTITION_TYPES = {"ingest_date": ("DATE", pa.date32())}  # hive keys of another name read as text
DUCKDB_TO_ARROW = {"DATE": pa.date32(), "VARCHAR": pa.string()}


class NoCatalog(FileNotFoundError):
    """The warehouse has no catalog yet: no run has finished there."""


@dataclass(frozen=True)
class CatalogObject:
    """One object of the catalog: Parquet files (``files``), a SQL view or a table macro."""

    kind: str  # "files" | "view" | "macro"
    schema: str
    name: str
    definition: str = ""  # files: directory or file, "" when there are none yet; view, macro: the SQL
    partitions: tuple[tuple[str, str], ...] = ()  # files: hive keys and their DuckDB types
    exclude: tuple[str, ...] = ()  # files: columns of the files that readers do not get
    arrow_schema: str = ""  # files: the columns readers get (hex of the serialized Arrow schema)
    description: str = ""
    columns: tuple[tuple[str, str], ...] = ()  # (column, description)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def schema_arrow(self) -> pa.Schema:
        return pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(self.arrow_schema)))


def _hex(schema: pa.Schema) -> str:
    return schema.serialize().to_pybytes().hex()


def _parquet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_"))) if path.is_dir() else []


def _partitions(root: Path, files: list[Path]) -> tuple[tuple[str, str], ...]:
    """The hive keys (``key=value`` folders) between ``root`` and its files."""
    if root.is_file() or not files:
        return ()
    keys = [part.split("=", 1)[0] for part in files[0].relative_to(root).parts[:-1] if "=" in part]
    return tuple((k, PARTITION_TYPES.get(k, ("VARCHAR", None))[0]) for k in keys)


def _with_partitions(schema: pa.Schema, partitions) -> pa.Schema:
    for key, duck_type in partitions:
        if schema.get_field_index(key) < 0:
            schema = schema.append(pa.field(key, DUCKDB_TO_ARROW[duck_type]))
    return schema


def _files_object(schema_name: str, name: str, root: Path, fallback: pa.Schema | None, exclude=(), default_partitions=(),
                  description: str = "", columns: dict | None = None) -> CatalogObject | None:
    files = _parquet_files(root)
    partitions = _partitions(root, files) or (default_partitions if root.is_dir() else ())
    schema = pq.read_schema(files[0]) if files else fallback
    if schema is None:
        return None
    schema = pa.schema([f for f in schema if f.name not in exclude])
    if fallback is not None and files:  # columns of older files may be missing: the current schema decides
        schema = pa.schema([f for f in fallback if f.name not in exclude])
    return CatalogObject("files", schema_name, name, str(root.resolve()) if files else "", tuple(partitions), tuple(exclude),
                         _hex(_with_partitions(schema, partitions)), description, tuple((columns or {}).items()))


def catalog_objects(layout: WarehouseLayout, sql_dir: Path | None = None) -> list[CatalogObject]:
    """What the catalog of ``layout`` holds now: the marts the models define and the run exported,
    the lake tables, the search index and the bridge views, each with its descriptions."""
    from .model import SQL_DIR, discover_models, parse_header  # (imports Prefect: readers do without)

    sql_dir = Path(sql_dir or SQL_DIR)
    models = discover_models(sql_dir)
    headers = {m.qualified: m.header for m in models}
    objects: list[CatalogObject] = []
    for m in models:
        if m.schema != "marts":
            continue
        root = layout.mart_dataset(m.name) if m.partition_by else layout.mart_file(m.name)  # as export.py writes it
        obj = _files_object("marts", m.name, root, None, description=m.header.description, columns=m.header.columns)
        if obj is not None and obj.definition:
            objects.append(obj)
    for table in LAKE_TABLES:
        header = headers.get(f"staging.stg_{table}")
        exclude = FILE_ONLY_COLUMNS.get(table, ())
        objects.append(_files_object("lake", table, layout.lake / table, SCHEMAS[table], exclude,
                                     (("ingest_date", "DATE"),), header.description if header else "",
                                     {c: d for c, d in (header.columns if header else {}).items() if c in SCHEMAS[table].names
                                      or c == "ingest_date"}))
    if any(o.qualified == "marts.articles" for o in objects):
        for path in sorted((Path(sql_dir) / "catalog").glob("*.sql")):
            sql = path.read_text(encoding="utf-8").strip().rstrip(";")
            header = parse_header(sql)
            objects.append(CatalogObject("view", "marts", path.stem, sql, description=header.description,
                                         columns=tuple(header.columns.items())))
        search = [_files_object("search", t, layout.search / t, None, description=SEARCH_DESCRIPTIONS[t][0],
                                columns=SEARCH_DESCRIPTIONS[t][1]) for t in SEARCH_TABLES]
        if all(o is not None and o.definition for o in search):
            objects += search
            macro = MATCH_MACRO.format(stemmer=_stemmer(layout), word=SQL_WORD).strip()
            objects.append(CatalogObject("macro", "search", "match", macro,
                                         description="search.match(query): unique articles ranked by BM25 over title and body"))
    return objects


def _stemmer(layout: WarehouseLayout) -> str:
    files = _parquet_files(layout.search / "words")
    if files:
        column = pq.read_table(files[0], columns=["stemmer"]).column(0)
        if len(column):
            return column[0].as_py()
    return "german"


def content_hash(objects: list[CatalogObject]) -> str:
    text = json.dumps([asdict(o) for o in objects], sort_keys=True)
    return hashlib.sha256(f"{FORMAT_VERSION}:{text}".encode()).hexdigest()


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_parquet(obj: CatalogObject) -> str:
    root = Path(obj.definition)
    if root.is_file():
        return f"read_parquet({_sql_string(str(root))})"
    types = ", ".join(f"{_sql_string(k)}: {t}" for k, t in obj.partitions)
    hive = f", hive_partitioning = true, hive_types = {{{types}}}" if obj.partitions else ", hive_partitioning = false"
    return f"read_parquet({_sql_string(str(root / '**' / '*.parquet'))}, union_by_name = true{hive})"


def _comments(con, obj: CatalogObject, what: str) -> None:
    if obj.description:
        con.execute(f"COMMENT ON {what} {obj.qualified} IS {_sql_string(obj.description)}")
    have = {r[0] for r in con.execute(f"DESCRIBE {obj.qualified}").fetchall()} if obj.kind != "macro" else set()
    for column, text in obj.columns:
        if column in have:
            con.execute(f'COMMENT ON COLUMN {obj.qualified}."{column}" IS {_sql_string(text)}')


def _build(con, objects: list[CatalogObject], source) -> None:
    """Create ``objects`` on ``con``; ``source(obj)`` gives the FROM clause of a ``files`` object."""
    for schema in sorted({o.schema for o in objects}):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for obj in objects:
        if obj.kind == "files":
            what = "VIEW" if obj.definition else "TABLE"
            if obj.definition:
                exclude = f" EXCLUDE ({', '.join(obj.exclude)})" if obj.exclude and source is _read_parquet else ""
                con.execute(f"CREATE OR REPLACE VIEW {obj.qualified} AS SELECT *{exclude} FROM {source(obj)}")
            else:
                empty = obj.schema_arrow().empty_table()  # noqa: F841 - read by DuckDB below
                con.execute(f"CREATE OR REPLACE TABLE {obj.qualified} AS SELECT * FROM empty")
        elif obj.kind == "view":
            what = "VIEW"
            con.execute(f"CREATE OR REPLACE VIEW {obj.qualified} AS {obj.definition}")
        else:
            con.execute(obj.definition)
            continue
        _comments(con, obj, what)


def _stored_hash(path: Path) -> str | None:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT content_hash FROM meta.catalog").fetchone()
        return row[0] if row else None
    except duckdb.Error:
        return None
    finally:
        con.close()


def write_catalog(layout: WarehouseLayout, sql_dir: Path | None = None) -> bool:
    """Bring ``catalog.duckdb`` up to date: a new file renamed over the old one when its content
    changed. Returns whether it wrote one."""
    objects = catalog_objects(layout, sql_dir)
    digest = content_hash(objects)
    if layout.catalog.exists() and _stored_hash(layout.catalog) == digest:
        return False
    tmp = temp_path(layout.catalog)
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute(f"LOAD {_sql_string(str(fts_extension_path()))}")  # the macro binds stem() when it is created
            _build(con, objects, _read_parquet)
            con.execute("CREATE SCHEMA IF NOT EXISTS meta")
            con.execute("CREATE TABLE meta.catalog AS SELECT ? AS content_hash, ? AS format_version, now() AS written_at",
                        [digest, FORMAT_VERSION])
            rows = [asdict(o) for o in objects]
            objects_table = pa.Table.from_pylist([{**r, "partitions": json.dumps(r["partitions"]), "exclude": json.dumps(r["exclude"]),
                                           "columns": json.dumps(r["columns"])} for r in rows])  # noqa: F841
            con.execute("CREATE TABLE meta.catalog_objects AS SELECT row_number() OVER () AS position, * FROM objects_table")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        commit(tmp, layout.catalog)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return True


def read_objects(layout: WarehouseLayout) -> list[CatalogObject]:
    """The objects of the warehouse's catalog, as the last run that changed it wrote them."""
    if not layout.catalog.exists():
        raise NoCatalog(f"no catalog at {layout.catalog}: no run has finished in this warehouse yet (run `news-etl run`)")
    con = duckdb.connect(str(layout.catalog), read_only=True)
    try:
        rows = con.execute("SELECT * EXCLUDE (position) FROM meta.catalog_objects ORDER BY position").fetchall()
        names = [d[0] for d in con.description]
    finally:
        con.close()
    out = []
    for row in rows:
        r = dict(zip(names, row))
        out.append(CatalogObject(**{**r, "partitions": tuple(map(tuple, json.loads(r["partitions"]))),
                                    "exclude": tuple(json.loads(r["exclude"])),
                                    "columns": tuple(map(tuple, json.loads(r["columns"])))}))
    return out


def _dataset(obj: CatalogObject, files: list[Path] | None = None) -> ds.Dataset:
    """The object's Parquet files (or ``files`` of them) as one Arrow dataset."""
    schema = obj.schema_arrow()
    root = Path(obj.definition)
    if root.is_file():
        return ds.dataset(root, schema=schema, format="parquet")
    partitioning = None
    if obj.partitions:
        partitioning = ds.partitioning(pa.schema([schema.field(k) for k, _ in obj.partitions]), flavor="hive")
    files = [str(p) for p in (_parquet_files(root) if files is None else files)]
    return ds.dataset(files, schema=schema, format="parquet", partitioning=partitioning, partition_base_dir=str(root))


@dataclass
class Reader:
    """A user's connection to the warehouse, read-only by construction (see the module's doc)."""

    con: duckdb.DuckDBPyConnection
    objects: list[CatalogObject] = field(default_factory=list)

    def close(self) -> None:
        self.con.close()

    def register_files(self, name: str, qualified: str, files: list[Path]) -> None:
        """Register ``files`` of the catalog object ``qualified`` (a subset of its files, e.g.
        one run's lake files) as the relation ``name``, with the object's columns."""
        obj = next(o for o in self.objects if o.qualified == qualified)
        self.con.register(name, _dataset(obj, files))

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        return self.con

    def __exit__(self, *exc) -> None:
        self.close()


def open_reader(layout: WarehouseLayout, memory_limit: str | None = None, only: set[str] | None = None) -> Reader:
    """A DuckDB connection with the catalog's objects (or those named in ``only``: each object's
    files are listed when it is created) over Arrow datasets of the published files, in a database
    attached read-only, with file access off and the configuration locked before any user SQL runs."""
    objects = read_objects(layout)
    con = duckdb.connect()
    scratch = Path(tempfile.mkdtemp(prefix="news-etl-reader-"))
    try:
        con.execute(f"LOAD {_sql_string(str(fts_extension_path()))}")  # stem(), for search.match

        def source(obj: CatalogObject) -> str:
            name = f"__{obj.schema}_{obj.name}"
            con.register(name, _dataset(obj))  # in the connection's temporary schema
            return name

        # the views go into a scratch database that is then attached read-only as the default:
        # a user's CREATE, DROP or INSERT fails there as on any read-only database
        path = _sql_string(str(scratch / "reader.duckdb"))
        con.execute(f"ATTACH {path} AS build")
        con.execute("USE build")
        _build(con, [o for o in objects if only is None or o.qualified in only], source)
        con.execute("USE memory")
        con.execute("DETACH build")
        con.execute(f"ATTACH {path} AS warehouse (READ_ONLY)")
        con.execute("USE warehouse")
        if memory_limit or os.environ.get("NEWS_ETL_DUCKDB_MEMORY"):
            con.execute(f"SET memory_limit = {_sql_string(memory_limit or os.environ['NEWS_ETL_DUCKDB_MEMORY'])}")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the attached file stays open, its name goes
    return Reader(con, objects)
