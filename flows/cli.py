"""The ``news-etl`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_INPUT = "seeds"
DEFAULT_WAREHOUSE = "warehouse"


def _quiet_prefect() -> None:
    # Must happen before prefect is imported.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


def cmd_run(args) -> int:
    from news_etl.tasks.warehouse.lock import WarehouseLock

    # Fail before Prefect starts when another run holds the warehouse (the flow locks it again).
    WarehouseLock(args.warehouse, wait_seconds=args.wait).acquire().release()
    _quiet_prefect()
    from news_etl.flows.etl import run_etl

    summary = run_etl(
        inputs=[DEFAULT_INPUT] if args.input is None else args.input,
        warehouse=args.warehouse,
        workers=args.workers,
        dask_address=args.dask_address,
        batch_docs=args.batch_docs,
        batch_bytes=args.batch_bytes,
        max_doc_bytes=args.max_doc_bytes,
        rules=args.rules or [],
        favor=args.favor,
        wait=args.wait,
        full_refresh=args.full_refresh,
        repeat_min_docs=args.repeat_min_docs,
        progress=True,
    )
    print(
        f"run {summary['run_id']}: {summary['inputs_found']} inputs found ({summary['inputs_unchanged']} unchanged, skipped), "
        f"{summary['documents_in']} documents in, {summary['articles_out']} articles out, "
        f"{summary['duplicates']} duplicates skipped, {summary['quarantined']} quarantined, "
        f"{summary['boilerplate_lines']} boilerplate lines removed"
        + (f", {summary['recleaned_documents']} kept documents cleaned again" if summary["recleaned_documents"] else "")
        + f" -> {summary['warehouse']}"
    )
    return 0


def cmd_sql(args) -> int:
    from news_etl.tasks.warehouse.database import connect
    from news_etl.tasks.warehouse.search import load_fts

    con = connect(Path(args.warehouse) / "news.duckdb", read_only=True, wait_seconds=args.wait)
    try:
        load_fts(con)  # stem(), for search.match
        rel = con.sql(args.query)
        if rel is None:
            return 0
        rel.show(max_rows=args.max_rows, max_width=10_000)
    finally:
        con.close()
    return 0


def cmd_status(args) -> int:
    """Recent runs from marts.runs, newest first."""
    args.query = f"""SELECT run_id, started_at, status, documents_in, articles_out, duplicates, quarantined,
                            round(seconds_total, 1) AS seconds
                     FROM marts.runs ORDER BY started_at DESC LIMIT {int(args.limit)}"""
    args.max_rows = args.limit
    return cmd_sql(args)


def cmd_models(args) -> int:
    from news_etl.tasks.warehouse.model import describe_models, render_docs
    from news_etl.tasks.settings import DEFAULT_SQL_DIR

    sql_dir = Path(args.sql_dir or DEFAULT_SQL_DIR)
    if args.docs:
        text = render_docs(sql_dir)
        if args.docs == "-":
            sys.stdout.write(text)
        else:
            Path(args.docs).write_text(text, encoding="utf-8")
            print(f"wrote {args.docs}")
        return 0
    from news_etl.tasks.warehouse.database import connect

    con = connect(Path(args.warehouse) / "news.duckdb", read_only=True, wait_seconds=args.wait)
    try:
        rows = describe_models(con, sql_dir)
    finally:
        con.close()
    width = max(len(r["model"]) for r in rows) if rows else 5
    print(f"{'model':<{width}}  kind   {'rows':>9}  depends on")
    for r in rows:
        count = "-" if r["rows"] is None else str(r["rows"])
        print(f"{r['model']:<{width}}  {r['kind']:<5}  {count:>9}  {', '.join(r['depends_on']) or '-'}")
    return 0


def cmd_search(args) -> int:
    from news_etl.tasks.warehouse.search import search_warehouse

    hits = search_warehouse(args.warehouse, args.query, limit=args.limit, wait_seconds=args.wait)
    if not hits:
        print(f"no match for {args.query!r}")
        return 0
    for h in hits:
        print(f"{h.score:7.3f}  {h.doc_id[:16]}  {h.title or '(no title)'}")
        print(f"         {h.snippet}")
    return 0


def cmd_explain(args) -> int:
    """One document through the batch code (extraction for HTML, cleaning), every line accounted for."""
    from news_etl.tasks.cleaning.explain import render
    from news_etl.tasks.cleaning.ruleset import load_rules
    from news_etl.tasks.ingest.batch import clean_article, extract_document
    from news_etl.tasks.ingest.extract import EXTRACTOR, RawDocument, decode, doc_id_of
    from news_etl.tasks.settings import Settings

    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    data = path.read_bytes()
    text, encoding = decode(data)
    html = path.suffix.lower() in {".html", ".htm"} or text.lstrip()[:1] == "<"
    doc = RawDocument(doc_id_of(data), str(path), path.resolve().parent.name, "text/html" if html else "text/plain",
                      len(data), encoding, text)
    item = extract_document(doc, Settings(warehouse=Path("."), extra={"favor": args.favor}))
    notes = []
    repeated = None
    if args.warehouse:
        source, repeated = _frequent_lines(Path(args.warehouse), doc, args.repeat_min_docs, args.wait)
        notes.append(f"{len(repeated)} lines found in {args.repeat_min_docs}+ documents of source {source!r} in {args.warehouse}")
    if item.extracted:
        notes.append(f"{EXTRACTOR} left out {len(item.left_out)} lines of the page's visible text")
    art = clean_article(item, load_rules(args.rules or []), args.favor, repeated, trace=True)
    print(f"{path}: " + "".join(f"[{n}] " for n in notes) + render(art, args.width))
    return 0


def _frequent_lines(warehouse: Path, doc, min_docs: int, wait: float) -> tuple[str, frozenset[int]]:
    """The source a run gave this document (the file's folder if the warehouse does not hold it) and
    the keys of the lines its counts make boilerplate there, as the run saw them."""
    from news_etl.tasks.warehouse.database import connect

    con = connect(warehouse / "news.duckdb", read_only=True, wait_seconds=wait)
    try:
        row = con.execute("SELECT source_name FROM lake.documents WHERE doc_id = ? LIMIT 1", [doc.doc_id]).fetchone()
        source = row[0] if row else doc.source_name
        keys = con.execute("SELECT line_key FROM meta.line_counts WHERE source_name = ? AND n_docs >= ?",
                           [source, min_docs]).fetchall()
    finally:
        con.close()
    return source, frozenset(k for (k,) in keys)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="news-etl", description="Clean scraped news into a Parquet lake and a DuckDB warehouse.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(sub)

    run = sub.add_parser("run", help="run the etl flow on input files and directories")
    run.add_argument("--input", action="append", metavar="PATH", help=f"file or directory (repeatable; default {DEFAULT_INPUT}/)")
    run.add_argument("--warehouse", default=DEFAULT_WAREHOUSE, metavar="DIR", help="warehouse directory (default warehouse/)")
    run.add_argument("--workers", type=int, default=None, help="processes for the batch tasks (default: CPU count)")
    run.add_argument("--dask-address", default=None, metavar="tcp://HOST:PORT", help="run batch tasks on this Dask cluster")
    run.add_argument("--batch-docs", type=int, default=2000, help="documents per batch task (default 2000)")
    run.add_argument("--batch-bytes", type=int, default=32 * 1024 * 1024, help="bytes per batch task (default 32 MiB)")
    run.add_argument("--max-doc-bytes", type=int, default=20 * 1024 * 1024, help="larger documents are quarantined (default 20 MiB)")
    run.add_argument("--rules", action="append", metavar="TOML", help="extra boilerplate rules file (repeatable)")
    run.add_argument("--favor", choices=["precision", "balanced", "recall"], default="balanced", help="HTML extraction preference")
    run.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                     help="wait this long for another run on the same warehouse to finish (default: fail at once)")
    run.add_argument("--repeat-min-docs", type=int, default=5, metavar="N",
                     help="a short line found in N documents of one source is boilerplate (default 5)")
    run.add_argument("--full-refresh", action="store_true",
                     help="also clean every raw document the lake keeps again and rebuild all models")
    run.set_defaults(func=cmd_run)

    rebuild = sub.add_parser("rebuild", help="clean the raw documents the lake keeps again (after the rules changed)")
    rebuild.add_argument("--warehouse", default=DEFAULT_WAREHOUSE, metavar="DIR")
    rebuild.add_argument("--workers", type=int, default=None)
    rebuild.add_argument("--dask-address", default=None, metavar="tcp://HOST:PORT")
    rebuild.add_argument("--rules", action="append", metavar="TOML", help="extra boilerplate rules file (repeatable)")
    rebuild.add_argument("--wait", type=float, default=0.0, metavar="SECONDS")
    rebuild.set_defaults(func=cmd_run, input=[], full_refresh=True, batch_docs=2000, batch_bytes=32 * 1024 * 1024,
                         max_doc_bytes=20 * 1024 * 1024, favor="balanced", repeat_min_docs=5)
    explain = sub.add_parser("explain", help="show how one document is cleaned: each line kept, moved or removed, and by which rule")
    explain.add_argument("file", metavar="FILE")
    explain.add_argument("--rules", action="append", metavar="TOML", help="extra boilerplate rules file (repeatable)")
    explain.add_argument("--favor", choices=["precision", "balanced", "recall"], default="balanced", help="precision/recall preference (HTML extraction and text pass)")
    explain.add_argument("--width", type=int, default=110, help="clip lines to this many characters")
    explain.add_argument("--warehouse", default=None, metavar="DIR",
                         help="use the repeated-line counts of this warehouse (as its runs did; read-only)")
    explain.add_argument("--repeat-min-docs", type=int, default=5, metavar="N",
                         help="with --warehouse: a short line found in N documents of one source is boilerplate (default 5)")
    explain.add_argument("--wait", type=float, default=10.0, help="seconds to wait while a run holds the database")
    explain.set_defaults(func=cmd_explain)

    sql = sub.add_parser("sql", help="run a query on the warehouse (read-only) and print the result")
    sql.add_argument("query")
    sql.add_argument("--warehouse", default=DEFAULT_WAREHOUSE, metavar="DIR")
    sql.add_argument("--max-rows", type=int, default=40)
    sql.add_argument("--wait", type=float, default=10.0, help="seconds to wait while a run holds the database")
    sql.set_defaults(func=cmd_sql)

    status = sub.add_parser("status", help="recent runs: status, documents in, articles out, quarantined, seconds")
    status.add_argument("--warehouse", default=DEFAULT_WAREHOUSE, metavar="DIR")
    status.add_argument("--limit", type=int, default=10)
    status.add_argument("--wait", type=float, default=10.0, help="seconds to wait while a run holds the database")
    status.set_defaults(func=cmd_status)

    models = sub.add_parser("models", help="list the SQL models: kind, dependencies, row counts")
    models.add_argument("--warehouse", default=DEFAULT_WAREHOUSE, metavar="DIR")
    models.add_argument("--sql-dir", default=None, metavar="DIR", help="model directory (default: the package's sql/)")
    models.add_argument("--docs", metavar="FILE", help="write the model reference (markdown) to FILE ('-' for stdout) instead")
    models.add_argument("--wait", type=float, default=10.0, help="seconds to wait while a run holds the database")
    models.set_defaults(func=cmd_models)

    search = sub.add_parser("search", help="full-text search over marts.articles (title + body)")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--warehouse", default=DEFAULT_WAREHOUSE, metavar="DIR")
    search.add_argument("--wait", type=float, default=10.0, help="seconds to wait while a run holds the database")
    search.set_defaults(func=cmd_search)
    return parser


def add_serve_parser(sub) -> None:
    serve = sub.add_parser("serve", help="serve the etl flow as a cron deployment on the Prefect server in PREFECT_API_URL")
    serve.add_argument("--cron", default="0 * * * *", help='cron schedule (default "0 * * * *", hourly)')
    serve.add_argument("--input", action="append", metavar="PATH", help=f"file or directory (repeatable; default {DEFAULT_INPUT}/)")
    serve.add_argument("--warehouse", default=DEFAULT_WAREHOUSE, metavar="DIR", help="warehouse directory (default warehouse/)")
    serve.add_argument("--name", default="scheduled", help="deployment name (default scheduled: etl/scheduled)")
    serve.add_argument("--workers", type=int, default=None, help="processes for the batch tasks (default: CPU count)")
    serve.add_argument("--max-doc-bytes", type=int, default=20 * 1024 * 1024, help="larger documents are quarantined (default 20 MiB)")
    serve.add_argument("--rules", action="append", metavar="TOML", help="extra boilerplate rules file (repeatable)")
    serve.add_argument("--wait", type=float, default=3600.0, metavar="SECONDS",
                       help="a scheduled run waits this long for another run on the warehouse (default 3600)")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    _quiet_prefect()
    from news_etl.flows.deploy import build_deployment, check_server, serve

    url = check_server()
    deployment = build_deployment(
        inputs=args.input or [DEFAULT_INPUT],
        warehouse=args.warehouse,
        cron=args.cron,
        name=args.name,
        workers=args.workers,
        max_doc_bytes=args.max_doc_bytes,
        rules=[str(Path(r).resolve()) for r in args.rules or []],
        wait=args.wait,
    )
    print(f"serving etl/{args.name} on cron {args.cron!r} against {url}; Ctrl-C stops", file=sys.stderr)
    serve(deployment)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("news-etl: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for the user; the traceback is in Prefect's logs
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"news-etl {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
