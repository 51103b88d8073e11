"""Security: HTML never resolves external entities nor fetches anything; `news-etl sql` cannot write."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO

SECRET = "XXE-SECRET-4c1f9e"
BODY = "<p>" + "Putin und Kim trafen sich in Moskau zu Gesprächen über Zusammenarbeit. " * 5 + "</p>"


@pytest.fixture
def listener():
    """A local TCP server that records every connection (catches fetches from C code too)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn.recv(1024))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def no_connect(monkeypatch):
    """Record (and refuse) any Python-level socket connection."""
    attempts: list = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise OSError("network access attempted during extraction")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def xxe_pages(secret_file: Path, port: int) -> list[str]:
    url = f"http://127.0.0.1:{port}"
    return [
        f'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY s SYSTEM "file://{secret_file}">]>'
        f"<html><head><title>Kim &s;</title></head><body><article>{BODY}<p>Geheim: &s;</p></article></body></html>",
        '<!DOCTYPE html [<!ENTITY p SYSTEM "file:///etc/passwd">]>'
        f"<html><body><article>{BODY}<p>&p;</p></article></body></html>",
        f'<!DOCTYPE html [<!ENTITY % ext SYSTEM "{url}/evil.dtd"> %ext;]>'
        f'<html><body><article>{BODY}<img src="{url}/pixel.png"><iframe src="{url}/frame"></iframe></article></body></html>',
        f'<!DOCTYPE html SYSTEM "{url}/xhtml.dtd"><html xmlns:xi="http://www.w3.org/2001/XInclude"><body><article>{BODY}'
        f'<xi:include href="file://{secret_file}" parse="text"/></article></body></html>',
    ]


def test_extract_html_resolves_no_entity_and_fetches_nothing(tmp_path, listener, no_connect):
    from news_etl.tasks.ingest.extract import extract_html

    port, accepted = listener
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    for page in xxe_pages(secret_file, port):
        meta = extract_html(page, url=f"http://127.0.0.1:{port}/article")
        assert "Putin und Kim" in meta["text"]
        out = json.dumps(meta, default=str)
        assert SECRET not in out and "root:x:0:0" not in out
    assert no_connect == []
    assert accepted == []


def test_pipeline_output_never_contains_an_entity_target(tmp_path, listener, no_connect):
    """HTML files and JSONL `html` records through the pure batch function: no secret in any Parquet part."""
    from news_etl.tasks.ingest.batch import process_files
    from news_etl.tasks.ingest.inputs import InputFile, kind_of
    from news_etl.tasks.options import RunContext, RunOptions

    port, accepted = listener
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    inputs = tmp_path / "in"
    inputs.mkdir()
    pages = xxe_pages(secret_file, port)
    for i, page in enumerate(pages):
        (inputs / f"page{i}.html").write_text(page, encoding="utf-8")
    (inputs / "records.jsonl").write_text(
        "".join(json.dumps({"id": i, "url": f"http://127.0.0.1:{port}/r{i}", "html": p}) + "\n" for i, p in enumerate(pages)),
        encoding="utf-8")
    files = [InputFile(str(p), str(inputs), p.stat().st_size, p.stat().st_mtime_ns, kind_of(p.name)) for p in sorted(inputs.iterdir())]
    options = RunOptions(warehouse=str(tmp_path / "wh"))
    result = process_files(files, options, RunContext("run-xxe", datetime.now(timezone.utc)), 0)
    assert result.documents == 2 * len(pages) and result.quarantined == 0
    parts = list(options.layout.staging.rglob("*.parquet"))
    assert parts
    for part in parts:
        text = json.dumps(pq.read_table(part).to_pylist(), default=str)
        assert SECRET not in text and "root:x:0:0" not in text
    assert no_connect == []
    assert accepted == []


@pytest.mark.parametrize("statement", [
    "create table x(i int)",
    "insert into lake.quarantine (source_uri, reason) values ('x', 'y')",
    "delete from lake.documents",
    "drop table marts.articles",
    "update lake.articles set title = 'x'",
])
def test_cli_sql_refuses_writes(seeds_warehouse, statement):
    db = seeds_warehouse / "news.duckdb"
    before = (os.stat(db).st_mtime_ns, db.read_bytes())
    res = subprocess.run(
        [sys.executable, "-m", "news_etl.flows.cli", "sql", statement, "--warehouse", str(seeds_warehouse)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("news-etl sql: error:") and "read-only" in err
    assert (os.stat(db).st_mtime_ns, db.read_bytes()) == before
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.sql("select count(*) from marts.articles").fetchone()[0] == 5
        assert con.sql("select count(*) from information_schema.tables where table_name = 'x'").fetchone()[0] == 0
    finally:
        con.close()
