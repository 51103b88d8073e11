"""Language identification: a stop-word vote first (cheap), py3langid on a short sample when unsure."""

from __future__ import annotations

from collections.abc import Callable

SAMPLE_CHARS = 400


def guess_language(lines: list[str], stopwords: dict[str, frozenset[str]],
                   skip: Callable[[str], bool] | None = None) -> str | None:
    """Vote with the stop words of the known languages over the longest-looking lines; when the
    vote is not clear, vote again without the lines ``skip`` rejects (boilerplate such as
    WordPress's English comment form on a German page); when still not clear (few words, mixed,
    another language) ask py3langid on a short sample."""
    sample = _sample(lines)
    words = sample[: SAMPLE_CHARS * 2].split()  # the stop words come in lower, capitalised and upper case
    if len(words) < 3:
        return None
    language = _vote(words, stopwords)
    if language is None and skip:
        without = _sample(lines, skip)
        language = _vote(without[: SAMPLE_CHARS * 2].split(), stopwords)
    if language:
        return language
    import py3langid

    return py3langid.classify(sample[:SAMPLE_CHARS])[0]


def _sample(lines: list[str], skip: Callable[[str], bool] | None = None) -> str:
    picked, size = [], 0
    for line in lines:
        if len(line) >= 50 and not (skip and skip(line)):
            picked.append(line)
            size += len(line)
            if size >= SAMPLE_CHARS:
                break
    return " ".join(picked) if picked else " ".join(lines)[:SAMPLE_CHARS]


def _vote(words: list[str], stopwords: dict[str, frozenset[str]]) -> str | None:
    """The language whose stop words clearly dominate, or None."""
    if not stopwords or len(words) < 3:
        return None
    votes = sorted(((sum(map(sw.__contains__, words)), lang) for lang, sw in stopwords.items()), reverse=True)
    best = votes[0]
    second = votes[1][0] if len(votes) > 1 else 0
    if best[0] >= 4 and best[0] >= 2 * second and best[0] >= len(words) // 6:
        return best[1]
    return None
