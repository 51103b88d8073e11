"""Rule patterns on RE2 (google-re2): matching takes linear time whatever a rule file says.

Rules are written in Python's regex syntax (docs/rules.md) and run on RE2, whose syntax is
nearly the same: ``translate`` maps what differs so a pattern means on RE2 what it means in
Python (``\\w``, ``\\d``, ``\\s`` for every script, ``\\uXXXX``, ``\\A``, ``\\Z``) and keeps every
match inside one line. What RE2 cannot run (look-around, backreferences, atomic groups,
possessive repeats, flags but ``i``) is rejected when the rules are loaded. ``\\b`` stays RE2's:
a boundary between an ASCII letter or digit and anything else. Whether a line matches is asked
of RE2 sets (a DFA, no groups), which answer for many patterns in one call; the groups of a
pattern are read only on the lines it matches, on their UTF-8 bytes.
"""

from __future__ import annotations

from bisect import bisect_left

import re2

# RE2's memory budget per pattern or set: room for the lazily built DFA of a set of every line rule
# of a language, which would otherwise be rebuilt again and again.
MAX_MEM = 64 << 20
_OPTIONS = re2.Options()
_OPTIONS.max_mem = MAX_MEM
_OPTIONS.log_errors = False  # errors come back as exceptions; RE2 would also print them to stderr
_SET_OPTIONS = re2.Options()
_SET_OPTIONS.max_mem = MAX_MEM
_SET_OPTIONS.log_errors = False
_SET_OPTIONS.never_capture = True  # a set says which patterns match, never where their groups are

_WORD = r"\p{L}\p{N}_"
_SPACE = r"\t\x0b\f\r\p{Z}"  # Python's \s but \n (lines never hold one)
_DIGIT = r"\p{Nd}"
# the characters of \w \d \s as the inside of a class; \W \D \S are their complements
_POSITIVE = {"w": _WORD, "d": _DIGIT, "s": _SPACE}
_NEGATED = {"W": _WORD, "D": _DIGIT, "S": _SPACE + r"\n"}


class PatternError(ValueError):
    """A rule pattern RE2 cannot run, or one that could match across lines."""


def translate(pattern: str, capture: bool = True) -> str:
    """A Python-syntax rule pattern as an RE2 pattern with the same meaning on one line, which
    never matches a newline (so it can run over a whole document, one match per line).
    ``capture=False`` makes every group non-capturing."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            esc, i = _escape(pattern, i)
            if esc[1:] in _POSITIVE:
                out.append(f"[{_POSITIVE[esc[1:]]}]")
            elif esc[1:] in _NEGATED:
                out.append(f"[^{_NEGATED[esc[1:]]}\\n]")
            else:
                out.append(esc)
        elif c == "[":
            cls, i = _char_class(pattern, i)
            out.append(cls)
        elif c == "(" and pattern.startswith("(?", i) and i + 2 < n and pattern[i + 2].isalpha() and pattern[i + 2] != "P":
            j = i + 2
            while j < n and (pattern[j].isalpha() or pattern[j] == "-"):
                j += 1
            flags = pattern[i + 2: j]
            if set(flags) - set("i-"):
                raise PatternError(f"flags (?{flags}) are not supported, only (?i)")
            out.append(pattern[i:j])
            i = j
        elif c == "(" and not capture and (not pattern.startswith("(?", i) or pattern.startswith("(?P<", i)):
            out.append("(?:")
            i = pattern.index(">", i) + 1 if pattern.startswith("(?P<", i) else i + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _escape(pattern: str, i: int) -> tuple[str, int]:
    """The escape at ``pattern[i]`` (a backslash) in RE2 syntax, and the index after it."""
    if i + 1 >= len(pattern):
        raise PatternError("pattern ends with a backslash")
    c = pattern[i + 1]
    if c == "u" or c == "U":
        width = 4 if c == "u" else 8
        digits = pattern[i + 2: i + 2 + width]
        if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise PatternError(f"bad escape \\{c}{digits}")
        return f"\\x{{{digits}}}", i + 2 + width
    if c in "AZ":  # the line's beginning and end, also when the scanner runs over a whole document
        return ("^" if c == "A" else "$"), i + 2
    if c.isdigit() and c != "0":
        raise PatternError(f"backreference \\{c}: RE2 has no backreferences")
    return pattern[i: i + 2], i + 2


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """The character class starting at ``pattern[i]`` ("[") in RE2 syntax, and the index after it.
    A negated class never matches a newline; Python's ``[\\W_]`` (a negated shorthand inside a
    class) becomes an alternation, since RE2 has no class union with a complement."""
    j = i + 1
    negated = j < len(pattern) and pattern[j] == "^"
    if negated:
        j += 1
    items: list[str] = []
    complements: list[str] = []
    first = True
    while True:
        if j >= len(pattern):
            raise PatternError("unterminated character set")
        c = pattern[j]
        if c == "]" and not first:
            j += 1
            break
        first = False
        if c == "\\":
            esc, j = _escape(pattern, j)
            if esc[1:] in _POSITIVE:
                items.append(_POSITIVE[esc[1:]])
            elif esc[1:] in _NEGATED:
                complements.append(_NEGATED[esc[1:]])
            else:
                items.append(esc)
        elif c == "[" and pattern.startswith("[:", j):
            raise PatternError("POSIX classes [:name:] are not supported")
        else:
            items.append("\\[" if c == "[" else c)
            j += 1
    body = "".join(items)
    if not complements:
        return (f"[^{body}\\n]" if negated else f"[{body}]"), j
    if negated:
        raise PatternError("a negated class with \\W, \\D or \\S inside ([^\\W…]) cannot run on RE2; write it as a positive class")
    alternatives = [f"[^{comp}\\n]" for comp in complements] + ([f"[{body}]"] if body else [])
    return "(?:" + "|".join(alternatives) + ")", j


def compile(pattern: str, case: bool = False, multiline: bool = False):  # noqa: A001 (the re-like name is the point)
    """An RE2 regex for a rule pattern (Python syntax); ``case=False`` ignores letter case,
    ``multiline`` lets ^ and $ match at every line of a document."""
    flags = ("m" if multiline else "") + ("" if case else "i")
    source = translate(pattern)
    try:
        return re2.compile(f"(?{flags}:{source})" if flags else source, _OPTIONS)
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(message) from None


class Found:
    """A match of an RE2 pattern on a line's UTF-8 bytes (RE2's own form: no offset conversion on
    every match), read as ``re.Match`` would be on the line: groups, start and end as text."""

    __slots__ = ("_m", "_data")

    def __init__(self, m, data: bytes):
        self._m, self._data = m, data

    def group(self, name: int | str = 0) -> str | None:
        value = self._m.group(name)
        return None if value is None else value.decode("utf-8")

    def groupdict(self) -> dict[str, str | None]:
        return {k: None if v is None else v.decode("utf-8") for k, v in self._m.groupdict().items()}

    def start(self) -> int:
        return len(self._data[: self._m.start()].decode("utf-8"))

    def end(self) -> int:
        return len(self._data[: self._m.end()].decode("utf-8"))


class Tested:
    """Patterns whose groups are read only where one RE2 set (a DFA, which keeps no groups) says
    they match: a match with groups costs several times that test, and most lines match none."""

    def __init__(self, patterns: list[tuple[str, bool]], search: bool = False):
        """``patterns``: (Python-syntax pattern, case-sensitive); ``search``: anywhere in the line,
        else at its start."""
        self.regexes = [compile(p, case) for p, case in patterns]
        self._finds = [rx.search if search else rx.match for rx in self.regexes]
        test = re2.Set.SearchSet(_SET_OPTIONS) if search else re2.Set.MatchSet(_SET_OPTIONS)
        for pattern, case in patterns:
            source = translate(pattern, capture=False)
            test.Add(source if case else f"(?i:{source})")
        if patterns:
            test.Compile()
        self._test = test.Match if patterns else (lambda data: None)

    def matching(self, data: bytes) -> list[int]:
        """The indices of the patterns that match the line (its UTF-8 bytes), in order."""
        return sorted(self._test(data) or ())

    def find(self, k: int, data: bytes) -> Found | None:
        """Pattern ``k`` on the line's bytes: ``re.match`` (``re.search``) with its groups."""
        return groups(self._finds[k], data)


def groups(find, data: bytes) -> Found | None:
    """``find`` (a compiled pattern's match or search) on a line's bytes, as a ``Found``."""
    m = find(data)
    return None if m is None else Found(m, data)


class FirstMatch:
    """Which pattern of an ordered list matches a line first (as ``re.match`` tried pattern after
    pattern would say), each pattern applying to lines up to its own length: one RE2 set per
    length band (built when first needed) of the patterns that apply to lines of that length, so
    one call per line whatever the number of patterns, and a pattern for short lines that could
    match anywhere (``^.*\\b…$``) never makes the set's DFA read a long line to its end."""

    def __init__(self, patterns: list[tuple[str, bool, int]]):
        """``patterns``: (Python-syntax pattern, case-sensitive, longest line it applies to), in order."""
        self.patterns = patterns
        self.uppers = sorted({size for _, _, size in patterns})
        self.top = self.uppers[-1] if self.uppers else -1
        self._bands: list[tuple[object, list[int]] | None] = [None] * len(self.uppers)

    def first(self, line: str) -> int | None:
        return next((k for _, k in self.matches([line])), None)

    def matches(self, lines: list[str]) -> list[tuple[int, int]]:
        """(line index, index of the first pattern that matches it) for the lines some pattern matches."""
        uppers, bands, top, found = self.uppers, self._bands, self.top, []
        for i, line in enumerate(lines):
            size = len(line)
            if size > top:
                continue
            band = bisect_left(uppers, size)
            match, members = bands[band] or self._band(band)
            hits = match(line.encode("utf-8"))  # (bytes: the binding does not convert)
            if hits:
                found.append((i, members[min(hits)]))  # members ascend: the band's first is the first
        return found

    def _band(self, band: int) -> tuple[object, list[int]]:
        members = [k for k, (_, _, size) in enumerate(self.patterns) if size >= self.uppers[band]]
        matcher = re2.Set.MatchSet(_SET_OPTIONS)
        for k in members:
            pattern, case, _ = self.patterns[k]
            source = translate(pattern, capture=False)
            matcher.Add(source if case else f"(?i:{source})")
        matcher.Compile()
        self._bands[band] = matcher.Match, members
        return self._bands[band]
