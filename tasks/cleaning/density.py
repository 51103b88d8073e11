"""Density signals for whole-page dumps (jusText-like, per line instead of per HTML block).

Each candidate line gets a class from its length, stop-word density and sentence punctuation;
short and near-good lines are then decided by their neighbours, so menus, link lists and
footers go while short article lines (subheadings, one-line paragraphs) between prose stay.
"""

from __future__ import annotations

import re

BAD, SHORT, NEARGOOD, GOOD = 0, 1, 2, 3
NEUTRAL = -1  # title, captions, bylines: invisible to the context rules

_SENTENCE_END = frozenset(".!?…:\"“”»«‘’')")
_BULLET = re.compile(r"^([-–•*·▪►]|\d{1,2}[.)]|[a-z][.)])\s")


def is_sentence(line: str) -> bool:
    return line[-1] in _SENTENCE_END and line.count(" ") >= 2


def is_headline(line: str, max_words: int = 16, stopwords: frozenset[str] = frozenset()) -> bool:
    """Looks like a headline: short, capitalised, no closing sentence punctuation; a long
    line without a single stop word is a menu ("Politik Wirtschaft Sport Kultur …")."""
    if len(line) > 200 or line[-1] in ".,;:" or not (line[0].isupper() or line[0].isdigit() or line[0] in "„\"“»«'‘"):
        return False
    n = line.count(" ") + 1
    if n >= 6 and stopwords and stopwords.isdisjoint(line.split()):
        return False
    return 3 <= n <= max_words or (n == 2 and len(line) >= 12)


def classify(line: str, stopwords: frozenset[str], p: dict) -> int:
    words = line[:120].split()  # a sample is enough for long lines; the stop words come in every case
    density = sum(map(stopwords.__contains__, words)) / len(words)
    sentence = is_sentence(line)
    if len(line) < p["short_chars"]:
        return NEARGOOD if sentence and density >= p["stopwords_low"] and len(words) >= 3 else SHORT
    if density < p["stopwords_low"]:
        return NEARGOOD if sentence and density > 0 and len(words) >= 8 else BAD
    if len(line) >= p["long_chars"] or (sentence and density >= p["stopwords_high"]):
        return GOOD
    return NEARGOOD


def _neighbour(classes: list[int], lines: list, i: int, step: int, skip: tuple[int, ...], hop: int) -> int:
    """Class of the nearest line in one direction that is not NEUTRAL or in `skip`; up to `hop`
    lines removed by a rule are stepped over (an ad box inside an article is not a page edge)."""
    j = i + step
    while 0 <= j < len(classes):
        c = classes[j]
        if c != NEUTRAL and c not in skip:
            if c == BAD and lines[j] is None and hop > 0:
                hop -= 1
            else:
                return c
        j += step
    return BAD  # the page edge counts as boilerplate, as in jusText


def decide(lines: list[str], classes: list[int], p: dict) -> list[str | None]:
    """Removal rule per line (None = keep). Lines already decided come as None with class NEUTRAL or BAD."""
    n = len(lines)
    out: list[str | None] = [None] * n
    # runs of short unpunctuated lines are menus or link lists, wherever they are
    run_max_words = p["nav_run_max_words"]
    i = 0
    while i < n:
        j = i
        while (
            j < n
            and classes[j] == SHORT
            and lines[j].count(" ") < run_max_words
            and not _BULLET.match(lines[j])
            and not is_sentence(lines[j])
            and not _heading_before_text(lines, classes, j, p)  # the headline under a menu
        ):
            j += 1
        if j - i >= p["nav_run"]:
            for k in range(i, j):
                out[k] = "nav_block"
                classes[k] = BAD
        i = max(j, i + 1)
    final = list(classes)
    hop = p["removed_hop"]
    for i, c in enumerate(classes):
        if c == SHORT and out[i] is None:
            prev = _neighbour(classes, lines, i, -1, (SHORT, NEARGOOD), hop)
            nxt = _neighbour(classes, lines, i, 1, (SHORT, NEARGOOD), hop)
            if prev == GOOD and nxt == GOOD:
                final[i] = GOOD
            elif _heading_before_text(lines, classes, i, p):
                final[i] = GOOD
            elif prev == GOOD and _BULLET.match(lines[i]):
                final[i] = GOOD  # list items after prose
            else:
                final[i] = BAD
                out[i] = "short_line_context"
    for i, c in enumerate(classes):
        if c == NEARGOOD:
            prev = _neighbour(final, lines, i, -1, (SHORT, NEARGOOD), hop)
            nxt = _neighbour(final, lines, i, 1, (SHORT, NEARGOOD), hop)
            if prev == BAD and nxt == BAD:
                out[i] = "low_density_context"
        elif c == BAD and out[i] is None and lines[i] is not None:
            out[i] = "low_stopword_density"
    return out


def _heading_before_text(lines: list[str | None], classes: list[int], i: int, p: dict) -> bool:
    """jusText's heading rule for text: a short headline-like line (3+ words) followed by prose,
    with at most one short headline (a dek) and a few removed lines (dates, bylines) between."""
    line = lines[i]
    if line.count(" ") < 2 or not is_headline(line, p["heading_max_words"]):
        return False
    shorts = removed = 0
    for j in range(i + 1, len(classes)):
        c = classes[j]
        if c == NEUTRAL:
            continue
        if lines[j] is None:  # removed by a rule
            removed += 1
            if removed > 3:
                return False
            continue
        if c == SHORT and shorts == 0 and lines[j].count(" ") >= 2 and is_headline(lines[j], p["heading_max_words"]):
            shorts += 1
            continue
        return c in (GOOD, NEARGOOD)
    return False
