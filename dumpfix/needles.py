"""One pass over the input for every rare needle that anyone will look for.

Clean-up looks for NUL bytes and pg_dump's messages, the splitter for COPY
terminators. Each pass over the file reads every byte besides searching it,
so all of them are searched in one pass, a window at a time, and later
searches are a bisect in the result (``mapping.find_rare`` consults it).

On a large file two processes share the pass (forked.py): a child searches the
second half while this process searches the first, so the pass takes half the
time on a machine with two cores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dumpfix.forked import Forked, can_fork
from dumpfix.mapping import MappedFile, NeedleIndex, Occurrences, indexed, occurrences, read_into

# Bytes searched at once, for every needle, in one buffer.
WINDOW = 4 << 20
# Positions kept per needle: past this a needle is not rare here, and whoever
# asks for it later searches the rest of the file itself.
CAP = 1 << 16
# Below this a second process costs more than it saves.
PARALLEL_MIN = 64 << 20


def index(buf: bytes, needles: Sequence[bytes], caps: dict[bytes, int] | None = None) -> NeedleIndex:
    """Where each needle starts in buf (up to its cap: caps, else CAP positions)."""
    limits = {needle: (caps or {}).get(needle, CAP) for needle in dict.fromkeys(needles)}
    n = len(buf)
    if n < PARALLEL_MIN or not can_fork(buf):
        return _search(buf, limits, 0, n)
    mid = n // 2
    child = Forked(lambda: _search(buf, limits, mid, n))
    try:
        first = _search(buf, limits, 0, mid)
        second = child.result()
    except BaseException:
        child.abandon()
        raise
    if second is None:
        second = _search(buf, limits, mid, n)
    return _joined(first, second, limits, mid)


# The start of each window that chooses its needles' anchors.
SAMPLE_SIZE = 1 << 16
# An anchor byte is worth it while it stands at most once in this many bytes.
ANCHOR_SPACING = 4096


def _anchor(needle: bytes, sample: bytes) -> int | None:
    """Where in the needle stands a byte that is rare in the sample, if one is.

    A single byte is found by memchr at tens of GB/s, a longer needle at 2 to 4;
    so a needle whose rarest byte is rare enough is found through that byte,
    each hit checked in place (pg_dump's messages, say, through their ``_``).
    """
    if len(needle) < 2:
        return None
    counts = [sample.count(needle[i : i + 1]) for i in range(len(needle))]
    best = min(range(len(needle)), key=counts.__getitem__)
    return best if counts[best] * ANCHOR_SPACING <= max(len(sample), 1) else None


def attach(buf: bytes, needles: Sequence[bytes], caps: dict[bytes, int] | None = None) -> None:
    """Index the needles of a mapped file on the file itself, where find_rare and
    everywhere look them up (a buffer in memory is searched when asked)."""
    if isinstance(buf, MappedFile):
        buf.needles = index(buf, needles, caps)


def everywhere(buf: bytes, needle: bytes, start: int = 0) -> Iterator[int]:
    """Every position of a rare needle in buf[start:], in order: the indexed ones,
    then what a search of the rest finds, a window at a time (never a list of them all)."""
    known = indexed(buf, needle)
    if known is not None:
        yield from (at for at in known.positions if at >= start)
        start = max(start, known.complete_until)
    for lo in range(start, len(buf), WINDOW):
        yield from _search(buf, {needle: WINDOW}, lo, min(len(buf), lo + WINDOW))[needle].positions


def _search(buf: bytes, limits: dict[bytes, int], lo: int, hi: int) -> NeedleIndex:
    """Occurrences starting in [lo, hi): a needle may run past hi (it is read whole)."""
    overlap = max(map(len, limits)) - 1
    found: dict[bytes, list[int]] = {needle: [] for needle in limits}
    until = dict.fromkeys(limits, hi)
    for start, stop, data, base in _windows(buf, lo, hi, overlap):
        end = min(len(buf), stop + overlap) - base
        sample = bytes(data[start - base : min(stop, start + SAMPLE_SIZE) - base])
        for needle, limit in limits.items():
            positions = found[needle]
            if len(positions) >= limit:
                continue
            anchor = _anchor(needle, sample)
            window = None if anchor is None else _anchored(data, needle, anchor, start - base, end)
            for at in occurrences(data, needle, start - base, end) if window is None else window:
                at += base
                if at >= stop:
                    break
                positions.append(at)
                if len(positions) >= limit:
                    until[needle] = at + 1
                    break
    return NeedleIndex({needle: Occurrences(found[needle], until[needle]) for needle in limits})


def _windows(buf: bytes, lo: int, hi: int, overlap: int) -> Iterator[tuple[int, int, bytes | bytearray, int]]:
    """Each window [start, stop) of [lo, hi) as (start, stop, data, base), where
    data[i] is buf[base + i] from start through overlap bytes past stop.

    A mapped file's windows are read into one reused buffer (mapping.read_into).
    """
    if not isinstance(buf, MappedFile) or buf.closed:
        for start in range(lo, hi, WINDOW):
            yield start, min(hi, start + WINDOW), buf, 0
        return
    block = bytearray(min(WINDOW, hi - lo) + overlap)
    with memoryview(block) as view:
        for start in range(lo, hi, WINDOW):
            stop = min(hi, start + WINDOW)
            read_into(buf, view[: min(len(buf), stop + overlap) - start], start)
            yield start, stop, block, start


def _anchored(data: bytes | bytearray, needle: bytes, anchor: int, start: int, end: int) -> list[int] | None:
    """occurrences(data, needle, start, end) through the needle's anchor byte; None when
    the anchor is not rare in this window after all (the caller searches the needle)."""
    byte, size = needle[anchor : anchor + 1], len(needle)
    last = end - size + anchor + 1  # an anchor past this has no room for the needle's tail
    budget = max(64, (end - start) // ANCHOR_SPACING)
    found = []
    at = data.find(byte, start + anchor, last)
    while at >= 0:
        budget -= 1
        if budget < 0:
            return None
        if data[at - anchor : at - anchor + size] == needle:
            found.append(at - anchor)
        at = data.find(byte, at + 1, last)
    return found


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
