"""The ``process-batches`` subflow: the batch tasks on the task runner the ``etl`` flow gives it.

Its own module because the task runner's worker processes import it (the flow is part of the
task run's context): what it imports, every worker carries, so no DuckDB and no model code here.
"""

from __future__ import annotations

from itertools import islice

from prefect import flow, get_run_logger
from prefect.futures import as_completed

from news_etl.flows.progress import batch_progress
from news_etl.tasks.ingest.batch import BatchResult, process_batch, reclean_batch
from news_etl.tasks.options import RunContext, RunOptions


@flow(name="process-batches", log_prints=False)
def process_batches(batches: list[str], kept: list[str], options: RunOptions, run: RunContext,
                    in_flight: int | None = None) -> list[BatchResult]:
    """The batch tasks, on this flow's task runner (processes or a Dask cluster): one per batch
    file of new inputs, then one per lake file of ``kept`` documents to clean again; at most
    ``in_flight`` submitted at a time (None: all at once), because a submitted task holds its
    pickled call (with Prefect's context and environment) in this process until a worker takes
    it, and a first run has hundreds. The pool ends with this flow, so its workers' memory is
    given back before the load and the models."""
    calls = iter([(process_batch, batch, n) for n, batch in enumerate(batches)]
                 + [(reclean_batch, lake_file, n) for n, lake_file in enumerate(kept, len(batches))])
    total = len(batches) + len(kept)
    pending = {task.submit(path, options, run, n) for task, path, n in islice(calls, in_flight or total)}
    results, advance = [], batch_progress(get_run_logger(), total)
    while pending:
        fut = next(as_completed(list(pending)))
        pending.discard(fut)
        for task, path, n in islice(calls, 1):
            pending.add(task.submit(path, options, run, n))
        results.append(fut.result())
        advance(results[-1].documents + results[-1].quarantined)
    return results


def process_batches_here(batches: list[str], kept: list[str], options: RunOptions, run: RunContext) -> list[BatchResult]:
    """The same batch tasks one after the other in the calling flow's process, for a run that
    needs no pool (a scheduled run's one batch): a subflow costs about a second of orchestration."""
    results, advance = [], batch_progress(get_run_logger(), len(batches) + len(kept))
    for batch_no, batch in enumerate(batches):
        results.append(process_batch(batch, options, run, batch_no))
        advance(results[-1].documents + results[-1].quarantined)
    for batch_no, lake_file in enumerate(kept, len(batches)):
        results.append(reclean_batch(lake_file, options, run, batch_no))
        advance(results[-1].documents + results[-1].quarantined)
    return results
