"""What a run has to do, from its inputs and what the warehouse already holds: the ``Plan``.

The inputs are walked into an Arrow table (about a hundred bytes a file; the blocks of find's
output that the last committed walk saw are only counted, ``WalkMemory``), DuckDB drops the files
the manifest ``meta.inputs`` holds with the same size and mtime, and batches are cut from the
sorted rest as it streams out of DuckDB. A full refresh also cleans the raw documents the lake keeps
again; and the lines earlier runs found frequent are handed to the batch tasks in a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task

from ..ingest.inputs import FILE_SCHEMA, WalkMemory, files_table, split_jsonl, walk_tables
from ..ingest.lake import write_parquet
from ..ingest.quarantine import Quarantined
from ..layout import WarehouseLayout
from ..memory import give_back
from ..options import RunOptions
from .database import connect, default_wait_seconds, sql_string



@dataclass(frozen=True)
class Plan:
    """The work of one run, decided before any document is read."""

    inputs: list[str]  # the files and directories walked
    batches: list[str]  # batch files of the new or changed input files
    kept: list[str] = field(default_factory=list)  # lake documents files to clean again (full refresh)
    rejected: list[Quarantined] = field(default_factory=list)  # inputs that cannot be read at all
    found: int = 0  # input files found, and inputs the walk rejected
    unchanged: int = 0  # of those, already loaded with the same size and mtime, or quarantined with the same reason
    frequent_lines: str | None = None  # Parquet file of the lines earlier runs found frequent
    walk_blocks: str | None = None  # Parquet file of the walk's blocks (WalkMemory.seen), for the next run

    @property
    def n_batches(self) -> int:
        return len(self.batches) + len(self.kept)


def plan(options: RunOptions, layout: WarehouseLayout, run_id: str) -> Plan:
    workdir = layout.plan_dir(run_id)
    workdir.mkdir(parents=True, exist_ok=True)
    rejected: list[Quarantined] = []
    tables = []
    memory = WalkMemory(known=_known_blocks(layout))
    for table, bad in walk_tables(options.inputs, workdir=workdir, memory=memory):
        tables.append(table)
        rejected += bad
    rejected.sort(key=lambda q: q.source_uri)
    candidates = pa.concat_tables(tables) if tables else FILE_SCHEMA.empty_table()
    del tables
    found = candidates.num_rows + memory.skipped
    batches, new = _new_files_in_batches(options, layout, run_id, candidates)
    del candidates
    give_back()  # the walk's buffers go back to the system before the batches
    new_rejected = _new_rejections(layout, rejected)
    blocks = pa.table({"digest": pa.array(list(memory.seen), pa.binary()), "n_files": pa.array(list(memory.seen.values()), pa.int64())})
    return Plan(options.inputs, batches, _kept_documents(layout) if options.full_refresh else [], new_rejected,
                found + len(rejected), found - new + len(rejected) - len(new_rejected),
                _frequent_lines(layout, run_id, options.repeat_min_docs),
                str(write_parquet(blocks, workdir / "walk_blocks.parquet")))


def _known_blocks(layout: WarehouseLayout) -> dict[bytes, int]:
    """The blocks of the last committed run's walk (``meta.walk_blocks``), by digest."""
    if not layout.database.exists():
        return {}
    con = connect(layout, read_only=True, wait_seconds=default_wait_seconds())
    try:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' AND table_name = 'walk_blocks'").fetchone()[0]:
            return {}
        return dict(con.execute("SELECT digest, n_files FROM meta.walk_blocks").fetchall())
    finally:
        con.close()


def _new_files_in_batches(options: RunOptions, layout: WarehouseLayout, run_id: str,
                          candidates: pa.Table) -> tuple[list[str], int]:
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        con.register("candidates", candidates)
        # a file reached through two inputs (one inside the other) is one candidate
        query = f"SELECT {'DISTINCT ON (path) ' if _overlapping(options.inputs) else ''}* FROM candidates c"
        if _has_manifest(con, layout):
            query += """ WHERE NOT EXISTS (SELECT 1 FROM wh.meta.inputs m
                          WHERE m.source_uri = c.path AND m.size = c.size AND m.mtime_ns = c.mtime_ns)"""
        reader = con.execute(query + " ORDER BY path").fetch_record_batch(10_000)
        return _cut_batches(reader, layout, run_id, options.batch_docs, options.batch_bytes)
    finally:
        con.close()


def _overlapping(inputs: list[str]) -> bool:
    """Whether one input is another or lies inside it (by its absolute or its real path)."""
    for paths in ([os.path.abspath(str(i)) for i in inputs], [os.path.realpath(str(i)) for i in inputs]):
        if len(set(paths)) < len(paths) or any(a.startswith(b.rstrip(os.sep) + os.sep) for a in paths for b in paths):
            return True
    return False


def _has_manifest(con, layout: WarehouseLayout) -> bool:
    if not layout.database.exists():
        return False
    con.execute(f"ATTACH {sql_string(layout.database)} AS wh (READ_ONLY)")
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = 'meta' AND table_name = 'inputs'"
    ).fetchone()[0])


def _cut_batches(reader, layout: WarehouseLayout, run_id: str, max_docs: int, max_bytes: int) -> tuple[list[str], int]:
    """Batches bounded by count and bytes (a large file gets its own batch), each written to a
    file. Cut on Arrow slices: a first run's million rows never become Python objects."""
    paths: list[str] = []
    current: list[pa.Table] = []
    count = size = n = 0

    def flush():
        paths.append(str(write_parquet(pa.concat_tables(current), layout.batch_file(run_id, len(paths)))))

    for record_batch in reader:
        n += record_batch.num_rows
        rows = _split_large_jsonl(pa.Table.from_batches([record_batch]), max_bytes)
        row_bytes = pc.if_else(pc.less(rows["length"], 0), rows["size"], rows["length"]).to_numpy()
        ends = np.cumsum(row_bytes)
        pos = 0
        while pos < len(row_bytes):
            before = int(ends[pos - 1]) if pos else 0
            # rows that still fit: count below max_docs, bytes within max_bytes
            take = min(max_docs - count, int(np.searchsorted(ends, before + max_bytes - size, side="right")) - pos)
            if take <= 0 and not current:
                take = 1  # a file larger than max_bytes: a batch of its own
            if take > 0:
                current.append(rows.slice(pos, take))
                count, size, pos = count + take, size + int(ends[pos + take - 1]) - before, pos + take
            if pos < len(row_bytes) or count >= max_docs:
                flush()
                current, count, size = [], 0, 0
    if current:
        flush()
    return paths, n


def _split_large_jsonl(rows: pa.Table, max_bytes: int) -> pa.Table:
    """``rows`` with each .jsonl file larger than ``max_bytes`` as its byte ranges (``split_jsonl``)."""
    large = pc.and_(pc.equal(rows["kind"], "jsonl"), pc.greater(rows["size"], max_bytes))
    if not pc.any(large).as_py():
        return rows
    return files_table([part for row in rows.to_pylist() for part in split_jsonl(row, max_bytes)])


def _new_rejections(layout: WarehouseLayout, rejected: list[Quarantined]) -> list[Quarantined]:
    """The inputs the walk rejected (links, unreadable entries) that ``lake.quarantine`` does not
    hold with the same reason yet: the others are unchanged inputs, not new documents."""
    if not rejected or not layout.database.exists():
        return rejected
    con = connect(layout, read_only=True, wait_seconds=default_wait_seconds())
    try:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'lake' AND table_name = 'quarantine'").fetchone()[0]:
            return rejected
        known = set(con.execute("SELECT source_uri, reason FROM lake.quarantine WHERE source_uri IN (SELECT unnest(?::VARCHAR[]))",
                                [[r.source_uri for r in rejected]]).fetchall())
    finally:
        con.close()
    return [r for r in rejected if (r.source_uri, r.reason) not in known]


def _kept_documents(layout: WarehouseLayout) -> list[str]:
    """The lake's documents files (raw text kept), for a rebuild that cleans them again."""
    if not layout.database.exists():
        return []
    con = connect(layout, read_only=True, wait_seconds=default_wait_seconds())
    try:
        rows = con.execute("SELECT lake_path FROM meta.lake_files WHERE table_name = 'documents' ORDER BY lake_path").fetchall()
    finally:
        con.close()
    return [str(layout.root / r[0]) for r in rows]


def _frequent_lines(layout: WarehouseLayout, run_id: str, min_docs: int) -> str | None:
    """The lines earlier runs counted in at least ``min_docs`` documents of a source, written to a
    Parquet file in the run's staging dir for the batch tasks; None if there are none."""
    if not layout.database.exists():
        return None
    con = connect(layout, read_only=True, wait_seconds=default_wait_seconds())
    try:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' AND table_name = 'line_counts'").fetchone()[0]:
            return None
        table = con.execute("SELECT source_name, line_key FROM meta.line_counts WHERE n_docs >= ?", [min_docs]).to_arrow_table()
    finally:
        con.close()
    if not table.num_rows:
        return None
    return str(write_parquet(table, layout.frequent_lines_file(run_id)))


@task(name="discover")
def plan_task(options: RunOptions, layout: WarehouseLayout, run_id: str) -> Plan:
    return plan(options, layout, run_id)
