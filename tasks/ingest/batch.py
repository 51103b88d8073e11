"""The batch tasks: read → extract → clean → fingerprint and count words → staged Parquet parts.

They run on the batch workers (processes or a Dask cluster): nothing here, nor anything it
imports, may load DuckDB or the warehouse code, which would add to every worker's memory.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import task

from ..cleaning.clean import Article, clean
from ..cleaning.line_stats import document_line_keys
from ..cleaning.normalize import normalize
from ..cleaning.ruleset import RuleSet, cached_rules
from ..cleaning.structure import strip_site_name
from ..crashpoints import crash_point
from ..memory import give_back
from ..options import RunContext, RunOptions
from .extract import EXTRACTOR, RAW_FIELDS, BadInput, RawDocument, extract_html, read_file
from .fingerprint import minhashes
from .inputs import InputFile, read_batch
from .lake import (article_row, boilerplate_rows, document_row, input_row, line_count_rows, quarantine_row, to_table,
                   write_parquet)
from .quarantine import Quarantined, keep_copy
from .words import many_word_counts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    """What one batch task staged, for the load."""

    batch_no: int
    chunks: list[dict[str, str]]  # per chunk of documents: lake table -> staged Parquet part
    documents: int
    quarantined: int
    bytes: int
    seconds: float
    recleaned_date: date | None = None  # for documents the lake kept, cleaned again: their lake files' date
    duplicates: int = 0  # documents read twice in this batch (the same bytes in two inputs): staged once

    @property
    def documents_in(self) -> int:
        """Every document the batch read: cleaned, quarantined or a copy of one it read before."""
        return self.documents + self.quarantined + self.duplicates


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


def extract_document(doc: RawDocument, options: RunOptions, keep_document: bool = True) -> Extracted:
    if doc.content_type != "text/html":
        return Extracted(doc, normalize(doc.raw_text), keep_document)
    meta = extract_html(doc.raw_text, doc.url, options.favor)
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


def clean_document(item: Extracted, rules: RuleSet, options: RunOptions, run: RunContext,
                   repeated=None) -> tuple[dict, list[dict]]:
    """Clean one document: its article row and boilerplate rows."""
    art = clean_article(item, rules, options.favor, repeated)
    if not art.paragraphs:
        raise BadInput("no_content", f"nothing left after cleaning ({len(art.removed)} boilerplate lines)")
    # the page's lines the extractor left out, numbered as lines of the page's visible text
    art.removed += [(no, text, f"extractor:{EXTRACTOR}") for no, text in item.left_out]
    doc = item.doc
    return article_row(doc, art, run, item.url, item.published, item.site_name), boilerplate_rows(doc.doc_id, art, run)


def article_columns(rows: list[dict]) -> dict[str, pa.Array]:
    """The article columns computed per chunk, vectorised: ``minhash``, ``words``, ``word_counts``."""
    words, counts = many_word_counts([row["title"], row["body"]] for row in rows)
    return {"minhash": minhashes([row["body"] for row in rows]), "words": words, "word_counts": counts}


@lru_cache(maxsize=4)
def _known_frequent(path: str | None) -> dict[str, frozenset[int]]:
    """Lines earlier runs found frequent, per source (written by the plan for this run)."""
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

    def __init__(self, options: RunOptions, run: RunContext, batch_no: int, count_lines: bool = True):
        self.options, self.run, self.batch_no, self.count_lines = options, run, batch_no, count_lines
        self.layout = options.layout
        self.rules: RuleSet = cached_rules(tuple(options.rules))
        self.rows: dict[str, list[dict]] = {t: [] for t in ("documents", "articles", "boilerplate", "quarantine", "inputs", "line_counts")}
        self.article_columns: dict[str, pa.Array] = {}
        self.pending: list[Extracted | None] = []
        self.chunks: list[dict[str, str]] = []
        self.seen: set[str] = set()
        self.pending_bytes = 0
        self.n_documents = self.n_quarantined = self.n_duplicates = 0
        self.started = time.perf_counter()

    def quarantine(self, item: Quarantined) -> None:
        copy_path, n_bytes, detail = keep_copy(self.layout, item)
        self.rows["quarantine"].append(quarantine_row(item.source_uri, item.reason, detail, n_bytes, copy_path, self.run))
        self.n_quarantined += 1

    def quarantine_document(self, doc: RawDocument, exc: Exception, step: str) -> None:
        """Quarantine a document that failed after it was read, with its bytes as read when they
        can be read again, else its text."""
        if isinstance(exc, BadInput):
            reason, detail = exc.reason, exc.detail
        else:  # a bug or an input nobody foresaw: this document only, never its batch
            logger.warning("%s quarantined after an unexpected error in %s", doc.source_uri, step, exc_info=True)
            reason, detail = "error", f"{type(exc).__name__} in {step}: {exc}"
        if doc.origin:
            path, offset, length = doc.origin
            item = Quarantined(doc.source_uri, reason, detail, copy_of=path, copy_range=(offset, length))
        else:
            item = Quarantined(doc.source_uri, reason, detail, doc.raw_text.encode("utf-8", "surrogatepass"))
        self.quarantine(item)

    def add(self, doc: RawDocument, keep_document: bool = True) -> bool:
        """Queue one document for cleaning; False if it was quarantined or seen already."""
        if doc.doc_id in self.seen:
            self.n_duplicates += 1
            return False
        try:
            item = extract_document(doc, self.options, keep_document)
        except Exception as exc:  # noqa: BLE001 - see quarantine_document
            self.quarantine_document(doc, exc, "extraction")
            return False
        self.seen.add(doc.doc_id)
        self.pending.append(item)
        self.pending_bytes += doc.n_bytes
        if len(self.pending) >= self.options.batch_docs or self.pending_bytes >= self.options.batch_bytes:
            self.flush()
        return True

    def _frequent_lines(self) -> dict[str, frozenset[int]]:
        """Per source, the keys of lines frequent enough to be boilerplate; stages this chunk's counts."""
        limits = self.rules.for_language(None).repeated
        counts: dict[str, Counter] = {}
        for i, item in enumerate(self.pending):
            try:
                keys = document_line_keys(item.text, limits["min_chars"], limits["max_chars"], normalized=True)
            except Exception as exc:  # noqa: BLE001 - see quarantine_document
                self.pending[i] = None
                self.quarantine_document(item.doc, exc, "line counts")
                continue
            counts.setdefault(item.doc.source_name, Counter()).update(keys)
        known = _known_frequent(self.run.frequent_lines)
        if self.count_lines:
            self.rows["line_counts"] = line_count_rows(counts)
        min_docs = self.options.repeat_min_docs
        return {s: known.get(s, frozenset()) | {k for k, n in c.items() if n >= min_docs} for s, c in counts.items()}

    def _clean_pending(self) -> None:
        frequent = self._frequent_lines()
        cleaned: list[tuple[RawDocument, bool, dict, list[dict]]] = []
        for i, item in enumerate(self.pending):
            self.pending[i] = None  # its normalized text goes once cleaned, not with the whole chunk
            if item is None:
                continue
            doc = item.doc
            try:
                row, removed = clean_document(item, self.rules, self.options, self.run, frequent.get(doc.source_name))
            except Exception as exc:  # noqa: BLE001 - see quarantine_document
                self.quarantine_document(doc, exc, "cleaning")
                continue
            cleaned.append((doc, item.keep_document, row, removed))
        item = None  # the last document's normalized text goes too
        self.pending, self.pending_bytes = [], 0
        self.article_columns, cleaned = self._article_columns(cleaned)
        for doc, keep_document, row, removed in cleaned:
            if keep_document:
                self.rows["documents"].append(document_row(doc, self.run))
            self.rows["articles"].append(row)
            self.rows["boilerplate"].extend(removed)
            self.n_documents += 1

    def _article_columns(self, cleaned: list[tuple]) -> tuple[dict[str, pa.Array], list[tuple]]:
        """The chunk's MinHash and word-count columns, vectorised over all its articles; should that
        fail, article by article, quarantining the articles that fail."""
        try:
            return article_columns([row for _, _, row, _ in cleaned]), cleaned
        except Exception:  # noqa: BLE001
            logger.warning("fingerprints of a chunk failed; computing them article by article", exc_info=True)
        kept, parts = [], []
        for entry in cleaned:
            try:
                parts.append(article_columns([entry[2]]))
            except Exception as exc:  # noqa: BLE001 - see quarantine_document
                self.quarantine_document(entry[0], exc, "fingerprints")
                continue
            kept.append(entry)
        if not parts:
            return article_columns([]), kept
        return {name: pa.concat_arrays([p[name] for p in parts]) for name in parts[0]}, kept

    def flush(self) -> None:
        self._clean_pending()
        chunk = {}
        for table, rows in self.rows.items():
            if rows:
                path = self.layout.staged_part(self.run.run_id, table, self.batch_no, len(self.chunks))
                chunk[table] = str(write_parquet(to_table(table, rows, self.article_columns if table == "articles" else None), path))
        if chunk:
            self.chunks.append(chunk)
        self.rows = {t: [] for t in self.rows}

    def result(self, n_bytes: int, recleaned_date: date | None = None) -> BatchResult:
        self.flush()
        # the chunk's freed heap back to the system (malloc_trim): a worker waiting for its next
        # batch, or the run's process after its one batch, holds only what it keeps
        give_back()
        return BatchResult(self.batch_no, self.chunks, self.n_documents, self.n_quarantined, n_bytes,
                           time.perf_counter() - self.started, recleaned_date, self.n_duplicates)


def process_files(files: list[InputFile], options: RunOptions, run: RunContext, batch_no: int) -> BatchResult:
    """Read, extract and clean a batch of input files into staged parts; record them in the input manifest."""
    batch = StagedBatch(options, run, batch_no)
    for f in files:
        n_docs = n_bad = 0
        for item in read_file(f, options):
            if isinstance(item, Quarantined):
                batch.quarantine(item)
                n_bad += 1
            elif batch.add(item):
                n_docs += 1
        batch.rows["inputs"].append(input_row(f, n_docs, n_bad, run))
    return batch.result(sum(f.size if f.length < 0 else f.length for f in files))


LAKE_COLUMN = {"published": "published_raw"}  # RawDocument field -> lake.documents column, where the names differ


def reclean_documents(lake_file: str, options: RunOptions, run: RunContext, batch_no: int) -> BatchResult:
    """Clean the raw documents kept in one lake file again (after the rules changed). Their articles
    keep the time the documents were first ingested (one run's file: one time), as their lake
    files keep its date, so that a rebuild does not make old articles look new."""
    have = set(pq.read_schema(lake_file).names)  # (files written before a column was renamed keep its old name)
    columns = [LAKE_COLUMN[f] if LAKE_COLUMN.get(f) in have else f for f in RAW_FIELDS]
    table = pq.read_table(lake_file, columns=[*columns, "ingested_at"])
    if table.num_rows:
        run = dataclasses.replace(run, started_at=pc.min(table["ingested_at"]).as_py())
    batch = StagedBatch(options, run, batch_no, count_lines=False)  # counted when first loaded
    table = table.drop_columns(["ingested_at"]).rename_columns(list(RAW_FIELDS))
    for row in table.to_pylist():
        batch.add(RawDocument(**row), keep_document=False)
    ingest_date = Path(lake_file).parent.name.removeprefix("ingest_date=")
    return batch.result(sum(table["n_bytes"].to_pylist()), date.fromisoformat(ingest_date))


def stage_quarantined(items: list[Quarantined], options: RunOptions, run: RunContext, batch_no: int) -> BatchResult:
    """Inputs the plan could not even open: a quarantine part of their own."""
    batch = StagedBatch(options, run, batch_no, count_lines=False)
    for item in items:
        batch.quarantine(item)
    return batch.result(0)


TRANSIENT_ERRNOS = {errno.EIO, errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE, errno.ECONNRESET}


def retry_on_transient_io(task, task_run, state) -> bool:
    """Retry a batch after a transient I/O error (NFS hiccup, EIO); never after bad data or a full disk."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, (TimeoutError, ConnectionError)) or (isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS)


@task(name="reclean-batch", retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=retry_on_transient_io)
def reclean_batch(lake_file: str, options: RunOptions, run: RunContext, batch_no: int) -> BatchResult:
    return reclean_documents(lake_file, options, run, batch_no)


@task(name="process-batch", retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=retry_on_transient_io)
def process_batch(batch_file: str, options: RunOptions, run: RunContext, batch_no: int) -> BatchResult:
    result = process_files(read_batch(batch_file), options, run, batch_no)
    crash_point("after_batch")
    return result
