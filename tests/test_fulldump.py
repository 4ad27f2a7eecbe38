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


#: A tool-made dump that creates each table just before its data: public.b (loaded
#: first) needs rows of public.a, whose data stands after CREATE TABLE public.c.
INTERLEAVED_DDL = (
    "CREATE TABLE public.a (id int PRIMARY KEY, b_id int);\n"
    "CREATE TABLE public.b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES public.a);\n"
    "ALTER TABLE public.a ADD CONSTRAINT a_b_fkey FOREIGN KEY (b_id) REFERENCES public.b;\n"
)
INTERLEAVED = (
    INTERLEAVED_DDL
    + "COPY public.b (id, a_id) FROM stdin;\n1\t2\n2\t1\n\\.\n"
    + "CREATE TABLE public.c (id int PRIMARY KEY, b_id int NOT NULL REFERENCES public.b);\n"
    + "COPY public.c (id, b_id) FROM stdin;\n1\t1\n2\t2\n\\.\n"
    + "COPY public.a (id, b_id) FROM stdin;\n1\t2\n2\t\\N\n\\.\n"
)


def test_interleaved_ddl_restores_without_moving_data_above_its_create(
    restore_case: DumpCase, run_dumpfix, tmp_path: Path
) -> None:
    """No --schema: the dump's own DDL. Data never crosses CREATE TABLE public.c; the FK
    that would need it to (b -> a) is deferred for the load instead, and the output
    loads into an empty database as its owner, every table identical."""
    server = restore_case.server
    source = pgharness.create_database(
        server,
        INTERLEAVED_DDL
        + "CREATE TABLE public.c (id int PRIMARY KEY, b_id int NOT NULL REFERENCES public.b);\n"
        + "SET session_replication_role = replica;\n"
        + "INSERT INTO public.b VALUES (1, 2), (2, 1); INSERT INTO public.c VALUES (1, 1), (2, 2);\n"
        + "INSERT INTO public.a VALUES (1, 2), (2, NULL);\n",
    )
    (tmp_path / "in.sql").write_text(INTERLEAVED)
    bulk = run_dumpfix("in.sql", "-o", "out.sql")  # the default: the FKs that exist before the data off
    assert bulk.returncode == 0, bulk.stderr.decode()
    _restore_empty(restore_case, source, tmp_path / "out.sql")
    # Its regions taking each table's FKs off are not the dump's DDL: a rerun changes nothing.
    rerun = run_dumpfix("out.sql", "-o", "rerun.sql")
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert (tmp_path / "rerun.sql").read_bytes() == (tmp_path / "out.sql").read_bytes()
    result = run_dumpfix("in.sql", "-o", "out.sql", "--explain", "--no-bulk")
    assert result.returncode == 0, result.stderr.decode()
    output = (tmp_path / "out.sql").read_bytes()
    assert output.index(b"CREATE TABLE public.c") < output.index(b"COPY public.c")
    assert output.index(b"CREATE TABLE public.c") < output.index(b"COPY public.a")
    assert b"ALTER CONSTRAINT b_a_id_fkey DEFERRABLE" in output
    _restore_empty(restore_case, source, tmp_path / "out.sql")
    # dumpfix's own ALTER CONSTRAINT in its head is not the dump's DDL: a rerun changes nothing.
    again = run_dumpfix("out.sql", "-o", "again.sql", "--no-bulk")
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "again.sql").read_bytes() == output


def test_interleaved_ddl_no_order_works_is_refused(run_dumpfix, tmp_path: Path) -> None:
    """--role user can neither defer b -> a (NOT NULL) nor move a's data above CREATE
    TABLE public.c: one line, exit 2, nothing written."""
    (tmp_path / "in.sql").write_text(INTERLEAVED)
    result = run_dumpfix("in.sql", "-o", "out.sql", "--role", "user")
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "does not move data across the dump's own CREATE/ALTER/DROP" in err, err
    assert "after the DDL at line 8" in err
    assert not (tmp_path / "out.sql").exists()


def test_tables_created_after_the_data_are_told_apart_in_one_parse() -> None:
    """The late tables are those created after the first data block (a partition of an
    earlier table too); a table created again there is not one of them."""
    from dumpfix.catalog import QName
    from dumpfix.dumpfile import split
    from dumpfix.fix import dump_catalog

    dump = b"""CREATE TABLE parent (id int PRIMARY KEY, kind int) PARTITION BY LIST (kind);
CREATE TABLE a (id int PRIMARY KEY);
COPY a (id) FROM stdin;
1
\\.
CREATE TABLE a (id int PRIMARY KEY);
CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);
CREATE TABLE p1 PARTITION OF parent FOR VALUES IN (1);
COPY b (id, a_id) FROM stdin;
1\t1
\\.
"""
    catalog = dump_catalog(dump, list(split(dump)))
    assert catalog is not None
    parent, a, b, p1 = (QName("public", name) for name in ("parent", "a", "b", "p1"))
    assert list(catalog.tables) == [parent, a, b, p1]
    assert catalog.late_tables == {b, p1}
    assert catalog.tables[p1].parent == parent
    assert [(fk.table, fk.ref_table) for fk in catalog.foreign_keys] == [(b, a)]
