"""Tests of the harness itself: if these fail, no restore test can be trusted."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

import pgharness
from pgharness import DUMP_FORMATS, DumpCase, Server

# Two FK levels, no cycle, a self-reference that COPY and one-row INSERTs both load
# (parents come first), a sequence and a NULL: pg_dump's own order restores this.
ACYCLIC_SQL = """
CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL, mentor_id integer REFERENCES authors);
CREATE TABLE books (id serial PRIMARY KEY, author_id integer NOT NULL REFERENCES authors,
                    title text, published date);
INSERT INTO authors (name, mentor_id) SELECT 'author ' || i, CASE WHEN i > 1 THEN i - 1 END
FROM generate_series(1, 12) AS i;
INSERT INTO books (author_id, title, published)
SELECT 1 + i % 12, CASE WHEN i % 4 <> 0 THEN E'title\\t' || i END, date '2020-01-01' + i
FROM generate_series(1, 30) AS i;
SELECT setval('books_id_seq', 500);
"""
FK_VIOLATION = "violates foreign key constraint"
# The fixtures this harness provides (others add their own to tests/fixtures): each
# has FK cycles with rows pointing both ways, so pg_dump's order cannot load it.
HARNESS_FIXTURES = ["awkward_values", "composite_cycle", "identifiers", "partitioned", "selfref", "shop"]
SourceDb = Callable[[Server, str], str]


def write(tmp_path: Path, data: bytes, name: str = "dump.sql") -> Path:
    """Put a dump where psql can read it."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def restore_copy(
    case: DumpCase, dbname: str, fmt: str, tmp_path: Path
) -> tuple[pgharness.Target, subprocess.CompletedProcess[str]]:
    """Dump dbname's schema and data, load both into a new target as its owner."""
    target = pgharness.create_target(case.server, pgharness.schema_dump(case.server, dbname))
    dump = pgharness.data_dump(case.server, dbname, fmt, case.pg_dump_bin)
    return target, pgharness.restore(target, write(tmp_path, dump))


@pytest.fixture(scope="module")
def acyclic_db(pg_server: Server) -> str:
    """The acyclic source on the newest server, shared by the mutation tests."""
    return pgharness.create_database(pg_server, ACYCLIC_SQL)


@pytest.mark.parametrize("fmt", DUMP_FORMATS)
def test_acyclic_dump_restores_identically(restore_case: DumpCase, fmt: str, tmp_path: Path) -> None:
    source = pgharness.create_database(restore_case.server, ACYCLIC_SQL)
    target, result = restore_copy(restore_case, source, fmt, tmp_path)
    assert result.returncode == 0, result.stderr
    pgharness.assert_same(restore_case.server, source, target.dbname)


def test_pg_dump_17_output_fails_on_older_servers(dump_case: DumpCase, tmp_path: Path) -> None:
    """Why restore_case leaves out pg15-dump18: psql stops at SET transaction_timeout."""
    source = pgharness.create_database(dump_case.server, ACYCLIC_SQL)
    _, result = restore_copy(dump_case, source, "copy", tmp_path)
    if dump_case.restorable:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 3
        assert 'unrecognized configuration parameter "transaction_timeout"' in result.stderr


def test_target_is_owned_by_an_ordinary_role(pg_server: Server) -> None:
    source = pgharness.create_database(pg_server, pgharness.fixture_sql("identifiers"))
    target = pgharness.create_target(pg_server, pgharness.schema_dump(pg_server, source))
    owners = pg_server.psql(
        target.dbname,
        """SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'S') AND n.nspname IN ('public', 'app', 'Weird Schema')
           UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()""",
    )
    assert owners.split() == [target.owner]
    with psycopg.connect(pg_server.dsn(target.dbname, target.owner)) as conn:
        row = conn.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        assert row.fetchone() == (target.owner, False)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE books SET title = title || ' ' WHERE id = 7",
        "UPDATE books SET title = NULL WHERE id = 1",
        "DELETE FROM books WHERE id = 30",
        "INSERT INTO books (author_id) VALUES (1)",
        "SELECT setval('books_id_seq', 500, false)",
        "SELECT setval('authors_id_seq', 13)",
        "CREATE TABLE extra (x int)",
        "DROP TABLE books",
    ],
)
def test_assert_same_detects_a_difference(pg_server: Server, acyclic_db: str, change: str) -> None:
    copy = pgharness.create_database(pg_server, ACYCLIC_SQL)
    pgharness.assert_same(pg_server, acyclic_db, copy)
    pg_server.psql(copy, change)
    with pytest.raises(AssertionError, match=r"(table|sequence) public\.(books|authors_id_seq|extra)"):
        pgharness.assert_same(pg_server, acyclic_db, copy)


def test_fingerprints_cover_partitions_and_sequences(pg_server: Server, source_db: SourceDb) -> None:
    partitioned = pgharness.table_fingerprints(pg_server, source_db(pg_server, "partitioned"))
    assert partitioned["table public.events_login"][0] == 20
    assert "table public.events" not in partitioned  # the parent holds no rows itself
    leaves = [count for key, (count, _) in partitioned.items() if key.startswith("table public.events_")]
    assert len(leaves) == 3 and sum(leaves) == 80
    shop = pgharness.table_fingerprints(pg_server, source_db(pg_server, "shop"))
    assert shop["sequence public.categories_id_seq"] == (100, "true")
    assert shop["sequence public.colors_id_seq"] == (77, "false")
    identifiers = pgharness.table_fingerprints(pg_server, source_db(pg_server, "identifiers"))
    assert identifiers['table "Weird Schema"."Ünïcødé"'][0] == 25


@pytest.mark.parametrize("fmt", DUMP_FORMATS)
def test_shop_dump_fails_plain_restore(restore_case: DumpCase, fmt: str, source_db: SourceDb, tmp_path: Path) -> None:
    """The problem dumpfix solves exists: pg_dump's own order violates the shop's FKs."""
    _, result = restore_copy(restore_case, source_db(restore_case.server, "shop"), fmt, tmp_path)
    assert result.returncode == 3
    assert FK_VIOLATION in result.stderr


@pytest.mark.parametrize("name", [n for n in HARNESS_FIXTURES if n != "shop"])
def test_fixture_insert_dump_fails_plain_restore(
    restore_case: DumpCase, name: str, source_db: SourceDb, tmp_path: Path
) -> None:
    """Every fixture exercises the problem: one row per INSERT breaks on its FKs."""
    _, result = restore_copy(restore_case, source_db(restore_case.server, name), "inserts", tmp_path)
    assert result.returncode == 3
    assert FK_VIOLATION in result.stderr


@pytest.mark.parametrize("fmt", DUMP_FORMATS)
@pytest.mark.parametrize("name", HARNESS_FIXTURES)
def test_fixture_restores_identically_with_triggers_disabled(
    restore_case: DumpCase, name: str, fmt: str, source_db: SourceDb, tmp_path: Path
) -> None:
    """With FK checks off (superuser), every fixture round-trips: the fingerprints and
    the fixtures' awkward values survive pg_dump and psql, so a difference after
    dumpfix is dumpfix's."""
    server = restore_case.server
    source = source_db(server, name)
    target = pgharness.create_target(server, pgharness.schema_dump(server, source))
    flags = ["--data-only", "--disable-triggers", *DUMP_FORMATS[fmt]]
    dump = pgharness.pg_dump(server, source, *flags, pg_dump_bin=restore_case.pg_dump_bin)
    result = pgharness.restore(target, write(tmp_path, dump), user=server.superuser)
    assert result.returncode == 0, result.stderr
    pgharness.assert_same(server, source, target.dbname)


@pytest.mark.parametrize("fmt", ["inserts", "rows-per-insert"])
def test_awkward_values_put_a_shell_command_on_its_own_line(pg_server: Server, fmt: str, source_db: SourceDb) -> None:
    """The canary is armed: in INSERT dumps the \\! line sits alone inside a literal."""
    dump = pgharness.data_dump(pg_server, source_db(pg_server, "awkward_values"), fmt)
    assert f"\n\\! touch {pgharness.CANARY_PATH}\n".encode() in dump
    assert b"\n\\.\n" in dump


def test_drop_databases_since_keeps_shared_ones(pg_server: Server) -> None:
    """What the autouse cleanup does after each test."""
    mark = pgharness.created_count()
    private = pgharness.create_database(pg_server)
    shared = pgharness.create_database(pg_server)
    pgharness.share_database(pg_server, shared)
    pgharness.drop_databases_since(mark)
    names = pg_server.psql(pg_server.maintenance_db, "SELECT datname FROM pg_database").split()
    assert shared in names and private not in names
    assert pgharness.created_count() == mark


def test_harness_fixtures_exist() -> None:
    assert set(HARNESS_FIXTURES) <= set(pgharness.fixture_names())


def test_canary_detects_an_escaped_meta_command(pg_server: Server) -> None:
    """psql really runs \\! here, and assert_no_canary notices."""
    try:
        pg_server.psql("postgres", f"\\! touch {pgharness.CANARY_PATH}\n")
        with pytest.raises(AssertionError, match="escaped its literal"):
            pgharness.assert_no_canary()
    finally:
        pgharness.CANARY_PATH.unlink(missing_ok=True)
    pgharness.assert_no_canary()


def test_dsn_reaches_the_database(pg_server: Server, acyclic_db: str) -> None:
    with psycopg.connect(pg_server.dsn(acyclic_db)) as conn:
        row = conn.execute("SELECT current_database(), count(*) FROM books").fetchone()
    assert row == (acyclic_db, 30)


def test_run_dumpfix_runs_the_package_as_a_module(
    run_dumpfix: Callable[..., subprocess.CompletedProcess[bytes]], tmp_path: Path
) -> None:
    """The runner starts `python -m dumpfix` from the work tree, in tmp_path, with no stdin."""
    result = run_dumpfix("--help")
    assert result.returncode == 0, result.stderr
    assert b"Usage:" in result.stdout
    assert not any(tmp_path.iterdir())
    missing = run_dumpfix("no-such-dump.sql")
    assert missing.returncode == 2, missing.stderr
    assert b"no-such-dump.sql" in missing.stderr


def test_server_free_tests_run_without_postgresql(tmp_path: Path) -> None:
    """DUMPFIX_TEST_SERVERS=none: the harness looks for no PostgreSQL, as on a machine
    without it; the splitter, schema reader and planner tests still run and pass, and
    the tests that need a server are deselected with the reason, not failed."""
    import os
    import sys

    from conftest import REPO_ROOT

    env = {k: v for k, v in os.environ.items() if k not in ("CI", "DUMPFIX_TEST_DSN")}
    env["DUMPFIX_TEST_SERVERS"] = "none"
    files = ["tests/test_plan.py", "tests/test_golden.py", "tests/test_dumpfile.py", "tests/test_examples.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", f"cache_dir={tmp_path}", *files],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert "deselected" in summary  # test_examples' restores need a server
    assert "no PostgreSQL found" in result.stdout
