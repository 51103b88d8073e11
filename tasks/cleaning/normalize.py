"""Text normalization: mojibake repair, line endings, Unicode NFC, invisible characters, spacing."""

from __future__ import annotations

import html
import re
import unicodedata

# Latin-1/cp1252 readings of UTF-8 lead bytes followed by a continuation byte ("Ã¤", "â€ž", "Ã\u009f").
_MOJIBAKE_LEADS = "ÂÃÅÆÐÑâ"
_MOJIBAKE = re.compile("[ÂÃÅÆÐÑâ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")
_ENTITY = re.compile(r"&(#\d{2,6}|#x[0-9a-fA-F]{2,5}|[a-zA-Z]{2,8});")
_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\u0085\u000b\u000c]")
# the usual suspects, replaced with str.replace (a character-class regex scan costs more)
_COMMON_ODD = (("\r\n", "\n"), ("\r", "\n"), ("\u00a0", " "), ("\t", " "), ("\u00ad", ""), ("\u200b", ""), ("\ufeff", ""), ("\u202f", " "), ("\u2009", " "))
_DOUBLE_SPACES = re.compile("  +")
# zero-width characters, soft hyphen, BOM, other format and control characters (not \t, \n)
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060-\u2064\ufeff\u180e\u0000-\u0008\u000e-\u001f\u007f-\u009f]+")
# only unusual whitespace or runs (a sub per ordinary space would cost more than the rest)
_SPACES = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000][ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]*| {2,}")
_SPACE_BEFORE_PUNCT = re.compile(r" (?=[,.;:!?)](?:[\s\"“”»«'’)\]]|$))")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as Latin-1/cp1252 (ftfy), only when the text shows the telltale pairs."""
    if any(c in text for c in _MOJIBAKE_LEADS) and _MOJIBAKE.search(text):
        import ftfy

        text = ftfy.fix_encoding(text)
    return text


def normalize(text: str) -> str:
    """One canonical form for matching and storage; line structure is kept (one line = one block)."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", repair_mojibake(text))
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    if not text.replace("\n", " ").isprintable():  # only then: odd line breaks, controls, odd spaces
        for c, repl in _COMMON_ODD:
            if c in text:
                text = text.replace(c, repl)
        if not text.replace("\n", " ").isprintable():  # rarer characters: one regex pass each
            text = _SPACES.sub(" ", _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text)))
    if "  " in text:
        text = _DOUBLE_SPACES.sub(" ", text)
    return "\n".join([line.strip(" ") for line in _SPACE_BEFORE_PUNCT.sub("", text).split("\n")]).rstrip("\n")


_TRANSLIT = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("é", "e"), ("è", "e"), ("á", "a"), ("à", "a"), ("ó", "o"), ("ñ", "n"), ("ç", "c"))
_NON_WORD = re.compile(r"[\W_]+")


def fold(line: str) -> str:
    """Comparison key: lower case, ASCII transliteration (ä→ae), punctuation and spacing dropped."""
    line = line.lower()
    if not line.isascii():
        for a, b in _TRANSLIT:
            if a in line:
                line = line.replace(a, b)
    return _NON_WORD.sub(" ", line).strip()
