"""Read input files into raw documents: decoding, HTML extraction, JSONL records."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator
from urllib.parse import urlsplit

from .inputs import InputFile
from .quarantine import Quarantined

BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
MAGIC = {
    b"\x89PNG": "png image",
    b"GIF8": "gif image",
    b"\xff\xd8\xff": "jpeg image",
    b"%PDF": "pdf document",
    b"PK\x03\x04": "zip archive",
    b"\x1f\x8b": "gzip data",
    b"\x7fELF": "executable",
}

# A well-formed UTF-8 multi-byte sequence; legacy 8-bit text (cp1252 umlauts, €) almost never contains one.
UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f]")  # C0 controls but \t \n \v \f \r


class BadInput(Exception):
    """A document that cannot become an article; carries a quarantine reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class RawDocument:
    doc_id: str
    source_uri: str
    source_name: str
    content_type: str  # text/plain or text/html
    n_bytes: int
    encoding: str
    raw_text: str
    url: str | None = None
    external_id: str | None = None
    published: str | None = None


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes to text; return (text, encoding). Raises BadInput for binary or undecodable data."""
    if not data.strip():
        raise BadInput("empty", "no content" if not data else "whitespace only")
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise BadInput("undecodable", f"{encoding} BOM but {exc.reason} at byte {exc.start}") from None
    for magic, what in MAGIC.items():
        if data.startswith(magic):
            raise BadInput("binary", what)
    head = data[:8192]
    if b"\x00" in head:
        raise BadInput("binary", "NUL bytes in content")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.end == len(data) and exc.reason == "unexpected end of data" and UTF8_MULTIBYTE.search(data):
            text, encoding = data[: exc.start].decode("utf-8"), "utf-8"  # cut mid-character: drop the stub
        else:
            _reject_broken_utf8(data, exc)
            text, encoding = _decode_legacy(data)
    head = text[:8192]
    # isprintable() is C-speed; the regex counts only when it fails (a tab, an odd space, a control)
    controls = 0 if head.replace("\n", " ").isprintable() else len(CONTROL_CHARS.findall(head))
    if controls > max(8, len(head) // 100):
        raise BadInput("binary", f"{controls} control characters in the first 8 KiB")
    return text, encoding


def _reject_broken_utf8(data: bytes, exc: UnicodeDecodeError) -> None:
    """UTF-8 text with invalid bytes would become mojibake under a legacy code page: quarantine it."""
    valid = len(UTF8_MULTIBYTE.findall(data[:200_000]))
    invalid = len(data[:200_000].decode("utf-8", "replace").split("\ufffd")) - 1
    if valid and invalid <= 4 * valid:
        raise BadInput("invalid_utf8", f"{invalid} invalid UTF-8 sequence(s), first at byte {exc.start}: {exc.reason}")


def _decode_legacy(data: bytes) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    if best is None:
        raise BadInput("undecodable", "no text encoding fits the bytes")
    encoding = best.encoding
    # Western European text without C1 controls is cp1252 in practice; charset_normalizer
    # often names a sibling code page for short German texts.
    if encoding in {"latin_1", "iso8859_15", "cp1250", "cp1254", "iso8859_2", "iso8859_9", "mac_roman"}:
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError) as exc:
        raise BadInput("undecodable", str(exc)) from None


def doc_id_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_name_of(f: InputFile, url: str | None = None) -> str:
    """The URL's host, else the first directory under the input root, else the root's name."""
    if url:
        host = urlsplit(url).hostname
        if host:
            return host.removeprefix("www.")
    return _source_of_directory(os.path.dirname(f.path), f.root)


@lru_cache(maxsize=4096)
def _source_of_directory(parent: str, root: str) -> str:
    if not parent or os.path.abspath(parent) == os.path.abspath(root):
        return os.path.basename(os.path.normpath(root)) or "input"
    return os.path.relpath(parent, root).split(os.sep)[0]


def read_file(f: InputFile, max_doc_bytes: int) -> Iterator[RawDocument | Quarantined]:
    """The documents of one input file (one, or a JSONL file's records), and what cannot be one."""
    if f.kind in ("jsonl", "jsonl.gz"):
        yield from _read_jsonl(f, max_doc_bytes)
        return
    if f.size > max_doc_bytes:
        yield Quarantined(f.path, "too_large", f"{f.size} bytes > max_doc_bytes {max_doc_bytes}", copy_of=f.path)
        return
    try:
        with open(f.path, "rb") as fh:
            data = fh.read(max_doc_bytes + 1)
    except OSError as exc:
        yield Quarantined(f.path, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
        return
    if len(data) > max_doc_bytes:  # grew since discovery
        yield Quarantined(f.path, "too_large", f"more than max_doc_bytes {max_doc_bytes}", copy_of=f.path)
        return
    try:
        text, encoding = decode(data)
    except BadInput as exc:
        yield Quarantined(f.path, exc.reason, exc.detail, data)
        return
    content_type = "text/html" if f.kind == "html" else "text/plain"
    yield RawDocument(doc_id_of(data), f.path, source_name_of(f), content_type, len(data), encoding, text)


def _read_jsonl(f: InputFile, max_doc_bytes: int) -> Iterator[RawDocument | Quarantined]:
    opener = gzip.open if f.kind == "jsonl.gz" else open
    line_no = 0
    try:
        with opener(f.path, "rb") as fh:
            if f.offset:
                fh.seek(f.offset)
            remaining = f.length
            for line_no, line in enumerate(fh, f.first_line):
                if f.length >= 0:
                    if remaining <= 0:
                        break
                    remaining -= len(line)
                uri = f"{f.path}#L{line_no}"
                if not line.strip():
                    continue
                if len(line) > max_doc_bytes:
                    yield Quarantined(uri, "too_large", f"line of {len(line)} bytes > max_doc_bytes {max_doc_bytes}", line[:65536])
                    continue
                try:
                    yield _jsonl_record(f, uri, line)
                except BadInput as exc:
                    yield Quarantined(uri, exc.reason, exc.detail, line)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # the lines before the damage are kept
        reason = "truncated" if isinstance(exc, EOFError) else "corrupt_gzip"
        yield Quarantined(f"{f.path}#L{line_no + 1}", reason, f"{type(exc).__name__}: {exc} (after {line_no} lines)", copy_of=f.path)
    except OSError as exc:
        yield Quarantined(f"{f.path}#L{line_no + 1}", "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")


def _jsonl_record(f: InputFile, uri: str, line: bytes) -> RawDocument:
    try:
        text_line, encoding = line.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text_line, encoding = decode(line)
    try:
        record = json.loads(text_line)
    except json.JSONDecodeError as exc:
        raise BadInput("malformed_json", f"{exc.msg} at column {exc.colno}") from None
    if not isinstance(record, dict):
        raise BadInput("malformed_json", f"expected an object, got {type(record).__name__}")
    html, text = record.get("html"), record.get("text")
    body = html if isinstance(html, str) and html.strip() else text
    if not isinstance(body, str) or not body.strip():
        raise BadInput("empty", "record has no 'text' or 'html'")
    url = record.get("url") if isinstance(record.get("url"), str) else None
    source = record.get("source") if isinstance(record.get("source"), str) else None
    published = record.get("published")
    ext_id = record.get("id")
    return RawDocument(
        doc_id=doc_id_of(line.rstrip(b"\r\n")),
        source_uri=uri,
        source_name=source or source_name_of(f, url),
        content_type="text/html" if body is html else "text/plain",
        n_bytes=len(line),
        encoding=encoding,
        raw_text=body,
        url=url,
        external_id=None if ext_id is None else str(ext_id),
        published=None if published is None else str(published),
    )


EXTRACTOR = "trafilatura"
# htmldate's output with the time and its time zone when the page states them (else midnight, no zone)
_DATE_PARAMS = {"extensive_search": True, "original_date": True, "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


def extract_html(html: str, url: str | None = None, favor: str = "balanced") -> dict:
    """Main text and metadata of an HTML page (trafilatura; no network, no external entities),
    and the lines of the page's visible text the extractor left out (``left_out``: (line_no, text))."""
    import trafilatura
    from trafilatura.utils import load_html

    try:
        tree = load_html(html)
        page = visible_lines(tree) if tree is not None else []
        doc = trafilatura.bare_extraction(
            tree if tree is not None else html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_precision=favor == "precision",
            favor_recall=favor == "recall",
            date_extraction_params=_DATE_PARAMS,
        )
    except Exception as exc:  # trafilatura raises a variety of parser errors on broken markup
        raise BadInput("malformed_html", f"{type(exc).__name__}: {exc}") from None
    if doc is None or not (doc.text or "").strip():
        raise BadInput("no_content", "no main text found in the HTML")
    if not any(ch.isalpha() for ch in doc.text):  # markup debris such as '<<<>>>&&&'
        raise BadInput("no_content", f"no words in the extracted text {doc.text[:80]!r}")
    return {
        "text": doc.text,
        "title": doc.title,
        "url": doc.url,
        "sitename": doc.sitename,
        "date": doc.date,
        "author": doc.author,
        "description": doc.description,
        "tags": list(doc.tags or []) + list(doc.categories or []),
        "left_out": left_out(page, [doc.text, doc.title, doc.author, doc.date, doc.description]),
    }


# Elements whose text a browser does not show, and elements that start a new line of text.
_HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "select", "option"})
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "td", "th", "tr", "ul", "body", "html",
})


def visible_lines(tree) -> list[str]:
    """The page's visible text, one line per block element (what a naive page dump holds)."""
    from lxml import etree

    lines: list[str] = []
    parts: list[str] = []

    def flush() -> None:
        line = " ".join("".join(parts).split())
        if line:
            lines.append(line)
        parts.clear()

    walker = etree.iterwalk(tree, events=("start", "end"))
    for event, el in walker:
        tag = el.tag.lower() if isinstance(el.tag, str) else None  # comments, processing instructions
        if event == "start":
            if tag is None or tag in _HIDDEN:
                walker.skip_subtree()
                continue
            if tag in _BLOCKS:
                flush()
            if el.text:
                parts.append(el.text)
        else:
            if tag in _BLOCKS:
                flush()
            if el.tail:
                parts.append(el.tail)
    flush()
    return lines


def left_out(page: list[str], kept: list[str | None]) -> list[tuple[int, str]]:
    """The lines of ``page`` (numbered from 1) found in none of the ``kept`` texts: a long line
    anywhere in them, a short one (a menu item, a label) only as a whole line."""
    text = "\n".join(" ".join(k.split()) for k in kept if k)
    whole = set(text.split("\n")) | {ln.strip() for ln in text.replace("\n", " | ").split(" | ")}
    return [(no, line) for no, line in enumerate(page, 1)
            if not (line in whole or (len(line) >= 25 and line in text))]
