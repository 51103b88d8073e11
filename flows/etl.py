"""The ``etl`` flow: plan → process → load → model → export → report."""

from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from news_etl.flows.batches import process_batches
from news_etl.flows.report import RunSummary, record_run, report
from news_etl.tasks.cleaning.ruleset import cached_rules
from news_etl.tasks.crashpoints import crash_point
from news_etl.tasks.ingest.batch import BatchResult, stage_quarantined
from news_etl.tasks.layout import WarehouseLayout
from news_etl.tasks.options import RunContext, RunOptions
from news_etl.tasks.warehouse.export import export_task
from news_etl.tasks.warehouse.load import finish_run, load_task, models_current, recover
from news_etl.tasks.warehouse.lock import WarehouseLock
from news_etl.tasks.warehouse.model import model_task
from news_etl.tasks.warehouse.plan import Plan, plan_task


@flow(name="etl", log_prints=False)
def etl(options: RunOptions = RunOptions(), progress: bool = False) -> RunSummary:
    """Clean the new raw news documents of ``options.inputs`` into the warehouse ``options.warehouse``.

    The batch tasks run in ``options.workers`` processes (default: one per core) or on the Dask
    cluster at ``options.dask_address``. With ``options.full_refresh`` the raw documents the lake
    keeps are cleaned again too, replacing every article and boilerplate row.
    """
    logger = get_run_logger()
    options = options.resolved()
    layout = options.layout
    cached_rules(tuple(options.rules))  # a broken rules file fails here, naming the file, not in every batch
    run_id = flow_run.get_id() or uuid.uuid4().hex
    started_at, timer = datetime.now(timezone.utc), StepTimer()

    with WarehouseLock(layout, run_id, wait_seconds=options.wait) as lock:
        with timer.step("recover"):
            recover_interrupted(layout, lock, logger)
        with timer.step("discover"):
            plan = plan_task(options, layout, run_id)
            crash_point("after_plan")
        run = RunContext(run_id, started_at, plan.frequent_lines)
        with timer.step("process"):
            results = process(plan, options, run, progress)
        with timer.step("load"):
            loaded = load_task(layout, run, plan, results, options.full_refresh)
        built, exports = None, []
        try:
            if loaded.files or options.full_refresh or not models_current(layout, run_id):
                with timer.step("model"):
                    built = model_task(layout, full_refresh=options.full_refresh, run_id=run_id)
                    crash_point("after_model")
                with timer.step("export"):
                    exports = export_task(layout)
            else:
                logger.info("nothing new was loaded: models and exports are up to date")
        except BaseException as exc:
            finish_run(layout, run_id, "failed", timer.seconds, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            record_run(layout, run_id, timer.seconds, logger)

    return report(RunSummary.of(layout, run, plan, results, loaded, built, len(exports), timer.seconds), logger)


class StepTimer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 3)


def recover_interrupted(layout: WarehouseLayout, lock: WarehouseLock, logger) -> None:
    if lock.took_over:
        logger.warning("took over the lock of a run that died: %s", lock.took_over)
    recovered = recover(layout)
    if recovered:
        logger.warning("recovered an interrupted run: %s", recovered)


def process(plan: Plan, options: RunOptions, run: RunContext, progress: bool) -> list[BatchResult]:
    """The plan's batches on a task runner of their own, and the inputs it rejected as a quarantine part."""
    results = []
    if plan.n_batches:
        runner = task_runner_for(options.workers, options.dask_address, plan.n_batches)
        results = process_batches.with_options(task_runner=runner)(plan.batches, plan.kept, options, run, progress)
    if plan.rejected:
        results.append(stage_quarantined(plan.rejected, options, run, plan.n_batches))
    return sorted(results, key=lambda r: r.batch_no)


def task_runner_for(workers: int | None = None, dask_address: str | None = None, n_tasks: int | None = None):
    """ProcessPool on this machine, or an existing Dask cluster through prefect-dask. No more
    processes than tasks: a single batch (a scheduled run's few new files) runs in this process,
    which has the code imported and the rules compiled, where a worker would take seconds to start."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    workers = min(workers or os.cpu_count() or 1, n_tasks or os.cpu_count() or 1)
    if workers <= 1:
        return ThreadPoolTaskRunner(max_workers=1)
    return ProcessPoolTaskRunner(max_workers=workers)
