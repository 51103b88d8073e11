"""Body fingerprints for near-duplicate detection: one-permutation MinHash over 5-word shingles.

Computed per article in the batch tasks (spread over the workers) so that ``marts.near_duplicates``
only compares 64 numbers per article instead of shingling every body in SQL. Everything is
vectorised with numpy: words are hashed with a polynomial rolling hash over the UTF-8 bytes
(arithmetic modulo 2**64), shingles by mixing five word hashes.
"""

from __future__ import annotations

import numpy as np

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


def word_hashes(text: str) -> np.ndarray:
    """A 64-bit hash per word of the lower-cased text; equal words hash equally wherever they stand."""
    data = np.frombuffer(text.lower().encode("utf-8"), dtype=np.uint8)
    if not len(data):
        return np.empty(0, dtype=np.uint64)
    edges = np.diff(np.concatenate(([0], _WORD_BYTE[data].view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    up, down = _base_powers(len(data))
    with np.errstate(over="ignore"):
        prefix = np.concatenate((np.zeros(1, dtype=np.uint64), np.cumsum((data + np.uint64(1)) * up)))
        return (prefix[ends] - prefix[starts]) * down[starts]


def minhash(text: str) -> list[int | None] | None:
    """64 bins: the smallest shingle hash (58 bits) falling in each bin; None for an empty bin,
    and None altogether for texts of fewer than five words."""
    words = word_hashes(text)
    n = len(words) - SHINGLE + 1
    if n < 1:
        return None
    with np.errstate(over="ignore"):
        h = words[:n] * _MIX[0]
        for k in range(1, SHINGLE):
            h ^= words[k:k + n] * _MIX[k]
    signature = np.full(BINS, _EMPTY, dtype=np.uint64)
    np.minimum.at(signature, (h % np.uint64(BINS)).astype(np.intp), h >> np.uint64(6))
    return [None if v == _EMPTY else int(v) for v in signature]
