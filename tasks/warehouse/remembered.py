"""The cleaning options a warehouse remembers, so a run or a rebuild cleans as the runs before it.

A run uses the cleaning options it was given; for each one it was not given, the value the
warehouse's last loading run used (the run journal keeps it), else the default. Rules files are
remembered by path and content hash, and a copy of each is kept under ``rules/<sha256>.toml``:
a later run reads the file at its path (an edited file counts, with a warning naming the
change), or the kept copy when the file is gone.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ..layout import WarehouseLayout, atomic_write
from ..options import CLEANING_OPTIONS, RunOptions
from . import journal


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _remembered_rules(layout: WarehouseLayout, rules: list[dict], warn) -> list[str]:
    paths = []
    for rule in rules:
        path, sha = Path(rule["path"]), rule["sha256"]
        if path.is_file():
            now = sha256_of(path)
            if now != sha:
                warn(f"rules file {path} changed since the warehouse's last run (sha256 {sha[:12]} -> {now[:12]}): using it as it is now")
            paths.append(str(path))
        elif layout.rules_copy(sha).is_file():
            warn(f"rules file {path} is gone: using the copy the warehouse kept ({layout.rules_copy(sha)})")
            paths.append(str(layout.rules_copy(sha)))
        else:
            raise FileNotFoundError(f"rules file {path}, which the warehouse's runs used, is gone and no copy was kept; "
                                    "pass --rules FILE or --no-rules")
    return paths


def apply(options: RunOptions, layout: WarehouseLayout, warn=lambda message: None) -> RunOptions:
    """``options`` with the cleaning options it was not given taken from the warehouse's memory."""
    memory = journal.remembered_options(layout)
    update = {}
    for name in CLEANING_OPTIONS:
        if name in options.model_fields_set or name not in memory:
            continue
        update[name] = _remembered_rules(layout, memory[name], warn) if name == "rules" else memory[name]
    return options.model_copy(update=update) if update else options


def keep(options: RunOptions, layout: WarehouseLayout) -> dict:
    """Keep a copy of each rules file ``options`` uses, by content hash; return the cleaning options
    as the warehouse remembers them."""
    rules = []
    for path in options.rules:
        sha = sha256_of(path)
        copy = layout.rules_copy(sha)
        if not copy.is_file():
            with atomic_write(copy) as tmp:
                shutil.copyfile(path, tmp)
        kept = Path(path).resolve().parent == layout.rules.resolve()
        rules.append({"path": str(path), "sha256": sha} if not kept else _original(layout, sha, path))
    remembered = {name: getattr(options, name) for name in CLEANING_OPTIONS if name != "rules"}
    return {"rules": rules, **remembered}


def _original(layout: WarehouseLayout, sha: str, path: str) -> dict:
    """A kept copy stands for the file it was copied from: remember that file's path."""
    for rule in journal.remembered_options(layout).get("rules", []):
        if rule["sha256"] == sha:
            return dict(rule)
    return {"path": str(path), "sha256": sha}


def describe(remembered: dict) -> str:
    """The options in one line, as ``status`` shows them."""
    if not remembered:
        return "defaults"
    rules = ", ".join(f"{Path(r['path']).name} ({r['sha256'][:12]})" for r in remembered.get("rules", [])) or "none"
    others = ", ".join(f"{k}={_shown(remembered[k])}" for k in CLEANING_OPTIONS if k != "rules" and k in remembered)
    return f"{others}, extra rules: {rules}"


def _shown(value) -> str:
    if isinstance(value, int) and value >= 1 << 20 and value % (1 << 20) == 0:
        return f"{value >> 20} MiB"
    return str(value)
