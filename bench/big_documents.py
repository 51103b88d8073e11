"""Peak memory of one big document: a whole `news-etl run` on one input, and one batch task alone.

    python -m bench.big_documents [--sizes-mib 1 5 19] [--shapes line paragraphs jsonl] [--stage run batch]

For each shape and size, one generated document (German-like prose: ``line`` is one line without
a break, ``paragraphs`` lines of about 400 characters, ``jsonl`` one JSONL record holding
paragraphs, ``bomb`` a .jsonl.gz expanding to that many MiB of zeros (no document at all, only
what reading costs)) is given to

- ``run``: the real `news-etl run --workers 1` (a single batch runs in the flow's process) against
  a background Prefect server, and
- ``batch``: ``process_files`` on it in a fresh Python process (reading, cleaning, fingerprints,
  word counts, staged Parquet parts; no Prefect, no DuckDB),

and the process's peak RSS is read from the kernel (``wait4``'s ``ru_maxrss``: exact, not
sampled). ``extra`` is that peak minus the same process on a tiny document, and ``x size`` the
extra as a multiple of the document's size. ``--max-doc-bytes`` is raised above the largest
document (the default 20 MiB when there are only bombs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import REPO, PrefectServer

MiB = 1024 * 1024
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def sentences() -> list[str]:
    """The seeds' sentences (of their longer lines): prose the cleaner keeps."""
    lines = [ln for p in sorted(SEEDS.glob("*.txt")) for ln in p.read_text(encoding="utf-8").splitlines() if len(ln) > 150]
    return [s.strip() + "." for ln in lines for s in ln.split(". ") if len(s) > 40]

BATCH = """
import json, resource, sys, time
from datetime import datetime, timezone
from news_etl.tasks.ingest.batch import process_files
from news_etl.tasks.ingest.inputs import walk
from news_etl.tasks.options import RunContext, RunOptions
path, warehouse, max_doc = sys.argv[1], sys.argv[2], int(sys.argv[3])
options = RunOptions(inputs=[path], warehouse=warehouse, max_doc_bytes=max_doc).resolved()
started = time.perf_counter()
result = process_files([f for f in walk([path])], options, RunContext("bench", datetime.now(timezone.utc)), 0)
print(json.dumps({"seconds": time.perf_counter() - started, "documents": result.documents,
                  "quarantined": result.quarantined}))
"""


def prose(rng: random.Random, n_bytes: int, line_chars: int | None) -> str:
    """About ``n_bytes`` of UTF-8 sentences; one line, or lines of about ``line_chars`` characters."""
    pool, out, size, line = sentences(), [], 0, 0
    while size < n_bytes:
        sentence = rng.choice(pool) + " "
        out.append(sentence)
        size += len(sentence.encode("utf-8"))
        line += len(sentence)
        if line_chars and line >= line_chars:
            out.append("\n")
            line = 0
    return "Ein Titel über ein großes Dokument\n" + "".join(out)


def make_input(shape: str, size: int, directory: Path) -> Path:
    rng = random.Random(size)
    directory.mkdir(parents=True, exist_ok=True)
    if shape == "bomb":
        import zlib

        path = directory / "bomb.jsonl.gz"
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(MiB)
        with open(path, "wb") as fh:
            for _ in range(size // MiB):
                fh.write(packer.compress(zeros))
            fh.write(packer.flush())
        return path
    if shape == "jsonl":
        path = directory / "doc.jsonl"
        record = json.dumps({"id": 1, "text": prose(rng, size - 40, 400)}, ensure_ascii=False)
        path.write_text(record + "\n", encoding="utf-8")
        return path
    path = directory / "doc.txt"
    path.write_text(prose(rng, size, None if shape == "line" else 400), encoding="utf-8")
    return path


def make_input_apart(shape: str, size: int, directory: Path) -> Path:
    """``make_input`` in a process of its own: a child's ru_maxrss counts the memory its parent
    had when it forked, so this process must stay small."""
    code = f"from pathlib import Path; from bench.big_documents import make_input; print(make_input({shape!r}, {size}, Path({str(directory)!r})))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO).stdout
    return Path(out.strip())


def peak_of(cmd: list[str], env: dict) -> tuple[int, float, int, str, str]:
    """Exit status, seconds, peak RSS (bytes) of ``cmd`` and its reaped children, stdout, stderr."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0), err.seek(0)
        return proc.returncode, seconds, usage.ru_maxrss * 1024, out.read().decode(), err.read().decode()


def measure(stage: str, path: Path, workdir: Path, max_doc: int, env: dict) -> dict:
    warehouse = workdir / f"wh-{stage}-{path.parent.name}"
    if stage == "run":
        cmd = [sys.executable, "-m", "news_etl.flows.cli", "run", "--input", str(path), "--warehouse", str(warehouse),
               "--workers", "1", "--max-doc-bytes", str(max_doc)]
    else:
        cmd = [sys.executable, "-c", BATCH, str(path), str(warehouse), str(max_doc)]
    code, seconds, peak, out, err = peak_of(cmd, env)
    line = (out.strip().splitlines() or [""])[-1] if code == 0 else (err.strip().splitlines() or ["?"])[-1]
    return {"status": code, "seconds": round(seconds, 1), "peak_mib": round(peak / MiB, 1), "output": line[:300]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mib", type=float, nargs="+", default=[1, 5, 19])
    parser.add_argument("--shapes", nargs="+", default=["line", "paragraphs", "jsonl"],
                        choices=["line", "paragraphs", "jsonl", "bomb"])
    parser.add_argument("--stage", nargs="+", default=["batch", "run"], choices=["batch", "run"])
    args = parser.parse_args()
    max_doc = int(max(max(args.sizes_mib) * 1.25 if set(args.shapes) - {"bomb"} else 0, 20) * MiB)
    rows = []
    with tempfile.TemporaryDirectory(prefix="news-etl-bigdoc-") as tmp:
        tmp = Path(tmp)
        server = PrefectServer(tmp / "prefect") if "run" in args.stage else None
        env = {**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        if server:
            server.__enter__()
            env.update(PREFECT_API_URL=server.url, PREFECT_HOME=str(tmp / "prefect"))
        try:
            baseline = {stage: measure(stage, make_input_apart("paragraphs", 4000, tmp / "tiny"), tmp, max_doc, env)["peak_mib"]
                        for stage in args.stage}
            print(f"baseline (a 4 KB document): " + ", ".join(f"{s} {p:.0f} MiB" for s, p in baseline.items())
                  + f"; this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (a floor of the peaks)")
            print(f"{'shape':<11}{'MiB':>6}  {'stage':<6}{'status':>7}{'seconds':>9}{'peak MiB':>10}{'extra':>8}{'x size':>8}")
            for shape in args.shapes:
                for size_mib in args.sizes_mib:
                    size = int(size_mib * MiB)
                    path = make_input_apart(shape, size, tmp / f"{shape}-{size_mib:g}")
                    actual = size if shape == "bomb" else path.stat().st_size  # a bomb: what it expands to
                    for stage in args.stage:
                        r = measure(stage, path, tmp, max_doc, env)
                        extra = r["peak_mib"] - baseline[stage]
                        r.update(shape=shape, mib=round(actual / MiB, 1), stage=stage, extra_mib=round(extra, 1),
                                 multiple=round(extra / (actual / MiB), 1))
                        rows.append(r)
                        print(f"{shape:<11}{r['mib']:>6}  {stage:<6}{r['status']:>7}{r['seconds']:>9}{r['peak_mib']:>10}"
                              f"{r['extra_mib']:>8}{r['multiple']:>8}   {r['output'][:90]}", flush=True)
        finally:
            if server:
                server.__exit__()
    print(json.dumps({"baseline_mib": baseline, "max_doc_bytes": max_doc, "rows": rows}))


if __name__ == "__main__":
    main()
