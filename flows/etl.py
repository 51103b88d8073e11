"""The ``etl`` flow: plan → process → load → model → export → report."""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

from prefect import flow, get_client, get_run_logger
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from news_etl.flows.batches import process_batches, process_batches_here
from news_etl.flows.lifeline import hold_lifeline
from news_etl.flows.progress import Steps
from news_etl.flows.report import RunSummary, record_run, report
from news_etl.tasks.cleaning.ruleset import cached_rules
from news_etl.tasks.crashpoints import crash_point
from news_etl.tasks.ingest.batch import BatchResult, stage_quarantined
from news_etl.tasks.layout import WarehouseLayout
from news_etl.tasks.options import RunContext, RunOptions
from news_etl.tasks.warehouse import journal, remembered
from news_etl.tasks.warehouse.catalog import write_catalog
from news_etl.tasks.warehouse.database import connect, default_wait_seconds
from news_etl.tasks.warehouse.export import export_task
from news_etl.tasks.warehouse.load import finish_run, load_task, models_current, recover
from news_etl.tasks.warehouse.lock import WarehouseLock
from news_etl.tasks.warehouse.model import model_task
from news_etl.tasks.warehouse.plan import Plan, plan_task
from news_etl.tasks.warehouse.search import export_index


@flow(name="etl", log_prints=False)
def etl(options: RunOptions = RunOptions()) -> RunSummary:
    """Clean the new raw news documents of ``options.inputs`` into the warehouse ``options.warehouse``.

    The batch tasks run in ``options.workers`` processes (default: one per core) or on the Dask
    cluster at ``options.dask_address``. With ``options.full_refresh`` the raw documents the lake
    keeps are cleaned again too, replacing every article and boilerplate row. Cleaning options not
    given are the ones the warehouse remembers from its last run. Every run is in the run journal
    (``runs/``) with its outcome, whatever it is.
    """
    logger = get_run_logger()
    hold_lifeline()  # the workers this run starts die with it (the CLI holds it already)
    options = options.resolved()
    layout = options.layout
    run_id = flow_run.get_id() or uuid.uuid4().hex
    started_at = datetime.now(timezone.utc)
    record = journal.start(layout, run_id, started_at, options.inputs, "rebuild" if options.full_refresh and not options.inputs
                           else "run", flow_run.get_id())
    steps = Steps(logger)
    try:
        summary = _run(options, layout, RunContext(run_id, started_at), record, steps, logger)
    except BaseException as exc:
        record.finish(journal.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else journal.FAILED, exc,
                      step_seconds=steps.seconds)
        raise
    record.finish(journal.SUCCEEDED, summary=summary.counts(), step_seconds=summary.step_seconds)
    return summary


def _run(options: RunOptions, layout: WarehouseLayout, run: RunContext, record: journal.RunRecord, steps: Steps,
         logger) -> RunSummary:
    options = remembered.apply(options, layout, steps.warn)
    cached_rules(tuple(options.rules))  # a broken rules file fails here, naming the file, not in every batch
    with WarehouseLock(layout, run.run_id, wait_seconds=options.wait) as lock:
        record.options = remembered.keep(options, layout)
        record.save()
        loading = False
        try:
            recover_interrupted(layout, lock, steps)
            with steps.step("discover", "walking the inputs") as step:
                plan = plan_task(options, layout, run.run_id)
                crash_point("after_plan")
                step.done(f"{plan.found:,} inputs found, {plan.unchanged:,} unchanged, {_batches(plan.n_batches)} to process")
            run = RunContext(run.run_id, run.started_at, plan.frequent_lines)
            with steps.step("process", _batches(plan.n_batches)) as step:
                results = process(plan, options, run)
                documents = sum(r.documents + r.quarantined for r in results)
                step.done(f"{documents:,} documents in {_batches(plan.n_batches)}")
            # One connection from here to the end: closing one that wrote costs a checkpoint
            con = connect(layout, wait_seconds=default_wait_seconds())
            loading = True
            with steps.step("load", "loading into DuckDB") as step:
                loaded = load_task(layout, run, plan, results, options.full_refresh, con=con)
                step.done(f"{loaded.articles:,} articles, {loaded.duplicates:,} duplicates skipped, "
                          f"{loaded.quarantined:,} quarantined, {loaded.files:,} lake files")
        except BaseException:
            if not loading:  # it cannot have committed: nothing of it stays behind
                _discard_staging(layout, run.run_id)
            else:
                con.close()
            raise  # (a load that failed may have committed: the next run's recovery decides)
        _discard_staging(layout, run.run_id)  # (the load published its parts; an empty .staging/ goes too)
        record.loaded = True
        record.save()
        try:
            built, exports = _model_and_publish(options, layout, run, loaded, con, steps, logger)
        finally:
            con.close()
    summary = RunSummary.of(layout, run, plan, results, loaded, built, len(exports), steps.seconds)
    return report(summary, logger, steps)


def _model_and_publish(options: RunOptions, layout: WarehouseLayout, run: RunContext, loaded, con, steps: Steps,
                       logger) -> tuple:
    """Model and export what the load changed, record the run, publish for readers; on ``con``,
    which the catalog step closes."""
    built, exports = None, []
    try:
        if loaded.files or options.full_refresh or not models_current(con, run.run_id):
            with steps.step("model", "building the SQL models and their data tests") as step:
                built = model_task(layout, full_refresh=options.full_refresh, run_id=run.run_id, con=con)
                crash_point("after_model")
                step.done(f"{len(built.models)} models built, data tests passed"
                          + (f", {len(built.warnings)} with warnings" if built.warnings else ""))
            with steps.step("export", "exporting the marts to Parquet") as step:
                exports = export_task(layout, con=con)
                step.done(f"{len(exports)} marts exported")
        else:
            logger.info("nothing new was loaded: models and exports are up to date")
    except BaseException as exc:
        try:
            finish_run(layout, run.run_id, "failed", steps.seconds, f"{type(exc).__name__}: {exc}", con=con)
        except Exception as record_exc:  # (a full disk fails both): the first error is the one to show
            steps.warn(f"could not record the failed run: {record_exc}")
        record_run(layout, run.run_id, steps.seconds, logger, con)
        try:
            publish_for_readers(layout, steps, con)  # whatever the run published before it failed
        except Exception as publish_error:
            steps.warn(f"could not bring the catalog up to date: {publish_error}")
        raise
    record_run(layout, run.run_id, steps.seconds, logger, con)
    publish_for_readers(layout, steps, con)
    return built, exports


def _batches(n: int) -> str:
    return f"{n} batch" if n == 1 else f"{n} batches"


def _discard_staging(layout: WarehouseLayout, run_id: str) -> None:
    shutil.rmtree(layout.run_staging(run_id), ignore_errors=True)
    try:
        layout.staging.rmdir()  # only if no other run's parts are there
    except OSError:
        pass


def publish_for_readers(layout: WarehouseLayout, steps: Steps, con) -> None:
    """The search index's changed files, then the catalog that readers open: both only where they
    changed. Readers keep whatever they hold open. Closes ``con``, the run's connection."""
    with steps.step("catalog", "publishing for readers") as step:
        try:
            files = export_index(con, layout)
        finally:
            con.close()  # (its checkpoint: this step's, not the next one's)
        wrote = write_catalog(layout)
        step.done(f"{files} search index files, {layout.catalog.name} " + ("rewritten" if wrote else "unchanged"))


def recover_interrupted(layout: WarehouseLayout, lock: WarehouseLock, steps: Steps) -> None:
    if lock.took_over:
        steps.warn(f"took over the lock of a run that died: {lock.took_over}")
    recovered = recover(layout)
    if recovered:
        steps.warn(f"recovered an interrupted run: {recovered}")


def process(plan: Plan, options: RunOptions, run: RunContext) -> list[BatchResult]:
    """The plan's batches on a task runner of their own, and the inputs it rejected as a quarantine part."""
    results = []
    if plan.n_batches:
        runner = task_runner_for(options.workers, options.dask_address, plan.n_batches)
        if isinstance(runner, ThreadPoolTaskRunner):  # no pool: the batches run here
            results = process_batches_here(plan.batches, plan.kept, options, run)
        else:
            local = isinstance(runner, ProcessPoolTaskRunner)
            # a local pool: each worker has one batch running and one waiting (a cluster takes them all)
            in_flight = 2 * pool_size(options.workers, plan.n_batches) if local else None
            with api_shared_with_workers(local):
                results = process_batches.with_options(task_runner=runner)(plan.batches, plan.kept, options, run, in_flight)
    if plan.rejected:
        results.append(stage_quarantined(plan.rejected, options, run, plan.n_batches))
    return sorted(results, key=lambda r: r.batch_no)


@contextmanager
def api_shared_with_workers(spawns_workers: bool):
    """Without PREFECT_API_URL, Prefect runs a temporary API server for this process, and every
    worker process would start one more of its own (~230 MB and seconds each, and a worker that
    dies leaves its server behind): give the workers this process's server instead."""
    if not spawns_workers or os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client:
        os.environ["PREFECT_API_URL"] = str(client.api_url)  # what the workers inherit
    try:
        yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)


def task_runner_for(workers: int | None = None, dask_address: str | None = None, n_tasks: int | None = None):
    """ProcessPool on this machine, or an existing Dask cluster through prefect-dask. No more
    processes than tasks: a single batch (a scheduled run's few new files) runs in this process,
    which has the code imported and the rules compiled, where a worker would take seconds to start."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    workers = pool_size(workers, n_tasks)
    if workers <= 1:
        return ThreadPoolTaskRunner(max_workers=1)
    return ProcessPoolTaskRunner(max_workers=workers)


def pool_size(workers: int | None, n_tasks: int | None) -> int:
    """Worker processes for ``n_tasks`` tasks: ``workers`` (default: one per core), never more than tasks."""
    return min(workers or os.cpu_count() or 1, n_tasks or os.cpu_count() or 1)
