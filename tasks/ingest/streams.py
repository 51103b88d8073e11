"""Input bytes as bounded streams: files opened as they were found (no link followed, no FIFO
waited on), gzip decompressed under limits, and lines read at most a document's size at a time,
so that no input can make a worker hold more than that.

A gzip file can expand a thousandfold (1 GiB of zeros packs into 1 MB); ``GzipStream`` counts
what it produces against ``max_bytes`` and, past the first ``RATIO_FLOOR`` bytes, against
``max_ratio`` times what it consumed, and stops with ``LimitExceeded`` instead of producing more.
"""

from __future__ import annotations

import io
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

READ_SIZE = 1 << 16  # compressed bytes per read
SKIP_SIZE = 1 << 20  # bytes per read while skipping the rest of a line that is too long
RATIO_FLOOR = 64 << 20  # small files may pack tighter than the limit: the ratio counts beyond this


class NotAFile(OSError):
    """An input that turned out not to be a regular file when it was opened."""


def open_input(path: str):
    """Open an input file for reading without following a link in its last component or blocking
    on a FIFO: either may have replaced the file since the walk saw it."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotAFile(f"not a regular file any more: mode {stat.filemode(mode)}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class LimitExceeded(Exception):
    """An input expanded beyond a limit; carries a quarantine reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class GzipStream(io.RawIOBase):
    """The decompressed bytes of a gzip file (every member, as ``gzip`` reads them), produced a
    buffer at a time. Raises ``EOFError`` for a cut file, ``zlib.error`` for damaged data and
    ``LimitExceeded`` when the output passes ``max_bytes`` or ``max_ratio`` times the input."""

    def __init__(self, raw: BinaryIO, max_bytes: int, max_ratio: float):
        super().__init__()
        self.raw, self.max_bytes, self.max_ratio = raw, max_bytes, max_ratio
        self.consumed = self.produced = 0  # compressed bytes read, decompressed bytes returned
        self._inflate: zlib._Decompress | None = zlib.decompressobj(wbits=31)
        self._pending = b""  # compressed bytes read but not given to the decompressor yet

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self._inflate is None:
                return 0
            if not self._pending:
                self._pending = self.raw.read(READ_SIZE)
                self.consumed += len(self._pending)
                if not self._pending:
                    if self._inflate.eof:
                        self._inflate = None
                        return 0
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            if self._inflate.eof:  # the next member, or the zero padding some writers add
                rest = self._pending.lstrip(b"\x00")
                if not rest:
                    self._pending = b""
                    continue
                self._inflate, self._pending = zlib.decompressobj(wbits=31), rest
            out = self._inflate.decompress(self._pending, len(buffer))
            self._pending = self._inflate.unconsumed_tail or self._inflate.unused_data
            if out:
                self._check(len(out))
                buffer[: len(out)] = out
                return len(out)

    def _check(self, n: int) -> None:
        self.produced += n
        if self.produced > self.max_bytes:
            raise LimitExceeded("too_large", f"decompresses to more than max_gzip_bytes {self.max_bytes}")
        used = max(1, self.consumed - len(self._pending))
        if self.produced > RATIO_FLOOR and self.produced > self.max_ratio * used:
            raise LimitExceeded("gzip_bomb", f"{used} compressed bytes expanded to {self.produced} "
                                             f"(more than max_gzip_ratio {self.max_ratio:g} times)")


@dataclass(frozen=True)
class Line:
    """One line of a stream: its bytes (None when it is longer than the limit), where it starts
    and how long it is (with its line end)."""

    number: int
    offset: int
    size: int
    data: bytes | None


def read_lines(fh: BinaryIO, max_bytes: int, first_line: int = 1, offset: int = 0, length: int = -1) -> Iterator[Line]:
    """The lines of ``fh`` from ``offset`` (its current position), ``length`` bytes of them (-1:
    to the end); a line of more than ``max_bytes`` (without its line end) is counted and skipped,
    never held whole."""
    number, position = first_line, offset
    while length < 0 or position - offset < length:
        data = fh.readline(max_bytes + 2)  # room for the limit and a \r\n
        if not data:
            return
        size = len(data)
        if size - line_end(data) > max_bytes:
            while not data.endswith(b"\n"):
                data = fh.readline(SKIP_SIZE)
                if not data:
                    break
                size += len(data)
            data = None
        line, data = Line(number, position, size, data), None  # the caller alone holds the bytes
        yield line
        del line
        number += 1
        position += size


def line_end(data: bytes) -> int:
    """Bytes of the line end at the end of ``data`` (without copying it, as rstrip would)."""
    if not data.endswith(b"\n"):
        return 0
    return 2 if data.endswith(b"\r\n") else 1
