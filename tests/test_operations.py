"""Scheduled-run guarantees: incremental and idempotent loads, one writer at a time, crash safety."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from news_etl.tasks.crashpoints import POINTS
from news_etl.tasks.layout import WarehouseLayout
from news_etl.tasks.warehouse.lock import WarehouseBusy, WarehouseLock

from .conftest import REPO, SEEDS, run_etl

TABLES = ("documents", "articles", "boilerplate", "quarantine")


def table_counts(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    try:
        counts = {t: con.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0] for t in TABLES}
        counts["marts.articles"] = con.execute("SELECT count(*) FROM marts.articles").fetchone()[0]
        counts["meta.inputs"] = con.execute("SELECT count(*) FROM meta.inputs").fetchone()[0]
        return counts
    finally:
        con.close()


def lake_counts(warehouse: Path) -> dict:
    """Rows a BI tool reading the lake's Parquet files sees."""
    out = {}
    for t in TABLES:
        root = warehouse / "lake" / t
        out[t] = ds.dataset(root, partitioning="hive").count_rows() if root.exists() else 0
    return out


@pytest.fixture
def corpus(tmp_path) -> Path:
    """The seeds plus one bad file, so quarantine takes part in every check."""
    root = tmp_path / "in"
    shutil.copytree(SEEDS, root / "seeds")
    (root / "seeds" / "empty.txt").write_bytes(b"")
    return root


@pytest.mark.parametrize("walker", ["in process", "find"])
def test_second_run_skips_seen_inputs_and_duplicates_nothing(prefect_harness, corpus, tmp_path, monkeypatch, walker):
    """A re-run finds every input unchanged; a copy and a touched file are read again. With find
    walking the tree, the second run parses none of its output: the blocks are those the first
    run committed (``meta.walk_blocks``)."""
    from news_etl.tasks.ingest import inputs

    parsed = []
    if walker == "find":
        if inputs.gnu_find() is None:
            pytest.skip("no GNU find 4.9 here")
        monkeypatch.setattr(inputs, "IN_PROCESS_FILES_FIND", 0)
        monkeypatch.setattr(inputs, "MIN_SUBTREES", 1)
        parse = inputs._parse_records

        def counted(*args):
            result = parse(*args)
            parsed.append(result[0].num_rows)
            return result

        monkeypatch.setattr(inputs, "_parse_records", counted)
    warehouse = tmp_path / "wh"
    first = run_etl([corpus], warehouse, workers=1)
    assert (first.articles_out, first.quarantined, first.inputs_unchanged) == (5, 1, 0)
    counts = table_counts(warehouse)

    second = run_etl([corpus], warehouse, workers=1)
    assert second.inputs_found == 6 and second.inputs_unchanged == 6 and second.documents_in == 0
    assert table_counts(warehouse) == counts
    if walker == "find":
        assert parsed == [6, 0]

    # Same content under a new path, and a touched file: read again, recognised by doc_id.
    shutil.copy(corpus / "seeds" / "000_39ce13e694da38b8.txt", corpus / "copy-of-000.txt")
    os.utime(corpus / "seeds" / "001_f6ec2a7ac07d05d1.txt", ns=(1, 1))
    third = run_etl([corpus], warehouse, workers=1)
    assert third.inputs_unchanged == 5 and third.documents_in == 2 and third.duplicates == 2
    if walker == "find":
        assert sum(parsed[2:]) >= 6  # the blocks of the new copy and of the touched file
    assert third.articles_out == 0
    after = table_counts(warehouse)
    assert after == {**counts, "meta.inputs": 7}
    assert lake_counts(warehouse) == {t: counts[t] for t in TABLES}


def test_a_second_run_fails_at_once_while_one_holds_the_warehouse(prefect_harness, tmp_path):
    warehouse = tmp_path / "wh"
    with WarehouseLock(WarehouseLayout(warehouse), run_id="run-a"):
        with pytest.raises(WarehouseBusy, match="in use by run run-a"):
            WarehouseLock(WarehouseLayout(warehouse), run_id="run-b").acquire()
        proc = subprocess.run(
            [sys.executable, "-m", "news_etl.flows.cli", "run", "--input", str(SEEDS), "--warehouse", str(warehouse)],
            cwd=REPO, capture_output=True, text=True, timeout=120, env=_env(),
        )
    assert proc.returncode == 5  # the exit code of a busy warehouse
    assert proc.stderr.strip().startswith("news-etl run: error: warehouse") and "in use by run run-a" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_wait_queues_behind_the_running_one(tmp_path):
    warehouse = tmp_path / "wh"
    holder = WarehouseLock(WarehouseLayout(warehouse), run_id="first").acquire()
    threading.Timer(0.5, holder.release).start()
    started = time.monotonic()
    with WarehouseLock(WarehouseLayout(warehouse), run_id="second", wait_seconds=30) as lock:
        assert lock.holder()["run_id"] == "second"
    assert time.monotonic() - started >= 0.4


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    warehouse = tmp_path / "wh"
    code = ("from news_etl.tasks.layout import WarehouseLayout; from news_etl.tasks.warehouse.lock import WarehouseLock; "
            f"WarehouseLock(WarehouseLayout({str(warehouse)!r}), 'dead').acquire(); import os; os._exit(0)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, env=_env())
    assert WarehouseLock(WarehouseLayout(warehouse)).holder()["run_id"] == "dead"  # the file still names the dead run
    with WarehouseLock(WarehouseLayout(warehouse), run_id="next") as lock:
        assert lock.took_over["run_id"] == "dead"


def _env() -> dict:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ)
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    return env


def test_kill_at_any_point_then_rerun_loads_every_document_exactly_once(prefect_harness, corpus, tmp_path):
    """SIGKILL a real `news-etl run` process at each crash point; readers never see partial data,
    and the next run leaves every document exactly once."""
    procs = {}
    for point in POINTS:
        warehouse = tmp_path / point
        if point != "after_plan":  # an earlier run already loaded part of the inputs
            run_etl([corpus / "seeds" / "000_39ce13e694da38b8.txt"], warehouse, workers=1)
        procs[point] = subprocess.Popen(
            [sys.executable, "-m", "news_etl.flows.cli", "run", "--input", str(corpus), "--warehouse", str(warehouse),
             "--workers", "1", "--batch-docs", "2"],
            cwd=REPO, env={**_env(), "NEWS_ETL_KILL_AT": point}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
    for point, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -9, f"{point}: run was not killed: {err.decode()[-2000:]}"
        warehouse = tmp_path / point
        assert not list((warehouse / "lake").rglob(".*.tmp")), point
        if point == "mid_quarantine_copy":  # killed while copying empty.txt: its temporary copy stays behind
            assert list((warehouse / "quarantine").glob(".*.tmp")), point
        if (warehouse / "news.duckdb").exists() and (warehouse / "lake").exists():
            # Every Parquet file a reader can see belongs to a committed load.
            con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
            committed = {r[0] for r in con.execute("SELECT lake_path FROM meta.lake_files").fetchall()}
            con.close()
            visible = {str(p.relative_to(warehouse)) for p in (warehouse / "lake").rglob("*.parquet")}
            assert visible <= committed, point

        summary = run_etl([corpus], warehouse, workers=1)
        assert summary.articles_out + summary.duplicates <= 5, point
        counts = table_counts(warehouse)
        assert counts["documents"] == counts["articles"] == counts["marts.articles"] == 5, point
        assert counts["quarantine"] == 1, point
        assert lake_counts(warehouse) == {t: counts[t] for t in TABLES}, point
        con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
        assert con.execute("SELECT count(DISTINCT doc_id) FROM lake.documents").fetchone()[0] == 5
        assert con.execute("SELECT count(*) FROM meta.runs WHERE status = 'loaded'").fetchone()[0] == 0
        con.close()
        assert not (warehouse / ".staging").exists() or not any((warehouse / ".staging").iterdir()), point
        assert not list(warehouse.rglob(".*.tmp")), point  # the next run deleted what the killed one left half-written


def test_rebuild_recleans_kept_documents_with_new_rules(prefect_harness, corpus, tmp_path):
    """`news-etl rebuild` re-cleans the raw text the lake keeps; no input is read again."""
    warehouse = tmp_path / "wh"
    run_etl([corpus], warehouse, workers=1)
    before = table_counts(warehouse)
    shutil.rmtree(corpus)  # the inputs are gone: a rebuild must not need them
    rules = tmp_path / "site.toml"
    rules.write_text('[[line]]\nname = "site_greeting"\nmax_chars = 2000\npattern = \'^am morgen war wladimir putin der erste.*$\'\n')

    proc = subprocess.run(
        [sys.executable, "-m", "news_etl.flows.cli", "rebuild", "--warehouse", str(warehouse), "--rules", str(rules), "--workers", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "5 kept documents cleaned again" in proc.stdout

    after = table_counts(warehouse)
    assert after["documents"] == after["articles"] == after["marts.articles"] == 5
    assert after["boilerplate"] == before["boilerplate"] + 1
    assert lake_counts(warehouse) == {t: after[t] for t in TABLES}  # old lake files retired
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM lake.boilerplate WHERE rule = 'site_greeting'").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM marts.articles WHERE body LIKE '%Glückwunschbotschaft an den nordkoreanischen%'").fetchone()[0] == 0
    con.close()


def test_a_big_jsonl_file_is_staged_in_bounded_chunks(prefect_harness, tmp_path):
    """One input file larger than a batch is flushed every batch_docs documents, not held whole."""
    import json

    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    records = [{"id": i, "text": f"{texts[i % 5]}\n\nNachtrag {i}: Die Lage blieb am Abend unverändert."} for i in range(7)]
    src = tmp_path / "in" / "feed.jsonl"
    src.parent.mkdir()
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")

    warehouse = tmp_path / "wh"
    summary = run_etl([src.parent], warehouse, workers=1, batch_docs=3)
    assert summary.articles_out == 7
    files = sorted((warehouse / "lake" / "articles").rglob("*.parquet"))
    assert len(files) == 3
    assert lake_counts(warehouse)["articles"] == 7


def test_status_shows_the_runs_with_their_step_seconds(seeds_warehouse, seeds_db):
    row = seeds_db.execute(
        "SELECT status, documents_in, articles_out, seconds_process, seconds_model, seconds_total FROM marts.runs"
    ).fetchall()
    assert len(row) == 1
    status, docs_in, articles_out, process, model, total = row[0]
    assert (status, docs_in, articles_out) == ("succeeded", 5, 5)
    assert process > 0 and model > 0 and total >= process + model
    proc = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "status", "--warehouse", str(seeds_warehouse)],
                          cwd=REPO, capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stdout and "articles" in proc.stdout.splitlines()[2]


def test_batches_retry_transient_io_errors_but_not_bad_data(prefect_harness, tmp_path, monkeypatch):
    import errno

    import news_etl.tasks.ingest.batch as batch
    real, calls = batch.process_files, []

    def flaky(*args, **kwargs):
        calls.append("flaky")
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "process_files", flaky)
    assert run_etl([SEEDS], tmp_path / "a", workers=1).articles_out == 5
    assert calls == ["flaky", "flaky"]

    def broken(*args, **kwargs):
        calls.append("broken")
        raise ValueError("a bug or bad data: retrying cannot help")

    calls.clear()
    monkeypatch.setattr(batch, "process_files", broken)
    with pytest.raises(ValueError, match="retrying cannot help"):
        run_etl([SEEDS], tmp_path / "b", workers=1)
    assert calls == ["broken"]


def test_each_run_leaves_a_report_artifact(seeds_warehouse):
    """The run's artifact is markdown: the report page's figures as tables, where the page is, the step seconds."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["etl-run-report"])))
    page = seeds_warehouse.resolve() / "reports"
    texts = [a.data for a in artifacts if a.type == "markdown" and str(page) in a.data]
    assert texts, [a.data[:200] for a in artifacts]
    text = texts[0]
    assert "| documents | 5 |" in text and "| articles | 5 |" in text
    assert "## Lines removed, by rule" in text and "## Articles by language" in text and "| de | 5 |" in text
    assert "| process |" in text and "| model |" in text
    assert (page / f"run-{text.split('run-', 1)[1].split('.html')[0]}.html").is_file()


def test_readers_keep_working_while_a_run_holds_the_warehouse(seeds_warehouse):
    with WarehouseLock(WarehouseLayout(seeds_warehouse), run_id="busy"):
        proc = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "sql", "select count(*) AS n from marts.articles",
                               "--warehouse", str(seeds_warehouse)], cwd=REPO, capture_output=True, text=True,
                              timeout=60, env=_env())
        assert proc.returncode == 0 and "5" in proc.stdout, proc.stderr
        assert lake_counts(seeds_warehouse)["articles"] == 5


def test_a_database_held_by_another_process_fails_the_run_cleanly(prefect_harness, corpus, tmp_path, monkeypatch):
    from news_etl.tasks.warehouse.database import DatabaseLocked

    warehouse = tmp_path / "wh"
    run_etl([corpus / "seeds" / "000_39ce13e694da38b8.txt"], warehouse, workers=1)
    before, files_before = table_counts(warehouse), sorted((warehouse / "lake").rglob("*.parquet"))
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; con = duckdb.connect({str(warehouse / 'news.duckdb')!r}); "
                               "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("NEWS_ETL_DB_WAIT", "1")
        with pytest.raises(DatabaseLocked, match="locked by another process"):
            run_etl([corpus], warehouse, workers=1)
    finally:
        holder.kill()
        holder.wait()
    assert table_counts(warehouse) == before
    assert sorted((warehouse / "lake").rglob("*.parquet")) == files_before


def test_a_large_jsonl_file_is_split_across_batches_at_line_ends(prefect_harness, tmp_path):
    import json

    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    lines = [json.dumps({"id": i, "text": f"{texts[i % 5]}\n\nNachtrag {i}: Die Lage blieb am Abend unverändert."},
                        ensure_ascii=False) for i in range(12)]
    lines[6] = "{not json"
    src = tmp_path / "in" / "feed.jsonl"
    src.parent.mkdir()
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")

    warehouse = tmp_path / "wh"
    summary = run_etl([src.parent], warehouse, workers=2, batch_bytes=8_000)
    assert summary.batches >= 4  # the one file was read by several batch tasks
    assert (summary.articles_out, summary.quarantined) == (11, 1)
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    uris = [r[0] for r in con.execute("SELECT source_uri FROM lake.documents").fetchall()]
    bad = con.execute("SELECT source_uri, reason FROM lake.quarantine").fetchall()
    con.close()
    assert sorted(uris) == sorted(f"{src}#L{n}" for n in range(1, 13) if n != 7)
    assert bad == [(f"{src}#L7", "malformed_json")]

    again = run_etl([src.parent], warehouse, workers=2, batch_bytes=8_000)
    assert again.inputs_unchanged == 1 and again.documents_in == 0


def _cli_run(args: list[str], code_before: str = "", preexec_fn=None) -> subprocess.CompletedProcess:
    """`news-etl run` in a subprocess, after ``code_before`` (a fault to inject)."""
    code = f"{code_before}\nimport sys\nfrom news_etl.flows.cli import main\nsys.exit(main({['run', *args]!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, env=_env(),
                          preexec_fn=preexec_fn)


DISK_FULL_ON_QUARANTINE_COPY = """
import builtins, errno
import news_etl.tasks.ingest.quarantine as quarantine

class Full:
    def __init__(self, fh):
        self.fh = fh
    def write(self, data):
        self.fh.write(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.fh.close()

quarantine.open = lambda path, mode="r", *a, **k: Full(builtins.open(path, mode, *a, **k)) if "w" in mode else builtins.open(path, mode, *a, **k)
"""


def test_a_full_disk_shows_its_cause_and_leaves_nothing_behind(prefect_harness, corpus, tmp_path):
    """ENOSPC while a quarantined file is copied: the run fails naming the full disk (one line),
    no temporary copy stays, nothing is loaded; the next run deletes the half-written copy a run
    killed at that moment leaves, and loads everything."""
    (corpus / "seeds" / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    warehouse = tmp_path / "wh"
    args = ["--input", str(corpus), "--warehouse", str(warehouse), "--workers", "1"]
    proc = _cli_run(args, DISK_FULL_ON_QUARANTINE_COPY)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("news-etl run: error: [Errno 28] No space left on device")
    assert not list(warehouse.rglob(".*.tmp"))
    assert not (warehouse / "lake").exists() or lake_counts(warehouse) == dict.fromkeys(TABLES, 0)

    stale = warehouse / "quarantine" / ".incoming.0badf00d.tmp"  # as a run killed mid-copy leaves it
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(bytes(1 << 20))
    proc = _cli_run(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not stale.exists()
    counts = table_counts(warehouse)
    assert (counts["documents"], counts["quarantine"]) == (5, 2)


def test_a_commit_that_fails_shows_its_cause_not_the_rollback(prefect_harness, corpus, tmp_path):
    """DuckDB cannot write its file (RLIMIT_FSIZE stands in for a full disk: the same short write,
    then an error): the user sees that error, not 'cannot rollback - no transaction is active';
    the next run loads every document exactly once."""
    import resource
    import signal

    def small_files():  # the run's writes beyond 64 KiB fail with EFBIG instead of a signal: the WAL at the load's commit
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    warehouse = tmp_path / "wh"
    args = ["--input", str(corpus), "--warehouse", str(warehouse), "--workers", "1"]
    proc = _cli_run(args, preexec_fn=small_files)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("news-etl run: error:") and "File too large" in last and "rollback" not in last, last

    proc = _cli_run(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = table_counts(warehouse)
    assert counts["documents"] == counts["articles"] == counts["marts.articles"] == 5 and counts["quarantine"] == 1
    assert lake_counts(warehouse) == {t: counts[t] for t in TABLES}


def test_a_warehouse_path_with_quotes_works(prefect_harness, corpus, tmp_path):
    """Paths reach SQL as parameters or quoted literals, never pasted into it."""
    warehouse = tmp_path / "Bob's \"news\" warehouse"
    first = run_etl([corpus], warehouse, workers=1)
    assert first.articles_out == 5 and list((warehouse / "marts").rglob("*.parquet"))
    (corpus / "seeds" / "copy.txt").write_bytes((SEEDS / "000_39ce13e694da38b8.txt").read_bytes())
    second = run_etl([corpus], warehouse, workers=1)  # the plan attaches the existing database
    assert (second.documents_in, second.duplicates) == (1, 1)
    for command in (["sql", "select count(*) AS n from marts.articles"], ["search", "Kreml"], ["status"]):
        proc = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", *command, "--warehouse", str(warehouse)],
                              cwd=REPO, capture_output=True, text=True, timeout=60, env=_env())
        assert proc.returncode == 0, (command, proc.stderr)


def test_batches_are_cut_by_count_and_bytes_in_path_order(tmp_path):
    """The plan's batches: at most batch_docs files and batch_bytes bytes each, a file larger than
    batch_bytes alone, in path order, whatever the record batches the plan's query streams."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from news_etl.tasks.ingest.inputs import FILE_SCHEMA
    from news_etl.tasks.warehouse.plan import _cut_batches

    sizes = [10, 10, 10, 10, 100, 10, 30, 30, 5, 5, 5, 5, 5, 60]
    rows = pa.Table.from_pylist([{"path": f"/in/{i:02d}.txt", "root": "/in", "size": s, "mtime_ns": 0, "kind": "txt",
                                  "offset": 0, "length": -1, "first_line": 1} for i, s in enumerate(sizes)], schema=FILE_SCHEMA)
    layout = WarehouseLayout(tmp_path)
    layout.batch_file("r", 0).parent.mkdir(parents=True)
    for chunk in (1, 3, len(sizes)):
        paths, n = _cut_batches(iter(rows.to_batches(max_chunksize=chunk)), layout, "r", 3, 50)
        batches = [[int(p[4:6]) for p in pq.read_table(f).column("path").to_pylist()] for f in paths]
        assert n == len(sizes)
        assert batches == [[0, 1, 2], [3], [4], [5, 6], [7, 8, 9], [10, 11, 12], [13]]
