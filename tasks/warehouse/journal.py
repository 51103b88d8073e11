"""The run journal: one small JSON file per run that started (``runs/<start>-<id>.json``).

A run writes its record when it starts and again when it ends, with its outcome, its error in one
line, what it loaded and the cleaning options it used. The journal needs neither the warehouse
lock nor the database, so a run refused because another holds the warehouse, or one that cannot
open the database, is on record too, and ``news-etl status`` reads it without waiting for anyone.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..layout import WarehouseLayout, atomic_write

RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"


def one_line(exc: BaseException) -> str:
    """An exception as the one line a user reads."""
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass
class RunRecord:
    run_id: str
    started_at: str
    warehouse: str
    inputs: list[str]
    command: str = "run"
    status: str = RUNNING
    ended_at: str | None = None
    error: str | None = None
    error_type: str | None = None
    loaded: bool = False  # the run's load committed: the warehouse holds what it cleaned
    options: dict = field(default_factory=dict)  # the cleaning options it used (see tasks/warehouse/remember.py)
    summary: dict = field(default_factory=dict)  # RunSummary's counts
    step_seconds: dict = field(default_factory=dict)
    flow_run_id: str | None = None
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)

    @property
    def path(self) -> Path:
        return WarehouseLayout(Path(self.warehouse)).run_record(self.run_id, datetime.fromisoformat(self.started_at))

    def save(self) -> RunRecord:
        with atomic_write(self.path) as tmp:
            tmp.write_text(json.dumps(asdict(self), default=str, indent=1), encoding="utf-8")
        return self

    def finish(self, status: str, exc: BaseException | None = None, **facts) -> RunRecord:
        self.status, self.ended_at = status, _now()
        if exc is not None:
            self.error, self.error_type = one_line(exc), type(exc).__name__
        for key, value in facts.items():
            setattr(self, key, value)
        return self.save()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def start(layout: WarehouseLayout, run_id: str, started_at: datetime, inputs: list[str], command: str = "run",
          flow_run_id: str | None = None) -> RunRecord:
    """Record that a run started."""
    return RunRecord(run_id, started_at.astimezone(timezone.utc).isoformat(timespec="milliseconds"), str(layout.root),
                     list(inputs), command, flow_run_id=flow_run_id).save()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_runs(layout: WarehouseLayout, limit: int | None = None) -> list[dict]:
    """The journal's records, newest first; a run still 'running' whose process is gone (on this
    host) reads as 'interrupted'."""
    if not layout.runs.is_dir():
        return []
    names = sorted((p for p in layout.runs.iterdir() if p.suffix == ".json" and not p.name.startswith(".")), reverse=True)
    out = []
    for path in names[:limit] if limit else names:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a record being replaced, or damaged: the others still tell
        if record.get("status") == RUNNING and record.get("host") == socket.gethostname() and not _alive(record.get("pid", 0)):
            record["status"] = INTERRUPTED
        out.append(record)
    return out


def remembered_options(layout: WarehouseLayout) -> dict:
    """The cleaning options of the newest run whose load committed, as the journal says."""
    for record in read_runs(layout):
        if record.get("loaded") and record.get("options"):
            return record["options"]
    return {}
