"""Where the rewritten dump goes: stdout, or a file replaced atomically.

``click.File(atomic=True)`` would replace the target even when the command
failed, so this does it by hand: a temporary file in the target's folder,
``os.replace`` on success, unlink on any failure (including KeyboardInterrupt).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from dumpfix.errors import DumpfixError


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[BinaryIO]:
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DumpfixError(f"output folder does not exist: {folder}", location=path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".dumpfix-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise DumpfixError(f"cannot write output: {e.strerror}", location=path) from None
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            yield out
        if os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
