"""Benchmark: a -Fd archive loaded in parallel as the owner through dumpfix, against the superuser's load.

On the same data (bench/run.py's shop, filled server-side) and a throwaway
PostgreSQL 18, for each N: the superuser's ``pg_restore -j N --data-only
--disable-triggers`` (the floor: no FK checks at all) and the owner's
``dumpfix ARCHIVE --dsn URL --jobs N`` (FKs off, then back and validated);
once: the one-transaction plain way, ``pg_restore -f - | dumpfix - --dsn |
psql``. Each into a fresh database made from the schema; medians of --runs.

    python bench/archive.py                  # 150,000 users (~60 MB of COPY data)
    python bench/archive.py --users 1000000 --jobs 1 --jobs 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import run as shop  # noqa: E402  (bench/run.py: the schema and the fill)

import pgharness  # noqa: E402


def _timed(args: list[str], env: dict[str, str], shell: bool = False) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        args if not shell else " ".join(args),
        env=env,
        shell=shell,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {result.stderr.decode(errors='replace')[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=150_000)
    parser.add_argument("--jobs", type=int, action="append")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    jobs = args.jobs or [1, 2]
    local = pgharness.start_server(pgharness.embedded_bin_dir())
    server = local.server
    bins = server.bin_dir
    env_dumpfix = dict(os.environ, PYTHONPATH=str(REPO), PATH=f"{bins}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        with tempfile.TemporaryDirectory(prefix="dumpfix-bench-") as scratch:
            n, c = args.users, max(1, args.users // 100)
            source = pgharness.create_database(server, shop.schema_sql())
            for group in shop.FILL:
                server.psql(source, group.format(n=n, c=c))
            archive = Path(scratch) / "archive.dir"
            pgharness.pg_dump(server, source, "--data-only", "-Fd", "-f", str(archive))
            schema = pgharness.schema_dump(server, source)
            size = sum(p.stat().st_size for p in archive.iterdir()) / 1e6
            print(
                f"users {n}: archive {size:.0f} MB (uncompressed -Fd: "
                f"{sum(1 for _ in archive.glob('*.dat*'))} data files), PostgreSQL {server.version}, "
                f"{os.cpu_count()} cores"
            )

            def fresh() -> pgharness.Target:
                return pgharness.create_target(server, schema)

            def drop(target: pgharness.Target) -> None:
                server.psql(server.maintenance_db, f"DROP DATABASE {pgharness.quote_ident(target.dbname)}")

            def superuser(n_jobs: int) -> float:
                t = fresh()
                s = _timed(
                    [
                        str(bins / "pg_restore"),
                        "-j",
                        str(n_jobs),
                        "--data-only",
                        "--disable-triggers",
                        "-d",
                        server.dsn(t.dbname),
                        str(archive),
                    ],
                    server.env(),
                )
                drop(t)
                return s

            def owner(n_jobs: int) -> float:
                t = fresh()
                s = _timed(
                    [
                        sys.executable,
                        "-m",
                        "dumpfix",
                        str(archive),
                        "--dsn",
                        server.dsn(t.dbname, t.owner),
                        "--jobs",
                        str(n_jobs),
                        "-q",
                    ],
                    env_dumpfix,
                )
                drop(t)
                return s

            def plain() -> float:
                t = fresh()
                q = pgharness.quote_ident
                cmd = [
                    f"{bins}/pg_restore",
                    "-f",
                    "-",
                    str(archive),
                    "|",
                    sys.executable,
                    "-m",
                    "dumpfix",
                    "-",
                    "--dsn",
                    f"'{server.dsn(t.dbname, t.owner)}'",
                    "-q",
                    "|",
                    f"{bins}/psql",
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    q(t.dbname).replace('"', ""),
                    "-o",
                    "/dev/null",
                ]
                s = _timed(cmd, env_dumpfix | server.env(t.owner) | {"PYTHONPATH": str(REPO)}, shell=True)
                drop(t)
                return s

            one = statistics.median(plain() for _ in range(args.runs))
            print(
                f"{'N':>3} {'superuser -j N s':>17} {'owner dumpfix -j N s':>21} {'ratio':>6} "
                f"{'one-transaction plain s':>24} {'ratio':>6}"
            )
            for n_jobs in jobs:
                su = statistics.median(superuser(n_jobs) for _ in range(args.runs))
                ow = statistics.median(owner(n_jobs) for _ in range(args.runs))
                print(f"{n_jobs:>3} {su:>17.2f} {ow:>21.2f} {ow / su:>6.2f} {one:>24.2f} {one / su:>6.2f}")
    finally:
        pgharness.stop_server(local)
    return 0


if __name__ == "__main__":
    sys.exit(main())
