"""Process lifecycle, with real processes: whatever a run starts (its temporary Prefect API server,
its pool workers, their resource tracker) dies with it, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO, SEEDS, installed_env, run_etl

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the lifeline needs Linux (prctl, /proc)")


def _ephemeral_env(**extra) -> dict:
    """A `news-etl run` without PREFECT_API_URL: Prefect starts a temporary API server for it."""
    env = {k: v for k, v in installed_env().items() if k != "PREFECT_API_URL"}
    return {**env, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", **extra}


def _start_run(warehouse: Path, env: dict) -> subprocess.Popen:
    """Five seeds in three batches on two worker processes."""
    return subprocess.Popen([sys.executable, "-m", "news_etl.flows.cli", "run", "--input", str(SEEDS), "--warehouse",
                             str(warehouse), "--workers", "2", "--batch-docs", "2"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kind(p: psutil.Process) -> str:
    cmd = " ".join(p.cmdline())
    return ("server" if "uvicorn" in cmd else "worker" if "spawn_main" in cmd else "guardian" if "lifeline" in cmd
            else "other")


def _watch(proc: subprocess.Popen, until, timeout: float = 300) -> dict[psutil.Process, str]:
    """Every descendant of ``proc`` (and what it is) seen until ``until(kinds seen)`` holds or ``proc`` ends."""
    seen: dict[psutil.Process, str] = {}
    root = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            children = root.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            if child not in seen:
                try:
                    seen[child] = _kind(child)
                except psutil.Error:  # gone meanwhile
                    pass
        if until(list(seen.values())):
            break
        time.sleep(0.2)
    return seen


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _survivors(processes: dict[psutil.Process, str], within: float = 20) -> list[str]:
    deadline = time.monotonic() + within
    while True:
        alive = [p for p in processes if _alive(p)]
        if not alive or time.monotonic() > deadline:
            for p in alive:  # do not leave them to the next test
                p.kill()
            return [f"{p.pid} {processes[p]}" for p in alive]
        time.sleep(0.2)


def test_a_killed_run_takes_its_server_and_workers_with_it(prefect_harness, tmp_path):
    """SIGKILL the `news-etl run` process while its workers are busy: its API server, workers and
    resource tracker end too; the next run does not meet them and loads everything. A run whose
    worker is killed fails naming it and leaves no process either (before, each worker had
    started an API server of its own, left behind when the worker died)."""
    killed = _start_run(tmp_path / "killed", _ephemeral_env(NEWS_ETL_HANG_AT="after_batch"))
    crashed = None  # started once the first is gone, and watched from its start: it ends quickly
    seen, seen_crashed = {}, {}
    try:
        seen = _watch(killed, lambda kinds: kinds.count("worker") >= 2 and "server" in kinds)
        time.sleep(2)  # the workers reach the hang point
        assert killed.poll() is None, killed.communicate()[1][-3000:]
        # (alive ones: Prefect starts its temporary server again on another port when the first
        # finds its port taken, and that one exits)
        kinds = sorted(kind for p, kind in seen.items() if _alive(p))
        assert kinds.count("worker") == 2 and kinds.count("server") == 1 and "guardian" in kinds, kinds
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        assert _survivors(seen) == []

        crashed = _start_run(tmp_path / "crashed", _ephemeral_env(NEWS_ETL_KILL_AT="after_batch"))
        seen_crashed = _watch(crashed, lambda kinds: False)
        _, err = crashed.communicate(timeout=300)
        assert crashed.returncode == 1
        assert "news-etl run: error: A process in the process pool was terminated abruptly" in err, err[-3000:]
        assert list(seen_crashed.values()).count("server") == 1  # the run's own, none per worker
        assert _survivors(seen_crashed) == []
    finally:  # a survivor holds the run's stdout open: kill them all before reading it to its end
        started = [p for p in (killed, crashed) if p is not None]
        for proc in started:
            if proc.poll() is None:
                proc.kill()
        _survivors({**seen, **seen_crashed}, within=0)
        for proc in started:
            proc.communicate(timeout=60)

    summary = run_etl([SEEDS], tmp_path / "killed", workers=2, batch_docs=2)
    assert (summary.articles_out, summary.documents_in) == (5, 5)


def test_the_guardian_kills_what_holds_its_token_when_its_parent_dies(tmp_path):
    """The mechanism alone: a parent holding a lifeline starts a grandchild in a session of its
    own (not in its process group) and is SIGKILLed; the grandchild goes too, an unrelated process
    started alongside does not."""
    code = ("import os, subprocess, sys, time\n"
            "from news_etl.flows.lifeline import hold_lifeline\n"
            "hold_lifeline()\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
            "print(p.pid, flush=True)\n"
            "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], env=installed_env(), stdout=subprocess.PIPE, text=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        grandchild = psutil.Process(int(parent.stdout.readline()))
        guardian = next(p for p in psutil.Process(parent.pid).children() if _kind(p) == "guardian")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _survivors({grandchild: "grandchild", guardian: "guardian"}) == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
        if parent.poll() is None:
            parent.kill()


def test_a_pool_is_handed_its_batches_a_few_at_a_time(prefect_harness, tmp_path, monkeypatch):
    """Two workers get at most four batch tasks submitted at once (each holds its pickled call in
    the flow's process until a worker takes it), and every batch still runs."""
    import news_etl.flows.batches as batches

    waited_on = []  # how many submitted tasks each wait for the next result covered

    def as_completed(futures):
        waited_on.append(len(futures))
        return real_as_completed(futures)

    real_as_completed = batches.as_completed
    monkeypatch.setattr(batches, "as_completed", as_completed)
    summary = run_etl([SEEDS], tmp_path / "wh", workers=2, batch_docs=1)
    assert (summary.documents_in, summary.batches) == (5, 5)
    assert waited_on == [4, 4, 3, 2, 1]
