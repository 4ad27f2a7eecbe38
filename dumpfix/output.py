"""Where the rewritten dump goes: stdout, or a file replaced atomically.

``click.File(atomic=True)`` would replace the target even when the command
failed, so this does it by hand: a temporary file in the target's folder,
``os.replace`` on success, unlink on any failure (including KeyboardInterrupt,
and SIGTERM, which is turned into one). A file named ``.gz``, ``.bz2``,
``.xz`` or ``.zst`` is written compressed; stdout is always plain.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import FrameType
from typing import BinaryIO

from dumpfix.errors import DumpfixError

#: Output compression by file name ending.
COMPRESSION = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[BinaryIO]:
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DumpfixError(f"output folder does not exist: {folder}", location=path)
    if os.path.isdir(path):
        raise DumpfixError("output is a folder, not a file", location=path)
    compression = output_compression(path)
    with sigterm_as_interrupt():
        try:
            fd, tmp = tempfile.mkstemp(prefix=".dumpfix-", suffix=".tmp", dir=folder)
        except OSError as e:
            raise DumpfixError(f"cannot write output: {e.strerror}", location=path) from None
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20) as out:
                if compression is None:
                    yield out
                else:
                    with _compressor(compression, out) as packed:
                        yield packed
            if os.path.exists(path):
                os.chmod(tmp, os.stat(path).st_mode & 0o7777)
            else:
                os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise DumpfixError(f"cannot write output: {e.strerror or e}", location=path) from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def output_compression(path: str) -> str | None:
    """The compression a file name asks for, or None for plain SQL."""
    return next((kind for ending, kind in COMPRESSION.items() if path.lower().endswith(ending)), None)


@contextlib.contextmanager
def _compressor(kind: str, out: BinaryIO) -> Iterator[BinaryIO]:
    """A compressing writer over out, finished (but out left open) on success.

    gzip gets no name and no time stamp, so that the same dump always gives
    the same bytes (reruns and --check compare outputs).
    """
    packed: BinaryIO
    if kind == "gzip":
        packed = gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0)  # type: ignore[assignment]
    elif kind == "bzip2":
        packed = bz2.BZ2File(out, "wb")  # type: ignore[assignment]
    elif kind == "xz":
        packed = lzma.LZMAFile(out, "wb")  # type: ignore[assignment]
    else:
        try:
            import zstandard
        except ImportError:
            raise DumpfixError("zstd output needs the zstandard package: pip install 'dumpfix[zstd]'") from None
        packed = zstandard.ZstdCompressor().stream_writer(out, closefd=False)  # type: ignore[assignment]
    yield packed
    packed.close()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM end the run like Ctrl-C: through KeyboardInterrupt, so that
    every ``finally`` runs and no temporary or partial output is left behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
