"""Export every mart to ``warehouse/marts/<name>.parquet`` for BI tools (atomic replace)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from prefect import task

from .database import connect, default_wait_seconds
from ..settings import Settings
from ..ingest.write import fsync_dir


def export_marts(settings: Settings, names: list[str] | None = None) -> list[Path]:
    """Write each mart (or just ``names``) to ``<warehouse>/marts/<name>.parquet``: written under a
    temporary name, fsynced and renamed into place, so readers never see a half-written file."""
    out_dir = Path(settings.marts_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = None if names is None else {n.split(".")[-1] for n in names}
    con = connect(settings.db_path, read_only=True, wait_seconds=default_wait_seconds())
    written = []
    try:
        marts = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()]
        for name in marts:
            if wanted is not None and name not in wanted:
                continue
            target = out_dir / f"{name}.parquet"
            tmp = out_dir / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                con.execute(f"COPY marts.{name} TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)")
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(target)
        fsync_dir(out_dir)
    finally:
        con.close()
    return written


@task(name="export")
def export_task(settings: Settings, names: list[str] | None = None) -> list[str]:
    return [str(p) for p in export_marts(settings, names)]
