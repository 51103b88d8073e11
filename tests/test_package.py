"""The package's structure: where its code runs, and what it installs."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO

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
