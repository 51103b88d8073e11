"""End-to-end benchmark: the real `news-etl run` on generated corpora, next to an I/O floor.

For each corpus size: generate (or reuse) a seed-style corpus, measure the floor (read the same
documents and write them to Parquet with pyarrow, no cleaning, one process), run `news-etl run`
in a subprocess against a background Prefect server while sampling the peak RSS of its whole
process tree, read the seconds per step from meta.runs, and score the cleaner's removed lines
against the generator's ground truth. Then, as the next cron run would, run again over the same
input plus ``--scheduled`` new documents (another seed) into each warehouse the first runs built:
what a scheduled run costs once the warehouse holds the corpus (the median of ``--repeats`` such
runs, each with another seed's new documents; the sizes take turns, so that the machine's drift
within the hour falls on each alike). Writes
bench/results/bench-<time>.json, latest.json and a PNG plot of time and peak memory against
corpus size.

    python -m bench.run --sizes 10000 100000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from bench.generate import generate
from news_etl.tasks.layout import WarehouseLayout

REPO = Path(__file__).resolve().parent.parent


def corpus_for(size: int, fmt: str, cache: Path, seed: int = 0, syndicated: int = 0) -> Path:
    path = cache / (f"corpus-{fmt}-{size}" + (f"-seed{seed}" if seed else "") + (f"-synd{syndicated}" if syndicated else ""))
    if not (path / "corpus.json").exists():
        shutil.rmtree(path, ignore_errors=True)
        generate(size, path, fmt, seed, syndicated=syndicated)
    return path


def input_dir(corpus: Path, fmt: str) -> Path:
    return corpus / ("docs" if fmt == "files" else "jsonl")


def measure_floor(corpus: Path, fmt: str, out: Path, chunk: int = 2000) -> float:
    """Seconds to read every document and write it to zstd Parquet, without any cleaning."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list] = {"source_uri": [], "raw_text": []}
    n_part = 0

    def flush():
        nonlocal n_part, rows
        pq.write_table(pa.table(rows), out / f"part-{n_part:05d}.parquet", compression="zstd")
        n_part += 1
        rows = {"source_uri": [], "raw_text": []}

    for root, _dirs, files in os.walk(input_dir(corpus, fmt)):
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                if fmt == "files":
                    items = [(path, fh.read().decode("utf-8"))]
                else:
                    items = [(f"{path}#L{i}", json.loads(line)["text"]) for i, line in enumerate(fh, 1)]
            for uri, text in items:
                rows["source_uri"].append(uri)
                rows["raw_text"].append(text)
                if len(rows["raw_text"]) >= chunk:
                    flush()
    if rows["raw_text"]:
        flush()
    return time.perf_counter() - started


class PrefectServer:
    """A background `prefect server start` with its own home, so runs do not pay ephemeral start-up."""

    def __init__(self, home: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_LOGGING_LEVEL": "WARNING"}
        self.proc = None

    def __enter__(self) -> "PrefectServer":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--analytics-off", "--no-ui", "--host", "127.0.0.1",
             "--port", str(self.port)], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=2)
                return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("prefect server did not start in 120 s")

    def __exit__(self, *exc) -> None:
        os.killpg(self.proc.pid, 15)
        self.proc.wait(timeout=30)


def run_pipeline(inputs: list[Path], warehouse: Path, workers: int, env: dict) -> dict:
    """Wall seconds and peak RSS of one `news-etl run`: of the CLI process and all its children
    together, and of each part alone (the main process; the workers, while they run)."""
    cmd = [sys.executable, "-m", "news_etl.flows.cli", "run", *(a for p in inputs for a in ("--input", str(p))),
           "--warehouse", str(warehouse), "--workers", str(workers)]
    peak = peak_main = peak_children = 0
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    done = threading.Event()

    def sample():
        nonlocal peak, peak_main, peak_children
        while not done.is_set():
            try:
                main = ps.memory_info().rss
                children = sum(p.memory_info().rss for p in ps.children(recursive=True) if p.is_running())
                peak, peak_main, peak_children = max(peak, main + children), max(peak_main, main), max(peak_children, children)
            except psutil.Error:
                pass
            time.sleep(0.5)  # walking the process tree costs CPU the run would otherwise have

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"news-etl run failed ({proc.returncode}): {err[-3000:]}")
    return {"seconds": seconds, "peak_rss_mb": peak / 2**20, "peak_main_rss_mb": peak_main / 2**20,
            "peak_children_rss_mb": peak_children / 2**20, "stdout": out.strip()}


def last_run(con) -> tuple[dict, int, int]:
    """Seconds per step, documents in and articles out of the warehouse's latest run."""
    steps, docs_in, articles = con.execute(
        "SELECT step_seconds, documents_in, articles_out FROM meta.runs ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    return dict(steps or {}), docs_in, articles


def run_facts(warehouse: Path, truth: Path) -> dict:
    """Seconds per step of the run, and the cleaner's scores against the ground truth."""
    con = duckdb.connect(str(WarehouseLayout(warehouse).database), read_only=True)
    try:
        steps, docs_in, articles = last_run(con)
        con.execute(f"CREATE TEMP VIEW truth AS SELECT doc_id, trim(regexp_replace(text, '\\s+', ' ', 'g')) AS text, label FROM '{truth}'")
        tp, fp, fn = con.execute("""
            WITH removed AS (SELECT doc_id, trim(regexp_replace(text, '\\s+', ' ', 'g')) AS text FROM lake.boilerplate),
                 boiler AS (SELECT doc_id, text FROM truth WHERE label = 'boilerplate')
            SELECT (SELECT count(*) FROM (SELECT * FROM removed INTERSECT ALL SELECT * FROM boiler)),
                   (SELECT count(*) FROM (SELECT * FROM removed EXCEPT ALL SELECT * FROM boiler)),
                   (SELECT count(*) FROM (SELECT * FROM boiler EXCEPT ALL SELECT * FROM removed))
        """).fetchone()
        kept, content = con.execute("""
            SELECT count(*) FILTER (WHERE contains(a.body, t.text)), count(*)
            FROM truth t JOIN lake.articles a USING (doc_id) WHERE t.label = 'content'
        """).fetchone()
        near = con.execute("""SELECT count(*), count(DISTINCT cluster_id), coalesce(max(cluster_size), 0)
                              FROM marts.near_duplicates""").fetchone()
        unique = con.execute("SELECT count(*) FROM marts.articles").fetchone()[0]
    finally:
        con.close()
    return {
        "step_seconds": steps,
        "documents_in": docs_in,
        "articles_out": articles,
        "boilerplate_precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "boilerplate_recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "content_kept": round(kept / content, 4) if content else None,
        "unique_articles": unique,
        "near_duplicates": {"articles": near[0], "clusters": near[1], "largest_cluster": near[2]},
    }


def scheduled_runs(benched: list[tuple[dict, Path, Path]], fmt: str, workers: int, cache: Path, env: dict,
                   new_docs: int, repeats: int, syndicated: int) -> None:
    """Cron runs after the first, ``repeats`` into each warehouse the first runs built: the same
    input directory again (every file unchanged) and the directories of new documents so far. The
    sizes take turns (10k, 1M, 10k, 1M, ...) so that the machine's drift falls on each alike; the run
    of median seconds stands for a size's runs (one run is at the mercy of the machine's noise),
    and every run's seconds are kept. Sets each record's ``scheduled``."""
    extras = [corpus_for(new_docs, fmt, cache, seed=k, syndicated=syndicated) for k in range(1, repeats + 1)]
    runs: list[list] = [[] for _ in benched]
    for k in range(1, repeats + 1):
        for (_, corpus, warehouse), mine in zip(benched, runs):
            run = run_pipeline([input_dir(corpus, fmt), *(input_dir(e, fmt) for e in extras[:k])], warehouse, workers, env)
            con = duckdb.connect(str(WarehouseLayout(warehouse).database), read_only=True)
            try:
                steps, docs_in, _ = last_run(con)
            finally:
                con.close()
            mine.append((run, steps, docs_in))
    for (record, _, _), mine in zip(benched, runs):
        run, steps, docs_in = sorted(mine, key=lambda r: r[0]["seconds"])[len(mine) // 2]
        record["scheduled"] = {
            "new_docs": docs_in, "seconds": round(run["seconds"], 2), "runs": [round(r[0]["seconds"], 2) for r in mine],
            "peak_rss_mb": round(max(r[0]["peak_rss_mb"] for r in mine)),
            "step_seconds": steps, "fixed_seconds": round(run["seconds"] - sum(steps.values()), 2)}


def first_run(size: int, fmt: str, workers: int, cache: Path, env: dict, workdir: Path,
              syndicated: int = 0) -> tuple[dict, Path, Path]:
    """The first run over a corpus of ``size`` into a warehouse under ``workdir``, next to the
    floor: its record, the corpus and the warehouse (kept for the scheduled runs)."""
    corpus = corpus_for(size, fmt, cache, syndicated=syndicated)
    meta = json.loads((corpus / "corpus.json").read_text())
    floor = measure_floor(corpus, fmt, workdir / "floor")
    shutil.rmtree(workdir / "floor", ignore_errors=True)
    warehouse = workdir / "warehouse"
    run = run_pipeline([input_dir(corpus, fmt)], warehouse, workers, env)
    facts = run_facts(warehouse, corpus / "truth.parquet")
    steps = facts["step_seconds"]
    mb = meta["bytes"] / 2**20
    record = {
        "docs": size, "format": fmt, "syndicated": syndicated, "workers": workers, "mb": round(mb, 1),
        "seconds": round(run["seconds"], 2),
        "docs_per_s": round(size / run["seconds"]),
        "mb_per_s": round(mb / run["seconds"], 2),
        "peak_rss_mb": round(run["peak_rss_mb"]),
        "peak_main_rss_mb": round(run["peak_main_rss_mb"]),
        "peak_children_rss_mb": round(run["peak_children_rss_mb"]),
        "floor_seconds": round(floor, 2),
        "floor_docs_per_s": round(size / floor),
        "ratio_to_floor": round(run["seconds"] / floor, 2),
        "step_seconds": steps,
        "fixed_seconds": round(run["seconds"] - sum(steps.values()), 2),
        **{k: v for k, v in facts.items() if k != "step_seconds"},
        "scheduled": None,
        "summary": run["stdout"],
    }
    return record, corpus, warehouse


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["docs"] for r in results]
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(sizes, [r["seconds"] for r in results], "o-", label="news-etl run (s)")
    ax1.plot(sizes, [r["floor_seconds"] for r in results], "s--", label="floor: read + Parquet (s)")
    ax1.set_xscale("log")
    ax1.set_xlabel("documents")
    ax1.set_ylabel("seconds")
    ax2 = ax1.twinx()
    ax2.plot(sizes, [r["peak_rss_mb"] for r in results], "^:", color="tab:red", label="peak RSS (MB)")
    ax2.set_ylabel("peak RSS (MB)")
    ax2.set_ylim(bottom=0)
    fig.legend(loc="upper left", bbox_to_anchor=(0.1, 0.9))
    ax1.set_title("news-etl end to end")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--format", choices=["files", "jsonl"], default="files")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "news-etl-bench"),
                        help="where generated corpora are kept between runs")
    parser.add_argument("--scheduled", type=int, default=1000, metavar="N",
                        help="after the first runs, time the next run into each warehouse, which finds N new documents (0: none)")
    parser.add_argument("--repeats", type=int, default=3, metavar="K",
                        help="time K such runs, each with N more new documents, and report the median")
    parser.add_argument("--syndicated", type=int, default=0, metavar="N",
                        help="corpora of agency copy: stories copied by N outlets each (bench/generate.py)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--reference", action="store_true",
                        help="also write each size's result to bench/reference/<format>[-synd<N>]-<size>.json (replacing it)")
    args = parser.parse_args()

    cache, out = Path(args.cache), Path(args.out)
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    with (tempfile.TemporaryDirectory(prefix="news-etl-prefect-") as home, PrefectServer(Path(home)) as server,
          tempfile.TemporaryDirectory(prefix="news-etl-bench-") as tmp):
        env = {**os.environ, "PREFECT_API_URL": server.url, "PREFECT_LOGGING_LEVEL": "WARNING",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        benched = []
        for size in sorted(args.sizes):
            benched.append(first_run(size, args.format, args.workers, cache, env, Path(tmp) / str(size), args.syndicated))
            print(json.dumps({k: v for k, v in benched[-1][0].items() if k not in ("summary", "scheduled")}), flush=True)
        if args.scheduled:
            scheduled_runs(benched, args.format, args.workers, cache, env, args.scheduled, args.repeats, args.syndicated)
    results = [record for record, _, _ in benched]
    for result in results:
        print(json.dumps({"docs": result["docs"], "scheduled": result["scheduled"]}), flush=True)
    report = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "command": "python -m bench.run " + " ".join(sys.argv[1:]),
        "results": results,
    }
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    for name in (f"bench-{stamp}.json", "latest.json"):
        (out / name).write_text(json.dumps(report, indent=2))
    if args.reference:
        for result in results:
            name = f"{args.format}{f'-synd{args.syndicated}' if args.syndicated else ''}-{result['docs']}.json"
            (REPO / "bench" / "reference" / name).write_text(json.dumps({**report, "results": [result]}, indent=2))
    plot(results, out / "latest.png")
    print(f"wrote {out / 'latest.json'} and {out / 'latest.png'}")


if __name__ == "__main__":
    main()
