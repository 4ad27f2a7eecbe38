"""Open the input: a path or ``-``, plain or compressed, as one seekable buffer.

A plain file is memory-mapped as it is. Anything else (stdin, compressed
input, UTF-16) is first spooled to a temporary file on disk, never into
memory, and that file is mapped. The splitter and writer then read byte
ranges of one buffer in two passes.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import lzma
import mmap
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from dumpfix.errors import DumpError

SPOOL_CHUNK = 1 << 20

_MAGIC = [
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
]


@dataclass(frozen=True)
class Source:
    buf: bytes  # a bytes-like buffer (mmap or bytes)
    name: str
    compression: str | None
    utf16: str | None  # the UTF-16 codec the input was in, if any


@contextlib.contextmanager
def open_source(path: str) -> Iterator[Source]:
    """Yield the input as one buffer; temporary files are removed on exit."""
    name = "<stdin>" if path == "-" else path
    with contextlib.ExitStack() as stack:
        raw = _open_raw(path, stack)
        head = _peek(raw)
        compression = next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)
        if head.startswith(b"PGDMP"):
            raise DumpError(
                "this is a pg_dump custom-format archive, not a plain SQL dump: "
                f"convert it with `pg_restore -f - {name} | dumpfix -`",
                location=name,
            )
        stream: BinaryIO = raw
        if compression is not None:
            stream = stack.enter_context(_decompressor(compression, raw))
            head = _peek(stream)
        utf16 = _utf16_codec(head)
        spool_needed = path == "-" or compression is not None or utf16 is not None
        if spool_needed or not _is_regular(raw):
            try:
                stream = _spool(stream, utf16, stack)
            except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
                raise DumpError(f"cannot read {compression or 'input'} data: {e}", location=name) from None
        yield Source(_map(stream, stack), name, compression, utf16)


def _open_raw(path: str, stack: contextlib.ExitStack) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return stack.enter_context(open(path, "rb"))
    except OSError as e:
        raise DumpError(f"cannot open input: {e.strerror}", location=path) from None


def _peek(stream: BinaryIO) -> bytes:
    if hasattr(stream, "peek"):
        return stream.peek(8)[:8]
    return b""


def _decompressor(kind: str, raw: BinaryIO) -> BinaryIO:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    try:
        import zstandard
    except ImportError:
        raise DumpError("zstd input needs the zstandard package: pip install 'dumpfix[zstd]'") from None
    import io

    return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))  # type: ignore[arg-type]


def _utf16_codec(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    return None


def _is_regular(raw: BinaryIO) -> bool:
    try:
        import stat

        return stat.S_ISREG(os.fstat(raw.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


def _spool(stream: BinaryIO, utf16: str | None, stack: contextlib.ExitStack) -> BinaryIO:
    spool = stack.enter_context(tempfile.TemporaryFile(prefix="dumpfix-"))
    if utf16 is None:
        shutil.copyfileobj(stream, spool, SPOOL_CHUNK)
    else:
        stream.read(2)  # the BOM
        decoder = codecs.getincrementaldecoder(utf16)(errors="strict")
        while chunk := stream.read(SPOOL_CHUNK):
            spool.write(decoder.decode(chunk).encode("utf-8"))
        spool.write(decoder.decode(b"", final=True).encode("utf-8"))
    spool.flush()
    spool.seek(0)
    return spool  # type: ignore[return-value]


def _map(stream: BinaryIO, stack: contextlib.ExitStack) -> bytes:
    size = os.fstat(stream.fileno()).st_size
    if size == 0:
        return b""
    mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    stack.callback(mapped.close)
    return mapped  # type: ignore[return-value]
