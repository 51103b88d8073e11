"""Load a run's staged parts into DuckDB in one transaction, then publish them to the lake.

The DuckDB commit is the commit point of a run: ``meta.lake_files`` records which staged part
becomes which lake file. Publishing is a rename per file; a run killed between commit and
publish is rolled forward by ``recover`` at the start of the next run, and staged parts of a
run that never committed are deleted.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from ..crashpoints import crash_point
from ..ingest.batch import BatchResult
from ..ingest.lake import FILE_ONLY_COLUMNS, LAKE_TABLES, SCHEMAS, write_parquet
from ..layout import WarehouseLayout, fsync_dir
from ..options import RunContext
from .database import connect, default_wait_seconds, rollback
from .plan import Plan

DOC_TABLES = ("documents", "articles", "boilerplate")  # keyed by doc_id
REBUILT_TABLES = ("articles", "boilerplate")  # what a full refresh replaces: the raw documents stay

META_DDL = [
    "CREATE SCHEMA IF NOT EXISTS lake",
    "CREATE SCHEMA IF NOT EXISTS meta",
    """CREATE TABLE IF NOT EXISTS meta.lake_files (
        run_id VARCHAR, table_name VARCHAR, staged_path VARCHAR, lake_path VARCHAR, n_rows BIGINT)""",
    "CREATE TABLE IF NOT EXISTS meta.retired_files (lake_path VARCHAR, run_id VARCHAR)",
    # the blocks of the last committed run's walk (tasks/ingest/inputs.py, WalkMemory)
    "CREATE TABLE IF NOT EXISTS meta.walk_blocks (digest BLOB, n_files BIGINT)",
    """CREATE TABLE IF NOT EXISTS meta.runs (
        run_id VARCHAR, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ, inputs VARCHAR[],
        documents_in BIGINT, articles_out BIGINT, duplicates BIGINT, quarantined BIGINT,
        step_seconds MAP(VARCHAR, DOUBLE), status VARCHAR)""",
]
META_COLUMNS = {"runs": {"inputs_found": "BIGINT", "inputs_unchanged": "BIGINT", "boilerplate_lines": "BIGINT",
                         "error": "VARCHAR"}}


# columns a newer lake schema renamed: (table, old name, new name)
RENAMED_COLUMNS = [("lake.documents", "published", "published_raw"), ("lake.articles", "published", "published_at"),
                   ("lake.quarantine", "at", "quarantined_at")]


def ensure_tables(con) -> None:
    """Create the lake and meta tables, adding columns a newer schema introduced."""
    for ddl in META_DDL:
        con.execute(ddl)
    for table, old, new in RENAMED_COLUMNS:
        schema, name = table.split(".")
        have = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
                                          [schema, name]).fetchall()}
        if old in have and new not in have:
            con.execute(f'ALTER TABLE {table} RENAME COLUMN "{old}" TO "{new}"')
    for name in LAKE_TABLES:
        schema = SCHEMAS[name]
        for column in FILE_ONLY_COLUMNS.get(name, ()):
            schema = schema.remove(schema.get_field_index(column))
        _ensure_table(con, f"lake.{name}", schema, ingest_date=True)
    _ensure_table(con, "meta.inputs", SCHEMAS["inputs"])
    _ensure_table(con, "meta.line_counts", SCHEMAS["line_counts"])
    for table, columns in META_COLUMNS.items():
        for col, col_type in columns.items():
            con.execute(f'ALTER TABLE meta.{table} ADD COLUMN IF NOT EXISTS "{col}" {col_type}')


def _ensure_table(con, qualified: str, schema: pa.Schema, ingest_date: bool = False) -> None:
    empty = pa.Table.from_batches([], schema=schema)  # noqa: F841 - read by DuckDB below
    extra = ", NULL::DATE AS ingest_date" if ingest_date else ""
    con.execute(f"CREATE TABLE IF NOT EXISTS {qualified} AS SELECT *{extra} FROM empty")
    have = {r[0] for r in con.execute(f"DESCRIBE {qualified}").fetchall()}
    for col, col_type, *_ in con.execute("DESCRIBE SELECT * FROM empty").fetchall():
        if col not in have:
            con.execute(f'ALTER TABLE {qualified} ADD COLUMN "{col}" {col_type}')


@dataclass(frozen=True)
class Loaded:
    """What a run's load committed."""

    documents: int
    articles: int
    boilerplate: int
    quarantined: int
    duplicates: int  # documents read twice in a batch, staged documents or quarantine rows the lake holds already
    files: int  # lake files published


@dataclass(frozen=True)
class Recovered:
    """What ``recover`` finished of runs that died."""

    published: int = 0  # lake files of a committed run renamed into place
    discarded_runs: int = 0  # runs that never committed: their staged parts deleted
    interrupted_runs: int = 0  # loaded runs that never finished, now marked 'interrupted'
    temp_files: int = 0  # half-written files of a run that died while writing them, deleted

    def __bool__(self) -> bool:
        return bool(self.published or self.discarded_runs or self.interrupted_runs or self.temp_files)


def _chunks(batches: list[BatchResult]) -> list[dict]:
    """One unit per staged chunk: its parts by table, and the ingest date its lake files get."""
    return [{"parts": dict(c), "ingest_date": b.recleaned_date} for b in batches for c in b.chunks]


def _parts(chunks: list[dict], table: str) -> list[str]:
    return [c["parts"][table] for c in chunks if table in c["parts"]]


def _drop_loaded(con, chunks: list[dict]) -> int:
    """Keep re-runs from duplicating rows: drop staged documents already loaded (or staged twice in
    this run) with their articles and boilerplate, and quarantine rows already recorded; returns
    how many were dropped. Affected parts are rewritten before they load, so the lake files match
    the tables."""
    drops: dict[str, tuple[str, set]] = {}  # staged part -> (column, values to drop)
    n_docs = 0
    if _parts(chunks, "documents"):
        rows = con.execute(
            """
            WITH staged AS (
                SELECT doc_id, filename, row_number() OVER (PARTITION BY doc_id ORDER BY filename) AS rn
                FROM read_parquet(?, filename = true))
            SELECT filename, list(doc_id) FROM staged
            -- (the staged ids are looked up in the lake: no hash table of every loaded id)
            WHERE rn > 1 OR doc_id IN (SELECT doc_id FROM lake.documents SEMI JOIN staged USING (doc_id))
            GROUP BY filename
            """,
            [_parts(chunks, "documents")],
        ).fetchall()
        dropped_docs = {fn: set(ids) for fn, ids in rows}
        for c in chunks:
            ids = dropped_docs.get(c["parts"].get("documents"))
            if ids:
                n_docs += len(ids)
                for table in DOC_TABLES:
                    if table in c["parts"]:
                        drops[c["parts"][table]] = ("doc_id", ids)
    if _parts(chunks, "quarantine"):
        rows = con.execute(
            """
            WITH staged AS (
                SELECT filename, file_row_number, source_uri, reason,
                       row_number() OVER (PARTITION BY source_uri, reason ORDER BY filename, file_row_number) AS rn
                FROM read_parquet(?, filename = true, file_row_number = true))
            SELECT filename, list(file_row_number) FROM staged s
            WHERE rn > 1 OR EXISTS (SELECT 1 FROM lake.quarantine q WHERE q.source_uri = s.source_uri AND q.reason = s.reason)
            GROUP BY filename
            """,
            [_parts(chunks, "quarantine")],
        ).fetchall()
        drops.update({fn: ("__row__", set(rows_)) for fn, rows_ in rows})
        n_docs += sum(len(rows_) for _, rows_ in rows)  # quarantined again: the lake holds the row already
    for c in chunks:
        for table, path in list(c["parts"].items()):
            if path in drops:
                column, values = drops[path]
                t = pq.read_table(path)
                key = pa.array(range(t.num_rows)) if column == "__row__" else t[column]
                t = t.filter(pc.invert(pc.is_in(key, value_set=pa.array(sorted(values)))))
                if t.num_rows:
                    write_parquet(t, path)
                else:
                    os.unlink(path)
                    del c["parts"][table]
    return n_docs


def _add_line_counts(con, parts: list[str]) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE new_line_counts AS "
                "SELECT source_name, line_key, sum(n_docs)::BIGINT AS n_docs FROM read_parquet(?) GROUP BY ALL", [parts])
    con.execute("""UPDATE meta.line_counts m SET n_docs = m.n_docs + c.n_docs FROM new_line_counts c
                   WHERE m.source_name = c.source_name AND m.line_key = c.line_key""")
    con.execute("INSERT INTO meta.line_counts SELECT c.* FROM new_line_counts c "
                "ANTI JOIN meta.line_counts m ON m.source_name = c.source_name AND m.line_key = c.line_key")
    con.execute("DROP TABLE new_line_counts")


# The transaction's new rows stay in DuckDB's buffers up to its memory limit before they are written
# out, and more memory does not make the load faster: a low limit only bounds the peak RSS.
LOAD_MEMORY_LIMIT = "256MB"


def load_run(layout: WarehouseLayout, run: RunContext, plan: Plan, batches: list[BatchResult],
             full_refresh: bool = False, con=None) -> Loaded:
    """Insert staged parts, the lake file list and the run record in one transaction; then publish.

    With ``full_refresh`` the articles and boilerplate lose their previous rows in the same
    transaction (the batches cleaned every kept document again); their old lake files are retired
    and deleted once the transaction has committed. On ``con`` if given, else a connection of its own.
    """
    run_id = run.run_id
    replace = REBUILT_TABLES if full_refresh else ()
    memory_limit = os.environ.get("NEWS_ETL_DUCKDB_MEMORY", LOAD_MEMORY_LIMIT)
    own = con is None
    con = con or connect(layout, wait_seconds=default_wait_seconds())
    limit_before = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    con.execute(f"SET memory_limit = '{memory_limit}'")
    try:
        ensure_tables(con)
        con.execute("BEGIN TRANSACTION")
        try:
            retired = [r[0] for r in con.execute(
                "SELECT lake_path FROM meta.lake_files WHERE table_name IN (SELECT unnest(?::VARCHAR[]))", [list(replace)]
            ).fetchall()]
            for table in replace:
                con.execute(f"DELETE FROM lake.{table}")
                con.execute("DELETE FROM meta.lake_files WHERE table_name = ?", [table])
            if retired:
                con.executemany("INSERT INTO meta.retired_files VALUES (?, ?)", [(path, run_id) for path in retired])
            chunks = _chunks(batches)
            duplicates = _drop_loaded(con, chunks) + sum(b.duplicates for b in batches)
            if _parts(chunks, "inputs"):
                manifest = _parts(chunks, "inputs")
                con.execute("DELETE FROM meta.inputs WHERE source_uri IN (SELECT source_uri FROM read_parquet(?))", [manifest])
                con.execute("INSERT INTO meta.inputs BY NAME SELECT * FROM read_parquet(?)", [manifest])
            # this walk's blocks replace the last one's: each holds files the manifest now has as walked
            con.execute("DELETE FROM meta.walk_blocks")
            if plan.walk_blocks:
                con.execute("INSERT INTO meta.walk_blocks SELECT digest, n_files FROM read_parquet(?)", [plan.walk_blocks])
            if _parts(chunks, "line_counts"):
                _add_line_counts(con, _parts(chunks, "line_counts"))
            counts = dict.fromkeys(LAKE_TABLES, 0)
            files = []
            for table in LAKE_TABLES:
                by_date: dict[date, list[str]] = {}
                for c in chunks:
                    if table in c["parts"]:
                        by_date.setdefault(c["ingest_date"] or run.ingest_date, []).append(c["parts"][table])
                exclude = f" EXCLUDE ({', '.join(FILE_ONLY_COLUMNS[table])})" if table in FILE_ONLY_COLUMNS else ""
                for day, parts in sorted(by_date.items()):
                    counts[table] += con.execute(
                        f"INSERT INTO lake.{table} BY NAME SELECT *{exclude}, ?::DATE AS ingest_date "
                        "FROM read_parquet(?, union_by_name = true)",
                        [day, parts],
                    ).fetchone()[0]  # (the rows it inserted: counting them after scans the whole table)
                    for staged in parts:
                        target = layout.lake_file(table, day, run_id, staged)
                        files.append((run_id, table, layout.relative(staged), layout.relative(target), pq.read_metadata(staged).num_rows))
            if files:
                con.executemany("INSERT INTO meta.lake_files VALUES (?, ?, ?, ?, ?)", files)
            row = {"run_id": run_id, "started_at": run.started_at, "inputs": plan.inputs, "inputs_found": plan.found,
                   "inputs_unchanged": plan.unchanged, "documents_in": sum(b.documents_in for b in batches),
                   "articles_out": counts["articles"], "duplicates": duplicates, "quarantined": counts["quarantine"],
                   "boilerplate_lines": counts["boilerplate"], "status": "loaded"}
            con.execute(f"INSERT INTO meta.runs BY NAME SELECT {', '.join(f'${k} AS {k}' for k in row)}", row)
            crash_point("before_commit")
            con.execute("COMMIT")
        except BaseException:
            rollback(con)
            raise
    finally:
        if own:
            con.close()
        else:
            con.execute(f"SET memory_limit = '{limit_before}'")
    crash_point("after_commit")
    retire(layout, None if own else con)
    publish(layout, files)
    crash_point("after_publish")
    shutil.rmtree(layout.run_staging(run_id), ignore_errors=True)
    return Loaded(counts["documents"], counts["articles"], counts["boilerplate"], counts["quarantine"], duplicates, len(files))


def retire(layout: WarehouseLayout, con=None) -> int:
    """Delete lake files a committed rebuild replaced (on ``con`` if given)."""
    own = con is None
    con = con or connect(layout, wait_seconds=default_wait_seconds())
    try:
        paths = [r[0] for r in con.execute("SELECT lake_path FROM meta.retired_files").fetchall()]
        for path in paths:
            (layout.root / path).unlink(missing_ok=True)
        if paths:
            con.execute("DELETE FROM meta.retired_files")
    finally:
        if own:
            con.close()
    return len(paths)


def publish(layout: WarehouseLayout, files: list[tuple]) -> None:
    """Move committed staged parts to their lake paths (one atomic rename per file)."""
    root = layout.root
    dirs = set()
    for _run, _table, staged, target, _n in files:
        src, dst = root / staged, root / target
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            dirs.add(dst.parent)
            crash_point("mid_publish")
    for d in dirs:
        fsync_dir(d)


def recover(layout: WarehouseLayout) -> Recovered:
    """Finish what a killed run left: delete its half-written temporary files, roll
    committed-but-unpublished parts forward, delete staged parts of runs that never committed,
    mark loaded runs that never finished as interrupted.
    Call it holding the warehouse lock: every staged run is then a dead one."""
    temp_files = 0
    for path in layout.stale_temp_files():  # first: on a full disk they may be what fills it
        path.unlink(missing_ok=True)
        temp_files += 1
    staging = layout.staging
    if not layout.database.exists():
        shutil.rmtree(staging, ignore_errors=True)
        return Recovered(temp_files=temp_files)
    pending_runs = [p.name for p in staging.iterdir() if p.is_dir()] if staging.exists() else []
    con = connect(layout, wait_seconds=default_wait_seconds())
    try:
        ensure_tables(con)
        files = con.execute(
            "SELECT run_id, table_name, staged_path, lake_path, n_rows FROM meta.lake_files WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
            [pending_runs],
        ).fetchall()
        interrupted = con.execute(
            "UPDATE meta.runs SET status = 'interrupted' WHERE status = 'loaded' AND ended_at IS NULL"
        ).fetchone()[0]
    finally:
        con.close()
    retire(layout)
    publish(layout, files)
    committed = {f[0] for f in files}
    for run in pending_runs:
        shutil.rmtree(staging / run, ignore_errors=True)
    return Recovered(len(files), len(set(pending_runs) - committed), interrupted, temp_files)


def models_current(con, run_id: str) -> bool:
    """True when the run before ``run_id`` succeeded, i.e. the marts match the lake."""
    row = con.execute("SELECT status FROM meta.runs WHERE run_id <> ? ORDER BY started_at DESC LIMIT 1", [run_id]).fetchone()
    return bool(row) and row[0] == "succeeded"


def finish_run(layout: WarehouseLayout, run_id: str, status: str | None, step_seconds: dict, error: str | None = None,
               con=None) -> None:
    """Record how a loaded run ended: status ('succeeded' unless given), end time, seconds per step
    (on ``con`` if given)."""
    own = con is None
    con = con or connect(layout, wait_seconds=default_wait_seconds())
    try:
        ensure_tables(con)
        con.execute(
            """UPDATE meta.runs SET ended_at = coalesce(ended_at, now()),
                      status = coalesce(?, CASE WHEN status = 'loaded' THEN 'succeeded' ELSE status END),
                      error = coalesce(?, error), step_seconds = MAP(?::VARCHAR[], ?::DOUBLE[])
               WHERE run_id = ?""",
            [status, error, list(step_seconds), list(step_seconds.values()), run_id],
        )
    finally:
        if own:
            con.close()


@task(name="load", cache_policy=NO_CACHE)
def load_task(layout: WarehouseLayout, run: RunContext, plan: Plan, batches: list[BatchResult],
              full_refresh: bool = False, con=None) -> Loaded:
    return load_run(layout, run, plan, batches, full_refresh, con)
