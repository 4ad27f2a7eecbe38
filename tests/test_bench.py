"""The benchmark script runs end to end on a tiny dump, so that it cannot rot.

Not a timed test: it checks only that every stage (real pg_dump dumps, dumpfix and
cp timings, the restore as owner and as superuser in replica mode) completes and
that the report carries its numbers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_on_a_tiny_size(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "run.py"),
            "--size",
            "tiny",
            "--runs",
            "1",
            "--restore-runs",
            "1",
            "--restore",
            "copy",
            "--restore",
            "inserts",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["dump", "size", "MB"]
    rows = {tuple(line.split()[1:3]): line.split() for line in lines[1:5]}
    assert set(rows) == {(fmt, variant) for fmt in ("copy", "inserts") for variant in ("default", "bulk")}
    for row in rows.values():
        assert row[0] == "tiny"
        assert len(row) == 12  # size, MB/s twice, ratio, RSS, restore, replica, ratio, fixed replica
        assert all(float(v) >= 0 for v in row[3:])
