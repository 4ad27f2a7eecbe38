"""Regions of the output reserved by the writer and written meanwhile by a forked child.

Retargeting a staged table's INSERT statements is the writer's one step that
works on every byte (a ``bytes.replace`` a chunk); everything else it copies.
Where the output is a plain file, the region's length is known first (see
dumpfile.redirected_length), so the writer seeks past it and goes on with
what follows while a child (forked.py) writes the region with pwrite, on the
machine's other core. Before the output is complete, finish() collects the
child; if it failed, this process writes the region itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from typing import BinaryIO

from dumpfix.forked import Forked, can_fork
from dumpfix.mapping import plain_file

try:
    import fcntl
except ImportError:  # Windows, which has no fork() either: nothing is reserved there
    fcntl = None  # type: ignore[assignment]

#: Below this, a region is written in line: a fork costs about a millisecond.
PARALLEL_MIN = 16 << 20


def positional(buf: bytes, out: BinaryIO) -> int | None:
    """out's descriptor, if regions of it can be written by offset while this process
    writes on: a plain regular file (not compressed, not a pipe, not opened to
    append, where Linux's pwrite ignores the offset) and an input a child can share."""
    if not can_fork(buf) or not plain_file(out) or fcntl is None or not hasattr(os, "pwrite"):
        return None
    try:
        fd = out.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not out.seekable():
            return None
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            return None
    except (AttributeError, OSError, ValueError):
        return None
    return fd


class Reserved:
    """size bytes of out's file from offset at, written by a child from pieces()."""

    def __init__(self, fd: int, at: int, size: int, pieces: Callable[[], Iterable[bytes]]) -> None:
        self.fd, self.at, self.size, self.pieces = fd, at, size, pieces
        self.child = Forked(self.write)

    def write(self) -> int:
        """Write the pieces from the region's start on; returns how many bytes."""
        pos = self.at
        for piece in self.pieces():
            view = memoryview(piece)
            while view:
                written = os.pwrite(self.fd, view, pos)
                view, pos = view[written:], pos + written
        return pos - self.at

    def finish(self) -> None:
        """Wait for the child; write the region here if it could not."""
        if self.child.result() != self.size and self.write() != self.size:
            raise AssertionError("a reserved region of the output did not get its length")

    def abandon(self) -> None:
        self.child.abandon()
