"""Stop words of a page's language for the density signals: jusText's lists (about 100
languages, by ISO code through languages.toml), and which languages separate words by spaces."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

LANGUAGES = Path(__file__).parent / "languages.toml"


@lru_cache(maxsize=1)
def _table() -> dict:
    return tomllib.loads(LANGUAGES.read_text(encoding="utf-8"))


def with_cases(words) -> frozenset[str]:
    """Each word in lower, capitalised and upper case: lines are looked up as written, never lower-cased."""
    low = {w.lower() for w in words}
    return frozenset(low | {w.capitalize() for w in low} | {w.upper() for w in low})


@lru_cache(maxsize=None)
def stoplist(language: str | None) -> frozenset[str]:
    """jusText's stop words of ``language`` (ISO code), empty if it ships none for it."""
    name = _table()["stoplists"].get(language or "")
    if not name:
        return frozenset()
    import justext

    return with_cases(justext.get_stoplist(name))


def spaced(language: str | None) -> bool:
    """Whether the language separates its words by spaces (word-based signals apply)."""
    return language not in _table()["unspaced"]["languages"]
