"""The per-batch task: read → extract → clean → staged Parquet parts (one per lake table)."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task

from .. import PIPELINE_VERSION
from ..cleaning.clean import Article, clean
from ..crashpoints import crash_point
from .discover import InputFile, read_batch
from .extract import EXTRACTOR, BadInput, RawDocument, extract_html, read_file
from .fingerprint import minhashes
from ..cleaning.line_stats import document_line_keys
from ..cleaning.normalize import normalize
from .quarantine import quarantine_row
from ..cleaning.ruleset import RuleSet, cached_rules
from ..cleaning.structure import strip_site_name
from ..warehouse.search import many_word_counts
from ..settings import Settings
from .write import to_table, write_parquet_atomic


# Arrow's default pool (mimalloc) keeps the pages a chunk's tables freed, and the worker's RSS with them.
pa.set_memory_pool(pa.system_memory_pool())


def parse_published(value: str | None) -> datetime | None:
    if not value:
        return None
    from datetime import timezone

    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def article_row(doc: RawDocument, art: Article, run_id: str, ingested_at: datetime, url=None, published=None) -> dict:
    """The article's lake row, but for ``minhash``, ``words`` and ``word_counts``: those are computed
    per chunk of articles, vectorised, straight into Arrow columns (``StagedBatch``)."""
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
        "body": body,
        "language": art.language,
        "n_words": len(body.split()),
        "n_paragraphs": len(art.paragraphs),
        "n_boilerplate_lines": len(art.removed),
        "body_hash": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "published": parse_published(published or doc.published),
        "run_id": run_id,
        "ingested_at": ingested_at,
        "pipeline_version": PIPELINE_VERSION,
    }


@dataclass
class Extracted:
    """A document's text ready for cleaning (HTML extracted, normalized), with the metadata it gave."""

    doc: RawDocument
    text: str
    keep_document: bool
    title_hint: str | None = None
    url: str | None = None
    published: str | None = None
    tags: list[str] = field(default_factory=list)
    extracted: bool = False  # the text is an extractor's output (HTML), not the page's whole text
    author: str | None = None
    site_name: str | None = None
    left_out: list[tuple[int, str]] = field(default_factory=list)  # page lines the extractor did not keep


def extract_document(doc: RawDocument, settings: Settings, keep_document: bool = True) -> Extracted:
    if doc.content_type != "text/html":
        return Extracted(doc, normalize(doc.raw_text), keep_document)
    meta = extract_html(doc.raw_text, doc.url, settings.extra.get("favor", "balanced"))
    site = meta["sitename"]
    title = strip_site_name(meta["title"], site) if meta["title"] else None
    return Extracted(doc, normalize(meta["text"]), keep_document, title, meta["url"], meta["date"], meta["tags"],
                     extracted=True, author=meta["author"], site_name=site, left_out=meta["left_out"])


def clean_article(item: Extracted, rules: RuleSet, favor: str = "balanced", repeated=None, trace: bool = False) -> Article:
    """The article of one extracted document, with what its page's metadata adds (tags, author)."""
    art = clean(item.text, rules, title_hint=item.title_hint, repeated=repeated, favor=favor, normalized=True,
                extracted=item.extracted, trace=trace)
    art.tags = list(dict.fromkeys(art.tags + item.tags))
    if art.byline is None and item.author:
        art.byline = " ".join(item.author.split())
    return art


def clean_document(item: Extracted, rules: RuleSet, settings: Settings, run_id: str, ingested_at: datetime,
                   repeated=None) -> tuple[dict, list[dict]]:
    """Clean one document: its article row and boilerplate rows."""
    art = clean_article(item, rules, settings.extra.get("favor", "balanced"), repeated)
    if not art.paragraphs:
        raise BadInput("no_content", f"nothing left after cleaning ({len(art.removed)} boilerplate lines)")
    # the page's lines the extractor left out, numbered as lines of the page's visible text
    art.removed += [(no, text, f"extractor:{EXTRACTOR}") for no, text in item.left_out]
    doc = item.doc
    row = article_row(doc, art, run_id, ingested_at, item.url, item.published)
    row["site_name"] = item.site_name
    removed = [{"doc_id": doc.doc_id, "line_no": no, "text": txt, "rule": rule, "run_id": run_id} for no, txt, rule in art.removed]
    return row, removed


@lru_cache(maxsize=4)
def _known_frequent(path: str | None) -> dict[str, frozenset[int]]:
    """Lines earlier runs found frequent, per source (written by the flow for this run)."""
    if not path:
        return {}
    by_source: dict[str, set[int]] = {}
    table = pq.read_table(path)
    for source, key in zip(table["source_name"].to_pylist(), table["line_key"].to_pylist()):
        by_source.setdefault(source, set()).add(key)
    return {s: frozenset(k) for s, k in by_source.items()}


class StagedBatch:
    """One batch's documents, cleaned and written as staged Parquet parts in chunks of
    ``batch_docs`` documents or ``batch_bytes`` of raw text, so that one huge JSONL file does not
    have to fit in memory.

    Repeated lines: a short line found in ``repeat_min_docs`` documents of the same source (in
    this chunk, or in the counts of earlier runs) is boilerplate; the chunk's counts are staged
    as ``line_counts`` and added to ``meta.line_counts`` by the load.
    """

    def __init__(self, settings: Settings, run_id: str, batch_no: int, ingested_at: datetime, count_lines: bool = True):
        self.settings, self.run_id, self.batch_no, self.ingested_at = settings, run_id, batch_no, ingested_at
        self.count_lines = count_lines
        self.rules = cached_rules(settings.rules_files)
        self.rows: dict[str, list[dict]] = {t: [] for t in ("documents", "articles", "boilerplate", "quarantine", "inputs", "line_counts")}
        self.article_columns: dict[str, pa.Array] = {}
        self.pending: list[Extracted] = []
        self.chunks: list[dict[str, str]] = []
        self.seen: set[str] = set()
        self.pending_bytes = 0
        self.n_documents = self.n_quarantined = 0
        self.started = time.perf_counter()

    def quarantine(self, uri: str, exc: BadInput, data: bytes | None) -> None:
        self.rows["quarantine"].append(quarantine_row(self.settings, uri, exc.reason, exc.detail, data, self.run_id, self.ingested_at))
        self.n_quarantined += 1

    def add(self, doc: RawDocument, keep_document: bool = True) -> bool:
        """Queue one document for cleaning; False if it was quarantined or seen already."""
        if doc.doc_id in self.seen:
            return False
        try:
            item = extract_document(doc, self.settings, keep_document)
        except BadInput as exc:
            self.quarantine(doc.source_uri, exc, doc.raw_text.encode("utf-8"))
            return False
        self.seen.add(doc.doc_id)
        self.pending.append(item)
        self.pending_bytes += doc.n_bytes
        if len(self.pending) >= self.settings.batch_docs or self.pending_bytes >= self.settings.batch_bytes:
            self.flush()
        return True

    def _frequent_lines(self) -> dict[str, frozenset[int]]:
        """Per source, the keys of lines frequent enough to be boilerplate; stages this chunk's counts."""
        limits = self.rules.for_language(None).repeated
        min_docs = self.settings.extra.get("repeat_min_docs", 5)
        counts: dict[str, Counter] = {}
        for item in self.pending:
            keys = document_line_keys(item.text, limits["min_chars"], limits["max_chars"], normalized=True)
            counts.setdefault(item.doc.source_name, Counter()).update(keys)
        known = _known_frequent(self.settings.extra.get("frequent_lines"))
        if self.count_lines:
            self.rows["line_counts"] = [{"source_name": s, "line_key": k, "n_docs": n} for s, c in counts.items() for k, n in c.items()]
        return {s: known.get(s, frozenset()) | {k for k, n in c.items() if n >= min_docs} for s, c in counts.items()}

    def _clean_pending(self) -> None:
        frequent = self._frequent_lines()
        for i, item in enumerate(self.pending):
            self.pending[i] = None  # its normalized text goes once cleaned: a chunk holds 4 copies of its text otherwise
            try:
                row, removed = clean_document(item, self.rules, self.settings, self.run_id, self.ingested_at, frequent.get(item.doc.source_name))
            except BadInput as exc:
                self.quarantine(item.doc.source_uri, exc, item.doc.raw_text.encode("utf-8"))
                continue
            if item.keep_document:
                self.rows["documents"].append({**item.doc.__dict__, "ingested_at": self.ingested_at, "run_id": self.run_id})
            self.rows["articles"].append(row)
            self.rows["boilerplate"].extend(removed)
            self.n_documents += 1
        articles = self.rows["articles"]
        words, counts = many_word_counts(f"{row['title'] or ''}\n{row['body']}" for row in articles)
        self.article_columns = {"minhash": minhashes([row["body"] for row in articles]), "words": words, "word_counts": counts}
        self.pending, self.pending_bytes = [], 0

    def flush(self) -> None:
        self._clean_pending()
        staging = Path(self.settings.staging_dir) / self.run_id
        name = f"part-{self.batch_no:05d}-{len(self.chunks):04d}.parquet"
        chunk = {t: str(write_parquet_atomic(to_table(t, rows, self.article_columns if t == "articles" else None), staging / t / name))
                 for t, rows in self.rows.items() if rows}
        if chunk:
            self.chunks.append(chunk)
        self.rows = {t: [] for t in self.rows}

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
    return batch.write(bytes=sum(f.size if f.length < 0 else f.length for f in files))


RAW_FIELDS = [f.name for f in dataclasses.fields(RawDocument)]


def reclean_documents(lake_file: str, settings: Settings, run_id: str, batch_no: int, ingested_at: datetime) -> dict:
    """Clean the raw documents kept in one lake file again (after the rules changed)."""
    batch = StagedBatch(settings, run_id, batch_no, ingested_at, count_lines=False)  # counted when first loaded
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
