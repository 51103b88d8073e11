"""The command line as a user meets it: a reader beside a run, a read-only `sql`, one-line errors with
their exit codes, progress, the options a warehouse remembers, the run journal, the report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from tests.conftest import REPO, SEEDS, installed_env, run_etl

CLI = [sys.executable, "-m", "news_etl.flows.cli"]
GREETING_RULE = '[[line]]\nname = "site_greeting"\nmax_chars = 2000\npattern = \'^am morgen war wladimir putin der erste.*$\'\n'


def cli(*args, env: dict | None = None, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], cwd=kwargs.pop("cwd", REPO), capture_output=True, text=True,
                          timeout=timeout, env=env or installed_env(), **kwargs)


def cli_here(*args) -> subprocess.CompletedProcess:
    """The command line in this process (no interpreter to start): for commands that only read."""
    import contextlib
    import io

    from news_etl.flows.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def one_line_error(res: subprocess.CompletedProcess, command: str) -> str:
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"news-etl {command}: error: "), err
    assert "Traceback" not in err
    return err


def seed_files() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))


# -- readers and the catalog


def _one_seed_warehouse(tmp_path: Path) -> tuple[Path, Path]:
    """An input folder holding one seed and the warehouse a run built from it."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(seed_files()[0], inputs)
    warehouse = tmp_path / "wh"
    run_etl([inputs], warehouse, workers=1)
    return inputs, warehouse


def test_a_reader_holding_the_catalog_never_delays_a_run(prefect_harness, tmp_path):
    """A second process keeps catalog.duckdb open (as a BI tool does) for the whole run: the run
    neither waits nor fails, and the reader still answers afterwards."""
    inputs, warehouse = _one_seed_warehouse(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys\n"
         f"con = duckdb.connect({str(warehouse / 'catalog.duckdb')!r}, read_only=True)\n"
         "print(con.sql('select count(*) from marts.articles').fetchone()[0], flush=True)\n"
         "con.execute('BEGIN TRANSACTION')\n"
         "print(con.sql('select count(*) from lake.documents').fetchone()[0], flush=True)\n"
         "sys.stdin.readline()\n"
         "print(con.sql('select count(*) from marts.articles').fetchone()[0], flush=True)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "1" and holder.stdout.readline().strip() == "1"
        for f in seed_files()[1:]:
            shutil.copy(f, inputs)
        started = time.monotonic()
        res = cli("run", "--input", inputs, "--warehouse", warehouse, "--workers", "1", env=installed_env(NEWS_ETL_DB_WAIT="1"))
        took = time.monotonic() - started
        assert res.returncode == 0, res.stderr
        assert "4 articles out" in res.stdout
        assert holder.poll() is None  # still holding the catalog it opened
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() in {"1", "5"}  # its catalog still answers
    finally:
        holder.kill()
        holder.wait()
    assert took < 120
    res = cli("sql", "select count(*) as n from marts.articles", "--warehouse", warehouse, "--format", "csv")
    assert res.stdout.splitlines() == ["n", "5"]


def test_the_catalog_is_rewritten_only_when_its_content_changes(prefect_harness, tmp_path):
    inputs, warehouse = _one_seed_warehouse(tmp_path)
    catalog = warehouse / "catalog.duckdb"
    first = catalog.stat()
    shutil.copy(seed_files()[1], inputs)  # more rows, same views
    run_etl([inputs], warehouse, workers=1)
    assert (catalog.stat().st_ino, catalog.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    (inputs / "empty.txt").write_bytes(b"")  # the first quarantined input: lake.quarantine gets files to read
    run_etl([inputs], warehouse, workers=1)
    assert catalog.stat().st_ino != first.st_ino
    res = cli("sql", "select reason from lake.quarantine", "--warehouse", warehouse, "--format", "csv")
    assert res.stdout.splitlines() == ["reason", "empty"]


def test_the_catalog_has_column_comments_bridges_and_search(seeds_warehouse, seeds_db):
    from news_etl.tasks.warehouse.database import fts_extension_path

    con = duckdb.connect(str(seeds_warehouse / "catalog.duckdb"), read_only=True)
    try:
        comments = dict(((s, t, c), text) for s, t, c, text in con.execute(
            "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() WHERE comment IS NOT NULL").fetchall())
        assert comments[("marts", "articles", "body_hash")] == "SHA-256 of the body; unique."
        assert comments[("marts", "articles", "source_uri")].startswith("input file of the first copy")
        assert comments[("lake", "articles", "published_at")] == "publication time (UTC), when it could be parsed."
        assert comments[("marts", "article_credits", "credit")] == "one entry of its `credits`, as written."
        views = dict(con.execute("SELECT schema_name || '.' || view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
        assert views["marts.articles"].startswith("Unique articles")
        credits = con.execute("SELECT count(*) FROM marts.article_credits").fetchone()[0]
        tags = con.execute("SELECT count(*) FROM marts.article_tags").fetchone()[0]
        con.execute(f"LOAD '{fts_extension_path()}'")
        hits = con.execute("SELECT count(*) FROM search.match('Kreml')").fetchone()[0]
    finally:
        con.close()
    assert credits == seeds_db.execute("SELECT sum(len(credits)) FROM marts.articles").fetchone()[0] > 0
    assert tags == seeds_db.execute("SELECT coalesce(sum(len(tags)), 0) FROM marts.articles").fetchone()[0]
    assert hits > 0


ATTACKS = [  # (statement, what it tried) from issue 17 item 2, and writes into the warehouse's own folders
    ("USE memory; DETACH warehouse; ATTACH '{wh}/news.duckdb' AS w; DROP TABLE w.marts.articles; SELECT 1", "drop a mart"),
    ("COPY (SELECT * FROM marts.articles) TO '{tmp}/out.csv'", "write a file"),
    ("COPY (SELECT 1 AS x) TO '{wh}/marts/articles.parquet'", "replace a mart's file"),
    ("EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{wh}/lake/articles/x.parquet'", "write into the lake"),
    ("PREPARE p AS COPY (SELECT 1 AS x) TO '{wh}/marts/runs.parquet'; EXECUTE p", "write through a prepared statement"),
    ("ATTACH '{tmp}/new.duckdb' AS n", "create a database"),
    ("EXPORT DATABASE '{tmp}/export'", "export"),
    ("SELECT * FROM read_csv('/etc/shadow')", "read a system file"),
    ("SELECT * FROM read_text('/etc/passwd')", "read a system file"),
    ("SELECT count(*) FROM read_parquet('{wh}/lake/documents/*/*.parquet')", "read files around the catalog"),
    ("SET memory_limit = '50GB'", "change the configuration"),
    ("SET enable_external_access = true", "change the configuration"),
    ("LOAD httpfs", "load an extension"),
    ("CREATE TABLE x AS SELECT 1", "create a table"),
    ("INSERT INTO lake.quarantine (source_uri, reason) VALUES ('x', 'y')", "insert"),
]


@pytest.mark.parametrize("statement, what", ATTACKS, ids=[f"{i}-{a[1]}" for i, a in enumerate(ATTACKS)])
def test_sql_is_read_only_and_reads_nothing_else(seeds_warehouse, tmp_path, statement, what):
    files = {p: p.read_bytes() for p in seeds_warehouse.rglob("*") if p.is_file() and p.suffix in {".parquet", ".duckdb"}}
    res = cli_here("sql", statement.format(wh=seeds_warehouse, tmp=tmp_path), "--warehouse", seeds_warehouse)
    assert res.returncode == 2, (what, res.stdout, res.stderr)
    one_line_error(res, "sql")
    assert not any(tmp_path.iterdir()), what
    now = {p: p.read_bytes() for p in seeds_warehouse.rglob("*") if p.is_file() and p.suffix in {".parquet", ".duckdb"}}
    assert now == files, what
    assert cli_here("sql", "select count(*) as n from marts.articles", "--warehouse", seeds_warehouse,
                    "--format", "csv").stdout.splitlines() == ["n", "5"]


def test_search_uses_the_same_locked_connection(seeds_warehouse):
    from news_etl.tasks.layout import WarehouseLayout
    from news_etl.tasks.warehouse.catalog import open_reader
    from news_etl.tasks.warehouse.search import search

    with open_reader(WarehouseLayout(seeds_warehouse)) as con:
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                    "('enable_external_access', 'lock_configuration')").fetchall())
        assert settings == {"enable_external_access": "false", "lock_configuration": "true"}
        assert search(con, "Kreml'; COPY (SELECT 1) TO 'x.csv'; --", limit=3) is not None  # a parameter, never SQL
    res = cli("search", "Peskow Kreml", "--warehouse", seeds_warehouse, "--json")
    hits = [json.loads(line) for line in res.stdout.splitlines()]
    assert res.returncode == 0 and hits and hits[0]["title"]


# -- errors: one line, an exit code per class, nothing left behind


def test_user_errors_are_one_line_with_their_exit_code_and_fast(tmp_path):
    bad_toml, bad_regex = tmp_path / "bad.toml", tmp_path / "regex.toml"
    bad_toml.write_text("[[line]\nname = 'x'\n")
    bad_regex.write_text("[[line]]\nname = 'x'\npattern = '(unclosed'\n")
    wh = tmp_path / "wh"
    cases = [
        (("run", "--input", tmp_path / "typo", "--warehouse", wh), 3, "input not found"),
        (("run", "--input", SEEDS, "--warehouse", wh, "--rules", tmp_path / "nope.toml"), 3, "rules file not found"),
        (("run", "--input", SEEDS, "--warehouse", wh, "--rules", bad_toml), 4, "bad.toml"),
        (("run", "--input", SEEDS, "--warehouse", wh, "--rules", bad_regex), 4, "regex.toml"),
        (("run", "--input", SEEDS, "--warehouse", wh, "--batch-docs", "0"), 2, "--batch-docs"),
        (("run", "--input", SEEDS, "--warehouse", wh, "--rules", bad_toml, "--no-rules"), 2, "contradict"),
        (("rebuild", "--warehouse", wh), 3, "no warehouse"),
        (("sql", "select 1", "--warehouse", wh), 3, "no catalog"),
        (("report", "--warehouse", wh), 3, "no catalog"),
        (("status", "--warehouse", wh), 3, "no warehouse"),
    ]
    for args, code, needle in cases:
        started = time.monotonic()
        res = cli(*args)
        took = time.monotonic() - started
        assert res.returncode == code, (args, res.stderr)
        assert needle in one_line_error(res, args[0]), (args, res.stderr)
        assert took < 10, (args, took)  # found before Prefect starts (a typo in --input took 16 s)
        assert not wh.exists(), args  # nothing left behind: no .lock, no .staging/, no warehouse
    res = cli("run", "--bogus")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    res = cli("run", "--input", tmp_path / "typo", "--warehouse", wh, "--debug")
    assert res.returncode == 3 and "Traceback" in res.stderr


def test_a_locked_database_is_exit_6_on_record_and_leaves_nothing(prefect_harness, tmp_path):
    inputs, warehouse = _one_seed_warehouse(tmp_path)
    shutil.copy(seed_files()[1], inputs)
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; con = duckdb.connect({str(warehouse / 'news.duckdb')!r}); "
                                                     "print('held', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        res = cli("run", "--input", inputs, "--warehouse", warehouse, "--workers", "1", env=installed_env(NEWS_ETL_DB_WAIT="1"))
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 6, res.stderr
    err = res.stderr.strip().splitlines()[-1]
    assert err.startswith("news-etl run: error: warehouse database") and "catalog.duckdb" in err and "NEWS_ETL_DB_WAIT" in err
    assert "Traceback" not in res.stderr
    assert not (warehouse / ".staging").exists()
    status = json.loads(cli("status", "--warehouse", warehouse, "--json").stdout)
    assert [r["status"] for r in status["runs"]] == ["failed", "succeeded"]
    assert "locked by another process" in status["runs"][0]["error"]


def test_a_refused_run_is_on_record(tmp_path):
    from news_etl.tasks.layout import WarehouseLayout
    from news_etl.tasks.warehouse.lock import WarehouseLock

    warehouse = tmp_path / "wh"
    with WarehouseLock(WarehouseLayout(warehouse), run_id="run-a"):
        res = cli("run", "--input", SEEDS, "--warehouse", warehouse)
    assert res.returncode == 5
    assert "in use by run run-a" in one_line_error(res, "run")
    runs = json.loads(cli("status", "--warehouse", warehouse, "--json").stdout)["runs"]
    assert len(runs) == 1 and runs[0]["status"] == "failed" and "in use by run run-a" in runs[0]["error"]
    assert runs[0]["error_type"] == "WarehouseBusy"


# -- feedback


def test_each_step_is_shown_as_it_starts_and_ends(prefect_harness, tmp_path):
    warehouse = tmp_path / "wh"
    res = cli("run", "--input", seed_files()[0], "--warehouse", warehouse, "--workers", "1")
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    for step in ("discover", "process", "load", "model", "export", "catalog", "report"):
        assert any(re.match(rf"\d\d:\d\d:\d\d {step}: done in \d+\.\d s", line) for line in lines), (step, res.stderr)
    assert any(re.search(r"process: 1/1 batches, 1 documents, [\d,]+ docs/s", line) for line in lines), res.stderr
    assert any("discover: done in" in line and "1 inputs found" in line for line in lines)
    assert "Traceback" not in res.stderr and "| INFO" not in res.stderr  # Prefect's own lines stay in its logs
    quiet = cli("run", "--input", seed_files()[0], "--warehouse", warehouse, "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    warnings_only = cli("run", "--input", seed_files()[0], "--warehouse", warehouse, "--log-level", "warning")
    assert warnings_only.returncode == 0 and warnings_only.stderr == "" and "0 documents in" in warnings_only.stdout


def _read_terminal(leader: int) -> bytes:
    """Everything written to a pseudo-terminal until its last writer closes it."""
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the follower side is closed
            return out
        if not chunk:
            return out
        out += chunk


def test_a_terminal_gets_a_live_view(prefect_harness, tmp_path):
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([*CLI, "run", "--input", str(seed_files()[0]), "--warehouse", str(tmp_path / "wh"), "--workers", "1"],
                            cwd=REPO, env={**installed_env(), "COLUMNS": "140"}, stdin=follower, stdout=subprocess.PIPE,
                            stderr=follower)
    os.close(follower)
    out = _read_terminal(leader)
    proc.wait(timeout=300)
    os.close(leader)
    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    assert "✓" in text and "discover" in text and "1 inputs found" in text and "catalog.duckdb" in text


def test_no_telemetry_notice_when_analytics_are_off(tmp_path, seeds_warehouse):
    """On a terminal, with a new Prefect home, Prefect's first import prints its telemetry notice
    unless DO_NOT_TRACK is set: news-etl turns analytics off on both sides."""
    import pty

    env = {k: v for k, v in installed_env(PREFECT_HOME=str(tmp_path / "home")).items()
           if k not in {"DO_NOT_TRACK", "CI", "GITHUB_ACTIONS"}}
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*CLI, "models", "--warehouse", str(seeds_warehouse)], cwd=REPO, env=env, stdin=follower,
                            stdout=follower, stderr=follower)
    os.close(follower)
    out = _read_terminal(leader)
    proc.wait(timeout=120)
    os.close(leader)
    assert proc.returncode == 0, out
    assert b"anonymous usage data" not in out and b"marts.articles" in out


# -- runs keep what they were given


def test_a_rebuild_uses_the_options_the_warehouse_remembers(prefect_harness, tmp_path):
    from news_etl.tasks.layout import WarehouseLayout
    from news_etl.tasks.warehouse import journal

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SEEDS / "003_10c9846cb3e51f9e.txt", inputs)  # the one with the line the rule removes
    warehouse, rules = tmp_path / "wh", tmp_path / "site.toml"
    rules.write_text(GREETING_RULE)

    def greetings() -> int:
        with duckdb.connect(str(warehouse / "news.duckdb"), read_only=True) as con:
            return con.execute("SELECT count(*) FROM lake.boilerplate WHERE rule = 'site_greeting'").fetchone()[0]

    def options() -> dict:
        return journal.remembered_options(WarehouseLayout(warehouse))

    res = cli("run", "--input", inputs, "--warehouse", warehouse, "--favor", "precision", "--rules", rules, "--workers", "1")
    assert res.returncode == 0, res.stderr
    assert greetings() == 1
    remembered = options()
    assert remembered["favor"] == "precision" and remembered["rules"][0]["path"] == str(rules.resolve())
    assert "favor=precision" in cli("status", "--warehouse", warehouse).stdout

    res = cli("rebuild", "--warehouse", warehouse, "--workers", "1")  # nothing given: what the warehouse remembers
    assert res.returncode == 0, res.stderr
    assert greetings() == 1 and options()["favor"] == "precision"
    last = journal.read_runs(WarehouseLayout(warehouse))[0]
    assert last["command"] == "rebuild" and last["options"]["favor"] == "precision"

    rules.unlink()  # gone: the copy the warehouse kept stands in
    res = cli("rebuild", "--warehouse", warehouse, "--workers", "1")
    assert res.returncode == 0, res.stderr
    assert "is gone: using the copy the warehouse kept" in res.stderr and greetings() == 1

    res = cli("rebuild", "--warehouse", warehouse, "--workers", "1", "--no-rules", "--favor", "balanced")
    assert res.returncode == 0, res.stderr
    assert greetings() == 0 and options() == {**remembered, "favor": "balanced", "rules": []}


def test_a_deployment_stores_only_the_options_given(tmp_path):
    from news_etl.flows.deploy import build_deployment
    from news_etl.tasks.options import RunOptions

    deployment = build_deployment(RunOptions(inputs=[str(SEEDS)], warehouse=str(tmp_path / "wh"), workers=2))
    assert set(deployment.parameters["options"]) == {"inputs", "warehouse", "workers"}


# -- conventions


def test_version_status_json_and_sql_formats(seeds_warehouse):
    res = cli("--version")
    assert res.returncode == 0 and re.fullmatch(r"news-etl \d+\.\d+\.\d+\S*", res.stdout.strip())
    # the command exits without the interpreter's teardown: what it printed is flushed all the same
    res = cli("sql", "select range as i from range(50000)", "--warehouse", seeds_warehouse, "--format", "csv", "--max-rows", "0")
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 50001 and res.stdout.endswith("49999\n")
    status = json.loads(cli_here("status", "--warehouse", seeds_warehouse, "--json").stdout)
    run = status["runs"][0]
    assert run["status"] == "succeeded" and run["summary"]["articles_out"] == 5 and run["loaded"]
    assert set(run["step_seconds"]) >= {"discover", "process", "load", "model", "export"}
    assert status["cleaning_options"]["favor"] == "balanced"

    csv_out = cli_here("sql", "select doc_id, credits from marts.articles order by doc_id", "--warehouse", seeds_warehouse,
                  "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "doc_id,credits" and len(csv_out) == 6
    rows = [json.loads(line) for line in cli_here("sql", "select doc_id, credits, n_words from marts.articles", "--warehouse",
                                            seeds_warehouse, "--format", "json").stdout.splitlines()]
    assert len(rows) == 5 and isinstance(rows[0]["credits"], list) and isinstance(rows[0]["n_words"], int)
    many = "select range as i from range(100)"
    assert len(cli_here("sql", many, "--warehouse", seeds_warehouse, "--format", "csv").stdout.splitlines()) == 101
    assert len(cli_here("sql", many, "--warehouse", seeds_warehouse, "--format", "csv", "--max-rows", "10").stdout.splitlines()) == 11
    table = cli_here("sql", many, "--warehouse", seeds_warehouse).stdout
    every = cli_here("sql", many, "--warehouse", seeds_warehouse, "--all").stdout
    assert re.search(r"│\s+50\s+│", every) and not re.search(r"│\s+50\s+│", table)


def test_the_lake_reads_with_its_documented_partition_schema(seeds_warehouse):
    partitioning = ds.partitioning(pa.schema([("ingest_date", pa.date32())]), flavor="hive")
    articles = ds.dataset(seeds_warehouse / "lake" / "articles", format="parquet", partitioning=partitioning).to_table()
    assert articles.schema.field("ingest_date").type == pa.date32()
    assert "published_at" in articles.schema.names and "published" not in articles.schema.names
    documents = ds.dataset(seeds_warehouse / "lake" / "documents", format="parquet", partitioning=partitioning)
    assert "published_raw" in documents.schema.names
    assert documents.to_table(columns=["content_type"]).column(0).to_pylist() == ["text/plain"] * 5


def test_the_readme_sql_examples_run(seeds_warehouse):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    queries = re.findall(r'^news-etl sql "([^"]+)"', readme, flags=re.M)
    assert len(queries) >= 3
    for query in queries:
        res = cli_here("sql", query, "--warehouse", seeds_warehouse)
        assert res.returncode == 0, (query, res.stderr)


def test_the_report_page_is_self_contained(seeds_warehouse):
    res = cli("report", "--warehouse", seeds_warehouse)
    assert res.returncode == 0, res.stderr
    page = Path(res.stdout.strip())
    assert page.resolve() == (seeds_warehouse / "reports" / "warehouse.html").resolve()
    text = page.read_text(encoding="utf-8")
    assert text.count("<svg") >= 4 and "<script" not in text and not re.search(r"(src|href)=", text)
    assert "http://" not in text and "https://" not in text
    for needle in ("per day", "per source", "by rule", "by language", "by reason", "near-duplicates", ">seeds<", ">de<"):
        assert needle in text, needle
    latest = cli("report", "--warehouse", seeds_warehouse, "--run", "latest")
    assert latest.returncode == 0 and re.search(r"reports/run-.+\.html$", latest.stdout.strip())
    missing = cli("report", "--warehouse", seeds_warehouse, "--run", "no-such-run")
    assert missing.returncode == 3 and "no run no-such-run" in one_line_error(missing, "report")



def test_the_report_page_lists_near_duplicate_clusters(prefect_harness, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    story = next(p for p in seed_files() if p.name.startswith("003_"))
    text = story.read_text(encoding="utf-8")
    for n, (old, new) in enumerate([("Moskau", "Moskau heute"), ("Russland", "Russland heute")]):
        (inputs / f"copy{n}.txt").write_text(text.replace(old, new, 1), encoding="utf-8")
    shutil.copy(story, inputs)
    warehouse = tmp_path / "wh"
    run_etl([inputs], warehouse, workers=1)
    res = cli("report", "--warehouse", warehouse)
    assert res.returncode == 0, res.stderr
    page = Path(res.stdout.strip()).read_text(encoding="utf-8")
    clusters = page[page.index("Largest clusters of near-duplicates"):]
    assert "<td class=n>3</td><td>Putin und Kim Jong Un wollen ihre Zusammenarbeit verstärken</td>" in clusters

# -- the Prefect server news-etl starts and reuses


def test_news_etl_starts_one_prefect_server_and_reuses_it(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in installed_env(PREFECT_HOME=str(tmp_path / "home"), NEWS_ETL_SERVER_PORT=str(port)).items()
           if k not in {"PREFECT_API_URL", "NEWS_ETL_SERVER"}}
    try:
        started = cli("server", "start", env=env)
        assert started.returncode == 0, started.stderr
        assert f"starting a Prefect server for news-etl at http://127.0.0.1:{port}" in started.stderr
        state = json.loads((tmp_path / "home" / "news-etl-server.json").read_text())
        again = cli("server", "start", env=env)
        assert again.returncode == 0 and "starting" not in again.stderr and str(state["pid"]) in again.stdout
        run = cli("run", "--input", seed_files()[0], "--warehouse", tmp_path / "wh", "--workers", "1", env=env)
        assert run.returncode == 0, run.stderr
        assert "starting a Prefect server" not in run.stderr and "temporary server" not in run.stderr
        import urllib.request

        request = urllib.request.Request(f"{state['url']}/flow_runs/count", data=b"{}", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert int(response.read()) >= 1  # the run is on that server
        status = cli("server", "status", env=env)
        assert status.returncode == 0 and str(state["pid"]) in status.stdout
        page = urllib.request.Request(f"{state['ui']}/runs/flow-run/any", headers={"Accept": "text/html"})  # as a browser asks
        with urllib.request.urlopen(page, timeout=10) as response:  # the UI the run URLs printed by Prefect point at
            assert response.status == 200 and b"<html" in response.read(2000).lower()
    finally:
        stopped = cli("server", "stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(state["pid"], 0)
            time.sleep(0.2)


def test_rules_lists_every_rule_with_its_file_and_hits(seeds_warehouse, seeds_db, tmp_path):
    import csv
    import io

    mine = tmp_path / "mine.toml"
    mine.write_text('[[line]]\nname = "never_matches"\npattern = \'^xyzzy$\'\n')
    res = cli_here("rules", "--warehouse", seeds_warehouse, "--rules", mine, "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = {(r["section"], r["rule"]): r for r in csv.DictReader(io.StringIO(res.stdout))}
    removed = dict(seeds_db.execute("SELECT rule, lines_removed FROM marts.boilerplate_rules").fetchall())
    for rule, lines in removed.items():  # every rule that fired is listed with its count
        row = next(r for (section, name), r in rows.items() if name == rule)
        assert int(row["lines_removed"]) == lines
    assert rows[("line", "comment_widget")]["files"].endswith("generic.toml")
    assert rows[("line", "weather_widget")]["lines_removed"] == "0"  # a rule that never matched shows
    assert rows[("line", "never_matches")]["files"] == str(mine) and rows[("line", "never_matches")]["lines_removed"] == "0"
    table = cli_here("rules", "--warehouse", seeds_warehouse).stdout.splitlines()
    assert table[0].split() == ["section", "rule", "patterns", "files", "lines_removed", "documents"]
