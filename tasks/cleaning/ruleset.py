"""Load boilerplate rule files (TOML, see docs/rules.md) into compiled, per-language rule sets."""

from __future__ import annotations

import _sre
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from re._casefix import _EXTRA_CASES

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
    stopwords_path: str | None = None
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


ANY = "\x00"  # in a prefix: any character
GATE_CHARS = 2  # a line is tried only against the rules whose matches can start with its first two characters
_MAX_PREFIXES = 20_000


class _Unsure(Exception):
    pass


def prefixes(pattern: str, k: int = GATE_CHARS) -> frozenset[tuple[str, bool]] | None:
    """How a match of ``pattern`` can begin: (its first ``k`` characters in lower case, ANY standing
    for any character; False) or (a whole match shorter than that; True). None if unsure (a
    construct not analysed, or too many). A superset is always safe: it only tries more rules."""
    from re import _constants as C
    from re import _parser as P

    def concat(heads: set, tails: set) -> set:
        out = set()
        for s, ends in heads:
            if len(s) >= k:
                out.add((s, False))
            elif ends:
                for t, t_ends in tails:
                    u = s + t
                    out.add((u[:k], False) if len(u) >= k else (u, t_ends))
        if len(out) > _MAX_PREFIXES:
            raise _Unsure
        return out

    def sequence(items) -> set:
        out = {("", True)}
        for item in items:
            out = concat(out, element(*item))
        return out

    def element(op, av) -> set:
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):  # zero-width (lookarounds: a superset is safe)
            return {("", True)}
        if op is C.LITERAL:
            return {(_lower(chr(av)), True)}
        if op in (C.ANY, C.NOT_LITERAL):
            return {(ANY, True)}
        if op is C.IN:
            chars: set[str] = set()
            for o, a in av:
                if o is C.LITERAL:
                    chars.add(_lower(chr(a)))
                elif o is C.RANGE and a[1] - a[0] < 64:
                    chars.update(_lower(chr(c)) for c in range(a[0], a[1] + 1))
                else:  # NEGATE, CATEGORY (\s, \d, \w), wide ranges
                    return {(ANY, True)}
            return {(c, True) for c in chars}
        if op is C.BRANCH:
            return set().union(*(sequence(alt) for alt in av[1]))
        if op is C.SUBPATTERN:
            return sequence(av[-1])
        if op is C.ATOMIC_GROUP:
            return sequence(av)
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, body = av
            once = sequence(body)
            if ("", True) in once:  # a body that can match nothing: not analysed
                raise _Unsure
            out, reps = set(), {("", True)}
            for r in range(min(high, k) + 1):  # r ≥ k repetitions begin like k of them
                if r >= min(low, k):
                    out |= reps
                reps = concat(reps, once)
            return out
        raise _Unsure  # GROUPREF, …

    try:
        found = sequence(P.parse(pattern))
    except Exception:  # _Unsure, or an exotic construct
        return None
    return None if ("", True) in found else frozenset(found)


def _lower(c: str) -> str:
    """The lower case the regex engine compares under (?i) (one character: "İ" → "i")."""
    return chr(_sre.unicode_tolower(ord(c)))


def _case_variants(c: str) -> set[str]:
    low = _sre.unicode_tolower(ord(c))
    return {chr(low), *map(chr, _EXTRA_CASES.get(low, ()))}  # "s" ~ "ſ", "k" ~ "K" (Kelvin), …


def admits(gate: frozenset[tuple[str, bool]] | None, head: str) -> bool:
    """Whether a line beginning with ``head`` (its first GATE_CHARS characters, fewer if it is
    shorter) can match a rule with this gate (``prefixes``); letter case as in (?i)."""
    if gate is None:
        return True
    variants = [_case_variants(c) for c in head]
    for prefix, ends in gate:
        if len(prefix) > len(head) or (len(prefix) < len(head) and not ends):
            continue
        if all(p == ANY or p in v for p, v in zip(prefix, variants)):
            return True
    return False


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
        rf.stopwords_path = str(sw_path)
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
        gates = [prefixes(r.pattern) for r in line]
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
    """The line rules for one length band, as one alternation per beginning of a line (its first
    GATE_CHARS characters) of the rules that can match there; built lazily, one compiled
    alternation per set of rules."""

    MAX_HEADS = 1 << 16  # beginnings remembered; scripts with many letters would grow it without end

    def __init__(self, members: list[tuple[int, LineRule, frozenset[tuple[str, bool]] | None]]):
        self.members = members
        self._by_head: dict[str, re.Pattern | None] = {}
        self._by_rules: dict[tuple[int, ...], re.Pattern | None] = {}

    def regex(self, head: str) -> re.Pattern | None:
        rx = self._by_head.get(head, False)
        if rx is False:
            rules = tuple(i for i, _, gate in self.members if admits(gate, head))
            if rules not in self._by_rules:
                alt = "|".join(f"(?P<r{i}>{_flagged(_rename_groups(r.pattern, i), r.case)})" for i, r, _ in self.members if i in rules)
                self._by_rules[rules] = re.compile(alt) if alt else None
            if len(self._by_head) >= self.MAX_HEADS:
                self._by_head.clear()
            rx = self._by_head[head] = self._by_rules[rules]
        return rx


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
