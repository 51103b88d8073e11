"""Load boilerplate rule files (TOML, see docs/rules.md) into compiled, per-language rule sets."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

RULES_DIR = Path(__file__).parent / "rules"
_GROUP = re.compile(r"\(\?P([<=])(\w+)")

DEFAULT_DENSITY = {
    "short_chars": 60,  # shorter lines are "short" (context decides), as jusText's length_low
    "long_chars": 140,  # longer lines need only stopwords_low to be good
    "stopwords_low": 0.12,
    "stopwords_high": 0.22,
    "nav_run": 4,  # this many short, unpunctuated lines in a row are a menu or link list
    "nav_run_max_words": 5,
    "heading_max_words": 16,
    "removed_hop": 1,  # rule-removed lines a neighbour search steps over (an ad inside the text)
}
SHORT_LINE = 200  # line rules apply to lines up to this long unless a rule sets max_chars
INLINE_TAIL = 120  # inline rules anchored at the end ($) are tried on this many last characters
DEFAULT_REPEATED = {"min_chars": 2, "max_chars": 160, "max_words": 20}


@dataclass(frozen=True)
class LineRule:
    name: str
    pattern: str
    case: bool = False
    block: bool = False  # also remove the short, unpunctuated lines that follow (teaser lists)
    max_chars: int = SHORT_LINE  # longer lines are not tried (keeps prose lines cheap)
    ends_with: str = ""  # inline rules: tried only on lines ending in one of these characters
    starts_with: str = ""  # inline rules: tried only on lines starting with one of these characters


@dataclass
class RuleFile:
    path: str
    language: str | None = None
    line: list[LineRule] = field(default_factory=list)
    inline: list[LineRule] = field(default_factory=list)
    caption: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (pattern, tail_contains)
    byline: list[str] = field(default_factory=list)
    section_suffixes: list[str] = field(default_factory=list)
    stopwords: set[str] = field(default_factory=set)  # lower, capitalised and upper case
    density: dict = field(default_factory=dict)
    repeated: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Compiled:
    """Everything clean() needs for one language, compiled once."""

    language: str | None
    # line rules by length band: (upper bound, alternation of the rules whose max_chars reach it);
    # group "r<i>" names rule i. A line is tried only against the rules that allow its length.
    line_bands: tuple[tuple[int, "LineBand"], ...]
    band_uppers: tuple[int, ...]
    line_groups: tuple[bool, ...]  # rule i has named groups (credit/tags) to collect
    line_rules: tuple[LineRule, ...]
    inline: tuple[tuple[str, re.Pattern, bool, str, str, bool], ...]  # (name, regex, $-anchored, ends_with, starts_with, has groups)
    inline_ends: frozenset[str]  # a line is tried against the inline rules if it ends with one of these,
    inline_starts: frozenset[str]  # or starts with one of these,
    inline_ungated: bool  # or if some inline rule has no gate
    caption: tuple[tuple[re.Pattern, tuple[str, ...]], ...]  # tried if the line's last 90 characters contain one of these
    byline: tuple[re.Pattern, ...]
    section_suffix: re.Pattern | None
    stopwords: frozenset[str]
    density: dict
    repeated: dict


def first_chars(pattern: str) -> frozenset[str] | None:
    """Lower-case characters a match of `pattern` can start with, or None if any (or unsure).
    Used to try each line only against the rules that can match its first character."""
    from re import _constants as C, _parser as P

    def first(items) -> tuple[set[str] | None, bool]:  # (chars, can the sequence be empty?)
        chars: set[str] = set()
        for op, av in items:
            if op in (C.AT, C.ASSERT, C.ASSERT_NOT):  # zero-width (lookarounds: a superset is safe)
                continue
            if op is C.LITERAL:
                return chars | {chr(av).lower()}, False
            if op is C.IN:
                for o, a in av:
                    if o is C.LITERAL:
                        chars.add(chr(a).lower())
                    elif o is C.RANGE and a[1] - a[0] < 64:
                        chars.update(chr(c).lower() for c in range(a[0], a[1] + 1))
                    else:
                        return None, False
                return chars, False
            if op is C.BRANCH:
                empty = False
                for alt in av[1]:
                    sub, sub_empty = first(alt)
                    if sub is None:
                        return None, False
                    chars |= sub
                    empty = empty or sub_empty
                if not empty:
                    return chars, False
                continue
            if op in (C.SUBPATTERN, C.ATOMIC_GROUP, C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
                body = av[-1] if op is not C.ATOMIC_GROUP else av
                sub, sub_empty = first(body)
                if sub is None:
                    return None, False
                chars |= sub
                if not (sub_empty or (op not in (C.SUBPATTERN, C.ATOMIC_GROUP) and av[0] == 0)):
                    return chars, False
                continue
            return None, False  # ANY, CATEGORY, NOT_LITERAL, GROUPREF, …: anything
        return chars, True

    try:
        chars, empty = first(P.parse(pattern))
    except Exception:  # an exotic construct: no gate
        return None
    if chars is None or empty:
        return None
    return frozenset(chars | {c.upper() for c in chars} | {c.casefold() for c in chars})


def _rename_groups(pattern: str, i: int) -> str:
    return _GROUP.sub(lambda m: f"(?P{m[1]}{m[2]}_{i}", pattern)


def _flagged(pattern: str, case: bool) -> str:
    return f"(?:{pattern})" if case else f"(?i:{pattern})"


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
                )
                re.compile(_flagged(lr.pattern, lr.case))
            except (KeyError, re.error) as exc:
                raise ValueError(f"rules file {path}: bad [[{kind}]] rule {rule!r}: {exc}") from exc
            getattr(rf, kind).append(lr)
    for kind in ("caption", "byline"):
        entries = data.get(kind, [])
        for entry in [entries] if isinstance(entries, dict) else entries:
            try:
                re.compile(entry["pattern"])
            except (KeyError, re.error) as exc:
                raise ValueError(f"rules file {path}: bad [[{kind}]] entry {entry!r}: {exc}") from exc
            if kind == "caption":
                rf.caption.append((entry["pattern"], tuple(s.lower() for s in entry.get("tail_contains", [":", "©"]))))
            else:
                rf.byline.append(entry["pattern"])
    rf.section_suffixes = list(data.get("title", {}).get("section_suffixes", []))
    if "stopwords" in data:
        sw_path = (path.parent / data["stopwords"]["file"]).resolve()
        words = {w.strip().lower() for w in sw_path.read_text(encoding="utf-8").split() if w.strip() and not w.startswith("#")}
        rf.stopwords = words | {w.capitalize() for w in words} | {w.upper() for w in words}  # as written: no lower() per line
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
            self._cache[language] = self._compile(language)
        return self._cache[language]

    def _compile(self, language: str | None) -> Compiled:
        files = [f for f in self.files if f.language is None or f.language == language]
        line = [r for f in files for r in f.line]
        gates = [first_chars(r.pattern) for r in line]
        bands = []
        for upper in sorted({r.max_chars for r in line}):
            members = [(i, r, gates[i]) for i, r in enumerate(line) if r.max_chars >= upper]
            bands.append((upper, LineBand(members)))
        inline = [
            (r.name, re.compile(_flagged(r.pattern, r.case)), r.pattern.endswith("$"), r.ends_with, r.starts_with, "(?P<" in r.pattern)
            for f in files
            for r in f.inline
        ]
        suffixes = [s for f in files for s in f.section_suffixes]
        density, repeated = dict(DEFAULT_DENSITY), dict(DEFAULT_REPEATED)
        for f in files:
            density.update(f.density)
            repeated.update(f.repeated)
        suffix_re = None
        if suffixes:
            names = "|".join(re.escape(s) for s in sorted(suffixes, key=len, reverse=True))
            suffix_re = re.compile(rf"\s+[—–|·:-]\s+(?P<section>(?i:{names}))$")
        return Compiled(
            language=language,
            line_bands=tuple(bands),
            band_uppers=tuple(u for u, _ in bands),
            line_groups=tuple("(?P<" in r.pattern for r in line),
            line_rules=tuple(line),
            inline=tuple(inline),
            inline_ends=frozenset("".join(rule[3] for rule in inline)),
            inline_starts=frozenset("".join(rule[4] for rule in inline)),
            inline_ungated=any(not rule[3] and not rule[4] for rule in inline),
            caption=tuple((re.compile(p), needles) for f in files for p, needles in f.caption),

            byline=tuple(re.compile(p) for f in files for p in f.byline),
            section_suffix=suffix_re,
            # unknown language: every list, so density signals still work
            stopwords=frozenset().union(*(f.stopwords for f in (files if language else self.files))),
            density=density,
            repeated=repeated,
        )


class LineBand:
    """The line rules for one length band, as one alternation per first character (built lazily)."""

    def __init__(self, members: list[tuple[int, LineRule, frozenset[str] | None]]):
        self.members = members
        self._by_char: dict[str, re.Pattern | None] = {}

    def regex(self, first: str) -> re.Pattern | None:
        rx = self._by_char.get(first, False)
        if rx is False:
            alt = "|".join(
                f"(?P<r{i}>{_flagged(_rename_groups(r.pattern, i), r.case)})" for i, r, gate in self.members if gate is None or first in gate
            )
            rx = self._by_char[first] = re.compile(alt) if alt else None
        return rx


def load_rules(extra_files: tuple[str, ...] | list[str] = ()) -> RuleSet:
    """The shipped rule files (tasks/rules/*.toml) followed by the user's files (`--rules FILE`)."""
    paths = sorted(RULES_DIR.glob("*.toml")) + [Path(p) for p in extra_files]
    for p in paths:
        if not p.is_file():
            raise ValueError(f"rules file not found: {p}")
    return RuleSet([parse_rule_file(p) for p in paths])
