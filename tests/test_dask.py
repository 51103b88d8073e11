"""The same flow on a Dask cluster (prefect-dask) gives the same warehouse as one process."""

from __future__ import annotations

import duckdb

from .conftest import SEEDS, run_etl

ARTICLE_COLUMNS = "doc_id, title, subtitle, byline, credits, captions, tags, body, language, body_hash, minhash"


def contents(warehouse) -> dict:
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    try:
        return {
            "articles": con.execute(f"SELECT {ARTICLE_COLUMNS} FROM lake.articles ORDER BY doc_id").fetchall(),
            "boilerplate": con.execute("SELECT doc_id, line_no, text, rule FROM lake.boilerplate ORDER BY ALL").fetchall(),
            "documents": con.execute("SELECT doc_id, source_uri, encoding, raw_text FROM lake.documents ORDER BY doc_id").fetchall(),
            "marts.articles": con.execute("SELECT doc_id, title, body FROM marts.articles ORDER BY doc_id").fetchall(),
        }
    finally:
        con.close()


def test_dask_cluster_run_equals_single_process_run(prefect_harness, tmp_path):
    from distributed import LocalCluster

    single = run_etl([SEEDS], tmp_path / "single", workers=1, batch_docs=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        on_dask = run_etl([SEEDS], tmp_path / "dask", dask_address=cluster.scheduler_address, batch_docs=2)
    assert on_dask.batches == single.batches == 3
    assert on_dask.articles_out == single.articles_out == 5
    assert contents(tmp_path / "dask") == contents(tmp_path / "single")


def test_no_more_worker_processes_than_batches():
    """A single batch (a scheduled run's few new files) runs in the flow's process: starting a
    worker costs seconds of imports for under a second of work."""
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    from news_etl.flows.etl import task_runner_for

    assert isinstance(task_runner_for(4, None, 1), ThreadPoolTaskRunner)
    assert isinstance(task_runner_for(1, None, 50), ThreadPoolTaskRunner)
    pool = task_runner_for(4, None, 3)
    assert isinstance(pool, ProcessPoolTaskRunner) and pool._max_workers == 3
    assert task_runner_for(2, None, 50)._max_workers == 2
