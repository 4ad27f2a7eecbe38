"""One pass over the input for every rare needle that anyone will look for.

Clean-up looks for NUL bytes and pg_dump's messages, the splitter for COPY
terminators, the layout for DEFAULT among INSERT values. Each pass over a
mapped file costs the page mapping of every byte besides the search itself, so
all of them are searched in one pass, a window at a time, and later searches
are a bisect in the result (``mapping.find_rare`` consults it).

On a large file two processes share the pass: a forked child searches the
second half while this process searches the first, so the pass takes half the
time on a machine with two cores. The child only reads the shared mapping and
sends back positions; if it fails, this process searches that half itself.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Iterator, Sequence

from dumpfix.mapping import MappedFile, NeedleIndex, Occurrences, consumed, occurrences, populate

# Bytes searched at once, for every needle while the window's pages are mapped.
WINDOW = 8 << 20
# Positions kept per needle: past this a needle is not rare here, and whoever
# asks for it later searches the rest of the file itself.
CAP = 1 << 16
# Below this a second process costs more than it saves.
PARALLEL_MIN = 64 << 20


def index(buf: bytes, needles: Sequence[bytes], caps: dict[bytes, int] | None = None) -> NeedleIndex:
    """Where each needle starts in buf (up to its cap: caps, else CAP positions)."""
    limits = {needle: (caps or {}).get(needle, CAP) for needle in dict.fromkeys(needles)}
    n = len(buf)
    if n < PARALLEL_MIN or not isinstance(buf, MappedFile) or not hasattr(os, "fork"):
        return _search(buf, limits, 0, n)
    mid = n // 2
    child = _Child(buf, limits, mid, n)
    try:
        first = _search(buf, limits, 0, mid)
        second = child.result()
    except BaseException:
        child.abandon()
        raise
    if second is None:
        second = _search(buf, limits, mid, n)
    return _joined(first, second, limits, mid)


def attach(buf: bytes, needles: Sequence[bytes], caps: dict[bytes, int] | None = None) -> None:
    """Index the needles of a mapped file on the file itself, where find_rare and
    everywhere look them up (a buffer in memory is searched when asked)."""
    if isinstance(buf, MappedFile):
        buf.needles = index(buf, needles, caps)


def everywhere(buf: bytes, needle: bytes) -> Iterator[int]:
    """Every position of a rare needle in buf, in order: the indexed ones, then what
    a search of the rest finds, a window at a time (never a list of them all)."""
    known = buf.needles.get(needle) if isinstance(buf, MappedFile) and buf.needles else None
    start = 0
    if known is not None:
        yield from known.positions
        start = known.complete_until
    for lo in range(start, len(buf), WINDOW):
        yield from _search(buf, {needle: WINDOW}, lo, min(len(buf), lo + WINDOW))[needle].positions


def _search(buf: bytes, limits: dict[bytes, int], lo: int, hi: int) -> NeedleIndex:
    """Occurrences starting in [lo, hi): a needle may run past hi (it is read whole)."""
    overlap = max(map(len, limits)) - 1
    n = len(buf)
    found: dict[bytes, list[int]] = {needle: [] for needle in limits}
    until = dict.fromkeys(limits, hi)
    for start in range(lo, hi, WINDOW):
        stop = min(hi, start + WINDOW)
        populate(buf, start, min(n, stop + overlap))
        for needle, limit in limits.items():
            positions = found[needle]
            if len(positions) >= limit:
                continue
            for at in occurrences(buf, needle, start, min(n, stop + overlap)):
                if at >= stop:
                    break
                positions.append(at)
                if len(positions) >= limit:
                    until[needle] = at + 1
                    break
        consumed(buf, stop - start)
    return NeedleIndex({needle: Occurrences(found[needle], until[needle]) for needle in limits})


def _joined(first: NeedleIndex, second: NeedleIndex, limits: dict[bytes, int], mid: int) -> NeedleIndex:
    joined = NeedleIndex()
    for needle, limit in limits.items():
        a, b = first[needle], second[needle]
        if a.complete_until < mid:  # the first half already reached the cap
            joined[needle] = a
            continue
        positions = a.positions + b.positions
        until = b.complete_until
        if len(positions) > limit:
            positions = positions[:limit]
            until = positions[-1] + 1
        joined[needle] = Occurrences(positions, until)
    return joined


class _Child:
    """A forked child that searches [lo, hi) of the shared mapping and sends back positions."""

    def __init__(self, buf: bytes, limits: dict[bytes, int], lo: int, hi: int) -> None:
        self.pid = 0
        self.read_end, write_end = os.pipe()
        try:
            self.pid = os.fork()
        except OSError:
            os.close(write_end)
            return
        if self.pid == 0:  # the child: search, send, and leave without running any cleanup
            status = 1
            try:
                os.close(self.read_end)
                found = _search(buf, limits, lo, hi)
                data = pickle.dumps({k: (v.positions, v.complete_until) for k, v in found.items()})
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(data)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)

    def result(self) -> NeedleIndex | None:
        """The child's positions, or None when it could not search (this process will)."""
        fd, self.read_end = self.read_end, -1
        if not self.pid:
            os.close(fd)
            return None
        with os.fdopen(fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if status != 0 or not data:
            return None
        return NeedleIndex({k: Occurrences(v[0], v[1]) for k, v in pickle.loads(data).items()})

    def abandon(self) -> None:
        """Stop the child (this process was interrupted) and reap it."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = 0
        if self.read_end >= 0:
            os.close(self.read_end)
            self.read_end = -1
