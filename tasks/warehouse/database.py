"""DuckDB connections to the warehouse file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from ..layout import WarehouseLayout


def fts_extension_path() -> str:
    import duckdb_extension_fts

    base = Path(duckdb_extension_fts.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    return str(base / "fts.duckdb_extension")


class DatabaseLocked(RuntimeError):
    """Another process holds the warehouse database."""


def default_wait_seconds() -> float:
    """How long the flow's steps wait for a database another process holds (NEWS_ETL_DB_WAIT, default 30 s)."""
    return float(os.environ.get("NEWS_ETL_DB_WAIT", "30"))


# DuckDB compresses a row group's columns in memory when it writes them, outside its memory limit:
# a row group of raw texts at the default 122,880 rows holds hundreds of MB per writing thread.
ROW_GROUP_SIZE = 16_384


def connect(layout: WarehouseLayout, read_only: bool = False, wait_seconds: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse's database; with wait_seconds, retry while another process holds the
    write lock. DuckDB spills to disk beyond NEWS_ETL_DUCKDB_MEMORY (default 384MB)."""
    db_path = layout.database
    if read_only and not db_path.exists():
        raise FileNotFoundError(f"no warehouse database at {db_path} (run `news-etl run` first)")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    alias = db_path.stem if db_path.stem.isidentifier() else "warehouse"
    options = ("READ_ONLY, " if read_only else "") + f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}"
    while True:
        con = duckdb.connect()
        try:
            con.execute(f"ATTACH {sql_string(db_path)} AS {alias} ({options})")
            con.execute(f"USE {alias}")
            break
        except duckdb.IOException as exc:
            con.close()
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                holder = str(exc).split("Conflicting lock is held in", 1)[-1].split(". See also")[0].strip()
                raise DatabaseLocked(
                    f"warehouse database {db_path} is locked by another process ({holder}) "
                    f"after waiting {wait_seconds:g} s; nothing was changed"
                ) from None
            time.sleep(0.2)
    con.execute(f"SET temp_directory = {sql_string(layout.spill)}")  # where it spills, as for a file opened directly
    con.execute("SET preserve_insertion_order = false")
    # Bounded memory: DuckDB spills to disk beyond this instead of growing with the corpus.
    con.execute(f"SET memory_limit = '{os.environ.get('NEWS_ETL_DUCKDB_MEMORY', '384MB')}'")
    # The limit bounds DuckDB's buffers, not what its allocator keeps of the memory a query freed,
    # which counts in the process's RSS all the same; by default it is given back only after a
    # query that peaked above 128 MB.
    con.execute("SET allocator_flush_threshold = '8MB'")
    threads = os.environ.get("NEWS_ETL_DUCKDB_THREADS")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction, if there still is one: a COMMIT that failed (a full disk)
    has ended it already, and a second error here would hide the one that matters."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def sql_string(value) -> str:
    """``value`` (a path) as a SQL string literal, for the statements that take no parameters
    (ATTACH, LOAD, SET)."""
    return "'" + str(value).replace("'", "''") + "'"
