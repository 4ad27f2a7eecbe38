"""The benchmark script runs end to end on a tiny dump, so that it cannot rot.

Not a timed test: it checks only that every stage (the source database and its
real pg_dump dumps, dumpfix and cp timings, the pipes and the file restores as the
owner and as superuser in replica mode, each variant) completes on each server,
and that the report carries its numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pgharness

REPO_ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("default", "target-version", "no-bulk")


@pytest.mark.parametrize(
    "major", [pytest.param(m, marks=pytest.mark.pg_pair(m, m)) for m in (pgharness.SYSTEM_MAJOR, 18)]
)
def test_bench_runs_on_a_tiny_size(tmp_path: Path, major: int) -> None:
    args = ["--size", "tiny", "--server", str(major), "--runs", "1", "--load-runs", "1", "--out", str(tmp_path)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["dump", "MB", "dumpfix"]
    rows = {tuple(line.split()[2:4]): line.split() for line in lines[1:7]}
    assert set(rows) == {(fmt, variant) for fmt in ("copy", "inserts") for variant in VARIANTS}
    for (fmt, _), row in rows.items():
        assert row[:2] == ["tiny", f"pg{major}"]
        # size, MB/s, x cp, RSS, pipe s, su pipe s, x su, file s, su file s, x su, x su COPY
        assert len(row) == 15
        figures = row[4:] if fmt == "inserts" else row[4:-1]
        assert all(float(v.rstrip("!")) >= 0 for v in figures)
        assert fmt == "inserts" or row[-1] == "-"
    assert lines[7].startswith("targets (! marks a miss)")
