"""Body fingerprints for near-duplicate detection: one-permutation MinHash over 5-word shingles.

Computed per article in the batch tasks (spread over the workers) so that ``marts.near_duplicates``
only compares 64 numbers per article instead of shingling every body in SQL.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

BINS = 64
SHINGLE = 5
_WORD = re.compile(r"\w+")
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                 0xFF51AFD7ED558CCD], dtype=np.uint64)
_EMPTY = np.iinfo(np.uint64).max


def minhash(text: str) -> list[int | None] | None:
    """64 bins: the smallest shingle hash (58 bits) falling in each bin; None for an empty bin,
    and None altogether for texts of fewer than five words."""
    words = _WORD.findall(text.lower())
    n = len(words) - SHINGLE + 1
    if n < 1:
        return None
    word_hashes = np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint64, count=len(words))
    h = word_hashes[:n] * _MIX[0]
    for k in range(1, SHINGLE):
        h ^= word_hashes[k:k + n] * _MIX[k]
    signature = np.full(BINS, _EMPTY, dtype=np.uint64)
    np.minimum.at(signature, (h % np.uint64(BINS)).astype(np.intp), h >> np.uint64(6))
    return [None if v == _EMPTY else int(v) for v in signature]
