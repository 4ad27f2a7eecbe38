"""Progress as a person sees it: dumpfix run with stderr on a pseudo-terminal.

stdin is fed slowly, so that the run lasts longer than the second after which
progress appears: the reading line then shows bytes and rate but no percentage
(the size of a stream is unknown), every line with a percentage shows the one
its bytes give, and the run ends on a cleared line followed by the summary.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO_ROOT

GOLDEN = REPO_ROOT / "tests" / "fixtures" / "golden"
_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def _bytes(text: str) -> float:
    number, unit = text.split()
    return float(number) * _UNITS[unit]


def test_progress_on_a_terminal_tells_the_truth(tmp_path: Path) -> None:
    dump = (GOLDEN / "shop_copy.sql").read_bytes()
    # Padding comments make the stream long enough to read for a while.
    dump = dump.replace(b"\n--\n", b"\n" + b"-- padding\n" * 20_000 + b"--\n", 1)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dumpfix", "-", "--schema", str(GOLDEN / "shop.schema.sql"), "-o", "out.sql"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), COLUMNS="200"),
    )
    os.close(follower)
    screen = b""
    try:
        step = len(dump) // 30
        for at in range(0, len(dump), step):  # about 1.5 s of reading
            proc.stdin.write(dump[at : at + step])  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            time.sleep(0.05)
            screen += _drain(leader)
        proc.stdin.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            screen += _drain(leader)
        screen += _drain(leader)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(leader)
    assert proc.returncode == 0, screen
    text = screen.decode()
    drawn = [part.removesuffix("\x1b[K") for part in text.split("\r") if part.startswith("dumpfix: ")]
    reading = [line for line in drawn if line.startswith("dumpfix: reading <stdin>: ")]
    assert reading, text
    for line in reading:  # bytes and rate only
        assert re.fullmatch(r"dumpfix: reading <stdin>: [\d.]+ k?M?B, [\d.]+ k?M?B/s", line), line
    sizes = [_bytes(line.split(": ")[2].split(",")[0]) for line in reading]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    for line in drawn:
        m = re.search(r": ([\d.]+ k?M?G?B) of ([\d.]+ k?M?G?B) \((\d+)%\)", line)
        if m:
            done, total, percent = _bytes(m.group(1)), _bytes(m.group(2)), int(m.group(3))
            assert abs(100 * done / total - percent) <= 2, line  # the percentage is of the bytes shown
    # The last progress line is cleared; then the summary, on a line of its own.
    assert text.rstrip("\r\n").endswith(
        "\r\x1b[Kdumpfix: fixed <stdin> -> out.sql: 10 FKs off for the load, then validated, one transaction"
    ), repr(text[-300:])


def _drain(fd: int) -> bytes:
    data = b""
    while select.select([fd], [], [], 0.01)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the follower side closed: the process ended
            break
        if not chunk:
            break
        data += chunk
    return data
