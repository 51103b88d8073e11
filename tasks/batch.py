"""The per-batch task: read → extract → clean → staged Parquet parts (one per lake table)."""

from __future__ import annotations

import errno
import hashlib
import time
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from prefect import task

from . import PIPELINE_VERSION
from .clean import Article, clean, load_rules
from .crashpoints import crash_point
from .discover import InputFile, read_batch
from .extract import BadInput, RawDocument, extract_html, read_file
from .language import detect_language
from .quarantine import quarantine_row
from .settings import Settings
from .write import to_table, write_parquet_atomic


@lru_cache(maxsize=8)
def _rules(files: tuple[str, ...]):
    return load_rules(files)


def parse_published(value: str | None) -> datetime | None:
    if not value:
        return None
    from datetime import timezone

    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def article_row(doc: RawDocument, art: Article, language: str | None, run_id: str, ingested_at: datetime, url=None, published=None) -> dict:
    body = art.body
    return {
        "doc_id": doc.doc_id,
        "source_uri": doc.source_uri,
        "source_name": doc.source_name,
        "url": url or doc.url,
        "title": art.title,
        "subtitle": art.subtitle,
        "byline": art.byline,
        "credits": art.credits,
        "captions": art.captions,
        "tags": art.tags,
        "paragraphs": art.paragraphs,
        "body": body,
        "language": language,
        "n_words": len(body.split()),
        "n_paragraphs": len(art.paragraphs),
        "n_boilerplate_lines": len(art.removed),
        "body_hash": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "published": parse_published(published or doc.published),
        "run_id": run_id,
        "ingested_at": ingested_at,
        "pipeline_version": PIPELINE_VERSION,
    }


def transform_document(doc: RawDocument, settings: Settings, run_id: str, ingested_at: datetime) -> tuple[dict, list[dict]]:
    """Extract (HTML) and clean one raw document: its article row and boilerplate rows."""
    title_hint = url = published = None
    text = doc.raw_text
    tags: list[str] = []
    if doc.content_type == "text/html":
        meta = extract_html(text, doc.url, settings.extra.get("favor", "balanced"))
        text, title_hint, url, published, tags = meta["text"], meta["title"], meta["url"], meta["date"], meta["tags"]
    art = clean(text, _rules(tuple(settings.rules_files)), title_hint=title_hint)
    art.tags = list(dict.fromkeys(art.tags + tags))
    if not art.paragraphs:
        raise BadInput("no_content", f"nothing left after cleaning ({len(art.removed)} boilerplate lines)")
    language = detect_language(art.body)
    row = article_row(doc, art, language, run_id, ingested_at, url, published)
    removed = [{"doc_id": doc.doc_id, "line_no": no, "text": txt, "rule": rule, "run_id": run_id} for no, txt, rule in art.removed]
    return row, removed


def process_files(files: list[InputFile], settings: Settings, run_id: str, batch_no: int, ingested_at: datetime) -> dict:
    """Pure batch function: returns staged part paths and counts."""
    started = time.perf_counter()
    documents, articles, boilerplate, quarantine, inputs = [], [], [], [], []
    seen: set[str] = set()
    for f in files:
        n_docs = n_bad = 0
        for item in read_file(f, settings.max_doc_bytes):
            if isinstance(item, tuple):
                uri, exc, data = item
                quarantine.append(quarantine_row(settings, uri, exc.reason, exc.detail, data, run_id, ingested_at))
                n_bad += 1
                continue
            doc = item
            if doc.doc_id in seen:
                continue
            try:
                row, removed = transform_document(doc, settings, run_id, ingested_at)
            except BadInput as exc:
                quarantine.append(quarantine_row(settings, doc.source_uri, exc.reason, exc.detail, doc.raw_text.encode("utf-8"), run_id, ingested_at))
                n_bad += 1
                continue
            seen.add(doc.doc_id)
            documents.append({**doc.__dict__, "ingested_at": ingested_at, "run_id": run_id})
            articles.append(row)
            boilerplate.extend(removed)
            n_docs += 1
        inputs.append({"source_uri": f.path, "size": f.size, "mtime_ns": f.mtime_ns, "documents": n_docs,
                       "quarantined": n_bad, "run_id": run_id, "seen_at": ingested_at})
    parts = {}
    staging = Path(settings.staging_dir) / run_id
    tables = (("documents", documents), ("articles", articles), ("boilerplate", boilerplate),
              ("quarantine", quarantine), ("inputs", inputs))
    for name, rows in tables:
        if rows:
            parts[name] = str(write_parquet_atomic(to_table(name, rows), staging / name / f"part-{batch_no:05d}.parquet"))
    return {
        "batch_no": batch_no,
        "parts": parts,
        "documents": len(documents),
        "quarantined": len(quarantine),
        "bytes": sum(f.size for f in files),
        "seconds": time.perf_counter() - started,
    }


TRANSIENT_ERRNOS = {errno.EIO, errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE, errno.ECONNRESET}


def retry_on_transient_io(task, task_run, state) -> bool:
    """Retry a batch after a transient I/O error (NFS hiccup, EIO); never after bad data or a full disk."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, (TimeoutError, ConnectionError)) or (isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS)


@task(name="process-batch", retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=retry_on_transient_io)
def process_batch(batch_path: str, settings: Settings, run_id: str, batch_no: int, ingested_at: datetime) -> dict:
    result = process_files(read_batch(batch_path), settings, run_id, batch_no, ingested_at)
    crash_point("after_batch")
    return result
