"""Export every mart to ``warehouse/marts/<name>.parquet`` for BI tools (atomic replace)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from prefect import task

from .database import connect
from .settings import Settings


def export_marts(settings: Settings) -> list[Path]:
    out_dir = Path(settings.marts_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = connect(settings.db_path, read_only=True, wait_seconds=30)
    written = []
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()]
        for name in names:
            target = out_dir / f"{name}.parquet"
            tmp = out_dir / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                con.execute(f"COPY marts.{name} TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(target)
    finally:
        con.close()
    return written


@task(name="export")
def export_task(settings: Settings) -> list[str]:
    return [str(p) for p in export_marts(settings)]
