"""Benchmark dumpfix where it runs: in a pipe, and as a file restored with psql, on PostgreSQL 15 and 18.

dumpfix sits between pg_dump and psql, so each figure is set against what the
machine does anyway with the same bytes, without dumpfix:

* the pipe: ``pg_dump --data-only SRC | dumpfix - --schema S | psql TARGET`` run
  by the tables' owner (an ordinary role: FK checks on), against the superuser's
  ``pg_dump --data-only SRC | psql TARGET`` with ``session_replication_role =
  replica`` (no FK checks at all: the floor for loading these rows). Whole
  pipelines, wall clock, ``set -o pipefail``; ``--inserts`` dumps for the
  INSERT format;
* the file: ``psql -f fixed.sql`` (dumpfix's output) as the owner against the
  superuser's replica ``psql -f original.sql``; and the INSERT dump's output
  against its COPY twin's replica load (what choosing INSERTs costs over COPY);
* dumpfix's own pass against ``cp`` of the same file (the floor for reading and
  writing it), and its peak RSS (the kernel's rusage of the child, wait4): it
  must stream, whatever the dump's size.

Per server (its own pg_dump and psql: pg_dump 17+ output does not load into 15)
and size, the script builds once a source database with the seed's shop schema
(plus a self-reference on users), filled server-side with generate_series so
that rows point both ways through every FK cycle, and dumps it as COPY and as
``--inserts`` into bench/out/<size>/pg<N>/ (cached between runs; on a later run
the source is rebuilt by loading the cached COPY dump). The source stays for the
run: every pipe dumps it anew. Every load goes into a fresh database made from
the schema and owned by a fresh ordinary role.

Variants of dumpfix's options: ``default`` (none: the FKs dropped and added back,
since no version is known), ``target-version`` (``--target-version N``, the
server's major: NOT ENFORCED, then ENFORCED on 18) and ``no-bulk`` (FK cycles
loaded row by row). Timed runs alternate (the superuser's load, then each
variant's) so that all see the same state of the machine; the report gives
medians, and marks with ``!`` each figure that misses its target.

    python bench/run.py                                   # medium, 15 and 18, both formats, all variants
    python bench/run.py --size small                      # a quick run
    python bench/run.py --server 18 --format copy --variant target-version --runs 3

Nothing here is a test: numbers depend on the machine. tests/test_bench.py only
checks that the script runs end to end on a tiny size.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import pgharness  # noqa: E402  (the test suite's server harness: same servers, same roles)

MB = 1_000_000
# Users per size; every other table scales with it (see FILL).
SIZES: dict[str, int] = {
    "tiny": 500,
    "small": 60_000,
    "medium": 900_000,
    "large": 3_100_000,
}
SERVERS = [pgharness.SYSTEM_MAJOR, pgharness.NEWEST_MAJOR]
FORMATS: dict[str, list[str]] = {"copy": [], "inserts": ["--inserts"]}
#: dumpfix's options per variant ({major}: the server's major version).
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "target-version": ["--target-version", "{major}"],
    "no-bulk": ["--no-bulk"],
}
#: The environment of a superuser's load that skips every FK check (and trigger).
REPLICA = "PGOPTIONS='-c session_replication_role=replica'"
# Targets (see the report's legend): ratios to the floor, and peak RSS.
PIPE_TARGET = 1.0
FILE_TARGET = 1.1
INSERTS_TARGET = 3.0  # an INSERT dump's output restore / its COPY twin's replica load
CP_TARGET = {"copy": 3.0, "inserts": 5.0}
RSS_TARGET = 100 * MB

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


def generator_stamp(users: int, bin_dir: Path) -> str:
    """Changes whenever what the dumps would contain changes: the cache key."""
    version = subprocess.run([str(bin_dir / "pg_dump"), "--version"], capture_output=True, text=True).stdout
    key = schema_sql() + "".join(FILL) + str(users) + version
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Programs ---------------------------------------------------------------------


def _dumpfix_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This checkout's dumpfix first: an installed (or editable) one elsewhere must not be measured."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def compile_dumpfix() -> None:
    """Compile dumpfix's modules once, as an installed package has them: with
    PYTHONDONTWRITEBYTECODE set (as in many containers) a source checkout would
    otherwise compile every module in every timed run."""
    compileall.compile_dir(str(REPO / "dumpfix"), quiet=1)


def dumpfix_options(variant: str, major: int) -> list[str]:
    return [arg.format(major=major) for arg in VARIANTS[variant]]


def _psql(server: pgharness.Server) -> list[str]:
    return [str(server.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]


def _check(args: list[str] | str, returncode: int, err: bytes) -> None:
    if returncode != 0:
        shown = args if isinstance(args, str) else " ".join(args)
        raise SystemExit(f"{shown} exited {returncode}:\n{err.decode(errors='replace')[-3000:]}")


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate()
    _check([str(a) for a in proc.args], proc.returncode, err)  # type: ignore[union-attr]


# The source ---------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One server's source database (kept for the run) and its cached dumps."""

    size: str
    server: pgharness.Server
    db: str
    schema: Path  # pg_dump --schema-only --no-owner --no-privileges
    files: dict[str, Path]  # format -> pg_dump --data-only file


def build_source(size: str, server: pgharness.Server, out: Path) -> Source:
    """The source database, loaded from the cached COPY dump when its stamp matches,
    else filled now and dumped (every format: the pipes need none of the files, the
    file restores all)."""
    users = SIZES[size]
    folder = out / size / f"pg{server.version}"
    stamp = folder / "stamp"
    files = {fmt: folder / f"{fmt}.sql" for fmt in FORMATS}
    schema = folder / "schema.sql"
    wanted = generator_stamp(users, server.bin_dir)
    t0 = time.perf_counter()
    if stamp.exists() and stamp.read_text() == wanted and schema.exists() and all(p.exists() for p in files.values()):
        say(f"[{size} pg{server.version}] loading the source database from {files['copy']} ...")
        db = pgharness.create_database(server, schema.read_bytes())
        _finish(_start([*_psql(server), "--dbname", db, "-f", str(files["copy"])], _replica_env(server)))
        say(f"[{size} pg{server.version}] loaded in {time.perf_counter() - t0:.0f} s")
        return Source(size, server, db, schema, files)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    say(f"[{size} pg{server.version}] building the source database ({users} users) ...")
    db = pgharness.create_database(server, schema_sql())
    categories = max(10, users // 50)
    sessions = [  # two sessions: two cores
        _start([*_psql(server), "--dbname", db, "-c", sql.format(n=users, c=categories)], server.env()) for sql in FILL
    ]
    for proc in sessions:
        _finish(proc)
    schema.write_bytes(pgharness.schema_dump(server, db))
    say(f"[{size} pg{server.version}] filled in {time.perf_counter() - t0:.0f} s; pg_dump {', '.join(files)} ...")
    dumps = [
        _start(
            [str(server.bin_dir / "pg_dump"), "--data-only", *FORMATS[fmt], "--dbname", db, "-f", str(path)],
            server.env(),
        )
        for fmt, path in files.items()
    ]
    for proc in dumps:
        _finish(proc)
    stamp.write_text(wanted)
    return Source(size, server, db, schema, files)


def _replica_env(server: pgharness.Server) -> dict[str, str]:
    return server.env() | {"PGOPTIONS": "-c session_replication_role=replica"}


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
        err.seek(0)
        _check(args, os.waitstatus_to_exitcode(status), err.read())
    return Run(seconds, usage.ru_maxrss * 1024)  # Linux reports KiB


def timed_shell(command: str, env: dict[str, str]) -> float:
    """Wall time of a whole shell pipeline, failing if any of its programs fails."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["bash", "-c", "set -o pipefail; " + command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - t0
        err.seek(0)
        _check(command, proc.returncode, err.read())
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Result:
    size: str
    server: int
    fmt: str
    variant: str
    bytes: int
    dumpfix: list[Run]
    cp: list[Run]
    pipe: list[float] = field(default_factory=list)
    pipe_replica: list[float] = field(default_factory=list)  # shared by the variants of one dump
    restore: list[float] = field(default_factory=list)
    restore_replica: list[float] = field(default_factory=list)  # shared likewise
    copy_replica: list[float] = field(default_factory=list)  # INSERT dumps: the COPY twin's replica load

    @property
    def ratio_cp(self) -> float:
        # Runs alternate, so pair them: each ratio sees the same state of the machine.
        return statistics.median(d.seconds / c.seconds for d, c in zip(self.dumpfix, self.cp))

    @property
    def peak_rss(self) -> int:
        return max(r.peak_rss for r in self.dumpfix)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / statistics.median(r.seconds for r in self.dumpfix)


def bench_pass(source: Source, fmt: str, variant: str, runs: int, scratch: Path) -> tuple[Result, Path]:
    """dumpfix's pass over the file and cp's, alternately; the last output is kept for the file restore."""
    dump, major = source.files[fmt], source.server.version
    out = scratch / f"{source.size}-pg{major}-{fmt}-{variant}.fixed.sql"
    copy = scratch / f"{source.size}-pg{major}-{fmt}.cp.sql"
    args = [sys.executable, "-m", "dumpfix", str(dump), "-o", str(out), "--schema", str(source.schema)]
    args += dumpfix_options(variant, major)
    timed(["cp", str(dump), str(copy)])  # warm-up: the dump is in the page cache from here on
    copy.unlink()
    fixes, cps = [], []
    for i in range(runs):
        cps.append(timed(["cp", str(dump), str(copy)]))
        copy.unlink()  # one copy on disk at a time: the dumps are large
        if i:
            out.unlink()
        fixes.append(timed(args, env=_dumpfix_env()))
    return Result(source.size, major, fmt, variant, dump.stat().st_size, fixes, cps), out


class Loads:
    """Timed loads into fresh targets (schema loaded by a fresh owner role), dropped after each."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.server = source.server
        self.schema = source.schema.read_bytes()

    def _load(self, command: str, owner: bool) -> float:
        """command: a shell pipeline whose last psql lacks its --dbname (and user) options."""
        server = self.server
        target = pgharness.create_target(server, self.schema)
        try:
            who = f"-U {shlex.quote(target.owner)}" if owner else ""
            full = f"{command} {who} --dbname {shlex.quote(target.dbname)}"
            return timed_shell(full, _dumpfix_env(server.env()))
        finally:
            server.psql(server.maintenance_db, f"DROP DATABASE {pgharness.quote_ident(target.dbname)} WITH (FORCE)")
            server.psql(server.maintenance_db, f"DROP ROLE {pgharness.quote_ident(target.owner)}")

    def _psql(self) -> str:
        return shlex.join(_psql(self.server))

    def _pg_dump(self, fmt: str) -> str:
        bin_dir = self.server.bin_dir
        return shlex.join([str(bin_dir / "pg_dump"), "--data-only", *FORMATS[fmt], "--dbname", self.source.db])

    def pipe(self, fmt: str, variant: str) -> float:
        """pg_dump | dumpfix | psql as the owner."""
        dumpfix = [sys.executable, "-m", "dumpfix", "-", "--schema", str(self.source.schema)]
        dumpfix += dumpfix_options(variant, self.server.version)
        return self._load(f"{self._pg_dump(fmt)} | {shlex.join(dumpfix)} | {self._psql()}", owner=True)

    def pipe_replica(self, fmt: str) -> float:
        """pg_dump | psql as the superuser, FK checks off."""
        return self._load(f"{self._pg_dump(fmt)} | {REPLICA} {self._psql()}", owner=False)

    def file(self, path: Path) -> float:
        """psql -f dumpfix's output as the owner."""
        return self._load(f"{self._psql()} -f {shlex.quote(str(path))}", owner=True)

    def file_replica(self, path: Path) -> float:
        """psql -f the original dump as the superuser, FK checks off."""
        return self._load(f"{REPLICA} {self._psql()} -f {shlex.quote(str(path))}", owner=False)


def bench_dump(
    source: Source, fmt: str, variants: list[str], runs: int, load_runs: int, scratch: Path, copy_replica: list[float]
) -> list[Result]:
    """Every figure of one dump: dumpfix's pass per variant, then the pipes and the file
    restores, each run the superuser's load first and then each variant's.

    copy_replica: the COPY dump's replica file loads when already timed (else, for an
    INSERT dump, timed here too).
    """
    label = f"[{source.size} pg{source.server.version} {fmt}]"
    results, fixed = [], {}
    for variant in variants:
        say(f"{label} dumpfix {variant} vs cp ...")
        result, fixed[variant] = bench_pass(source, fmt, variant, runs, scratch)
        results.append(result)
    loads = Loads(source)
    pipe_replica: list[float] = []
    restore_replica: list[float] = []
    twin = copy_replica if fmt == "inserts" and copy_replica else []
    try:
        for i in range(load_runs):
            say(f"{label} pipes, run {i + 1} of {load_runs} ...")
            pipe_replica.append(loads.pipe_replica(fmt))
            for result in results:
                result.pipe.append(loads.pipe(fmt, result.variant))
        for i in range(load_runs):
            say(f"{label} file restores, run {i + 1} of {load_runs} ...")
            restore_replica.append(loads.file_replica(source.files[fmt]))
            if fmt == "inserts" and not copy_replica:
                twin.append(loads.file_replica(source.files["copy"]))
            for result in results:
                result.restore.append(loads.file(fixed[result.variant]))
    finally:
        for path in fixed.values():
            path.unlink(missing_ok=True)
    for result in results:
        result.pipe_replica = pipe_replica
        result.restore_replica = restore_replica
        result.copy_replica = twin if fmt == "inserts" else []
    if fmt == "copy":
        copy_replica[:] = restore_replica
    return results


# Report ---------------------------------------------------------------------


def _figure(value: float, target: float | None, digits: int = 2) -> str:
    """value, with ! when it misses its target (a ceiling)."""
    text = f"{value:.{digits}f}"
    return text + "!" if target is not None and value > target else text


COLUMNS = [
    ("dump", 35),
    ("MB", 6),
    ("dumpfix MB/s", 12),
    ("x cp", 8),
    ("RSS MB", 7),
    ("pipe s", 8),
    ("su pipe s", 9),
    ("x su", 7),
    ("file s", 8),
    ("su file s", 9),
    ("x su", 7),
    ("x su COPY", 9),
]


def report(results: list[Result]) -> str:
    lines = [" ".join(f"{name:<{width}}" if i == 0 else f"{name:>{width}}" for i, (name, width) in enumerate(COLUMNS))]
    for r in results:
        pipe, pipe_su = median(r.pipe), median(r.pipe_replica)
        restore, restore_su = median(r.restore), median(r.restore_replica)
        twin = _figure(restore / median(r.copy_replica), INSERTS_TARGET) if r.copy_replica else "-"
        cells = [
            f"{r.size} pg{r.server} {r.fmt} {r.variant}",
            f"{r.bytes / MB:.{0 if r.bytes >= 10 * MB else 1}f}",
            f"{r.mb_per_s:.0f}",
            _figure(r.ratio_cp, CP_TARGET[r.fmt]),
            _figure(r.peak_rss / MB, RSS_TARGET / MB, 0),
            f"{pipe:.2f}",
            f"{pipe_su:.2f}",
            _figure(pipe / pipe_su, PIPE_TARGET),
            f"{restore:.2f}",
            f"{restore_su:.2f}",
            _figure(restore / restore_su, FILE_TARGET),
            twin,
        ]
        lines.append(
            " ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS)))
        )
    lines += [
        f"targets (! marks a miss): pipe x su <= {PIPE_TARGET:g}, file x su <= {FILE_TARGET:g}, "
        f"inserts file x su COPY <= {INSERTS_TARGET:g}, dumpfix x cp <= {CP_TARGET['copy']:g} (COPY) "
        f"/ <= {CP_TARGET['inserts']:g} (INSERT), peak RSS <= {RSS_TARGET / MB:.0f} MB.",
        "pipe: pg_dump | dumpfix | psql as the owner; su pipe: pg_dump | psql as superuser with "
        "session_replication_role = replica (no FK checks); file: psql -f dumpfix's output as the owner; "
        "su file: psql -f the original as superuser, replica; su COPY: the COPY twin's su file load. "
        "x: ratio of medians; x cp: median over paired runs of dumpfix time / cp time; RSS: dumpfix's peak.",
    ]
    keys = sorted({(r.server, r.fmt, r.variant) for r in results})
    for server, fmt, variant in keys:
        rows = sorted(
            (r for r in results if (r.server, r.fmt, r.variant) == (server, fmt, variant)), key=lambda r: r.bytes
        )
        if len(rows) >= 2:
            small, large = rows[0], rows[-1]
            lines.append(
                f"growth pg{server} {fmt} {variant} {small.size} -> {large.size}: size x{large.bytes / small.bytes:.2f}, "
                f"dumpfix time x{small.mb_per_s / large.mb_per_s * large.bytes / small.bytes:.2f}, "
                f"peak RSS x{large.peak_rss / small.peak_rss:.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", action="append", choices=list(SIZES), help="repeatable; default: medium")
    parser.add_argument(
        "--server", action="append", type=int, choices=SERVERS, help="PostgreSQL major (repeatable; default: both)"
    )
    parser.add_argument("--format", action="append", choices=list(FORMATS), help="repeatable; default: both")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="repeatable; default: all")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each of dumpfix and cp (default 5)")
    parser.add_argument("--load-runs", type=int, default=3, help="timed runs of each pipe and restore (default 3)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="cache of dumps and scratch space")
    parser.add_argument("--build-only", action="store_true", help="make (or check) the cached dumps and stop")
    args = parser.parse_args(argv)
    sizes = args.size or ["medium"]
    majors = sorted(set(args.server or SERVERS))
    formats = [f for f in FORMATS if f in (args.format or FORMATS)]  # COPY first: INSERT rows reuse its loads
    variants = [v for v in VARIANTS if v in (args.variant or VARIANTS)]
    pool = pgharness.ServerPool()
    for major in majors:
        if major not in pool.client_bins:
            raise SystemExit(pool.missing(pgharness.CaseSpec(f"pg{major}", major, major)))
    args.out.mkdir(parents=True, exist_ok=True)
    compile_dumpfix()
    results = []
    try:
        for size in sizes:
            for major in majors:
                source = build_source(size, pool.get(major), args.out)
                if args.build_only:
                    continue
                copy_replica: list[float] = []
                for fmt in formats:
                    results += bench_dump(source, fmt, variants, args.runs, args.load_runs, args.out, copy_replica)
    finally:
        pool.close()
    if results:
        print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
