"""Named points where a test can kill the run with SIGKILL, to prove crash safety for real.

Set ``NEWS_ETL_KILL_AT=<name>`` (e.g. ``after_commit``) in the environment of a run; the process
kills itself, with no cleanup, when it reaches that point. ``NEWS_ETL_HANG_AT=<name>`` makes it
wait there forever instead, for a test to kill it from outside (or its parent) at a known moment.
Unset, this costs two dict lookups.
"""

from __future__ import annotations

import os
import signal
import time

POINTS = ("after_plan", "mid_quarantine_copy", "after_batch", "before_commit", "after_commit", "mid_publish",
          "after_publish", "mid_model", "after_model", "mid_export")


def crash_point(name: str) -> None:
    if os.environ.get("NEWS_ETL_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("NEWS_ETL_HANG_AT") == name:
        while True:
            time.sleep(3600)
