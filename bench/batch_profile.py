"""Where a batch task's time goes, per document, on one core: read + extract, clean, MinHash,
word counts, Parquet rows and writes, the rest (reading files, staging rows).

    python -m bench.batch_profile [--docs 4000] [--batch-docs N]

Runs the real ``process_files`` on a generated seed-style corpus (``bench/generate.py``, in a
temporary directory), once to warm up (rule regexes, language model) and once timed, with a
timer around each stage's function.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import news_etl.tasks.ingest.batch as batch
from bench.generate import generate
from news_etl.tasks.ingest.inputs import walk
from news_etl.tasks.options import RunContext, RunOptions

STAGES = {  # function in news_etl.tasks.ingest.batch -> stage
    "extract_document": "extract + normalize",
    "clean": "clean",
    "minhashes": "MinHash",
    "many_word_counts": "word counts",
    "to_table": "Parquet rows",
    "write_parquet": "Parquet write",
}


def _timed(seconds: Counter, name: str, fn):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[name] += time.perf_counter() - started
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--batch-docs", type=int, default=RunOptions.model_fields["batch_docs"].default)
    args = parser.parse_args()
    seconds: Counter = Counter()
    for name in STAGES:
        setattr(batch, name, _timed(seconds, name, getattr(batch, name)))
    with tempfile.TemporaryDirectory(prefix="news-etl-profile-") as tmp:
        generate(args.docs + args.batch_docs, Path(tmp) / "corpus", "files")
        files = [f for f in walk([Path(tmp) / "corpus" / "docs"])]
        options = RunOptions(warehouse=str(Path(tmp) / "warehouse"), batch_docs=args.batch_docs)
        now = datetime.now(timezone.utc)
        batch.process_files(files[:args.batch_docs], options, RunContext("warmup", now), 0)
        seconds.clear()
        timed = files[args.batch_docs:]
        started = time.perf_counter()
        for no, i in enumerate(range(0, len(timed), args.batch_docs), 1):
            batch.process_files(timed[i:i + args.batch_docs], options, RunContext("profile", now), no)
        total = time.perf_counter() - started
    n = len(timed)
    print(f"{n} documents, {total:.2f} s on one core: {n / total:,.0f} docs/s, {total / n * 1e3:.3f} ms/doc")
    for name, stage in STAGES.items():
        print(f"  {stage:22s} {seconds[name] / n * 1e3:.3f} ms/doc")
    print(f"  {'rest (read, rows)':22s} {(total - sum(seconds.values())) / n * 1e3:.3f} ms/doc")


if __name__ == "__main__":
    main()
