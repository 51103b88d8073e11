"""The Prefect server news-etl runs against.

Without ``PREFECT_API_URL`` Prefect starts a temporary server inside every process: about ten
seconds of a run that has one second of work. So ``news-etl`` starts one server in the
background the first time a command needs one, with its UI, and every later command reuses it:
its address and pid are kept in ``$PREFECT_HOME/news-etl-server.json``, its log in
``news-etl-server.log`` beside it. ``news-etl server stop`` stops it. ``PREFECT_API_URL`` set
means that server is used and none is started; ``NEWS_ETL_SERVER=ephemeral`` keeps Prefect's
temporary per-process servers (the tests do).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

DEFAULT_PORT = 4299
START_TIMEOUT = 120.0  # a new server migrates its database first: ~15 s, more on a busy machine


class ServerError(RuntimeError):
    pass


def home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def _state_file() -> Path:
    return home() / "news-etl-server.json"


def log_file() -> Path:
    return home() / "news-etl-server.log"


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def running() -> dict | None:
    """The server news-etl started and that still answers: its ``url``, ``ui`` and ``pid``."""
    try:
        state = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return None
    return state if healthy(state["url"]) else None


def _free_port() -> int:
    for port in (int(os.environ.get("NEWS_ETL_SERVER_PORT", DEFAULT_PORT)), 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise ServerError("no free port for a Prefect server")


def start(announce=lambda message: None) -> dict:
    """The running server, or a new one started in the background (one at a time per PREFECT_HOME)."""
    home().mkdir(parents=True, exist_ok=True)
    with open(home() / "news-etl-server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two commands starting at once start one server
        state = running()
        if state:
            return state
        port = _free_port()
        url, ui = f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}"
        announce(f"starting a Prefect server for news-etl at {ui} (once: later commands reuse it; "
                 "`news-etl server stop` stops it)")
        env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_HOME": str(home()),
               "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_UI_URL": ui, "PREFECT_UI_API_URL": url}
        env.pop("PREFECT_API_URL", None)
        with open(log_file(), "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                     "--port", str(port), "--analytics-off"],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)  # not in the terminal's process group: Ctrl-C of a run leaves it
        deadline = time.monotonic() + START_TIMEOUT
        while not healthy(url, timeout=1.0):
            if proc.poll() is not None or time.monotonic() > deadline:
                _kill(proc.pid)
                raise ServerError(f"the Prefect server did not start (log: {log_file()})")
            time.sleep(0.3)
        state = {"url": url, "ui": ui, "pid": proc.pid, "home": str(home())}
        _state_file().write_text(json.dumps(state))
        return state


def _kill(pid: int, timeout: float = 15.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            pass
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop() -> dict | None:
    """Stop the server news-etl started; returns what it was, or None if none runs."""
    try:
        state = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return None
    _kill(int(state["pid"]))
    _state_file().unlink(missing_ok=True)
    return state


def use_server(announce=lambda message: None) -> str | None:
    """Point this process (and its children) at a Prefect server before Prefect is imported: the
    one in PREFECT_API_URL, else news-etl's own (started if need be). None in ephemeral mode."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if os.environ.get("NEWS_ETL_SERVER", "").lower() in {"ephemeral", "off", "0", "no"}:
        return None
    state = start(announce)
    os.environ["PREFECT_API_URL"] = state["url"]
    os.environ.setdefault("PREFECT_UI_URL", state["ui"])
    return state["url"]
