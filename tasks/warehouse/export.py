"""Export every mart to ``marts/<name>.parquet`` under the warehouse, for BI tools."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from ..layout import WarehouseLayout, atomic_write, fsync_dir
from .database import connect, default_wait_seconds


def export_marts(layout: WarehouseLayout, names: list[str] | None = None) -> list[Path]:
    """Write each mart (or just ``names``) to its file, replacing the previous one in one rename,
    so readers never see a half-written file."""
    layout.marts.mkdir(parents=True, exist_ok=True)
    wanted = None if names is None else {n.split(".")[-1] for n in names}
    con = connect(layout, read_only=True, wait_seconds=default_wait_seconds())
    written = []
    try:
        marts = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()]
        for name in marts:
            if wanted is not None and name not in wanted:
                continue
            target = layout.mart_file(name)
            with atomic_write(target) as tmp:
                con.execute(f"COPY marts.{name} TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)")
            written.append(target)
        fsync_dir(layout.marts)
    finally:
        con.close()
    return written


@task(name="export")
def export_task(layout: WarehouseLayout, names: list[str] | None = None) -> list[str]:
    return [str(p) for p in export_marts(layout, names)]
