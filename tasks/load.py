"""Load a run's staged parts into DuckDB in one transaction, then publish them to the lake.

The DuckDB commit is the commit point of a run: ``meta.lake_files`` records which staged part
becomes which lake file. Publishing is a rename per file; a run killed between commit and
publish is rolled forward by ``recover`` at the start of the next run, and staged parts of a
run that never committed are deleted.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import task

from .database import connect
from .settings import Settings
from .write import LAKE_TABLES, SCHEMAS, fsync_dir, write_parquet_atomic

KEYS = {"documents": "doc_id", "articles": "doc_id", "boilerplate": "doc_id"}

META_DDL = [
    "CREATE SCHEMA IF NOT EXISTS lake",
    "CREATE SCHEMA IF NOT EXISTS meta",
    """CREATE TABLE IF NOT EXISTS meta.lake_files (
        run_id VARCHAR, table_name VARCHAR, staged_path VARCHAR, lake_path VARCHAR, n_rows BIGINT)""",
    """CREATE TABLE IF NOT EXISTS meta.runs (
        run_id VARCHAR, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ, inputs VARCHAR[],
        documents_in BIGINT, articles_out BIGINT, duplicates BIGINT, quarantined BIGINT,
        step_seconds MAP(VARCHAR, DOUBLE), status VARCHAR)""",
]


def ensure_tables(con) -> None:
    """Create the lake and meta tables, adding columns a newer schema introduced."""
    for ddl in META_DDL:
        con.execute(ddl)
    for name, schema in SCHEMAS.items():
        empty = pa.Table.from_batches([], schema=schema)  # noqa: F841 - read by DuckDB below
        columns = con.execute("DESCRIBE SELECT * FROM empty").fetchall()
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='lake' AND table_name=?", [name]
        ).fetchone()[0]
        if not exists:
            con.execute(f"CREATE TABLE lake.{name} AS SELECT *, NULL::DATE AS ingest_date FROM empty")
            continue
        have = {r[0] for r in con.execute(f"DESCRIBE lake.{name}").fetchall()}
        for col, col_type, *_ in columns:
            if col not in have:
                con.execute(f'ALTER TABLE lake.{name} ADD COLUMN "{col}" {col_type}')


def lake_path(settings: Settings, table: str, ingest_date: date, run_id: str, batch_no: int) -> Path:
    return Path(settings.lake_dir) / table / f"ingest_date={ingest_date.isoformat()}" / f"part-{run_id}-{batch_no:05d}.parquet"


def _rel(settings: Settings, path: Path) -> str:
    return str(Path(path).resolve().relative_to(Path(settings.warehouse).resolve()))


def _dedupe_parts(con, settings: Settings, batches: list[dict]) -> int:
    """Drop documents already in the warehouse or staged twice in this run; rewrite affected parts."""
    doc_parts = [b["parts"]["documents"] for b in batches if "documents" in b["parts"]]
    if not doc_parts:
        return 0
    dropped = con.execute(
        """
        WITH staged AS (
            SELECT doc_id, filename, row_number() OVER (PARTITION BY doc_id ORDER BY filename) AS rn
            FROM read_parquet(?, filename = true)
        )
        SELECT filename, list(doc_id) FROM staged
        WHERE rn > 1 OR doc_id IN (SELECT doc_id FROM lake.documents)
        GROUP BY filename
        """,
        [doc_parts],
    ).fetchall()
    by_file = {fn: set(ids) for fn, ids in dropped}
    n_dropped = 0
    for b in batches:
        drop = by_file.get(b["parts"].get("documents"))
        if not drop:
            continue
        n_dropped += len(drop)
        for table in KEYS:
            path = b["parts"].get(table)
            if path is None:
                continue
            t = pq.read_table(path)
            keep = pc.invert(pc.is_in(t[KEYS[table]], value_set=pa.array(sorted(drop))))
            t = t.filter(keep)
            if t.num_rows:
                write_parquet_atomic(t, path)
            else:
                os.unlink(path)
                del b["parts"][table]
    return n_dropped


def load_run(settings: Settings, run_id: str, ingest_date: date, batches: list[dict], run_row: dict) -> dict:
    """Insert staged parts, the lake file list and the run record in one transaction; then publish."""
    con = connect(settings.db_path, wait_seconds=settings.extra.get("db_wait_seconds", 30))
    try:
        ensure_tables(con)
        con.execute("BEGIN TRANSACTION")
        try:
            duplicates = _dedupe_parts(con, settings, batches)
            counts = dict.fromkeys(LAKE_TABLES, 0)
            files = []
            for table in LAKE_TABLES:
                parts = [(b["batch_no"], b["parts"][table]) for b in batches if table in b["parts"]]
                if not parts:
                    continue
                con.execute(
                    f"INSERT INTO lake.{table} BY NAME SELECT *, ?::DATE AS ingest_date FROM read_parquet(?, union_by_name = true)",
                    [ingest_date, [p for _, p in parts]],
                )
                counts[table] = con.execute(f"SELECT count(*) FROM lake.{table} WHERE run_id = ?", [run_id]).fetchone()[0]
                for batch_no, staged in parts:
                    target = lake_path(settings, table, ingest_date, run_id, batch_no)
                    files.append((run_id, table, _rel(settings, Path(staged)), _rel(settings, target), pq.read_metadata(staged).num_rows))
            if files:
                con.executemany("INSERT INTO meta.lake_files VALUES (?, ?, ?, ?, ?)", files)
            row = {**run_row, "articles_out": counts["articles"], "duplicates": duplicates, "quarantined": counts["quarantine"]}
            con.execute(
                """INSERT INTO meta.runs (run_id, started_at, inputs, documents_in, articles_out, duplicates, quarantined, status)
                   VALUES ($run_id, $started_at, $inputs, $documents_in, $articles_out, $duplicates, $quarantined, 'loaded')""",
                {k: row[k] for k in ("run_id", "started_at", "inputs", "documents_in", "articles_out", "duplicates", "quarantined")},
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    publish(settings, files)
    shutil.rmtree(Path(settings.staging_dir) / run_id, ignore_errors=True)
    return {"counts": counts, "duplicates": duplicates, "files": len(files)}


def publish(settings: Settings, files: list[tuple]) -> None:
    """Move committed staged parts to their lake paths (one atomic rename per file)."""
    root = Path(settings.warehouse)
    dirs = set()
    for _run, _table, staged, target, _n in files:
        src, dst = root / staged, root / target
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            dirs.add(dst.parent)
    for d in dirs:
        fsync_dir(d)


def recover(settings: Settings) -> dict:
    """Roll committed-but-unpublished parts forward; delete staged parts of runs that never committed."""
    staging = Path(settings.staging_dir)
    if not staging.exists() or not Path(settings.db_path).exists():
        shutil.rmtree(staging, ignore_errors=True)
        return {"published": 0, "discarded_runs": 0}
    con = connect(settings.db_path, read_only=True, wait_seconds=30)
    try:
        has_meta = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='meta' AND table_name='lake_files'"
        ).fetchone()[0]
        pending_runs = [p.name for p in staging.iterdir() if p.is_dir()]
        files = []
        if has_meta and pending_runs:
            files = con.execute(
                "SELECT run_id, table_name, staged_path, lake_path, n_rows FROM meta.lake_files WHERE run_id IN (SELECT unnest(?))",
                [pending_runs],
            ).fetchall()
    finally:
        con.close()
    publish(settings, files)
    committed = {f[0] for f in files}
    for run in pending_runs:
        shutil.rmtree(staging / run, ignore_errors=True)
    return {"published": len(files), "discarded_runs": len(set(pending_runs) - committed)}


@task(name="load")
def load_task(settings: Settings, run_id: str, ingest_date: date, batches: list[dict], run_row: dict) -> dict:
    return load_run(settings, run_id, ingest_date, batches, run_row)
