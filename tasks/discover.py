"""Discover input documents under the given paths and cut them into batches."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from prefect import task

KINDS = {".txt": "txt", ".text": "txt", ".html": "html", ".htm": "html", ".jsonl": "jsonl", ".jsonl.gz": "jsonl.gz"}


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute, as reached under its root (not resolved through links)
    root: str
    size: int
    mtime_ns: int
    kind: str


@dataclass(frozen=True)
class Rejected:
    """An input that cannot be read at all; becomes a quarantine row."""

    source_uri: str
    reason: str
    detail: str
    n_bytes: int = 0


def kind_of(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".jsonl.gz"):
        return "jsonl.gz"
    return KINDS.get(os.path.splitext(lower)[1])


def _inside(path: str, root_real: str) -> bool:
    return path == root_real or path.startswith(root_real.rstrip(os.sep) + os.sep)


def discover(inputs: list[str | Path]) -> tuple[list[InputFile], list[Rejected]]:
    """Walk files and directories (recursively), never leaving a root through links."""
    found: list[InputFile] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for given in inputs:
        root = os.path.abspath(str(given))
        if not os.path.lexists(root):
            raise FileNotFoundError(f"input not found: {given}")
        if os.path.isfile(root):
            _add_file(root, os.path.dirname(root), os.path.realpath(os.path.dirname(root)), found, rejected, seen)
            continue
        root_real = os.path.realpath(root)
        visited_dirs: set[tuple[int, int]] = set()
        stack = [root]
        while stack:
            directory = stack.pop()
            try:
                st = os.stat(directory)
                key = (st.st_dev, st.st_ino)
                if key in visited_dirs:
                    rejected.append(Rejected(directory, "symlink_loop", "directory reached twice through links"))
                    continue
                visited_dirs.add(key)
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                rejected.append(Rejected(directory, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}"))
                continue
            subdirs = []
            for entry in entries:
                path = entry.path
                if entry.is_symlink():
                    try:
                        target = os.path.realpath(path, strict=True)
                    except (OSError, RuntimeError) as exc:
                        reason = "symlink_loop" if "loop" in str(exc).lower() or isinstance(exc, RuntimeError) else "broken_link"
                        if kind_of(entry.name) or reason == "symlink_loop":
                            rejected.append(Rejected(path, reason, str(exc)))
                        continue
                    if not _inside(target, root_real):
                        rejected.append(Rejected(path, "link_outside_root", f"points to {target}"))
                        continue
                try:
                    if entry.is_dir():
                        subdirs.append(path)
                    elif kind_of(entry.name):
                        _add_file(path, root, root_real, found, rejected, seen)
                except OSError as exc:
                    rejected.append(Rejected(path, "unreadable", str(exc)))
            stack.extend(reversed(subdirs))
    return found, rejected


def _add_file(path: str, root: str, root_real: str, found: list, rejected: list, seen: set) -> None:
    real = os.path.realpath(path)
    if real in seen:
        return
    seen.add(real)
    try:
        st = os.stat(path)
    except OSError as exc:
        rejected.append(Rejected(path, "unreadable", str(exc)))
        return
    if not stat.S_ISREG(st.st_mode):
        rejected.append(Rejected(path, "not_a_file", f"mode {stat.filemode(st.st_mode)}"))
        return
    if not os.access(path, os.R_OK):
        rejected.append(Rejected(path, "unreadable", "permission denied", st.st_size))
        return
    found.append(InputFile(path, root, st.st_size, st.st_mtime_ns, kind_of(path) or "txt"))


def make_batches(files: list[InputFile], max_docs: int, max_bytes: int) -> list[list[InputFile]]:
    """Group files into batches bounded by count and by bytes (a large file gets its own batch)."""
    batches: list[list[InputFile]] = []
    current: list[InputFile] = []
    size = 0
    for f in files:
        if current and (len(current) >= max_docs or size + f.size > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        batches.append(current)
    return batches


@task(name="discover")
def discover_task(inputs: list[str], max_docs: int, max_bytes: int) -> tuple[list[list[InputFile]], list[Rejected]]:
    files, rejected = discover(inputs)
    return make_batches(files, max_docs, max_bytes), rejected
