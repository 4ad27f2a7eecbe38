"""Benchmark dumpfix against cp on large dumps made by the real pg_dump, and time restores.

dumpfix sits in a pipe between pg_dump and psql, so the yardstick is what the
machine does anyway with the same bytes: ``cp`` of the same file (the floor for
reading and writing it), and a superuser's load of the original dump with FK
checks off (the floor for restoring it).

For each size the script builds, once, a database with the seed's shop schema
(plus a self-reference on users) filled server-side with generate_series so that
rows point both ways through every FK cycle, and dumps it with the real pg_dump
as COPY and as ``--inserts`` into bench/out/<size>/ (cached between runs). Then,
per dump and variant (default, --bulk): ``cp`` once to warm the page cache,
then ``cp`` and ``dumpfix`` alternately, several runs each; peak RSS comes from
the kernel's rusage of each child (wait4). Finally the rewritten dump is
restored as the table owner (FK checks on) and the original as a superuser
with session_replication_role = replica (FK checks off), each several times:
the medians are compared.

    python bench/run.py                   # medium (~300 MB) and large (~1.2 GB)
    python bench/run.py --size small      # a quick run, under a minute
    python bench/run.py --size medium --size large --runs 5 --restore copy
    python bench/run.py --variant bulk    # only dumpfix --bulk --target-version 18

Nothing here is a test: numbers depend on the machine. tests/test_bench.py only
checks that the script runs end to end on a tiny size.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import pgharness  # noqa: E402  (the test suite's server harness: same servers, same roles)

MB = 1_000_000
# Users per size; every other table scales with it (see FILL). ~330 bytes of COPY dump per user.
SIZES: dict[str, int] = {
    "tiny": 2_000,
    "small": 60_000,
    "medium": 900_000,
    "large": 3_100_000,
}
FORMATS: dict[str, list[str]] = {"copy": [], "inserts": ["--inserts"]}
#: dumpfix's options per variant: the default output (least privilege, any version)
#: and --bulk (owner, PostgreSQL 18: every FK NOT ENFORCED for the load, then ENFORCED).
VARIANTS: dict[str, list[str]] = {"default": [], "bulk": ["--bulk", "--target-version", "{major}"]}

# The shop schema of the test fixtures, plus a self-reference: users who referred users.
SELF_REFERENCE = "ALTER TABLE users ADD COLUMN referrer_id bigint REFERENCES users (id);\n"

# Filled with FK checks off (replica), so every row can point anywhere at once:
# categories -> imgs -> products -> categories, users <-> carts, users <-> orders,
# users -> users both backwards and forwards. Two groups run in two sessions (2 cores).
FILL = [
    """
    SET session_replication_role = replica;
    INSERT INTO categories (id, name, img_id)
    SELECT i, 'category ' || i, CASE WHEN i % 5 <> 0 THEN {n} + i END FROM generate_series(1::bigint, {c}) AS i;
    INSERT INTO products (id, category_id, name, price)
    SELECT i, 1 + (i * 13) % {c}, 'product ' || i || ' ' || repeat(md5(i::text), 3),
           ((i % 100000) * 1.25)::numeric(10, 2)
    FROM generate_series(1::bigint, {n}) AS i;
    INSERT INTO imgs (id, product_id, url)
    SELECT i, CASE WHEN i <= {n} THEN 1 + (i * 7) % {n} END, 'https://img.example/' || md5(i::text) || '.png'
    FROM generate_series(1::bigint, {n} + {c}) AS i;
    INSERT INTO colors (id, img_id, product_id, name)
    SELECT i, CASE WHEN i % 5 <> 0 THEN 1 + (i * 11) % ({n} + {c}) END, 1 + (i * 3) % {n}, 'color ' || i
    FROM generate_series(1::bigint, {n}) AS i;
    SELECT setval(pg_get_serial_sequence('categories', 'id'), {c});
    SELECT setval(pg_get_serial_sequence('products', 'id'), {n});
    SELECT setval(pg_get_serial_sequence('imgs', 'id'), {n} + {c});
    SELECT setval(pg_get_serial_sequence('colors', 'id'), {n});
    """,
    """
    SET session_replication_role = replica;
    INSERT INTO users (id, email, cart_id, order_id, referrer_id) OVERRIDING SYSTEM VALUE
    SELECT i, 'user' || i || '.' || md5(i::text) || '@example.com',
           CASE WHEN i % 3 <> 0 THEN 1 + (i * 5) % {n} END,
           CASE WHEN i % 4 <> 0 THEN 1 + (i * 17) % (2 * {n}) END,
           CASE WHEN i % 2 = 0 THEN 1 + (i * 7919) % {n} END
    FROM generate_series(1::bigint, {n}) AS i;
    INSERT INTO carts (id, user_id) SELECT i, 1 + (i * 3) % {n} FROM generate_series(1::bigint, {n}) AS i;
    INSERT INTO orders (id, user_id, total)
    SELECT i, 1 + (i * 7) % {n}, ((i % 10000) * 1.5)::numeric(10, 2) FROM generate_series(1::bigint, 2 * {n}) AS i;
    SELECT setval(pg_get_serial_sequence('users', 'id'), {n});
    SELECT setval(pg_get_serial_sequence('carts', 'id'), {n});
    SELECT setval(pg_get_serial_sequence('orders', 'id'), 2 * {n});
    """,
]


def schema_sql() -> str:
    """The shop fixture's DDL (everything before its first INSERT) and the self-reference."""
    text = (pgharness.FIXTURES_DIR / "shop.sql").read_text()
    ddl = text[: text.index("\nINSERT INTO")]
    return ddl + "\n" + SELF_REFERENCE


def generator_stamp(users: int) -> str:
    """Changes whenever what the dumps would contain changes: the cache key."""
    key = schema_sql() + "".join(FILL) + str(users) + str(pgharness.bin_major(pgharness.embedded_bin_dir()))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class Servers:
    """One throwaway PostgreSQL 18 server, started only when something needs it."""

    def __init__(self) -> None:
        self.local: pgharness.LocalServer | None = None

    def get(self) -> pgharness.Server:
        if self.local is None:
            self.local = pgharness.start_server(pgharness.embedded_bin_dir())
        return self.local.server

    def close(self) -> None:
        if self.local is not None:
            pgharness.stop_server(self.local)
            self.local = None


@dataclass(frozen=True)
class Dumps:
    folder: Path
    schema: Path
    files: dict[str, Path]  # format -> dump


def build_dumps(size: str, out: Path, servers: Servers, formats: list[str]) -> Dumps:
    """The dumps of one size, from the cache when its stamp matches, else made now."""
    users = SIZES[size]
    folder = out / size
    stamp = folder / "stamp"
    files = {fmt: folder / f"{fmt}.sql" for fmt in formats}
    dumps = Dumps(folder, folder / "schema.sql", files)
    wanted = generator_stamp(users)
    if stamp.exists() and stamp.read_text() == wanted and dumps.schema.exists():
        missing = [fmt for fmt, path in files.items() if not path.exists()]
        if not missing:
            return dumps
    else:
        shutil.rmtree(folder, ignore_errors=True)
        missing = list(files)
    folder.mkdir(parents=True, exist_ok=True)
    server = servers.get()
    print(f"[{size}] building the source database ({users} users) ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    db = pgharness.create_database(server, schema_sql())
    try:
        categories = max(10, users // 50)
        sessions = [
            _psql_async(server, db, sql.format(n=users, c=categories)) for sql in FILL
        ]  # two sessions: two cores
        for proc in sessions:
            _finish(proc)
        dumps.schema.write_bytes(pgharness.schema_dump(server, db))
        print(
            f"[{size}] filled in {time.perf_counter() - t0:.0f} s; pg_dump {', '.join(missing)} ...",
            file=sys.stderr,
            flush=True,
        )
        procs = [_pg_dump_async(server, db, FORMATS[fmt], files[fmt]) for fmt in missing]
        for proc in procs:
            _finish(proc)
    finally:
        server.psql(server.maintenance_db, f"DROP DATABASE {pgharness.quote_ident(db)} WITH (FORCE)")
    stamp.write_text(wanted)
    return dumps


def _psql_async(server: pgharness.Server, db: str, sql: str) -> subprocess.Popen[bytes]:
    args = [str(server.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", db, "-c", sql]
    return subprocess.Popen(args, env=server.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _pg_dump_async(server: pgharness.Server, db: str, args: list[str], path: Path) -> subprocess.Popen[bytes]:
    cmd = [str(server.bin_dir / "pg_dump"), "--data-only", *args, "--dbname", db, "-f", str(path)]
    return subprocess.Popen(cmd, env=server.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, proc.args))} failed:\n{err.decode(errors='replace')}")  # type: ignore[arg-type]


# Timing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss: int  # bytes


def timed(args: list[str], env: dict[str, str] | None = None) -> Run:
    """Wall time and peak RSS of one child; wait4 gives that child's own rusage, not a sum."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(args)} exited {proc.returncode}:\n{err.read().decode(errors='replace')}")
    return Run(seconds, usage.ru_maxrss * 1024)  # Linux reports KiB


def compile_dumpfix() -> None:
    """Compile dumpfix's modules once, as an installed package has them: with
    PYTHONDONTWRITEBYTECODE set (as in many containers) a source checkout would
    otherwise compile every module in every timed run (30 ms of each)."""
    import dumpfix

    compileall.compile_dir(os.path.dirname(dumpfix.__file__), quiet=1)


def dumpfix_args(dump: Path, out: Path, schema: Path, variant: str) -> list[str]:
    major = str(pgharness.bin_major(pgharness.embedded_bin_dir()))  # the server restored into
    extra = [arg.format(major=major) for arg in VARIANTS[variant]]
    return [sys.executable, "-m", "dumpfix", str(dump), "-o", str(out), "--schema", str(schema), *extra]


@dataclass(frozen=True)
class Result:
    size: str
    fmt: str
    variant: str
    bytes: int
    dumpfix: list[Run]
    cp: list[Run]
    restore_owner: float | None = None
    restore_replica: float | None = None
    #: The rewritten dump with FK checks off: what dumpfix's own statements cost.
    restore_fixed_replica: float | None = None

    @property
    def median_dumpfix(self) -> float:
        return statistics.median(r.seconds for r in self.dumpfix)

    @property
    def median_cp(self) -> float:
        return statistics.median(r.seconds for r in self.cp)

    @property
    def ratio(self) -> float:
        # Runs alternate, so pair them: each ratio sees the same state of the machine.
        return statistics.median(d.seconds / c.seconds for d, c in zip(self.dumpfix, self.cp))

    @property
    def peak_rss(self) -> int:
        return max(r.peak_rss for r in self.dumpfix)


def bench_one(size: str, fmt: str, variant: str, dump: Path, schema: Path, runs: int, scratch: Path) -> Result:
    out, copy = scratch / f"{size}-{fmt}.out.sql", scratch / f"{size}-{fmt}.cp.sql"
    timed(["cp", str(dump), str(copy)])  # warm-up: the dump is in the page cache from here on
    copy.unlink()
    fixes, cps = [], []
    for _ in range(runs):
        cps.append(timed(["cp", str(dump), str(copy)]))
        copy.unlink()  # one output on disk at a time: the dumps are large
        fixes.append(timed(dumpfix_args(dump, out, schema, variant)))
        out.unlink()
    return Result(size, fmt, variant, dump.stat().st_size, fixes, cps)


# Restore --------------------------------------------------------------------


@contextmanager
def _target(server: pgharness.Server, schema: bytes) -> Iterator[pgharness.Target]:
    target = pgharness.create_target(server, schema)
    try:
        yield target
    finally:
        server.psql(server.maintenance_db, f"DROP DATABASE {pgharness.quote_ident(target.dbname)}")


def bench_restore(
    result: Result, dump: Path, schema: Path, servers: Servers, scratch: Path, runs: int, replica: float | None
) -> Result:
    """Rewritten dump as the owner (FK checks on) vs the original as superuser in replica mode.

    Medians of several loads: one load of a few seconds varies by a tenth either way.
    The replica time of a dump is shared by its variants (replica is given then).
    """
    server = servers.get()
    fixed = scratch / f"{result.size}-{result.fmt}.fixed.sql"
    timed(dumpfix_args(dump, fixed, schema, result.variant))
    psql = [str(server.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    env = server.env() | {"PGOPTIONS": "-c session_replication_role=replica"}

    def load(path: Path, owner: bool) -> float:
        with _target(server, schema.read_bytes()) as target:
            user_env = server.env(target.owner) if owner else env
            return timed([*psql, "--dbname", target.dbname, "-f", str(path)], env=user_env).seconds

    owners, replicas = [], []
    try:
        for _ in range(runs):  # alternate, so both see the same state of the machine
            owners.append(load(fixed, owner=True))
            if replica is None:
                replicas.append(load(dump, owner=False))
        fixed_replica = load(fixed, owner=False)
    finally:
        fixed.unlink()
    return dataclasses.replace(
        result,
        restore_owner=statistics.median(owners),
        restore_replica=replica if replica is not None else statistics.median(replicas),
        restore_fixed_replica=fixed_replica,
    )


# Report ---------------------------------------------------------------------


def report(results: list[Result]) -> str:
    lines = [
        f"{'dump':<22} {'size MB':>8} {'dumpfix MB/s':>12} {'cp MB/s':>8} {'ratio':>6} {'peak RSS MB':>11}"
        f" {'restore s':>9} {'replica s':>9} {'ratio':>6} {'fixed replica s':>15}"
    ]
    for r in results:
        mb = r.bytes / MB
        restore = ""
        if r.restore_owner is not None and r.restore_replica is not None:
            restore = f" {r.restore_owner:>9.1f} {r.restore_replica:>9.1f} {r.restore_owner / r.restore_replica:>6.2f}"
            if r.restore_fixed_replica is not None:
                restore += f" {r.restore_fixed_replica:>15.1f}"
        lines.append(
            f"{r.size + ' ' + r.fmt + ' ' + r.variant:<22} {mb:>8.0f} {mb / r.median_dumpfix:>12.0f} {mb / r.median_cp:>8.0f}"
            f" {r.ratio:>6.2f} {r.peak_rss / MB:>11.0f}{restore}"
        )
    lines.append("ratio: median over paired runs of dumpfix time / cp time; restore ratio: owner / replica (medians).")
    lines.append(
        "fixed replica: the rewritten dump loaded with FK checks off (dumpfix's own statements, no FK checks)."
    )
    for fmt, variant in [(f, v) for f in FORMATS for v in VARIANTS]:
        rows = sorted((r for r in results if r.fmt == fmt and r.variant == variant), key=lambda r: r.bytes)
        if len(rows) >= 2:
            small, large = rows[0], rows[-1]
            lines.append(
                f"growth {fmt} {variant} {small.size} -> {large.size}: size x{large.bytes / small.bytes:.2f}, "
                f"time x{large.median_dumpfix / small.median_dumpfix:.2f}, "
                f"peak RSS x{large.peak_rss / small.peak_rss:.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", action="append", choices=list(SIZES), help="repeatable; default: medium, large")
    parser.add_argument("--format", action="append", choices=list(FORMATS), help="repeatable; default: both")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="repeatable; default: both")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each of dumpfix and cp (default 5)")
    parser.add_argument("--restore-runs", type=int, default=3, help="loads of each restore timed (default 3)")
    parser.add_argument(
        "--restore",
        action="append",
        choices=[*FORMATS, "none"],
        help="formats whose restore is timed (repeatable; default: copy)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="cache of dumps and scratch space")
    parser.add_argument("--build-only", action="store_true", help="make (or check) the cached dumps and stop")
    args = parser.parse_args(argv)
    sizes = args.size or ["medium", "large"]
    formats = args.format or list(FORMATS)
    variants = args.variant or list(VARIANTS)
    restore = [f for f in (args.restore or ["copy"]) if f != "none"]
    args.out.mkdir(parents=True, exist_ok=True)
    compile_dumpfix()
    servers = Servers()
    results = []
    try:
        for size in sizes:
            dumps = build_dumps(size, args.out, servers, formats)
            if args.build_only:
                continue
            for fmt in formats:
                replica = None
                for variant in variants:
                    print(f"[{size}] timing {fmt} {variant} ...", file=sys.stderr, flush=True)
                    result = bench_one(size, fmt, variant, dumps.files[fmt], dumps.schema, args.runs, args.out)
                    if fmt in restore:
                        print(f"[{size}] restoring {fmt} {variant} ...", file=sys.stderr, flush=True)
                        result = bench_restore(
                            result, dumps.files[fmt], dumps.schema, servers, args.out, args.restore_runs, replica
                        )
                        replica = result.restore_replica
                    results.append(result)
    finally:
        servers.close()
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
