"""Cycles that NULLs cannot break: deferral, owner and superuser strategies, triggers, roles.

Each case restores on a real server as the role in question and compares every table
and sequence with the source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

import pgharness
from dumpfix.plan import MERGE_VALIDATION_ROWS
from dumpfix.statements import VALIDATION_MEMORY
from pgharness import DumpCase, Server, Target

SourceDb = Callable[[Server, str], str]
FORMATS = ["copy", "inserts"]


def _prepare(case: DumpCase, source: str, fmt: str, tmp_path: Path) -> bytes:
    dump = pgharness.data_dump(case.server, source, fmt, case.pg_dump_bin)
    schema = pgharness.schema_dump(case.server, source)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(schema)
    return schema


def _prepare_dangling(server: Server, source_db: SourceDb, tmp_path: Path) -> bytes:
    """in.sql: an INSERT dump of notnull_cycle with one reference to a missing row."""
    case = DumpCase(server, server.bin_dir / "pg_dump", "newest", True)
    schema = _prepare(case, source_db(server, "notnull_cycle"), "inserts", tmp_path)
    dump = (tmp_path / "in.sql").read_bytes()
    dangling = dump.replace(b"INSERT INTO public.staff VALUES (7, 8,", b"INSERT INTO public.staff VALUES (7, 999,")
    assert dangling != dump
    (tmp_path / "in.sql").write_bytes(dangling)
    return schema


def _fix(run_dumpfix, *args: str) -> bytes:
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", *args)
    assert result.returncode == 0, result.stderr.decode()
    return result.stderr


def _plain_user(target: Target) -> str:
    """A role that may INSERT/UPDATE/SELECT the tables and use TEMP, owning nothing."""
    server = target.server
    role = pgharness.create_role(server)
    server.psql(
        target.dbname,
        f"GRANT USAGE ON SCHEMA public TO {role};"
        f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role};"
        f"GRANT SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role};",
    )
    return role


def _restore_and_compare(case: DumpCase, source: str, schema: bytes, tmp_path: Path, as_role: str) -> None:
    target = pgharness.create_target(case.server, schema)
    user = {"owner": target.owner, "superuser": case.server.superuser}.get(as_role) or _plain_user(target)
    result = pgharness.restore(target, tmp_path / "out.sql", user=user)
    assert result.returncode == 0, result.stderr
    pgharness.assert_same(case.server, source, target.dbname)
    # The load also works inside psql --single-transaction (BEGIN inside it only warns).
    again = pgharness.create_target(case.server, schema)
    result = pgharness.restore(
        again,
        tmp_path / "out.sql",
        user=again.owner if as_role == "owner" else user if as_role == "superuser" else _plain_user(again),
        single_transaction=True,
    )
    assert result.returncode == 0, result.stderr
    pgharness.assert_same(case.server, source, again.dbname)


CASES = [
    pytest.param("notnull_cycle", ["--no-bulk"], "owner", b"ALTER CONSTRAINT", id="notnull-owner"),
    pytest.param("deferrable_cycle", ["--no-bulk"], "owner", b"SET CONSTRAINTS ALL DEFERRED", id="deferrable"),
    pytest.param("deferrable_cycle", ["--role", "user"], "user", b"SET CONSTRAINTS ALL DEFERRED", id="deferrable-user"),
    pytest.param("mixed_cycle", ["--no-bulk"], "owner", b"SET CONSTRAINTS ALL DEFERRED", id="mixed"),
    pytest.param("mixed_cycle", ["--role", "user"], "user", b"UPDATE public.teams", id="mixed-user"),
    pytest.param("keyless_cycle", ["--no-bulk"], "owner", b"ALTER CONSTRAINT", id="keyless-owner"),
    pytest.param("trigger_cycle", ["--no-bulk"], "owner", b"ALTER CONSTRAINT", id="triggers-owner"),
    pytest.param(
        "trigger_cycle", ["--strategy", "nulls"], "owner", b"DISABLE TRIGGER parents_touch", id="triggers-nulls"
    ),
    pytest.param(
        "partitioned_notnull",
        ["--no-bulk"],
        "owner",
        b"ALTER TABLE public.offices ALTER CONSTRAINT",
        id="partitioned-owner",
    ),
    pytest.param(
        "notnull_cycle",
        ["--role", "superuser", "--no-bulk"],
        "superuser",
        b"ALTER CONSTRAINT",
        id="notnull-superuser-role",
    ),
    pytest.param(
        "notnull_cycle",
        ["--role", "superuser", "--strategy", "superuser"],
        "superuser",
        b"session_replication_role = replica",
        id="notnull-superuser",
    ),
    pytest.param("shop", ["--role", "user"], "user", b"UPDATE public.users", id="shop-user"),
    pytest.param("shop", ["--wrap", "--no-bulk"], "owner", b"SET CONSTRAINTS ALL DEFERRED", id="shop-wrap"),
    # The default for the owner: every FK off for the load (dropped: no version given).
    *(
        pytest.param(fixture, [], "owner", b"DROP CONSTRAINT", id=f"{fixture}-bulk")
        for fixture in (
            "notnull_cycle",
            "deferrable_cycle",
            "mixed_cycle",
            "keyless_cycle",
            "trigger_cycle",
            "partitioned_notnull",
            "shop",
        )
    ),
    pytest.param(
        "notnull_cycle", ["--role", "superuser"], "superuser", b"DROP CONSTRAINT", id="notnull-superuser-bulk"
    ),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("fixture", "args", "as_role", "marker"), CASES)
def test_strategy_restores_identically(
    restore_case: DumpCase,
    fixture: str,
    args: list[str],
    as_role: str,
    marker: bytes,
    fmt: str,
    source_db: SourceDb,
    run_dumpfix,
    tmp_path: Path,
) -> None:
    source = source_db(restore_case.server, fixture)
    schema = _prepare(restore_case, source, fmt, tmp_path)
    _fix(run_dumpfix, *args)
    output = (tmp_path / "out.sql").read_bytes()
    assert marker in output
    _restore_and_compare(restore_case, source, schema, tmp_path, as_role)
    again = run_dumpfix("out.sql", "-o", "again.sql", "--schema", "schema.sql", *args)
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "again.sql").read_bytes() == output


@pytest.mark.parametrize("fixture", ["notnull_cycle", "mixed_cycle", "deferrable_cycle"])
def test_check_passes_on_a_fixed_dump_that_runs_in_a_transaction(
    pg_server: Server, fixture: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """Owner and defer strategies wrap the load in BEGIN ... COMMIT: on dumpfix's own
    output the head and tail would be written again as they are, so --check passes and
    --in-place leaves the file alone."""
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    _prepare(case, source_db(pg_server, fixture), "copy", tmp_path)
    _fix(run_dumpfix)
    output = (tmp_path / "out.sql").read_bytes()
    assert b"\nBEGIN;" in output
    check = run_dumpfix("--check", "out.sql", "--schema", "schema.sql")
    assert check.returncode == 0, check.stderr.decode()
    in_place = run_dumpfix("--in-place", "out.sql", "--schema", "schema.sql")
    assert in_place.returncode == 0, in_place.stderr.decode()
    assert (tmp_path / "out.sql").read_bytes() == output
    # A rerun that would write another head is still a change.
    other = run_dumpfix(
        "--check", "out.sql", "--schema", "schema.sql", "--role", "superuser", "--strategy", "superuser"
    )
    assert other.returncode == 1


def test_owner_strategy_restores_the_constraints_exactly(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    source = source_db(pg_server, "mixed_cycle")
    schema = _prepare(case, source, "inserts", tmp_path)
    _fix(run_dumpfix, "--strategy", "owner")
    target = pgharness.create_target(pg_server, schema)
    query = "SELECT conname, condeferrable, condeferred FROM pg_constraint WHERE contype = 'f' ORDER BY 1"
    before = pg_server.psql(target.dbname, query)
    assert pgharness.restore(target, tmp_path / "out.sql").returncode == 0
    assert pg_server.psql(target.dbname, query) == before
    pgharness.assert_same(pg_server, source, target.dbname)


@pytest.mark.parametrize("fixture", ["notnull_cycle", "keyless_cycle", "trigger_cycle"])
def test_role_user_refuses_what_needs_more(
    pg_server: Server, fixture: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    _prepare(case, source_db(pg_server, fixture), "copy", tmp_path)
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", "--role", "user")
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dumpfix: error: cannot load the FK cycle public.")
    assert "--role owner" in lines[0]
    assert not (tmp_path / "out.sql").exists()


def test_superuser_orphan_check_fails_the_restore(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    schema = _prepare_dangling(pg_server, source_db, tmp_path)
    _fix(run_dumpfix, "--role", "superuser", "--strategy", "superuser")
    target = pgharness.create_target(pg_server, schema)
    result = pgharness.restore(target, tmp_path / "out.sql", user=pg_server.superuser)
    assert result.returncode != 0
    assert "dumpfix: rows of public.staff point at missing rows of public.store" in result.stderr
    counts = pg_server.psql(target.dbname, "SELECT (SELECT count(*) FROM staff) + (SELECT count(*) FROM store)")
    assert counts.strip() == "0"


def test_explain_names_strategy_and_privileges(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    _prepare(case, source_db(pg_server, "mixed_cycle"), "copy", tmp_path)
    stderr = _fix(run_dumpfix, "--explain", "--no-bulk").decode()
    assert "cycle: public.accounts <-> public.ledgers" in stderr
    assert "defer: checked at COMMIT (FK accounts_main_ledger_id_fkey" in stderr
    assert (
        "nulls: load public.teams(lead_id) as NULL (staged: a temporary table, then INSERT ... SELECT), then UPDATE 5 rows"
        in stderr
    )
    assert "restoring needs: INSERT on the tables; UPDATE and SELECT" in stderr
    head = (tmp_path / "out.sql").read_bytes()
    assert b"-- dumpfix: before the data: FK cycles:" in head


def _restore_keeping_constraints(server: Server, source: str, schema: bytes, tmp_path: Path) -> None:
    """Restore out.sql as the owner: identical rows, and every FK as it was before."""
    target = pgharness.create_target(server, schema)
    query = "SELECT conname, conenforced, convalidated, condeferrable FROM pg_constraint WHERE contype = 'f' ORDER BY 1"
    before = server.psql(target.dbname, query)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    assert server.psql(target.dbname, query) == before
    pgharness.assert_same(server, source, target.dbname)


@pytest.mark.parametrize("fixture", ["notnull_cycle", "partitioned_notnull", "keyless_cycle"])
def test_owner_strategy_on_18_uses_not_enforced(
    pg_server: Server, fixture: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """On 18+, NOT ENFORCED for the load and ENFORCED after: one validating query per FK."""
    assert pg_server.version >= 18
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    source = source_db(pg_server, fixture)
    schema = _prepare(case, source, "inserts", tmp_path)
    _fix(run_dumpfix, "--target-version", str(pg_server.version))
    output = (tmp_path / "out.sql").read_bytes()
    assert b" NOT ENFORCED;" in output and b" ENFORCED;\n" in output
    _restore_keeping_constraints(pg_server, source, schema, tmp_path)


@pytest.mark.parametrize(("setting", "during"), [("64MB", "256MB"), ("1GB", "1GB")])
def test_validation_memory_is_raised_for_the_transaction_only(pg_server: Server, setting: str, during: str) -> None:
    """The statement before ENFORCED raises maintenance_work_mem (the anti-join's
    work_mem) for the load's transaction, never lowers it, and leaves the session as it was."""
    db = pgharness.create_database(pg_server)
    shown = pg_server.psql(
        db,
        f"SET maintenance_work_mem = '{setting}';\nBEGIN;\n{VALIDATION_MEMORY}\n"
        "SHOW maintenance_work_mem;\nCOMMIT;\nSHOW maintenance_work_mem;\n",
    )
    assert shown.split() == [during, setting]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fixture", ["shop", "notnull_cycle", "partitioned_notnull", "trigger_cycle", "selfref"])
def test_bulk_load_on_18(
    pg_server: Server, fixture: str, fmt: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """--bulk: every FK NOT ENFORCED for the load, in the dump's own order, then ENFORCED."""
    assert pg_server.version >= 18
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    source = source_db(pg_server, fixture)
    schema = _prepare(case, source, fmt, tmp_path)
    args = ["--bulk", "--target-version", str(pg_server.version)]
    _fix(run_dumpfix, *args)
    output = (tmp_path / "out.sql").read_bytes()
    assert b"UPDATE " not in output  # nothing loaded as NULL: no FK is checked during the load
    _restore_keeping_constraints(pg_server, source, schema, tmp_path)
    again = run_dumpfix("out.sql", "-o", "again.sql", "--schema", "schema.sql", *args)
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "again.sql").read_bytes() == output


def test_bulk_load_validates_what_it_loaded(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """A dangling reference fails ENFORCED, and the whole load rolls back."""
    schema = _prepare_dangling(pg_server, source_db, tmp_path)
    _fix(run_dumpfix, "--bulk", "--target-version", str(pg_server.version))
    target = pgharness.create_target(pg_server, schema)
    result = pgharness.restore(target, tmp_path / "out.sql")
    assert result.returncode != 0
    assert "violates foreign key constraint" in result.stderr
    counts = pg_server.psql(target.dbname, "SELECT (SELECT count(*) FROM staff) + (SELECT count(*) FROM store)")
    assert counts.strip() == "0"


#: accounts is over MERGE_VALIDATION_ROWS and references itself; kinds is small.
LARGE_REFERENCED = f"""
CREATE TABLE kinds (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE accounts (id bigint PRIMARY KEY, parent_id bigint REFERENCES accounts);
CREATE TABLE events (
    id bigint PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts,
    kind_id integer REFERENCES kinds
);
INSERT INTO kinds SELECT i, 'kind ' || i FROM generate_series(1, 10) AS i;
INSERT INTO accounts SELECT i, NULLIF(i / 2, 0) FROM generate_series(1::bigint, {MERGE_VALIDATION_ROWS + 20_000}) AS i;
INSERT INTO events SELECT i, 1 + (i * 7919) % {MERGE_VALIDATION_ROWS}, NULLIF(i % 11, 0)
FROM generate_series(1::bigint, 30000) AS i;
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_fks_to_large_tables_are_validated_by_merge_join(
    pg_server: Server, fmt: str, run_dumpfix, tmp_path: Path
) -> None:
    """FKs to a table of over MERGE_VALIDATION_ROWS rows are validated last, with hash
    joins off for the rest of the transaction only; the others as the planner likes."""
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    source = pgharness.create_database(pg_server, LARGE_REFERENCED)
    schema = _prepare(case, source, fmt, tmp_path)
    _fix(run_dumpfix, "--bulk", "--target-version", str(pg_server.version))
    output = (tmp_path / "out.sql").read_bytes()
    tail = output[output.index(b"-- dumpfix: after the data\n") : output.index(b"-- dumpfix: end\n-- dumpfix: commit")]
    tail = tail.decode()
    assert tail.splitlines()[3:] == [
        "ALTER TABLE public.events ALTER CONSTRAINT events_kind_id_fkey ENFORCED;",
        "SET LOCAL enable_hashjoin = off;",
        "ALTER TABLE public.accounts ALTER CONSTRAINT accounts_parent_id_fkey ENFORCED;",
        "ALTER TABLE public.events ALTER CONSTRAINT events_account_id_fkey ENFORCED;",
    ]
    if fmt == "copy":  # 270,000 INSERT statements take long to load and prove nothing more
        _restore_keeping_constraints(pg_server, source, schema, tmp_path)
        target = pgharness.create_target(pg_server, schema)
        shown = pg_server.psql(target.dbname, f"\\i {tmp_path / 'out.sql'}\nSHOW enable_hashjoin;", user=target.owner)
        assert shown.split()[-1] == "on"


def test_merge_join_validation_finds_a_dangling_reference(pg_server: Server, run_dumpfix, tmp_path: Path) -> None:
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    source = pgharness.create_database(pg_server, LARGE_REFERENCED)
    schema = _prepare(case, source, "copy", tmp_path)
    dump = (tmp_path / "in.sql").read_bytes()
    dangling = re.sub(rb"\n30000\t\d+\t", b"\n30000\t999999999\t", dump, count=1)  # events: 3 columns
    assert dangling != dump
    (tmp_path / "in.sql").write_bytes(dangling)
    _fix(run_dumpfix, "--bulk", "--target-version", str(pg_server.version))
    assert b"SET LOCAL enable_hashjoin = off;" in (tmp_path / "out.sql").read_bytes()
    target = pgharness.create_target(pg_server, schema)
    result = pgharness.restore(target, tmp_path / "out.sql")
    assert result.returncode != 0
    assert 'violates foreign key constraint "events_account_id_fkey"' in result.stderr
    assert pg_server.psql(target.dbname, "SELECT count(*) FROM events").strip() == "0"


# Each FK as the server describes it: definition, comment, whether rows were checked.
_FK_SHAPES = (
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), "
    "obj_description(oid, 'pg_constraint'), convalidated FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2"
)


def _fk_variety_source(server: Server) -> str:
    """fk_variety, plus a row its NOT VALID FK never checked (added NOT VALID after the
    row) and, from PostgreSQL 15 on, an FK setting only some of its columns NULL."""
    sql = pgharness.fixture_sql("fk_variety") + (
        "ALTER TABLE marks DROP CONSTRAINT marks_loose_fk;\n"
        "INSERT INTO marks VALUES (201, NULL, NULL, 999);\n"
        "ALTER TABLE marks ADD CONSTRAINT marks_loose_fk FOREIGN KEY (loose) REFERENCES parent (id) NOT VALID;\n"
    )
    if server.version >= 15:
        sql += (
            'ALTER TABLE "Child Table" ADD CONSTRAINT "both keys, again" FOREIGN KEY (parent_id, parent_code) '
            "REFERENCES parent (id, code) ON DELETE SET NULL (parent_code);\n"
        )
    return pgharness.create_database(server, sql)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("catalog_from", "version"),
    [("schema", ["--target-version", "15"]), ("dsn", ["--target-version", "15"]), ("schema", [])],
    ids=["schema-15", "dsn-15", "schema-no-version"],
)
def test_bulk_before_18_drops_and_adds_every_fk_back(
    pg_pool, catalog_from: str, version: list[str], fmt: str, run_dumpfix, tmp_path: Path
) -> None:
    """--bulk where NOT ENFORCED is not known to exist: every FK dropped for the load
    and added again, each exactly as it was (actions, MATCH FULL, deferrability, NOT
    VALID with a row it never checked, on and to a partitioned table, its comment).
    On PostgreSQL 15 where the machine has it, else on the server there is (dropping
    and adding works on every version)."""
    server = pg_pool.get(15) if 15 in pg_pool.server_majors() else pg_pool.newest()
    source = _fk_variety_source(server)
    schema = _prepare(DumpCase(server, server.bin_dir / "pg_dump", "newest", True), source, fmt, tmp_path)
    target = pgharness.create_target(server, schema)
    before = server.psql(target.dbname, _FK_SHAPES)
    assert "NOT VALID" in before and "it's composite" in before
    assert ("SET NULL (parent_code)" in before) == (server.version >= 15)
    where = ["--dsn", server.dsn(target.dbname, target.owner)] if catalog_from == "dsn" else ["--schema", "schema.sql"]
    result = run_dumpfix("in.sql", "-o", "out.sql", "--bulk", *where, *version)
    assert result.returncode == 0, result.stderr.decode()
    output = (tmp_path / "out.sql").read_bytes()
    fks = 8 if server.version >= 15 else 7
    assert output.count(b" DROP CONSTRAINT ") == fks and output.count(b" ADD CONSTRAINT ") == fks
    assert output.count(b"COMMENT ON CONSTRAINT ") == 2 and b"ENFORCED" not in output
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    assert server.psql(target.dbname, _FK_SHAPES) == before
    pgharness.assert_same(server, source, target.dbname)
    again = run_dumpfix("out.sql", "-o", "again.sql", "--bulk", *where, *version)
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "again.sql").read_bytes() == output


_FK_TRIGGERS = (
    "SELECT c.conrelid::regclass::text, c.conname, c.condeferrable, c.condeferred, c.conenforced, "
    "string_agg(t.tgdeferrable::text || '/' || t.tginitdeferred::text, ',' ORDER BY t.tgname) "
    "FROM pg_constraint c JOIN pg_trigger t ON t.tgconstraint = c.oid WHERE c.contype = 'f' "
    "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2"
)


@pytest.mark.parametrize("fmt", ["copy", "inserts"])
@pytest.mark.parametrize(
    ("version", "dropped"),
    [
        (["--target-version", "18"], True),
        (["--target-version", "18.3"], True),
        (["--target-version", "18.4"], False),
        ("dsn", False),
    ],
    ids=["18", "18.3", "18.4", "dsn"],
)
@pytest.mark.pg_pair(18, 18)
def test_bulk_on_18_keeps_every_fk_as_it_was(
    pg_pool, version: list[str] | str, dropped: bool, fmt: str, run_dumpfix, tmp_path: Path
) -> None:
    """PostgreSQL 18.0 to 18.3 lose a DEFERRABLE FK's deferrability through NOT ENFORCED
    and back: where the minor is unknown or older, --bulk drops and adds such FKs
    instead, and NOT ENFORCED only the others; from 18.4 (or a --dsn server that is)
    all go NOT ENFORCED. Afterwards every FK's definition, validity, comment and its
    triggers' deferrability (pg_trigger) are the source's."""
    server = pg_pool.get(18)
    number = int(server.psql(server.maintenance_db, "SHOW server_version_num").strip())
    assert number >= 180004  # the embedded server: the round trip itself is safe there
    source = _fk_variety_source(server)
    schema = _prepare(DumpCase(server, server.bin_dir / "pg_dump", "newest", True), source, fmt, tmp_path)
    target = pgharness.create_target(server, schema)
    shapes, triggers = server.psql(target.dbname, _FK_SHAPES), server.psql(target.dbname, _FK_TRIGGERS)
    own = "contype = 'f' AND conparentid = 0"  # not the copies partitions inherit
    deferrable = int(server.psql(target.dbname, f"SELECT count(*) FROM pg_constraint WHERE {own} AND condeferrable"))
    # A NOT VALID FK goes back NOT VALID: ENFORCED would check the row it never checked.
    unchecked = int(server.psql(target.dbname, f"SELECT count(*) FROM pg_constraint WHERE {own} AND NOT convalidated"))
    fks = int(server.psql(target.dbname, f"SELECT count(*) FROM pg_constraint WHERE {own}"))
    assert deferrable >= 2
    args = (
        ["--dsn", server.dsn(target.dbname, target.owner)] if version == "dsn" else ["--schema", "schema.sql", *version]
    )
    result = run_dumpfix("in.sql", "-o", "out.sql", "--bulk", *args)
    assert result.returncode == 0, result.stderr.decode()
    output = (tmp_path / "out.sql").read_bytes()
    expected_drops = (deferrable if dropped else 0) + unchecked
    assert output.count(b" DROP CONSTRAINT ") == expected_drops
    assert output.count(b" NOT ENFORCED;") == fks - expected_drops
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    assert server.psql(target.dbname, _FK_SHAPES) == shapes
    assert server.psql(target.dbname, _FK_TRIGGERS) == triggers
    pgharness.assert_same(server, source, target.dbname)


def test_bulk_before_18_validates_what_it_loaded(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """A dangling reference fails ADD CONSTRAINT; the whole load rolls back, the FKs
    it dropped included."""
    schema = _prepare_dangling(pg_server, source_db, tmp_path)
    _fix(run_dumpfix, "--bulk")
    assert b" DROP CONSTRAINT " in (tmp_path / "out.sql").read_bytes()
    target = pgharness.create_target(pg_server, schema)
    before = pg_server.psql(target.dbname, _FK_SHAPES)
    result = pgharness.restore(target, tmp_path / "out.sql")
    assert result.returncode != 0
    assert 'violates foreign key constraint "staff_store_id_fkey"' in result.stderr
    assert pg_server.psql(target.dbname, _FK_SHAPES) == before
    assert pg_server.psql(target.dbname, "SELECT count(*) FROM staff").strip() == "0"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--bulk", "--target-version", "18", "--role", "user"], "--bulk alters constraints")],
    ids=["plain-user"],
)
def test_bulk_refusals(
    pg_server: Server, args: list[str], message: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    _prepare(case, source_db(pg_server, "shop"), "copy", tmp_path)
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", *args)
    assert result.returncode == 2
    assert message in result.stderr.decode()
    assert not (tmp_path / "out.sql").exists()


@pytest.mark.pg_pair(18, 18)
def test_owner_strategy_on_18_keeps_a_not_valid_fk_unvalidated(pg_pool, run_dumpfix, tmp_path: Path) -> None:
    """A NOT VALID FK cut by the owner strategy on 18 is made DEFERRABLE for the load,
    not NOT ENFORCED: ENFORCED would validate it, and the restored FK would no longer
    be the source's (convalidated true, where a later row might have been meant to
    stay unchecked)."""
    server = pg_pool.get(18)
    sql = (
        "CREATE TABLE a (id int PRIMARY KEY, b_id int NOT NULL);\n"
        "CREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES a);\n"
        "ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b DEFERRABLE;\n"
        "BEGIN; SET CONSTRAINTS a_b_fk DEFERRED;\n"
        "INSERT INTO a VALUES (1, 2), (2, 1); INSERT INTO b VALUES (1, 2), (2, 1);\n"
        "COMMIT;\n"
        "ALTER TABLE a DROP CONSTRAINT a_b_fk;\n"
        "ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b NOT VALID;\n"
    )
    source = pgharness.create_database(server, sql)
    schema = pgharness.schema_dump(server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    (tmp_path / "in.sql").write_bytes(pgharness.data_dump(server, source, "copy"))
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", "--target-version", "18", "--no-bulk")
    assert result.returncode == 0, result.stderr.decode()
    output = (tmp_path / "out.sql").read_bytes()
    assert b"ALTER CONSTRAINT a_b_fk DEFERRABLE INITIALLY DEFERRED;" in output  # the cut one
    assert b"a_b_fk NOT ENFORCED" not in output
    target = pgharness.create_target(server, schema)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(server, source, target.dbname)
    shape = server.psql(target.dbname, "SELECT convalidated, condeferrable FROM pg_constraint WHERE conname = 'a_b_fk'")
    assert shape.strip() == "f|f"
