"""Quarantine rows for bad input, with a copy of the offending bytes."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

from .settings import Settings


def quarantine_row(settings: Settings, source_uri: str, reason: str, detail: str, data: bytes | None, run_id: str, at: datetime) -> dict:
    copy_path = None
    if data is not None:
        digest = hashlib.sha256(data).hexdigest()
        target = Path(settings.quarantine_dir) / digest[:2] / f"{digest}.bin"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        copy_path = str(target.relative_to(settings.warehouse))
    return {
        "source_uri": source_uri,
        "reason": reason,
        "detail": detail[:1000],
        "n_bytes": None if data is None else len(data),
        "copy_path": copy_path,
        "run_id": run_id,
        "at": at,
    }
