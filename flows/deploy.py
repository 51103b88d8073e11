"""Scheduled runs: the ``etl`` flow as a cron deployment served against a Prefect server."""

from __future__ import annotations

from news_etl.tasks.options import RunOptions

DEFAULT_CRON = "0 * * * *"
DEFAULT_NAME = "scheduled"
SCHEDULED_WAIT = 3600.0  # a scheduled run queues behind a running one for up to an hour, where a manual run fails at once


class NoPrefectServer(RuntimeError):
    pass


def check_server() -> str:
    """The URL of the reachable Prefect server to serve against (a deployment needs one; ephemeral mode won't do)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise NoPrefectServer(
            "PREFECT_API_URL is not set; start a server (`make serve`, or `prefect server start`) "
            "and export PREFECT_API_URL=http://127.0.0.1:4299/api"
        )
    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
    if error is not None:
        raise NoPrefectServer(f"cannot reach the Prefect server at {url}: {error}")
    return url


def build_deployment(options: RunOptions, cron: str = DEFAULT_CRON, name: str = DEFAULT_NAME):
    """A RunnerDeployment of the ``etl`` flow on ``cron`` (not yet applied or served). Its runs do
    not depend on the runner's cwd: the flow is found by module (``news_etl.flows.etl``, the
    installed code, not a file path), and the options given are stored with absolute paths; the
    cleaning options not given follow what the warehouse remembers at each run."""
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.runner import EntrypointType
    from pydantic import ValidationError

    from news_etl.flows.etl import etl

    try:
        CronSchedule(cron=cron)
    except ValidationError:
        raise ValueError(f"invalid cron schedule {cron!r} (five fields, e.g. '0 * * * *')") from None
    options = options.resolved()
    return etl.to_deployment(
        name=name,
        cron=cron,
        parameters={"options": options.given()},  # options not given keep following the warehouse's memory
        entrypoint_type=EntrypointType.MODULE_PATH,
        description=f"news-etl on {', '.join(options.inputs)} into {options.warehouse}, cron {cron!r}",
        tags=["news-etl"],
    )


def serve(deployment) -> None:
    """Register the deployment and execute its runs (scheduled or triggered) until interrupted
    (Ctrl-C or SIGTERM), one at a time; each run's steps are printed as its log lines."""
    import asyncio
    import sys

    from prefect.runner import Runner

    class _Runner(Runner):
        def handle_sigterm(self, *args, **kwargs) -> None:
            # Prefect's own handler calls the synchronous stop() inside the running event loop, where
            # it returns a coroutine nobody awaits (a RuntimeWarning); leaving the loop is enough:
            # the runner's context exit pauses the schedule and stops what runs
            self._logger.info("SIGTERM received, stopping")
            sys.exit(0)

    runner = _Runner(pause_on_shutdown=True, limit=1)
    runner.add_deployment(deployment)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
