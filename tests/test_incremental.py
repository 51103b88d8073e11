"""Incremental marts: runs merge what they bring, and a full refresh gives the same marts; a kill
mid-model leaves them as they were; exports follow the change; data tests have a severity and
test what changed; near-duplicates come by cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from news_etl.tasks.layout import WarehouseLayout
from news_etl.tasks.warehouse.model import build, discover_models
from news_etl.tasks.warehouse.neardup import components

from .conftest import REPO, SEEDS, installed_env, run_etl

SEED_FILES = sorted(SEEDS.glob("*.txt"))
TEXTS = [p.read_text(encoding="utf-8") for p in SEED_FILES]
BLOG = ("Blogs und ihre Kommentare\n\nWer unter einen Beitrag schreiben will, sieht oft die Zeile Leave a Reply, die viele "
        "Leser für eine Aufforderung halten und deshalb tatsächlich antworten, wie eine Umfrage unter Bloggern ergab.\n\n"
        "Die Forscher zählten dafür mehr als tausend Kommentare in deutschen Blogs und verglichen sie mit englischen "
        "Seiten, auf denen die gleiche Zeile steht.")


def near_copy(text: str, n: int) -> str:
    """A syndicated copy: one sentence added before the last two paragraphs."""
    paragraphs = text.split("\n\n")
    added = f"Nachtrag {n}: Die Lage blieb am Abend nach Angaben von Beobachtern unverändert, hieß es aus Kreisen der Regierung."
    return "\n\n".join(paragraphs[:-2] + [added] + paragraphs[-2:])


def _jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    """Three runs' inputs: seeds 000-002; seed 003, an exact copy of 000 (its ad removed, an
    earlier publication date) and a near-copy of 002; seed 004, another near-copy of 002, an
    exact copy of 003, a near-copy of 004 and an article quoting "Leave a Reply"."""
    base = tmp_path_factory.mktemp("incremental_inputs")
    runs = [base / f"run{i}" for i in (1, 2, 3)]
    for d in runs:
        d.mkdir()
    for p in SEED_FILES[:3]:
        shutil.copy(p, runs[0] / p.name)
    shutil.copy(SEED_FILES[3], runs[1] / SEED_FILES[3].name)
    _jsonl(runs[1] / "feed.jsonl", [
        {"id": "copy-000", "text": TEXTS[0] + "\n\n[Anzeige_3]\n", "published": "2020-01-01T00:00:00Z"},
        {"id": "near-002-a", "text": near_copy(TEXTS[2], 1)},
    ])
    shutil.copy(SEED_FILES[4], runs[2] / SEED_FILES[4].name)
    _jsonl(runs[2] / "feed.jsonl", [
        {"id": "near-002-b", "text": near_copy(TEXTS[2], 2)},
        {"id": "copy-003", "text": TEXTS[3] + "\n\nKommentar (0)\n"},
        {"id": "near-004", "text": near_copy(TEXTS[4], 3)},
        {"id": "blog", "text": BLOG},
    ])
    return runs


def marts(warehouse: Path, schemas: tuple[str, ...] = ("marts", "intermediate")) -> dict[str, list]:
    """Every mart (but the run log) and intermediate model as sorted rows."""
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    try:
        return {m.qualified: sorted(map(repr, con.execute(f"SELECT * FROM {m.qualified}").fetchall()))
                for m in discover_models(REPO / "sql")
                if m.schema in schemas and m.name not in ("runs", "test_results")}
    finally:
        con.close()


@pytest.fixture(scope="module")
def fed(prefect_harness, inputs, tmp_path_factory) -> dict:
    """A warehouse fed the three runs one after the other; each run's summary, and the modification
    times of the articles dataset's files after each."""
    warehouse = tmp_path_factory.mktemp("fed") / "wh"
    dataset = WarehouseLayout(warehouse).mart_dataset("articles")
    summaries, files = [], []
    for d in inputs:
        summaries.append(run_etl([d], warehouse, workers=1))
        files.append({p: p.stat().st_mtime_ns for p in dataset.rglob("*.parquet")})
    return {"warehouse": warehouse, "summaries": summaries, "files": files}


def _copy(warehouse: Path, to: Path) -> Path:
    shutil.copytree(warehouse, to)
    return to


def test_runs_merge_what_they_bring(fed):
    con = duckdb.connect(str(fed["warehouse"] / "news.duckdb"), read_only=True)
    # exact copies counted on the first copy's row; its publication date the earliest any copy carries
    n_copies, published = con.execute("SELECT n_copies, published_at FROM marts.articles a JOIN lake.documents d USING (doc_id) "
                                      "WHERE d.source_uri LIKE '%/000_%'").fetchone()
    assert n_copies == 2 and str(published).startswith("2020-01-01")
    assert con.execute("SELECT count(*) FROM marts.articles").fetchone()[0] == 9
    assert sorted(r[0] for r in con.execute("SELECT articles FROM marts.daily_articles").fetchall()) == [1, 8]
    # the near-copies of 002 (one per later run) joined its cluster, represented by 002
    clusters = dict(con.execute("SELECT cluster_id, max(cluster_size) FROM marts.near_duplicates GROUP BY ALL").fetchall())
    seed_002 = con.execute("SELECT doc_id FROM lake.documents WHERE source_uri LIKE '%/002_%'").fetchone()[0]
    assert clusters[seed_002] == 3 and sorted(clusters.values()) == [2, 3]
    con.close()


def test_full_refresh_gives_the_same_marts(fed, tmp_path):
    """The incremental path (three runs) and a full refresh on the same lake: the models rebuilt
    from scratch, and a rebuild that also cleans every kept document again."""
    incremental = marts(fed["warehouse"])
    models_only = _copy(fed["warehouse"], tmp_path / "models_only")
    result = build(WarehouseLayout(models_only), full_refresh=True)
    assert "marts.articles" in result.rebuilt and result.scope == "all"
    assert marts(models_only) == incremental
    rebuilt = _copy(fed["warehouse"], tmp_path / "rebuilt")
    summary = run_etl([], rebuilt, workers=1, full_refresh=True)
    assert summary.recleaned_documents == 11
    assert marts(rebuilt, ("marts",)) == marts(fed["warehouse"], ("marts",))  # the intermediate rows carry run ids


def test_rebuild_keeps_first_and_last_seen(fed, tmp_path):
    rebuilt = _copy(fed["warehouse"], tmp_path / "rebuilt")
    run_etl([], rebuilt, workers=1, full_refresh=True)
    con = duckdb.connect(str(rebuilt / "news.duckdb"), read_only=True)
    wrong = con.execute("""SELECT count(*) FROM marts.articles a JOIN lake.documents d USING (doc_id)
                           WHERE a.first_seen <> d.ingested_at""").fetchone()[0]
    runs = con.execute("SELECT count(DISTINCT first_seen), count(DISTINCT last_seen) FROM marts.articles").fetchone()
    sources = con.execute("SELECT count(DISTINCT first_seen) FROM marts.sources").fetchone()[0]
    rebuild_started = con.execute("SELECT max(started_at) FROM meta.runs").fetchone()[0]
    con.close()
    assert wrong == 0
    assert runs == (3, 3)  # the three loading runs, not the rebuild
    assert sources >= 2
    con = duckdb.connect(str(rebuilt / "news.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM marts.articles WHERE last_seen >= ?", [rebuild_started]).fetchone()[0] == 0
    con.close()


def test_kill_during_an_incremental_model_step_leaves_the_marts_as_they_were(prefect_harness, inputs, tmp_path):
    warehouse = tmp_path / "wh"
    run_etl([inputs[0]], warehouse, workers=1)
    before = marts(warehouse)
    exported = {p: p.read_bytes() for p in (warehouse / "marts").rglob("*.parquet")}
    proc = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "run", "--input", str(inputs[1]), "--warehouse",
                           str(warehouse), "--workers", "1"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=installed_env(NEWS_ETL_KILL_AT="mid_model"))
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert marts(warehouse) == before
    assert {p: p.read_bytes() for p in (warehouse / "marts").rglob("*.parquet")} == exported
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM lake.articles").fetchone()[0] == 6  # the load had committed
    con.close()
    # the next run applies the killed run's rows too
    run_etl([inputs[1]], warehouse, workers=1)
    after = marts(warehouse)
    full = _copy(warehouse, tmp_path / "full")
    build(WarehouseLayout(full), full_refresh=True)
    assert marts(full) == after
    assert len(after["marts.articles"]) == 5


def _dataset(path: Path) -> list:
    return sorted(map(repr, duckdb.sql(f"SELECT * FROM read_parquet('{path}/**/*.parquet', hive_partitioning = true)").fetchall()))


def test_partitioned_exports_rewrite_only_the_groups_a_run_changed(fed):
    first, second, third = fed["files"]
    assert len(first) == 1 and all(p.parent.name.startswith("ingest_date=") for p in first)
    # run 2 adds articles (a group of its own) and counts a copy of a run-1 article: run 1's group is rewritten
    assert len(second) == 2 and set(first) < set(second)
    (old,) = first
    assert second[old] != first[old]
    # run 3 adds articles and counts a copy of a run-2 article: run 1's file stays as it was
    assert len(third) == 3 and third[old] == second[old]
    (run2,) = set(second) - set(first)
    assert third[run2] != second[run2]
    layout = WarehouseLayout(fed["warehouse"])
    con = duckdb.connect(str(fed["warehouse"] / "news.duckdb"), read_only=True)
    for name in ("articles", "near_duplicates"):
        table = sorted(map(repr, con.execute(f"SELECT * FROM marts.{name}").fetchall()))
        assert _dataset(layout.mart_dataset(name)) == table, name
    con.close()
    assert not layout.export_staging.exists()



def test_the_catalog_reads_the_partitioned_marts(fed):
    """Readers' catalog.duckdb: the big marts are views over their Hive datasets, with every row."""
    from news_etl.tasks.warehouse.catalog import catalog_objects, open_reader

    layout = WarehouseLayout(fed["warehouse"])
    definitions = {o.qualified: o.definition for o in catalog_objects(layout)}
    con = duckdb.connect(str(fed["warehouse"] / "news.duckdb"), read_only=True)
    try:
        expected = {name: sorted(map(repr, con.execute(f"SELECT * FROM marts.{name}").fetchall()))
                    for name in ("articles", "near_duplicates", "sources")}
    finally:
        con.close()
    assert definitions["marts.articles"] == str(layout.mart_dataset("articles").resolve())
    assert definitions["marts.sources"] == str(layout.mart_file("sources").resolve())
    with open_reader(layout) as reader:
        for name, rows in expected.items():
            assert sorted(map(repr, reader.execute(f"SELECT * FROM marts.{name}").fetchall())) == rows, name

def test_a_warn_finding_is_reported_and_never_jams_the_warehouse(fed, inputs, tmp_path):
    """The article quoting "Leave a Reply" is reported by the warn test articles_no_boilerplate in
    the run's summary and in status; later runs, news-etl test and a rebuild go on."""
    summary = fed["summaries"][2]
    assert len(summary.warnings) == 1 and summary.warnings[0].startswith("data test articles_no_boilerplate warns")
    assert "Leave a Reply" in summary.warnings[0]
    assert not any(s.warnings for s in fed["summaries"][:2])
    warehouse = _copy(fed["warehouse"], tmp_path / "wh")
    status = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "status", "--warehouse", str(warehouse)],
                            cwd=REPO, capture_output=True, text=True, timeout=120, env=installed_env())
    assert status.returncode == 0, status.stderr
    assert "warn: data test articles_no_boilerplate" in status.stdout and "Leave a Reply" in status.stdout
    test = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "test", "--warehouse", str(warehouse)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=installed_env())
    assert test.returncode == 0, test.stdout + test.stderr
    assert "data test articles_no_boilerplate warns" in test.stdout and " 0 failed, 1 warned" in test.stdout
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "neu.txt").write_text(near_copy(TEXTS[1], 9), encoding="utf-8")
    later = run_etl([extra], warehouse, workers=1)
    assert later.articles_out == 1 and later.warnings == []  # it tests what it changed
    rebuilt = run_etl([], warehouse, workers=1, full_refresh=True)
    assert len(rebuilt.warnings) == 1  # a full refresh tests every row


def test_runs_test_what_changed_and_news_etl_test_every_row(fed, inputs, tmp_path):
    warehouse = _copy(fed["warehouse"], tmp_path / "wh")
    con = duckdb.connect(str(warehouse / "news.duckdb"))
    con.execute("UPDATE marts.articles SET body = '' WHERE doc_id = (SELECT min(doc_id) FROM marts.articles)")
    con.close()
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "neu.txt").write_text(near_copy(TEXTS[3], 8), encoding="utf-8")
    assert run_etl([extra], warehouse, workers=1).articles_out == 1  # the old row is not what this run changed
    test = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "test", "--warehouse", str(warehouse)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=installed_env())
    assert test.returncode == 1
    assert "data test articles_have_body failed" in test.stdout


def test_union_find_gives_connected_components_with_their_smallest_node():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 3000, 4000), rng.integers(0, 3000, 4000)
    nodes, roots = components(a, b)
    parent = {int(n): int(n) for n in nodes}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = find(x), find(y)
        parent[max(rx, ry)] = min(rx, ry)
    groups: dict[int, list] = {}
    for n in nodes.tolist():
        groups.setdefault(find(n), []).append(n)
    expected = {n: min(g) for g in groups.values() for n in g}
    assert dict(zip(nodes.tolist(), roots.tolist())) == expected
    assert components(np.array([], dtype=np.int64), np.array([], dtype=np.int64))[0].size == 0


def test_a_story_copied_many_times_is_one_cluster_of_bounded_links(prefect_harness, tmp_path):
    """300 outlets' copies of one agency story: one cluster, at most 16 links per article (never
    the 45,000 pairs of its copies), and later copies join it without reclustering."""
    import random

    from bench.generate import make_copy, make_story, render

    story = make_story(random.Random(7))
    rng = random.Random(8)
    first, second = tmp_path / "a", tmp_path / "b"
    for d, n in ((first, 300), (second, 30)):
        d.mkdir()
        # the copies without their boilerplate: what is tested is clustering, not what cleaning keeps
        # (a "Leave a Reply" inside a copy ends its article for the cleaner: such a copy is a fragment)
        _jsonl(d / "feed.jsonl", [{"id": f"{d.name}{i}", "text": render([(t, k) for t, k in make_copy(rng, story) if k != "boilerplate"])}
                                  for i in range(n)])
    warehouse = tmp_path / "wh"
    run_etl([first], warehouse, workers=1)
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    n_articles = con.execute("SELECT count(*) FROM marts.articles").fetchone()[0]
    (cluster_id, size), = con.execute("SELECT cluster_id, cluster_size FROM marts.near_duplicates "
                                      "GROUP BY ALL ORDER BY cluster_size DESC LIMIT 1").fetchall()
    n_buckets = con.execute("SELECT count(*) FROM dedup.buckets").fetchone()[0]
    con.close()
    assert size >= 0.95 * n_articles > 250
    assert n_buckets <= 16 * n_articles
    run_etl([second], warehouse, workers=1)
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    (cluster_id_after, size_after), = con.execute("SELECT cluster_id, cluster_size FROM marts.near_duplicates "
                                                  "GROUP BY ALL ORDER BY cluster_size DESC LIMIT 1").fetchall()
    n_after = con.execute("SELECT count(*) FROM marts.articles").fetchone()[0]
    con.close()
    assert cluster_id_after == cluster_id and size_after >= size + 0.95 * (n_after - n_articles)
    full = _copy(warehouse, tmp_path / "full")
    build(WarehouseLayout(full), full_refresh=True)
    assert marts(full)["marts.near_duplicates"] == marts(warehouse)["marts.near_duplicates"]
