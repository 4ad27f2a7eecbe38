"""One pass over the input for every rare needle that anyone will look for.

source.py looks for NUL bytes, the refusal of pg_dump's messages cut into a
dump's text for the programs' names, the splitter for COPY terminators. Each pass over the file reads every byte besides searching it,
so all of them are searched in one pass, a window at a time, and later
searches are a bisect in the result (``Input.find_rare`` consults it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dumpfix.input import Input

# Bytes searched at once, for every needle, in one buffer.
WINDOW = 4 << 20
# Positions kept per needle: past this a needle is not rare here, and whoever
# asks for it later searches the rest of the file itself.
CAP = 1 << 16
# The start of each window that chooses its needles' anchors.
SAMPLE_SIZE = 1 << 16
# An anchor byte is worth it while it stands at most once in this many bytes.
ANCHOR_SPACING = 4096


@dataclass(frozen=True, slots=True)
class Occurrences:
    """Where one needle starts in a file: every occurrence before complete_until, in order."""

    positions: list[int]
    complete_until: int


class NeedleIndex(dict[bytes, Occurrences]):
    """Rare needles of a whole file, found in one pass before anything else reads it:
    later searches for them are a bisect, not a pass over the file."""


def build_index(source: Input, needles: Sequence[bytes], caps: dict[bytes, int] | None = None) -> NeedleIndex:
    """Where each needle starts in the input (up to its cap: caps, else CAP positions)."""
    limits = {needle: (caps or {}).get(needle, CAP) for needle in dict.fromkeys(needles)}
    return _search(source, limits, 0, len(source))


def search_window(source: Input, needle: bytes, start: int) -> Iterator[int]:
    """Every position of needle from start on, searched a window at a time."""
    for lo in range(start, len(source), WINDOW):
        yield from _search(source, {needle: WINDOW}, lo, min(len(source), lo + WINDOW))[needle].positions


def occurrences(buf: bytes | bytearray, sub: bytes, start: int, end: int) -> list[int]:
    """Where sub stands in buf[start:end], in order, for a needle that is rare there.

    Searched backwards: CPython's reverse search skips ahead on the needle's first
    byte, its forward search on the last, and the needles dumpfix looks for in a
    dump end in bytes a dump is full of (a newline, a dot, a space): backwards they
    are found several times faster (figures in the README's "Where the time goes").
    """
    found = []
    at = buf.rfind(sub, start, end)
    while at >= 0:
        found.append(at)
        at = buf.rfind(sub, start, at + len(sub) - 1)
    found.reverse()
    return found


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


def _search(source: Input, limits: dict[bytes, int], lo: int, hi: int) -> NeedleIndex:
    """Occurrences starting in [lo, hi): a needle may run past hi (it is read whole)."""
    overlap = max(map(len, limits)) - 1
    found: dict[bytes, list[int]] = {needle: [] for needle in limits}
    until = dict.fromkeys(limits, hi)
    for start, stop, data, base in _windows(source, lo, hi, overlap):
        end = min(len(source), stop + overlap) - base
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


def _windows(source: Input, lo: int, hi: int, overlap: int) -> Iterator[tuple[int, int, bytes | bytearray, int]]:
    """Each window [start, stop) of [lo, hi) as (start, stop, data, base), where
    data[i] is the input's byte base + i from start through overlap bytes past stop.

    A mapped file's windows are read into one reused buffer (Input.read_into).
    """
    if not source.is_mapped:
        for start in range(lo, hi, WINDOW):
            yield start, min(hi, start + WINDOW), source.data, 0
        return
    block = bytearray(min(WINDOW, hi - lo) + overlap)
    with memoryview(block) as view:
        for start in range(lo, hi, WINDOW):
            stop = min(hi, start + WINDOW)
            source.read_into(view[: min(len(source), stop + overlap) - start], start)
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
