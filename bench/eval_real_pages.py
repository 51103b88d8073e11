"""Score the pipeline's cleaning on real pages: the article extraction benchmark (181 pages with
a human-marked article body, vendored in bench/data/article-extraction-benchmark/), in both
modes the pipeline reads: the fetched HTML, and the naive whole-page text dump of the same page.

    python bench/eval_real_pages.py [--mode html|text|both] [--pages] [--reference]

Each page goes through the batch code itself (``extract_document`` then ``clean_document``), so
this scores what ``news-etl run`` stores; a quarantined page scores as empty. The metric is the
benchmark's (its README): 4-token shingles of the ``\\w+`` tokens, per-page tp/fp/fn as multiset
overlaps; precision is the mean over pages that predicted something, recall the mean over pages
with a body, F1 from the two means. The prediction is the article's body (paragraphs), as the
truth is the article body without its headline.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from news_etl.tasks.cleaning.ruleset import load_rules  # noqa: E402
from news_etl.tasks.ingest.batch import clean_document, extract_document  # noqa: E402
from news_etl.tasks.ingest.extract import BadInput, RawDocument  # noqa: E402
from news_etl.tasks.options import RunContext, RunOptions  # noqa: E402

DATA = ROOT / "bench" / "data" / "article-extraction-benchmark"
_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i: i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i: i + n])


def page_score(truth: str, prediction: str) -> tuple[float, float, float]:
    """(tp, fp, fn) of one page, as fractions of their sum (the benchmark's normalisation)."""
    t, p = shingles(truth), shingles(prediction)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s else (0.0, 0.0, 0.0)


@dataclass
class Page:
    page_id: str
    language: str
    truth: str
    url: str | None


@dataclass
class Result:
    page: Page
    prediction: str
    tp: float
    fp: float
    fn: float
    quarantined: str | None = None

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp > 0 else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn > 0 else None


def load_pages(data: Path = DATA) -> list[Page]:
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    languages = json.loads((data / "manifest.json").read_text(encoding="utf-8"))["language_of_truth"]
    return [Page(pid, languages.get(pid, "?"), t.get("articleBody") or "", t.get("url")) for pid, t in sorted(truth.items())]


def page_input(page: Page, mode: str, data: Path = DATA) -> RawDocument:
    """The page as the pipeline reads it: HTML (decoded as ``read_file`` does) or the text dump."""
    from news_etl.tasks.ingest.extract import decode, doc_id_of

    if mode == "html":
        raw = gzip.decompress((data / "html" / f"{page.page_id}.html.gz").read_bytes())
        content_type = "text/html"
    else:
        raw = (data / "text" / f"{page.page_id}.txt").read_bytes()
        content_type = "text/plain"
    text, encoding = decode(raw)
    return RawDocument(doc_id_of(raw), f"{page.page_id}.{mode}", "benchmark", content_type, len(raw), encoding, text, url=page.url)


def pipeline_body(doc: RawDocument, options: RunOptions, rules) -> tuple[str, str | None]:
    """The body ``news-etl run`` would store for this document, or ("", quarantine reason)."""
    try:
        item = extract_document(doc, options)
        row, _removed = clean_document(item, rules, options, RunContext("eval", datetime.now(timezone.utc)))
    except BadInput as exc:
        return "", exc.reason
    return row["body"], None


def trafilatura_body(doc: RawDocument) -> tuple[str, str | None]:
    """trafilatura.extract() with its defaults on the HTML: the reference the issue compares with."""
    import trafilatura

    if doc.content_type != "text/html":
        return "", "not html"
    out = trafilatura.extract(doc.raw_text, url=doc.url)
    return (out, None) if out else ("", "no_content")


def score(pages: list[Page], mode: str, system: str = "pipeline", favor: str = "balanced") -> list[Result]:
    options = RunOptions(favor=favor)
    rules = load_rules()
    results = []
    for page in pages:
        doc = page_input(page, mode)
        body, reason = pipeline_body(doc, options, rules) if system == "pipeline" else trafilatura_body(doc)
        results.append(Result(page, body, *page_score(page.truth, body), quarantined=reason))
    return results


@dataclass
class Summary:
    n: int
    precision: float
    recall: float
    f1: float
    lost: int  # pages with a body and nothing predicted


def summarize(results: list[Result]) -> Summary:
    precisions = [r.precision for r in results if r.precision is not None]
    recalls = [r.recall if r.recall is not None else 0.0 for r in results if r.page.truth.strip()]
    p = sum(precisions) / len(precisions) if precisions else 0.0
    rec = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
    lost = sum(1 for r in results if r.page.truth.strip() and not r.prediction.strip())
    return Summary(len(results), p, rec, f1, lost)


def groups(results: list[Result]) -> dict[str, Summary]:
    return {
        "all": summarize(results),
        "English": summarize([r for r in results if r.page.language == "en"]),
        "other": summarize([r for r in results if r.page.language != "en"]),
    }


def report(mode: str, results: list[Result], seconds: float, label: str, pages: bool) -> None:
    for name, s in groups(results).items():
        print(f"{label:<12} {mode:<5} {name:<8} {s.n:4d} pages  F1 {s.f1:.3f}  P {s.precision:.3f}  R {s.recall:.3f}  lost {s.lost}")
    print(f"{'':<12} {mode:<5} {seconds:.1f} s")
    for r in results:
        if r.page.truth.strip() and not r.prediction.strip():
            print(f"    lost whole: {r.page.page_id[:16]} ({r.page.language}) {r.quarantined or 'empty body'}")
    if pages:
        for r in sorted(results, key=lambda r: (r.tp, r.page.page_id)):
            p = "-" if r.precision is None else f"{r.precision:.3f}"
            rec = "-" if r.recall is None else f"{r.recall:.3f}"
            print(f"    {r.page.page_id[:16]} {r.page.language}  P {p:>5}  R {rec:>5}  {r.quarantined or ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["html", "text", "both"], default="both")
    parser.add_argument("--favor", choices=["precision", "balanced", "recall"], default="balanced")
    parser.add_argument("--pages", action="store_true", help="print precision and recall of every page, worst first")
    parser.add_argument("--reference", action="store_true", help="also score trafilatura.extract() alone on the HTML")
    parser.add_argument("--json", metavar="FILE", help="write the figures to FILE")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # trafilatura and htmldate log about odd pages
    pages = load_pages()
    figures = {}
    modes = ["html", "text"] if args.mode == "both" else [args.mode]
    runs = [("news-etl", m, "pipeline") for m in modes] + ([("trafilatura", "html", "trafilatura")] if args.reference else [])
    for label, mode, system in runs:
        started = time.process_time()
        results = score(pages, mode, system, args.favor)
        report(mode, results, time.process_time() - started, label, args.pages)
        figures[f"{label}/{mode}"] = {k: vars(v) for k, v in groups(results).items()}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
