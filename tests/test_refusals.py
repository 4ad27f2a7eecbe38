"""Mistaken inputs are refused up front (dumpfix/refusals.py, and option pairs in cli.py).

Each case holds the whole contract, in every mode that reads a dump: a rewrite to
-o (nothing created), to stdout (nothing on it), --check and --in-place (IN left
as it was) all exit 2 with one line on stderr, no traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import pgharness
from conftest import DumpfixRunner
from pgharness import Server

SourceDb = Callable[[Server, str], str]

SCHEMA = b"""\
CREATE TABLE public.a (id integer PRIMARY KEY, b_id integer, note text);
CREATE TABLE public.b (id integer PRIMARY KEY, a_id integer NOT NULL REFERENCES public.a);
ALTER TABLE public.a ADD FOREIGN KEY (b_id) REFERENCES public.b;
"""
HEAD = b"""\
--
-- PostgreSQL database dump
--

\\restrict AbCdEf0123456789

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

"""
A_COPY = b"COPY public.a (id, b_id, note) FROM stdin;\n1\t1\tx\n2\t\\N\ty\n\\.\n\n"
B_COPY = b"COPY public.b (id, a_id) FROM stdin;\n1\t1\n\\.\n\n"
TAIL = b"""\
--
-- PostgreSQL database dump complete
--

\\unrestrict AbCdEf0123456789

"""
DUMP = HEAD + A_COPY + B_COPY + TAIL


def refused(run_dumpfix: DumpfixRunner, tmp_path: Path, args: list[str], expected: str, dump: bytes) -> None:
    """Exit 2 and one line holding expected, in every mode; nothing written anywhere."""
    (tmp_path / "in.sql").write_bytes(dump)
    before = sorted(p.name for p in tmp_path.iterdir())
    for mode in (["-o", "out.sql"], [], ["--check"], ["--in-place"]):
        result = run_dumpfix("in.sql", *args, *mode)
        err = result.stderr.decode()
        assert result.returncode == 2, (mode, err)
        assert result.stdout == b"", mode
        assert err.count("\n") == 1 and err.startswith("dumpfix: error: ") and "Traceback" not in err, (mode, err)
        assert expected in err, (mode, err)
        assert not (tmp_path / "out.sql").exists()
        assert (tmp_path / "in.sql").read_bytes() == dump
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary file left


@pytest.fixture
def schema(tmp_path: Path) -> Path:
    (tmp_path / "schema.sql").write_bytes(SCHEMA)
    return tmp_path / "schema.sql"


def test_the_sample_dump_is_fine(run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path) -> None:
    """The cases below refuse for the one reason each names, not for the sample itself;
    and dumpfix's own output still ends with pg_dump's last lines, so a rerun passes."""
    (tmp_path / "in.sql").write_bytes(DUMP)
    result = run_dumpfix("in.sql", "--schema", "schema.sql", "-o", "out.sql")
    assert result.returncode == 0, result.stderr.decode()
    assert (
        result.stderr.decode()
        == "dumpfix: fixed in.sql -> out.sql: 2 FKs off for the load, then validated, one transaction\n"
    )
    out = (tmp_path / "out.sql").read_bytes()
    assert out != DUMP and out.endswith(TAIL)
    again = run_dumpfix("--check", "out.sql", "--schema", "schema.sql")
    assert again.returncode == 0, again.stderr.decode()


# -- 1: a schema without the dump's tables ---------------------------------------


def test_schema_defining_none_of_the_tables_is_refused(run_dumpfix: DumpfixRunner, tmp_path: Path) -> None:
    """A wrong schema file: today's warning per table and exit 0 would pass the dump as it is."""
    (tmp_path / "other.sql").write_bytes(b"CREATE TABLE public.unrelated (id integer PRIMARY KEY);\n")
    expected = "the schema defines none of the 2 tables the dump loads (public.a, public.b)"
    refused(run_dumpfix, tmp_path, ["--schema", "other.sql"], expected, DUMP)
    # --pass-unknown lets some tables through, never all of them.
    refused(run_dumpfix, tmp_path, ["--schema", "other.sql", "--pass-unknown"], expected, DUMP)


def test_schema_lacking_some_tables_is_refused_unless_passed(
    run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path
) -> None:
    dump = HEAD + A_COPY + b"COPY public.audit (id) FROM stdin;\n1\n\\.\n\n" + B_COPY + TAIL
    refused(
        run_dumpfix,
        tmp_path,
        ["--schema", "schema.sql"],
        "the schema lacks 1 of the 3 tables the dump loads: public.audit;",
        dump,
    )
    result = run_dumpfix("in.sql", "--schema", "schema.sql", "--pass-unknown", "-o", "out.sql")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr.decode() == (
        "dumpfix: warning: public.audit is not in the schema: its data passes through where it stands\n"
        "dumpfix: fixed in.sql -> out.sql: 2 FKs off for the load, then validated, one transaction\n"
    )
    # The setting can live in pyproject.toml too.
    (tmp_path / "pyproject.toml").write_text("[tool.dumpfix]\npass-unknown = true\nschema = 'schema.sql'\n")
    checked = run_dumpfix("--check", "in.sql")
    assert checked.returncode == 1, checked.stderr.decode()


def test_earlier_runs_staging_tables_are_not_unknown(run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path) -> None:
    """pg_temp.dumpfix_N is dumpfix's own staging: its output passes the check again."""
    (tmp_path / "in.sql").write_bytes(DUMP)
    assert run_dumpfix("in.sql", "--schema", "schema.sql", "--no-bulk", "-o", "out.sql").returncode == 0
    assert b"pg_temp.dumpfix_" in (tmp_path / "out.sql").read_bytes()
    again = run_dumpfix("out.sql", "--schema", "schema.sql", "--no-bulk", "-o", "again.sql")
    assert again.returncode == 0, again.stderr.decode()
    assert again.stderr == b"dumpfix: copied out.sql -> again.sql: unchanged, it restores as it is\n"


# -- 2, 3: no data -----------------------------------------------------------------


def test_in_and_schema_swapped(run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path) -> None:
    refused(
        run_dumpfix,
        tmp_path,
        ["--schema", "schema.sql"],
        "IN holds no data: it defines objects (CREATE at line 1) and loads no table: did you swap IN and --schema?",
        SCHEMA,
    )
    # With no --schema at all, the same file is not taken for a dump carrying its DDL.
    refused(run_dumpfix, tmp_path, [], "did you swap IN and --schema?", SCHEMA)


@pytest.mark.parametrize(
    "dump", [b"", b"\n  \n", b"--\n-- nothing here\n--\n/* at all */\n"], ids=["zero-bytes", "whitespace", "comments"]
)
def test_empty_input(run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path, dump: bytes) -> None:
    """pg_dump failed upstream of a pipe: an empty output would 'restore' nothing."""
    refused(run_dumpfix, tmp_path, ["--schema", "schema.sql"], "IN holds no SQL at all", dump)


def test_empty_stdin(run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path) -> None:
    result = run_dumpfix("-", "--schema", "schema.sql", input=b"")
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().count("\n") == 1 and "IN holds no SQL at all" in result.stderr.decode()


# -- 4: truncated -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("dump", "where"),
    [
        pytest.param(HEAD + A_COPY, "in.sql:15: truncated: the dump stops here ('\\\\.')", id="between-tables"),
        pytest.param(
            HEAD + A_COPY + B_COPY + b"--\n", "in.sql:21: truncated: the dump stops here ('--')", id="before-last-line"
        ),
        pytest.param(
            HEAD,
            'in.sql:10: truncated: the dump stops here ("SELECT pg_catalog.set_config(\'search_pat...")',
            id="before-data",
        ),
    ],
)
def test_truncated_between_statements(
    run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path, dump: bytes, where: str
) -> None:
    """Cut where a statement ends: every statement is whole, and only pg_dump's missing
    last line tells that tables are missing."""
    refused(
        run_dumpfix,
        tmp_path,
        ["--schema", "schema.sql"],
        f"{where}, without pg_dump's last line '-- PostgreSQL database dump complete': dump it again",
        dump,
    )


def test_truncated_inside_copy_data_names_the_block(run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path) -> None:
    """Cut inside a COPY block: the splitter tells where the block starts."""
    refused(
        run_dumpfix,
        tmp_path,
        ["--schema", "schema.sql"],
        "in.sql:12: COPY data of public.a never ends with a \\. line (truncated dump?)",
        HEAD + A_COPY[:47],
    )


def test_hand_made_dump_needs_no_last_line(run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path) -> None:
    (tmp_path / "in.sql").write_bytes(A_COPY + B_COPY)
    result = run_dumpfix("in.sql", "--schema", "schema.sql", "-o", "out.sql")
    assert result.returncode == 0, result.stderr.decode()


def test_dump_without_unrestrict_is_complete(run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path) -> None:
    """pg_dump before the 2025 minor releases ends with the comment alone (CRLF here)."""
    old = HEAD.replace(b"\\restrict AbCdEf0123456789\n", b"") + A_COPY + B_COPY + TAIL.split(b"\\unrestrict")[0]
    (tmp_path / "in.sql").write_bytes(old.replace(b"\n", b"\r\n"))
    result = run_dumpfix("in.sql", "--schema", "schema.sql", "-o", "out.sql")
    assert result.returncode == 0, result.stderr.decode()


# -- 5: the dump and the schema disagree ---------------------------------------------


@pytest.mark.parametrize(
    ("dump", "expected"),
    [
        pytest.param(
            HEAD + A_COPY.replace(b"note)", b"nite)") + B_COPY + TAIL,
            "in.sql:12: the dump's COPY into public.a names column nite, which the schema's table lacks",
            id="copy-column",
        ),
        pytest.param(
            HEAD + b'INSERT INTO public.a (id, "B_id") VALUES (1, 1);\n' + B_COPY + TAIL,
            "in.sql:12: the dump's INSERT into public.a names column \"B_id\", which the schema's table lacks",
            id="column-inserts",
        ),
        pytest.param(
            HEAD
            + b"INSERT INTO public.a VALUES (1, 1, 'x', 4);\nINSERT INTO public.a VALUES (2, NULL, 'y');\n"
            + B_COPY
            + TAIL,
            "in.sql:12: the dump's INSERT into public.a has 4 values a row, and the schema's table 3 columns",
            id="inserts-too-many-values",
        ),
        pytest.param(
            HEAD + A_COPY + b"COPY public.b (id) FROM stdin;\n1\n\\.\n\n" + TAIL,
            "in.sql:17: the dump's COPY into public.b leaves out a_id, NOT NULL without a default in the schema",
            id="not-null-left-out",
        ),
        pytest.param(
            HEAD + A_COPY + b"INSERT INTO public.b VALUES (1);\n" + TAIL,
            "in.sql:17: the dump's INSERT into public.b leaves out a_id, NOT NULL without a default",
            id="inserts-too-few-values",
        ),
    ],
)
def test_dump_and_schema_disagree(
    run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path, dump: bytes, expected: str
) -> None:
    refused(run_dumpfix, tmp_path, ["--schema", "schema.sql"], expected, dump)


def test_defaults_identity_and_triggers_may_fill_a_left_out_column(run_dumpfix: DumpfixRunner, tmp_path: Path) -> None:
    """NOT NULL columns that fill themselves are not required in the dump's column list."""
    (tmp_path / "schema.sql").write_bytes(
        b"CREATE TABLE public.t (id integer PRIMARY KEY, s serial, d integer NOT NULL DEFAULT 1,\n"
        b"  i integer GENERATED BY DEFAULT AS IDENTITY, g integer GENERATED ALWAYS AS (id * 2) STORED,\n"
        b"  later integer NOT NULL);\n"
        b"ALTER TABLE ONLY public.t ALTER COLUMN later SET DEFAULT 0;\n"
        b"CREATE TABLE public.u (id integer PRIMARY KEY, filled text NOT NULL);\n"
        b"CREATE TRIGGER fill BEFORE INSERT ON public.u FOR EACH ROW EXECUTE FUNCTION public.fill();\n"
    )
    dump = HEAD + b"COPY public.t (id) FROM stdin;\n1\n\\.\n\nINSERT INTO public.u VALUES (1);\n" + TAIL
    (tmp_path / "in.sql").write_bytes(dump)
    result = run_dumpfix("in.sql", "--schema", "schema.sql", "-o", "out.sql")
    assert result.returncode == 0, result.stderr.decode()


# -- 7: options that exclude each other ----------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bulk", "--strategy", "nulls"], "--bulk and --strategy nulls exclude each other"),
        (["--bulk", "--role", "user"], "--bulk and --role user exclude each other"),
        (["--bulk", "--no-staging"], "--bulk and --no-staging exclude each other"),
        (["--no-staging", "--strategy", "owner"], "--no-staging and --strategy owner exclude each other"),
        (["--print-deferrable-migration", "--bulk"], "--print-deferrable-migration and --bulk exclude each other"),
        (["--print-deferrable-revert", "--explain"], "--print-deferrable-revert and --explain exclude each other"),
        (["--check", "--in-place"], "--check and --in-place exclude each other"),
        (["-o", "x.sql", "--check"], "-o goes with a single IN, not with --check"),
    ],
)
def test_options_that_exclude_each_other(
    run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path, args: list[str], expected: str
) -> None:
    (tmp_path / "in.sql").write_bytes(DUMP)
    result = run_dumpfix("in.sql", "--schema", "schema.sql", *args)
    assert result.returncode == 2 and result.stdout == b""
    err = result.stderr.decode()
    assert expected in err and "Traceback" not in err, err
    assert not (tmp_path / "x.sql").exists()


def test_typed_option_beats_a_conflicting_project_setting(
    run_dumpfix: DumpfixRunner, tmp_path: Path, schema: Path
) -> None:
    """pyproject.toml keeps defaults: --bulk typed now drops its strategy; both kept there is an error."""
    (tmp_path / "in.sql").write_bytes(DUMP)
    (tmp_path / "pyproject.toml").write_text("[tool.dumpfix]\nschema = 'schema.sql'\nstrategy = 'nulls'\n")
    result = run_dumpfix("in.sql", "--bulk", "-o", "out.sql")
    assert result.returncode == 0, result.stderr.decode()
    assert b"ALTER TABLE" in (tmp_path / "out.sql").read_bytes()
    (tmp_path / "pyproject.toml").write_text("[tool.dumpfix]\nschema = 'schema.sql'\nstrategy = 'nulls'\nbulk = true\n")
    both = run_dumpfix("in.sql")
    assert both.returncode == 2 and both.stdout == b""
    assert "--bulk and --strategy nulls exclude each other (both in [tool.dumpfix])" in both.stderr.decode()


# -- 6: what the --dsn role may do -------------------------------------------------


def test_dsn_role_lacking_privileges_is_refused_with_all_it_lacks(
    pg_server: Server, source_db: SourceDb, run_dumpfix: DumpfixRunner, tmp_path: Path
) -> None:
    """A role that may only INSERT: the nulls strategy's UPDATEs, its temporary tables and
    the dump's setval calls would fail half-way through the restore; all of it is named
    at once, before anything is written."""
    source = source_db(pg_server, "shop")
    target = pgharness.create_target(pg_server, pgharness.schema_dump(pg_server, source))
    name = pgharness.create_role(pg_server)
    role, db = pgharness.quote_ident(name), pgharness.quote_ident(target.dbname)
    pg_server.psql(
        target.dbname,
        f"GRANT USAGE ON SCHEMA public TO {role}; GRANT INSERT ON ALL TABLES IN SCHEMA public TO {role};"
        f"REVOKE TEMP ON DATABASE {db} FROM PUBLIC;",
    )
    dump = pgharness.data_dump(pg_server, source, "copy")
    expected = (
        f"the --dsn role {name} cannot restore the output: it lacks SELECT on public.users, "
        "UPDATE on public.users, SELECT on public.categories, UPDATE on public.categories, TEMP on the database, "
        + ", ".join(
            f"UPDATE on public.{t}_id_seq"
            for t in ("carts", "categories", "colors", "imgs", "orders", "products", "users")
        )
        + " (grant them, or run as a role that has them)\n"
    )
    refused(run_dumpfix, tmp_path, ["--dsn", pg_server.dsn(target.dbname, name)], expected, dump)
    # The owner has all of it; rows already in a target table are worth a warning, not a refusal.
    pg_server.psql(target.dbname, "INSERT INTO public.users (email) VALUES ('extra@example.com')", user=target.owner)
    result = run_dumpfix("in.sql", "--dsn", pg_server.dsn(target.dbname, target.owner), "-o", "out.sql")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr.decode().splitlines()[0] == (
        "dumpfix: warning: public.users already holds rows in the --dsn database: the dump's rows add to them"
    )


def test_target_version_contradicting_the_dsn_server(
    pg_server: Server, source_db: SourceDb, run_dumpfix: DumpfixRunner, tmp_path: Path
) -> None:
    source = source_db(pg_server, "shop")
    target = pgharness.create_target(pg_server, pgharness.schema_dump(pg_server, source))
    other = 12 if pg_server.version != 12 else 13
    refused(
        run_dumpfix,
        tmp_path,
        ["--dsn", pg_server.dsn(target.dbname, target.owner), "--target-version", str(other)],
        f"--target-version {other}, but the --dsn server is PostgreSQL {pg_server.version}",
        pgharness.data_dump(pg_server, source, "copy"),
    )
