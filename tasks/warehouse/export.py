"""Export the marts for BI tools: small ones whole, big ones as Hive-partitioned datasets that a
run rewrites only where its build changed rows.

A mart whose header has ``-- partition_by: <column>`` is the dataset
``marts/<name>/<column>=<value>/``; with ``-- file_by: <column>`` (e.g. ``first_seen``: the rows one
run added) each partition holds one group of files per value of that column,
``part-<value>-<n>.parquet``, of at most ``ROWS_PER_FILE`` rows each. The model step records which
(partition, group) its merges touched in ``meta.export_pending``; the export rewrites those groups
and clears them. Every file is written apart and renamed into place, so a reader sees each file
whole, old or new; a group's rows keep their file (it is written in the table's order, on one
thread), so no row is seen twice or missed while a group is replaced. A killed export leaves its
pending groups for the next run. Every other mart is one file, ``marts/<name>.parquet``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..crashpoints import crash_point
from ..layout import WarehouseLayout, atomic_write, fsync_dir
from .database import connect, default_wait_seconds
from .model import SQL_DIR, Model, export_groups, discover_models

ROW_GROUP_SIZE = 16_384
ROW_GROUPS_PER_FILE = 4  # files of at most 65,536 rows
ROWS_PER_FILE = ROW_GROUP_SIZE * ROW_GROUPS_PER_FILE
EMPTY_FILE = "empty.parquet"  # what an empty partitioned mart holds


def _literal(value: str | None, type_: str) -> str:
    return "NULL" if value is None else f"CAST('{value.replace(chr(39), chr(39) * 2)}' AS {type_})"


def _matches(column: str, value: str | None, type_: str) -> str:
    return f'"{column}" IS NULL' if value is None else f'"{column}" = {_literal(value, type_)}'


def group_prefix(value: str | None) -> str:
    """``part-<value>-`` with the value's letters and digits only (a timestamp's digits)."""
    return "part-" + (re.sub(r"[^0-9A-Za-z]", "", value) + "-" if value is not None else "")


def _write_group(con, layout: WarehouseLayout, m: Model, types: dict, part: str | None, group: str | None) -> list[Path]:
    """Rewrite one (partition, group) of a partitioned mart; delete it if it holds no rows now."""
    where = _matches(m.partition_by, part, types[m.partition_by])
    if m.file_by:
        where += " AND " + _matches(m.file_by, group, types[m.file_by])
    target = layout.mart_partition(m.name, m.partition_by, part)
    prefix = group_prefix(group if m.file_by else None)
    staging = layout.export_staging / f"{m.name}-{re.sub(r'[^0-9A-Za-z]', '', str(part))}-{prefix}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    n = con.execute(f"SELECT count(*) FROM marts.{m.name} WHERE {where}").fetchone()[0]
    written = []
    if n:
        con.execute(f"""COPY (SELECT * EXCLUDE ("{m.partition_by}") FROM marts.{m.name} WHERE {where})
                        TO '{_quote(staging)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE},
                        ROW_GROUPS_PER_FILE {ROW_GROUPS_PER_FILE}, FILENAME_PATTERN '{prefix}{{i}}')""")
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(staging.glob("*.parquet")):
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(path, target / path.name)
            written.append(target / path.name)
    if target.exists():
        keep = {p.name for p in written}
        for old in target.glob(f"{prefix}*.parquet"):
            if old.name not in keep:
                old.unlink()
        fsync_dir(target)
        if not any(target.iterdir()):
            target.rmdir()
    shutil.rmtree(staging, ignore_errors=True)
    return written


def _export_dataset(con, layout: WarehouseLayout, m: Model, pending: list[tuple[str | None, str | None]]) -> list[Path]:
    types = dict(con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                             f"WHERE table_schema = 'marts' AND table_name = '{m.name}'").fetchall())
    layout.mart_file(m.name).unlink(missing_ok=True)  # the single file an earlier version wrote
    dataset = layout.mart_dataset(m.name)
    everything = ("*", "*") in pending
    if everything:
        pending = [r[1:] for r in con.execute(export_groups(con, m, f"marts.{m.name}")).fetchall()]
    written = []
    for part, group in sorted(set(pending), key=lambda pg: (pg[0] or "", pg[1] or "")):
        written += _write_group(con, layout, m, types, part, group)
    if everything and dataset.exists():  # files of groups that are gone
        keep = set(written)
        for old in dataset.rglob("*.parquet"):
            if old not in keep:
                old.unlink()
        for d in sorted((p for p in dataset.iterdir() if p.is_dir()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
    # an empty mart is one empty file, so that readers still find the dataset and its columns
    empty = layout.mart_partition(m.name, m.partition_by, None) / EMPTY_FILE
    if not any(p != empty for p in dataset.rglob("*.parquet")) if dataset.exists() else True:
        empty.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(empty) as tmp:
            con.execute(f'COPY (SELECT * EXCLUDE ("{m.partition_by}") FROM marts.{m.name} LIMIT 0) TO \'{_quote(tmp)}\' (FORMAT parquet)')
        written.append(empty)
    elif empty.exists():
        empty.unlink()
        if not any(empty.parent.iterdir()):
            empty.parent.rmdir()
    return written


def _export_file(con, layout: WarehouseLayout, name: str) -> Path:
    shutil.rmtree(layout.mart_dataset(name), ignore_errors=True)  # a dataset an earlier version wrote
    target = layout.mart_file(name)
    with atomic_write(target) as tmp:
        con.execute(f"COPY marts.{name} TO '{_quote(tmp)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
    return target


def export_marts(layout: WarehouseLayout, names: list[str] | None = None, sql_dir: Path = SQL_DIR, con=None) -> list[Path]:
    """Write each mart (or just ``names``): small ones whole, the changed groups of partitioned ones
    (on ``con``, a connection to the warehouse, or one of its own)."""
    layout.marts.mkdir(parents=True, exist_ok=True)
    wanted = None if names is None else {n.split(".")[-1] for n in names}
    models = {m.name: m for m in discover_models(sql_dir) if m.schema == "marts"}
    own = con is None
    con = connect(layout, wait_seconds=default_wait_seconds()) if own else con
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    written = []
    try:
        con.execute("SET threads = 1")  # row groups in the table's order: a group's rows keep their file
        con.execute("SET preserve_insertion_order = true")
        shutil.rmtree(layout.export_staging, ignore_errors=True)
        marts = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()]
        has_pending = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                                  "AND schema_name = 'meta' AND table_name = 'export_pending'").fetchone()[0]
        for name in marts:
            if wanted is not None and name not in wanted:
                continue
            m = models.get(name)
            if m is not None and m.partition_by:
                pending = con.execute("SELECT DISTINCT partition_value, file_group FROM meta.export_pending WHERE mart = ?",
                                      [name]).fetchall() if has_pending else []
                if not layout.mart_dataset(name).exists() and not pending:
                    pending = [("*", "*")]
                written += _export_dataset(con, layout, m, pending)
                crash_point("mid_export")
                if has_pending:
                    con.execute("DELETE FROM meta.export_pending WHERE mart = ?", [name])
            else:
                written.append(_export_file(con, layout, name))
        fsync_dir(layout.marts)
        shutil.rmtree(layout.export_staging, ignore_errors=True)
    finally:
        if own:
            con.close()
        else:
            con.execute(f"SET threads = {int(threads)}")
            con.execute("SET preserve_insertion_order = false")
    return written


def _quote(path) -> str:
    return str(path).replace("'", "''")


@task(name="export", cache_policy=NO_CACHE)
def export_task(layout: WarehouseLayout, names: list[str] | None = None, con=None) -> list[str]:
    return [str(p) for p in export_marts(layout, names, con=con)]
