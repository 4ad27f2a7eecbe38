"""Progress on stderr for long runs: bytes done, rate, time left.

Shown only when stderr is a terminal (a pipe or a log file gets nothing, so
scripts and pre-commit stay quiet) and only once a run has lasted
``DELAY`` seconds: a small dump finishes without a flash of output.
stdout is never touched: it carries the SQL.

A run has two passes over the input (reading it to plan, then writing), so
the bar counts both: ``reading`` fills the first half, ``writing`` the second
(``--check`` only reads: one pass). The rate is of both passes together.
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
    """Called with a byte count as the work advances; draws at most every INTERVAL seconds."""

    def __init__(
        self,
        name: str,
        total: int,
        stream: TextIO,
        passes: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = os.path.basename(name) or name
        self.total = max(total, 1)
        self.passes = passes
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.next_draw = self.started + DELAY
        self.phase = "reading"
        self.base = 0  # bytes of the earlier phases
        self.done = 0
        self.drawn = False

    def __call__(self, position: int) -> None:
        """The current phase has got to position bytes of the input."""
        self.done = self.base + min(position, self.total)
        now = self.clock()
        if now >= self.next_draw:
            self.next_draw = now + INTERVAL
            self.draw(now)

    def writing(self) -> None:
        """The planning pass is over; output bytes count from here."""
        self.base, self.phase = self.total, "writing"
        self(0)

    def draw(self, now: float) -> None:
        # Longer than the terminal, the line would wrap and \r redraw only its tail.
        width = shutil.get_terminal_size().columns - 1
        self.stream.write("\r" + self.line(now)[:width] + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def line(self, now: float) -> str:
        whole = self.passes * self.total
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = (whole - self.done) / rate if rate > 0 else None
        size = self.done - self.base
        return (
            f"dumpfix: {self.phase} {self.name}: {human(size)} of {human(self.total)}"
            f" ({100 * self.done // whole}%), {human(int(rate))}/s,"
            f" {clock_time(left)} left"
        )

    def close(self) -> None:
        """Clear the line, so that what follows on stderr starts on a clean line."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


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
