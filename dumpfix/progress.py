"""Progress on stderr for long runs: bytes done, rate, time left.

Shown only when stderr is a terminal (a pipe or a log file gets nothing, so
scripts and pre-commit stay quiet) and only once a run has lasted
``DELAY`` seconds: a small dump finishes without a flash of output.
stdout is never touched: it carries the SQL.

A run reads a stream it cannot map (stdin, a compressed file) into a spool
first, then passes over the input twice: to plan, then to write (``--check``
only plans). Each phase is shown on its own, with the percentage of that phase.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from typing import BinaryIO, TextIO

#: Seconds before the first line appears, and between redraws.
DELAY = 1.0
INTERVAL = 0.2


class Progress:
    """Called with a byte count as the work advances; draws at most every INTERVAL seconds.

    The work is a series of phases: ``reading`` a stream into the spool (stdin, a
    compressed file: its size is not known, so only bytes and rate are shown),
    then one pass per remaining entry of ``passes`` over the whole input
    (``planning``, then ``writing`` unless checking). The percentage is the
    current phase's, so that it matches the bytes shown beside it; time left is
    this phase's rest and every later pass at the rate this phase runs at.
    """

    def __init__(
        self,
        name: str,
        stream: TextIO,
        passes: tuple[str, ...] = ("planning", "writing"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = os.path.basename(name) or name
        self.stream = stream
        self.clock = clock
        self.passes = list(passes)
        self.next_draw = clock() + DELAY
        self.phase = "reading"
        self.total: int | None = None
        self.phase_started = clock()
        self.done = 0
        self.drawn = False

    def start(self, total: int) -> None:
        """The next pass over the whole input (of total bytes) begins."""
        self.phase = self.passes.pop(0) if self.passes else self.phase
        self.total = max(total, 1)
        self.phase_started = self.clock()
        self.done = 0
        self(0)

    def __call__(self, position: int) -> None:
        """The current phase has got to position bytes."""
        self.done = position if self.total is None else min(position, self.total)
        now = self.clock()
        if now >= self.next_draw:
            self.next_draw = now + INTERVAL
            self.draw(now)

    def draw(self, now: float) -> None:
        # Longer than the terminal, the line would wrap and \r redraw only its tail.
        width = shutil.get_terminal_size().columns - 1
        self.stream.write("\r" + self.line(now)[:width] + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def line(self, now: float) -> str:
        rate = self.done / max(now - self.phase_started, 1e-9)
        head = f"dumpfix: {self.phase} {self.name}: {human(self.done)}"
        if self.total is None:
            return f"{head}, {human(int(rate))}/s"
        rest = self.total - self.done + len(self.passes) * self.total
        left = rest / rate if rate > 0 else None
        return (
            f"{head} of {human(self.total)} ({100 * self.done // self.total}%), {human(int(rate))}/s,"
            f" {clock_time(left)} left"
        )

    def close(self) -> None:
        """Clear the line, so that what follows on stderr starts on a clean line."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False


class CountingWriter:
    """An output stream that reports the bytes written through it.

    It has no ``fileno``: the writer then copies unchanged ranges through
    Python (in large chunks) instead of inside the kernel, where no byte
    could be counted. Only used while progress is shown on a terminal.
    """

    def __init__(self, out: BinaryIO, report: Callable[[int], None]) -> None:
        self.out = out
        self.report = report
        self.count = 0

    def write(self, data: bytes) -> int:
        n = self.out.write(data)
        self.count += len(data)
        self.report(self.count)
        return n if n is not None else len(data)

    def flush(self) -> None:
        self.out.flush()


def human(size: int) -> str:
    """A byte count the way people read it: 912 B, 3.4 MB, 1.2 GB."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def clock_time(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
