"""--dsn: the catalog and the role's capabilities read from a live database.

The promise is that --dsn and --schema agree: the catalog read from a database
equals the one the SQL loader builds from pg_dump --schema-only of the same
database, and dumpfix's output is byte for byte the same either way. The
database the catalog is read from is the restore target, and the output is
restored into it as the role the DSN names.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pgharness
from conftest import REPO_ROOT
from dumpfix.catalog import Catalog
from dumpfix.errors import DumpfixError
from dumpfix.fix import analyse, write
from dumpfix.live import inspect, load_catalog, role_capabilities, server_version
from dumpfix.plan import Role, Settings
from dumpfix.schema import load_schema
from pgharness import DumpCase, Server, Target

SourceDb = Callable[[Server, str], str]
FORMATS = list(pgharness.DUMP_FORMATS)
SCHEMA_FIXTURES = pgharness.FIXTURES_DIR / "schema"

# What rich_source.sql lacks: keys and triggers on partitioned tables (cloned to
# partitions), partitions attached and detached, unique indexes that can and cannot
# be keys, REPLICA and ALWAYS triggers, a statement trigger, dropped columns, an
# unlogged table, plain inheritance, and an FK to a partitioned table's UNIQUE key.
EXTRA_SQL = """
CREATE TABLE public.measures (
    id integer NOT NULL, at date NOT NULL, code text NOT NULL, note text, alt integer,
    CONSTRAINT measures_pk PRIMARY KEY (id, at),
    CONSTRAINT measures_code_uq UNIQUE (code, at)
) PARTITION BY RANGE (at);
CREATE UNIQUE INDEX measures_alt_idx ON public.measures (alt, at);
CREATE TABLE public.measures_2024 PARTITION OF public.measures
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.measures_old (LIKE public.measures);
ALTER TABLE public.measures ATTACH PARTITION public.measures_old
    FOR VALUES FROM ('2000-01-01') TO ('2024-01-01');
CREATE TABLE public.measures_gone PARTITION OF public.measures
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
ALTER TABLE public.measures DETACH PARTITION public.measures_gone;
CREATE FUNCTION public.noop2() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER measures_row BEFORE UPDATE ON public.measures
    FOR EACH ROW EXECUTE FUNCTION public.noop2();
CREATE TRIGGER measures_stmt AFTER UPDATE ON public.measures
    FOR EACH STATEMENT EXECUTE FUNCTION public.noop2();
CREATE TRIGGER a_measures_own AFTER INSERT ON public.measures_2024
    FOR EACH ROW EXECUTE FUNCTION public.noop2();
CREATE TABLE public.refs (
    id integer PRIMARY KEY, m_id integer, m_at date, m_code text, ex text NOT NULL, sub text,
    FOREIGN KEY (m_id, m_at) REFERENCES public.measures,
    CONSTRAINT refs_code_fk FOREIGN KEY (m_code, m_at) REFERENCES public.measures (code, at) DEFERRABLE
);
CREATE UNIQUE INDEX refs_ex_incl ON public.refs (ex) INCLUDE (sub);
CREATE UNIQUE INDEX refs_partial ON public.refs (sub) WHERE sub IS NOT NULL;
CREATE UNIQUE INDEX refs_expr ON public.refs (lower(sub));
CREATE TRIGGER refs_replica AFTER UPDATE ON public.refs FOR EACH ROW EXECUTE FUNCTION public.noop2();
ALTER TABLE public.refs ENABLE REPLICA TRIGGER refs_replica;
CREATE TRIGGER refs_always BEFORE UPDATE ON public.refs FOR EACH ROW EXECUTE FUNCTION public.noop2();
ALTER TABLE public.refs ENABLE ALWAYS TRIGGER refs_always;
CREATE UNLOGGED TABLE public.scratch (id integer PRIMARY KEY, refs_id integer REFERENCES public.refs);
ALTER TABLE public.scratch DROP COLUMN refs_id;
ALTER TABLE public.scratch ADD COLUMN later integer;
CREATE TABLE public.kid (extra integer) INHERITS (public.tickets);
"""


def shape(catalog: Catalog) -> dict[str, set[tuple[Any, ...]]]:
    """The catalog as sets of comparable tuples, so that a mismatch names what differs."""
    tables = catalog.tables.values()
    return {
        "tables": {(t.name, t.parent, t.partitioned, t.primary_key) for t in tables},
        "columns": {
            (t.name, i, c.name, c.not_null, c.generated, c.identity_always)
            for t in tables
            for i, c in enumerate(t.columns.values())
        },
        "unique keys": {(t.name, key) for t in tables for key in t.unique_keys},
        "foreign keys": {
            (
                fk.table,
                fk.name,
                fk.columns,
                fk.ref_table,
                fk.ref_columns,
                fk.deferrable,
                fk.initially_deferred,
                fk.match_full,
                fk.enforced,
            )
            for fk in catalog.foreign_keys
        },
        "triggers": {
            (t.name, tr.name, tr.table, tr.on_update, tr.on_insert, tr.enabled) for t in tables for tr in t.triggers
        },
    }


def assert_same_catalog(live: Catalog, loaded: Catalog) -> None:
    live_shape, loaded_shape = shape(live), shape(loaded)
    for part in live_shape:
        assert live_shape[part] == loaded_shape[part], (
            f"{part}: only from --dsn {live_shape[part] - loaded_shape[part]}; "
            f"only from --schema {loaded_shape[part] - live_shape[part]}"
        )
    # Orders too (FKs, unique keys, triggers, columns): they decide ties in the plan.
    assert live == loaded


def owner_dsn(target: Target) -> str:
    return target.server.dsn(target.dbname, target.owner)


def plain_user(target: Target) -> str:
    """A role that may INSERT/UPDATE/SELECT every table and use TEMP, owning nothing."""
    server = target.server
    name = pgharness.create_role(server)
    role = pgharness.quote_ident(name)
    schemas = server.psql(
        target.dbname,
        "SELECT string_agg(quote_ident(nspname), ', ') FROM pg_namespace "
        "WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'",
    ).strip()
    server.psql(
        target.dbname,
        f"GRANT USAGE ON SCHEMA {schemas} TO {role};"
        f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA {schemas} TO {role};"
        f"GRANT SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schemas} TO {role};"
        f"GRANT TEMP ON DATABASE {pgharness.quote_ident(target.dbname)} TO {role};",
    )
    return name


@pytest.mark.parametrize("fixture", pgharness.fixture_names())
def test_dsn_and_schema_agree_and_restore(
    restore_case: DumpCase, fixture: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """Same catalog, byte-identical output on every dump format, and the output restores.

    With no owner-strategy cycle the server version changes nothing, and the
    command lines themselves must agree too (but for pg_dump 17+'s
    transaction_timeout, which a version-less output sets only where it exists).
    """
    server = restore_case.server
    source = source_db(server, fixture)
    schema = pgharness.schema_dump(server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    loaded = load_schema([tmp_path / "schema.sql"])
    for fmt in FORMATS:
        target = pgharness.create_target(server, schema)
        if fmt == FORMATS[0]:
            assert_same_catalog(load_catalog(owner_dsn(target)), loaded)
        (tmp_path / "in.sql").write_bytes(pgharness.data_dump(server, source, fmt, restore_case.pg_dump_bin))
        by_dsn = run_dumpfix("in.sql", "-o", "dsn.sql", "--dsn", owner_dsn(target))
        assert by_dsn.returncode == 0, by_dsn.stderr.decode()
        # --dsn also tells the server's version (PostgreSQL 18's owner strategy differs):
        # --schema with the same settings must give the same bytes.
        num = int(server.psql(server.maintenance_db, "SHOW server_version_num").strip())
        settings = Settings(Role.OWNER, target_version=server.version, target_minor=num % 10000)
        by_schema = io.BytesIO()
        write(analyse((tmp_path / "in.sql").read_bytes(), [tmp_path / "schema.sql"], settings=settings), by_schema)
        assert (tmp_path / "dsn.sql").read_bytes() == by_schema.getvalue(), fmt
        if b"ALTER CONSTRAINT" not in by_schema.getvalue():
            by_cli = run_dumpfix("in.sql", "-o", "schema_out.sql", "--schema", "schema.sql")
            assert by_cli.returncode == 0, by_cli.stderr.decode()
            # but for the settings a version-less output sets only where the server knows them
            portable = (
                b"SELECT pg_catalog.set_config(name, '0', false) FROM pg_catalog.pg_settings "
                b"WHERE name = 'transaction_timeout';"
            )
            by_cli_out = (tmp_path / "schema_out.sql").read_bytes()
            assert by_cli_out.replace(portable, b"SET transaction_timeout = 0;") == by_schema.getvalue(), fmt
        restored = pgharness.restore(target, tmp_path / "dsn.sql")
        assert restored.returncode == 0, f"{fmt}: {restored.stderr}"
        pgharness.assert_same(server, source, target.dbname)


def test_rich_schema_catalog_matches(restore_case: DumpCase, tmp_path: Path) -> None:
    """Partitions (two levels, attached, detached), clones of keys, FKs and triggers,
    unique indexes, trigger states, generated and identity columns, PostgreSQL 18's
    NOT ENFORCED: read from the catalog exactly as the SQL loader reads pg_dump's DDL."""
    server = restore_case.server
    sql = (SCHEMA_FIXTURES / "rich_source.sql").read_text(encoding="utf-8")
    if server.version >= 18:
        sql += (SCHEMA_FIXTURES / "rich_source_pg18.sql").read_text(encoding="utf-8")
    source = pgharness.create_database(server, sql + EXTRA_SQL)
    schema = pgharness.schema_dump(server, source)
    target = pgharness.create_target(server, schema)
    live = inspect(owner_dsn(target))
    assert live.server_major == server.version
    assert live.role is Role.OWNER
    (tmp_path / "schema.sql").write_bytes(schema)
    loaded = load_schema([tmp_path / "schema.sql"])
    assert_same_catalog(live.catalog, loaded)
    # Spot checks that the comparison covers what it should.
    fks = {fk.name: fk for fk in live.catalog.foreign_keys}
    assert fks["orders_contact_email_fkey"].match_full
    assert fks["employees_boss_id_fkey"].initially_deferred
    assert [fk.table.name for fk in live.catalog.foreign_keys].count("orders_eu_0") == 0
    assert fks.get("audit_employee_fk") is None or not fks["audit_employee_fk"].enforced
    tables = {q.name: t for q, t in live.catalog.tables.items()}
    assert tables["measures_2024"].parent is not None and tables["measures_gone"].parent is None
    assert [t.name for t in tables["measures_2024"].triggers] == ["a_measures_own", "measures_row"]
    assert {t.name: t.enabled for t in tables["refs"].triggers} == {"refs_always": True, "refs_replica": False}
    assert tables["refs"].unique_keys == [("ex",)]
    assert list(tables["scratch"].columns) == ["id", "later"]


def test_role_detection(pg_server: Server, source_db: SourceDb) -> None:
    schema = pgharness.schema_dump(pg_server, source_db(pg_server, "shop"))
    target = pgharness.create_target(pg_server, schema)
    assert role_capabilities(pg_server.dsn(target.dbname)) is Role.SUPERUSER
    assert role_capabilities(owner_dsn(target)) is Role.OWNER
    assert role_capabilities(pg_server.dsn(target.dbname, plain_user(target))) is Role.USER
    # A member of the owning role may act as the owner (pg_has_role ... USAGE).
    member = pgharness.create_role(pg_server)
    pg_server.psql(
        pg_server.maintenance_db, f"GRANT {pgharness.quote_ident(target.owner)} TO {pgharness.quote_ident(member)}"
    )
    assert role_capabilities(pg_server.dsn(target.dbname, member)) is Role.OWNER
    assert server_version(owner_dsn(target)) == pg_server.version
    # One table the role does not own is enough to make it a plain user.
    pg_server.psql(target.dbname, "CREATE TABLE public.not_mine (id integer PRIMARY KEY)")
    assert role_capabilities(owner_dsn(target)) is Role.USER


def _notnull_case(server: Server, source_db: SourceDb, tmp_path: Path) -> tuple[str, bytes, Target]:
    source = source_db(server, "notnull_cycle")
    schema = pgharness.schema_dump(server, source)
    (tmp_path / "in.sql").write_bytes(pgharness.data_dump(server, source, "copy"))
    return source, schema, pgharness.create_target(server, schema)


def test_detected_role_chooses_the_strategy(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """A NOT NULL cycle: the owner gets ALTER CONSTRAINT, a plain user a refusal that
    says where its --role came from, and an explicit --role beats the detection."""
    source, _, target = _notnull_case(pg_server, source_db, tmp_path)
    user = plain_user(target)
    refused = run_dumpfix("in.sql", "-o", "out.sql", "--dsn", pg_server.dsn(target.dbname, user))
    assert refused.returncode == 2
    message = refused.stderr.decode()
    assert message.count("\n") == 1 and "Traceback" not in message
    assert "--role user" in message and "--dsn" in message
    assert not (tmp_path / "out.sql").exists()
    forced = run_dumpfix("in.sql", "-o", "out.sql", "--dsn", owner_dsn(target), "--role", "user")
    assert forced.returncode == 2, forced.stderr.decode()
    assert "--dsn" not in forced.stderr.decode()
    result = run_dumpfix("in.sql", "-o", "out.sql", "--dsn", owner_dsn(target))
    assert result.returncode == 0, result.stderr.decode()
    assert b"ALTER CONSTRAINT" in (tmp_path / "out.sql").read_bytes()
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(pg_server, source, target.dbname)


@pytest.mark.parametrize("fmt", ["copy", "inserts"])
def test_plain_user_dsn_restores_as_that_user(
    pg_server: Server, fmt: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """A nullable cycle with a role that owns nothing: NULL-then-UPDATE, restored by that role."""
    source = source_db(pg_server, "shop")
    schema = pgharness.schema_dump(pg_server, source)
    target = pgharness.create_target(pg_server, schema)
    user = plain_user(target)
    (tmp_path / "in.sql").write_bytes(pgharness.data_dump(pg_server, source, fmt))
    result = run_dumpfix("in.sql", "-o", "out.sql", "--dsn", pg_server.dsn(target.dbname, user), "--explain")
    assert result.returncode == 0, result.stderr.decode()
    output = (tmp_path / "out.sql").read_bytes()
    assert b"ALTER CONSTRAINT" not in output and b"UPDATE public.users" in output
    restored = pgharness.restore(target, tmp_path / "out.sql", user=user)
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(pg_server, source, target.dbname)


def test_dsn_and_schema_together_is_a_usage_error(run_dumpfix, tmp_path: Path) -> None:
    (tmp_path / "in.sql").write_bytes(b"COPY public.t (a) FROM stdin;\n1\n\\.\n")
    (tmp_path / "schema.sql").write_bytes(b"CREATE TABLE t (a int);\n")
    result = run_dumpfix("in.sql", "--schema", "schema.sql", "--dsn", "postgresql:///x")
    assert result.returncode == 2
    assert "--schema and --dsn" in result.stderr.decode()


def test_unreachable_dsn_is_one_line_without_the_password(run_dumpfix, tmp_path: Path) -> None:
    (tmp_path / "in.sql").write_bytes(b"COPY public.t (a) FROM stdin;\n1\n\\.\n")
    dsn = f"postgresql://someone:s3cr3tpw@/nodb?host={tmp_path / 'no-such-dir'}&connect_timeout=2"
    result = run_dumpfix("in.sql", "-o", "out.sql", "--dsn", dsn)
    assert result.returncode == 2
    message = result.stderr.decode()
    assert message.startswith("dumpfix: error: --dsn: cannot connect:") and message.count("\n") == 1
    assert "s3cr3tpw" not in message and "Traceback" not in message
    assert not (tmp_path / "out.sql").exists()


def test_missing_psycopg_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what a missing package looks like to import
    with pytest.raises(DumpfixError, match=r"pip install 'dumpfix\[dsn\]'"):
        load_catalog("postgresql:///x")


def test_dsn_of_an_older_server_drops_settings_it_rejects(
    pg_pool: pgharness.ServerPool, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """pg_dump 18 writes SET transaction_timeout, which PostgreSQL 15 rejects: --dsn of a 15
    server means that server is the target, so dumpfix leaves the setting out."""
    server = pg_pool.get(15)
    newest = pg_pool.client_bins[max(pg_pool.client_bins)] / "pg_dump"
    source = source_db(server, "shop")
    dump = pgharness.data_dump(server, source, "copy", newest)
    assert b"SET transaction_timeout = 0;" in dump
    (tmp_path / "in.sql").write_bytes(dump)
    target = pgharness.create_target(server, pgharness.schema_dump(server, source))
    result = run_dumpfix("in.sql", "-o", "out.sql", "--dsn", server.dsn(target.dbname, target.owner))
    assert result.returncode == 0, result.stderr.decode()
    assert b"transaction_timeout" not in (tmp_path / "out.sql").read_bytes()
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(server, source, target.dbname)


def test_dsn_may_be_a_bare_database_name_as_psql_takes_it(
    pg_server: Server, source_db: SourceDb, tmp_path: Path
) -> None:
    """`--dsn shop`, with the host, port and user in PG* variables: what psql accepts."""
    source = source_db(pg_server, "shop")
    schema = pgharness.schema_dump(pg_server, source)
    target = pgharness.create_target(pg_server, schema)
    (tmp_path / "in.sql").write_bytes(pgharness.data_dump(pg_server, source, "copy"))
    env = dict(pg_server.env(target.owner), PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "dumpfix", "in.sql", "-o", "out.sql", "--dsn", target.dbname],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(pg_server, source, target.dbname)


def test_missing_psycopg_gives_the_install_command_for_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(DumpfixError, match=r"from a checkout of dumpfix: pip install '\.\[dsn\]'"):
        load_catalog("postgresql:///x")
