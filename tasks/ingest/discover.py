"""Discover input documents under the given paths and cut them into batches."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task

from ..settings import Settings

KINDS = {".txt": "txt", ".text": "txt", ".html": "html", ".htm": "html", ".jsonl": "jsonl", ".jsonl.gz": "jsonl.gz"}


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute, as reached under its root
    root: str
    size: int
    mtime_ns: int
    kind: str
    offset: int = 0  # a large .jsonl file is read in byte ranges cut at line ends,
    length: int = -1  # (-1: to the end of the file)
    first_line: int = 1  # so that its lines spread over batches and workers


@dataclass(frozen=True)
class Rejected:
    """An input that cannot be read at all; becomes a quarantine row."""

    source_uri: str
    reason: str
    detail: str
    n_bytes: int = 0


def kind_of(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".jsonl.gz"):
        return "jsonl.gz"
    return KINDS.get(os.path.splitext(lower)[1])


def _inside(path: str, root_real: str) -> bool:
    return path == root_real or path.startswith(root_real.rstrip(os.sep) + os.sep)


def walk(inputs: list[str | Path]) -> Iterator[InputFile | Rejected]:
    """Yield the files under the given paths (recursively), never leaving a root through links.

    Links whose target lies inside the root are skipped: the walk reaches their target anyway.
    """
    for given in inputs:
        root = os.path.abspath(str(given))
        if not os.path.lexists(root):
            raise FileNotFoundError(f"input not found: {given}")
        if os.path.isfile(root):
            yield _input_file(root, os.path.dirname(root), kind_of(root) or "txt")
            continue
        root_real = os.path.realpath(root)
        stack = [root]
        while stack:
            directory = stack.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                yield Rejected(directory, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
                continue
            subdirs = []
            for entry in entries:
                path = entry.path
                try:
                    if entry.is_symlink():
                        rejected = _check_link(path, entry.name, root_real)
                        if rejected:
                            yield rejected
                    elif entry.is_dir(follow_symlinks=False):
                        subdirs.append(path)
                    elif kind := kind_of(entry.name):
                        yield _input_file(path, root, kind)
                except OSError as exc:
                    yield Rejected(path, "unreadable", str(exc))
            stack.extend(reversed(subdirs))


def _check_link(path: str, name: str, root_real: str) -> Rejected | None:
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as exc:
        if "loop" in str(exc).lower():
            return Rejected(path, "symlink_loop", str(exc))
        return Rejected(path, "broken_link", str(exc)) if kind_of(name) else None
    if not _inside(target, root_real):
        return Rejected(path, "link_outside_root", f"points to {target}")
    if os.path.isdir(target) and _inside(os.path.realpath(os.path.dirname(path)), target):
        return Rejected(path, "symlink_loop", f"points to its own ancestor {target}")
    return None


def _input_file(path: str, root: str, kind: str) -> InputFile | Rejected:
    try:
        st = os.stat(path)
    except OSError as exc:
        return Rejected(path, "unreadable", str(exc))
    if not stat.S_ISREG(st.st_mode):
        return Rejected(path, "not_a_file", f"mode {stat.filemode(st.st_mode)}")
    if not os.access(path, os.R_OK):
        return Rejected(path, "unreadable", "permission denied", st.st_size)
    return InputFile(path, root, st.st_size, st.st_mtime_ns, kind)


FILE_SCHEMA = pa.schema([("path", pa.string()), ("root", pa.string()), ("size", pa.int64()),
                         ("mtime_ns", pa.int64()), ("kind", pa.string()), ("offset", pa.int64()),
                         ("length", pa.int64()), ("first_line", pa.int64())])


def _files_table(files: list[InputFile]) -> pa.Table:
    return pa.Table.from_pylist([f.__dict__ for f in files], schema=FILE_SCHEMA)


def read_batch(path: str | Path) -> list[InputFile]:
    return [InputFile(**row) for row in pq.read_table(path).to_pylist()]


def plan_batches(settings: Settings, run_id: str, inputs: list[str]) -> dict:
    """Walk the inputs and write the batches of new or changed files to the run's staging dir.

    Streams: the file list goes to Parquet in chunks, DuckDB drops the files the manifest
    ``meta.inputs`` already holds with the same size and mtime, and batches are cut from a
    sorted stream, so memory does not grow with the number of inputs.
    """
    plan_dir = Path(settings.staging_dir) / run_id / "plan"
    plan_dir.mkdir(parents=True, exist_ok=True)
    candidates = plan_dir / "candidates.parquet"
    rejected: list[Rejected] = []
    n_found = 0
    with pq.ParquetWriter(candidates, FILE_SCHEMA) as writer:
        chunk: list[InputFile] = []
        for item in walk(inputs):
            if isinstance(item, Rejected):
                rejected.append(item)
                continue
            chunk.append(item)
            if len(chunk) >= 50_000:
                writer.write_table(_files_table(chunk))
                n_found += len(chunk)
                chunk = []
        writer.write_table(_files_table(chunk))
        n_found += len(chunk)

    import duckdb  # here, not at the top: the batch workers import this module for read_batch only

    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        query = "SELECT DISTINCT ON (path) * FROM read_parquet(?) c"
        if _has_manifest(con, settings.db_path):
            query += """ WHERE NOT EXISTS (SELECT 1 FROM wh.meta.inputs m
                          WHERE m.source_uri = c.path AND m.size = c.size AND m.mtime_ns = c.mtime_ns)"""
        reader = con.execute(query + " ORDER BY path", [str(candidates)]).fetch_record_batch(10_000)
        batches, n_new = _write_batches(reader, plan_dir, settings.batch_docs, settings.batch_bytes)
    finally:
        con.close()
    return {"batches": batches, "rejected": rejected, "found": n_found, "unchanged": n_found - n_new}


def _has_manifest(con, db_path: Path) -> bool:
    if not Path(db_path).exists():
        return False
    con.execute(f"ATTACH '{db_path}' AS wh (READ_ONLY)")
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = 'meta' AND table_name = 'inputs'"
    ).fetchone()[0])


def split_jsonl(row: dict, max_bytes: int) -> list[dict]:
    """A .jsonl file larger than ``max_bytes`` as byte ranges of about that size, each cut at a
    line end and knowing the line number it starts at (one sequential read)."""
    if row["kind"] != "jsonl" or row["size"] <= max_bytes:
        return [row]
    ranges, start, start_line, pos, line_no = [], 0, 1, 0, 1
    try:
        with open(row["path"], "rb") as fh:
            for line in fh:
                pos += len(line)
                line_no += 1
                if pos - start >= max_bytes:
                    ranges.append({**row, "offset": start, "length": pos - start, "first_line": start_line})
                    start, start_line = pos, line_no
    except OSError:
        return [row]  # reading it will fail again and quarantine it with the reason
    if pos > start or not ranges:
        ranges.append({**row, "offset": start, "length": -1, "first_line": start_line})
    return ranges


def _write_batches(reader, plan_dir: Path, max_docs: int, max_bytes: int) -> tuple[list[str], int]:
    """Cut batches bounded by count and bytes (a large file gets its own batch) and write each to a file."""
    paths: list[str] = []
    current: list[dict] = []
    size = n = 0

    def flush():
        path = plan_dir / f"batch-{len(paths):05d}.parquet"
        pq.write_table(pa.Table.from_pylist(current, schema=FILE_SCHEMA), path)
        paths.append(str(path))

    for record_batch in reader:
        for file_row in record_batch.to_pylist():
            n += 1
            for row in split_jsonl(file_row, max_bytes):
                row_bytes = row["size"] if row["length"] < 0 else row["length"]
                if current and (len(current) >= max_docs or size + row_bytes > max_bytes):
                    flush()
                    current, size = [], 0
                current.append(row)
                size += row_bytes
    if current:
        flush()
    return paths, n


def kept_documents(settings: Settings) -> list[str]:
    """The lake's documents files (raw text kept), for a rebuild that re-cleans them."""
    if not Path(settings.db_path).exists():
        return []
    import duckdb

    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        rows = con.execute("SELECT lake_path FROM meta.lake_files WHERE table_name = 'documents' ORDER BY lake_path").fetchall()
    finally:
        con.close()
    return [str(Path(settings.warehouse) / r[0]) for r in rows]


@task(name="discover")
def discover_task(settings: Settings, run_id: str, inputs: list[str]) -> dict:
    return plan_batches(settings, run_id, inputs)
