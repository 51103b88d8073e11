"""Speed of the cleaner alone, one core: seed-sized documents per second and MB/s.

    python bench/clean_speed.py [--docs 20000] [--corpus seeds|corpus|both]

Documents are cycled from seeds/ and/or tests/corpus/ (seed-sized: 1-4 KB). Rules are loaded
and compiled once before timing, as in a batch task. Reports CPU time (time.process_time) and
wall time; on a shared machine the CPU figure is the one to compare.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    docs = documents(args.corpus)
    rules = load_rules()
    for text in docs:  # compile the per-language rule sets, warm caches
        clean(text, rules)
    n = args.docs
    size = sum(len(docs[i % len(docs)].encode("utf-8")) for i in range(n))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        clean(docs[i % len(docs)], rules)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"{n} documents from {args.corpus} ({len(docs)} distinct, mean {size / n / 1024:.1f} KiB), one core")
    print(f"CPU time : {n / cpu:8.0f} docs/s  {size / cpu / 1e6:6.2f} MB/s  ({cpu * 1e6 / n:.0f} µs/doc)")
    print(f"wall time: {n / wall:8.0f} docs/s  {size / wall / 1e6:6.2f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
