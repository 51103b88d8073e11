"""Full-text search over ``marts.articles``: a BM25 index in schema ``search``, updated incrementally.

The batch tasks count each article's words on the workers (``many_word_counts``) and keep them in
the lake's Parquet files (``articles`` columns ``words`` / ``word_counts``; DuckDB's lake table
leaves them out). The model step reads the files of articles not indexed yet (``meta.lake_files``)
and adds them: ``search.documents`` (number and length per document), ``search.words`` (each
distinct word once, with its stem from the Snowball stemmer of DuckDB's ``fts`` extension, LOADed
from the ``duckdb-extension-fts`` package: no INSTALL, no network) and ``search.postings`` (word
count per document); rows a rebuild replaced are dropped. The cost of a run follows the articles
it loaded, not the size of the warehouse. Queries stem their words and score with BM25
(k1 = 1.2, b = 0.75) over the unique articles of ``marts.articles``:
``SELECT * FROM search.match('…')``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..ingest.fingerprint import groups, word_spans

# .database (DuckDB) is imported where it is used: the batch workers import this module for the
# word counts only, and DuckDB would add to the memory of each of them.

WORD = re.compile(r"[^\W_]+")  # letters and digits; the SQL side uses [\p{L}\p{N}]+
SQL_WORD = r"[\p{L}\p{N}]+"

INDEX_DDL = [
    "CREATE SCHEMA IF NOT EXISTS search",
    "CREATE TABLE IF NOT EXISTS search.documents (docno INTEGER, doc_id VARCHAR, run_id VARCHAR, n_words INTEGER)",
    "CREATE TABLE IF NOT EXISTS search.words (word_id INTEGER, word VARCHAR, term VARCHAR, stemmer VARCHAR)",
    "CREATE TABLE IF NOT EXISTS search.postings (docno INTEGER, word_id INTEGER, tf INTEGER)",
    "DROP SCHEMA IF EXISTS fts_marts_articles CASCADE",  # create_fts_index's index, which earlier versions built
]

# BM25 over the unique articles; df and the average length come from the index at query time.
MATCH_MACRO = """
CREATE OR REPLACE MACRO search.match(query) AS TABLE
WITH terms AS (
    SELECT DISTINCT stem(w, '{stemmer}') AS term FROM (SELECT unnest(regexp_extract_all(lower(query), '{word}')) AS w)
),
words AS (SELECT word_id, term FROM search.words SEMI JOIN terms USING (term)),
docs AS (SELECT d.docno, d.doc_id, d.n_words FROM search.documents d SEMI JOIN marts.articles a USING (doc_id)),
stats AS (SELECT count(*) AS n, avg(n_words) AS avgdl FROM docs),
hits AS (
    SELECT p.docno, w.term, sum(p.tf) AS tf
    FROM search.postings p JOIN words w USING (word_id) SEMI JOIN docs USING (docno)
    GROUP BY ALL
),
df AS (SELECT term, count(*) AS df FROM hits GROUP BY term)
SELECT d.doc_id,
       sum(ln((s.n - df.df + 0.5) / (df.df + 0.5) + 1)
           * h.tf * 2.2 / (h.tf + 1.2 * (0.25 + 0.75 * d.n_words / s.avgdl))) AS score
FROM hits h JOIN df USING (term) JOIN docs d USING (docno) CROSS JOIN stats s
GROUP BY d.doc_id
"""


def word_counts(*texts: str | None) -> tuple[list[str], list[int]]:
    """The distinct lower-cased words of the texts and how often each occurs."""
    counts = Counter(WORD.findall("\n".join(t for t in texts if t).lower()))
    return list(counts), list(counts.values())


_alnum: np.ndarray | None = None


def _alnum_table() -> np.ndarray:
    global _alnum
    if _alnum is None:  # the characters WORD matches (str.isalnum), by code point: runs of them, found by
        # WORD itself in a string of every code point (a Python call per code point takes 0.2 s)
        edges = np.zeros(0x110001, dtype=np.int8)
        for m in WORD.finditer("".join(map(chr, range(0x110000)))):
            edges[m.start()] += 1
            edges[m.end()] -= 1
        _alnum = np.cumsum(edges[:-1]).astype(bool)
    return _alnum


def many_word_counts(texts: Iterable[str], chunk_chars: int = 1 << 18) -> tuple[pa.ListArray, pa.ListArray]:
    """``word_counts`` of each text (words in another order) as Arrow columns ``list<string>`` and
    ``list<int32>``, vectorised with numpy over about ``chunk_chars`` characters at a time: a
    regex and a Counter per article would cost more than cleaning it."""
    words: list[pa.Array] = []
    counts: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    for group in groups((text.lower() for text in texts), chunk_chars):
        for out, part in zip((words, counts, lengths), _group_word_counts(group)):
            out.append(part)
    offsets = pa.array(np.concatenate(([0], np.cumsum(np.concatenate(lengths)) if lengths else [])).astype(np.int32))
    values = pa.concat_arrays(words) if words else pa.array([], pa.string())
    count_values = pa.array(np.concatenate(counts) if counts else [], pa.int32())
    return pa.ListArray.from_arrays(offsets, values), pa.ListArray.from_arrays(offsets, count_values)


def _group_word_counts(lowered: list[str]) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The group's words and their counts, text after text, and the number of words of each text."""
    joined = "\n".join(lowered) + "\n"
    try:
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    except UnicodeEncodeError:  # lone surrogates: no code point per character
        pairs = [word_counts(t) for t in lowered]
        return (pa.array([w for ws, _ in pairs for w in ws], pa.string()), np.array([c for _, cs in pairs for c in cs]),
                np.array([len(ws) for ws, _ in pairs]))
    starts, ends, hashes = word_spans(codes, _alnum_table())
    if not len(starts):
        return pa.array([], pa.string()), np.empty(0, dtype=np.int32), np.zeros(len(lowered), dtype=np.int64)
    text_starts = np.concatenate(([0], np.cumsum([len(t) + 1 for t in lowered])[:-1]))
    text_of = np.searchsorted(text_starts, starts, side="right") - 1
    order = np.lexsort((hashes, text_of))
    t_sorted, h_sorted = text_of[order], hashes[order]
    first = np.flatnonzero(np.concatenate(([True], (t_sorted[1:] != t_sorted[:-1]) | (h_sorted[1:] != h_sorted[:-1]))))
    counts = np.diff(np.append(first, len(order)))
    # each distinct word of the group sliced out once, then taken by the texts that hold it
    vocab_hashes, vocab_of = np.unique(h_sorted[first], return_inverse=True)
    sample = np.empty(len(vocab_hashes), dtype=np.int64)
    sample[vocab_of] = order[first]
    vocab = pa.array([joined[s:e] for s, e in zip(starts[sample].tolist(), ends[sample].tolist())], pa.string())
    bounds = np.searchsorted(t_sorted[first], np.arange(len(lowered) + 1))
    return vocab.take(pa.array(vocab_of)), counts, np.diff(bounds)


def load_fts(con) -> None:
    from .database import fts_extension_path

    con.execute(f"LOAD '{fts_extension_path()}'")


def update_index(con, warehouse: str | Path, stemmer: str = "german") -> dict:
    """Bring the index up to date with ``staging.stg_articles``, reading the words from the lake
    files under ``warehouse``; part of the caller's transaction. Returns the documents added and
    dropped."""
    if not re.fullmatch(r"[a-z]+", stemmer):
        raise ValueError(f"bad stemmer name {stemmer!r}")
    load_fts(con)
    for ddl in INDEX_DDL:
        con.execute(ddl)
    # one comparison of the index with the articles: rows a rebuild replaced (same doc_id, another
    # run) or that are gone, and the runs whose articles are not indexed yet
    con.execute("""CREATE OR REPLACE TEMP TABLE search_diff AS
                   SELECT d.docno, a.doc_id, a.run_id
                   FROM search.documents d
                   FULL JOIN (SELECT doc_id, run_id FROM staging.stg_articles) a
                        ON a.doc_id = d.doc_id AND a.run_id = d.run_id
                   WHERE d.docno IS NULL OR a.doc_id IS NULL""")
    dropped = con.execute("SELECT count(*) FROM search_diff WHERE docno IS NOT NULL").fetchone()[0]
    if dropped:
        stale = "SELECT docno FROM search_diff WHERE docno IS NOT NULL"
        con.execute(f"DELETE FROM search.postings WHERE docno IN ({stale})")
        con.execute(f"DELETE FROM search.documents WHERE docno IN ({stale})")
    files = [str(Path(warehouse) / p) for (p,) in con.execute(
        """SELECT DISTINCT lake_path FROM meta.lake_files WHERE table_name = 'articles'
           AND run_id IN (SELECT run_id FROM search_diff WHERE docno IS NULL)
           ORDER BY lake_path""").fetchall()]
    added = 0
    if files:
        # A new article's docno follows from its place in the files (the first docno of its file
        # plus its row number there), so the postings need no join with search.documents on the
        # 64-character doc_id (at a million articles that join outgrew the memory limit), and each
        # statement reads the words from the files (copying them into a temporary table first
        # took longer than the three reads). Rows the filter leaves out leave gaps in docno.
        base = con.execute("SELECT coalesce(max(docno), 0) FROM search.documents").fetchone()[0]
        firsts = np.cumsum([0] + [pq.read_metadata(f).num_rows for f in files[:-1]]) + base + 1
        con.execute("CREATE OR REPLACE TEMP TABLE search_files AS SELECT unnest($files) AS filename, unnest($firsts) AS first_docno",
                    {"files": files, "firsts": firsts.tolist()})
        fresh = """(SELECT s.first_docno + f.file_row_number AS docno, f.doc_id, f.run_id, f.words, f.word_counts
                    FROM read_parquet($files, union_by_name = true, filename = true, file_row_number = true) f
                    JOIN search_files s USING (filename)
                    SEMI JOIN (SELECT doc_id, run_id FROM search_diff WHERE docno IS NULL) n
                         ON n.doc_id = f.doc_id AND n.run_id = f.run_id)"""
        added = con.execute(f"""INSERT INTO search.documents
                                SELECT docno, doc_id, run_id, coalesce(list_sum(word_counts), 0) FROM {fresh}""",
                            {"files": files}).fetchone()[0]
        con.execute(f"""INSERT INTO search.words
                        SELECT (SELECT coalesce(max(word_id), 0) FROM search.words) + row_number() OVER (),
                               word, stem(word, $stemmer), $stemmer
                        FROM (SELECT DISTINCT unnest(words) AS word FROM {fresh})
                        ANTI JOIN search.words USING (word)""", {"files": files, "stemmer": stemmer})
        con.execute(f"""INSERT INTO search.postings
                        SELECT f.docno, w.word_id, f.tf
                        FROM (SELECT docno, unnest(words) AS word, unnest(word_counts) AS tf FROM {fresh}) f
                        JOIN search.words w USING (word)""", {"files": files})
        con.execute("DROP TABLE search_files")
    con.execute("UPDATE search.words SET term = stem(word, $1), stemmer = $1 WHERE stemmer <> $1", [stemmer])
    con.execute(MATCH_MACRO.format(stemmer=stemmer, word=SQL_WORD))
    con.execute("DROP TABLE search_diff")
    return {"added": added, "dropped": dropped}


@dataclass(frozen=True)
class Hit:
    score: float
    doc_id: str
    title: str | None
    snippet: str


def _index_stemmer(con) -> str:
    row = con.execute("SELECT any_value(stemmer) FROM search.words").fetchone()
    return row[0] if row and row[0] else "german"


def snippet(con, text: str, query: str, stemmer: str, width: int = 160) -> str:
    """About ``width`` characters of ``text`` around the first word whose stem matches a query term."""
    text = " ".join((text or "").split())
    terms = {t.lower() for t in WORD.findall(query)}
    if not text or not terms:
        return text[:width]
    words = list(WORD.finditer(text))
    stems = con.execute(
        "SELECT list_transform(?::VARCHAR[], w -> stem(lower(w), ?)), list_transform(?::VARCHAR[], w -> stem(w, ?))",
        [[w.group() for w in words], stemmer, sorted(terms), stemmer],
    ).fetchone()
    wanted = set(stems[1]) | terms
    first = next((w for w, s in zip(words, stems[0]) if s in wanted or w.group().lower() in terms), None)
    if first is None:
        return text[:width] + ("…" if len(text) > width else "")
    start = max(0, first.start() - width // 3)
    end = min(len(text), start + width)
    out = text[start:first.start()] + "«" + first.group() + "»" + text[first.end():end]
    return ("…" if start else "") + out + ("…" if end < len(text) else "")


def search(con, query: str, limit: int = 10) -> list[Hit]:
    """The best ``limit`` articles for ``query`` by BM25 over title and body."""
    load_fts(con)
    exists = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE schema_name = 'search' AND function_name = 'match'"
    ).fetchone()[0]
    if not exists:
        raise RuntimeError("no search index in this warehouse (run `news-etl run` first)")
    rows = con.execute(
        """SELECT m.score, a.doc_id, a.title, a.body
           FROM search.match(?) m JOIN marts.articles a USING (doc_id)
           ORDER BY m.score DESC, a.doc_id LIMIT ?""",
        [query, limit],
    ).fetchall()
    stemmer = _index_stemmer(con)
    return [Hit(score, doc_id, title, snippet(con, body, query, stemmer)) for score, doc_id, title, body in rows]


def search_warehouse(warehouse: str | Path, query: str, limit: int = 10, wait_seconds: float = 10.0) -> list[Hit]:
    from .database import connect

    con = connect(Path(warehouse) / "news.duckdb", read_only=True, wait_seconds=wait_seconds)
    try:
        return search(con, query, limit)
    finally:
        con.close()
