"""Open the input: a path or ``-``, plain or compressed, as one seekable buffer.

A plain file is memory-mapped as it is. Anything else (stdin, compressed
input, UTF-16, a pg_dump archive converted by pg_restore) is first spooled
to a temporary file on disk, never into memory, and that file is mapped.
One pass then finds the rare needles that the splitter looks for (index.py);
the splitter and writer read byte ranges of one ``Input`` (input.py). What is in
the file but not the dump (pg_dump's messages, a BOM, settings the target
rejects) the splitter recognises in place and the writer leaves out
(cleanup.py): the input is read as it is, and an error's line is its own.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import io
import lzma
import os
import re
import shlex
import shutil
import stat
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar, cast

from dumpfix.cleanup import Cleanup, needles
from dumpfix.dumpfile import COPY_TERMINATOR, line_number
from dumpfix.errors import DumpError
from dumpfix.input import Input
from dumpfix.lexer import python_encoding
from dumpfix.output import sigterm_as_interrupt

SPOOL_CHUNK = 1 << 20
#: Seconds a pipe's window waits for more bytes once it has some (source.Pipe.grow).
PATIENCE = 0.5
_HEAD = 512  # enough to see a tar header

_MAGIC = [
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
]
_CLIENT_ENCODING = re.compile(r"^SET\s+client_encoding\s*(?:=|TO)\s*'([^']*)'", re.IGNORECASE | re.MULTILINE)
_LOCATION_LINE = re.compile(r"line (\d+)")
T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    input: Input
    name: str
    compression: str | None
    utf16: str | None  # the UTF-16 codec the input was in, if any
    archive: str | None = None  # the pg_dump archive format converted by pg_restore, if any
    #: What the user asked to be left out (the splitter takes it: fix.analyse).
    cleanup: Cleanup = Cleanup()

    @property
    def buf(self) -> bytes:
        """The input's bytes, to slice and match."""
        return self.input.data


@contextlib.contextmanager
def open_source(
    path: str, cleanup: Cleanup | None = None, spooled: Callable[[int], None] | None = None
) -> Iterator[Source]:
    """Yield the input as one buffer; temporary files are removed on exit.

    spooled, when given, hears the bytes read so far while a stream that cannot
    be mapped (stdin, compressed input) is copied to the spool.
    A DumpError raised by whoever reads the buffer (the splitter says ``line N``
    of the buffer) leaves here naming the input and its own line.
    """
    with open_input(path, cleanup, spooled) as source:
        assert isinstance(source, Source)
        yield source


@contextlib.contextmanager
def open_input(
    path: str,
    cleanup: Cleanup | None = None,
    spooled: Callable[[int], None] | None = None,
    streaming: bool = False,
) -> Iterator[Source | Pipe]:
    """open_source, but with streaming, a plain dump on a pipe (stdin, compressed or
    not) comes as a Pipe, read a window at a time (stream.py; Pipe.whole() reads the
    rest)."""
    name = "<stdin>" if path == "-" else path
    with sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        archive = None
        try:
            opened = None if path != "-" and os.path.isdir(path) else _opened(path, name, stack)
            if streaming and opened is not None and _streams(path, opened):
                yield Pipe(opened.stream, name, opened.compression, cleanup or Cleanup(), stack, spooled)
                return
            loaded, compression, utf16, archive = _load(path, name, stack, opened, spooled)
            yield _source(loaded, name, compression, utf16, archive, cleanup or Cleanup())
        except DumpError as e:
            e.location = _input_location(e.location, name, archive)
            raise


def _source(
    loaded: Input, name: str, compression: str | None, utf16: str | None, archive: str | None, cleanup: Cleanup
) -> Source:
    """The whole input indexed (index.py), refused if it holds a NUL byte."""
    source = loaded.indexed([*needles(), COPY_TERMINATOR], caps={b"\0": 1})
    refuse_nul(source, name)
    return Source(source, name, compression, utf16, archive, cleanup)


def refuse_nul(source: Input, name: str, start: int = 0) -> None:
    """No NUL byte from start on: psql would stop reading there."""
    nul = source.find_rare(b"\0", start, len(source))
    if nul >= 0:
        raise DumpError(
            "binary data (a NUL byte): not a plain SQL dump, or a damaged one",
            f"{name}:{line_number(source.data, nul)}",
        )


class Pipe:
    """A plain dump on a pipe, read a window at a time: what is read goes on to a spool
    file (never into memory), which input() maps as far as it goes."""

    def __init__(
        self,
        stream: IO[bytes],
        name: str,
        compression: str | None,
        cleanup: Cleanup,
        stack: contextlib.ExitStack,
        spooled: Callable[[int], None] | None = None,
    ) -> None:
        self.spooled = spooled
        self.stream = stream
        self.name = name
        self.compression = compression
        self.cleanup = cleanup
        self.spool = stack.enter_context(tempfile.TemporaryFile(prefix="dumpfix-"))
        self.size = 0
        self.stack = stack
        self._map: Input | None = None
        stack.callback(self._unmap)

    def grow(self, size: int) -> bool:
        """Read on to the spool until size more bytes are in, or PATIENCE seconds have
        passed with some (a slow writer's data is not held back for long); False once
        the input has ended."""
        read1 = getattr(self.stream, "read1", self.stream.read)  # whatever is there, up to n
        wanted = size
        deadline = time.monotonic() + PATIENCE
        while wanted > 0 and (wanted == size or time.monotonic() < deadline):
            want = min(wanted, SPOOL_CHUNK)
            data = _read_check(lambda: read1(want), self.compression, self.name)  # noqa: B023
            if not data:
                return False
            self.spool.write(data)
            self.size += len(data)
            wanted -= len(data)
            if self.spooled is not None:
                self.spooled(self.size)
        return True

    def input(self) -> Input:
        """What has been read so far, mapped (the map before is closed)."""
        self.spool.flush()
        self._unmap()
        self._map = Input.mapped(self.spool.fileno()) if self.size else Input(b"")
        return self._map

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def whole(self) -> Source:
        """The rest read too, as open_source gives an input read whole."""
        while self.grow(1 << 30):
            pass
        return _source(self.input(), self.name, self.compression, None, None, self.cleanup)


@dataclass(frozen=True)
class _Opened:
    raw: IO[bytes]
    stream: IO[bytes]  # raw, or its decompressor
    compression: str | None
    head: bytes  # the first bytes of stream, not consumed


def _opened(path: str, name: str, stack: contextlib.ExitStack) -> _Opened:
    raw = _open_raw(path, stack)
    head = _peek(raw)
    compression = next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)
    stream: IO[bytes] = raw
    if compression is not None:
        stream = stack.enter_context(_decompressor(compression, raw))
        head = _read_check(lambda: _peek(stream), compression, name)
    return _Opened(raw, stream, compression, head)


def _streams(path: str, opened: _Opened) -> bool:
    """Whether the input is read as a Pipe: stdin that is no file, holding a plain dump
    (compressed or not; not an archive, not UTF-16, which is transcoded first)."""
    return (
        path == "-"
        and not _is_regular(opened.raw)
        and archive_format(path, opened.head) is None
        and _utf16_codec(opened.head) is None
    )


def _load(
    path: str,
    name: str,
    stack: contextlib.ExitStack,
    opened: _Opened | None,
    spooled: Callable[[int], None] | None = None,
) -> tuple[Input, str | None, str | None, str | None]:
    """The input, mapped, with how it was stored (opened: None for a folder)."""
    if opened is None:
        if archive_format(path) is None:
            raise DumpError("is a folder, not a dump (a pg_dump directory-format archive has a toc.dat)", name)
        return _map(_convert(path, name, "directory", stack), stack), None, None, "directory"
    raw, stream, compression, head = opened.raw, opened.stream, opened.compression, opened.head
    archive = archive_format(path, head)
    if archive is not None:
        if compression is None and path != "-" and _is_regular(raw):
            archive_path = path
        else:
            archive_path = _spool_named(stream, compression, name, stack)
        return _map(_convert(archive_path, name, archive, stack), stack), compression, None, archive
    utf16 = _utf16_codec(head)
    if path == "-" or compression is not None or utf16 is not None or not _is_regular(raw):
        stream = _read_check(lambda: _spool(_counted(stream, spooled), utf16, name, stack), compression, name)
    return _map(stream, stack), compression, utf16, None


def _open_raw(path: str, stack: contextlib.ExitStack) -> IO[bytes]:
    if path == "-":
        if sys.stdin is None:  # started with stdin closed (`dumpfix - <&-`)
            raise DumpError("cannot read input: stdin is closed", location="<stdin>")
        return sys.stdin.buffer
    try:
        return stack.enter_context(open(path, "rb"))
    except OSError as e:
        raise DumpError(f"cannot open input: {e.strerror or e}", location=path) from None


def _peek(stream: IO[bytes]) -> bytes:
    """The first bytes without consuming them (peek may return fewer: ask until enough)."""
    if not hasattr(stream, "peek"):
        return b""
    head = stream.peek(_HEAD)
    while 0 < len(head) < _HEAD:
        more = stream.peek(_HEAD)
        if len(more) <= len(head):
            break
        head = more
    return head[:_HEAD]


def _read_check(read: Callable[[], T], compression: str | None, name: str) -> T:
    """Run read(), turning a damaged compressed stream into one clear DumpError."""
    try:
        return read()
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as e:
        raise DumpError(f"cannot read {compression or 'input'} data: {_zstd_reason(e)}", location=name) from None
    except Exception as e:
        if type(e).__name__ == "ZstdError":
            raise DumpError(f"cannot read zstd data: {e}", location=name) from None
        raise


def _zstd_reason(e: BaseException) -> str:
    if isinstance(e, EOFError):
        return "the compressed stream ends early (truncated file?)"
    return str(e) or type(e).__name__


def _decompressor(kind: str, raw: IO[bytes]) -> IO[bytes]:
    if kind == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw))  # a binary stream, typed as a file object
    if kind == "bzip2":
        return bz2.BZ2File(raw)
    if kind == "xz":
        return lzma.LZMAFile(raw)
    return io.BufferedReader(_ZstdReader(raw), SPOOL_CHUNK)


class _ZstdReader(io.RawIOBase):
    """zstd frames one after the other, failing on a truncated one.

    zstandard's stream_reader returns a cut-off frame as a short read without
    any error; a decompressobj tells by its ``eof`` whether the frame ended.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        try:
            import zstandard
        except ImportError:
            raise DumpError("zstd input needs the zstandard package: pip install 'dumpfix[zstd]'") from None
        self._zstd = zstandard
        self._raw = raw
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._raw.read(1 << 16)
            if not chunk:
                if self._started and not self._obj.eof:
                    raise EOFError("truncated zstd frame")
                return 0
            while chunk:
                if self._obj.eof:  # the next frame
                    self._obj = self._zstd.ZstdDecompressor().decompressobj()
                self._started = True
                self._pending += self._obj.decompress(chunk)
                chunk = self._obj.unused_data if self._obj.eof else b""
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def archive_format(path: str, head: bytes = b"") -> str | None:
    """Which of pg_dump's archive formats path holds, None for any other input (a plain
    dump, a folder without toc.dat): directory (a folder with toc.dat), else by the
    file's first bytes (head, decompressed): custom (PGDMP magic) or tar (toc.dat first)."""
    if path != "-" and os.path.isdir(path):
        return "directory" if os.path.isfile(os.path.join(path, "toc.dat")) else None
    if head.startswith(b"PGDMP"):
        return "custom"
    if len(head) >= 262 and head[257:262] == b"ustar" and head.startswith(b"toc.dat\0"):
        return "tar"
    return None


def _convert(archive_path: str, name: str, archive: str, stack: contextlib.ExitStack) -> IO[bytes]:
    """The plain SQL script of a pg_dump archive, written by PATH's pg_restore into a spool.

    PATH's only, unlike --jobs (toc.py): the error names the command to run instead.
    """
    from dumpfix import programs  # here: only archives run a program, and subprocess costs every run 3 ms

    pg_restore = programs.locate("pg_restore")
    if pg_restore is None:
        command = (
            f"pg_restore -f - {shlex.quote(name)} | dumpfix - ..."
            if name != "<stdin>"
            else "... | pg_restore -f - | dumpfix - ..."
        )
        raise DumpError(
            f"this is a pg_dump {archive}-format archive, not a plain SQL dump, and pg_restore "
            f"is not on PATH: convert it with `{command}`",
            location=name,
        )
    spool = stack.enter_context(tempfile.TemporaryFile(prefix="dumpfix-"))
    what = f"pg_restore could not convert this {archive}-format archive"
    programs.run([pg_restore, "-f", "-", archive_path], stdout=spool, what=what, location=name)
    spool.seek(0)
    return spool


def _spool_named(stream: IO[bytes], compression: str | None, name: str, stack: contextlib.ExitStack) -> str:
    """A named copy of a stream, for pg_restore to read."""
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="dumpfix-"))
    path = os.path.join(folder, "archive")
    with open(path, "wb") as f:
        _read_check(lambda: shutil.copyfileobj(stream, f, SPOOL_CHUNK), compression, name)
    return path


def _utf16_codec(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    return None


def _is_regular(raw: IO[bytes]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(raw.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


class _Counted(io.RawIOBase):
    """A stream that tells how many bytes were read from it so far."""

    def __init__(self, stream: IO[bytes], report: Callable[[int], None]) -> None:
        self.stream = stream
        self.report = report
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # read1: what has arrived, so that a slow pipe is reported as it comes.
        read = getattr(self.stream, "read1", self.stream.read)
        data = read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self.report(self.count)
        return n


def _counted(stream: IO[bytes], report: Callable[[int], None] | None) -> IO[bytes]:
    """stream, or a buffered reader over it that reports bytes read when someone listens."""
    if report is None:
        return stream
    return io.BufferedReader(_Counted(stream, report), SPOOL_CHUNK)


def _spool(stream: IO[bytes], utf16: str | None, name: str, stack: contextlib.ExitStack) -> IO[bytes]:
    spool = stack.enter_context(tempfile.TemporaryFile(prefix="dumpfix-"))
    if utf16 is None:
        shutil.copyfileobj(stream, spool, SPOOL_CHUNK)
    else:
        _transcode(stream, utf16, spool, name)
    spool.flush()
    spool.seek(0)
    return spool


def _transcode(stream: IO[bytes], utf16: str, spool: IO[bytes], name: str) -> None:
    """UTF-16 (what PowerShell 5's ``>`` writes) back to the dump's client_encoding.

    The encoding is the first ``SET client_encoding`` of the dump (pg_dump writes
    it in the first lines); UTF-8 when there is none.
    """
    stream.read(2)  # the BOM
    decoder = codecs.getincrementaldecoder(utf16)(errors="strict")
    encoding: str | None = None
    line = 1
    try:
        while True:
            chunk = stream.read(SPOOL_CHUNK)
            text = decoder.decode(chunk, final=not chunk)
            if encoding is None:
                m = _CLIENT_ENCODING.search(text)
                encoding = python_encoding(m.group(1)) if m else "utf-8"
            try:
                spool.write(text.encode(encoding))
            except UnicodeEncodeError as e:
                at = line + text.count("\n", 0, e.start)
                raise DumpError(
                    f"the text has a character ({text[e.start]!r}) that the dump's client_encoding "
                    f"({encoding}) cannot hold",
                    f"{name}:{at}",
                ) from None
            line += text.count("\n")
            if not chunk:
                return
    except UnicodeDecodeError as e:
        raise DumpError(f"invalid {utf16.upper()} data after line {line}: {e.reason}", name) from None


def _input_location(location: str | None, name: str, archive: str | None) -> str:
    """``line N`` of the buffer as ``NAME:LINE`` of the input."""
    if location is None:
        return name
    m = _LOCATION_LINE.fullmatch(location)
    if m is None:
        return location
    line = int(m.group(1))
    if archive is not None:
        return f"{name} (pg_restore's script, line {line})"
    return f"{name}:{line}"


def _map(stream: IO[bytes], stack: contextlib.ExitStack) -> Input:
    stack.callback(stream.close)
    size = os.fstat(stream.fileno()).st_size
    if size == 0:
        return Input(b"")
    mapped = Input.mapped(stream.fileno())  # flat RSS, kernel copies: see input.py
    stack.callback(mapped.close)
    return mapped
