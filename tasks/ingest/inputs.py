"""Input files: found under the given paths (never leaving them through links), and the batch
files the plan hands to the batch tasks."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .quarantine import Quarantined

KINDS = {".txt": "txt", ".text": "txt", ".html": "html", ".htm": "html", ".jsonl": "jsonl", ".jsonl.gz": "jsonl.gz"}


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute, as reached under its root
    root: str
    size: int
    mtime_ns: int
    kind: str
    offset: int = 0  # a large .jsonl file is read in byte ranges cut at line ends,
    length: int = -1  # (-1: to the end of the file)
    first_line: int = 1  # so that its lines spread over batches and workers


def kind_of(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".jsonl.gz"):
        return "jsonl.gz"
    return KINDS.get(os.path.splitext(lower)[1])


def _inside(path: str, root_real: str) -> bool:
    return path == root_real or path.startswith(root_real.rstrip(os.sep) + os.sep)


def walk(inputs: list[str | Path]) -> Iterator[InputFile | Quarantined]:
    """Yield the files under the given paths (recursively), never leaving a root through links.

    Links whose target lies inside the root are skipped: the walk reaches their target anyway.
    """
    for given in inputs:
        root = os.path.abspath(str(given))
        if not os.path.lexists(root):
            raise FileNotFoundError(f"input not found: {given}")
        if os.path.isfile(root):
            yield _input_file(root, os.path.dirname(root), kind_of(root) or "txt")
            continue
        root_real = os.path.realpath(root)
        stack = [root]
        while stack:
            directory = stack.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                yield Quarantined(directory, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
                continue
            subdirs = []
            for entry in entries:
                path = entry.path
                try:
                    if entry.is_symlink():
                        rejected = _check_link(path, entry.name, root_real)
                        if rejected:
                            yield rejected
                    elif entry.is_dir(follow_symlinks=False):
                        subdirs.append(path)
                    elif kind := kind_of(entry.name):
                        yield _input_file(path, root, kind)
                except OSError as exc:
                    yield Quarantined(path, "unreadable", str(exc))
            stack.extend(reversed(subdirs))


def _check_link(path: str, name: str, root_real: str) -> Quarantined | None:
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as exc:
        if "loop" in str(exc).lower():
            return Quarantined(path, "symlink_loop", str(exc))
        return Quarantined(path, "broken_link", str(exc)) if kind_of(name) else None
    if not _inside(target, root_real):
        return Quarantined(path, "link_outside_root", f"points to {target}")
    if os.path.isdir(target) and _inside(os.path.realpath(os.path.dirname(path)), target):
        return Quarantined(path, "symlink_loop", f"points to its own ancestor {target}")
    return None


def _input_file(path: str, root: str, kind: str) -> InputFile | Quarantined:
    try:
        st = os.stat(path)
    except OSError as exc:
        return Quarantined(path, "unreadable", str(exc))
    if not stat.S_ISREG(st.st_mode):
        return Quarantined(path, "not_a_file", f"mode {stat.filemode(st.st_mode)}")
    if not os.access(path, os.R_OK):
        return Quarantined(path, "unreadable", "permission denied")
    return InputFile(path, root, st.st_size, st.st_mtime_ns, kind)


FILE_SCHEMA = pa.schema([("path", pa.string()), ("root", pa.string()), ("size", pa.int64()),
                         ("mtime_ns", pa.int64()), ("kind", pa.string()), ("offset", pa.int64()),
                         ("length", pa.int64()), ("first_line", pa.int64())])


def files_table(rows: list[dict]) -> pa.Table:
    """Input files (``InputFile`` fields) as a plan's Parquet file: the candidates, or a batch."""
    return pa.Table.from_pylist(rows, schema=FILE_SCHEMA)


def read_batch(path: str | Path) -> list[InputFile]:
    return [InputFile(**row) for row in pq.read_table(path).to_pylist()]


def split_jsonl(row: dict, max_bytes: int) -> list[dict]:
    """A .jsonl file larger than ``max_bytes`` as byte ranges of about that size, each cut at a
    line end and knowing the line number it starts at (one sequential read)."""
    if row["kind"] != "jsonl" or row["size"] <= max_bytes:
        return [row]
    ranges, start, start_line, pos, line_no = [], 0, 1, 0, 1
    try:
        with open(row["path"], "rb") as fh:
            for line in fh:
                pos += len(line)
                line_no += 1
                if pos - start >= max_bytes:
                    ranges.append({**row, "offset": start, "length": pos - start, "first_line": start_line})
                    start, start_line = pos, line_no
    except OSError:
        return [row]  # reading it will fail again and quarantine it with the reason
    if pos > start or not ranges:
        ranges.append({**row, "offset": start, "length": -1, "first_line": start_line})
    return ranges
