"""Run settings shared by every step (plain, picklable data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the repository, or site-packages/news_etl
DEFAULT_SQL_DIR = PACKAGE_ROOT / "sql"


@dataclass(frozen=True)
class Settings:
    warehouse: Path
    batch_docs: int = 2000
    batch_bytes: int = 32 * 1024 * 1024
    max_doc_bytes: int = 20 * 1024 * 1024
    rules_files: tuple[str, ...] = ()
    sql_dir: Path = DEFAULT_SQL_DIR
    extra: dict = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.warehouse / "news.duckdb"

    @property
    def lake_dir(self) -> Path:
        return self.warehouse / "lake"

    @property
    def staging_dir(self) -> Path:
        return self.warehouse / ".staging"

    @property
    def marts_dir(self) -> Path:
        return self.warehouse / "marts"

    @property
    def quarantine_dir(self) -> Path:
        return self.warehouse / "quarantine"
