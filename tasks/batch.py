"""The per-batch task: read → extract → clean → staged Parquet parts (one per lake table)."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import time
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import pyarrow.parquet as pq
from prefect import task

from . import PIPELINE_VERSION
from .clean import Article, clean, load_rules
from .crashpoints import crash_point
from .discover import InputFile, read_batch
from .extract import BadInput, RawDocument, extract_html, read_file
from .fingerprint import minhash
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
        "minhash": minhash(body),
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


class StagedBatch:
    """Rows of one batch, per table, flushed to staged Parquet parts every ``batch_docs`` documents
    or ``batch_bytes`` of raw text, so one huge JSONL file does not have to fit in memory."""

    def __init__(self, settings: Settings, run_id: str, batch_no: int, ingested_at: datetime):
        self.settings, self.run_id, self.batch_no, self.ingested_at = settings, run_id, batch_no, ingested_at
        self.rows: dict[str, list[dict]] = {t: [] for t in ("documents", "articles", "boilerplate", "quarantine", "inputs")}
        self.chunks: list[dict[str, str]] = []
        self.seen: set[str] = set()
        self.pending_bytes = 0
        self.n_documents = self.n_quarantined = 0
        self.started = time.perf_counter()

    def quarantine(self, uri: str, exc: BadInput, data: bytes | None) -> None:
        self.rows["quarantine"].append(quarantine_row(self.settings, uri, exc.reason, exc.detail, data, self.run_id, self.ingested_at))
        self.n_quarantined += 1

    def add(self, doc: RawDocument, keep_document: bool = True) -> bool:
        """Clean one document into the batch; False if it was quarantined or seen already."""
        if doc.doc_id in self.seen:
            return False
        try:
            row, removed = transform_document(doc, self.settings, self.run_id, self.ingested_at)
        except BadInput as exc:
            self.quarantine(doc.source_uri, exc, doc.raw_text.encode("utf-8"))
            return False
        self.seen.add(doc.doc_id)
        if keep_document:
            self.rows["documents"].append({**doc.__dict__, "ingested_at": self.ingested_at, "run_id": self.run_id})
        self.rows["articles"].append(row)
        self.rows["boilerplate"].extend(removed)
        self.n_documents += 1
        self.pending_bytes += doc.n_bytes
        if len(self.rows["articles"]) >= self.settings.batch_docs or self.pending_bytes >= self.settings.batch_bytes:
            self.flush()
        return True

    def flush(self) -> None:
        staging = Path(self.settings.staging_dir) / self.run_id
        name = f"part-{self.batch_no:05d}-{len(self.chunks):04d}.parquet"
        chunk = {t: str(write_parquet_atomic(to_table(t, rows), staging / t / name)) for t, rows in self.rows.items() if rows}
        if chunk:
            self.chunks.append(chunk)
        self.rows = {t: [] for t in self.rows}
        self.pending_bytes = 0

    def write(self, **extra) -> dict:
        self.flush()
        return {"batch_no": self.batch_no, "chunks": self.chunks, "documents": self.n_documents,
                "quarantined": self.n_quarantined, "seconds": time.perf_counter() - self.started, **extra}


def process_files(files: list[InputFile], settings: Settings, run_id: str, batch_no: int, ingested_at: datetime) -> dict:
    """Read, extract and clean a batch of input files into staged parts; record them in the input manifest."""
    batch = StagedBatch(settings, run_id, batch_no, ingested_at)
    for f in files:
        n_docs = n_bad = 0
        for item in read_file(f, settings.max_doc_bytes):
            if isinstance(item, tuple):
                batch.quarantine(*item)
                n_bad += 1
            elif batch.add(item):
                n_docs += 1
        batch.rows["inputs"].append({"source_uri": f.path, "size": f.size, "mtime_ns": f.mtime_ns, "documents": n_docs,
                                     "quarantined": n_bad, "run_id": run_id, "seen_at": ingested_at})
    return batch.write(bytes=sum(f.size for f in files))


RAW_FIELDS = [f.name for f in dataclasses.fields(RawDocument)]


def reclean_documents(lake_file: str, settings: Settings, run_id: str, batch_no: int, ingested_at: datetime) -> dict:
    """Clean the raw documents kept in one lake file again (after the rules changed)."""
    batch = StagedBatch(settings, run_id, batch_no, ingested_at)
    table = pq.read_table(lake_file, columns=RAW_FIELDS)
    for row in table.to_pylist():
        batch.add(RawDocument(**row), keep_document=False)
    ingest_date = Path(lake_file).parent.name.removeprefix("ingest_date=")
    return batch.write(bytes=sum(table["n_bytes"].to_pylist()), ingest_date=date.fromisoformat(ingest_date))


TRANSIENT_ERRNOS = {errno.EIO, errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE, errno.ECONNRESET}


def retry_on_transient_io(task, task_run, state) -> bool:
    """Retry a batch after a transient I/O error (NFS hiccup, EIO); never after bad data or a full disk."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, (TimeoutError, ConnectionError)) or (isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS)


@task(name="reclean-batch", retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=retry_on_transient_io)
def reclean_batch(lake_file: str, settings: Settings, run_id: str, batch_no: int, ingested_at: datetime) -> dict:
    return reclean_documents(lake_file, settings, run_id, batch_no, ingested_at)


@task(name="process-batch", retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=retry_on_transient_io)
def process_batch(batch_path: str, settings: Settings, run_id: str, batch_no: int, ingested_at: datetime) -> dict:
    result = process_files(read_batch(batch_path), settings, run_id, batch_no, ingested_at)
    crash_point("after_batch")
    return result
