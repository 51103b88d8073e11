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
    _quiet_prefect()
    from flows.etl import run_etl

    summary = run_etl(
        inputs=args.input or [DEFAULT_INPUT],
        warehouse=args.warehouse,
        workers=args.workers,
        dask_address=args.dask_address,
        batch_docs=args.batch_docs,
        batch_bytes=args.batch_bytes,
        max_doc_bytes=args.max_doc_bytes,
        rules=args.rules or [],
        favor=args.favor,
        progress=True,
    )
    print(
        f"run {summary['run_id']}: {summary['documents_in']} documents in, {summary['articles_out']} articles out, "
        f"{summary['duplicates']} duplicates skipped, {summary['quarantined']} quarantined, "
        f"{summary['boilerplate_lines']} boilerplate lines removed -> {summary['warehouse']}"
    )
    return 0


def cmd_sql(args) -> int:
    from tasks.database import connect

    con = connect(Path(args.warehouse) / "news.duckdb", read_only=True, wait_seconds=args.wait)
    try:
        rel = con.sql(args.query)
        if rel is None:
            return 0
        rel.show(max_rows=args.max_rows, max_width=10_000)
    finally:
        con.close()
    return 0


def cmd_explain(args) -> int:
    from tasks.explain import explain
    from tasks.extract import decode, extract_html
    from tasks.ruleset import load_rules

    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    text, _encoding = decode(path.read_bytes())
    title_hint = None
    if path.suffix.lower() in {".html", ".htm"} or text.lstrip()[:1] == "<":
        meta = extract_html(text, None, args.favor)
        text, title_hint = meta["text"], meta["title"]
    _article, report = explain(text, load_rules(args.rules or []), title_hint=title_hint, width=args.width, favor=args.favor)
    print(f"{path}: {report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="news-etl", description="Clean scraped news into a Parquet lake and a DuckDB warehouse.")
    sub = parser.add_subparsers(dest="command", required=True)

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
    run.set_defaults(func=cmd_run)

    explain = sub.add_parser("explain", help="show how one document is cleaned: each line kept, moved or removed, and by which rule")
    explain.add_argument("file", metavar="FILE")
    explain.add_argument("--rules", action="append", metavar="TOML", help="extra boilerplate rules file (repeatable)")
    explain.add_argument("--favor", choices=["precision", "balanced", "recall"], default="balanced", help="precision/recall preference (HTML extraction and text pass)")
    explain.add_argument("--width", type=int, default=110, help="clip lines to this many characters")
    explain.set_defaults(func=cmd_explain)

    sql = sub.add_parser("sql", help="run a query on the warehouse (read-only) and print the result")
    sql.add_argument("query")
    sql.add_argument("--warehouse", default=DEFAULT_WAREHOUSE, metavar="DIR")
    sql.add_argument("--max-rows", type=int, default=40)
    sql.add_argument("--wait", type=float, default=10.0, help="seconds to wait while a run holds the database")
    sql.set_defaults(func=cmd_sql)
    return parser


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
