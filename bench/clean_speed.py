"""Speed of the cleaner alone, one core: seed-sized documents per second and MB/s.

    python bench/clean_speed.py [--docs 20000] [--corpus seeds|corpus|both] [--instructions]

Documents are cycled from seeds/ and/or tests/corpus/ (seed-sized: 1-4 KB). Rules are loaded
and compiled once before timing, as in a batch task. Reports CPU time (time.process_time) and
wall time; on a shared machine the CPU figure is the one to compare. ``--instructions`` counts
instructions a document instead (valgrind's callgrind, a run minus its warm-up alone): slow, but
the same figure however busy the machine is.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from news_etl.tasks.cleaning.clean import clean, load_rules  # noqa: E402


def documents(which: str) -> list[str]:
    paths = []
    if which in ("seeds", "both"):
        paths += sorted((ROOT / "seeds").glob("*.txt"))
    if which in ("corpus", "both"):
        paths += sorted((ROOT / "tests" / "corpus").glob("*.txt"))
    return [p.read_text(encoding="utf-8") for p in paths]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--corpus", choices=["seeds", "corpus", "both"], default="seeds")
    parser.add_argument("--instructions", action="store_true", help="count instructions a document (callgrind)")
    args = parser.parse_args()
    docs = documents(args.corpus)
    if args.instructions:
        return instructions(args.corpus, len(docs) * -(-500 // len(docs)))  # every document equally often
    rules = load_rules()
    for _ in range(3):  # compile the per-language rule sets, warm caches (the DFAs of RE2 are built lazily)
        for text in docs:
            clean(text, rules)
    n = args.docs
    if n <= 0:  # the warm-up alone: the baseline of --instructions
        return 0
    sizes = [len(text.encode("utf-8")) for text in docs]
    size = sum(sizes) * (n // len(docs)) + sum(sizes[: n % len(docs)])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        clean(docs[i % len(docs)], rules)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"{n} documents from {args.corpus} ({len(docs)} distinct, mean {size / n / 1024:.1f} KiB), one core")
    print(f"CPU time : {n / cpu:8.0f} docs/s  {size / cpu / 1e6:6.2f} MB/s  ({cpu * 1e6 / n:.0f} µs/doc)")
    print(f"wall time: {n / wall:8.0f} docs/s  {size / wall / 1e6:6.2f} MB/s")
    return 0


def instructions(corpus: str, n: int) -> int:
    if not shutil.which("valgrind"):
        print("--instructions needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    counts = []
    for docs in (0, n):
        run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
                              "--docs", str(docs), "--corpus", corpus], capture_output=True, text=True, check=True)
        counts.append(int(re.search(r"Collected : (\d+)", run.stderr).group(1)))
    print(f"{n} documents from {corpus}: {(counts[1] - counts[0]) / n:,.0f} instructions a document (callgrind)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
