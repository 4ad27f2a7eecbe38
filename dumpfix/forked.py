"""One computation over the input in a forked child, on the machine's second core.

The input is a read-only memory map, so a child made by fork() reads the same
pages without copying them; it sends back its (small, pickled) result through a
pipe and leaves with os._exit, running none of the parent's cleanup. Whoever
forks keeps going with its own share of the work and collects the result
after; when the child fails or cannot be made, result() is None and the parent
does that share itself.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from typing import Generic, TypeVar

from dumpfix.mapping import MappedFile

T = TypeVar("T")


def can_fork(buf: bytes) -> bool:
    """Whether a child can share buf: a mapped file on a system with fork()."""
    return isinstance(buf, MappedFile) and hasattr(os, "fork")


class Forked(Generic[T]):
    """compute() running in a child; result() waits for it."""

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
        return pickle.loads(data)

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
