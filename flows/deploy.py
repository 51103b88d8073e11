"""Scheduled runs: the ``etl`` flow as a cron deployment served against a Prefect server."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CRON = "0 * * * *"
DEFAULT_NAME = "news-etl-hourly"


class NoPrefectServer(RuntimeError):
    pass


def api_url() -> str:
    """The Prefect server to serve against; a deployment needs a real server, not ephemeral mode."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value() or os.environ.get("PREFECT_API_URL")
    if not url:
        raise NoPrefectServer(
            "PREFECT_API_URL is not set; start a server (`make serve`, or `prefect server start`) "
            "and export PREFECT_API_URL=http://127.0.0.1:4299/api"
        )
    return url


def etl_parameters(inputs: list[str], warehouse: str, **params) -> dict:
    """Flow parameters with absolute paths, so runs do not depend on the runner's cwd."""
    return {"inputs": [str(Path(p).resolve()) for p in inputs], "warehouse": str(Path(warehouse).resolve()), **params}


def build_deployment(
    inputs: list[str],
    warehouse: str,
    cron: str = DEFAULT_CRON,
    name: str = DEFAULT_NAME,
    workers: int | None = None,
    **params,
):
    """A RunnerDeployment of the ``etl`` flow on ``cron`` (not yet applied or served)."""
    from flows.etl import etl, task_runner_for

    flow = etl.with_options(task_runner=task_runner_for(workers)) if workers else etl
    return flow.to_deployment(
        name=name,
        cron=cron,
        parameters=etl_parameters(inputs, warehouse, **params),
        description=f"news-etl on {', '.join(inputs)} into {warehouse}, cron {cron!r}",
        tags=["news-etl"],
    )


def serve_etl(inputs: list[str], warehouse: str, cron: str = DEFAULT_CRON, name: str = DEFAULT_NAME,
              workers: int | None = None, **params) -> None:
    """Register the deployment and run its scheduled flow runs until interrupted."""
    api_url()
    from prefect import serve

    serve(build_deployment(inputs, warehouse, cron, name, workers, **params), limit=1)
