"""Dumps that carry their own DDL, restored into an EMPTY database as its (ordinary) owner.

A full pg_dump (schema and data) creates its tables before their data and adds
their keys and FKs only after it: whatever --schema or --dsn says about those
tables, no FK of theirs is in force while the data loads, so dumpfix must not
alter, drop, order by or stage for one. A hand-made or tool-made dump that
interleaves each CREATE TABLE with its table's data must never see data moved
above the statement that creates its table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import pgharness
from pgharness import DumpCase, Server, Target

SourceDb = Callable[[Server, str], str]

FULL = ("--no-owner", "--no-privileges")


def _owner_dsn(target: Target) -> str:
    return target.server.dsn(target.dbname, user=target.owner)


def _restore_empty(case: DumpCase, source: str, out: Path) -> None:
    target = pgharness.create_empty_target(case.server)
    restored = pgharness.restore(target, out)
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(case.server, source, target.dbname)


@pytest.mark.parametrize("fixture", ["notnull_cycle", "shop"])
@pytest.mark.parametrize("given", ["schema", "none"])
def test_full_dump_restores_into_an_empty_database(
    restore_case: DumpCase, fixture: str, given: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """A full dump fixed with --schema (whose FKs the dump only adds after its data) or
    with nothing but its own DDL loads into an empty database, every table identical."""
    server = restore_case.server
    source = source_db(server, fixture)
    dump = pgharness.pg_dump(server, source, *FULL, pg_dump_bin=restore_case.pg_dump_bin)
    (tmp_path / "full.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(server, source))
    args = ["--schema", "schema.sql"] if given == "schema" else []
    result = run_dumpfix("full.sql", "-o", "out.sql", *args, "--explain")
    assert result.returncode == 0, result.stderr.decode()
    output = (tmp_path / "out.sql").read_bytes()
    # No FK of the dump's tables exists while its data loads: nothing to alter or cut.
    assert b"ALTER CONSTRAINT" not in output and b"dumpfix_1" not in output
    assert b"cycle:" not in result.stderr
    _restore_empty(restore_case, source, tmp_path / "out.sql")


def test_full_dump_with_dsn_of_an_empty_database(
    restore_case: DumpCase, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """--dsn of the empty database it restores into: the dump's own DDL defines its
    tables, so 'the schema defines none of the dump's tables' does not apply."""
    server = restore_case.server
    source = source_db(server, "notnull_cycle")
    dump = pgharness.pg_dump(server, source, *FULL, pg_dump_bin=restore_case.pg_dump_bin)
    (tmp_path / "full.sql").write_bytes(dump)
    target = pgharness.create_empty_target(server)
    result = run_dumpfix("full.sql", "-o", "out.sql", "--dsn", _owner_dsn(target))
    assert result.returncode == 0, result.stderr.decode()
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(server, source, target.dbname)
