"""Every process a run starts dies with the run, however the run ends (SIGKILL included).

``hold_lifeline()`` puts a token in this process's environment, which every process it starts
from then on inherits (the Prefect API server, the pool workers, their own children), and starts a
guardian: this file run as a script, a small process of its own that asks the kernel for a signal
when its parent dies (``prctl(PR_SET_PDEATHSIG)``, Linux) and polls for it besides. When this
process has ended, the guardian kills every process that holds the token (SIGTERM, then SIGKILL),
found by their environment in ``/proc``: so no worker of ~300 MB and no API server of ~230 MB
outlives a killed run, and the next run starts without them. Elsewhere than on Linux it does nothing.

The guardian imports nothing but the standard library, runs isolated (``python -I -S``) and is
in a session of its own, so a Ctrl-C in the terminal reaches the run but not it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

ENV = "NEWS_ETL_LIFELINE"  # space-separated tokens: a run started by a run holds both
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0  # the parent-death signal is sent when the parent's *thread* ends: poll besides
GRACE_SECONDS = 3.0  # between SIGTERM and SIGKILL


def hold_lifeline() -> str | None:
    """Tie every process started from now on to this one (idempotent); returns the token."""
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self"):
        return None
    tokens = os.environ.get(ENV, "").split()
    mine = f"{os.getpid()}-"
    held = next((t for t in tokens if t.startswith(mine)), None)
    if held:
        return held
    token = f"{mine}{uuid.uuid4().hex[:12]}"
    subprocess.Popen(
        [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid()), token],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != ENV}, start_new_session=True, close_fds=True,
    )
    os.environ[ENV] = " ".join([*tokens, token])
    return token


def holders(token: str) -> list[int]:
    """The processes whose environment holds ``token`` (ours to read: same user)."""
    needle = f"{ENV}=".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:  # gone, or not ours
            continue
        for entry in environ.split(b"\0"):
            if entry.startswith(needle) and token.encode() in entry[len(needle):].split():
                found.append(int(name))
                break
    return found


def sweep(token: str, grace: float = GRACE_SECONDS) -> int:
    """Terminate every process holding ``token``, then kill what is left; returns how many."""
    me, killed = os.getpid(), set()
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGKILL):
        victims = [pid for pid in holders(token) if pid != me and _alive(pid)]
        if not victims:
            break
        for pid in victims:
            try:
                os.kill(pid, sig)
                killed.add(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(pid) for pid in victims):
            time.sleep(0.05)
    return len(killed)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")  # a zombie is dead already
    except (OSError, IndexError):
        return False


def guard(parent: int, token: str) -> None:
    """Wait for ``parent`` to end, then sweep its token."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # polling alone then
    while os.getppid() == parent:  # (checked after prctl: the parent may have died before it)
        got = signal.sigtimedwait({signal.SIGTERM}, POLL_SECONDS)
        if got and got.si_pid != parent and os.getppid() == parent:
            return  # terminated by someone else while the run lives: leave it be
    sweep(token)


if __name__ == "__main__":
    guard(int(sys.argv[1]), sys.argv[2])
