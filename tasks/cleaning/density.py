"""Density signals for whole-page text (jusText-like, per line instead of per HTML block).

Each candidate line gets a class from its length, the density of its language's stop words and
its sentence punctuation (length and punctuation alone for a language without a stop-word list
or without spaces between words); short and near-good lines are then decided by their
neighbours, so menus, link lists and footers go while short article lines (subheadings,
one-line paragraphs) between prose stay. The article is one contiguous stretch of the page:
``main_text`` finds it as the run of lines whose prose most outweighs the boilerplate in it
(Finn et al.'s body text extraction, on lines), and what lies outside goes too.
"""

from __future__ import annotations

import re

BAD, SHORT, NEARGOOD, GOOD = 0, 1, 2, 3
NEUTRAL = -1  # title, captions, bylines: invisible to the context rules

_SENTENCE_END = frozenset(".!?…:\"“”»«‘’')。！？｡」』）")
_BULLET = re.compile(r"^([-–•*·▪►]|\d{1,2}[.)]|[a-z][.)])\s")
UNSPACED_CHAR = 3  # in a script without spaces, one character weighs as much as this many letters


def is_sentence(line: str, spaced: bool = True) -> bool:
    return line[-1] in _SENTENCE_END and (two_spaces(line) if spaced else len(line) >= 8)


def two_spaces(line: str) -> bool:
    """``line.count(" ") >= 2``, looking no further than the second space."""
    return line.find(" ", line.find(" ") + 1) > 0


def is_headline(line: str, max_words: int = 16, stopwords: frozenset[str] = frozenset(), spaced: bool = True) -> bool:
    """Looks like a headline: short, capitalised, no closing sentence punctuation; a long
    line without a single stop word is a menu ("Politik Wirtschaft Sport Kultur …")."""
    if len(line) > 200 or line[-1] in ".,;:。" or not (line[0].isupper() or line[0].isdigit() or line[0] in "„\"“»«'‘" or not line[0].isascii()):
        return False
    if not spaced:
        return 6 <= len(line) <= 3 * max_words
    n = line.count(" ") + 1
    if n >= 6 and stopwords and stopwords.isdisjoint(line.split()):
        return False
    return 3 <= n <= max_words or (n == 2 and len(line) >= 12)


def classify(lines: list[str | None], classes: list[int], stopwords: frozenset[str], p: dict, spaced: bool = True) -> None:
    """Set ``classes[i]`` to the class of every line that is not None (all lines of a document in one call)."""
    short, long_chars, low, high = p["short_chars"], p["long_chars"], p["stopwords_low"], p["stopwords_high"]
    half = short // 2
    unit = 1 if spaced else UNSPACED_CHAR
    is_stopword = stopwords.__contains__
    for i, line in enumerate(lines):
        if line is None:
            continue
        sentence = line[-1] in _SENTENCE_END and (line.find(" ", line.find(" ") + 1) > 0 if spaced else len(line) >= 8)
        length = unit * len(line)
        if length < short and not sentence:
            classes[i] = SHORT
            continue
        if not stopwords:  # no list for the language: length and sentence punctuation only
            if length < short:
                classes[i] = NEARGOOD if sentence and length >= half else SHORT
            else:
                classes[i] = GOOD if length >= long_chars and (sentence or _punctuated(line)) else NEARGOOD
            continue
        words = line[:120].split()  # a sample is enough for long lines; the stop words come in every case
        density = sum(map(is_stopword, words)) / len(words)
        if length < short:
            classes[i] = NEARGOOD if sentence and density >= low and len(words) >= 3 else SHORT
        elif density < low:
            classes[i] = NEARGOOD if sentence and density > 0 and len(words) >= 8 else BAD
        elif length >= long_chars or (sentence and density >= high):
            classes[i] = GOOD
        else:
            classes[i] = NEARGOOD


def _punctuated(line: str) -> bool:
    """Sentence punctuation inside the line (prose that runs on past its last full stop)."""
    return any(c in line for c in ".。!?！？,，、")


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
    if not two_spaces(line) or not is_headline(line, p["heading_max_words"]):
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
        if c == SHORT and shorts == 0 and two_spaces(lines[j]) and is_headline(lines[j], p["heading_max_words"]):
            shorts += 1
            continue
        return c in (GOOD, NEARGOOD)
    return False


def main_text(lines: list[str | None], classes: list[int], p: dict, spaced: bool = True) -> tuple[int, int] | None:
    """The stretch of lines (first, last) where the article is: the one whose prose most
    outweighs the boilerplate inside it, with the headline right above it. Prose counts by its
    length (near-good lines by a part of it); short lines, boilerplate and lines a rule removed
    count against it, by a fixed or their own weight (one removed line alone, such as an ad
    inside the text, costs little); moved lines (title, captions, bylines) weigh nothing.
    None if no line is prose."""
    near, short, bad = p["main_neargood"], p["main_short"], p["main_bad"]
    removed, alone = p["main_removed"], p["main_removed_alone"]
    unit = 1 if spaced else UNSPACED_CHAR
    best, total, start, found, run = 0.0, 0.0, 0, None, 0
    for i, c in enumerate(classes):
        line = lines[i]
        if c == GOOD:
            w, run = unit * len(line), 0
        elif c == NEARGOOD:
            w, run = near * unit * len(line), 0
        elif c == SHORT:
            w, run = -short, 0
        elif c == BAD:
            if line is None:  # removed by a rule
                w, run = -(removed if run else alone), run + 1
            else:
                w, run = -bad * max(unit * len(line), short), 0
        else:
            continue  # moved: weighs nothing, breaks no run
        if total <= 0:
            total, start = w, i
        else:
            total += w
        if total > best:
            best, found = total, (start, i)
    if found is None:
        return None
    return heading_above(lines, classes, found[0], p, spaced), found[1]


def cut_at_end(region: tuple[int, int], lines: list[str | None], classes: list[int], ends: set[int], p: dict,
               spaced: bool = True) -> tuple[int, int]:
    """The article's stretch up to the first line that ends an article ("Leave a Reply", "12
    Comments") once some prose came before it: what follows is the readers', not the article's."""
    first, last = region
    if not any(first < e <= last for e in ends):
        return region
    prose, unit = 0, 1 if spaced else UNSPACED_CHAR
    for i in range(first, last + 1):
        if i in ends and prose >= p["main_ends_after"]:
            return first, i - 1
        if classes[i] == GOOD:
            prose += unit * len(lines[i])
    return region


def heading_above(lines: list[str | None], classes: list[int], first: int, p: dict, spaced: bool = True) -> int:
    """Where the article's stretch starts once its headline is in: the headline (and a dek under
    it) above the first line of prose, over lines a rule removed or moved (dates, bylines) and up
    to two short lines of meta data; ``first`` if there is none."""
    start, j, skipped, meta, headlines = first, first - 1, 0, 0, 0
    max_words = p["heading_max_words"]
    while j >= 0 and skipped < 6:
        line = lines[j]
        if line is None:  # removed by a rule, or moved
            skipped += 1
        elif (not spaced or two_spaces(line)) and is_headline(line, max_words, spaced=spaced):
            start, headlines, meta = j, headlines + 1, 0
            if headlines == 2:
                break
        elif classes[j] == SHORT and meta < 2 and not headlines:
            meta += 1
        else:
            break
        j -= 1
    return start
