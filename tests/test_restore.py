"""End to end: real pg_dump output, rewritten by dumpfix, restored by psql as the table owner.

Every case compares every table and sequence of the restored database with the source.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import pgharness
from conftest import fixed_restores_identically
from dumpfix.dumpfile import split
from pgharness import DumpCase

CYCLIC_FIXTURES = ["shop", "selfref", "composite_cycle", "identifiers", "partitioned", "awkward_values"]
FORMATS = ["copy", "inserts", "column-inserts", "rows-per-insert"]

SourceDb = Callable[[pgharness.Server, str], str]


def _fix_and_restore(
    case: DumpCase,
    source: str,
    fmt: str,
    run_dumpfix,
    tmp_path: Path,
    *args: str,
    edit: Callable[[bytes], bytes] = lambda dump: dump,
) -> bytes:
    """pg_dump, (edit: a hand-made change that restores the same data), dumpfix, restore, compare."""
    dump = edit(pgharness.data_dump(case.server, source, fmt, case.pg_dump_bin))
    return fixed_restores_identically(case.server, source, dump, tmp_path, run_dumpfix, *args)


#: The default (every FK off for the load) and the row-by-row way (--no-bulk).
WAYS = {"bulk": (), "row-by-row": ("--no-bulk",)}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fixture", CYCLIC_FIXTURES)
def test_rewritten_dump_restores_identically(
    restore_case: DumpCase, fixture: str, fmt: str, way: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    source = source_db(restore_case.server, fixture)
    output = _fix_and_restore(restore_case, source, fmt, run_dumpfix, tmp_path, *WAYS[way])
    # Idempotent: dumpfix on its own output changes nothing.
    again = run_dumpfix("out.sql", "-o", "again.sql", "--schema", "schema.sql", *WAYS[way])
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "again.sql").read_bytes() == output


@pytest.mark.parametrize("fmt", FORMATS)
def test_shop_needed_rewriting(
    restore_case: DumpCase, fmt: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """The shop dump does not restore as it is, so dumpfix must have changed it: by default
    with its FKs off for the load, with --no-bulk by loading FK columns as NULL."""
    source = source_db(restore_case.server, "shop")
    output = _fix_and_restore(restore_case, source, fmt, run_dumpfix, tmp_path)
    assert output != (tmp_path / "in.sql").read_bytes()
    assert b"ALTER TABLE public.users DROP CONSTRAINT users_cart_id_fkey;" in output
    assert b"UPDATE public.users AS dumpfix_t" not in output
    output = _fix_and_restore(restore_case, source, fmt, run_dumpfix, tmp_path, "--no-bulk")
    assert b"UPDATE public.users AS dumpfix_t" in output or b"UPDATE public.carts" in output


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fixture", ["shop", "selfref", "awkward_values"])
def test_no_staging_rewrites_rows_and_restores_identically(
    restore_case: DumpCase, fixture: str, fmt: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """--no-staging: the rows loaded with NULLs are rewritten, the temporary tables hold
    only keys and FK values; the restore is the same, and so is a second run."""
    source = source_db(restore_case.server, fixture)
    output = _fix_and_restore(restore_case, source, fmt, run_dumpfix, tmp_path, "--no-staging")
    assert b" OVERRIDING SYSTEM VALUE SELECT " not in output
    if not (fixture == "selfref" and fmt == "copy"):  # one COPY needs nothing for a self-reference
        assert b"FROM pg_temp.dumpfix_1 AS dumpfix_v" in output  # something was loaded as NULL
    again = run_dumpfix("out.sql", "-o", "again.sql", "--schema", "schema.sql", "--no-staging")
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "again.sql").read_bytes() == output


GENERATED_CYCLE = """
CREATE TABLE owners (
    id integer PRIMARY KEY,
    name text NOT NULL,
    shout text GENERATED ALWAYS AS (upper(name)) STORED,
    pet_id integer,
    badge bigint GENERATED ALWAYS AS IDENTITY,
    boss_id integer REFERENCES owners (id)
);
CREATE TABLE pets (id integer PRIMARY KEY, owner_id integer NOT NULL REFERENCES owners (id));
ALTER TABLE owners ADD FOREIGN KEY (pet_id) REFERENCES pets (id);
SET session_replication_role = replica;
INSERT INTO owners (id, name, pet_id, boss_id) SELECT i, 'owner ' || i, 31 - i, NULLIF((i * 7) % 31, 0)
FROM generate_series(1, 30) AS i;
INSERT INTO pets SELECT i, i FROM generate_series(1, 30) AS i;
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_generated_and_identity_columns_in_a_cycle(
    restore_case: DumpCase, fmt: str, run_dumpfix, tmp_path: Path
) -> None:
    """Generated columns, an ALWAYS identity and a self-reference pointing ahead.

    COPY dumps and INSERT dumps with a column list stage the table (temporary table,
    then one INSERT ... SELECT leaving the generated column out); --inserts writes
    DEFAULT for the generated column, which a temporary table cannot stand in for, so
    its rows are rewritten instead. All restore identically, sequences included.
    """
    source = pgharness.create_database(restore_case.server, GENERATED_CYCLE)
    _fix_and_restore(restore_case, source, fmt, run_dumpfix, tmp_path)  # the default: FKs off
    output = _fix_and_restore(restore_case, source, fmt, run_dumpfix, tmp_path, "--no-bulk")
    staged = b") OVERRIDING SYSTEM VALUE SELECT " in output
    assert staged == (fmt != "inserts")
    again = run_dumpfix("out.sql", "-o", "again.sql", "--schema", "schema.sql", "--no-bulk")
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "again.sql").read_bytes() == output
    check = run_dumpfix("--check", "out.sql", "--schema", "schema.sql", "--no-bulk")
    assert check.returncode == 0, check.stderr.decode()


DEFAULTS_CYCLE = """
CREATE TABLE owners (id integer PRIMARY KEY, kind text DEFAULT 'plain', pet_id integer, boss_id integer REFERENCES owners (id));
CREATE TABLE pets (id integer PRIMARY KEY, owner_id integer NOT NULL REFERENCES owners (id));
ALTER TABLE owners ADD FOREIGN KEY (pet_id) REFERENCES pets (id);
SET session_replication_role = replica;
INSERT INTO owners SELECT i, 'plain', 21 - i, NULLIF((i * 7) % 21, 0) FROM generate_series(1, 20) AS i;
INSERT INTO pets SELECT i, i FROM generate_series(1, 20) AS i;
"""


@pytest.mark.parametrize("word", [b"DEFAULT", b"Default", b"dEfAuLt"])
def test_default_in_any_case_keeps_a_table_from_staging(
    restore_case: DumpCase, word: bytes, run_dumpfix, tmp_path: Path
) -> None:
    """A hand-edited INSERT dump saying DEFAULT (in any case) for a column with a
    default: a temporary table has none, so the table's rows are rewritten instead."""
    source = pgharness.create_database(restore_case.server, DEFAULTS_CYCLE)
    output = _fix_and_restore(
        restore_case,
        source,
        "inserts",
        run_dumpfix,
        tmp_path,
        "--no-bulk",
        edit=lambda dump: dump.replace(b"'plain'", word),
    )
    assert word in output and b"INSERT INTO pg_temp.dumpfix_1 VALUES" not in output


ACYCLIC = """
CREATE TABLE authors (id int PRIMARY KEY, name text);
CREATE TABLE books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors, title text);
INSERT INTO authors SELECT i, 'a' || i FROM generate_series(1, 20) i;
INSERT INTO books SELECT i, 1 + i % 20, E'b\\t' || i FROM generate_series(1, 40) i;
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_dump_that_restores_comes_out_identical(restore_case: DumpCase, fmt: str, run_dumpfix, tmp_path: Path) -> None:
    source = pgharness.create_database(restore_case.server, ACYCLIC)
    output = _fix_and_restore(restore_case, source, fmt, run_dumpfix, tmp_path)
    assert output == (tmp_path / "in.sql").read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fixture", CYCLIC_FIXTURES)
def test_split_is_lossless_on_real_dumps(dump_case: DumpCase, fixture: str, fmt: str, source_db: SourceDb) -> None:
    source = source_db(dump_case.server, fixture)
    dump = pgharness.data_dump(dump_case.server, source, fmt, dump_case.pg_dump_bin)
    items = list(split(dump))
    assert b"".join(dump[i.start : i.end] for i in items) == dump
    assert all(a.end == b.start for a, b in zip(items, items[1:]))


def test_full_dump_is_its_own_schema_and_comes_out_unchanged(
    restore_case: DumpCase, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    server = restore_case.server
    source = source_db(server, "shop")
    dump = pgharness.pg_dump(server, source, "--no-owner", "--no-privileges", pg_dump_bin=restore_case.pg_dump_bin)
    (tmp_path / "full.sql").write_bytes(dump)
    result = run_dumpfix("full.sql", "-o", "out.sql")
    assert result.returncode == 0, result.stderr.decode()
    assert (tmp_path / "out.sql").read_bytes() == dump


def test_no_schema_source_is_an_error(run_dumpfix, tmp_path: Path) -> None:
    (tmp_path / "in.sql").write_bytes(b"COPY public.t (a) FROM stdin;\n1\n\\.\n")
    result = run_dumpfix("in.sql", "-o", "out.sql")
    assert result.returncode == 2
    assert result.stderr.decode().startswith("dumpfix: error: no schema:")
    assert b"Traceback" not in result.stderr
    assert not (tmp_path / "out.sql").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "in.sql"]


def test_stdin_to_stdout(pg_server, source_db: SourceDb, run_dumpfix, tmp_path: Path) -> None:
    source = source_db(pg_server, "shop")
    dump = pgharness.data_dump(pg_server, source, "copy")
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    piped = run_dumpfix("-", "--schema", "schema.sql", input=dump)
    assert piped.returncode == 0, piped.stderr.decode()
    (tmp_path / "in.sql").write_bytes(dump)
    run_dumpfix("in.sql", "-o", "file.sql", "--schema", "schema.sql")
    assert piped.stdout == (tmp_path / "file.sql").read_bytes()
    target = pgharness.create_target(pg_server, schema)
    (tmp_path / "piped.sql").write_bytes(piped.stdout)
    assert pgharness.restore(target, tmp_path / "piped.sql").returncode == 0
    pgharness.assert_same(pg_server, source, target.dbname)


@pytest.mark.parametrize(
    "extra", [["--load-via-partition-root"], ["--load-via-partition-root", "--inserts"]], ids=["copy", "inserts"]
)
@pytest.mark.parametrize("fixture", ["partitioned", "partitioned_notnull"])
def test_load_via_partition_root(
    restore_case: DumpCase, fixture: str, extra: list[str], source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """COPY/INSERT target the partition root while the comment header names the partition."""
    server = restore_case.server
    source = source_db(server, fixture)
    dump = pgharness.pg_dump(server, source, "--data-only", *extra, pg_dump_bin=restore_case.pg_dump_bin)
    schema = pgharness.schema_dump(server, source)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(schema)
    assert run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql").returncode == 0
    target = pgharness.create_target(server, schema)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(server, source, target.dbname)


@pytest.mark.parametrize("fmt", ["copy", "inserts"])
def test_disable_triggers_blocks_move_with_their_table(
    pg_server, fmt: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """pg_dump --disable-triggers wraps each table in ALTER TABLE ... DISABLE/ENABLE TRIGGER ALL."""
    source = source_db(pg_server, "shop")
    extra = ["--inserts"] if fmt == "inserts" else []
    dump = pgharness.pg_dump(pg_server, source, "--data-only", "--disable-triggers", *extra)
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(schema)
    assert run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql").returncode == 0
    output = (tmp_path / "out.sql").read_bytes()
    # Every DISABLE is still followed by the same table's data and then its ENABLE.
    for table in (b"users", b"categories", b"imgs"):
        disable = output.index(b"ALTER TABLE public.%s DISABLE TRIGGER ALL;" % table)
        data = output.index(b"public.%s " % table, disable + 10)
        enable = output.index(b"ALTER TABLE public.%s ENABLE TRIGGER ALL;" % table)
        assert disable < data < enable
    target = pgharness.create_target(pg_server, schema)
    restored = pgharness.restore(target, tmp_path / "out.sql", user=pg_server.superuser)
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(pg_server, source, target.dbname)


def test_old_dump_with_search_path_and_unqualified_names(
    pg_server, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """pg_dump before 10.3 wrote SET search_path = s, pg_catalog; and unqualified names."""
    source = source_db(pg_server, "shop")
    dump = pgharness.data_dump(pg_server, source, "inserts")
    old = dump.replace(
        b"SELECT pg_catalog.set_config('search_path', '', false);", b"SET search_path = public, pg_catalog;"
    ).replace(b"INSERT INTO public.", b"INSERT INTO ")
    assert b"INSERT INTO public." not in old
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "in.sql").write_bytes(old)
    (tmp_path / "schema.sql").write_bytes(schema)
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", "--explain")
    assert result.returncode == 0, result.stderr.decode()
    assert b"not in the schema" not in result.stderr
    target = pgharness.create_target(pg_server, schema)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(pg_server, source, target.dbname)
