"""The package's structure: where its code runs, and what it installs."""

from __future__ import annotations

import ast
import subprocess
import sys

import duckdb

from tests.conftest import REPO, SEEDS, installed_env

# Code the batch workers import: the subflow module (part of a task run's context) and everything
# under tasks/ingest and tasks/cleaning, with the shared modules at the top of tasks/.
WORKER_SIDE = [REPO / "flows" / "batches.py", *(REPO / "tasks").glob("*.py"),
               *(REPO / "tasks" / "ingest").rglob("*.py"), *(REPO / "tasks" / "cleaning").rglob("*.py")]
MAIN_PROCESS_ONLY = ("duckdb", "news_etl.tasks.warehouse", "news_etl.flows.etl", "news_etl.flows.report")


def _module_of(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(("news_etl", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def _imports(path) -> set[str]:
    """Every module a file imports, at its top or inside a function, relative imports resolved."""
    package = _module_of(path).split(".") if path.name == "__init__.py" else _module_of(path).split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_worker_side_code_never_imports_duckdb_or_the_warehouse():
    """The worker boundary is the package structure: ingest/ and cleaning/ (and what they share)
    import nothing of warehouse/, nor DuckDB, not even inside a function."""
    assert len(WORKER_SIDE) > 20
    offending = {str(path.relative_to(REPO)): sorted(m for m in _imports(path) if m.startswith(MAIN_PROCESS_ONLY))
                 for path in WORKER_SIDE}
    assert {path: mods for path, mods in offending.items() if mods} == {}


def test_worker_processes_import_no_duckdb_and_no_model_code():
    """What a worker process holds after importing every worker-side module: DuckDB, the load and
    the models would add to each worker's memory; trafilatura and py3langid load only when a page needs them."""
    code = ("import sys, pkgutil, importlib, news_etl.flows.batches, news_etl.tasks.ingest, news_etl.tasks.cleaning\n"
            "for package in (news_etl.tasks.ingest, news_etl.tasks.cleaning):\n"
            "    for info in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):\n"
            "        importlib.import_module(info.name)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('duckdb', 'news_etl.tasks.warehouse', 'news_etl.flows.etl',"
            " 'py3langid', 'trafilatura'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_walk_allocates_from_the_system_pool():
    """`news-etl run` starts walking the inputs before it imports the batch code: the module the
    walk lives in must set Arrow's system pool itself (mimalloc would keep the walk's freed tables)."""
    code = "import pyarrow as pa, news_etl.tasks.ingest.inputs; print(pa.default_memory_pool().backend_name)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "system"


def test_run_works_from_a_directory_with_its_own_tasks_and_flows(prefect_harness, tmp_path, foreign_cwd):
    """`news-etl run` (here as ``python -m``, which puts the cwd first on sys.path) and its worker
    processes import news_etl as installed, never the cwd's ``tasks`` or ``flows``."""
    warehouse = tmp_path / "wh"
    proc = subprocess.run([sys.executable, "-m", "news_etl.flows.cli", "run", "--input", str(SEEDS), "--warehouse",
                           str(warehouse), "--workers", "2", "--batch-docs", "3"],
                          cwd=foreign_cwd, env=installed_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "5 articles out" in proc.stdout
    con = duckdb.connect(str(warehouse / "news.duckdb"), read_only=True)
    try:
        assert con.sql("select count(*) from marts.articles").fetchone()[0] == 5
    finally:
        con.close()


def test_the_venv_has_no_top_level_tasks_or_flows(tmp_path):
    """The install adds one package, news_etl: outside the repository, `import tasks` fails."""
    for name in ("tasks", "flows", "sql"):
        proc = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path, env=installed_env(),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and f"No module named '{name}'" in proc.stderr, (name, proc.stderr)
    proc = subprocess.run([sys.executable, "-c", "import news_etl.tasks as t; print(t.PIPELINE_VERSION)"], cwd=tmp_path,
                          env=installed_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
