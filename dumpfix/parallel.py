"""The one use of a second core: the split of a large dump in two halves.

Splitting INSERT statements is the one pass that reads every byte in the regex
engine, so on a large mapped dump a forked child splits from a seam near the
middle while this process splits up to it (``split_items``, which ``fix.analyse``
calls; everything else runs in one process, see the README's "Where the time goes").

The child shares the map's pages without copying them; it sends back its
(pickled) items through a pipe and leaves with os._exit, running none of the
parent's cleanup. Where a child cannot be made (no fork(): Windows; or fork
fails) or fails, this process splits that half itself.

The seam is a guess: the start of a line ``INSERT INTO`` after the middle, which
a string value can also hold. This process checks the guess on its way: its
items must end exactly at the seam, with the dump's state there (search_path,
encoding) what the child assumed; the settings in force at the seam, which the
child cannot know, are then given to its items. Then the two lists join, and a
run of one table's INSERTs that the seam cut in two is one item again.
Otherwise the child's items are dropped and this process splits on, from the
last run the seam may have cut short. Either way the items are those ``split``
gives; only how a run's statements are counted in chunks may differ.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Callable
from typing import Generic, TypeVar

from dumpfix.cleanup import DEFAULTS, Cleanup
from dumpfix.dumpfile import Item, Kind, Splitter
from dumpfix.dumpfile import split_items as split_in_one
from dumpfix.input import Input
from dumpfix.settings import Settings, followed

#: Below this size an input is split in one process: a fork and the pickled items
#: cost more than they save.
PARALLEL_MIN = 64 << 20
_SEAM = b"\nINSERT INTO "
_SEAM_SEARCH = 1 << 20
_NEWLINES = (b"\n", b"\r\n")

T = TypeVar("T")


def split_items(
    source: Input, progress: Callable[[int], None] | None = None, cleanup: Cleanup = DEFAULTS
) -> list[Item]:
    """Items of the whole input, as split() gives them; progress hears offsets reached.
    A large mapped input is split in two halves, one in a forked child.

    Both halves recognise what the output leaves out (cleanup) alike: it depends on
    the options and the text alone, never on the settings before the seam."""
    seam = _seam(source) if len(source) >= PARALLEL_MIN and can_fork(source) else -1
    if seam < 0:
        return split_in_one(source, progress, cleanup)
    report = progress or (lambda offset: None)
    start = Splitter(source, seam, cleanup=cleanup)
    child = Forked(lambda: list(start.items()))
    try:
        splitter = Splitter(source, cleanup=cleanup)
        items = []
        for item in splitter.items(stop=seam):
            items.append(item)
            report(item.end)
        if splitter.pos == seam and splitter.state[:2] == start.state[:2]:
            second = child.result()
            if second is not None:
                report(len(source))
                return joined(source.data, items, _restamped(source.data, second, splitter.settings))
        else:
            child.abandon()
    except BaseException:
        child.abandon()
        raise
    splitter = _resumed(source, items, seam, splitter)
    for item in splitter.items():
        items.append(item)
        report(item.end)
    return items


def can_fork(source: Input) -> bool:
    """Whether a child can share the input: a mapped file on a system with fork()."""
    return source.is_mapped and hasattr(os, "fork")


def _seam(source: Input) -> int:
    """Where a line ``INSERT INTO`` starts near the middle of the work (-1: none near,
    as in a COPY dump, whose split is quick anyway)."""
    middle = _middle(source)
    at = source.data.find(_SEAM, middle, middle + _SEAM_SEARCH)
    return -1 if at < 0 else at + 1


# The regex engine takes about this long per byte and per statement (ns; measured
# on pg_dump --inserts output: short rows of numbers cost more per byte than long text).
_NS_PER_BYTE, _NS_PER_LINE = 0.7, 86
_SAMPLES = 64
_SAMPLE_SIZE = 1 << 16


def _middle(source: Input) -> int:
    """The offset that splits the work in two halves, as far as samples of the
    input's line lengths tell (the byte middle when the input is small)."""
    n = len(source)
    step = n // _SAMPLES
    if step < _SAMPLE_SIZE:
        return n // 2
    costs = []
    for at in range(0, step * _SAMPLES, step):
        lines = source.read(at, _SAMPLE_SIZE).count(b"\n")
        costs.append(step * (_NS_PER_BYTE + _NS_PER_LINE * lines / _SAMPLE_SIZE))
    half, done = sum(costs) / 2, 0.0
    for i, cost in enumerate(costs):
        if done + cost >= half:
            return i * step + int(step * (half - done) / cost)
        done += cost
    return n // 2


def _resumed(source: Input, items: list[Item], seam: int, splitter: Splitter) -> Splitter:
    """Where to split on after a wrong guess: from the last run of INSERTs before the
    seam (matched as if the input ended there, it may end too early), with the
    state in effect for it; else from where this process stopped."""
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if item.kind is Kind.INSERTS and item.end <= seam:
            del items[i:]
            return Splitter(source, item.start, item.search_path, item.encoding, item.settings, splitter.cleanup)
    return splitter


def _restamped(buf: bytes, second: list[Item], settings: Settings) -> list[Item]:
    """The child's items with the settings in force at the seam, which the child, starting
    there, could not know (it began with none): replayed through its own statements."""
    out = []
    for item in second:
        out.append(item if item.settings == settings else dataclasses.replace(item, settings=settings))
        if item.kind is Kind.STATEMENT:
            settings = followed(bytes(buf[item.start : item.end]), settings, item.encoding)
    return out


def joined(buf: bytes, first: list[Item], second: list[Item]) -> list[Item]:
    """Both halves; a run of INSERTs that a newline at the seam parts is one run again
    (the split would have gone on with it: its pattern takes a newline between
    statements)."""
    if len(first) >= 2 and second:
        run, gap, more = first[-2], first[-1], second[0]
        if (
            run.kind is Kind.INSERTS
            and gap.kind is Kind.SPACE
            and bytes(buf[gap.start : gap.end]) in _NEWLINES
            and more.kind is Kind.INSERTS
            and more.prefix == run.prefix
            and (more.search_path, more.encoding, more.settings) == (run.search_path, run.encoding, run.settings)
            and _matched(run)
            and _matched(more)
        ):
            whole = dataclasses.replace(
                run,
                end=more.end,
                chunks=run.chunks + more.chunks,
                mentions_default=run.mentions_default or more.mentions_default,
            )
            return [*first[:-2], whole, *second[1:]]
    return first + second


def _matched(run: Item) -> bool:
    """Whether the run's pattern matched it (the one-statement slow path counts its
    only chunk: 1); only such runs go on, to the next statement the pattern matches."""
    return run.chunks[-1][1] != 1


class Forked(Generic[T]):
    """compute() running in a forked child; result() waits for it."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self.pid = 0
        self.read_end, write_end = os.pipe()
        try:
            self.pid = os.fork()
        except OSError:
            os.close(write_end)
            return
        if self.pid == 0:  # the child: compute, send, and leave without running any cleanup
            status = 1
            try:
                import pickle

                os.close(self.read_end)
                data = pickle.dumps(compute(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(data)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)

    def result(self) -> T | None:
        """What the child computed, or None when it could not (the caller does it)."""
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
        import pickle

        loaded: T = pickle.loads(data)
        return loaded

    def abandon(self) -> None:
        """Stop the child (its result is not wanted, or this process was interrupted)."""
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
