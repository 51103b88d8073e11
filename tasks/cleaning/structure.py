"""Article structure from cleaned lines: titles and their repeats, section suffixes, credits."""

from __future__ import annotations

import re

from .normalize import fold
from .ruleset import Compiled

_PIPE_SUFFIX = re.compile(r"\s+\|\s+[^|]{2,40}$")
_CREDIT_SPLIT = re.compile(r"\s*(?:,|;|/|&|\bund\b|\band\b)\s*")


def strip_section_suffix(line: str, rules: Compiled) -> tuple[str, str | None]:
    """"Headline — World" → ("Headline", "— World"); "Headline | Site" likewise."""
    tail = max(0, len(line) - 60)  # suffixes are short: search the end only
    m = rules.section_suffix.search(line, tail) if rules.section_suffix else None
    m = m or _PIPE_SUFFIX.search(line, tail)
    if m and m.start() > 10:
        return line[: m.start()], line[m.start():].strip()
    return line, None


_SITE_SEPARATOR = " |-–—:·»"


def strip_site_name(title: str, site: str | None) -> str:
    """"Headline | Site" and "Site: Headline" → "Headline" (a page's <title> often names its site)."""
    if not site or title == site:
        return title
    for rest in (title.removesuffix(site), title.removeprefix(site)):
        core = rest.strip(_SITE_SEPARATOR)
        if rest != title and rest.strip() != core and len(core) >= 10:  # a separator, and a headline left
            return core
    return title


def title_key(line: str, rules: Compiled) -> str:
    """Repeats of a title match this key: transliterated (ä→ae), no section suffix, no punctuation."""
    return fold(strip_section_suffix(line, rules)[0])


def split_credits(value: str) -> list[str]:
    return [c for c in (part.strip(" .·-") for part in _CREDIT_SPLIT.split(value)) if len(c) >= 2]


def collect_groups(match: re.Match, credits: list[str], tags: list[str]) -> None:
    """Keep what a matched rule names: outlets (group credit) and tags (group tags)."""
    for name, value in match.groupdict().items():
        if not value:
            continue
        if name.startswith("credit"):
            credits.extend(split_credits(value))
        elif name.startswith("tags"):
            tags.extend(t.strip() for t in re.split(r"[,;|]", value) if t.strip())
