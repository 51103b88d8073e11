"""The ``news-etl`` command line.

A user error prints one line naming the fix and exits with the code of its class (``EXIT_CODES``,
listed in ``news-etl --help``); ``--debug`` shows the traceback. User errors are found before
Prefect starts, so a typo costs no server start and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import typing
from pathlib import Path

from news_etl.tasks.options import MiB, RunOptions

READ_WAIT = 10.0  # explain --warehouse waits this long while a run holds news.duckdb

# exit codes, one per class of failure
OK, FAILED, USAGE, NOT_FOUND, BAD_RULES, BUSY, LOCKED, INTERRUPTED = 0, 1, 2, 3, 4, 5, 6, 130
EXIT_CODES = {
    OK: "success",
    FAILED: "the run failed (see `news-etl status`; --debug shows the traceback)",
    USAGE: "bad command line, option value or SQL",
    NOT_FOUND: "a path that does not exist: input, rules file, warehouse",
    BAD_RULES: "a rules file that cannot be read or compiled",
    BUSY: "another run holds the warehouse: try later, or --wait SECONDS",
    LOCKED: "another process holds news.duckdb open (readers belong on catalog.duckdb)",
    INTERRUPTED: "interrupted (Ctrl-C)",
}


class UserError(Exception):
    """An error the user can fix: one line, an exit code of its class."""

    def __init__(self, message: str, code: int = USAGE):
        super().__init__(message)
        self.code = code


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("news-etl")
    except PackageNotFoundError:
        return "unknown"


# -- Prefect: set up before it is imported


def _prefect_env(args, console_level: str) -> None:
    """Analytics off (server and client), flow-run logs at INFO for the API, and Prefect's own
    console lines at ``console_level`` (the CLI shows the run's steps itself)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")  # the client's telemetry and its first-run notice
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "DEBUG" if args.debug else console_level


def _use_server(args) -> None:
    from news_etl.flows.server import ServerError, use_server

    try:
        use_server(lambda message: None if args.quiet else print(f"news-etl: {message}", file=sys.stderr))
    except ServerError as exc:
        raise UserError(f"{exc}; or run without a server: NEWS_ETL_SERVER=ephemeral", FAILED) from None


def _display(args):
    from news_etl.flows import progress

    level = logging.ERROR if args.quiet else getattr(logging, args.log_level)
    if args.quiet:
        return progress.Display(level)
    if sys.stderr.isatty() and level <= logging.INFO:
        return progress.LiveDisplay(level)
    return progress.Display(level)


# -- checks that fail fast, before Prefect starts


def options_from(args: argparse.Namespace) -> RunOptions:
    """The run options the command line gave; the rest keep RunOptions' defaults (or, for the
    cleaning options, the warehouse's: see tasks/warehouse/remembered.py)."""
    from pydantic import ValidationError

    given = {k: v for k, v in vars(args).items() if k in RunOptions.model_fields and v is not None}
    if getattr(args, "no_rules", False):
        if given.get("rules"):
            raise UserError("--rules and --no-rules contradict each other")
        given["rules"] = []
    try:
        return RunOptions(**given)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "--" + str(error["loc"][0]).replace("_", "-") if error["loc"] else "an option"
        raise UserError(f"bad value for {name}: {error['msg']}") from None


def _check_inputs(options: RunOptions) -> None:
    for given in options.inputs:
        if not os.path.lexists(given):
            raise UserError(f"input not found: {given} (check --input)", NOT_FOUND)


def _check_rules(paths: list[str]) -> None:
    from news_etl.tasks.cleaning.ruleset import load_rules

    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"rules file not found: {path} (check --rules)", NOT_FOUND)
    try:
        load_rules(paths)
    except Exception as exc:
        message = " ".join(str(exc).split())
        raise UserError(f"{message} (fix the file, or leave it out)", BAD_RULES) from None


def _check_warehouse(layout) -> None:
    if not layout.root.is_dir():
        raise UserError(f"no warehouse at {layout.root} (check --warehouse, or `news-etl run` first)", NOT_FOUND)


# -- commands


def cmd_run(args) -> int:
    from news_etl.tasks.warehouse import journal
    from news_etl.tasks.warehouse.lock import WarehouseBusy, WarehouseLock

    options = options_from(args)
    _check_inputs(options)
    if "rules" in options.model_fields_set:
        _check_rules(options.rules)
    if args.command == "rebuild" and not options.layout.database.exists():
        raise UserError(f"no warehouse at {options.layout.root} to rebuild (check --warehouse)", NOT_FOUND)
    try:  # a busy warehouse fails here, before Prefect starts (the flow locks it again); on record all the same
        WarehouseLock(options.layout, wait_seconds=options.wait).acquire().release()
    except WarehouseBusy as exc:
        from datetime import datetime, timezone
        from uuid import uuid4

        options = options.resolved()
        journal.start(options.layout, uuid4().hex, datetime.now(timezone.utc), options.inputs, args.command).finish(
            journal.FAILED, exc)
        raise
    if options.inputs:
        from news_etl.tasks.ingest.inputs import walk_early

        walk_early(options.inputs)  # while Prefect starts: the flow's plan takes what it found
    _prefect_env(args, "CRITICAL")
    display = _display(args)
    _use_server(args)
    from news_etl.flows import progress
    from news_etl.flows.etl import etl

    progress.show(display)
    try:
        summary = etl(options)
    finally:
        progress.show(None)
    if not args.quiet:
        print(summary.line())
    return OK


def cmd_serve(args) -> int:
    if os.environ.get("NEWS_ETL_SERVER", "").lower() in {"ephemeral", "off", "0", "no"} and not os.environ.get("PREFECT_API_URL"):
        raise UserError("serve needs a Prefect server: unset NEWS_ETL_SERVER, or export PREFECT_API_URL")
    options = options_from(args)
    _check_inputs(options)
    if "rules" in options.model_fields_set:
        _check_rules(options.rules)
    _prefect_env(args, "ERROR" if args.quiet else args.log_level)
    _use_server(args)
    from news_etl.flows.deploy import build_deployment, check_server, serve

    url = check_server()
    deployment = build_deployment(options, cron=args.cron, name=args.name)
    ui = os.environ.get("PREFECT_UI_URL", "")
    if not args.quiet:
        print(f"serving etl/{args.name} on cron {args.cron!r} against {url}" + (f" (UI: {ui})" if ui else "")
              + "; Ctrl-C stops", file=sys.stderr)
    serve(deployment)
    return OK


def _reader(args):
    from news_etl.tasks.warehouse.catalog import NoCatalog, open_reader

    layout = RunOptions(warehouse=args.warehouse or RunOptions.model_fields["warehouse"].default).layout
    try:
        return open_reader(layout)
    except NoCatalog as exc:
        raise UserError(str(exc), NOT_FOUND) from None


def _print_rows(columns: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[json.dumps(v, default=str, ensure_ascii=False) if isinstance(v, (list, dict)) else v for v in r]
                          for r in rows])
    elif fmt == "json":
        for r in rows:  # one JSON object per line
            print(json.dumps(dict(zip(columns, r)), default=str, ensure_ascii=False))


def cmd_sql(args) -> int:
    import duckdb

    reader = _reader(args)
    try:
        try:
            rel = reader.con.sql(args.query)
        except duckdb.Error as exc:
            raise UserError(_sql_error(exc)) from None
        if rel is None:
            return OK
        limit = None if args.all or not args.max_rows else args.max_rows
        try:
            if args.format == "table":
                rel.show(max_rows=limit or 2**62, max_width=10_000)
            else:
                _print_rows(rel.columns, (rel.limit(limit) if limit else rel).fetchall(), args.format)
        except duckdb.Error as exc:
            raise UserError(_sql_error(exc)) from None
    finally:
        reader.close()
    return OK


def _sql_error(exc) -> str:
    message = " ".join(str(exc).split())
    if "read-only" in message or "file system operations are disabled" in message or "base table" in message:
        message += " (news-etl sql is read-only: it reads the warehouse's catalog and nothing else)"
    return message


def cmd_status(args) -> int:
    """Every run that started, newest first, with its outcome; and the cleaning options the
    warehouse remembers. Reads the run journal only: never waits for a run."""
    from news_etl.tasks.warehouse import journal, remembered

    layout = RunOptions(warehouse=args.warehouse or RunOptions.model_fields["warehouse"].default).layout
    _check_warehouse(layout)
    runs = journal.read_runs(layout, args.limit)
    memory = journal.remembered_options(layout)
    if args.json:
        print(json.dumps({"warehouse": str(layout.root.resolve()), "cleaning_options": memory, "runs": runs}, indent=1,
                         default=str))
        return OK
    print(f"warehouse {layout.root.resolve()}")
    print(f"cleaning options the next run uses unless given: {remembered.describe(memory)}")
    if not runs:
        print("no runs yet")
        return OK
    print(f"{'started (UTC)':<19}  {'status':<11}  {'in':>7}  {'articles':>8}  {'dupl':>6}  {'quar':>5}  {'seconds':>7}  run / error")
    for r in runs:
        s = r.get("summary") or {}
        seconds = sum((r.get("step_seconds") or {}).values())
        detail = r["run_id"] + (f"  {r['error']}" if r.get("error") else "")
        print(f"{r['started_at'][:19].replace('T', ' '):<19}  {r['status']:<11}  {_n(s.get('documents_in')):>7}  "
              f"{_n(s.get('articles_out')):>8}  {_n(s.get('duplicates')):>6}  {_n(s.get('quarantined')):>5}  {seconds:>7.1f}  {detail}")
    for warning in (runs[0].get("summary") or {}).get("warnings") or []:  # data tests of severity warn, latest run
        print(f"warn: {warning}")
    return OK


def cmd_test(args) -> int:
    """Every data test on every row; exit 1 if a test of severity error finds rows."""
    from news_etl.tasks.warehouse.datatests import test_warehouse

    layout = RunOptions(warehouse=args.warehouse or RunOptions.model_fields["warehouse"].default).layout
    _check_warehouse(layout)
    results = test_warehouse(layout, Path(args.sql_dir) if args.sql_dir else None, wait_seconds=args.wait)
    failed = 0
    for r in results:
        if r.error or r.n_rows:
            failed += r.severity == "error"
            print(r.message())
        else:
            print(f"ok: data test {r.test.name}")
    print(f"{len(results)} data tests, {failed} failed, {sum(1 for r in results if r.severity == 'warn' and r.n_rows)} warned")
    return FAILED if failed else OK


def _n(value) -> str:
    return "-" if value is None else f"{value:,}"


def cmd_models(args) -> int:
    from news_etl.tasks.warehouse.model import SQL_DIR, discover_models, render_docs

    sql_dir = Path(args.sql_dir or SQL_DIR)
    if args.docs:
        text = render_docs(sql_dir)
        if args.docs == "-":
            sys.stdout.write(text)
        else:
            Path(args.docs).write_text(text, encoding="utf-8")
            print(f"wrote {args.docs}")
        return OK
    models = discover_models(sql_dir)
    with _reader(args) as con:
        readable = {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                                       "UNION SELECT schema_name, view_name FROM duckdb_views()").fetchall()}
        rows = [(m, con.execute(f"SELECT count(*) FROM {m.qualified}").fetchone()[0] if m.qualified in readable else None)
                for m in models]
    width = max((len(m.qualified) for m in models), default=5)
    print(f"{'model':<{width}}  kind   {'rows':>9}  depends on")
    for m, count in rows:
        print(f"{m.qualified:<{width}}  {m.kind:<5}  {'-' if count is None else count:>9}  {', '.join(m.depends_on) or '-'}")
    return OK


def cmd_search(args) -> int:
    from news_etl.tasks.warehouse.search import search

    with _reader(args) as con:
        hits = search(con, args.query, limit=args.limit)
    if args.json:
        for h in hits:
            print(json.dumps({"score": h.score, "doc_id": h.doc_id, "title": h.title, "snippet": h.snippet}, ensure_ascii=False))
        return OK
    if not hits:
        print(f"no match for {args.query!r}")
        return OK
    for h in hits:
        print(f"{h.score:7.3f}  {h.doc_id[:16]}  {h.title or '(no title)'}")
        print(f"         {h.snippet}")
    return OK


def cmd_report(args) -> int:
    from news_etl.tasks.warehouse import journal
    from news_etl.tasks.warehouse.catalog import NoCatalog
    from news_etl.tasks.warehouse.run_report import write_report

    layout = RunOptions(warehouse=args.warehouse or RunOptions.model_fields["warehouse"].default).layout
    run_id = args.run
    if run_id == "latest":
        loaded = [r for r in journal.read_runs(layout) if r.get("loaded")]
        if not loaded:
            raise UserError(f"no run has loaded anything into {layout.root} yet", NOT_FOUND)
        run_id = loaded[0]["run_id"]
    elif run_id and not any(r["run_id"] == run_id for r in journal.read_runs(layout)):
        raise UserError(f"no run {run_id} in {layout.root} (`news-etl status` lists them)", NOT_FOUND)
    try:
        page, _figures = write_report(layout, run_id)
    except NoCatalog as exc:
        raise UserError(str(exc), NOT_FOUND) from None
    print(page)
    return OK


def cmd_rules(args) -> int:
    """Every rule that applies to the warehouse (the shipped files, then the rules files its runs
    use), by section and name, with the files that define it and how often it fired there; and the
    removals no file names (the cleaner's own signals). A rule that never matched shows 0. The
    boilerplate log names the rule, so the patterns sharing a name share its count; captions and
    bylines move lines into the article and are not counted."""
    from news_etl.tasks.cleaning.ruleset import RULES_DIR, load_rules
    from news_etl.tasks.warehouse import remembered

    options = options_from(args)
    layout = options.layout
    if "rules" in options.model_fields_set:
        _check_rules(options.rules)
    elif layout.root.is_dir():
        options = remembered.apply(options, layout, lambda message: print(f"warning: {message}", file=sys.stderr))
    fired: dict[str, tuple[int, int]] = {}
    if layout.catalog.exists():
        with _reader(args) as con:
            fired = {rule: (lines, docs) for rule, lines, docs in con.execute(
                "SELECT rule, lines_removed, documents_affected FROM marts.boilerplate_rules").fetchall()}
    named: dict[tuple[str, str], dict] = {}  # (section, name) -> its files and patterns: the log names rules, not patterns
    for f in load_rules(options.rules).files:
        path = Path(f.path)
        shown = path.name if path.parent == RULES_DIR else str(path)
        for section in ("line", "inline", "caption", "byline"):
            for i, rule in enumerate(getattr(f, section, []), 1):
                name = getattr(rule, "name", None) or f"({section}s of {shown})"
                entry = named.setdefault((section, name), {"files": [], "patterns": 0})
                entry["patterns"] += 1
                if shown not in entry["files"]:
                    entry["files"].append(shown)
    rows = []
    for (section, name), entry in named.items():
        moved = section in ("caption", "byline")  # moved into the article's fields, not logged as removed
        lines, docs = (None, None) if moved else fired.pop(name, (0, 0))
        rows.append((section, name, entry["patterns"], ", ".join(entry["files"]), lines, docs))
    rows += [("built-in", rule, 0, "-", lines, docs) for rule, (lines, docs) in sorted(fired.items())]
    columns = ["section", "rule", "patterns", "files", "lines_removed", "documents"]
    if args.format != "table":
        _print_rows(columns, rows, args.format)
        return OK
    texts = [[str(v) if i < 4 else _n(v) for i, v in enumerate(r)] for r in rows]
    widths = [max([len(c)] + [len(t[i]) for t in texts]) for i, c in enumerate(columns)]
    for line in [columns, *texts]:
        print("  ".join(v.ljust(w) if i in (0, 1, 3) else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths))).rstrip())
    if not fired and not layout.catalog.exists():
        print(f"(no counts: no run has finished in {layout.root} yet)")
    return OK


def cmd_explain(args) -> int:
    """One document through the batch code (extraction for HTML, cleaning), every line accounted for."""
    from news_etl.tasks.cleaning.explain import render
    from news_etl.tasks.cleaning.ruleset import load_rules
    from news_etl.tasks.ingest.batch import clean_article, extract_document
    from news_etl.tasks.ingest.extract import EXTRACTOR, RawDocument, decode, doc_id_of

    options = options_from(args)
    path = Path(args.file)
    if not path.is_file():
        raise UserError(f"input not found: {path}", NOT_FOUND)
    if "rules" in options.model_fields_set:
        _check_rules(options.rules)
    if args.warehouse:  # as that warehouse's runs clean: its remembered options unless given
        from news_etl.tasks.warehouse import remembered

        options = remembered.apply(options, options.layout, lambda message: print(f"warning: {message}", file=sys.stderr))
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
    return OK


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


def cmd_server(args) -> int:
    from news_etl.flows import server

    if args.action == "start":
        _prefect_env(args, "WARNING")
        state = server.start(lambda message: print(f"news-etl: {message}", file=sys.stderr))
        print(f"Prefect server at {state['ui']} (pid {state['pid']}); export PREFECT_API_URL={state['url']} to use it "
              "from prefect's own commands")
    elif args.action == "stop":
        state = server.stop()
        print(f"stopped the Prefect server at {state['ui']} (pid {state['pid']})" if state else "no news-etl Prefect server runs")
    else:
        state = server.running()
        if not state:
            print(f"no news-etl Prefect server runs (state in {server.home()})")
            return FAILED
        print(f"Prefect server at {state['ui']} (pid {state['pid']}, state in {state['home']}, log {server.log_file()})")
        print(f"export PREFECT_API_URL={state['url']}")
    return OK


# -- the parser: options shared by several commands come from parent parsers, their help from RunOptions


def _shown(value) -> str:
    if isinstance(value, list):
        return " ".join(value) or "none"
    if isinstance(value, int) and not isinstance(value, bool) and value >= MiB and value % MiB == 0:
        return f"{value // MiB} MiB"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _option(parser: argparse.ArgumentParser, flag: str, dest: str | None = None, default=None, help: str | None = None,
            remembered: bool = False, **kwargs) -> None:
    """An argument for the RunOptions field ``dest``; unless given, its help is the field's. Its
    default stays None, so the options the user did not give stay unset (RunOptions has the default)."""
    field = RunOptions.model_fields[dest or flag.lstrip("-").replace("-", "_")]
    if help is None:
        shown = "" if field.default is None or field.default is False else f"default: {_shown(field.default)}"
        if remembered:
            shown = "default: the warehouse's last run's" + (f", else {_shown(field.default)}" if shown else "")
        help = field.description + (f" ({shown})" if shown else "")
    parser.add_argument(flag, dest=dest or flag.lstrip("-").replace("-", "_"), default=default, help=help, **kwargs)


def _common_parser(suppress: bool) -> argparse.ArgumentParser:
    """--debug, --quiet and --log-level, before the command or after it."""
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--debug", action="store_true", default=default(False), help="on an error, show the traceback too")
    parser.add_argument("--quiet", "-q", action="store_true", default=default(False), help="print errors only")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), type=str.upper, default=default("INFO"),
                        help="the least important lines shown on stderr: INFO shows each step of a run, WARNING only "
                             "warnings, DEBUG Prefect's own lines too (default: INFO)")
    return parser


def _warehouse_parser(wait: float | None = None, wait_help: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    _option(parser, "--warehouse", metavar="DIR", help=f"warehouse directory (default: {RunOptions.model_fields['warehouse'].default})")
    if wait_help is not False:
        _option(parser, "--wait", type=float, metavar="SECONDS", default=wait, help=wait_help)
    return parser


def _inputs_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    _option(parser, "--input", dest="inputs", action="append", metavar="PATH", help="file or directory to read, recursively "
            f"(repeatable; default: {_shown(RunOptions.model_fields['inputs'].default)})")
    return parser


def _cleaning_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    _option(parser, "--rules", action="append", metavar="TOML", remembered=True,
            help="extra boilerplate rules file (repeatable; default: the ones the warehouse's last run used, else none)")
    parser.add_argument("--no-rules", action="store_true", help="no extra rules files, whatever the warehouse's last run used")
    _option(parser, "--favor", choices=typing.get_args(RunOptions.model_fields["favor"].annotation), remembered=True)
    _option(parser, "--repeat-min-docs", type=int, metavar="N", remembered=True)
    _option(parser, "--max-doc-bytes", type=int, metavar="N", remembered=True)
    return parser


def _batches_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    _option(parser, "--workers", type=int, metavar="N")
    _option(parser, "--dask-address", metavar="tcp://HOST:PORT")
    _option(parser, "--batch-docs", type=int, metavar="N")
    _option(parser, "--batch-bytes", type=int, metavar="N")
    _option(parser, "--max-gzip-bytes", type=int, metavar="N")
    _option(parser, "--max-gzip-ratio", type=float, metavar="X")
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line too."""

    def error(self, message: str) -> typing.NoReturn:
        print(f"{self.prog}: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(USAGE)


def build_parser() -> argparse.ArgumentParser:
    from news_etl.flows.deploy import DEFAULT_CRON, DEFAULT_NAME, SCHEDULED_WAIT

    codes = "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())
    parser = _Parser(prog="news-etl", description="Clean scraped news into a Parquet lake and a DuckDB warehouse.",
                     epilog=f"exit codes:\n{codes}", formatter_class=argparse.RawDescriptionHelpFormatter,
                     parents=[_common_parser(suppress=False)])
    parser.add_argument("--version", action="version", version=f"news-etl {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_parser(suppress=True)
    inputs, cleaning, batches = _inputs_parser(), _cleaning_parser(), _batches_parser()
    reading = _warehouse_parser(wait_help=False)

    def command(name: str, help: str, parents=(), **kwargs):
        return sub.add_parser(name, parents=[common, *parents], help=help, description=help, **kwargs)

    run = command("run", "run the etl flow on input files and directories", [_warehouse_parser(), inputs, cleaning, batches])
    _option(run, "--full-refresh", action="store_true", default=None)
    run.set_defaults(func=cmd_run)

    rebuild = command("rebuild", "clean the raw documents the lake keeps again (after the rules changed), with the "
                                 "cleaning options the warehouse remembers unless given", [_warehouse_parser(), cleaning, batches])
    rebuild.set_defaults(func=cmd_run, inputs=[], full_refresh=True)

    serve = command("serve", "serve the etl flow as a cron deployment on a Prefect server (news-etl's own, started if "
                             "need be, or PREFECT_API_URL's)",
                    [_warehouse_parser(SCHEDULED_WAIT, "a scheduled run waits this long for another run on the warehouse "
                                                       f"(default: {SCHEDULED_WAIT:g})"), inputs, cleaning, batches])
    serve.add_argument("--cron", default=DEFAULT_CRON, help=f'cron schedule (default: "{DEFAULT_CRON}", hourly)')
    serve.add_argument("--name", default=DEFAULT_NAME, help=f"deployment name (default: {DEFAULT_NAME}, i.e. etl/{DEFAULT_NAME})")
    serve.set_defaults(func=cmd_serve)

    rules = command("rules", "every boilerplate rule the warehouse's runs apply: section, file, lines removed in the warehouse",
                    [reading, cleaning])
    rules.add_argument("--format", choices=("table", "csv", "json"), default="table")
    rules.set_defaults(func=cmd_rules)

    explain = command("explain", "show how one document is cleaned: each line kept, moved or removed, and by which rule",
                      [cleaning])
    explain.add_argument("file", metavar="FILE")
    explain.add_argument("--width", type=int, default=110, help="clip lines to this many characters")
    explain.add_argument("--warehouse", default=None, metavar="DIR",
                         help="use this warehouse's repeated-line counts, as its runs did (opened read-only)")
    explain.add_argument("--wait", type=float, default=READ_WAIT, metavar="SECONDS",
                         help=f"with --warehouse: seconds to wait while a run holds the database (default: {READ_WAIT:g})")
    explain.set_defaults(func=cmd_explain)

    sql = command("sql", "run SQL on the warehouse's catalog (read-only) and print the result", [reading])
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table",
                     help="table (default), csv, or json (one object per line)")
    sql.add_argument("--max-rows", type=int, default=None, metavar="N",
                     help="rows printed at most (default: 40 for a table, all for csv and json; 0: all)")
    sql.add_argument("--all", action="store_true", help="print every row")
    sql.set_defaults(func=cmd_sql)

    status = command("status", "every run that started, newest first, with its outcome; the cleaning options the "
                               "warehouse remembers", [reading])
    status.add_argument("--limit", type=int, default=10)
    status.add_argument("--json", action="store_true", help="the runs' full records as JSON")
    status.set_defaults(func=cmd_status)

    models = command("models", "list the SQL models: kind, dependencies, row counts", [reading])
    models.add_argument("--sql-dir", default=None, metavar="DIR", help="model directory (default: the package's sql/)")
    models.add_argument("--docs", metavar="FILE", help="write the model reference (markdown) to FILE ('-' for stdout) instead")
    models.set_defaults(func=cmd_models)

    test = command("test", "run every data test on every row of the warehouse (read-only)",
                   [_warehouse_parser(READ_WAIT, f"seconds to wait while a run holds the database (default: {READ_WAIT:g})")])
    test.add_argument("--sql-dir", default=None, metavar="DIR", help="model directory (default: the package's sql/)")
    test.set_defaults(func=cmd_test)

    search = command("search", "full-text search over marts.articles (title + body)", [reading])
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true", help="one JSON object per hit")
    search.set_defaults(func=cmd_search)

    report = command("report", "write the report page (HTML with charts) of the warehouse, or of one run, and print its path",
                     [reading])
    report.add_argument("--run", metavar="ID", help="the run's id (see `news-etl status`), or 'latest'")
    report.set_defaults(func=cmd_report)

    server = command("server", "the background Prefect server news-etl starts for its runs and reuses")
    server.add_argument("action", choices=("start", "stop", "status"))
    server.set_defaults(func=cmd_server)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DO_NOT_TRACK", "1")  # analytics off: Prefect's client telemetry (and its notice) too
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "sql" and args.max_rows is None:
        args.max_rows = 40 if args.format == "table" else 0
    if getattr(args, "command", None) in ("run", "rebuild", "serve"):
        from news_etl.flows.lifeline import hold_lifeline

        hold_lifeline()  # before Prefect starts an API server or a worker: they die with this process
    import warnings

    try:
        with warnings.catch_warnings():
            if not args.debug:
                warnings.simplefilter("ignore")  # libraries' deprecation notes are not the user's business
            return args.func(args)
    except KeyboardInterrupt:
        print(f"news-etl {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # the reader of our output went away (`| head`): nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except Exception as exc:
        code, message = _classify(exc)
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"news-etl {args.command}: error: {message}", file=sys.stderr)
        return code


def _classify(exc: Exception) -> tuple[int, str]:
    """The exit code and the one line of an error."""
    from news_etl.tasks.warehouse.database import DatabaseLocked, default_wait_seconds
    from news_etl.tasks.warehouse.lock import WarehouseBusy

    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, UserError):
        return exc.code, message
    if isinstance(exc, WarehouseBusy):
        return BUSY, message
    if isinstance(exc, DatabaseLocked):
        return LOCKED, (f"{message}; close that process (readers belong on catalog.duckdb, which runs never lock), or "
                        f"let runs wait longer: NEWS_ETL_DB_WAIT=SECONDS (now {default_wait_seconds():g})")
    if isinstance(exc, FileNotFoundError):
        return NOT_FOUND, message
    return FAILED, f"{message} (`news-etl status` has the run; --debug shows the traceback)"


def entry() -> None:
    """The ``news-etl`` command: ``main``, then an exit without the interpreter's teardown.

    Freeing every module's objects one by one, after the work is done, is a visible share of a
    scheduled run's time. The exit handlers still run (Prefect's drain its queues, ``logging``'s
    flushes the handlers): this one, registered first, runs last of them."""
    import atexit

    code = [FAILED]  # (an exception no handler caught)
    atexit.register(_exit_now, code)
    try:
        code[0] = main()
    except SystemExit as exc:  # argparse's usage errors, --help, --version
        code[0] = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        raise
    sys.exit(code[0])


def _exit_now(code: list[int]) -> None:
    logging.shutdown()  # (registered before this handler: it would run after it)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away, a closed stream
            pass
    os._exit(code[0])


if __name__ == "__main__":
    entry()
