"""Each article's words and how often it uses them, counted on the batch workers for the search index.

The lake's article files keep them (``words``, ``word_counts``); the model step reads them from
there into the index (``tasks/warehouse/search.py``), so the main process never tokenizes a body.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from .fingerprint import groups, word_spans

WORD = re.compile(r"[^\W_]+")  # letters and digits; the SQL side uses [\p{L}\p{N}]+


def word_counts(*texts: str | None) -> tuple[list[str], list[int]]:
    """The distinct lower-cased words of the texts and how often each occurs."""
    counts = Counter(WORD.findall("\n".join(t for t in texts if t).lower()))
    return list(counts), list(counts.values())


_alnum: np.ndarray | None = None


def _alnum_table() -> np.ndarray:
    global _alnum
    if _alnum is None:  # the characters WORD matches (str.isalnum), by code point: runs of them, found by
        # WORD itself in a string of every code point rather than by a Python call per code point
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
