"""Full-text search over ``marts.articles`` (title + body) with DuckDB FTS (BM25, snowball stemmer).

The extension is LOADed from the ``duckdb-extension-fts`` package: no INSTALL, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .database import connect, fts_extension_path

TABLE = "marts.articles"
INDEX_SCHEMA = "fts_marts_articles"
_WORD = re.compile(r"\w+")


def load_fts(con) -> None:
    con.execute(f"LOAD '{fts_extension_path()}'")


def create_index(con, stemmer: str = "german") -> None:
    """(Re)build the index; part of the caller's transaction."""
    if not re.fullmatch(r"[a-z]+", stemmer):
        raise ValueError(f"bad stemmer name {stemmer!r}")
    load_fts(con)
    con.execute(f"PRAGMA create_fts_index('{TABLE}', 'doc_id', 'title', 'body', stemmer='{stemmer}', overwrite=1)")


@dataclass(frozen=True)
class Hit:
    score: float
    doc_id: str
    title: str | None
    snippet: str


def _index_stemmer(con) -> str:
    """The stemmer the index was built with (stored by the extension in its macro)."""
    sql = con.execute(
        "SELECT macro_definition FROM duckdb_functions() WHERE schema_name = ? AND function_name = 'match_bm25'",
        [INDEX_SCHEMA],
    ).fetchone()
    m = re.search(r"stem\([^,]+,\s*'(\w+)'", sql[0] if sql else "")
    return m.group(1) if m else "german"


def snippet(con, text: str, query: str, stemmer: str, width: int = 160) -> str:
    """About ``width`` characters of ``text`` around the first word whose stem matches a query term."""
    text = " ".join((text or "").split())
    terms = {t.lower() for t in _WORD.findall(query)}
    if not text or not terms:
        return text[:width]
    words = list(_WORD.finditer(text))
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
        "SELECT count(*) FROM duckdb_functions() WHERE schema_name = ? AND function_name = 'match_bm25'", [INDEX_SCHEMA]
    ).fetchone()[0]
    if not exists:
        raise RuntimeError(f"no full-text index on {TABLE} (run `news-etl run` first)")
    rows = con.execute(
        f"""
        SELECT score, doc_id, title, body FROM (
            SELECT {INDEX_SCHEMA}.match_bm25(doc_id, ?) AS score, doc_id, title, body FROM {TABLE}
        ) WHERE score IS NOT NULL ORDER BY score DESC, doc_id LIMIT ?
        """,
        [query, limit],
    ).fetchall()
    stemmer = _index_stemmer(con)
    return [Hit(score, doc_id, title, snippet(con, body, query, stemmer)) for score, doc_id, title, body in rows]


def search_warehouse(warehouse: str | Path, query: str, limit: int = 10, wait_seconds: float = 10.0) -> list[Hit]:
    con = connect(Path(warehouse) / "news.duckdb", read_only=True, wait_seconds=wait_seconds)
    try:
        return search(con, query, limit)
    finally:
        con.close()
