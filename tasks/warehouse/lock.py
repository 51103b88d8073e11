"""One writer per warehouse: an exclusive lock file that names its holder.

The lock is an ``flock`` on the warehouse's ``.lock`` file; the kernel drops it when the holding process
dies, so a lock file left by a killed run is stale by construction and the next run takes it
over. The file's content (pid, host, run id, start time) is only there to say who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import datetime, timezone

from ..layout import WarehouseLayout


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse."""


class WarehouseLock:
    def __init__(self, layout: WarehouseLayout, run_id: str = "", wait_seconds: float = 0.0):
        self.path = layout.lock
        self.run_id = run_id
        self.wait_seconds = wait_seconds
        self.took_over: dict | None = None
        self._fd: int | None = None

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self) -> "WarehouseLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    h = self.holder()
                    raise WarehouseBusy(
                        f"warehouse {self.path.parent} is in use by run {h.get('run_id', '?')} "
                        f"(pid {h.get('pid', '?')} on {h.get('host', '?')} since {h.get('since', '?')}); "
                        "try again later or pass --wait SECONDS"
                    ) from None
                time.sleep(0.2)
        previous = self.holder()
        if previous.get("pid"):
            self.took_over = previous  # its process is gone: the lock was stale
        info = {"pid": os.getpid(), "host": socket.gethostname(), "run_id": self.run_id,
                "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # an empty file means nobody held it last
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "WarehouseLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
