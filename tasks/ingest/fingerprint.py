"""Body fingerprints for near-duplicate detection: one-permutation MinHash over 5-word shingles.

Computed per article in the batch tasks (spread over the workers) so that ``marts.near_duplicates``
only compares 64 numbers per article instead of shingling every body in SQL. Everything is
vectorised with numpy: words are hashed with a polynomial rolling hash over the UTF-8 bytes
(arithmetic modulo 2**64), shingles by mixing five word hashes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

BINS = 64
SHINGLE = 5
_BASE = 0x100000001B3  # odd, hence invertible modulo 2**64
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                 0xFF51AFD7ED558CCD], dtype=np.uint64)
_EMPTY = np.iinfo(np.uint64).max
_WORD_BYTE = np.zeros(256, dtype=bool)  # ASCII letters, digits, _ and every byte of a non-ASCII character
_WORD_BYTE[list(b"abcdefghijklmnopqrstuvwxyz0123456789_")] = True
_WORD_BYTE[0x80:] = True
_powers: tuple[np.ndarray, np.ndarray] | None = None


def _base_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**i and BASE**-i modulo 2**64 for i < n (cached, grown as needed)."""
    global _powers
    if _powers is None or len(_powers[0]) < n:
        m = max(n, 1 << 16)
        with np.errstate(over="ignore"):
            up = np.cumprod(np.full(m, _BASE, dtype=np.uint64))
            down = np.cumprod(np.full(m, pow(_BASE, -1, 2**64), dtype=np.uint64))
        one = np.ones(1, dtype=np.uint64)
        _powers = (np.concatenate([one, up[:-1]]), np.concatenate([one, down[:-1]]))
    return _powers[0][:n], _powers[1][:n]


def word_spans(data: np.ndarray, is_word: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Starts, ends and 64-bit hashes of the words in ``data`` (bytes or code points), a word being
    a run of units for which ``is_word[unit]`` holds; equal words hash equally wherever they stand.
    Its temporaries take tens of bytes per unit: give it a bounded piece (see ``piece_word_hashes``)."""
    edges = np.diff(np.concatenate(([0], is_word[data].view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    up, down = _base_powers(len(data))
    with np.errstate(over="ignore"):
        prefix = np.concatenate((np.zeros(1, dtype=np.uint64), np.cumsum((data + np.uint64(1)) * up)))
        return starts, ends, (prefix[ends] - prefix[starts]) * down[starts]


def piece_word_hashes(pieces: Iterable[np.ndarray], is_word: np.ndarray) -> Iterator[np.ndarray]:
    """The hashes ``word_spans`` gives the words of the pieces' concatenation, a piece at a time:
    a word running across pieces is hashed whole (its hash is a sum of its pieces' terms)."""
    running: tuple[int, int] | None = None  # (hash, length) of the word at the end of the last piece
    for data in pieces:
        if not len(data):
            continue
        starts, ends, hashes = word_spans(data, is_word)
        lengths = ends - starts
        if running is not None:
            if len(starts) and starts[0] == 0:  # the running word goes on
                hashes[0] = (running[0] + pow(_BASE, running[1], 2**64) * int(hashes[0])) % 2**64
                lengths[0] += running[1]
            else:
                hashes = np.concatenate((np.array([running[0]], dtype=np.uint64), hashes))
                lengths = np.concatenate(([running[1]], lengths))
                ends = np.concatenate(([0], ends))
        running = None
        if len(ends) and ends[-1] == len(data):  # it may go on in the next piece
            running = (int(hashes[-1]), int(lengths[-1]))
            hashes = hashes[:-1]
        yield hashes
    if running is not None:
        yield np.array([running[0]], dtype=np.uint64)


def minhash(text: str) -> list[int | None] | None:
    """64 bins: the smallest shingle hash (58 bits) falling in each bin; None for an empty bin,
    and None altogether for texts of fewer than five words."""
    return minhashes([text]).to_pylist()[0]


BIG_CHARS = 1 << 20  # a longer text is fingerprinted alone, a piece at a time
PIECE_CHARS = 1 << 16


def minhashes(texts: list[str], chunk_bytes: int = 1 << 18) -> pa.ListArray:
    """``minhash`` of many texts as an Arrow ``list<int64>`` column, vectorised over about
    ``chunk_bytes`` of text at a time (numpy's per-call cost would otherwise dominate at a few
    KB per article); no Python object per hash. A text of more than ``BIG_CHARS`` characters is
    done alone, with memory that does not grow with it."""
    signatures: list[np.ndarray] = []
    found: list[np.ndarray] = []
    group: list[bytes] = []
    size = 0
    for text in texts:
        if len(text) > BIG_CHARS:
            if group:
                _minhash_group(group, signatures, found)
                group, size = [], 0
            _minhash_big(text, signatures, found)
            continue
        group.append(text.lower().encode("utf-8"))
        size += len(group[-1]) + 1
        if size >= chunk_bytes:
            _minhash_group(group, signatures, found)
            group, size = [], 0
    if group:
        _minhash_group(group, signatures, found)
    signature = np.concatenate(signatures) if signatures else np.empty(0, dtype=np.uint64)
    offsets = pa.array(np.arange(0, len(signature) + 1, BINS, dtype=np.int32))
    values = pa.array(signature.view(np.int64), mask=signature == _EMPTY)
    return pa.ListArray.from_arrays(offsets, values, mask=pa.array(~np.concatenate(found)) if found else None)


def _minhash_group(encoded: list[bytes], signatures: list[np.ndarray], found: list[np.ndarray]) -> None:
    """Appends the group's signatures (``BINS`` values per text, ``_EMPTY`` for an empty bin) and
    whether each text had a shingle at all."""
    signature = np.full(len(encoded) * BINS, _EMPTY, dtype=np.uint64)
    has = np.zeros(len(encoded), dtype=bool)
    signatures.append(signature)
    found.append(has)
    # one buffer, texts separated by a non-word byte so that no word spans two texts
    data = np.frombuffer(b"\n".join(encoded) + b"\n", dtype=np.uint8)
    lengths = np.fromiter((len(e) + 1 for e in encoded), dtype=np.int64, count=len(encoded))
    text_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    starts, _, words = word_spans(data, _WORD_BYTE)
    text_of = np.searchsorted(text_starts, starts, side="right") - 1
    _add_shingles(signature, has, words, text_of)


def _minhash_big(text: str, signatures: list[np.ndarray], found: list[np.ndarray]) -> None:
    """``_minhash_group`` of one long text, lower-cased, encoded and hashed ``PIECE_CHARS`` at a
    time (a piece's last words start the next piece's shingles)."""
    signature = np.full(BINS, _EMPTY, dtype=np.uint64)
    has = np.zeros(1, dtype=bool)
    signatures.append(signature)
    found.append(has)
    pieces = (np.frombuffer(text[a:a + PIECE_CHARS].lower().encode("utf-8"), dtype=np.uint8)
              for a in range(0, len(text), PIECE_CHARS))
    carry = np.empty(0, dtype=np.uint64)
    for hashes in piece_word_hashes(pieces, _WORD_BYTE):
        words = np.concatenate((carry, hashes))
        _add_shingles(signature, has, words, np.zeros(len(words), dtype=np.int64))
        carry = words[len(words) - min(len(words), SHINGLE - 1):]


def _add_shingles(signature: np.ndarray, has: np.ndarray, words: np.ndarray, text_of: np.ndarray) -> None:
    """Shingle the word hashes (of the texts ``text_of`` names) into the texts' signatures."""
    n = len(words) - SHINGLE + 1
    if n < 1:
        return
    with np.errstate(over="ignore"):
        h = words[:n] * _MIX[0]
        for k in range(1, SHINGLE):
            h ^= words[k:k + n] * _MIX[k]
    whole = text_of[:n] == text_of[SHINGLE - 1:]  # shingles inside one text
    h, owner = h[whole], text_of[:n][whole]
    np.minimum.at(signature, owner * BINS + (h % np.uint64(BINS)).astype(np.int64), h >> np.uint64(6))
    has[owner] = True
