"""What dumpfix writes never lets a name or a value become SQL or a psql meta-command.

tests/fixtures/input/hostile.sql has a cycle whose schema, table, column,
constraint and trigger names carry quotes, semicolons, backslashes, a newline,
dollar quotes and non-ASCII, and whose text keys and FK values carry \\! meta-
commands, \\N, \\., tabs, CR/LF: they pass through every statement dumpfix
generates (temporary tables, COPY/INSERT into them, UPDATE, ALTER CONSTRAINT,
DISABLE TRIGGER, the superuser orphan check). Each output is restored on a real
server and compared; the harness fails any test after which the canary file
exists (a \\! escaped its literal).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import pgharness
from dumpfix.dumpfile import Kind, split
from pgharness import DumpCase, Server

SourceDb = Callable[[Server, str], str]
FORMATS = ["copy", "inserts", "column-inserts", "rows-per-insert"]
STRATEGIES = [
    # The default: every FK dropped for the load (no version given) and added back.
    pytest.param([], "owner", b'DROP CONSTRAINT "fk ""one""; \\! touch', id="default"),
    # Row by row, the UPDATE trigger keeps the FK away from nulls: ALTER CONSTRAINT (or NOT ENFORCED on 18).
    pytest.param(["--no-bulk"], "owner", b'ALTER CONSTRAINT "fk ""one""; \\! touch', id="no-bulk"),
    pytest.param(["--strategy", "nulls"], "owner", b'DISABLE TRIGGER "trg ""x""; \\! touch', id="nulls"),
    pytest.param(["--strategy", "owner"], "owner", b'ALTER CONSTRAINT "fk ""one""; \\! touch', id="owner"),
    pytest.param(
        ["--role", "superuser", "--strategy", "superuser"],
        "superuser",
        b"session_replication_role = replica",
        id="superuser",
    ),
]


def _fix(run_dumpfix, args: list[str]) -> bytes:
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", *args)
    assert result.returncode == 0, result.stderr.decode()
    return result.stderr


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("args", "as_role", "marker"), STRATEGIES)
def test_hostile_names_and_values_restore_exactly(
    restore_case: DumpCase,
    source_db: SourceDb,
    run_dumpfix,
    tmp_path: Path,
    fmt: str,
    args: list[str],
    as_role: str,
    marker: bytes,
) -> None:
    server = restore_case.server
    source = source_db(server, "input/hostile")
    dump = pgharness.data_dump(server, source, fmt, restore_case.pg_dump_bin)
    schema = pgharness.schema_dump(server, source)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(schema)
    _fix(run_dumpfix, args)
    out = (tmp_path / "out.sql").read_bytes()
    assert marker in out
    assert_restrict_pairs_enclose_everything(dump, out)
    target = pgharness.create_target(server, schema)
    user = server.superuser if as_role == "superuser" else target.owner
    result = pgharness.restore(target, tmp_path / "out.sql", user=user)
    assert result.returncode == 0, result.stderr
    pgharness.assert_same(server, source, target.dbname)
    # The constraints and triggers dumpfix touched are back as they were.
    query = (
        "SELECT conname, condeferrable, condeferred, convalidated FROM pg_constraint WHERE contype = 'f' "
        "UNION ALL SELECT tgname, tgenabled = 'O', false, true FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1"
    )
    assert server.psql(target.dbname, query) == server.psql(source, query)


def test_orphan_check_names_hostile_tables_literally(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """The superuser check's error message quotes the names as data, not SQL."""
    source = source_db(pg_server, "input/hostile")
    dump = pgharness.data_dump(pg_server, source, "copy")
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(pg_server, source))
    # Point one row at a key that does not exist.
    broken = dump.replace(b"\\N #3\t\\N\t\\\\N\n", b"\\N #3\tmissing key\t\\\\N\n")
    assert broken != dump
    (tmp_path / "in.sql").write_bytes(broken)
    _fix(run_dumpfix, ["--role", "superuser", "--strategy", "superuser"])
    target = pgharness.create_target(pg_server, (tmp_path / "schema.sql").read_bytes())
    result = pgharness.restore(target, tmp_path / "out.sql", user=pg_server.superuser)
    assert result.returncode != 0
    assert 'dumpfix: rows of "we""ird; schema\\"."ta ble""; DROP TABLE x; --" point at missing rows' in result.stderr


def assert_restrict_pairs_enclose_everything(dump: bytes, out: bytes) -> None:
    """\\restrict KEY opens the output and \\unrestrict KEY closes it, as in the input;
    between them there is no other meta-command, so all dumpfix added is plain SQL."""

    def metas(data: bytes) -> list[tuple[int, int, bytes]]:
        return [(i.start, i.end, bytes(data[i.start : i.end]).strip()) for i in split(data) if i.kind is Kind.META]

    before, after = metas(dump), metas(out)
    assert [m[2] for m in after] == [m[2] for m in before]
    assert len(after) == 2 and after[0][2].startswith(b"\\restrict ") and after[1][2].startswith(b"\\unrestrict ")
    assert after[0][2].split()[1] == after[1][2].split()[1]
    head, tail = out[: after[0][0]], out[after[1][1] :]
    assert head == dump[: before[0][0]] and tail == dump[before[1][1] :]
    assert b"dumpfix" not in head + tail
    if b"dumpfix" in out:
        assert after[0][1] < out.index(b"dumpfix") and out.rindex(b"dumpfix") < after[1][0]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fixture", ["shop", "awkward_values", "identifiers", "notnull_cycle", "trigger_cycle"])
def test_restrict_pairs_stay_around_all_data(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path, fixture: str, fmt: str
) -> None:
    source = source_db(pg_server, fixture)
    dump = pgharness.data_dump(pg_server, source, fmt)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(pg_server, source))
    _fix(run_dumpfix, [])
    out = (tmp_path / "out.sql").read_bytes()
    assert out != dump
    assert_restrict_pairs_enclose_everything(dump, out)


HOSTILE_COMMENTS = [
    "C:\\dir x\\'; CREATE TABLE public.pwned(); --",
    "\\'; CREATE TABLE public.pwned(); --",
    "ends in a backslash \\",
    "it's \\\\ two and \\n not a newline; $$ \\! touch @CANARY@",
]


@pytest.mark.parametrize("catalog_from", ["schema-scs-on", "schema-scs-off", "dsn"])
def test_literals_mean_the_same_without_standard_conforming_strings(
    pg_pool, run_dumpfix, tmp_path: Path, catalog_from: str
) -> None:
    """A dump that sets standard_conforming_strings = off (pg_dump of a server set so):
    the FK comments --bulk re-emits after adding each FK back (before PostgreSQL 18)
    come back exactly, and none of them turns into SQL. The comments come from a schema
    file dumped with the setting on or off (its plain literals then hold escapes), or
    from the database."""
    server = pg_pool.get(15) if 15 in pg_pool.server_majors() else pg_pool.newest()
    canary = str(pgharness.CANARY_PATH)
    sql = (
        "CREATE TABLE a (id int PRIMARY KEY, b_id int);\nCREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);\n"
    )
    sql += "ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b;\n"
    sql += "INSERT INTO a VALUES (1, NULL); INSERT INTO b VALUES (1, 1); UPDATE a SET b_id = 1;\n"
    for i, text in enumerate(HOSTILE_COMMENTS):
        sql += f"ALTER TABLE b ADD CONSTRAINT fk{i} FOREIGN KEY (a_id) REFERENCES a;\n"
        literal = "E'" + text.replace("@CANARY@", canary).replace("\\", "\\\\").replace("'", "''") + "'"
        sql += f"COMMENT ON CONSTRAINT fk{i} ON b IS {literal};\n"
    source = pgharness.create_database(server, sql)
    env = server.env() | {"PGOPTIONS": "-c standard_conforming_strings=off"}
    dump = pgharness.run_checked([str(server.bin_dir / "pg_dump"), "--data-only", "--dbname", source], env=env)
    assert b"SET standard_conforming_strings = off;" in dump
    (tmp_path / "in.sql").write_bytes(dump)
    schema_env = env if catalog_from == "schema-scs-off" else server.env()
    schema = pgharness.run_checked(
        [str(server.bin_dir / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges", "--dbname", source],
        env=schema_env,
    )
    assert (b"SET standard_conforming_strings = off;" in schema) == (catalog_from == "schema-scs-off")
    (tmp_path / "schema.sql").write_bytes(schema)
    target = pgharness.create_target(server, schema)
    where = ["--dsn", server.dsn(target.dbname, target.owner)] if catalog_from == "dsn" else ["--schema", "schema.sql"]
    result = run_dumpfix("in.sql", "-o", "out.sql", *where, "--bulk", "--target-version", "15")
    assert result.returncode == 0, result.stderr.decode()
    out = (tmp_path / "out.sql").read_bytes()
    assert out.count(b"COMMENT ON CONSTRAINT") == len(HOSTILE_COMMENTS)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(server, source, target.dbname)
    comments = "SELECT conname, md5(obj_description(oid, 'pg_constraint')) FROM pg_constraint ORDER BY 1"
    assert server.psql(target.dbname, comments) == server.psql(source, comments)
    assert server.psql(target.dbname, "SELECT to_regclass('public.pwned') IS NULL") == "t\n"
