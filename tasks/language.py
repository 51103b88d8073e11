"""Language identification: a stop-word vote first (cheap), py3langid on a short sample when unsure."""

from __future__ import annotations

SAMPLE_CHARS = 400


def detect_language(text: str) -> str | None:
    """py3langid on the first 600 characters (None for fewer than 3 words)."""
    sample = text[:600]
    if len(sample.split()) < 3:
        return None
    import py3langid

    lang, _score = py3langid.classify(sample)
    return lang


def guess_language(lines: list[str], stopwords: dict[str, frozenset[str]]) -> str | None:
    """Language of a document from its longest-looking lines, for choosing rule sets."""
    picked, size = [], 0
    for line in lines:
        if len(line) >= 50:
            picked.append(line)
            size += len(line)
            if size >= SAMPLE_CHARS:
                break
    sample = " ".join(picked) if picked else " ".join(lines)[:SAMPLE_CHARS]
    words = sample[: SAMPLE_CHARS * 2].lower().split()
    if stopwords and words:
        votes = sorted(((sum(map(sw.__contains__, words)), lang) for lang, sw in stopwords.items()), reverse=True)
        best = votes[0]
        second = votes[1][0] if len(votes) > 1 else 0
        if best[0] >= 4 and best[0] >= 2 * second:
            return best[1]
    return detect_language(sample)
