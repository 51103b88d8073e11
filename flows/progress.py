"""What a run shows while it runs: each step as it starts and ends, the batches as they finish.

The flow reports through ``Steps``. Every event is a log line of the flow run, so Prefect's API
keeps it and a served run prints it; the command line also hands it to a ``Display`` it installs
with ``show``: a live view on a terminal, plain lines otherwise.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from datetime import datetime

_display: Display | None = None


class Display:
    """Plain lines on stderr, one per event at or above ``level``."""

    def __init__(self, level: int = logging.INFO, stream=None):
        self.level = level
        self.stream = stream or sys.stderr
        self._last_batch_line = 0.0

    def _print(self, text: str, level: int = logging.INFO) -> None:
        if level >= self.level:
            print(f"{datetime.now():%H:%M:%S} {text}", file=self.stream, flush=True)

    def started(self, step: str, text: str) -> None:
        self._print(f"{step}: {text}" if text else f"{step} …")

    def finished(self, step: str, text: str, seconds: float) -> None:
        self._print(f"{step}: done in {seconds:.1f} s" + (f": {text}" if text else ""))

    def batches(self, done: int, total: int, documents: int, seconds: float) -> None:
        now = time.monotonic()
        if done < total and now - self._last_batch_line < 5:  # a line every 5 s at most, and the last one
            return
        self._last_batch_line = now
        self._print(f"process: {done}/{total} batches, {documents:,} documents, {_rate(documents, seconds)}")

    def message(self, text: str, level: int = logging.WARNING) -> None:
        self._print(("warning: " if level == logging.WARNING else "") + text, level)

    def close(self) -> None:
        pass


class LiveDisplay(Display):
    """The steps as a live view on a terminal: a spinner on the running step, a bar for the batches."""

    def __init__(self, level: int = logging.INFO):
        super().__init__(level)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        class Bar(BarColumn):  # only on the batch step
            def render(self, task):
                return super().render(task) if task.total else ""

        class Count(MofNCompleteColumn):
            def render(self, task):
                return super().render(task) if task.total else ""

        self.console = Console(stderr=True)
        self.progress = Progress(SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description:<9}"), Bar(), Count(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=self.console)
        self.tasks: dict[str, int] = {}
        self.progress.start()

    def started(self, step: str, text: str) -> None:
        self.tasks[step] = self.progress.add_task(step, total=None, detail=text)

    def finished(self, step: str, text: str, seconds: float) -> None:
        task = self.tasks.get(step)
        if task is None:
            task = self.tasks[step] = self.progress.add_task(step, total=None, detail="")
        total = self.progress.tasks[task].total
        self.progress.update(task, detail=text, total=total or 1, completed=total or 1)
        self.progress.stop_task(task)

    def batches(self, done: int, total: int, documents: int, seconds: float) -> None:
        task = self.tasks.get("process")
        if task is not None:
            self.progress.update(task, total=total, completed=done, detail=f"{documents:,} documents, {_rate(documents, seconds)}")

    def message(self, text: str, level: int = logging.WARNING) -> None:
        if level >= self.level:
            self.console.print(("[yellow]warning:[/] " if level == logging.WARNING else "") + text, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def _rate(documents: int, seconds: float) -> str:
    return f"{documents / seconds:,.0f} docs/s" if seconds > 0 and documents else "…"


def show(display: Display | None) -> None:
    """Install the display the events of this process's runs go to (None: log lines only)."""
    global _display
    if _display is not None and _display is not display:
        _display.close()
    _display = display


def current() -> Display | None:
    return _display


class Steps:
    """A run's steps: ``with steps.step("load") as step: …; step.done("5 articles")``. Keeps the
    seconds of each, logs each start and end to the flow run's logger and shows them."""

    def __init__(self, logger):
        self.logger = logger
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, starting: str = ""):
        outcome = _Outcome()
        self.logger.info("%s: %s", name, starting or "started")
        if _display:
            _display.started(name, starting)
        started = time.perf_counter()
        try:
            yield outcome
        finally:
            seconds = time.perf_counter() - started
            self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 3)
        self.logger.info("%s: done in %.1f s%s", name, seconds, f": {outcome.text}" if outcome.text else "")
        if _display:
            _display.finished(name, outcome.text, seconds)

    def batches(self, done: int, total: int, documents: int, seconds: float) -> None:
        self.logger.info("process: %d/%d batches, %d documents, %s", done, total, documents, _rate(documents, seconds))
        if _display:
            _display.batches(done, total, documents, seconds)

    def warn(self, text: str) -> None:
        self.logger.warning("%s", text)
        if _display:
            _display.message(text)


class _Outcome:
    text = ""

    def done(self, text: str) -> None:
        self.text = text


def batch_progress(logger, total: int):
    """What the batch subflow calls as each batch finishes (its documents): logged, and shown."""
    started, done, documents = time.perf_counter(), 0, 0

    def advance(n_documents: int) -> None:
        nonlocal done, documents
        done += 1
        documents += n_documents
        Steps(logger).batches(done, total, documents, time.perf_counter() - started)

    return advance
