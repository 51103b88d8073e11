"""A run's options: every setting a user can give, each with its default, in one typed object.

The CLI builds ``RunOptions`` from its arguments, the ``etl`` flow takes it as its parameter
(Prefect shows it as a form) and a deployment stores it. What a run learns as it goes is not an
option: it travels as ``RunContext``.

The cleaning options (``CLEANING_OPTIONS``) are remembered by the warehouse: a run uses the ones
it was given (``model_fields_set``) and, for the others, those of the warehouse's last run rather
than the defaults (tasks/warehouse/remembered.py), so a plain ``rebuild`` cleans as the runs
before it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .layout import WarehouseLayout

MiB = 1024 * 1024
CLEANING_OPTIONS = ("rules", "favor", "repeat_min_docs", "max_doc_bytes")


class RunOptions(BaseModel):
    """The settings of an ``etl`` run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[str] = Field(["seeds"], description="files or directories to read, recursively")
    warehouse: str = Field("warehouse", description="warehouse directory")
    rules: list[str] = Field([], description="extra boilerplate rules files (TOML), applied after the shipped ones")
    favor: Literal["precision", "balanced", "recall"] = Field(
        "balanced", description="precision/recall preference of HTML extraction and the cleaner")
    repeat_min_docs: int = Field(5, ge=1, description="a short line found in this many documents of one source is boilerplate")
    batch_docs: int = Field(2000, ge=1, description="documents per batch task, and per staged chunk")
    batch_bytes: int = Field(32 * MiB, ge=1, description="bytes of input per batch task, and per staged chunk")
    max_doc_bytes: int = Field(20 * MiB, ge=1, description="larger documents are quarantined")
    workers: int | None = Field(None, ge=1, description="processes for the batch tasks (none: one per core)")
    dask_address: str | None = Field(None, description="run the batch tasks on this Dask cluster (tcp://HOST:PORT)")
    wait: float = Field(0.0, ge=0, description="seconds to wait for another run on the same warehouse (0: fail at once)")
    full_refresh: bool = Field(False, description="also clean every raw document the lake keeps again and rebuild all models")

    def resolved(self) -> RunOptions:
        """The same options with absolute paths: batch workers and served runs have another cwd.
        Options that were not given stay not given."""
        update = {"inputs": [str(Path(p).resolve()) for p in self.inputs], "warehouse": str(Path(self.warehouse).resolve())}
        if "rules" in self.model_fields_set:
            update["rules"] = [str(Path(p).resolve()) for p in self.rules]
        return self.model_copy(update=update)

    def given(self) -> dict:
        """The options set explicitly (a deployment stores these, so the rest keep following the warehouse)."""
        return self.model_dump(exclude_unset=True)

    @property
    def layout(self) -> WarehouseLayout:
        return WarehouseLayout(Path(self.warehouse))


@dataclass(frozen=True)
class RunContext:
    """What a run knows besides its options."""

    run_id: str
    started_at: datetime
    frequent_lines: str | None = None  # Parquet file of the lines earlier runs found frequent, per source

    @property
    def ingest_date(self) -> date:
        return self.started_at.date()
