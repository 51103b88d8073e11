"""Quarantine rows for bad input, with a copy of the offending bytes."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime
from pathlib import Path

from ..settings import Settings


def quarantine_row(settings: Settings, source_uri: str, reason: str, detail: str, data: bytes | Path | None, run_id: str, at: datetime) -> dict:
    """``data`` is the offending bytes, or the Path of a whole input file to copy (streamed), or None if unreadable."""
    copy_path = n_bytes = None
    if isinstance(data, Path):
        try:
            data = open(data, "rb")
        except OSError as exc:  # the input vanished or became unreadable: keep the row, without a copy
            data, detail = None, f"{detail} (no copy: {exc.strerror or exc})"
    if data is not None:
        target, n_bytes = _store(Path(settings.quarantine_dir), data)
        copy_path = str(target.relative_to(settings.warehouse))
    return {
        "source_uri": source_uri,
        "reason": reason,
        "detail": detail[:1000],
        "n_bytes": n_bytes,
        "copy_path": copy_path,
        "run_id": run_id,
        "at": at,
    }


def _store(directory: Path, data) -> tuple[Path, int]:
    """Write the bytes content-addressed (sha256) via a temporary name + rename; return (path, size)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".incoming.{uuid.uuid4().hex}.tmp"
    digest = hashlib.sha256()
    size = 0
    with open(tmp, "wb") as out:
        if isinstance(data, bytes):
            digest.update(data)
            out.write(data)
            size = len(data)
        else:
            with data as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
    name = digest.hexdigest()
    target = directory / name[:2] / f"{name}.bin"
    if target.exists():
        tmp.unlink()
    else:
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
    return target, size
