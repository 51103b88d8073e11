"""Where everything lives under a warehouse directory, and how a file gets there whole.

Every path and file name under the warehouse is built here; the rest of the code asks a
``WarehouseLayout``. Readers must never see half a file, so every file the pipeline writes is
written under a temporary name next to its target, fsynced and renamed into place.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

DATABASE = "news.duckdb"
CATALOG = "catalog.duckdb"


@dataclass(frozen=True)
class WarehouseLayout:
    """The files of one warehouse directory (see warehouse/README.md)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def database(self) -> Path:
        return self.root / DATABASE

    @property
    def catalog(self) -> Path:
        """The readers' database: views over the published Parquet files, never locked by a run."""
        return self.root / CATALOG

    @property
    def spill(self) -> Path:
        """Where DuckDB spills beyond its memory limit (its own default for a database file)."""
        return self.root / f"{DATABASE}.tmp"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def marts(self) -> Path:
        return self.root / "marts"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def staging(self) -> Path:
        return self.root / ".staging"

    @property
    def search(self) -> Path:
        """The search index exported for readers: ``search/<table>/part-<bucket>.parquet``."""
        return self.root / "search"

    @property
    def runs(self) -> Path:
        """The run journal: one JSON file per run that started, whatever its outcome."""
        return self.root / "runs"

    @property
    def rules(self) -> Path:
        """Copies of the rules files runs used, by content hash: what a later run or rebuild reuses."""
        return self.root / "rules"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    # -- one run's staging area: its plan and the parts its batches stage, until the load publishes them

    def run_staging(self, run_id: str) -> Path:
        return self.staging / run_id

    def plan_dir(self, run_id: str) -> Path:
        return self.run_staging(run_id) / "plan"

    def batch_file(self, run_id: str, batch_no: int) -> Path:
        return self.plan_dir(run_id) / f"batch-{batch_no:05d}.parquet"

    def frequent_lines_file(self, run_id: str) -> Path:
        return self.plan_dir(run_id) / "frequent_lines.parquet"

    def staged_part(self, run_id: str, table: str, batch_no: int, chunk_no: int) -> Path:
        return self.run_staging(run_id) / table / f"part-{batch_no:05d}-{chunk_no:04d}.parquet"

    # -- published files

    def lake_file(self, table: str, ingest_date: date, run_id: str, staged: str | Path) -> Path:
        """``lake/<table>/ingest_date=D/part-<run>-<batch>-<chunk>.parquet`` for a staged part."""
        name = f"part-{run_id}-{Path(staged).name.removeprefix('part-')}"
        return self.lake / table / f"ingest_date={ingest_date.isoformat()}" / name

    def run_lake_files(self, table: str, run_id: str) -> list[Path]:
        """The lake files of ``table`` one run wrote (``lake_file``'s names)."""
        return sorted((self.lake / table).glob(f"ingest_date=*/part-{run_id}-*.parquet"))

    def mart_file(self, name: str) -> Path:
        """A small mart, exported whole: ``marts/<name>.parquet``."""
        return self.marts / f"{name}.parquet"

    def mart_dataset(self, name: str) -> Path:
        """A big mart, exported as a Hive-partitioned dataset: ``marts/<name>/<column>=<value>/*.parquet``
        (read it with ``read_parquet('marts/<name>/**/*.parquet', hive_partitioning = true)``)."""
        return self.marts / name

    def mart_partition(self, name: str, column: str, value: str | None) -> Path:
        return self.mart_dataset(name) / f"{column}={'__HIVE_DEFAULT_PARTITION__' if value is None else value}"

    @property
    def export_staging(self) -> Path:
        """Where an export writes a dataset's files before it renames them into place (emptied by
        every export)."""
        return self.root / ".export"

    def search_part(self, table: str, bucket: int) -> Path:
        return self.search / table / f"part-{bucket:06d}.parquet"

    def run_record(self, run_id: str, started_at: datetime) -> Path:
        """``runs/<UTC start>-<run id>.json``: names sort by start time."""
        return self.runs / f"{started_at.astimezone(timezone.utc):%Y%m%dT%H%M%S}Z-{run_id}.json"

    def rules_copy(self, sha256: str) -> Path:
        return self.rules / f"{sha256}.toml"

    def report_file(self, name: str) -> Path:
        return self.reports / f"{name}.html"

    def quarantine_copy(self, sha256: str) -> Path:
        return self.quarantine / sha256[:2] / f"{sha256}.bin"

    def stale_temp_files(self) -> Iterator[Path]:
        """Temporary files (``temp_path``) under the lake, the marts and the quarantine: left by a
        run that died while writing them, if nobody holds the warehouse lock."""
        for directory in (self.lake, self.marts, self.quarantine):
            if directory.is_dir():
                yield from (p for p in directory.rglob(".*.tmp") if _TEMP_NAME.fullmatch(p.name) and p.is_file())

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the warehouse, as ``meta.lake_files`` and ``lake.quarantine`` keep it."""
        return str(Path(path).resolve().relative_to(self.root.resolve()))


_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")


def temp_path(target: str | Path) -> Path:
    """A fresh temporary name in ``target``'s directory (created), hidden from globs of ``*.parquet``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")


def commit(tmp: Path, target: str | Path) -> Path:
    """Make the written ``tmp`` durable, then rename it onto ``target`` in one step."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return Path(target)


@contextmanager
def atomic_write(target: str | Path) -> Iterator[Path]:
    """A temporary path to write ``target``'s content to: committed onto ``target`` when the block
    succeeds, deleted when it fails."""
    tmp = temp_path(target)
    try:
        yield tmp
        commit(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fsync_dir(path: str | Path) -> None:
    """Make the renames into a directory durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
