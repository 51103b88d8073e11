"""The end of a run: its record in ``meta.runs`` and ``marts.runs``, its summary for the command
line, its report page (``reports/run-<id>.html``) and the Prefect artifact with the same figures."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from prefect.artifacts import create_markdown_artifact

from news_etl.tasks.ingest.batch import BatchResult
from news_etl.tasks.layout import WarehouseLayout
from news_etl.tasks.options import RunContext
from news_etl.tasks.warehouse.export import export_marts
from news_etl.tasks.warehouse.load import Loaded, finish_run
from news_etl.tasks.warehouse.model import BuildResult, build_on
from news_etl.tasks.warehouse.plan import Plan


def record_run(layout: WarehouseLayout, run_id: str, step_seconds: dict, logger, con) -> None:
    """Close the run's record in meta.runs and refresh the ``runs`` mart and its export (on ``con``)."""
    try:
        finish_run(layout, run_id, None, step_seconds, con=con)
        build_on(con, select=["runs", "test_results"], run_id=run_id)
        export_marts(layout, ["runs", "test_results"], con=con)
    except Exception as exc:  # the run's data is committed; a stale runs mart must not fail it
        logger.warning("could not refresh marts.runs: %s", exc)


@dataclass(frozen=True)
class RunSummary:
    """What a run did, as the CLI prints it and the run's Prefect artifact shows it."""

    run_id: str
    warehouse: str
    inputs_found: int
    inputs_unchanged: int
    batches: int
    recleaned_documents: int
    documents_in: int
    articles_out: int
    duplicates: int
    quarantined: int
    boilerplate_lines: int
    models: int
    exports: int
    step_seconds: dict[str, float]
    warnings: list[str] = dataclasses.field(default_factory=list)  # findings of the data tests of severity warn

    @classmethod
    def of(cls, layout: WarehouseLayout, run: RunContext, plan: Plan, results: list[BatchResult], loaded: Loaded,
           built: BuildResult | None, exports: int, step_seconds: dict[str, float]) -> RunSummary:
        return cls(run.run_id, str(layout.root), plan.found, plan.unchanged, plan.n_batches,
                   sum(r.documents for r in results if r.recleaned_date), sum(r.documents_in for r in results),
                   loaded.articles, loaded.duplicates, loaded.quarantined, loaded.boilerplate,
                   len(built.models) if built else 0, exports, step_seconds,
                   [w.message() for w in built.warnings] if built else [])

    def counts(self) -> dict:
        """What the run journal keeps of it."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("run_id", "warehouse", "step_seconds")}

    def line(self) -> str:
        return (f"run {self.run_id}: {self.inputs_found} inputs found ({self.inputs_unchanged} unchanged, skipped), "
                f"{self.documents_in} documents in, {self.articles_out} articles out, "
                f"{self.duplicates} duplicates skipped, {self.quarantined} quarantined, "
                f"{self.boilerplate_lines} boilerplate lines removed"
                + (f", {self.recleaned_documents} kept documents cleaned again" if self.recleaned_documents else "")
                + f" -> {self.warehouse}"
                + "".join(f"\n  warning: {w}" for w in self.warnings))


def report(summary: RunSummary, logger, steps) -> RunSummary:
    """The run's report page (when it loaded anything) and its Prefect artifact: the page's
    figures as markdown tables, and where the page is."""
    from news_etl.tasks.warehouse.run_report import render_markdown, write_report

    text = "\n".join([f"# news-etl run {summary.run_id}", "", summary.line(), "",
                      "| step | seconds |", "|---|---|", *(f"| {k} | {v} |" for k, v in summary.step_seconds.items()), ""])
    if summary.documents_in or summary.recleaned_documents:
        try:
            with steps.step("report", "writing the run's report page") as step:
                page, figures = write_report(WarehouseLayout(summary.warehouse), summary.run_id)
                step.done(str(page))
            text = render_markdown(figures, page) + "\n\n" + text
        except Exception as exc:  # the run's data is published: a report that cannot be drawn must not fail it
            steps.warn(f"could not write the run's report: {exc}")
    create_markdown_artifact(key="etl-run-report", markdown=text, description=f"news-etl run {summary.run_id}")
    logger.info("%s", summary.line())
    return summary
