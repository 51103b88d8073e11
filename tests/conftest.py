"""One Prefect test harness per session, and one real flow run on the seeds shared by the tests."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
os.environ.setdefault("NEWS_ETL_SERVER", "ephemeral")  # no background Prefect server outlives the tests
os.environ.setdefault("DO_NOT_TRACK", "1")

import duckdb  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


def run_etl(inputs: list, warehouse, **options):
    """A real `etl` flow run on ``inputs`` into ``warehouse``; returns its RunSummary."""
    from news_etl.flows.etl import etl
    from news_etl.tasks.options import RunOptions

    return etl(RunOptions(inputs=[str(p) for p in inputs], warehouse=str(warehouse), **options))


@pytest.fixture(scope="session")
def seeds_warehouse(prefect_harness, tmp_path_factory) -> Path:
    """A warehouse built by a real `etl` flow run (two worker processes) on the seeds."""
    warehouse = tmp_path_factory.mktemp("seeds_warehouse")
    summary = run_etl([str(SEEDS)], str(warehouse), workers=2)
    assert summary.articles_out == 5
    return warehouse


@pytest.fixture
def foreign_cwd(tmp_path) -> Path:
    """A working directory outside the repository holding its own ``tasks`` and ``flows``
    packages, as Prefect projects often do: importing either fails loudly."""
    cwd = tmp_path / "project"
    for name in ("tasks", "flows"):
        (cwd / name).mkdir(parents=True)
        (cwd / name / "__init__.py").write_text(f"raise ImportError('imported the working directory\\'s {name}/, not news_etl')\n")
    return cwd


def installed_env(**extra) -> dict:
    """The environment of a subprocess that must import news_etl as installed, not from the repository."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    return {**env, "PREFECT_LOGGING_LEVEL": "WARNING", **extra}


@pytest.fixture
def seeds_db(seeds_warehouse):
    con = duckdb.connect(str(seeds_warehouse / "news.duckdb"), read_only=True)
    yield con
    con.close()
