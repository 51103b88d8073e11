"""Read input files into raw documents: decoding, HTML extraction, JSONL records."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlsplit

from .inputs import InputFile
from .quarantine import Quarantined
from .streams import GzipStream, LimitExceeded, Line, NotAFile, line_end, open_input, read_lines

if TYPE_CHECKING:
    from ..options import RunOptions

logger = logging.getLogger(__name__)

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
    # where its bytes can be read again for a quarantine copy: (file, offset, length); None for a
    # record of a compressed file or a document the lake kept
    origin: tuple[str, int, int] | None = field(default=None, repr=False, compare=False)


# RawDocument's fields the lake's documents table keeps
RAW_FIELDS = ("doc_id", "source_uri", "source_name", "content_type", "n_bytes", "encoding", "raw_text", "url",
              "external_id", "published")


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
        text, encoding = _decode_wide(data, head)
    else:
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


def _decode_wide(data: bytes, head: bytes) -> tuple[str, str]:
    """UTF-16 or UTF-32 without a BOM, told from binary data by where its zero bytes fall: text in
    them has a zero high byte for every ASCII (and, in UTF-16, Latin-1) character and almost
    never a zero low byte. Anything else with NUL bytes is binary."""
    head = head[: len(head) - len(head) % 4]
    quarter = [head[i::4].count(0) for i in range(4)]
    n = len(head) // 4
    if n and quarter[3] == n and quarter[2] >= 0.9 * n and quarter[0] <= 0.05 * n:
        encoding, unit = "utf-32-le", 4
    elif n and quarter[0] == n and quarter[1] >= 0.9 * n and quarter[3] <= 0.05 * n:
        encoding, unit = "utf-32-be", 4
    else:
        low, high = quarter[0] + quarter[2], quarter[1] + quarter[3]  # zeros at even and at odd offsets
        units = 2 * n
        if high >= 0.05 * units and low <= 0.01 * units:
            encoding, unit = "utf-16-le", 2
        elif low >= 0.05 * units and high <= 0.01 * units:
            encoding, unit = "utf-16-be", 2
        else:
            raise BadInput("binary", "NUL bytes in content")
    whole = data[: len(data) - len(data) % unit]  # a cut last character goes
    try:
        return whole.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        if exc.end == len(whole) and exc.start >= len(whole) - 2 * unit:  # cut inside a surrogate pair
            return whole[: exc.start].decode(encoding), encoding
        raise BadInput("binary", f"NUL bytes in content, and no {encoding} text: {exc.reason} at byte {exc.start}") from None


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


def doc_id_of(data: bytes | memoryview) -> str:
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


def read_file(f: InputFile, options: RunOptions) -> Iterator[RawDocument | Quarantined]:
    """The documents of one input file (one, or a JSONL file's records), and what cannot be one."""
    if f.kind in ("jsonl", "jsonl.gz"):
        yield from _read_jsonl(f, options)
        return
    max_doc_bytes = options.max_doc_bytes
    if f.size > max_doc_bytes:
        yield Quarantined(f.path, "too_large", f"{f.size} bytes > max_doc_bytes {max_doc_bytes}", copy_of=f.path)
        return
    try:
        with open_input(f.path) as fh:
            data = fh.read(max_doc_bytes + 1)
    except OSError as exc:
        yield _unreadable(f.path, exc)
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
    doc = RawDocument(doc_id_of(data), f.path, source_name_of(f), content_type, len(data), encoding, text,
                      origin=(f.path, 0, len(data)))
    del data, text  # the document alone holds its text while it is cleaned
    yield doc


def _read_jsonl(f: InputFile, options: RunOptions) -> Iterator[RawDocument | Quarantined]:
    """A JSONL file's records, a line at a time and never more than ``max_doc_bytes`` of one;
    a .jsonl.gz file decompressed as a stream under ``max_gzip_bytes`` and ``max_gzip_ratio``.
    The lines before damage or a limit are kept; the file is quarantined from there on."""
    max_doc_bytes, gz = options.max_doc_bytes, f.kind == "jsonl.gz"
    next_line = f.first_line
    try:
        with open_input(f.path) as raw:
            if gz:
                fh = io.BufferedReader(GzipStream(raw, options.max_gzip_bytes, options.max_gzip_ratio), READ_BUFFER)
            else:
                raw.seek(f.offset)
                fh = raw
            for line in read_lines(fh, max_doc_bytes, f.first_line, 0 if gz else f.offset, -1 if gz else f.length):
                next_line = line.number + 1
                uri = f"{f.path}#L{line.number}"
                if line.data is None:
                    item = _line_too_large(f, uri, line, max_doc_bytes, gz)
                elif line.data and not line.data.isspace():
                    item = _jsonl_document(f, uri, line, gz)
                else:
                    continue
                del line  # its bytes go before the document is cleaned
                yield item
    except LimitExceeded as exc:
        yield Quarantined(f"{f.path}#L{next_line}", exc.reason, f"{exc.detail} (after {next_line - f.first_line} lines)",
                          copy_of=f.path)
    except (EOFError, zlib.error) as exc:  # the lines before the damage are kept
        reason = "truncated" if isinstance(exc, EOFError) else "corrupt_gzip"
        yield Quarantined(f"{f.path}#L{next_line}", reason, f"{type(exc).__name__}: {exc} (after {next_line - f.first_line} lines)",
                          copy_of=f.path)
    except OSError as exc:
        yield _unreadable(f.path if next_line == f.first_line else f"{f.path}#L{next_line}", exc)


READ_BUFFER = 1 << 20


def _unreadable(uri: str, exc: OSError) -> Quarantined:
    if isinstance(exc, NotAFile):
        return Quarantined(uri, "not_a_file", str(exc))
    return Quarantined(uri, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")


def _line_too_large(f: InputFile, uri: str, line: Line, max_doc_bytes: int, gz: bool) -> Quarantined:
    detail = f"line of {line.size} bytes > max_doc_bytes {max_doc_bytes}"
    if gz:  # the line exists only decompressed: keep the compressed file, which holds it
        return Quarantined(uri, "too_large", f"{detail}; the copy is the whole compressed file", copy_of=f.path,
                           n_bytes=line.size)
    return Quarantined(uri, "too_large", detail, copy_of=f.path, copy_range=(line.offset, line.size))


def _jsonl_document(f: InputFile, uri: str, line: Line, gz: bool) -> RawDocument | Quarantined:
    """One record as a document, or quarantined with the line's bytes: whatever goes wrong with
    one record must not cost the file's other records."""
    try:
        return _jsonl_record(f, uri, line.data, None if gz else (f.path, line.offset, line.size))
    except BadInput as exc:
        return Quarantined(uri, exc.reason, exc.detail, line.data)
    except Exception as exc:  # noqa: BLE001 - a bug or an input nobody foresaw: this record only
        logger.warning("record %s quarantined after an unexpected error", uri, exc_info=True)
        return Quarantined(uri, "error", f"{type(exc).__name__}: {exc}", line.data)


def _jsonl_record(f: InputFile, uri: str, line: bytes, origin: tuple[str, int, int] | None) -> RawDocument:
    try:
        text_line, encoding = line.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text_line, encoding = decode(line)
    try:
        record = json.loads(text_line)
    except json.JSONDecodeError as exc:
        raise BadInput("malformed_json", f"{exc.msg} at column {exc.colno}") from None
    del text_line
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
    ext_id, published = (None if v is None else str(v) for v in (ext_id, published))
    if b"\\u" in line:  # only a JSON escape can make a lone surrogate, which no UTF-8 writer takes
        for name, value in (("html" if body is html else "text", body), ("url", url), ("source", source), ("id", ext_id),
                            ("published", published)):
            _no_surrogates(name, value)
    if url is not None:
        _check_url(url)
    return RawDocument(
        doc_id=doc_id_of(memoryview(line)[: len(line) - line_end(line)]),
        source_uri=uri,
        source_name=source or source_name_of(f, url),
        content_type="text/html" if body is html else "text/plain",
        n_bytes=len(line),
        encoding=encoding,
        raw_text=body,
        url=url,
        external_id=ext_id,
        published=published,
        origin=origin,
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(name: str, value: str | None) -> None:
    if value and not value.isascii() and (m := _SURROGATE.search(value)):
        raise BadInput("invalid_unicode", f"lone surrogate U+{ord(m.group()):04X} in {name!r} at character {m.start()}")


def _check_url(url: str) -> None:
    try:
        urlsplit(url).port  # the port is checked only when asked for
    except ValueError as exc:
        raise BadInput("invalid_url", f"{exc}: {url[:200]!r}") from None


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
