"""Where the rewritten dump goes: stdout, or a file replaced atomically.

``click.File(atomic=True)`` would replace the target even when the command
failed, so this does it by hand: an unnamed file in the target's folder
(``O_TMPFILE``, so that even SIGKILL leaves nothing), named and moved over the
target with ``os.replace`` on success; where the system lacks ``O_TMPFILE``, a
hidden temporary name, unlinked on any failure (including KeyboardInterrupt,
and SIGTERM, which is turned into one). A file named ``.gz``, ``.bz2``,
``.xz`` or ``.zst`` is written compressed; stdout is always plain.
"""

from __future__ import annotations

import bz2
import contextlib
import ctypes
import gzip
import lzma
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any, BinaryIO

from dumpfix.errors import DumpfixError

#: Output compression by file name ending.
COMPRESSION = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[BinaryIO]:
    if path is None or path == "-":
        with _stdout() as out:
            yield out
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DumpfixError(f"output folder does not exist: {folder}", location=path)
    if os.path.isdir(path):
        raise DumpfixError("output is a folder, not a file", location=path)
    compression = output_compression(path)
    with sigterm_as_interrupt():
        try:
            fd, tmp = _unnamed(folder)
        except OSError as e:
            raise DumpfixError(f"cannot write output: {e.strerror}", location=path) from None
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20, closefd=False) as out:
                if compression is None:
                    yield out
                else:
                    with _compressor(compression, out) as packed:
                        yield packed
            mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o666 & ~_umask()
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # Windows before Python 3.13: no O_TMPFILE either, so tmp is named
                os.chmod(str(tmp), mode)
            if tmp is None:  # unnamed until now: a name next to the target, then the target's
                tmp = _named(fd, folder)
            os.replace(tmp, path)
            tmp = None
        except OSError as e:
            raise DumpfixError(f"cannot write output: {e.strerror or e}", location=path) from None
        finally:
            os.close(fd)
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


@contextlib.contextmanager
def _stdout() -> Iterator[BinaryIO]:
    """stdout as a binary stream; a closed, full or broken stdout is one clear error.

    After a broken pipe, descriptor 1 is pointed at the null device: the
    interpreter flushes stdout once more at exit and would print a second error.
    """
    if sys.stdout is None:  # started with stdout closed (`dumpfix d.sql >&-`)
        raise DumpfixError("cannot write output: stdout is closed; give -o FILE or a pipe")
    out = sys.stdout.buffer
    try:
        yield out
        out.flush()
    except OSError as e:
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            os.close(devnull)
        if isinstance(e, BrokenPipeError):
            reason = "the reader closed the pipe before the end (did psql stop on an error?)"
        else:
            reason = e.strerror or str(e)
        raise DumpfixError(f"cannot write output to stdout: {reason}") from None


def _unnamed(folder: str) -> tuple[int, str | None]:
    """A new file in folder: unnamed (O_TMPFILE) where the system and file system allow
    it and can name it at the end, so that a killed run leaves nothing behind; else a
    hidden temporary name, removed on any failure that lets Python run."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is not None:
        try:
            probe = os.open(folder, flag | os.O_WRONLY, 0o600)
        except OSError:
            probe = -1  # a file system without O_TMPFILE (EOPNOTSUPP; EISDIR before Linux 3.11)
        if probe >= 0:
            try:
                name = _named(probe, folder)  # can this system give it a name? (then none again)
                os.unlink(name)
                return os.open(folder, flag | os.O_WRONLY, 0o600), None
            except OSError:
                pass
            finally:
                os.close(probe)
    return tempfile.mkstemp(prefix=".dumpfix-", suffix=".tmp", dir=folder)


def _named(fd: int, folder: str) -> str:
    """Give an unnamed file a hidden name in folder, for os.replace to move over the target.

    linkat(fd, "", AT_EMPTY_PATH) is the direct way (Linux; before 6.10 only with
    CAP_DAC_READ_SEARCH); linking /proc/self/fd/N is the unprivileged one, which
    some sandboxes refuse (EXDEV). Raises OSError when neither works.
    """
    tmp = os.path.join(folder, f".dumpfix-{os.urandom(6).hex()}.tmp")
    error: OSError | None = None
    linkat = _linkat()
    if linkat is not None:
        if linkat(fd, b"", _AT_FDCWD, os.fsencode(tmp), _AT_EMPTY_PATH) == 0:
            return tmp
        number = ctypes.get_errno()
        error = OSError(number, os.strerror(number))
    try:
        os.link(f"/proc/self/fd/{fd}", tmp, follow_symlinks=True)
        return tmp
    except OSError as e:
        raise error or e from None


_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000


def _linkat() -> Any:
    """libc's linkat, where ctypes can find it (Python's os.link cannot pass AT_EMPTY_PATH)."""
    try:
        return ctypes.CDLL(None, use_errno=True).linkat
    except (OSError, AttributeError):
        return None


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
        packed = zstandard.ZstdCompressor().stream_writer(out, closefd=False)
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
