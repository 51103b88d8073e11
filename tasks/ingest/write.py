"""Lake table schemas and atomic Parquet writes."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TS = pa.timestamp("us", tz="UTC")
STRINGS = pa.list_(pa.string())

SCHEMAS: dict[str, pa.Schema] = {
    "documents": pa.schema([
        ("doc_id", pa.string()),
        ("source_uri", pa.string()),
        ("source_name", pa.string()),
        ("content_type", pa.string()),
        ("n_bytes", pa.int64()),
        ("encoding", pa.string()),
        ("raw_text", pa.large_string()),
        ("url", pa.string()),
        ("external_id", pa.string()),
        ("published", pa.string()),
        ("ingested_at", TS),
        ("run_id", pa.string()),
    ]),
    "articles": pa.schema([
        ("doc_id", pa.string()),
        ("source_uri", pa.string()),
        ("source_name", pa.string()),
        ("url", pa.string()),
        ("site_name", pa.string()),
        ("title", pa.string()),
        ("subtitle", pa.string()),
        ("byline", pa.string()),
        ("credits", STRINGS),
        ("captions", STRINGS),
        ("tags", STRINGS),
        ("body", pa.large_string()),
        ("language", pa.string()),
        ("n_words", pa.int32()),
        ("n_paragraphs", pa.int32()),
        ("n_boilerplate_lines", pa.int32()),
        ("body_hash", pa.string()),
        ("minhash", pa.list_(pa.int64())),
        ("words", STRINGS),
        ("word_counts", pa.list_(pa.int32())),
        ("published", TS),
        ("run_id", pa.string()),
        ("ingested_at", TS),
        ("pipeline_version", pa.string()),
    ]),
    "boilerplate": pa.schema([
        ("doc_id", pa.string()),
        ("line_no", pa.int32()),
        ("text", pa.string()),
        ("rule", pa.string()),
        ("run_id", pa.string()),
    ]),
    "quarantine": pa.schema([
        ("source_uri", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("n_bytes", pa.int64()),
        ("copy_path", pa.string()),
        ("run_id", pa.string()),
        ("at", TS),
    ]),
    # Lines per source and how many documents hold them (added into meta.line_counts).
    "line_counts": pa.schema([
        ("source_name", pa.string()),
        ("line_key", pa.int64()),
        ("n_docs", pa.int64()),
    ]),
    # The input manifest (meta.inputs in DuckDB, not a lake table): files already processed.
    "inputs": pa.schema([
        ("source_uri", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("documents", pa.int32()),
        ("quarantined", pa.int32()),
        ("run_id", pa.string()),
        ("seen_at", TS),
    ]),
}
LAKE_TABLES = ("documents", "articles", "boilerplate", "quarantine")
# Kept in the lake's Parquet files only, not in DuckDB's lake tables: the search index reads them
# from the files of the runs it has not indexed yet (tasks/search.py).
FILE_ONLY_COLUMNS = {"articles": ("words", "word_counts")}


def to_table(name: str, rows: list[dict], columns: dict[str, pa.Array] | None = None) -> pa.Table:
    """Table ``name`` from row dicts; ``columns`` gives some columns ready-made, one value per row."""
    schema, columns = SCHEMAS[name], columns or {}
    return pa.Table.from_pydict({f.name: columns[f.name] if f.name in columns else [r.get(f.name) for r in rows] for f in schema},
                                schema=schema)


def write_parquet_atomic(table: pa.Table, path: str | Path) -> Path:
    """Write under a temporary name in the same directory, fsync, then rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=64 * 1024)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
