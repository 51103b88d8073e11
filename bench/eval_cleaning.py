"""Score cleaners on the annotated corpus (tests/corpus/): news-etl's cleaner, trafilatura and
jusText on the same texts wrapped as HTML paragraphs, trafilatura followed by our text pass
(the pipeline's HTML path), and no cleaning. Prints one table.

    python bench/eval_cleaning.py [--misses] [--holdout]

Scoring (tests/corpus_score.py, as trafilatura's evaluation): output = title + subtitle + body;
found `must` snippet = TP, missing = FN; found `must_not` snippet = FP, missing = TN.
"""

from __future__ import annotations

import argparse
import html
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from news_etl.tasks.cleaning.clean import clean, load_rules  # noqa: E402
from tests.corpus_score import CORPUS, HOLDOUT, Score, load_corpus, main_text  # noqa: E402

RULES = load_rules()


def as_html(text: str) -> str:
    paragraphs = "\n".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
    return f"<html><head><meta charset='utf-8'></head><body>\n{paragraphs}\n</body></html>"


def ours(doc) -> str:
    return main_text(clean(doc.text, RULES))


def ours_precision(doc) -> str:
    return main_text(clean(doc.text, RULES, favor="precision"))


def ours_recall(doc) -> str:
    return main_text(clean(doc.text, RULES, favor="recall"))


def no_cleaning(doc) -> str:
    return doc.text


def trafilatura_text(doc) -> str:
    import trafilatura

    res = trafilatura.bare_extraction(as_html(doc.text), with_metadata=True, include_comments=False)
    return "" if res is None else "\n".join(p for p in (res.title, res.text) if p)


def trafilatura_then_ours(doc) -> str:
    import trafilatura

    res = trafilatura.bare_extraction(as_html(doc.text), with_metadata=True, include_comments=False)
    if res is None or not res.text:
        return ""
    return main_text(clean(res.text, RULES, title_hint=res.title, extracted=True))


def justext_text(doc) -> str:
    import justext

    stoplist = justext.get_stoplist("German" if doc.lang == "de" else "English")
    paragraphs = justext.justext(as_html(doc.text).encode("utf-8"), stoplist, encoding="utf-8")
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


SYSTEMS = {
    "news-etl clean": ours,
    "  favor=precision": ours_precision,
    "  favor=recall (rules)": ours_recall,
    "trafilatura 2.3.1": trafilatura_text,
    "trafilatura + news-etl": trafilatura_then_ours,
    "jusText": justext_text,
    "no cleaning": no_cleaning,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list each system's lost and kept snippets")
    parser.add_argument("--holdout", action="store_true", help="score tests/corpus/holdout/ (never used for tuning) instead")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # trafilatura logs about short documents
    docs = load_corpus(HOLDOUT if args.holdout else CORPUS)
    n_must = sum(len(d.must) for d in docs)
    n_not = sum(len(d.must_not) for d in docs)
    print(f"corpus: {len(docs)} documents ({sum(d.lang == 'de' for d in docs)} de, {sum(d.lang == 'en' for d in docs)} en), "
          f"{n_must} must / {n_not} must-not snippets")
    print(f"{'system':<24} {'precision':>9} {'recall':>7} {'F1':>6} {'accuracy':>8} {'lost':>5} {'kept bp':>7} {'ms/doc':>7}")
    for name, system in SYSTEMS.items():
        for doc in docs:  # warm up: imports, lazily compiled rules
            system(doc)
        score = Score()
        started = time.perf_counter()
        outputs = [(doc, system(doc)) for doc in docs]
        ms = (time.perf_counter() - started) * 1000 / len(docs)
        for doc, out in outputs:
            score.add(doc, out)
        print(f"{name:<24} {score.precision:9.3f} {score.recall:7.3f} {score.f1:6.3f} {score.accuracy:8.3f} {score.fn:5d} {score.fp:7d} {ms:7.2f}")
        if args.misses:
            for doc_name, kind, snippet in score.misses:
                print(f"    {doc_name}: {kind}: {snippet[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
