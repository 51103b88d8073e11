"""The annotated cleaning corpus (tests/corpus/) and its snippet scores.

Each document ``NAME.txt`` has a sidecar ``NAME.toml``:
  must      snippets of article text that must be in the output (recall)
  must_not  snippets of boilerplate that must not be in the output (precision)
  title     expected title ("" = the document has none and none may be invented)
  subtitle, byline, captions, credits, tags   optional structure expectations

Scoring follows trafilatura's evaluation: a system's output for a document is its main text
(title, subtitle and body). A found ``must`` snippet is a true positive, a missing one a false
negative; a found ``must_not`` snippet is a false positive, a missing one a true negative.
precision = TP/(TP+FP), recall = TP/(TP+FN), F1 their harmonic mean,
accuracy = (TP+TN)/all. Snippets and outputs are compared after news_etl.tasks.cleaning.normalize.normalize.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from news_etl.tasks.cleaning.normalize import normalize

CORPUS = Path(__file__).parent / "corpus"
HOLDOUT = CORPUS / "holdout"  # written after the rules were frozen: never tune rules on it


@dataclass
class Doc:
    name: str
    text: str
    lang: str
    spec: dict

    @property
    def must(self) -> list[str]:
        return self.spec.get("must", [])

    @property
    def must_not(self) -> list[str]:
        return self.spec.get("must_not", [])


@dataclass
class Score:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (doc, kind, snippet)

    def add(self, doc: Doc, output: str) -> None:
        out = normalize(output)
        for s in doc.must:
            if normalize(s) in out:
                self.tp += 1
            else:
                self.fn += 1
                self.misses.append((doc.name, "lost", s))
        for s in doc.must_not:
            if normalize(s) in out:
                self.fp += 1
                self.misses.append((doc.name, "kept", s))
            else:
                self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        total = self.tp + self.fn + self.fp + self.tn
        return (self.tp + self.tn) / total if total else 0.0


def load_corpus(directory: Path = CORPUS) -> list[Doc]:
    docs = []
    for txt in sorted(directory.glob("*.txt")):
        spec = tomllib.loads(txt.with_suffix(".toml").read_text(encoding="utf-8"))
        lang = spec.get("lang") or ("en" if "_en_" in f"_{txt.stem}_" or txt.stem.startswith("en_") else "de")
        docs.append(Doc(txt.stem, txt.read_bytes().decode("utf-8"), lang, spec))
    return docs


def main_text(art) -> str:
    return "\n".join(p for p in (art.title, art.subtitle, art.body) if p)


def structure_errors(doc: Doc, art) -> list[str]:
    """Structure expectations of one document that the article does not meet."""
    spec, errors = doc.spec, []
    if "title" in spec and (art.title or "") != spec["title"]:
        errors.append(f"title {art.title!r} != {spec['title']!r}")
    for key in ("subtitle", "byline"):
        if key in spec and getattr(art, key) != spec[key]:
            errors.append(f"{key} {getattr(art, key)!r} != {spec[key]!r}")
    for caption in spec.get("captions", []):
        if not any(caption in c for c in art.captions):
            errors.append(f"caption missing: {caption!r} (have {art.captions!r})")
    for key in ("credits", "tags"):
        missing = set(spec.get(key, [])) - set(getattr(art, key))
        if missing:
            errors.append(f"{key} missing: {sorted(missing)} (have {getattr(art, key)!r})")
    return errors
