"""Bad input: why it cannot become an article, and a copy of its bytes under ``quarantine/``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..crashpoints import crash_point
from ..layout import WarehouseLayout, commit, temp_path
from .streams import open_input

COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Quarantined:
    """An input, or one record of it, that cannot become an article."""

    source_uri: str
    reason: str
    detail: str
    data: bytes | None = None  # the offending bytes, to keep a copy of
    copy_of: str | None = None  # or the file to copy them from (too large to hold in memory)
    copy_range: tuple[int, int] | None = None  # (offset, length) of them in copy_of; None: the whole file
    n_bytes: int | None = None  # the item's size, when the copy is not exactly the item


def keep_copy(layout: WarehouseLayout, item: Quarantined) -> tuple[str | None, int | None, str]:
    """Store the item's bytes content-addressed (sha256) under the warehouse's quarantine
    directory; returns the copy's path relative to the warehouse, the item's size, and the detail
    (which says why there is no copy when the input could not be read again)."""
    if item.data is None and item.copy_of is None:
        return None, item.n_bytes, item.detail
    try:
        source = open_input(item.copy_of) if item.data is None else None
    except OSError as exc:  # the input vanished or became unreadable: keep the row, without a copy
        return None, item.n_bytes, f"{item.detail} (no copy: {exc.strerror or exc})"
    tmp = temp_path(layout.quarantine / "incoming")
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            if source is None:
                digest.update(item.data)
                out.write(item.data)
                size = len(item.data)
            else:
                with source:
                    offset, left = item.copy_range or (0, -1)
                    source.seek(offset)
                    while left and (chunk := source.read(COPY_CHUNK if left < 0 else min(left, COPY_CHUNK))):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                        left -= len(chunk) if left > 0 else 0
        crash_point("mid_quarantine_copy")
        target = layout.quarantine_copy(digest.hexdigest())
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            commit(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return layout.relative(target), size if item.n_bytes is None else item.n_bytes, item.detail
