"""The input: the dump's bytes, with the index of its rare needles, and how to read them.

Every stage gets one ``Input``. Its ``data`` is what the stages slice and match
with regular expressions: a read-only memory map of the dump file (source.py
spools anything that is not a plain file first), or bytes handed to the library.
``Input`` also does what slicing cannot do well on a gigabyte:

- find a rare needle (a COPY terminator, a NUL byte, pg_dump's messages): a
  bisect in the index that one pass built before anything else read the file
  (index.py), or a search backwards a window at a time;
- copy a span out to the output without a page of the map: inside the kernel
  into a pipe (``sendfile``), through one reused buffer read with ``pread``
  into anything else;
- read a span with ``pread`` (a few bytes here and there would otherwise map a
  large page-cache folio each);
- release what was read: every page of a map that has been read counts towards
  the process's RSS until it is dropped, so the map drops its pages
  (``MADV_DONTNEED``; they stay in the page cache) every ``RELEASE_EVERY``
  bytes read.

Where the system lacks one of these calls (Windows: no ``pread``, ``sendfile``
or ``madvise``), the bytes come through the map instead. Code that holds only
``data`` (the planner's counts) reads and releases with ``read`` and ``release``.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, BinaryIO, cast

from dumpfix.errors import DumpError
from dumpfix.index import NeedleIndex, Occurrences, build_index, search_window

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

# Drop the mapped pages after this many bytes have been read: bounds RSS.
RELEASE_EVERY = 8 << 20
# Below this a kernel copy costs more in flushes and system calls than it saves.
KERNEL_COPY_MIN = 1 << 16
#: Unchanged bytes bound for a file pass through a buffer this large: it stays in
#: the CPU's cache (see the README's "Where the time goes").
COPY_BUFFER = 1 << 20
# Bytes searched at once for a rare needle that the index does not know.
RARE_WINDOW = 4 << 20


class _Mapped(mmap.mmap):
    """A read-only mapping of a whole file, with its descriptor, that drops its pages
    once RELEASE_EVERY bytes have been read (the count is its one changing state)."""

    fd: int
    unread_since_release: int

    def __new__(cls, fd: int) -> _Mapped:
        self = super().__new__(cls, fd, 0, access=mmap.ACCESS_READ)
        self.fd = fd
        self.unread_since_release = 0
        if hasattr(mmap, "MADV_SEQUENTIAL"):
            self.madvise(mmap.MADV_SEQUENTIAL)  # read-ahead: every pass goes front to back
        return self

    def find(self, view: ReadableBuffer, start: int | None = None, end: int | None = None, /) -> int:
        """mmap.find a window at a time, dropping pages as it goes: a long search
        (a newline past a gigabyte of COPY data) keeps RSS flat."""
        size = len(self)
        lo = 0 if start is None else (start if start >= 0 else max(size + start, 0))
        hi = size if end is None else (end if end >= 0 else max(size + end, 0))
        hi = min(hi, size)
        reach = len(memoryview(view)) - 1
        while True:
            stop = min(hi, lo + RELEASE_EVERY)
            at = super().find(view, lo, min(hi, stop + reach))
            self.consumed(stop - lo)
            if at >= 0 or stop >= hi:
                return at
            lo = stop

    def consumed(self, size: int) -> None:
        self.unread_since_release += size
        if self.unread_since_release >= RELEASE_EVERY and not self.closed:
            self.unread_since_release = 0
            if hasattr(mmap, "MADV_DONTNEED"):  # not on Windows
                self.madvise(mmap.MADV_DONTNEED)

    def readable_fd(self) -> int | None:
        """The descriptor to pread from, while the map is open and the system has pread."""
        return self.fd if not self.closed and hasattr(os, "pread") else None


def _mapped(data: bytes) -> _Mapped | None:
    # The one place that asks what the bytes are: a map of a file, or bytes.
    return data if isinstance(data, _Mapped) else None


@dataclass(frozen=True, slots=True)
class Input:
    """The dump's bytes (``data``: a mapped file, or bytes) and the index of its rare needles."""

    data: bytes
    index: NeedleIndex = field(default_factory=NeedleIndex)

    @classmethod
    def of(cls, dump: Input | bytes) -> Input:
        """dump as an Input (bytes a library caller hands over get an empty index)."""
        return dump if isinstance(dump, Input) else cls(dump)

    @classmethod
    def mapped(cls, fd: int) -> Input:
        """The whole file behind fd, mapped read-only (close it with close())."""
        # A map reads as bytes do (slices, find, regular expressions): stages see bytes.
        return cls(cast(bytes, _Mapped(fd)))

    def indexed(self, needles: Sequence[bytes], caps: dict[bytes, int] | None = None) -> Input:
        """This input with an index of where each needle stands (up to its cap, else
        index.CAP positions), made in one pass over the file (index.py)."""
        return replace(self, index=build_index(self, needles, caps))

    def __len__(self) -> int:
        return len(self.data)

    @property
    def is_mapped(self) -> bool:
        """Whether data is a map of a file (another process can read it after a fork)."""
        return _mapped(self.data) is not None

    def close(self) -> None:
        mapped = _mapped(self.data)
        if mapped is not None:
            mapped.close()

    def known(self, needle: bytes) -> Occurrences | None:
        """What the index knows of a needle (None: nothing)."""
        return self.index.get(needle)

    def find_rare(self, sub: bytes, start: int, end: int) -> int:
        """data.find(sub, start, end) for a needle that is rare in the input: looked up
        in the index when it has the needle, else searched backwards a window at a time
        (see index.occurrences), releasing pages as it goes."""
        known = self.known(sub)
        if known is not None:
            i = bisect_left(known.positions, start)
            if i < len(known.positions):
                at = known.positions[i]
                return at if at + len(sub) <= end else -1
            if known.complete_until + len(sub) > end:
                return -1
            start = max(start, known.complete_until)
        buf, lo = self.data, start
        while lo < end:
            stop = min(end, lo + RARE_WINDOW)
            at = buf.rfind(sub, lo, min(end, stop + len(sub) - 1))
            if at >= 0:
                while (earlier := buf.rfind(sub, lo, at + len(sub) - 1)) >= 0:
                    at = earlier
                self.release(at - lo)
                return at
            self.release(stop - lo)
            lo = stop
        return -1

    def everywhere(self, needle: bytes, start: int = 0) -> Iterator[int]:
        """Every position of a rare needle in data[start:], in order: the indexed ones,
        then what a search of the rest finds, a window at a time (never a list of them all)."""
        known = self.known(needle)
        if known is not None:
            yield from (at for at in known.positions if at >= start)
            start = max(start, known.complete_until)
        yield from search_window(self, needle, start)

    def read(self, start: int, size: int) -> bytes:
        """data[start:start + size], read with pread when data is a mapped file."""
        return read(self.data, start, size)

    def read_into(self, view: memoryview, start: int) -> None:
        """Fill view with the bytes from start on, with preadv when data is a mapped file:
        no page of the map is touched (mapping pages costs more than copying them, and
        each counts towards RSS until released), and a reused buffer stays in the CPU's
        cache. Elsewhere (bytes, or no preadv: Windows) the bytes come through the map."""
        mapped = _mapped(self.data)
        if mapped is not None and hasattr(os, "preadv"):
            got = os.preadv(mapped.fd, [view], start)
        else:
            piece = self.data[start : start + len(view)]
            got = len(piece)
            view[:got] = piece
            self.release(got)
        if got != len(view):
            raise DumpError("the input file became shorter while it was read")

    def release(self, size: int) -> None:
        """Note that size more bytes were read; a mapped file drops its pages once enough were."""
        release(self.data, size)

    def copy_out(self, start: int, end: int, out: BinaryIO) -> None:
        """Write data[start:end] to out without a page of the map: sent inside the kernel
        to a pipe, read with pread into a reused buffer for anything else."""
        start = self._sent(start, end, out)
        if start >= end:
            return
        mapped = _mapped(self.data)
        if mapped is None or mapped.closed:
            with memoryview(self.data) as view, view[start:end] as piece:
                out.write(piece)
            return
        block = memoryview(bytearray(min(COPY_BUFFER, end - start)))
        while start < end:
            piece = block[: end - start]
            self.read_into(piece, start)
            out.write(piece)
            start += len(piece)

    def _sent(self, start: int, end: int, out: BinaryIO) -> int:
        """Send data[start:end] to out if out is a pipe; returns where sending stopped
        (start when it could not: not a mapped file, not a pipe, or the kernel refuses)."""
        mapped = _mapped(self.data)
        small = end - start < KERNEL_COPY_MIN
        if small or mapped is None or not plain_file(out) or not hasattr(os, "sendfile"):
            return start  # (no sendfile on Windows)
        try:
            out_fd = out.fileno()
            if not stat.S_ISFIFO(os.fstat(out_fd).st_mode):
                return start
        except (AttributeError, OSError, ValueError):
            return start
        out.flush()  # what was written before must land before the kernel's bytes
        pos = start
        try:
            while pos < end:
                n = os.sendfile(out_fd, mapped.fd, pos, end - pos)
                if n <= 0:
                    break
                pos += n
        except OSError:
            if pos == start:
                return start  # e.g. EINVAL: the caller writes these bytes itself
            raise
        return pos


def read(data: bytes, start: int, size: int) -> bytes:
    """data[start:start + size]; from a mapped file's descriptor rather than through the
    map (a few bytes here and there would otherwise map a large page-cache folio each)."""
    mapped = _mapped(data)
    fd = None if mapped is None else mapped.readable_fd()
    if fd is not None:
        return os.pread(fd, size, start)
    return bytes(data[start : start + size])


def release(data: bytes, size: int) -> None:
    """Note that size more bytes of data were read; a mapped file drops its pages once
    enough were (nothing to do for bytes)."""
    mapped = _mapped(data)
    if mapped is not None:
        mapped.consumed(size)


def plain_file(out: BinaryIO) -> bool:
    """Whether bytes written to out's descriptor are what out holds: a compressing
    writer (gzip, bz2, lzma) also answers fileno(), with the compressed file's."""
    return isinstance(out, (io.BufferedWriter, io.FileIO))
