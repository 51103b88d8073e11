"""Load boilerplate rule files (TOML, see docs/rules.md) into compiled, per-language rule sets."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import patterns, stopwords

RULES_DIR = Path(__file__).parent / "rules"

DEFAULT_DENSITY = {
    "short_chars": 60,  # shorter lines are "short" (context decides), as jusText's length_low
    "long_chars": 140,  # longer lines need only stopwords_low to be good
    "stopwords_low": 0.12,
    "stopwords_high": 0.22,
    "nav_run": 4,  # this many short, unpunctuated lines in a row are a menu or link list
    "nav_run_max_words": 5,
    "heading_max_words": 16,
    "removed_hop": 1,  # rule-removed lines a neighbour search steps over (an ad inside the text)
    # the article's stretch of the page (density.main_text): what a line weighs, in letters of prose
    "main_neargood": 0.5,  # a near-good line: this part of its length
    "main_short": 20,  # a short line: minus this
    "main_bad": 1.0,  # a boilerplate line: minus this times its length (at least main_short)
    "main_removed": 80,  # a line a rule removed next to another one: minus this
    "main_removed_alone": 10,  # the first of them (an ad inside the text): minus this
    "main_ends_after": 200,  # letters of prose after which a line of an ends_article rule ends the article
    "page_repeats": 20,  # a line this long or longer found twice in the page is boilerplate (teasers, menus)
}
JUSTEXT_DENSITY = {"stopwords_low": 0.22, "stopwords_high": 0.30}
SHORT_LINE = 200  # line rules apply to lines up to this long unless a rule sets max_chars
BYLINE_CHARS = 140  # longer lines are never bylines
DEFAULT_REPEATED = {"min_chars": 2, "max_chars": 160, "max_words": 20}


@dataclass(frozen=True)
class LineRule:
    name: str
    pattern: str
    case: bool = False
    block: bool = False  # also remove the short, unpunctuated lines that follow (teaser lists)
    max_chars: int = SHORT_LINE  # longer lines are not removed by this rule
    ends_with: str = ""  # inline rules: tried only on lines ending in one of these characters
    starts_with: str = ""  # inline rules: tried only on lines starting with one of these characters
    dumps_only: bool = False  # page chrome an extractor removes from HTML: not tried on its output
    ends_article: bool = False  # in page text, the article does not go on past such a line (comments)


@dataclass(frozen=True)
class MoveRule:
    """A [[caption]] or [[byline]] entry: a line it matches moves into the article's fields."""

    pattern: str
    case: bool = False  # as for every rule: ignore case unless the entry says case = true
    tail_contains: tuple[str, ...] = ()  # captions: tried only on lines whose last 90 characters hold one of these


@dataclass
class RuleFile:
    path: str
    language: str | None = None
    line: list[LineRule] = field(default_factory=list)
    inline: list[LineRule] = field(default_factory=list)
    caption: list[MoveRule] = field(default_factory=list)
    byline: list[MoveRule] = field(default_factory=list)
    section_suffixes: list[str] = field(default_factory=list)
    stopwords: set[str] = field(default_factory=set)  # lower, capitalised and upper case
    stopwords_path: str | None = None
    density: dict = field(default_factory=dict)
    repeated: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Compiled:
    """Everything clean() needs for one language, compiled once (RE2, see patterns.py)."""

    language: str | None
    files: list[RuleFile]  # the rule files it was compiled from
    line_rules: tuple[LineRule, ...]
    line_regex: tuple  # rule i alone, to read its groups (credit/tags)
    line_groups: tuple[bool, ...]  # rule i has named groups (credit/tags) to collect
    matchers: tuple[tuple[patterns.FirstMatch, tuple[int, ...]], ...]  # for page text, for an extractor's
    # output: the line rules that apply (their indices), then the byline patterns
    inline: tuple[LineRule, ...]
    inline_patterns: patterns.Tested
    inline_ends: frozenset[str]  # a line is tried against the inline rules if it ends with one of these,
    inline_starts: frozenset[str]  # or starts with one of these,
    inline_ungated: bool  # or if some inline rule has no gate
    caption: patterns.Tested  # with groups caption and credit
    caption_needles: tuple[tuple[str, ...], ...]  # caption i is tried if the line's last 90 characters contain one of these
    byline: tuple  # regexes with groups author (+ credit), tried on lines up to BYLINE_CHARS
    section_suffix: re.Pattern | None
    stopwords: frozenset[str]
    spaced: bool  # the language separates words by spaces
    density: dict
    repeated: dict

    def match_lines(self, lines: list[str], extracted: bool = False) -> tuple[dict[int, tuple[int, object]], dict[int, int]]:
        """The line rule that removes each line, {line index: (rule index, match with its groups
        or None)}, and the byline pattern that matches each other line, {line index: pattern
        index}: the first in file order that matches the line and allows its length.
        ``extracted``: the lines are an extractor's output (rules marked dumps_only do not apply)."""
        matcher, applying = self.matchers[extracted]
        removed, bylines = {}, {}
        n = len(applying)
        for i, k in matcher.matches(lines):
            if k < n:
                rule = applying[k]
                removed[i] = (rule, patterns.groups(self.line_regex[rule].match, lines[i].encode("utf-8")) if self.line_groups[rule] else None)
            else:
                bylines[i] = k - n
        return removed, bylines

    def removes(self, line: str) -> bool:
        """Whether a line rule removes this line (of page text)."""
        k = self.matchers[False][0].first(line)
        return k is not None and k < len(self.line_rules)


def _matcher(line: list[LineRule], bylines: list[MoveRule], extracted: bool) -> tuple[patterns.FirstMatch, tuple[int, ...]]:
    applying = tuple(i for i, r in enumerate(line) if not (extracted and r.dumps_only))
    entries = ([(line[i].pattern, line[i].case, line[i].max_chars) for i in applying]
               + [(b.pattern, b.case, BYLINE_CHARS) for b in bylines])
    return patterns.FirstMatch(entries), applying


def parse_rule_file(path: str | Path) -> RuleFile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"rules file {path}: {exc}") from exc
    rf = RuleFile(str(path), data.get("language"))
    for kind in ("line", "inline"):
        for rule in data.get(kind, []):
            try:
                lr = LineRule(
                    rule["name"], rule["pattern"], bool(rule.get("case")), bool(rule.get("block")),
                    int(rule.get("max_chars", SHORT_LINE)), str(rule.get("ends_with", "")), str(rule.get("starts_with", "")),
                    bool(rule.get("dumps_only")), bool(rule.get("ends_article")),
                )
                patterns.compile(lr.pattern, lr.case)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                label = rule.get("name", rule) if isinstance(rule, dict) else rule
                raise ValueError(f"rules file {path}: bad [[{kind}]] rule {label!r}: {exc}") from None
            getattr(rf, kind).append(lr)
    for kind in ("caption", "byline"):
        entries = data.get(kind, [])
        for entry in [entries] if isinstance(entries, dict) else entries:
            try:
                rule = MoveRule(entry["pattern"], bool(entry.get("case")),
                                tuple(s.lower() for s in entry.get("tail_contains", [":", "©"])) if kind == "caption" else ())
                patterns.compile(rule.pattern, rule.case)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                label = entry.get("pattern", entry) if isinstance(entry, dict) else entry
                raise ValueError(f"rules file {path}: bad [[{kind}]] entry {label!r}: {exc}") from None
            getattr(rf, kind).append(rule)
    rf.section_suffixes = list(data.get("title", {}).get("section_suffixes", []))
    if "stopwords" in data:
        sw_path = (path.parent / data["stopwords"]["file"]).resolve()
        rf.stopwords_path = str(sw_path)
        words = {w.strip().lower() for w in sw_path.read_text(encoding="utf-8").split() if w.strip() and not w.startswith("#")}
        rf.stopwords = set(stopwords.with_cases(words))
    rf.density = dict(data.get("density", {}))
    rf.repeated = dict(data.get("repeated", {}))
    return rf


class RuleSet:
    """All rule files; `for_language(lang)` = generic files + that language's files (cached)."""

    def __init__(self, files: list[RuleFile]):
        self.files = files
        self.languages = sorted({f.language for f in files if f.language})
        self._cache: dict[str | None, Compiled] = {}
        self.stopwords = {lang: self.for_language(lang).stopwords for lang in self.languages}

    def for_language(self, language: str | None) -> Compiled:
        if language not in self._cache:
            files = [f for f in self.files if f.language is None or f.language == language]
            # the languages no file names share the generic rules, compiled once (and their DFAs)
            same = next((c for c in self._cache.values() if c.files == files), None)
            self._cache[language] = self._compile(language, files, same)
        return self._cache[language]

    def _compile(self, language: str | None, files: list[RuleFile], same: Compiled | None) -> Compiled:
        line = [r for f in files for r in f.line]
        inline = [r for f in files for r in f.inline]
        captions = [c for f in files for c in f.caption]
        bylines = [b for f in files for b in f.byline]
        suffixes = [s for f in files for s in f.section_suffixes]
        density, repeated = dict(DEFAULT_DENSITY), dict(DEFAULT_REPEATED)
        if not any(f.stopwords for f in files):  # jusText's lists are longer than ours: its thresholds
            density.update(JUSTEXT_DENSITY)
        for f in files:
            density.update(f.density)
            repeated.update(f.repeated)
        suffix_re = None
        if suffixes:
            names = "|".join(re.escape(s) for s in sorted(suffixes, key=len, reverse=True))
            suffix_re = re.compile(rf"\s+[—–|·:-]\s+(?P<section>(?i:{names}))$")
        return Compiled(
            language=language,
            files=files,
            line_rules=tuple(line),
            line_regex=same.line_regex if same else tuple(patterns.compile(r.pattern, r.case) for r in line),
            line_groups=tuple("(?P<" in r.pattern for r in line),
            matchers=same.matchers if same else tuple(_matcher(line, bylines, extracted) for extracted in (False, True)),
            inline=tuple(inline),
            inline_patterns=same.inline_patterns if same else patterns.Tested([(r.pattern, r.case) for r in inline], search=True),
            inline_ends=frozenset("".join(r.ends_with for r in inline)),
            inline_starts=frozenset("".join(r.starts_with for r in inline)),
            inline_ungated=any(not r.ends_with and not r.starts_with for r in inline),
            caption_needles=tuple(c.tail_contains for c in captions),
            caption=same.caption if same else patterns.Tested([(c.pattern, c.case) for c in captions]),
            byline=same.byline if same else tuple(patterns.compile(b.pattern, b.case) for b in bylines),
            section_suffix=suffix_re,
            # the rule files' own list for the language, else jusText's (none: signals without words)
            stopwords=frozenset().union(*(f.stopwords for f in files)) or stopwords.stoplist(language),
            spaced=stopwords.spaced(language),
            density=density,
            repeated=repeated,
        )


def _shipped() -> list[Path]:
    return sorted(RULES_DIR.glob("*.toml"))


def load_rules(extra_files: tuple[str, ...] | list[str] = ()) -> RuleSet:
    """The shipped rule files (tasks/rules/*.toml) followed by the user's files (`--rules FILE`)."""
    paths = _shipped() + [Path(p) for p in extra_files]
    for p in paths:
        if not p.is_file():
            raise ValueError(f"rules file not found: {p}")
    return RuleSet([parse_rule_file(p) for p in paths])


_loaded: dict[tuple[str, ...], tuple[tuple, RuleSet]] = {}


def _stamp(paths: list[str]) -> tuple:
    """What tells whether these files changed: size and modification time of each."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((p, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((p, None, None))
    return tuple(out)


def _stamp_of(rules: RuleSet) -> tuple:
    """Stamps of the shipped rule files there are now and of every file ``rules`` was read from."""
    read = [f.path for f in rules.files] + [f.stopwords_path for f in rules.files if f.stopwords_path]
    return _stamp([str(p) for p in _shipped()] + read)


def cached_rules(extra_files: tuple[str, ...] | list[str] = ()) -> RuleSet:
    """``load_rules``, kept in this process (its regexes compile once) for as long as none of the
    files it read changed: a served deployment runs the flow again and again in one process, and
    an edited rules file must count from the next run on."""
    key = tuple(str(p) for p in extra_files)
    hit = _loaded.get(key)
    if hit is not None and hit[0] == _stamp_of(hit[1]):
        return hit[1]
    rules = load_rules(extra_files)
    _loaded[key] = (_stamp_of(rules), rules)
    return rules
