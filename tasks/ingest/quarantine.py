"""Bad input: why it cannot become an article, and a copy of its bytes under ``quarantine/``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..layout import WarehouseLayout, commit, temp_path


@dataclass(frozen=True)
class Quarantined:
    """An input, or one record of it, that cannot become an article."""

    source_uri: str
    reason: str
    detail: str
    data: bytes | None = None  # the offending bytes, to keep a copy of
    copy_of: str | None = None  # or the file to copy whole (too large to hold in memory)


def keep_copy(layout: WarehouseLayout, item: Quarantined) -> tuple[str | None, int | None, str]:
    """Store the item's bytes content-addressed (sha256) under the warehouse's quarantine
    directory; returns the copy's path relative to the warehouse, its size, and the detail (which
    says why there is no copy when the input could not be read again)."""
    if item.data is None and item.copy_of is None:
        return None, None, item.detail
    try:
        source = open(item.copy_of, "rb") if item.data is None else None
    except OSError as exc:  # the input vanished or became unreadable: keep the row, without a copy
        return None, None, f"{item.detail} (no copy: {exc.strerror or exc})"
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
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        target = layout.quarantine_copy(digest.hexdigest())
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            commit(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return layout.relative(target), size, item.detail
