"""Corpus statistics over lines (pure part): stable line keys and per-document counts.

A line that recurs verbatim (after normalization) in many documents of one source is boilerplate
(CCNet/dolma). The caller persists the counts; clean(repeated=...) removes such lines.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from .normalize import normalize


def line_key(normalized_line: str) -> int:
    """Stable signed 64-bit key (fits DuckDB BIGINT) of a normalized line."""
    digest = hashlib.blake2b(normalized_line.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def document_line_keys(text: str, min_chars: int = 1, max_chars: int | None = None, normalized: bool = False) -> set[int]:
    """The distinct keys of a document's normalized lines of ``min_chars`` to ``max_chars`` characters."""
    lines = (text if normalized else normalize(text)).split("\n")
    return {line_key(ln) for ln in lines if len(ln) >= min_chars and (max_chars is None or len(ln) <= max_chars)}


def count_line_keys(texts: Iterable[str]) -> Counter:
    """How many documents contain each line key (a key counts once per document)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(document_line_keys(text))
    return counts
