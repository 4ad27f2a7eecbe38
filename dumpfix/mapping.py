"""The input as a memory map that keeps memory flat, and the copy of its unchanged bytes.

Every page of a mapping that has been read counts towards the process's RSS
until it is unmapped, so a gigabyte dump read through a plain ``mmap`` costs
a gigabyte of RSS. ``MappedFile`` remembers how much has been read since it
last dropped its pages (``MADV_DONTNEED``: the pages stay in the page cache,
a later read maps them again) and drops them every ``RELEASE_EVERY`` bytes.
It also keeps the file descriptor, so byte ranges that pass through unchanged
never touch the map: into a pipe they go inside the kernel (``sendfile``), into
a file through one reused buffer read with ``pread``.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
from bisect import bisect_left
from dataclasses import dataclass
from typing import BinaryIO

from dumpfix.errors import DumpError

# Drop the mapped pages after this many bytes have been read: bounds RSS.
RELEASE_EVERY = 8 << 20
# Below this a kernel copy costs more in flushes and system calls than it saves.
KERNEL_COPY_MIN = 1 << 16
#: Unchanged bytes bound for a file pass through a buffer this large: it stays in
#: the CPU's cache. Measured on ext4, 1.2 GB: 0.24 s, where copy_file_range took
#: 0.41 s for a span that starts at another offset within a page in the output
#: than in the input (as moved spans do) and 0.28 s where the offsets agree.
COPY_BUFFER = 1 << 20


@dataclass(frozen=True, slots=True)
class Occurrences:
    """Where one needle starts in a file: every occurrence before complete_until, in order."""

    positions: list[int]
    complete_until: int


class NeedleIndex(dict[bytes, Occurrences]):
    """Rare needles of a whole file, found in one pass before anything else reads it
    (see needles.py): later searches for them are a bisect, not a pass over the file."""


class MappedFile(mmap.mmap):
    """A read-only mapping of a whole file that knows its descriptor."""

    fd: int
    unread_since_release: int
    needles: NeedleIndex | None

    def find(self, sub: bytes, start: int | None = None, end: int | None = None) -> int:  # type: ignore[override]
        """mmap.find a window at a time, dropping pages as it goes: a scan of the
        whole input (a NUL byte, a needle, a COPY terminator) keeps RSS flat."""
        size = len(self)
        lo = 0 if start is None else (start if start >= 0 else max(size + start, 0))
        hi = size if end is None else (end if end >= 0 else max(size + end, 0))
        hi = min(hi, size)
        while True:
            stop = min(hi, lo + RELEASE_EVERY)
            at = super().find(sub, lo, min(hi, stop + len(sub) - 1))
            consumed(self, stop - lo)
            if at >= 0 or stop >= hi:
                return at
            lo = stop


# Bytes searched at once for a rare needle (see find_rare).
RARE_WINDOW = 4 << 20


def occurrences(buf: bytes, sub: bytes, start: int, end: int) -> list[int]:
    """Where sub stands in buf[start:end], in order, for a needle that is rare there.

    Searched backwards: CPython's reverse search skips ahead on the needle's first
    byte, its forward search on the last, and the needles dumpfix looks for in a
    dump end in bytes a dump is full of (a newline, a dot, a space): backwards,
    the COPY terminator is found 3 to 4 times faster, "pg_dump" twice as fast.
    """
    found = []
    at = buf.rfind(sub, start, end)
    while at >= 0:
        found.append(at)
        at = buf.rfind(sub, start, at + len(sub) - 1)
    found.reverse()
    return found


def indexed(buf: bytes, needle: bytes) -> Occurrences | None:
    """What the file's NeedleIndex knows of a needle (None: nothing)."""
    return buf.needles.get(needle) if isinstance(buf, MappedFile) and buf.needles else None


def find_rare(buf: bytes, sub: bytes, start: int, end: int) -> int:
    """buf.find(sub, start, end) for a needle that is rare in the input: looked up
    in the file's NeedleIndex when it has one, else searched backwards a window at
    a time (see occurrences), dropping pages as it goes."""
    known = indexed(buf, sub)
    if known is not None:
        i = bisect_left(known.positions, start)
        if i < len(known.positions):
            at = known.positions[i]
            return at if at + len(sub) <= end else -1
        if known.complete_until + len(sub) > end:
            return -1
        start = max(start, known.complete_until)
    lo = start
    while lo < end:
        stop = min(end, lo + RARE_WINDOW)
        at = buf.rfind(sub, lo, min(end, stop + len(sub) - 1))
        if at >= 0:
            while (earlier := buf.rfind(sub, lo, at + len(sub) - 1)) >= 0:
                at = earlier
            consumed(buf, at - lo)
            return at
        consumed(buf, stop - lo)
        lo = stop
    return -1


def map_file(fd: int) -> MappedFile:
    mapped = MappedFile(fd, 0, access=mmap.ACCESS_READ)
    mapped.fd = fd
    mapped.unread_since_release = 0
    mapped.needles = None
    if hasattr(mmap, "MADV_SEQUENTIAL"):
        mapped.madvise(mmap.MADV_SEQUENTIAL)  # read-ahead: both passes go front to back
    return mapped


def consumed(buf: bytes, size: int) -> None:
    """Note that size more bytes of buf were read; drop its pages once enough were."""
    if not isinstance(buf, MappedFile):
        return
    buf.unread_since_release += size
    if buf.unread_since_release >= RELEASE_EVERY and not buf.closed:
        buf.unread_since_release = 0
        if hasattr(mmap, "MADV_DONTNEED"):  # not on Windows
            buf.madvise(mmap.MADV_DONTNEED)


def read(buf: bytes, start: int, size: int) -> bytes:
    """buf[start:start + size], read from a mapped file's descriptor rather than
    through the mapping: a few bytes here and there would otherwise map a large
    page-cache folio each (RSS)."""
    if isinstance(buf, MappedFile) and not buf.closed and hasattr(os, "pread"):
        return os.pread(buf.fd, size, start)
    return bytes(buf[start : start + size])


def read_into(buf: MappedFile, view: memoryview, start: int) -> None:
    """Fill view with the file's bytes from start on, read with pread: no page of
    the map is touched (mapping pages costs more than copying them, and each counts
    towards RSS until released), and a reused buffer stays in the CPU's cache.
    Without preadv (Windows) the bytes come through the map."""
    if hasattr(os, "preadv"):
        got = os.preadv(buf.fd, [view], start)
    else:
        piece = buf[start : start + len(view)]
        got = len(piece)
        view[:got] = piece
        consumed(buf, got)
    if got != len(view):
        raise DumpError("the input file became shorter while it was read")


def plain_file(out: BinaryIO) -> bool:
    """Whether bytes written to out's descriptor are what out holds: a compressing
    writer (gzip, bz2, lzma) also answers fileno(), with the compressed file's."""
    return isinstance(out, (io.BufferedWriter, io.FileIO))


def copy_out(buf: bytes, start: int, end: int, out: BinaryIO) -> None:
    """Write buf[start:end] to out without a page of the map: sent inside the kernel
    to a pipe, read with pread into a reused buffer for anything else."""
    start = _sent(buf, start, end, out)
    if start >= end:
        return
    if not isinstance(buf, MappedFile) or buf.closed:
        with memoryview(buf) as view, view[start:end] as piece:
            out.write(piece)
        return
    block = memoryview(bytearray(min(COPY_BUFFER, end - start)))
    while start < end:
        piece = block[: end - start]
        read_into(buf, piece, start)
        out.write(piece)
        start += len(piece)


def _sent(buf: bytes, start: int, end: int, out: BinaryIO) -> int:
    """Send buf[start:end] to out if out is a pipe; returns where sending stopped
    (start when it could not: not a mapped file, not a pipe, or the kernel refuses)."""
    small = end - start < KERNEL_COPY_MIN
    if small or not isinstance(buf, MappedFile) or not plain_file(out) or not hasattr(os, "sendfile"):
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
            n = os.sendfile(out_fd, buf.fd, pos, end - pos)
            if n <= 0:
                break
            pos += n
    except OSError:
        if pos == start:
            return start  # e.g. EINVAL: the caller writes these bytes itself
        raise
    return pos
