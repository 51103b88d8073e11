"""The lake's tables: their schema, declared once, and the row builders that fill them.

A batch stages one Parquet part per table and chunk. ``documents``, ``articles``, ``boilerplate``
and ``quarantine`` become the lake (files under ``lake/<table>/`` and the DuckDB tables
``lake.<table>``); ``inputs`` and ``line_counts`` are staged the same way and load into
``meta.inputs`` and ``meta.line_counts``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from .. import PIPELINE_VERSION
from ..layout import atomic_write

if TYPE_CHECKING:
    from ..cleaning.clean import Article
    from ..options import RunContext
    from .extract import RawDocument
    from .inputs import InputFile

TS = pa.timestamp("us", tz="UTC")
STRINGS = pa.list_(pa.string())

SCHEMAS: dict[str, pa.Schema] = {
    "documents": pa.schema([  # a RawDocument (ingest/extract.py) and when which run read it
        ("doc_id", pa.string()),
        ("source_uri", pa.string()),
        ("source_name", pa.string()),
        ("content_type", pa.string()),
        ("n_bytes", pa.int64()),
        ("encoding", pa.string()),
        ("raw_text", pa.large_string()),
        ("url", pa.string()),
        ("external_id", pa.string()),
        ("published_raw", pa.string()),  # as the input gave it; articles.published_at is the parsed time
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
        ("published_at", TS),
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
        ("quarantined_at", TS),
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
# from the files of the runs it has not indexed yet (tasks/warehouse/search.py).
FILE_ONLY_COLUMNS = {"articles": ("words", "word_counts")}


def document_row(doc: RawDocument, run: RunContext) -> dict:
    row = {**doc.__dict__, "ingested_at": run.started_at, "run_id": run.run_id}
    row["published_raw"] = row.pop("published")
    return row


def article_row(doc: RawDocument, art: Article, run: RunContext, url: str | None = None, published: str | None = None,
                site_name: str | None = None) -> dict:
    """The article's row, but for ``minhash``, ``words`` and ``word_counts``: those are computed
    per chunk of articles, vectorised, straight into Arrow columns."""
    body = art.body
    return {
        "doc_id": doc.doc_id,
        "source_uri": doc.source_uri,
        "source_name": doc.source_name,
        "url": url or doc.url,
        "site_name": site_name,
        "title": art.title,
        "subtitle": art.subtitle,
        "byline": art.byline,
        "credits": art.credits,
        "captions": art.captions,
        "tags": art.tags,
        "body": body,
        "language": art.language,
        "n_words": len(body.split()),
        "n_paragraphs": len(art.paragraphs),
        "n_boilerplate_lines": len(art.removed),
        "body_hash": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "published_at": parse_published(published or doc.published),
        "run_id": run.run_id,
        "ingested_at": run.started_at,
        "pipeline_version": PIPELINE_VERSION,
    }


def parse_published(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def boilerplate_rows(doc_id: str, art: Article, run: RunContext) -> list[dict]:
    return [{"doc_id": doc_id, "line_no": no, "text": text, "rule": rule, "run_id": run.run_id} for no, text, rule in art.removed]


def quarantine_row(source_uri: str, reason: str, detail: str, n_bytes: int | None, copy_path: str | None,
                   run: RunContext) -> dict:
    return {"source_uri": source_uri, "reason": reason, "detail": detail[:1000], "n_bytes": n_bytes,
            "copy_path": copy_path, "run_id": run.run_id, "quarantined_at": run.started_at}


def input_row(f: InputFile, documents: int, quarantined: int, run: RunContext) -> dict:
    return {"source_uri": f.path, "size": f.size, "mtime_ns": f.mtime_ns, "documents": documents,
            "quarantined": quarantined, "run_id": run.run_id, "seen_at": run.started_at}


def line_count_rows(counts: dict[str, Counter]) -> list[dict]:
    return [{"source_name": source, "line_key": key, "n_docs": n} for source, c in counts.items() for key, n in c.items()]


def to_table(name: str, rows: list[dict], columns: dict[str, pa.Array] | None = None) -> pa.Table:
    """Table ``name`` from row dicts; ``columns`` gives some columns ready-made, one value per row."""
    schema, columns = SCHEMAS[name], columns or {}
    return pa.Table.from_pydict({f.name: columns[f.name] if f.name in columns else [r.get(f.name) for r in rows] for f in schema},
                                schema=schema)


def write_parquet(table: pa.Table, path: str | Path) -> Path:
    """A staged part, or any Parquet file of the pipeline: zstd, written whole or not at all."""
    with atomic_write(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=64 * 1024)
    return Path(path)
