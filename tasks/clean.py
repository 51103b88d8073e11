"""Clean boilerplate out of raw article text and recover its structure.

The knowledge lives in ``tasks/rules/*.toml``; this module only applies it.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

RULES_DIR = Path(__file__).parent / "rules"

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)])")
_SENTENCE_END = re.compile(r"[.!?…\"“”»«“„')]$")


@dataclass(frozen=True)
class LineRule:
    name: str
    regex: re.Pattern


@dataclass(frozen=True)
class RuleSet:
    line: tuple[LineRule, ...]
    inline: tuple[LineRule, ...]
    caption: re.Pattern | None
    byline: re.Pattern | None


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

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


def load_rules(extra_files: tuple[str, ...] | list[str] = ()) -> RuleSet:
    files = sorted(RULES_DIR.glob("*.toml")) + [Path(p) for p in extra_files]
    line, inline, caption, byline = [], [], None, None
    for path in files:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        for kind, target in (("line", line), ("inline", inline)):
            for rule in data.get(kind, []):
                flags = 0 if rule.get("case") else re.IGNORECASE
                target.append(LineRule(rule["name"], re.compile(rule["pattern"], flags)))
        if "caption" in data:
            caption = re.compile(data["caption"]["pattern"], re.IGNORECASE)
        if "byline" in data:
            byline = re.compile(data["byline"]["pattern"])
    return RuleSet(tuple(line), tuple(inline), caption, byline)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.translate(_INVISIBLE)
    lines = (_SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", ln)).strip() for ln in text.split("\n"))
    return "\n".join(lines)


def _fold(line: str) -> str:
    """Comparison key for repeated titles: ASCII transliteration, no section suffix."""
    line = re.sub(r"\s+[—–|-]\s+[\w ]{2,30}$", "", line)
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue")):
        line = line.replace(a, b)
    return re.sub(r"\W+", " ", line).strip().lower()


def _is_headline(line: str) -> bool:
    return len(line) <= 200 and not _SENTENCE_END.search(line) and len(line.split()) >= 3


def clean(text: str, rules: RuleSet, title_hint: str | None = None) -> Article:
    art = Article(title=title_hint)
    lines = [(no, ln) for no, ln in enumerate(normalize(text).split("\n"), 1) if ln]
    title_key = _fold(title_hint) if title_hint else None
    for idx, (no, line) in enumerate(lines):
        rule = next((r for r in rules.line if r.regex.match(line)), None)
        if rule:
            art.removed.append((no, line, rule.name))
            m = rule.regex.match(line)
            if "credit" in m.groupdict() and m.group("credit"):
                art.credits.append(m.group("credit").strip())
            continue
        if title_key is not None and _fold(line) == title_key:
            art.removed.append((no, line, "duplicate_title"))
            continue
        if idx == 0 and art.title is None and _is_headline(line):
            art.title, title_key = line, _fold(line)
            continue
        if rules.caption and (m := rules.caption.match(line)) and len(line) < 400:
            art.captions.append(m.group("caption").strip())
            art.credits.append(m.group("credit").strip())
            continue
        if rules.byline and (m := rules.byline.match(line)):
            art.byline = m.group("author").strip()
            art.credits.extend(c.strip() for c in m.group("credit").split(",") if c.strip())
            continue
        for rule in rules.inline:
            m = rule.regex.search(line)
            if m:
                art.removed.append((no, m.group(0).strip(), rule.name))
                if "credit" in m.groupdict() and m.group("credit"):
                    art.credits.append(m.group("credit").strip())
                line = line[: m.start()].rstrip()
        if not line:
            continue
        if art.title and not art.paragraphs and art.subtitle is None and _is_headline(line):
            art.subtitle = line
            continue
        art.paragraphs.append(line)
    art.credits = list(dict.fromkeys(art.credits))
    return art
