"""The ``process-batches`` subflow: the batch tasks on the task runner the ``etl`` flow gives it.

Its own module because the task runner's worker processes import it (the flow is part of the
task run's context): what it imports, every worker carries, so no DuckDB and no model code here.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from prefect import flow, unmapped
from prefect.futures import as_completed

from news_etl.tasks.ingest.batch import BatchResult, process_batch, reclean_batch
from news_etl.tasks.options import RunContext, RunOptions


@contextmanager
def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task_id = bar.add_task("batches", total=total)
        yield lambda n=1: bar.advance(task_id, n)


@flow(name="process-batches", log_prints=False)
def process_batches(batches: list[str], kept: list[str], options: RunOptions, run: RunContext,
                    progress: bool = False) -> list[BatchResult]:
    """The batch tasks, on this flow's task runner (processes or a Dask cluster): one per batch
    file of new inputs, then one per lake file of ``kept`` documents to clean again. The pool
    ends with this flow, so its workers' memory is given back before the load and the models."""
    futures = process_batch.map(batches, unmapped(options), unmapped(run), range(len(batches)))
    if kept:
        futures += reclean_batch.map(kept, unmapped(options), unmapped(run), range(len(batches), len(batches) + len(kept)))
    results = []
    with _progress(len(futures), progress and sys.stderr.isatty()) as advance:
        for fut in as_completed(futures):
            results.append(fut.result())
            advance()
    return results
