"""Full-text search over ``marts.articles``: a BM25 index in schema ``search``, updated incrementally.

The batch tasks count each article's words on the workers (``tasks/ingest/words.py``) and keep them in
the lake's Parquet files (``articles`` columns ``words`` / ``word_counts``; DuckDB's lake table
leaves them out). The model step reads the files of articles not indexed yet (``meta.lake_files``)
and adds them: ``search.documents`` (number and length per document), ``search.words`` (each
distinct word once, with its stem from the Snowball stemmer of DuckDB's ``fts`` extension, LOADed
from the ``duckdb-extension-fts`` package: no INSTALL, no network) and ``search.postings`` (word
count per document); rows a rebuild replaced are dropped. The cost of a run follows the articles
it loaded, not the size of the warehouse. Queries stem their words and score with BM25
(k1 = 1.2, b = 0.75) over the unique articles of ``marts.articles``:
``SELECT * FROM search.match('…')``.

Readers query the index through the catalog (tasks/warehouse/catalog.py), never this database: it
is exported to ``search/<table>/part-<bucket>.parquet``, one file per ``BUCKET`` docnos (word ids
for ``words``). The update marks the buckets it changed in ``search.unexported`` and the export
rewrites only those, so a run's export follows the articles it added, not the size of the index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from ..ingest.words import WORD
from ..layout import WarehouseLayout, commit, fsync_dir, temp_path
from .database import fts_extension_path, sql_string
from .model import quote_literals

SQL_WORD = r"[\p{L}\p{N}]+"  # the words of ingest/words.py's WORD

INDEX_DDL = [
    "CREATE SCHEMA IF NOT EXISTS search",
    "CREATE TABLE IF NOT EXISTS search.documents (docno INTEGER, doc_id VARCHAR, run_id VARCHAR, n_words INTEGER)",
    "CREATE TABLE IF NOT EXISTS search.words (word_id INTEGER, word VARCHAR, term VARCHAR, stemmer VARCHAR)",
    "CREATE TABLE IF NOT EXISTS search.postings (docno INTEGER, word_id INTEGER, tf INTEGER)",
    "DROP SCHEMA IF EXISTS fts_marts_articles CASCADE",  # create_fts_index's index, which earlier versions built
    "CREATE TABLE IF NOT EXISTS search.unexported (table_name VARCHAR, bucket BIGINT)",
]

BUCKET = 16_384  # docnos (word ids) per exported file: a run rewrites the files of the ids it touched
EXPORTED = {  # table -> the id its files are bucketed by
    "documents": "docno",
    "words": "word_id",
    "postings": "docno",
}
DESCRIPTIONS = {
    "documents": ("Articles in the search index.", {
        "docno": "the article's number in the index", "doc_id": "the article (`marts.articles.doc_id`)",
        "run_id": "the run that loaded it", "n_words": "words in title and body"}),
    "words": ("Every distinct word of the indexed articles, with its stem.", {
        "word_id": "the word's number", "word": "the word, lower case", "term": "its stem, what queries match",
        "stemmer": "the Snowball stemmer that made the stem"}),
    "postings": ("How often each word occurs in each article.", {
        "docno": "the article (`search.documents.docno`)", "word_id": "the word (`search.words.word_id`)",
        "tf": "occurrences of the word in title and body"}),
}

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


def load_fts(con) -> None:
    con.execute(f"LOAD {sql_string(fts_extension_path())}")


def update_index(con, layout: WarehouseLayout, stemmer: str = "german", new_runs: list[str] | None = None) -> dict:
    """Bring the index up to date with ``staging.stg_articles``, reading the words from the
    warehouse's lake files; part of the caller's transaction. With ``new_runs`` (the runs loaded
    since the index was last updated, when no article was replaced meanwhile) only their articles
    are looked at. Returns the documents added and dropped."""
    if not re.fullmatch(r"[a-z]+", stemmer):
        raise ValueError(f"bad stemmer name {stemmer!r}")
    load_fts(con)
    indexed = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                          "AND schema_name = 'search' AND table_name = 'documents'").fetchone()[0]
    for ddl in INDEX_DDL:
        con.execute(ddl)
    if new_runs is not None and indexed:
        runs = quote_literals(new_runs) if new_runs else "NULL"  # a literal list: DuckDB prunes by it while scanning
        con.execute(f"""CREATE OR REPLACE TEMP TABLE search_diff AS
                        SELECT NULL::INTEGER AS docno, doc_id, run_id FROM staging.stg_articles WHERE run_id IN ({runs})""")
    else:
        # one comparison of the index with the articles: rows a rebuild replaced (same doc_id,
        # another run) or that are gone, and the runs whose articles are not indexed yet
        con.execute("""CREATE OR REPLACE TEMP TABLE search_diff AS
                       SELECT d.docno, a.doc_id, a.run_id
                       FROM search.documents d
                       FULL JOIN (SELECT doc_id, run_id FROM staging.stg_articles) a
                            ON a.doc_id = d.doc_id AND a.run_id = d.run_id
                       WHERE d.docno IS NULL OR a.doc_id IS NULL""")
    dropped = con.execute("SELECT count(*) FROM search_diff WHERE docno IS NOT NULL").fetchone()[0]
    words_base = con.execute("SELECT coalesce(max(word_id), 0) FROM search.words").fetchone()[0]
    if dropped:
        _mark(con, ("documents", "postings"), "SELECT docno AS id FROM search_diff WHERE docno IS NOT NULL")
        stale = "SELECT docno FROM search_diff WHERE docno IS NOT NULL"
        con.execute(f"DELETE FROM search.postings WHERE docno IN ({stale})")
        con.execute(f"DELETE FROM search.documents WHERE docno IN ({stale})")
    files = [str(layout.root / p) for (p,) in con.execute(
        """SELECT DISTINCT lake_path FROM meta.lake_files WHERE table_name = 'articles'
           AND run_id IN (SELECT run_id FROM search_diff WHERE docno IS NULL)
           ORDER BY lake_path""").fetchall()]
    added = 0
    if files:
        # A new article's docno follows from its place in the files (the first docno of its file
        # plus its row number there), so the postings need no join with search.documents on the
        # 64-character doc_id, whose memory grows with the warehouse; and each statement reads the
        # words from the files rather than from a temporary copy. Rows the filter leaves out leave
        # gaps in docno.
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
        _mark(con, ("documents", "postings"), f"SELECT docno AS id FROM search.documents WHERE docno > {int(base)}")
        _mark(con, ("words",), f"SELECT word_id AS id FROM search.words WHERE word_id > {int(words_base)}")
    restemmed = con.execute("UPDATE search.words SET term = stem(word, $1), stemmer = $1 WHERE stemmer <> $1", [stemmer]).fetchone()[0]
    if restemmed:
        _mark(con, ("words",), "SELECT word_id AS id FROM search.words")
    con.execute(MATCH_MACRO.format(stemmer=stemmer, word=SQL_WORD))
    con.execute("DROP TABLE search_diff")
    return {"added": added, "dropped": dropped}


def _mark(con, tables: tuple[str, ...], ids_sql: str) -> None:
    """Mark the export buckets of the ids ``ids_sql`` selects as changed, for each of ``tables``."""
    for table in tables:
        con.execute(f"INSERT INTO search.unexported SELECT DISTINCT '{table}', id // {BUCKET} FROM ({ids_sql})")


def export_index(con, layout: WarehouseLayout) -> int:
    """Rewrite the exported files of the buckets the index updates changed (all of them the first
    time); a bucket left without rows loses its file. Returns the files written or removed."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'search' AND table_name = 'unexported'"
                       ).fetchone()[0]:
        return 0  # no index yet
    if not layout.search.is_dir():
        for table, key in EXPORTED.items():
            _mark(con, (table,), f"SELECT {key} AS id FROM search.{table}")
    changed = con.execute("SELECT DISTINCT table_name, bucket FROM search.unexported ORDER BY ALL").fetchall()
    for table, bucket in changed:
        key, target = EXPORTED[table], layout.search_part(table, bucket)
        tmp = temp_path(target)
        try:
            n = con.execute(
                f"COPY (SELECT * FROM search.{table} WHERE {key} >= {bucket * BUCKET} AND {key} < {(bucket + 1) * BUCKET} "
                f"ORDER BY {key}) TO '{_quote(tmp)}' (FORMAT parquet, COMPRESSION zstd)").fetchone()[0]
            if n:
                commit(tmp, target)
            else:
                target.unlink(missing_ok=True)
        finally:
            tmp.unlink(missing_ok=True)
    for table in EXPORTED:
        if (layout.search / table).is_dir():
            fsync_dir(layout.search / table)
    con.execute("DELETE FROM search.unexported")
    return len(changed)


def _quote(path) -> str:
    return str(path).replace("'", "''")


@dataclass(frozen=True)
class Hit:
    score: float
    doc_id: str
    title: str | None
    snippet: str


def _index_stemmer(con) -> str:
    row = con.execute("SELECT stemmer FROM search.words LIMIT 1").fetchone()
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
    """The best ``limit`` articles for ``query`` by BM25 over title and body, on a connection with
    the fts extension loaded (a reader's: see catalog.open_reader)."""
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
