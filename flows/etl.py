"""The ``etl`` flow: discover → process batches → load → model → export."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from news_etl.flows.batches import process_batches
from news_etl.tasks.ingest.discover import discover_task, kept_documents
from news_etl.tasks.warehouse.export import export_marts, export_task
from news_etl.tasks.crashpoints import crash_point
from news_etl.tasks.warehouse.load import finish_run, frequent_lines, load_task, models_current, recover
from news_etl.tasks.warehouse.lock import WarehouseLock
from news_etl.tasks.warehouse.model import build as build_models
from news_etl.tasks.warehouse.model import model_task
from news_etl.tasks.ingest.quarantine import quarantine_row
from news_etl.tasks.cleaning.ruleset import cached_rules
from news_etl.tasks.settings import Settings
from news_etl.tasks.ingest.write import to_table, write_parquet_atomic


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


@flow(name="etl", log_prints=False)
def etl(
    inputs: list[str],
    warehouse: str = "warehouse",
    workers: int | None = None,
    dask_address: str | None = None,
    batch_docs: int = 2000,
    batch_bytes: int = 32 * 1024 * 1024,
    max_doc_bytes: int = 20 * 1024 * 1024,
    rules: list[str] | None = None,
    favor: str = "balanced",
    wait: float = 0.0,
    full_refresh: bool = False,
    repeat_min_docs: int = 5,
    progress: bool = False,
) -> dict:
    """Clean new raw news documents from ``inputs`` into the warehouse at ``warehouse``.

    The batch tasks run in ``workers`` processes (default: the machine's cores) or on the Dask
    cluster at ``dask_address``.

    With ``full_refresh`` the raw documents the lake keeps are cleaned again too (after the rules
    changed), replacing every article and boilerplate row; inputs already seen are not re-read.
    A short line found in ``repeat_min_docs`` documents of one source is removed as boilerplate.
    """
    logger = get_run_logger()
    settings = Settings(
        warehouse=Path(warehouse).resolve(),
        batch_docs=batch_docs,
        batch_bytes=batch_bytes,
        max_doc_bytes=max_doc_bytes,
        rules_files=tuple(str(Path(r).resolve()) for r in rules or ()),
        extra={"favor": favor, "repeat_min_docs": repeat_min_docs},
    )
    cached_rules(settings.rules_files)  # a broken rules file fails here, naming the file, not in every batch
    run_id = flow_run.get_id() or uuid.uuid4().hex
    started_at = datetime.now(timezone.utc)
    timer = StepTimer()

    with WarehouseLock(settings.warehouse, run_id, wait_seconds=wait) as lock:
        if lock.took_over:
            logger.warning("took over the lock of a run that died: %s", lock.took_over)
        with timer.step("recover"):
            recovered = recover(settings)
            if any(recovered.values()):
                logger.warning("recovered an interrupted run: %s", recovered)

            frequent = frequent_lines(settings, run_id, repeat_min_docs)
            settings = dataclasses.replace(settings, extra={**settings.extra, "frequent_lines": frequent})

        with timer.step("discover"):
            plan = discover_task(settings, run_id, [str(Path(p).resolve()) for p in inputs])
            kept = kept_documents(settings) if full_refresh else []
            crash_point("after_plan")
        batches = plan["batches"]

        with timer.step("process"):
            results = []
            if batches or kept:
                runner = task_runner_for(workers, dask_address, len(batches) + len(kept))
                results = process_batches.with_options(task_runner=runner)(batches, kept, settings, run_id, started_at, progress)
            if plan["rejected"]:
                results.append(stage_rejected(settings, run_id, len(batches) + len(kept), plan["rejected"], started_at))
        results.sort(key=lambda r: r["batch_no"])

        run_row = {
            "run_id": run_id,
            "started_at": started_at,
            "inputs": [str(p) for p in inputs],
            "inputs_found": plan["found"],
            "inputs_unchanged": plan["unchanged"],
            "documents_in": sum(r["documents"] + r["quarantined"] for r in results),
        }
        with timer.step("load"):
            replace = ("articles", "boilerplate") if full_refresh else ()
            loaded = load_task(settings, run_id, started_at.date(), results, run_row, replace)
        models, exports = [], []
        try:
            if loaded["files"] or full_refresh or not models_current(settings, run_id):
                with timer.step("model"):
                    models = model_task(settings)
                    crash_point("after_model")
                with timer.step("export"):
                    exports = export_task(settings)
            else:
                logger.info("nothing new was loaded: models and exports are up to date")
        except BaseException as exc:
            finish_run(settings, run_id, "failed", timer.seconds, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            record_run(settings, run_id, timer.seconds, logger)

    summary = {
        "run_id": run_id,
        "warehouse": str(settings.warehouse),
        "inputs_found": plan["found"],
        "inputs_unchanged": plan["unchanged"],
        "batches": len(batches) + len(kept),
        "recleaned_documents": sum(r["documents"] for r in results if "ingest_date" in r),
        "documents_in": run_row["documents_in"],
        "articles_out": loaded["counts"]["articles"],
        "duplicates": loaded["duplicates"],
        "quarantined": loaded["counts"]["quarantine"],
        "boilerplate_lines": loaded["counts"]["boilerplate"],
        "models": len(models),
        "exports": len(exports),
        "step_seconds": timer.seconds,
    }
    create_table_artifact(
        key="etl-run-summary",
        table=[{"metric": k, "value": str(v)} for k, v in summary.items() if k != "step_seconds"]
        + [{"metric": f"seconds.{k}", "value": str(v)} for k, v in timer.seconds.items()],
        description=f"news-etl run {run_id}",
    )
    logger.info("run %s: %s", run_id, summary)
    return summary


def record_run(settings: Settings, run_id: str, step_seconds: dict, logger) -> None:
    """Close the run's record in meta.runs and refresh the ``runs`` mart and its export."""
    try:
        finish_run(settings, run_id, None, step_seconds)
        build_models(settings, ["runs"])
        export_marts(settings, ["runs"])
    except Exception as exc:  # the run's data is committed; a stale runs mart must not fail it
        logger.warning("could not refresh marts.runs: %s", exc)


def stage_rejected(settings: Settings, run_id: str, batch_no: int, rejected: list, at: datetime) -> dict:
    """Inputs that could not even be opened become a quarantine part of their own."""
    rows = [quarantine_row(settings, r.source_uri, r.reason, r.detail, None, run_id, at) for r in rejected]
    path = Path(settings.staging_dir) / run_id / "quarantine" / f"part-{batch_no:05d}-0000.parquet"
    write_parquet_atomic(to_table("quarantine", rows), path)
    return {"batch_no": batch_no, "chunks": [{"quarantine": str(path)}], "documents": 0,
            "quarantined": len(rows), "bytes": 0, "seconds": 0.0}


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


def run_etl(inputs: list[str], warehouse: str, workers: int | None = None, dask_address: str | None = None, **params) -> dict:
    return etl(inputs=[str(p) for p in inputs], warehouse=str(warehouse), workers=workers, dask_address=dask_address, **params)
