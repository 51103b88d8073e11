"""Walking the inputs: GNU find and the Python walker find the same files with the same stats and
reject the same entries; a walk started early hands its result to the plan."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from news_etl.tasks.ingest import inputs
from news_etl.tasks.ingest.inputs import gnu_find, walk_early, walk_tables

needs_find = pytest.mark.skipif(gnu_find() is None, reason="no GNU find 4.9 here")


def _tree(root: Path, outside: Path) -> list[str]:
    """A tree with every kind of entry the walk decides on; returns its top directories."""
    tops = []
    for i in range(10):
        top = root / f"d{i:02d}"
        (top / "deeper" / "deepest").mkdir(parents=True)
        tops.append(str(top))
        for j in range(30):
            (top / f"{j:03d}.txt").write_text(f"doc {i} {j}\n")
        (top / "deeper" / f"page-{i}.HTML").write_text("<p>x</p>")
        (top / "deeper" / "deepest" / f"feed-{i}.jsonl").write_text('{"text": "x"}\n')
    d = root / "d00"
    for name in (".hidden.txt", "x..txt", "Upper.TxT", "a.htm", "b.text", "c.jsonl.gz", ".jsonl.gz",
                 "with space.txt", "with\ttab.txt", "with\nnewline.txt", "ümlaut.txt"):
        (d / name).write_text("x\n")
    for name in (".txt", "..txt", "notes.md", "archive.gz", "noext"):  # not inputs
        (d / name).write_text("x\n")
    os.close(os.open(os.path.join(os.fsencode(d), b"latin-\xe9.txt"), os.O_CREAT | os.O_WRONLY))  # not UTF-8
    os.mkfifo(d / "pipe.txt")
    os.mkfifo(d / "pipe.dat")  # (a pipe of no input kind: nothing to say)
    (outside / "secret.txt").write_text("secret\n")
    (d / "inside.txt").symlink_to(d / "000.txt")
    (d / "outside.txt").symlink_to(outside / "secret.txt")
    (d / "outside-dir").symlink_to(outside, target_is_directory=True)
    (d / "broken.txt").symlink_to(d / "gone.txt")
    (d / "broken.dat").symlink_to(d / "gone.dat")
    (d / "loop").symlink_to(d, target_is_directory=True)
    os.utime(d / "001.txt", ns=(0, 1_700_000_000_123_456_789))
    os.utime(d / "002.txt", ns=(0, -5_250_000_000))  # before 1970: find writes -6.75
    os.utime(d / "003.txt", ns=(0, 1_700_000_000_000_000_000))
    return tops


def _walked(found) -> tuple[pa.Table, set]:
    tables, rejected = [], set()
    for item in found:
        table, bad = item.parse() if isinstance(item, inputs.FindOutput) else item
        tables.append(table)
        rejected |= {(q.source_uri, q.reason) for q in bad}
    return pa.concat_tables(tables).sort_by("path"), rejected


@needs_find
def test_find_and_python_walkers_agree(tmp_path):
    root, outside = tmp_path / "in", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    tops = _tree(root, outside)
    python = _walked([inputs._walk_subtrees(tops, str(root), str(root))])
    find = _walked(inputs._walk_in_processes(tops, str(root), str(root), 2, tmp_path))
    assert find[0].equals(python[0])
    assert find[1] == python[1]
    table, rejected = find
    names = {os.path.basename(p) for p in table["path"].to_pylist()}
    assert {".hidden.txt", "x..txt", "Upper.TxT", "c.jsonl.gz", ".jsonl.gz", "with\nnewline.txt", "ümlaut.txt"} <= names
    assert not names & {".txt", "..txt", "notes.md", "archive.gz", "noext", "inside.txt", "outside.txt", "pipe.txt"}
    assert table.num_rows == 10 * 32 + 11
    mtimes = dict(zip(table["path"].to_pylist(), table["mtime_ns"].to_pylist()))
    assert mtimes[str(root / "d00" / "001.txt")] == 1_700_000_000_123_456_789
    assert mtimes[str(root / "d00" / "002.txt")] == -5_250_000_000
    assert {(os.path.basename(u), r) for u, r in rejected} == {("latin-\\xe9.txt", "bad_file_name"),
        ("outside.txt", "link_outside_root"), ("outside-dir", "link_outside_root"), ("broken.txt", "broken_link"),
        ("loop", "symlink_loop"), ("pipe.txt", "not_a_file")}


@needs_find
def test_a_share_find_fails_on_is_walked_again_by_python(tmp_path, monkeypatch):
    """find stops at an entry it cannot read (or one that vanished) with an error: the Python
    walker walks that share again and says which entry it was."""
    root, outside = tmp_path / "in", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    tops = _tree(root, outside)
    expected = _walked([inputs._walk_subtrees(tops, str(root), str(root))])
    monkeypatch.setattr(inputs, "_find_command", lambda find, out: [find, "/no/such/directory"])
    assert _walked(inputs._walk_in_processes(tops, str(root), str(root), 2, tmp_path)) == expected


@needs_find
def test_a_find_output_whose_files_disagree_is_walked_again_by_python(tmp_path, monkeypatch):
    """Paths and stats counting different records (a record written in half) are not guessed at."""
    root, outside = tmp_path / "in", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    tops = _tree(root, outside)
    expected = _walked([inputs._walk_subtrees(tops, str(root), str(root))])
    half = "printf '%s\\0' /x/a.txt /x/b.txt > \"$1/paths\"; printf '1 0.0000000000 0 644\\n' > \"$1/stats\""
    monkeypatch.setattr(inputs, "_find_command", lambda find, out: ["sh", "-c", half, "sh", str(out)])
    assert _walked(inputs._walk_in_processes(tops, str(root), str(root), 2, tmp_path)) == expected


def test_a_big_tree_walks_the_same_with_either_walker(tmp_path, monkeypatch):
    root, outside = tmp_path / "in", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    _tree(root, outside)
    for i in range(12):  # more files than a walk does in-process
        (root / f"bulk{i}").mkdir()
        for j in range(250):
            (root / f"bulk{i}" / f"{j}.txt").write_text("x\n")
    first = _walked(walk_tables([root], workdir=tmp_path))
    monkeypatch.setenv("NEWS_ETL_WALKER", "python")
    gnu_find.cache_clear()
    try:
        assert inputs.gnu_find() is None
        assert _walked(walk_tables([root], workdir=tmp_path)) == first
    finally:
        monkeypatch.delenv("NEWS_ETL_WALKER")
        gnu_find.cache_clear()
    assert first[0].num_rows == 12 * 250 + 10 * 32 + 11


def test_a_walk_started_early_is_the_next_walk_of_the_same_inputs(tmp_path):
    root = tmp_path / "in"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.txt").write_text("one\n")
    walk_early([root])
    (root / "a" / "two.txt").write_text("two\n")  # after the early walk may have passed: the next run finds it
    early = _walked(walk_tables([root]))
    assert set(early[0]["path"].to_pylist()) <= {str(root / "a" / "one.txt"), str(root / "a" / "two.txt")}
    assert not inputs._EARLY
    assert _walked(walk_tables([root]))[0]["path"].to_pylist() == [str(root / "a" / "one.txt"), str(root / "a" / "two.txt")]
    walk_early([tmp_path / "missing"])
    with pytest.raises(FileNotFoundError, match="input not found"):
        list(walk_tables([tmp_path / "missing"]))


def test_a_file_reached_through_two_inputs_is_one_candidate(tmp_path):
    """Inputs inside one another (by path or through a link) give each file once; disjoint inputs
    skip the deduplication."""
    from news_etl.tasks.layout import WarehouseLayout
    from news_etl.tasks.options import RunOptions
    from news_etl.tasks.warehouse.plan import _overlapping, plan

    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    for name in ("a.txt", "sub/b.txt", "sub/c.txt"):
        (root / name).write_text(f"{name}\n")
    (tmp_path / "link.txt").symlink_to(root / "sub" / "c.txt")
    other = tmp_path / "other"
    other.mkdir()
    (other / "d.txt").write_text("d\n")
    given = [root, root / "sub", root / "sub" / "b.txt", tmp_path / "link.txt", other]
    options = RunOptions(inputs=[str(p) for p in given], warehouse=str(tmp_path / "wh")).resolved()
    p = plan(options, WarehouseLayout(tmp_path / "wh"), "run-1")
    assert p.found == 8  # walked
    assert sorted(pq.read_table(p.batches[0])["path"].to_pylist()) == sorted(
        str(f) for f in (root / "a.txt", root / "sub" / "b.txt", root / "sub" / "c.txt", other / "d.txt"))
    assert _overlapping([str(root), str(root / "sub")]) and _overlapping([str(root), str(root)])
    assert _overlapping([str(tmp_path / "link.txt"), str(root / "sub")])
    assert not _overlapping([str(root), str(other), str(tmp_path / "in2")])


@needs_find
def test_a_walk_parses_only_the_blocks_the_last_walk_did_not_see(tmp_path, monkeypatch):
    """find's output comes in blocks: a block the last committed walk saw byte for byte is
    counted, not parsed; a file modified in place or added makes its block new, and a block with
    a rejected entry is never remembered."""
    from news_etl.tasks.ingest.inputs import WalkMemory

    monkeypatch.setattr(inputs, "IN_PROCESS_FILES_FIND", 0)  # the whole tree goes to find
    monkeypatch.setattr(inputs, "MIN_SUBTREES", 1)
    monkeypatch.setattr(inputs.FindOutput, "BLOCK_FILES", 2)  # a block a directory
    root = tmp_path / "in"
    for i in range(4):
        (root / f"d{i}").mkdir(parents=True)
        for j in range(5):
            (root / f"d{i}" / f"{j:03d}.txt").write_text(f"doc {i} {j}\n")
        (root / f"d{i}" / "notes.md").write_text("not an input\n")
    os.close(os.open(os.path.join(os.fsencode(root / "d3"), b"latin-\xe9.txt"), os.O_CREAT | os.O_WRONLY))

    def walked(known: dict) -> tuple[list[str], WalkMemory]:
        memory = WalkMemory(known=dict(known))
        table, _ = _walked(walk_tables([root], workdir=tmp_path, memory=memory))
        return [os.path.relpath(p, root) for p in table["path"].to_pylist()], memory

    paths, first = walked({})
    assert len(paths) == 20 and first.skipped == 0
    assert sorted(first.seen.values()) == [0, 5, 5, 5]  # the root's record, d0-d2; d3's block holds a rejected name

    paths, second = walked(first.seen)
    assert paths == [f"d3/{j:03d}.txt" for j in range(5)] and second.skipped == 15
    assert second.seen == first.seen

    os.utime(root / "d1" / "002.txt", ns=(1, 1_700_000_000_000_000_001))  # in place: a new mtime
    (root / "d2" / "new.txt").write_text("new\n")
    paths, third = walked(second.seen)
    assert sorted(p for p in paths if not p.startswith("d3")) == [*(f"d1/{j:03d}.txt" for j in range(5)),
                                                                 *(f"d2/{j:03d}.txt" for j in range(5)), "d2/new.txt"]
    assert third.skipped == 5 and sorted(third.seen.values()) == [0, 5, 5, 6]
    assert len(set(third.seen) & set(second.seen)) == 2  # the root's and d0's blocks


@needs_find
def test_blocks_start_where_the_tree_says_not_where_a_change_was(tmp_path):
    """Small directories share blocks cut by their paths, big ones have their own: a file added to
    one directory changes its block only."""
    root = tmp_path / "in"
    for i in range(300):
        (root / f"a{i:04d}").mkdir(parents=True)
        (root / f"a{i:04d}" / "index.html").write_text("x")
    (root / "big").mkdir()
    for j in range(100):
        (root / "big" / f"{j}.txt").write_text("x")

    def output() -> inputs.FindOutput:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        out.mkdir()
        (out / "directories").write_bytes(os.fsencode(root) + b"\0")
        assert subprocess.run(inputs._find_command(gnu_find(), out)).returncode == 0
        found = inputs.FindOutput.read(out, [str(root)], str(root), str(root))
        assert found._cut()
        return found

    before = output()
    sizes = (before.blocks[:, 1] - before.blocks[:, 0]).tolist()
    assert sum(sizes) == 1 + 300 * 2 + 1 + 100 and 1 < len(sizes) < 300  # every record, in blocks of several
    (root / "a0150" / "more.html").write_text("y")
    after = output()
    assert len(set(after.digests) - set(before.digests)) == 1
    assert len(set(before.digests) - set(after.digests)) == 1
