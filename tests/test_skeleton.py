"""The walking skeleton end to end: seeds → flow → Parquet lake → DuckDB → marts → exports."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tests.conftest import REPO, SEEDS


def test_flow_loads_every_seed_as_one_article(seeds_db):
    assert seeds_db.sql("select count(*) from marts.articles").fetchone()[0] == 5
    assert seeds_db.sql("select count(*) from lake.documents").fetchone()[0] == 5
    ids = {r[0] for r in seeds_db.sql("select doc_id from lake.documents").fetchall()}
    import hashlib

    expected = {hashlib.sha256(p.read_bytes()).hexdigest() for p in SEEDS.iterdir()}
    assert ids == expected


def test_lake_is_hive_partitioned_parquet(seeds_warehouse):
    lake = seeds_warehouse / "lake"
    table = ds.dataset(lake / "articles", partitioning="hive").to_table()
    assert table.num_rows == 5
    assert "ingest_date" in table.column_names
    con = duckdb.connect()
    n = con.sql(f"select count(*) from read_parquet('{lake}/articles/**/*.parquet', hive_partitioning=true)").fetchone()[0]
    assert n == 5
    for part in (lake / "documents").rglob("*.parquet"):
        assert pq.read_metadata(part).row_group(0).column(0).compression == "ZSTD"
    assert not list(seeds_warehouse.rglob("*.tmp"))


def test_articles_keep_structure_and_lose_boilerplate(seeds_db):
    rows = seeds_db.sql("select title, body, credits, captions, byline from marts.articles").fetchall()
    bodies = "\n".join(r[1] for r in rows)
    for junk in ("[Anzeige_2]", "Kommentar (0)", "Leave a Reply", "Akismet", "rrt-allgemeines", "source-127", "(Quelle: Euro News)"):
        assert junk not in bodies
    titles = {r[0] for r in rows if r[0]}
    assert "Putin und Kim Jong Un wollen ihre Zusammenarbeit verstärken" in titles
    credits = {c for r in rows for c in r[2]}
    assert {"Euro News", "Euractiv", "Interfax", "Reuters", "KCNA"} <= credits
    assert any(r[4] == "Vu Anh" for r in rows)


def test_boilerplate_rules_mart_counts_removed_lines(seeds_db):
    rules = dict(seeds_db.sql("select rule, lines_removed from marts.boilerplate_rules").fetchall())
    assert sum(rules.values()) == seeds_db.sql("select count(*) from lake.boilerplate").fetchone()[0] > 0
    assert rules["ad_placeholder"] == 2


def test_marts_are_exported_for_bi(seeds_warehouse):
    # the big marts as Hive-partitioned datasets (BI tools point at the folder), small ones as files
    rows = duckdb.sql(f"select count(*), count(distinct ingest_date) from read_parquet("
                      f"'{seeds_warehouse / 'marts' / 'articles'}/**/*.parquet', hive_partitioning = true)").fetchone()
    assert rows == (5, 1)
    assert (seeds_warehouse / "marts" / "boilerplate_rules.parquet").exists()


def test_cli_sql_prints_result_read_only(seeds_warehouse):
    out = subprocess.run(
        [sys.executable, "-m", "news_etl.flows.cli", "sql", "select count(*) as n from marts.articles", "--warehouse", str(seeds_warehouse)],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout
    assert [line.split() for line in out.splitlines()][4] == ["│", "5", "│"]
    bad = subprocess.run(
        [sys.executable, "-m", "news_etl.flows.cli", "sql", "delete from lake.documents", "--warehouse", str(seeds_warehouse)],
        capture_output=True, text=True, cwd=REPO,
    )
    assert bad.returncode == 2
    assert "read-only" in bad.stderr.lower() and len(bad.stderr.strip().splitlines()) == 1


def test_cli_run_fails_with_one_line_error(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "news_etl.flows.cli", "run", "--input", str(tmp_path / "missing"), "--warehouse", str(tmp_path / "wh")],
        capture_output=True, text=True, cwd=REPO, env={**__import__("os").environ, "PREFECT_LOGGING_LEVEL": "CRITICAL"},
    )
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1].startswith("news-etl run: error: input not found")
