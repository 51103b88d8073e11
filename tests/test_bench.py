"""The benchmark's corpus generator and floor (the full benchmark is `make bench`)."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq

from bench.generate import generate
from bench.run import measure_floor


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generator_is_deterministic_and_its_truth_matches_the_lines(tmp_path):
    a, b = generate(30, tmp_path / "a"), generate(30, tmp_path / "b")
    assert a == b and _digest(tmp_path / "a") == _digest(tmp_path / "b")
    generate(30, tmp_path / "c", seed=1)
    assert _digest(tmp_path / "c") != _digest(tmp_path / "a")

    truth = pq.read_table(tmp_path / "a" / "truth.parquet").to_pylist()
    files = sorted((tmp_path / "a" / "docs").rglob("*.txt"))
    assert len(files) == 30 and len({t["doc_id"] for t in truth}) == 30
    by_doc = {}
    for t in truth:
        by_doc.setdefault(t["doc_id"], []).append(t["text"])
    for f in files:
        data = f.read_bytes()
        lines = [ln for ln in data.decode("utf-8").split("\n") if ln]
        assert by_doc[hashlib.sha256(data).hexdigest()] == lines
    labels = {t["label"] for t in truth}
    assert {"content", "boilerplate"} <= labels


def test_jsonl_corpus_and_floor(tmp_path):
    meta = generate(25, tmp_path / "c", fmt="jsonl", docs_per_jsonl=10)
    assert meta["docs"] == 25 and len(list((tmp_path / "c" / "jsonl").glob("*.jsonl"))) == 3
    assert measure_floor(tmp_path / "c", "jsonl", tmp_path / "floor", chunk=10) > 0
    assert sum(pq.read_metadata(p).num_rows for p in (tmp_path / "floor").glob("*.parquet")) == 25


def test_batch_profile_reports_every_stage_per_document():
    import subprocess
    import sys

    from tests.conftest import REPO

    res = subprocess.run([sys.executable, "-m", "bench.batch_profile", "--docs", "40", "--batch-docs", "20"],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("40 documents")
    stages = {line.rsplit(None, 2)[0].strip(): float(line.split()[-2]) for line in lines[1:]}
    assert set(stages) == {"extract + normalize", "clean", "MinHash", "word counts", "Parquet rows",
                           "Parquet write", "rest (read, rows)"}
    assert stages["clean"] > 0 and stages["word counts"] > 0


def test_syndicated_corpus_copies_each_story_many_times(tmp_path):
    """--syndicated N: N outlets' copies of each story, each with its own edits and boilerplate,
    most sentences shared with the story's other copies."""
    meta = generate(120, tmp_path / "s", syndicated=30)
    assert meta["syndicated"] == 30
    truth = pq.read_table(tmp_path / "s" / "truth.parquet").to_pylist()
    bodies: dict[str, list] = {}
    for t in truth:
        if t["label"] == "content":
            bodies.setdefault(t["doc_id"], []).append(t["text"])
    assert len(bodies) == 120 and len({"\n".join(b) for b in bodies.values()}) == 120  # no two copies alike
    docs = [{s.strip(" .").split(") - ")[-1] for p in b for s in p.split(". ")} for b in bodies.values()]
    # documents i and i + 4 tell the same story (4 stories, round robin): most sentences shared
    shared = [len(docs[i] & docs[i + 4]) / len(docs[i] | docs[i + 4]) for i in range(0, 100)]
    unrelated = [len(docs[i] & docs[i + 1]) / len(docs[i] | docs[i + 1]) for i in range(0, 100)]
    assert sum(shared) / len(shared) > 0.6 and max(unrelated) < 0.1
