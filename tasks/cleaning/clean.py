"""Clean boilerplate out of raw article text and recover its structure.

Per document: normalize → language (picks the rule set) → line rules and repeated lines →
title → duplicate titles, captions, bylines, inline cuts → density signals (page dumps) →
subtitle → paragraphs. Every line that leaves the body is either moved (title, subtitle,
caption, byline) or recorded in ``Article.removed`` as (line_no, text, rule). The knowledge
lives in ``tasks/rules/*.toml`` (docs/rules.md); this module only applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from collections import Counter
from dataclasses import dataclass, field

from . import density, patterns
from .language import guess_language
from .line_stats import line_key
from .normalize import normalize
from .ruleset import Compiled, RuleSet, load_rules
from .structure import collect_groups, split_credits, strip_section_suffix, title_key

__all__ = ["Article", "clean", "load_rules", "normalize", "MOVED"]

MOVED = ("title", "subtitle", "caption", "byline")
STRICTER = 0.04  # favor="precision": stop-word thresholds raised by this, no removed line bridges article context
_PROSE_END = frozenset(".!?…\"“”»«'’")
KEEP = "keep"


@dataclass
class Article:
    title: str | None = None
    subtitle: str | None = None
    byline: str | None = None
    credits: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    removed: list[tuple[int, str, str]] = field(default_factory=list)  # (line_no, text, rule)
    language: str | None = None
    trace: list[tuple[int, str, str]] | None = None  # (line_no, line, "keep" | moved-to | rule), if asked

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


Repeated = Callable[[str], bool] | Collection[int] | None


def _repeated_check(repeated: Repeated, limits: dict) -> Callable[[str], bool] | None:
    if not repeated:
        return None
    is_frequent = repeated if callable(repeated) else (lambda line: line_key(line) in repeated)
    lo, hi, max_words = limits["min_chars"], limits["max_chars"], limits["max_words"]

    def check(line: str) -> bool:  # long prose never goes just because it repeats
        return lo <= len(line) <= hi and line.count(" ") < max_words and is_frequent(line)

    return check


def clean(
    text: str,
    rules: RuleSet,
    title_hint: str | None = None,
    *,
    language: str | None = None,
    repeated: Repeated = None,
    favor: str = "balanced",
    extracted: bool = False,
    trace: bool = False,
    normalized: bool = False,
) -> Article:
    """Split one document into article fields and logged boilerplate.

    ``repeated``: lines the caller knows to be frequent in this document's source, as a
    predicate on the normalized line or a collection of ``line_stats.line_key`` values.
    ``favor``: "recall" applies the rule files only (no density decisions), "precision" lets no
    removed line bridge article context and raises the stop-word thresholds.
    ``extracted``: ``text`` is an extractor's output (HTML through trafilatura), whose DOM analysis
    has removed the page chrome: only the explicit rules apply (line and inline patterns but those
    marked dumps_only, title, captions, bylines, credits), not the density signals meant for
    whole-page text, and no subtitle is guessed (the line after the title is the article's first).
    ``normalized``: the caller already passed ``text`` through ``normalize``.
    """
    numbered = [(no, ln) for no, ln in enumerate((text if normalized else normalize(text)).split("\n"), 1) if ln]
    lines = [ln for _, ln in numbered]
    generic = rules.for_language(None)  # the rules of every language: their lines say nothing of it
    lang = language or guess_language(lines, rules.stopwords, generic.removes)
    r = rules.for_language(lang)
    art = Article(language=lang)
    n = len(lines)
    action: list[str | None] = [None] * n

    matches, bylines = r.match_lines(lines, extracted)
    _line_rules(lines, action, r, art, _repeated_check(repeated, r.repeated), matches, bylines)
    key = _title(numbered, action, r, art, title_hint, bylines)
    signals = not extracted and favor != "recall"  # the density signals judge page text
    texts, classes = _moves_and_cuts(numbered, action, r, art, key, bylines)
    if signals:
        ends = {i for i, (k, _) in matches.items() if r.line_rules[k].ends_article}
        _density(texts, action, classes, r, _stricter(r.density) if favor == "precision" else None, ends)
    if art.title is None and title_hint is None:
        _late_title(numbered, texts, action, r, art)
    if not extracted:
        _subtitle(texts, action, art)

    for i, (no, _) in enumerate(numbered):
        a = action[i]
        if a is None:
            art.paragraphs.append(texts[i])
        elif a not in MOVED and texts[i] is not None:  # (a line emptied by inline cuts is logged already)
            art.removed.append((no, texts[i], a))
    art.removed.sort(key=lambda item: item[0])
    art.credits = list(dict.fromkeys(art.credits))
    art.tags = list(dict.fromkeys(art.tags))
    if trace:
        art.trace = [(no, line, action[i] or KEEP) for i, (no, line) in enumerate(numbered)]
    return art


def _line_rules(lines: list[str], action: list, r: Compiled, art: Article, is_repeated, matches: dict, bylines: dict[int, int]) -> None:
    block = None
    for i, line in enumerate(lines):
        hit = matches.get(i)
        if hit:
            index, m = hit
            rule = r.line_rules[index]
            if m is not None:
                collect_groups(m, art.credits, art.tags)
            action[i] = rule.name
            block = rule.name if rule.block else None
        elif block and len(line) <= 160 and not density.is_sentence(line) and not _prose_follows(lines, i, r):
            action[i] = block  # a teaser list under "Mehr zum Thema" (but not a headline over prose)
        else:
            block = None
            # a recurring byline is still the article's byline: moved later, not removed here
            if is_repeated and is_repeated(line) and i not in bylines:
                action[i] = "repeated_line"


def _prose_follows(lines: list[str], i: int, r: Compiled) -> bool:
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    return len(nxt) >= r.density["short_chars"] and density.is_sentence(nxt)


def _title(numbered, action, r: Compiled, art: Article, title_hint: str | None, bylines: dict[int, int]) -> str | None:
    if title_hint:  # from the page's metadata: inline cuts logged as line 0
        hint, cuts = _inline_cuts(" ".join(normalize(title_hint).split()), r)
        _log_cuts(0, cuts, art)
        art.title = strip_section_suffix(hint, r)[0] or None
        return title_key(art.title, r) if art.title else None
    candidates = [i for i, a in enumerate(action) if a is None]
    if len(candidates) < 2:
        return None
    first = candidates[0]
    no, line = numbered[first]
    line, cuts = _inline_cuts(line, r)  # judged without what the inline rules cut ("… Woche. (Quelle: n-tv) |")
    if not line or not density.is_headline(line, 25, r.stopwords):
        return None
    key = title_key(line, r)
    lo, hi = _repeat_lengths(key)
    following = next(
        (ln for i, ln in ((i, numbered[i][1]) for i in candidates[1:])
         if not (lo <= len(ln) <= hi and title_key(ln, r) == key) and i not in bylines),
        None,
    )
    if following is None or not (len(following) >= r.density["short_chars"] or density.is_sentence(following)):
        return None  # a menu item or site name; a headline over a short dek is found after density
    art.title, suffix = strip_section_suffix(line, r)
    action[first] = "title"
    _log_cuts(no, cuts, art)
    if suffix:
        art.removed.append((no, suffix, "title_suffix"))
    return key


def _repeat_lengths(key: str) -> tuple[int, int]:
    """Lengths a line repeating the title with this key can have (a section suffix added, the
    punctuation and transliteration changed): other lines are not folded to compare."""
    return int(len(key) * 0.8), len(key) + 60


def _moves_and_cuts(numbered, action, r: Compiled, art: Article, key: str | None, bylines: dict[int, int]
                    ) -> tuple[list, list[int]]:
    """Duplicate titles, captions, bylines and inline cuts; returns the (cut) line texts and the
    density class of the lines they remove or move (a removed line counts as boilerplate context,
    a moved one is invisible to it; ``_density`` classifies the others)."""
    texts: list[str | None] = [ln for _, ln in numbered]
    classes = [density.BAD] * len(texts)
    lo, hi = _repeat_lengths(key) if key else (0, -1)
    for i, (no, line) in enumerate(numbered):
        a = action[i]
        if a is not None:
            if a in MOVED:
                classes[i] = density.NEUTRAL
            continue
        size = len(line)
        if lo <= size <= hi and title_key(line, r) == key:
            action[i] = "duplicate_title"
            classes[i] = density.NEUTRAL
            continue
        if size < 500 and r.caption_needles and line[-1] not in _PROSE_END:  # captions end with their credit
            m = _caption(line, r)
            if m:
                art.captions.append(m.group("caption").strip())
                art.credits.extend(split_credits(m.group("credit")))
                action[i] = "caption"
                classes[i] = density.NEUTRAL
                continue
        if i in bylines:
            m = patterns.groups(r.byline[bylines[i]].match, line.encode("utf-8"))
            if m:
                author = m.group("author").strip()
                if art.byline is None:
                    art.byline = author
                else:
                    art.credits.append(author)
                credit = m.groupdict().get("credit")
                if credit:
                    art.credits.extend(split_credits(credit))
                action[i] = "byline"
                classes[i] = density.NEUTRAL
                continue
        if r.inline_ungated or line[-1] in r.inline_ends or line[0] in r.inline_starts:
            line, cuts = _inline_cuts(line, r)
            if cuts:
                _log_cuts(no, cuts, art)
                if not line:
                    action[i] = cuts[-1][1]
                    texts[i] = None
                    continue
                texts[i] = line
    return texts, classes


def _caption(line: str, r: Compiled):
    """The match of the first caption pattern whose needles the line's end holds, or None."""
    tail = line[-90:].lower()
    wanted = [k for k, needles in enumerate(r.caption_needles) if any(n in tail for n in needles)]
    if not wanted:
        return None
    data = line.encode("utf-8")
    k = next((k for k in r.caption.matching(data) if k in wanted), None)
    return None if k is None else r.caption.find(k, data)


def _inline_cuts(line: str, r: Compiled) -> tuple[str, list]:
    """The line without what the inline rules cut, and the cuts: (fragment, rule, match). Rules
    apply in file order, each to what the ones before left of the line."""
    if not (r.inline_ungated or line[-1] in r.inline_ends or line[0] in r.inline_starts):
        return line, []
    cuts, k = [], 0
    rules, tested = r.inline, r.inline_patterns
    while line and k < len(rules):
        data = line.encode("utf-8")
        for j in tested.matching(data):
            rule = rules[j]
            if j < k or (rule.ends_with and line[-1] not in rule.ends_with) or (rule.starts_with and line[0] not in rule.starts_with):
                continue
            m = tested.find(j, data)
            cuts.append((m.group(0).strip(), rule.name, m if "(?P<" in rule.pattern else None))
            line = (line[: m.start()] + " " + line[m.end():]).strip()
            k = j + 1
            break
        else:
            break
    return line, cuts


def _log_cuts(no: int, cuts: list, art: Article) -> None:
    for fragment, name, m in cuts:
        if m is not None:
            collect_groups(m, art.credits, art.tags)
        art.removed.append((no, fragment, name))


def _stricter(params: dict) -> dict:
    return {"removed_hop": 0, "stopwords_low": params["stopwords_low"] + STRICTER, "stopwords_high": params["stopwords_high"] + STRICTER}


def _density(texts: list[str | None], action: list, classes: list[int], r: Compiled, override: dict | None,
             ends: set[int]) -> None:
    """Page text: lines repeated within the page, jusText's context decisions, then everything
    outside the article's stretch of the page. Density alone never empties a page: if nothing
    would be left, it decides nothing."""
    candidates = [t if a is None else None for t, a in zip(texts, action)]
    params = {**r.density, **override} if override else r.density
    density.classify(candidates, classes, r.stopwords, params, r.spaced)
    repeats = _repeated_in_page(candidates, params["page_repeats"])
    if repeats:
        classes = [density.BAD if i in repeats else c for i, c in enumerate(classes)]
    decided = density.decide(candidates, list(classes), params)
    for i in repeats:
        decided[i] = "repeated_in_page"
    region = density.main_text(candidates, classes, params, r.spaced)
    if region is not None:
        first, last = density.cut_at_end(region, candidates, classes, ends, params, r.spaced)
        for i in (*range(first), *range(last + 1, len(candidates))):
            if candidates[i] is not None and not decided[i]:
                decided[i] = "outside_main_text"
    kept = [i for i, rule in enumerate(decided) if not rule and candidates[i] is not None]
    if not kept:
        return
    for i, rule in enumerate(decided):
        if rule:
            action[i] = rule


def _repeated_in_page(lines: list[str | None], min_chars: int) -> set[int]:
    """Lines of at least ``min_chars`` found twice or more in the page: teaser lists and menus
    shown twice (at the top and the bottom, in a sidebar), never an article's own paragraphs."""
    present = [t for t in lines if t is not None]
    if len(set(present)) == len(present):
        return set()
    counts = Counter(t for t in present if len(t) >= min_chars)
    return {i for i, t in enumerate(lines) if t is not None and counts.get(t, 0) > 1}


def _late_title(numbered, texts, action, r: Compiled, art: Article) -> None:
    """Page dumps: the first kept line after removed page chrome, when it is a headline."""
    kept = [i for i, a in enumerate(action) if a is None]
    if len(kept) < 2 or kept[0] == 0 or all(a in MOVED for a in action[: kept[0]]):
        return
    i = kept[0]
    if texts[i].count(" ") >= 2 and density.is_headline(texts[i], 25, r.stopwords):
        no, line = numbered[i]
        art.title, suffix = strip_section_suffix(texts[i], r)
        action[i] = "title"
        if suffix:
            art.removed.append((no, suffix, "title_suffix"))


def _subtitle(texts, action, art: Article) -> None:
    """A headline-like line right after the title, before the text, is the subtitle (dek)."""
    if art.title is None:
        return
    kept = [i for i, a in enumerate(action) if a is None]
    if len(kept) >= 2:
        line = texts[kept[0]]
        if len(line) >= 20 and density.is_headline(line, 40) and not density.is_sentence(line):
            art.subtitle = line
            action[kept[0]] = "subtitle"
