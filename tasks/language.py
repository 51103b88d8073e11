"""Language identification (py3langid, offline)."""

from __future__ import annotations


def detect_language(text: str) -> str | None:
    sample = text[:600]
    if len(sample.split()) < 3:
        return None
    import py3langid

    lang, _score = py3langid.classify(sample)
    return lang
