"""The ``news-etl`` command line."""

from __future__ import annotations

import argparse
import os
import sys
import typing
from pathlib import Path

from news_etl.tasks.options import MiB, RunOptions

READ_WAIT = 10.0  # commands that only read wait this long while a run holds the database


def _quiet_prefect() -> None:
    # Must happen before prefect is imported.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


def options_from(args: argparse.Namespace) -> RunOptions:
    """The run options the command line gave; the rest keep RunOptions' defaults."""
    return RunOptions(**{k: v for k, v in vars(args).items() if k in RunOptions.model_fields and v is not None})


def cmd_run(args) -> int:
    from news_etl.tasks.warehouse.lock import WarehouseLock

    options = options_from(args)
    # Fail before Prefect starts when another run holds the warehouse (the flow locks it again).
    WarehouseLock(options.layout, wait_seconds=options.wait).acquire().release()
    _quiet_prefect()
    from news_etl.flows.etl import etl

    print(etl(options, progress=True).line())
    return 0


def cmd_serve(args) -> int:
    _quiet_prefect()
    from news_etl.flows.deploy import build_deployment, check_server, serve

    url = check_server()
    deployment = build_deployment(options_from(args), cron=args.cron, name=args.name)
    print(f"serving etl/{args.name} on cron {args.cron!r} against {url}; Ctrl-C stops", file=sys.stderr)
    serve(deployment)
    return 0


def cmd_sql(args) -> int:
    from news_etl.tasks.warehouse.database import connect
    from news_etl.tasks.warehouse.search import load_fts

    con = connect(options_from(args).layout, read_only=True, wait_seconds=args.wait)
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
    """Recent runs from marts.runs, newest first; then what the data tests of severity warn found in the latest."""
    args.query = f"""SELECT run_id, started_at, status, documents_in, articles_out, duplicates, quarantined,
                            round(seconds_total, 1) AS seconds
                     FROM marts.runs ORDER BY started_at DESC LIMIT {int(args.limit)}"""
    args.max_rows = args.limit
    cmd_sql(args)
    from news_etl.tasks.warehouse.database import connect

    con = connect(options_from(args).layout, read_only=True, wait_seconds=args.wait)
    try:
        if con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name = 'test_results'").fetchone()[0]:
            findings = con.execute("""SELECT run_id, test, severity, n_rows, first_rows, description FROM marts.test_results
                                      WHERE run_id = (SELECT run_id FROM marts.runs ORDER BY started_at DESC LIMIT 1)
                                      ORDER BY test""").fetchall()
            for run_id, test, severity, n_rows, first_rows, description in findings:
                print(f"{severity}: data test {test} ({description}) found {n_rows} row{'s' if n_rows != 1 else ''} in run {run_id}:")
                for row in first_rows:
                    print(f"    {row}")
    finally:
        con.close()
    return 0


def cmd_test(args) -> int:
    """Every data test on every row; exit 1 if a test of severity error finds rows."""
    from news_etl.tasks.warehouse.datatests import test_warehouse

    results = test_warehouse(options_from(args).layout, Path(args.sql_dir) if args.sql_dir else None, wait_seconds=args.wait)
    failed = 0
    for r in results:
        if r.error or r.n_rows:
            failed += r.severity == "error"
            print(r.message())
        else:
            print(f"ok: data test {r.test.name}")
    print(f"{len(results)} data tests, {failed} failed, {sum(1 for r in results if r.severity == 'warn' and r.n_rows)} warned")
    return 1 if failed else 0


def cmd_models(args) -> int:
    from news_etl.tasks.warehouse.model import SQL_DIR, describe_models, render_docs

    sql_dir = Path(args.sql_dir or SQL_DIR)
    if args.docs:
        text = render_docs(sql_dir)
        if args.docs == "-":
            sys.stdout.write(text)
        else:
            Path(args.docs).write_text(text, encoding="utf-8")
            print(f"wrote {args.docs}")
        return 0
    from news_etl.tasks.warehouse.database import connect

    con = connect(options_from(args).layout, read_only=True, wait_seconds=args.wait)
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

    hits = search_warehouse(options_from(args).layout, args.query, limit=args.limit, wait_seconds=args.wait)
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

    options = options_from(args)
    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    data = path.read_bytes()
    text, encoding = decode(data)
    html = path.suffix.lower() in {".html", ".htm"} or text.lstrip()[:1] == "<"
    doc = RawDocument(doc_id_of(data), str(path), path.resolve().parent.name, "text/html" if html else "text/plain",
                      len(data), encoding, text)
    item = extract_document(doc, options)
    notes, repeated = [], None
    if args.warehouse:
        source, repeated = _frequent_lines(options, doc, args.wait)
        notes.append(f"{len(repeated)} lines found in {options.repeat_min_docs}+ documents of source {source!r} in {args.warehouse}")
    if item.extracted:
        notes.append(f"{EXTRACTOR} left out {len(item.left_out)} lines of the page's visible text")
    art = clean_article(item, load_rules(options.rules), options.favor, repeated, trace=True)
    print(f"{path}: " + "".join(f"[{n}] " for n in notes) + render(art, args.width))
    return 0


def _frequent_lines(options: RunOptions, doc, wait: float) -> tuple[str, frozenset[int]]:
    """The source a run gave this document (the file's folder if the warehouse does not hold it) and
    the keys of the lines its counts make boilerplate there, as the run saw them."""
    from news_etl.tasks.warehouse.database import connect

    con = connect(options.layout, read_only=True, wait_seconds=wait)
    try:
        row = con.execute("SELECT source_name FROM lake.documents WHERE doc_id = ? LIMIT 1", [doc.doc_id]).fetchone()
        source = row[0] if row else doc.source_name
        keys = con.execute("SELECT line_key FROM meta.line_counts WHERE source_name = ? AND n_docs >= ?",
                           [source, options.repeat_min_docs]).fetchall()
    finally:
        con.close()
    return source, frozenset(k for (k,) in keys)


# -- the parser: options shared by several commands come from parent parsers, their help and
# defaults from RunOptions


def _shown(value) -> str:
    if isinstance(value, list):
        return " ".join(value) or "none"
    if isinstance(value, int) and not isinstance(value, bool) and value >= MiB and value % MiB == 0:
        return f"{value // MiB} MiB"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _option(parser: argparse.ArgumentParser, flag: str, dest: str | None = None, default=None, help: str | None = None,
            **kwargs) -> None:
    """An argument for the RunOptions field ``dest``; unless given, its help and default are the field's."""
    field = RunOptions.model_fields[dest or flag.lstrip("-").replace("-", "_")]
    if default is None and field.default is not None and not isinstance(field.default, list):
        default = field.default  # (a list's default would be appended to: RunOptions fills it in)
    if help is None:
        help = field.description + ("" if field.default is None or field.default is False else f" (default: {_shown(field.default)})")
    parser.add_argument(flag, dest=dest or flag.lstrip("-").replace("-", "_"), default=default, help=help, **kwargs)


def _warehouse_parser(wait: float | None = None, wait_help: str | None = None) -> argparse.ArgumentParser:
    """--warehouse and --wait, for every command that opens a warehouse (each with its own --wait default)."""
    parser = argparse.ArgumentParser(add_help=False)
    _option(parser, "--warehouse", metavar="DIR")
    _option(parser, "--wait", type=float, metavar="SECONDS", default=wait, help=wait_help)
    return parser


def _inputs_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    _option(parser, "--input", dest="inputs", action="append", metavar="PATH", help="file or directory to read, recursively "
            f"(repeatable; default: {_shown(RunOptions.model_fields['inputs'].default)})")
    return parser


def _cleaning_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    _option(parser, "--rules", action="append", metavar="TOML", help="extra boilerplate rules file (repeatable)")
    _option(parser, "--favor", choices=typing.get_args(RunOptions.model_fields["favor"].annotation))
    return parser


def _batches_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    _option(parser, "--workers", type=int, metavar="N")
    _option(parser, "--dask-address", metavar="tcp://HOST:PORT")
    _option(parser, "--batch-docs", type=int, metavar="N")
    _option(parser, "--batch-bytes", type=int, metavar="N")
    _option(parser, "--max-doc-bytes", type=int, metavar="N")
    _option(parser, "--repeat-min-docs", type=int, metavar="N")
    return parser


def build_parser() -> argparse.ArgumentParser:
    from news_etl.flows.deploy import DEFAULT_CRON, DEFAULT_NAME, SCHEDULED_WAIT

    parser = argparse.ArgumentParser(prog="news-etl", description="Clean scraped news into a Parquet lake and a DuckDB warehouse.")
    sub = parser.add_subparsers(dest="command", required=True)
    inputs, cleaning, batches = _inputs_parser(), _cleaning_parser(), _batches_parser()
    reading = _warehouse_parser(READ_WAIT, f"seconds to wait while a run holds the database (default: {READ_WAIT:g})")

    run = sub.add_parser("run", parents=[_warehouse_parser(), inputs, cleaning, batches],
                         help="run the etl flow on input files and directories")
    _option(run, "--full-refresh", action="store_true")
    run.set_defaults(func=cmd_run)

    rebuild = sub.add_parser("rebuild", parents=[_warehouse_parser(), cleaning, batches],
                             help="clean the raw documents the lake keeps again (after the rules changed)")
    rebuild.set_defaults(func=cmd_run, inputs=[], full_refresh=True)

    serve = sub.add_parser("serve", parents=[_warehouse_parser(SCHEDULED_WAIT, "a scheduled run waits this long for another "
                                                                               f"run on the warehouse (default: {SCHEDULED_WAIT:g})"),
                                             inputs, cleaning, batches],
                           help="serve the etl flow as a cron deployment on the Prefect server in PREFECT_API_URL")
    serve.add_argument("--cron", default=DEFAULT_CRON, help=f'cron schedule (default: "{DEFAULT_CRON}", hourly)')
    serve.add_argument("--name", default=DEFAULT_NAME, help=f"deployment name (default: {DEFAULT_NAME}, i.e. etl/{DEFAULT_NAME})")
    serve.set_defaults(func=cmd_serve)

    explain = sub.add_parser("explain", parents=[cleaning],
                             help="show how one document is cleaned: each line kept, moved or removed, and by which rule")
    explain.add_argument("file", metavar="FILE")
    explain.add_argument("--width", type=int, default=110, help="clip lines to this many characters")
    explain.add_argument("--warehouse", default=None, metavar="DIR",
                         help="use this warehouse's repeated-line counts, as its runs did (opened read-only)")
    _option(explain, "--repeat-min-docs", type=int, metavar="N")
    explain.add_argument("--wait", type=float, default=READ_WAIT, metavar="SECONDS",
                         help=f"with --warehouse: seconds to wait while a run holds the database (default: {READ_WAIT:g})")
    explain.set_defaults(func=cmd_explain)

    sql = sub.add_parser("sql", parents=[reading], help="run a query on the warehouse (read-only) and print the result")
    sql.add_argument("query")
    sql.add_argument("--max-rows", type=int, default=40)
    sql.set_defaults(func=cmd_sql)

    status = sub.add_parser("status", parents=[reading], help="recent runs: status, documents in, articles out, quarantined, seconds")
    status.add_argument("--limit", type=int, default=10)
    status.set_defaults(func=cmd_status)

    models = sub.add_parser("models", parents=[reading], help="list the SQL models: kind, dependencies, row counts")
    models.add_argument("--sql-dir", default=None, metavar="DIR", help="model directory (default: the package's sql/)")
    models.add_argument("--docs", metavar="FILE", help="write the model reference (markdown) to FILE ('-' for stdout) instead")
    models.set_defaults(func=cmd_models)

    test = sub.add_parser("test", parents=[reading], help="run every data test on every row of the warehouse (read-only)")
    test.add_argument("--sql-dir", default=None, metavar="DIR", help="model directory (default: the package's sql/)")
    test.set_defaults(func=cmd_test)

    search = sub.add_parser("search", parents=[reading], help="full-text search over marts.articles (title + body)")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=10)
    search.set_defaults(func=cmd_search)
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
