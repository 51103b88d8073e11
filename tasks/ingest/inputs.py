"""Input files: found under the given paths (never leaving them through links), and the batch
files the plan hands to the batch tasks."""

from __future__ import annotations

import os
import stat
import json
import pickle
import subprocess
import sys
import tempfile
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


_EXTENSIONS = {"txt": "txt", "text": "txt", "html": "html", "htm": "html", "jsonl": "jsonl"}


def kind_of(name: str) -> str | None:
    """The input kind of a file name (KINDS), None for other files; as ``os.path.splitext`` reads
    an extension (a leading dot starts no extension), without its cost per file."""
    name = os.path.basename(name) if os.sep in name else name
    base, dot, ext = name.rpartition(".")
    if not dot or not base.strip("."):
        return None
    ext = ext.lower()
    if ext == "gz":
        return "jsonl.gz" if base.lower().endswith(".jsonl") else None
    return _EXTENSIONS.get(ext)


def _inside(path: str, root_real: str) -> bool:
    return path == root_real or path.startswith(root_real.rstrip(os.sep) + os.sep)


def walk(inputs: list[str | Path]) -> Iterator[InputFile | Quarantined]:
    """The files under the given paths (recursively) one by one, as ``walk_tables`` finds them."""
    for table, rejected in walk_tables(inputs):
        yield from rejected
        for row in table.to_pylist():
            yield InputFile(**row)


def walk_tables(inputs: list[str | Path], processes: int = 2, chunk: int = 50_000,
                workdir: str | Path | None = None) -> Iterator[tuple[pa.Table, list[Quarantined]]]:
    """The files under the given paths (recursively) as tables of ``FILE_SCHEMA`` (about ``chunk``
    rows each), with the entries rejected on the way; never leaving a root through links (links
    whose target lies inside the root are skipped: the walk reaches their target anyway).

    Each file costs one ``lstat``, relative to its directory's descriptor (``os.scandir``'s entry
    already tells a file from a directory or a link), and a few Python operations: re-walking a
    million unchanged files is most of what a scheduled run's plan pays. A big tree (more than
    ``IN_PROCESS_FILES`` files and directories left) is walked on by ``processes`` processes (their
    results pass through ``workdir``), which threads could not do: each stat would hand the GIL
    back and forth.

    A given directory that is a link is followed (its target is the root); a given file that is a
    link is read only when its target lies in the link's own directory, as a link found there would
    be: a link to anywhere else is quarantined, its target neither read nor copied."""
    columns: dict[str, list] = {c: [] for c in _SCANNED}
    rejected: list[Quarantined] = []

    def flush(force: bool = False):
        nonlocal columns, rejected
        if len(columns["path"]) >= (1 if force else chunk) or (force and rejected):
            yield _table(columns), rejected
            columns, rejected = {c: [] for c in _SCANNED}, []

    for given in inputs:
        root = os.path.abspath(str(given))
        if not os.path.lexists(root):
            raise FileNotFoundError(f"input not found: {given}")
        if os.path.islink(root) and not os.path.isdir(root):
            parent = os.path.dirname(root)
            bad_link = _check_link(root, os.path.basename(root) or "input.txt", os.path.realpath(parent))
            if bad_link is None and not os.path.exists(root):  # a broken link of a kind we do not read
                bad_link = Quarantined(root, "broken_link", f"points to {os.readlink(root)}")
            if bad_link:
                rejected.append(bad_link)
                continue
            root = os.path.realpath(root)  # read the target itself: the link may change meanwhile
        if os.path.isfile(root):
            item = _input_file(root, os.path.dirname(root), kind_of(root) or "txt")
            if isinstance(item, Quarantined):
                rejected.append(item)
            else:
                for c in _SCANNED:
                    columns[c].append(getattr(item, c))
            continue
        root_real = os.path.realpath(root)
        stack, walked = [root], 0
        while stack and (walked < IN_PROCESS_FILES or len(stack) < MIN_SUBTREES or processes < 2):
            found, subdirs, bad = _scan(stack.pop(), root, root_real)
            stack.extend(reversed(subdirs))
            rejected += bad
            walked += len(found["path"])
            for c in _SCANNED:
                columns[c] += found[c]
            yield from flush()
        if stack:
            for table, bad in _walk_in_processes(stack, root, root_real, processes, workdir):
                rejected += bad
                yield from flush(force=True)
                yield table, []
    yield from flush(force=True)


_SCANNED = ("path", "root", "size", "mtime_ns", "kind")
IN_PROCESS_FILES = 20_000  # a tree bigger than this is walked on by processes ...
MIN_SUBTREES = 8  # ... when at least this many directories are left to walk


def _table(columns: dict[str, list]) -> pa.Table:
    n = len(columns["path"])
    return pa.table({**columns, "offset": [0] * n, "length": [-1] * n, "first_line": [1] * n}, schema=FILE_SCHEMA)


def _walk_in_processes(directories: list[str], root: str, root_real: str, processes: int,
                       workdir: str | Path | None) -> Iterator[tuple[pa.Table, list[Quarantined]]]:
    """Walk the trees under ``directories`` in ``processes`` processes of their own
    (``python -m news_etl.tasks.ingest.inputs TASK``: nothing of this process comes along), each
    writing what it found to a file in ``workdir``."""
    with tempfile.TemporaryDirectory(prefix="walk-", dir=workdir) as tmp:
        started = []
        for i in range(processes):
            task, out = Path(tmp) / f"task-{i}.json", Path(tmp) / f"found-{i}.pickle"
            task.write_text(json.dumps({"directories": directories[i::processes], "root": root, "root_real": root_real,
                                        "out": str(out)}))
            started.append((subprocess.Popen([sys.executable, "-m", __name__, str(task)]), out))
        failed = [p.wait() for p, _ in started]
        for (proc, out), code in zip(started, failed):
            if code != 0:
                raise RuntimeError(f"walking {root} failed in a worker process (exit code {code})")
            with open(out, "rb") as fh:
                yield pickle.load(fh)


def _walk_subtrees(directories: list[str], root: str, root_real: str) -> tuple[pa.Table, list[Quarantined]]:
    columns: dict[str, list] = {c: [] for c in _SCANNED}
    rejected: list[Quarantined] = []
    stack = list(directories)
    while stack:
        found, subdirs, bad = _scan(stack.pop(), root, root_real)
        stack.extend(subdirs)
        rejected += bad
        for c in _SCANNED:
            columns[c] += found[c]
    return _table(columns), rejected


_FAST_KINDS = {"txt": "txt", "text": "txt", "html": "html", "htm": "html", "jsonl": "jsonl"}


def _scan(directory: str, root: str, root_real: str) -> tuple[dict[str, list], list[str], list[Quarantined]]:
    """One directory: the columns of its input files, its subdirectories and what it rejects."""
    found: dict[str, list] = {c: [] for c in _SCANNED}
    subdirs: list[str] = []
    rejected: list[Quarantined] = []
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        return found, subdirs, [Quarantined(directory, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")]
    prefix = directory.rstrip(os.sep) + os.sep
    paths, sizes, mtimes, kinds = found["path"], found["size"], found["mtime_ns"], found["kind"]
    fast_kinds = _FAST_KINDS
    try:
        with os.scandir(fd) as it:
            entries = list(it)
        for entry in entries:
            name = entry.name
            try:
                if entry.is_file(follow_symlinks=False):  # the usual case first: a regular file, by the entry's type
                    kind = fast_kinds.get(name[name.rfind(".") + 1:]) if name[0] != "." else None
                    if kind is None and (kind := kind_of(name)) is None:
                        continue
                    st = entry.stat(follow_symlinks=False)
                    if st.st_mode & stat.S_IROTH or _readable(st, prefix + name):
                        paths.append(prefix + name)
                        sizes.append(st.st_size)
                        mtimes.append(st.st_mtime_ns)
                        kinds.append(kind)
                    else:
                        rejected.append(Quarantined(prefix + name, "unreadable", "permission denied"))
                elif entry.is_symlink():
                    bad = _check_link(prefix + name, name, root_real)
                    if bad:
                        rejected.append(bad)
                elif entry.is_dir(follow_symlinks=False):
                    subdirs.append(prefix + name)
                elif kind_of(name):
                    mode = entry.stat(follow_symlinks=False).st_mode
                    rejected.append(Quarantined(prefix + name, "not_a_file", f"mode {stat.filemode(mode)}"))
            except OSError as exc:
                rejected.append(Quarantined(prefix + name, "unreadable", str(exc)))
    except OSError as exc:
        rejected.append(Quarantined(directory, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}"))
    finally:
        os.close(fd)
    found["root"] = [root] * len(paths)
    return found, sorted(subdirs), rejected


_UID = os.geteuid()


def _readable(st: os.stat_result, path: str) -> bool:
    """Readable by this process: the mode bits answer the usual cases, ``os.access`` the rest."""
    if _UID == 0 or st.st_mode & stat.S_IROTH or (st.st_uid == _UID and st.st_mode & stat.S_IRUSR):
        return True
    return os.access(path, os.R_OK)


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


if __name__ == "__main__":  # a walker process (see _walk_in_processes)
    _task = json.loads(Path(sys.argv[1]).read_text())
    _found = _walk_subtrees(_task["directories"], _task["root"], _task["root_real"])
    with open(_task["out"], "wb") as _fh:
        pickle.dump(_found, _fh, protocol=pickle.HIGHEST_PROTOCOL)
