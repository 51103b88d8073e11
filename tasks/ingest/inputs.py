"""Input files: found under the given paths (never leaving them through links), and the batch
files the plan hands to the batch tasks."""

from __future__ import annotations

import collections
import functools
import hashlib
import os
import shutil
import stat
import json
import pickle
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
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


@dataclass
class WalkMemory:
    """What a walk knows of the last committed run's walk, and what it tells the next run.

    find's output comes in blocks: the files it lists after one directory and before the next.
    A block whose bytes (each file's path, size, mtime, owner and mode) equal a block of the last
    committed run's walk holds only files that run found unchanged or loaded, with those same
    sizes and mtimes: they are unchanged now, so the block is counted (``known``: its digest and
    its input files) and not parsed or looked up in the manifest."""

    known: dict[bytes, int] = field(default_factory=dict)  # the last committed walk's blocks
    seen: dict[bytes, int] = field(default_factory=dict)  # this walk's blocks, for the next run
    skipped: int = 0  # input files in known blocks


def walk_tables(inputs: list[str | Path], processes: int = 2, chunk: int = 50_000,
                workdir: str | Path | None = None, memory: WalkMemory | None = None) -> Iterator[tuple[pa.Table, list[Quarantined]]]:
    """The files under the given paths, as ``_walk_tables`` finds them, or as the walk this
    process started early (``walk_early``) for the same paths found them; with ``memory``, the
    blocks it knows are left out (``WalkMemory``)."""
    early = _EARLY.pop(_key(inputs), None)
    found = _walk_tables(inputs, processes, chunk, workdir) if early is None else early.handed_over()
    for item in found:
        yield item.parse(memory) if isinstance(item, FindOutput) else item


def walk_early(inputs: list[str | Path]) -> None:
    """Start walking ``inputs`` now, in a thread, for this process's next ``walk_tables`` of the
    same paths: ``news-etl run`` starts it while Prefect starts, which takes a core for seconds.
    A file that changes after the walk is found changed by the next run."""
    walk = _EarlyWalk(list(inputs))
    _EARLY[_key(inputs)] = walk
    walk.start()


class _EarlyWalk(threading.Thread):
    """The walk, in a thread that hands each result over as it comes (``handed_over``). It only
    walks and maps find's outputs: the work on them is the plan's, on the thread that frees it
    (glibc gives the memory a thread's arena held back only as far as that arena lets it)."""

    def __init__(self, inputs: list[str | Path]):
        super().__init__(name="news-etl-walk", daemon=True)
        self.inputs, self.results, self.error, self.done = inputs, collections.deque(), None, False
        self.ready = threading.Condition()

    def run(self) -> None:
        try:
            for item in _walk_tables(self.inputs, nice=10):  # Prefect's start-up keeps its core
                with self.ready:
                    self.results.append(item)
                    self.ready.notify()
        except BaseException as exc:  # noqa: BLE001 - raised again where the walk is asked for
            self.error = exc
        finally:
            with self.ready:
                self.done = True
                self.ready.notify()

    def handed_over(self) -> Iterator:
        while True:
            with self.ready:
                self.ready.wait_for(lambda: self.results or self.done)
                if not self.results:
                    break
                item = self.results.popleft()
            yield item
        if self.error is not None:
            raise self.error


_EARLY: dict[tuple[str, ...], _EarlyWalk] = {}


def _key(inputs: list[str | Path]) -> tuple[str, ...]:
    return tuple(os.path.abspath(str(i)) for i in inputs)


def _walk_tables(inputs: list[str | Path], processes: int = 2, chunk: int = 50_000,
                 workdir: str | Path | None = None, nice: int = 0) -> Iterator[tuple[pa.Table, list[Quarantined]] | FindOutput]:
    """The files under the given paths (recursively) as tables of ``FILE_SCHEMA`` (about ``chunk``
    rows each) with the entries rejected on the way, or as find's outputs that give such a table
    when parsed; never leaving a root through links (links
    whose target lies inside the root are skipped: the walk reaches their target anyway).

    Each file costs one ``lstat`` (``os.scandir``'s entry already tells a file from a directory or
    a link): re-walking a million unchanged files is most of what a scheduled run's plan pays. A
    big tree (more than ``IN_PROCESS_FILES`` files and directories left) is walked on by
    ``processes`` processes (their results pass through ``workdir``): GNU find where there is one,
    else Python walkers.

    A given directory that is a link is followed (its target is the root); a given file that is a
    link is read only when its target lies in the link's own directory, as a link found there would
    be: a link to anywhere else is quarantined, its target neither read nor copied."""
    columns: dict[str, list] = {c: [] for c in _SCANNED}
    rejected: list[Quarantined] = []

    def flush(force: bool = False):
        nonlocal columns, rejected
        if len(columns["path"]) >= (1 if force else chunk) or (force and rejected):
            yield _table(columns, rejected), rejected
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
        in_process = IN_PROCESS_FILES if gnu_find() is None else IN_PROCESS_FILES_FIND
        while stack and (walked < in_process or len(stack) < MIN_SUBTREES or processes < 2):
            found, subdirs, bad = _scan(stack.pop(), root, root_real)
            stack.extend(reversed(subdirs))
            rejected += bad
            walked += len(found["path"])
            for c in _SCANNED:
                columns[c] += found[c]
            yield from flush()
        if stack:
            for share in _walk_in_processes(stack, root, root_real, processes, workdir, nice):
                yield from flush(force=True)
                yield share
    yield from flush(force=True)


_SCANNED = ("path", "root", "size", "mtime_ns", "kind")
IN_PROCESS_FILES = 20_000  # a tree bigger than this is walked on by processes ...
IN_PROCESS_FILES_FIND = 2_000  # (by find processes, which start in milliseconds)
MIN_SUBTREES = 8  # ... when at least this many directories are left to walk


def _table(columns: dict[str, list], rejected: list[Quarantined]) -> pa.Table:
    """The columns as a table; files whose names are not UTF-8 go to ``rejected`` instead."""
    try:
        pa.array(columns["path"], pa.string())
    except UnicodeEncodeError:
        bad = {i for i, path in enumerate(columns["path"]) if not _utf8(path)}
        rejected.extend(_undecodable(columns["path"][i]) for i in sorted(bad))
        columns = {c: [v for i, v in enumerate(values) if i not in bad] for c, values in columns.items()}
    n = len(columns["path"])
    return pa.table({**columns, "offset": [0] * n, "length": [-1] * n, "first_line": [1] * n}, schema=FILE_SCHEMA)


def _walk_in_processes(directories: list[str], root: str, root_real: str, processes: int,
                       workdir: str | Path | None, nice: int = 0) -> Iterator[tuple[pa.Table, list[Quarantined]] | FindOutput]:
    """Walk the trees under ``directories`` in ``processes`` processes, each writing what it found
    to files in ``workdir``: GNU ``find`` where there is one (it stats a file for less than half
    of what Python's ``os.scandir`` costs, and its output is read in vectorised Arrow kernels), else
    ``python -m news_etl.tasks.ingest.inputs TASK`` (nothing of this process comes along)."""
    find = gnu_find()
    with tempfile.TemporaryDirectory(prefix="walk-", dir=workdir) as tmp:
        started = []
        for i in range(processes):
            share, out = directories[i::processes], Path(tmp) / f"share-{i}"
            if not share:
                continue
            out.mkdir()
            if find:
                (out / "directories").write_bytes(b"".join(os.fsencode(d) + b"\0" for d in share))
                command = _find_command(find, out)
            else:
                (out / "task.json").write_text(json.dumps({"directories": share, "root": root, "root_real": root_real,
                                                           "out": str(out / "found.pickle")}))
                command = [sys.executable, "-m", __name__, str(out / "task.json")]
            started.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             preexec_fn=(lambda: os.nice(nice)) if nice else None), share, out))

        def finished(proc, share, out) -> tuple[pa.Table, list[Quarantined]] | FindOutput:
            code = proc.wait()
            if find and code == 0:
                return FindOutput.read(out, share, root, root_real)
            if find:  # it met an entry it could not read (or one vanished): the Python walker says which
                return _walk_subtrees(share, root, root_real)
            if code != 0:
                raise RuntimeError(f"walking {root} failed in a worker process (exit code {code})")
            with open(out / "found.pickle", "rb") as fh:
                return pickle.load(fh)

        for share in started:  # in order: each share as its walker ends
            yield finished(*share)


@functools.cache
def gnu_find() -> str | None:
    """The path of GNU find 4.9 or later (``-files0-from``), or None."""
    path = shutil.which("find")
    if not path or os.environ.get("NEWS_ETL_WALKER") == "python":
        return None
    try:
        first = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout.partition("\n")[0]
    except (OSError, subprocess.SubprocessError):
        return None
    version = first.rpartition(" ")[2].split(".")
    if "GNU findutils" not in first or not all(v.isdigit() for v in version[:2]):
        return None
    return path if tuple(int(v) for v in version[:2]) >= (4, 9) else None


# ``kind_of`` in Arrow kernels: the extension after the last dot of the name, in any case, after a
# name that is not only dots (a non-dot before the last dot); ``x.jsonl.gz`` is its own kind.
_KIND_SUFFIXES = {**{f".{ext}": kind for ext, kind in _EXTENSIONS.items()}, ".jsonl.gz": "jsonl.gz"}
_NAMED_BEFORE_EXTENSION = r"[^/.][^/]*\.[^./]*$"


def _find_command(find: str, out: Path) -> list[str]:
    """find over the directories listed in ``out/directories``, never following links, writing for
    each regular file its path (``paths``) and size, mtime, owner and permissions (``stats``), in
    the same order, with a record of size -1 for each directory (the blocks of ``FindOutput``), and
    every entry that is neither a file nor a directory (links, pipes, devices) to ``others``. Names
    are matched to kinds afterwards, in Arrow: find's ``-iname`` costs more than the stat."""
    paths, stats = str(out / "paths"), str(out / "stats")
    return [find, "-P", "-files0-from", str(out / "directories"),
            "(", "-type", "f", "-fprintf", paths, "%p\\0", "-fprintf", stats, "%s %T@ %U %m\\n", ")",
            "-o", "(", "-type", "d", "-fprintf", paths, "%p\\0", "-fprintf", stats, f"{_DIRECTORY_STATS}\\n", ")",
            "-o", "(", "-fprintf", str(out / "others"), "%y%p\\0", ")"]


_DIRECTORY_STATS = "-1 0.0000000000 0 0"  # a directory's line in ``stats``: no file has a negative size


def _kinds(paths: pa.Array) -> pa.Array:
    """``kind_of`` of each path, null for other files."""
    tail = pc.ascii_lower(pc.utf8_slice_codeunits(paths, -max(map(len, _KIND_SUFFIXES))))
    kinds = pa.nulls(len(paths), pa.string())
    for suffix, kind in _KIND_SUFFIXES.items():
        kinds = pc.if_else(pc.ends_with(tail, suffix), kind, kinds)
    return pc.if_else(pc.match_substring_regex(paths, _NAMED_BEFORE_EXTENSION), kinds, pa.scalar(None, pa.string()))


class FindOutput:
    """One share's ``_find_command`` output, mapped from its files, cut into blocks with a digest
    each and parsed into a table when asked (``parse``).

    A block starts at a directory's record and ends before the next block's. Where blocks start
    depends on nothing but the directory there and its neighbours, so that a change in one part
    of a tree leaves the other blocks as they were: a directory with ``BLOCK_FILES`` files or
    more (listed before its first subdirectory) has a block of its own, and smaller ones are cut
    into groups of about ``BLOCK_DIRECTORIES`` by a hash of their paths' ends."""

    BLOCK_FILES = 64
    BLOCK_DIRECTORIES = 64  # a power of two

    def __init__(self, paths, stats, others: list[str], share: list[str], root: str, root_real: str):
        self.paths, self.stats, self.others, self.share, self.root, self.root_real = paths, stats, others, share, root, root_real

    @classmethod
    def read(cls, out: Path, share: list[str], root: str, root_real: str) -> FindOutput:
        """The output in ``out``, mapped: its files can go, the mapping keeps their pages (and
        none of this process's heap) until it is parsed."""
        paths, stats = (pa.memory_map(str(f)).read_buffer() if f.exists() else b"" for f in (out / "paths", out / "stats"))
        return cls(paths, stats, _nul_separated(out / "others"), share, root, root_real)

    def _cut(self) -> bool:
        """Find the records (``path_ends``, ``stat_ends``), the ``blocks`` (record ranges) and
        their ``digests``; False if the two files disagree on the number of records."""
        self.path_ends = np.flatnonzero(np.frombuffer(self.paths, np.uint8) == 0)
        self.stat_ends = np.flatnonzero(np.frombuffer(self.stats, np.uint8) == ord("\n"))
        n = len(self.stat_ends)
        if len(self.path_ends) != n:
            return False
        starts = np.concatenate([[0], self.stat_ends[:n - 1] + 1]).astype(np.int64)
        directories = np.flatnonzero(np.frombuffer(self.stats, np.uint8)[starts[:n]] == ord("-")) if n else np.empty(0, np.int64)
        first = np.concatenate([[0], directories[self._starts_block(directories, n)]])
        first = first[np.concatenate([[True], first[1:] > first[:-1]])] if len(first) > 1 else first
        self.blocks = np.stack([first, np.concatenate([first[1:], [n]])], axis=1)[first < n]  # record ranges
        path_mv, stat_mv = memoryview(self.paths), memoryview(self.stats)
        self.digests = []
        for a, b in self.blocks.tolist():
            h = hashlib.sha256(_BLOCK_SALT)
            h.update(path_mv[self._path_start(a):int(self.path_ends[b - 1]) + 1])
            h.update(stat_mv[self._stat_start(a):int(self.stat_ends[b - 1]) + 1])
            self.digests.append(h.digest()[:16])
        return True

    def _starts_block(self, directories: np.ndarray, n: int) -> np.ndarray:
        """Which directory records start a block (see the class's doc)."""
        if not len(directories):
            return np.zeros(0, bool)
        following = np.diff(np.concatenate([directories, [n]])) - 1  # file records up to the next directory
        preceding = np.concatenate([[directories[0]], following[:-1]])
        data = np.frombuffer(self.paths, np.uint8)
        tail = data[np.maximum(self.path_ends[directories][:, None] - 8 + np.arange(8), 0)].astype(np.uint64)
        key = (tail << (np.arange(8, dtype=np.uint64) * np.uint64(8))).sum(axis=1, dtype=np.uint64)
        bits = np.uint64(64 - int(self.BLOCK_DIRECTORIES).bit_length() + 1)
        hashed = (key * np.uint64(0x9E3779B97F4A7C15)) >> bits  # Fibonacci hashing: the top bits
        return (hashed == 0) | (following >= self.BLOCK_FILES) | (preceding >= self.BLOCK_FILES)

    def _path_start(self, record: int) -> int:
        return int(self.path_ends[record - 1]) + 1 if record else 0

    def _stat_start(self, record: int) -> int:
        return int(self.stat_ends[record - 1]) + 1 if record else 0

    def parse(self, memory: WalkMemory | None = None) -> tuple[pa.Table, list[Quarantined]]:
        """The files of a known kind as a table of ``FILE_SCHEMA`` and the entries rejected; the
        blocks ``memory`` knows only counted, the digests of this walk's blocks kept in it."""
        if not self._cut():  # (find wrote a record half): the Python walker walks the share again
            self.paths = self.stats = None
            return _walk_subtrees(self.share, self.root, self.root_real)
        known = memory.known if memory is not None else {}
        todo = []
        for i, digest in enumerate(self.digests):
            if digest not in known:
                todo.append(i)
            else:
                memory.seen[digest] = known[digest]
                memory.skipped += known[digest]
        ranges = self.blocks[todo].tolist()
        if len(todo) == len(self.digests):  # (a first walk: every record, without a copy)
            paths, stats, ends = self.paths, self.stats, self.path_ends
        else:
            path_mv, stat_mv = memoryview(self.paths), memoryview(self.stats)
            paths = b"".join(path_mv[self._path_start(a):int(self.path_ends[b - 1]) + 1] for a, b in ranges)
            stats = b"".join(stat_mv[self._stat_start(a):int(self.stat_ends[b - 1]) + 1] for a, b in ranges)
            # the records' ends in the joined paths, from those already found
            ends, at = [np.empty(0, np.int64)], 0
            for a, b in ranges:
                ends.append(self.path_ends[a:b] - self._path_start(a) + at)
                at += int(self.path_ends[b - 1]) + 1 - self._path_start(a)
            ends = np.concatenate(ends)
        block_of = np.repeat(np.arange(len(ranges)), [b - a for a, b in ranges]) if ranges else np.empty(0, np.int64)
        self.paths = self.stats = self.path_ends = self.stat_ends = None  # parsed once: its buffers go now
        table, rejected, kept, bad = _parse_records(paths, stats, self.root, self.root_real, ends)
        del paths, stats, ends
        rejected = _check_others(self.others, self.root_real) + rejected
        if memory is not None and ranges:
            files = np.bincount(block_of[kept], minlength=len(ranges))
            dirty = np.bincount(block_of[bad], minlength=len(ranges)) > 0
            for j, i in enumerate(todo):
                if not dirty[j]:
                    memory.seen[self.digests[i]] = int(files[j])
        return table, rejected


# what a block's digest depends on besides its bytes: which names are inputs, and who reads them
_BLOCK_SALT = json.dumps(["news-etl find blocks 1", sorted(_KIND_SUFFIXES.items()), _NAMED_BEFORE_EXTENSION,
                          os.geteuid()]).encode()


def _check_others(entries: list[str], root_real: str) -> list[Quarantined]:
    """The links and special files find listed (``%y%p``) that are rejected."""
    rejected = []
    for entry in entries:
        kind, path = entry[0], entry[1:]
        name = os.path.basename(path)
        if kind == "l":
            bad = _check_link(path, name, root_real)
        elif kind_of(name):
            bad = Quarantined(path, "not_a_file", f"mode {stat.filemode(os.lstat(path).st_mode)}")
        else:
            bad = None
        if bad:
            rejected.append(bad)
    return rejected


def _parse_records(path_data, stat_data, root: str, root_real: str,
                   path_ends: np.ndarray) -> tuple[pa.Table, list[Quarantined], np.ndarray, np.ndarray]:
    """File records of ``_find_command`` (NUL-terminated paths ending at ``path_ends``, lines of
    stats; bytes or Arrow buffers) as a table of ``FILE_SCHEMA`` of the files of a known kind, the
    files rejected, and which records became rows (``kept``) or rejections (``bad``)."""
    rejected: list[Quarantined] = []
    paths = _paths(path_data, path_ends)
    n = len(paths)
    if not n:
        return _table({c: [] for c in _SCANNED}, rejected), rejected, np.zeros(0, bool), np.zeros(0, bool)
    stats = pacsv.read_csv(pa.BufferReader(stat_data), read_options=pacsv.ReadOptions(column_names=["size", "mtime", "uid", "mode"]),
                           parse_options=pacsv.ParseOptions(delimiter=" "),
                           convert_options=pacsv.ConvertOptions(column_types={
                               "size": pa.int64(), "mtime": pa.string(), "uid": pa.int64(), "mode": pa.int64()}))
    bad = np.zeros(n, bool)
    good = None
    if isinstance(paths, list):  # some names are not UTF-8
        good = np.array([_utf8(path) for path in paths], bool)
        for i in np.flatnonzero(~good).tolist():
            if kind_of(paths[i]):
                rejected.append(_undecodable(paths[i]))
                bad[i] = True
        paths = pa.array([p if ok else "" for p, ok in zip(paths, good.tolist())], pa.string())
    kinds = _kinds(paths)
    keep = pc.and_(pc.is_valid(kinds), pc.greater_equal(stats["size"], 0)).to_numpy(zero_copy_only=False)
    if good is not None:
        keep &= good
    if _UID != 0:
        # readable as _scan decides: by anyone, or by its owner being us (%m is octal digits read as decimal)
        mode, uid = stats["mode"], stats["uid"]
        readable = pc.or_(pc.not_equal(pc.bit_wise_and(_octal_digit(mode, 0), 4), 0),
                          pc.and_(pc.equal(uid, _UID), pc.not_equal(pc.bit_wise_and(_octal_digit(mode, 2), 4), 0)))
        for i in np.flatnonzero(keep & ~readable.to_numpy(zero_copy_only=False)).tolist():
            path = paths[i].as_py()
            if not _readable(os.lstat(path), path):
                rejected.append(Quarantined(path, "unreadable", "permission denied"))
                keep[i] = False
                bad[i] = True
    mask = pa.array(keep)
    paths, kinds, stats = paths.filter(mask), kinds.filter(mask), stats.filter(mask)
    # %T@ is seconds, a dot and ten digits of the fraction (nanoseconds and a 0), the fraction
    # counting forward from the seconds even before 1970 (-5.25 s is "-6.75…")
    seconds_fraction = pc.split_pattern(stats["mtime"], ".")
    mtime_ns = pc.add(pc.multiply(pc.list_element(seconds_fraction, 0).cast(pa.int64()), 1_000_000_000),
                      pc.utf8_slice_codeunits(pc.list_element(seconds_fraction, 1), 0, 9).cast(pa.int64()))
    rows = len(paths)
    table = pa.table({"path": paths, "root": pa.repeat(root, rows), "size": stats["size"], "mtime_ns": mtime_ns, "kind": kinds,
                      "offset": pa.repeat(pa.scalar(0, pa.int64()), rows), "length": pa.repeat(pa.scalar(-1, pa.int64()), rows),
                      "first_line": pa.repeat(pa.scalar(1, pa.int64()), rows)}, schema=FILE_SCHEMA)
    return table, rejected, keep, bad


def _octal_digit(mode: pa.Array, k: int) -> pa.Array:
    """Digit ``k`` (from the right) of find's ``%m``, octal digits read as a decimal number."""
    return pc.subtract(pc.divide(mode, 10 ** k), pc.multiply(pc.divide(mode, 10 ** (k + 1)), 10))


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _undecodable(path: str) -> Quarantined:
    """A file whose name is not UTF-8 (``os.fsdecode`` kept its bytes as surrogates): named with
    those bytes escaped, its content kept as a copy."""
    return Quarantined(os.fsencode(path).decode("utf-8", "backslashreplace"), "bad_file_name",
                       "the file name is not UTF-8", copy_of=path)


def _nul_separated(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [os.fsdecode(p) for p in path.read_bytes().split(b"\0")[:-1]]


def _paths(data, ends: np.ndarray) -> pa.Array | list[str]:
    """NUL-terminated paths (their NULs at ``ends``) as a string array: one buffer and its offsets,
    no Python object per path; paths that are not UTF-8 decoded as ``os.fsdecode`` does (as
    ``os.scandir`` gives them)."""
    if not data:
        return pa.array([], pa.string())
    offsets = np.concatenate([[0], ends + 1])
    kind, offsets = (pa.string(), offsets.astype(np.int32)) if len(data) < 2**31 else (pa.large_string(), offsets.astype(np.int64))
    terminated = pa.Array.from_buffers(kind, len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    try:
        terminated.validate(full=True)
    except pa.ArrowInvalid:  # (kept as Python strings: _parse_records rejects those names)
        starts = np.concatenate([[0], ends[:-1] + 1])
        return [os.fsdecode(bytes(data[a:b])) for a, b in zip(starts.tolist(), ends.tolist())]
    del offsets, ends
    return pc.utf8_slice_codeunits(terminated, 0, -1).cast(pa.string())


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
    return _table(columns, rejected), rejected


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
