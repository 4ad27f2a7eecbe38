"""Every rewritten dump is all or nothing: one transaction that dumpfix opens and commits.

On real servers, as the table owner: a load that fails part way (a duplicate key, a
dangling reference, a second restore into a loaded database) leaves every table and
sequence as it was, with ON_ERROR_STOP and without it (plain `psql -f`, where psql
goes on past a failed statement: inside the transaction each later statement fails
with "current transaction is aborted" and dumpfix's COMMIT only rolls back), and
inside `psql --single-transaction` too. INSERT triggers see the values the dump has.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

import pgharness
from pgharness import DumpCase, Server, Target

SourceDb = Callable[[Server, str], str]
FORMATS = ["copy", "inserts"]
ABORTED = "current transaction is aborted, commands ignored until end of transaction block"
#: What psql --single-transaction prints around the output's own BEGIN ... COMMIT.
ALREADY = "WARNING:  there is already a transaction in progress"
NONE_IN_PROGRESS = "WARNING:  there is no transaction in progress"


#: The default (every FK off for the load) and the row-by-row way (--no-bulk).
WAYS = {"bulk": (), "row-by-row": ("--no-bulk",)}


def _fixed_shop(
    case: DumpCase,
    source_db: SourceDb,
    fmt: str,
    run_dumpfix,
    tmp_path: Path,
    edit: Callable[[bytes], bytes] = lambda dump: dump,
    way: str = "bulk",
) -> tuple[str, bytes]:
    """The shop's dump (edited), rewritten by dumpfix into out.sql: by default with every FK
    off for the load (bulk), or row by row (--no-bulk: the nulls strategy)."""
    source = source_db(case.server, "shop")
    dump = pgharness.data_dump(case.server, source, fmt, case.pg_dump_bin)
    edited = edit(dump)
    assert fmt == "copy" or edited == dump  # the edits below know COPY rows only
    (tmp_path / "in.sql").write_bytes(edited)
    schema = pgharness.schema_dump(case.server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", *WAYS[way])
    assert result.returncode == 0, result.stderr.decode()
    output = (tmp_path / "out.sql").read_bytes()
    # The way asked for, in one transaction that ends after the sequences are set.
    first_setval = output.index(b"pg_catalog.setval(")
    begin, setval, commit = (
        output.index(b"\nBEGIN;\n"),
        output.rindex(b"pg_catalog.setval("),
        output.index(b"\nCOMMIT;\n"),
    )
    if way == "bulk":
        assert begin < output.index(b"DROP CONSTRAINT users_cart_id_fkey") < output.index(b"-- Data for Name: ")
        # Validated before the first setval, which no rollback would undo.
        assert output.rindex(b"TABLE DATA") < output.index(b"ADD CONSTRAINT users_cart_id_fkey") < first_setval
    else:
        assert b"UPDATE public.users AS dumpfix_t" in output
        assert begin < output.index(b"CREATE TEMP TABLE")
    assert setval < commit
    return source, schema


def _copy_block(dump: bytes, table: str) -> tuple[int, int]:
    """Where the rows of a COPY block start and end (the \\. line)."""
    header = re.search(rb"(?m)^COPY public\." + table.encode() + rb" \(.*\) FROM stdin;\n", dump)
    assert header is not None, table
    return header.end(), dump.index(b"\n\\.\n", header.end()) + 1


def _dangling_cart(dump: bytes) -> bytes:
    """One user pointing at a cart that does not exist (cart_id 999)."""
    start, end = _copy_block(dump, "users")
    while True:  # the first user with a cart (id, email, cart_id, order_id)
        line_end = dump.index(b"\n", start)
        fields = dump[start:line_end].split(b"\t")
        if fields[2] != b"\\N":
            break
        start = line_end + 1
        assert start < end
    fields[2] = b"999"
    return dump[:start] + b"\t".join(fields) + dump[line_end:]


def _last_copy_duplicated(dump: bytes) -> bytes:
    """The dump's last COPY block loads its first row twice: a duplicate key at the very end."""
    last = [m.group(1).decode() for m in re.finditer(rb"(?m)^COPY public\.(\w+) ", dump)][-1]
    start, end = _copy_block(dump, last)
    first_row = dump[start : dump.index(b"\n", start) + 1]
    return dump[:end] + first_row + dump[end:]


def _unchanged_by(target: Target, out: Path, expect: str, **restore: bool) -> str:
    """Restore out into target and assert that nothing changed; psql's stderr."""
    before = pgharness.table_fingerprints(target.server, target.dbname)
    result = pgharness.restore(target, out, **restore)
    assert expect in result.stderr, result.stderr
    # psql stops with ON_ERROR_STOP (exit 3); without it, it goes on and exits 0.
    assert result.returncode == (3 if restore.get("on_error_stop", True) else 0), result.stderr
    assert pgharness.table_fingerprints(target.server, target.dbname) == before, result.stderr
    return result.stderr


def _all_empty(server: Server, dbname: str) -> None:
    counts = {k: v[0] for k, v in pgharness.table_fingerprints(server, dbname).items() if k.startswith("table ")}
    assert counts and not any(counts.values()), counts


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_second_restore_without_on_error_stop_changes_nothing(
    restore_case: DumpCase, fmt: str, way: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """(a) The output restored twice into one database, the second time by plain psql -f:
    its UPDATE must not give back a value the user changed in between, nor its setval
    a sequence the application moved on; every table stays as after the first restore
    (with the user's change)."""
    server = restore_case.server
    source, schema = _fixed_shop(restore_case, source_db, fmt, run_dumpfix, tmp_path, way=way)
    target = pgharness.create_target(server, schema)
    first = pgharness.restore(target, tmp_path / "out.sql")
    assert first.returncode == 0, first.stderr
    pgharness.assert_same(server, source, target.dbname)
    changed = server.psql(
        target.dbname,
        "UPDATE public.users SET cart_id = 20 WHERE id = 1 AND cart_id = 1 RETURNING id;"
        "SELECT nextval('public.carts_id_seq');",
        user=target.owner,
    ).split()
    assert changed == ["1", "21"]  # user 1 had cart 1 and now has cart 20; carts_id_seq moved on
    stderr = _unchanged_by(target, tmp_path / "out.sql", ABORTED, on_error_stop=False)
    assert "duplicate key value violates unique constraint" in stderr
    assert server.psql(target.dbname, "SELECT cart_id FROM public.users WHERE id = 1").strip() == "20"
    assert server.psql(target.dbname, "SELECT last_value FROM public.carts_id_seq").strip() == "21"


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("on_error_stop", [False, True], ids=["plain", "on-error-stop"])
def test_dangling_reference_leaves_the_target_as_it_was(
    pg_server: Server, on_error_stop: bool, way: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """(b) One FK value pointing at a missing row: the UPDATE that sets the column loaded as
    NULL fails, and the target keeps its empty tables and untouched sequences, not every
    other row loaded with NULL in its FK columns."""
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    _, schema = _fixed_shop(case, source_db, "copy", run_dumpfix, tmp_path, _dangling_cart, way)
    target = pgharness.create_target(pg_server, schema)
    stderr = _unchanged_by(
        target,
        tmp_path / "out.sql",
        'violates foreign key constraint "users_cart_id_fkey"',
        on_error_stop=on_error_stop,
    )
    _all_empty(pg_server, target.dbname)
    if not on_error_stop:
        assert ABORTED in stderr  # the statements after it ran, and failed


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("on_error_stop", [False, True], ids=["plain", "on-error-stop"])
def test_duplicate_key_in_the_last_copy_leaves_the_target_empty(
    pg_server: Server, on_error_stop: bool, way: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """(c) The last COPY fails after every other table loaded (with NULLs still in the
    columns the UPDATE would set): nothing stays, and no sequence is set."""
    case = DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    _, schema = _fixed_shop(case, source_db, "copy", run_dumpfix, tmp_path, _last_copy_duplicated, way)
    target = pgharness.create_target(pg_server, schema)
    stderr = _unchanged_by(
        target, tmp_path / "out.sql", "duplicate key value violates unique constraint", on_error_stop=on_error_stop
    )
    _all_empty(pg_server, target.dbname)
    if not on_error_stop:
        assert ABORTED in stderr


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("on_error_stop", [False, True], ids=["plain", "on-error-stop"])
def test_single_transaction_restores_good_data_and_nothing_of_bad(
    restore_case: DumpCase, on_error_stop: bool, way: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """(d) Under psql --single-transaction the output's BEGIN only warns ("there is already
    a transaction in progress") and its COMMIT ends psql's transaction, so psql's own COMMIT
    warns ("there is no transaction in progress"). Good data restores as the source; a
    dangling reference leaves nothing."""
    server = restore_case.server
    source, schema = _fixed_shop(restore_case, source_db, "copy", run_dumpfix, tmp_path, way=way)
    target = pgharness.create_target(server, schema)
    good = pgharness.restore(target, tmp_path / "out.sql", single_transaction=True, on_error_stop=on_error_stop)
    assert good.returncode == 0, good.stderr
    assert good.stderr.splitlines() == [
        f"psql:{tmp_path / 'out.sql'}:{_line(tmp_path / 'out.sql', b'BEGIN;')}: {ALREADY}",
        NONE_IN_PROGRESS,
    ]
    pgharness.assert_same(server, source, target.dbname)
    # The same with one dangling reference: nothing of it stays.
    (tmp_path / "in.sql").write_bytes(_dangling_cart((tmp_path / "in.sql").read_bytes()))
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", *WAYS[way])
    assert result.returncode == 0, result.stderr.decode()
    bad_target = pgharness.create_target(server, schema)
    stderr = _unchanged_by(
        bad_target,
        tmp_path / "out.sql",
        'violates foreign key constraint "users_cart_id_fkey"',
        single_transaction=True,
        on_error_stop=on_error_stop,
    )
    _all_empty(server, bad_target.dbname)
    if not on_error_stop:
        assert ABORTED in stderr and NONE_IN_PROGRESS in stderr


def _line(path: Path, statement: bytes) -> int:
    """The line number of the first line that is exactly statement."""
    return path.read_bytes().split(b"\n").index(statement) + 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_insert_trigger_sees_the_dumped_values(
    restore_case: DumpCase, fmt: str, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    """A BEFORE INSERT trigger copying NEW.cart_id into first_cart_id: loaded as NULL and
    UPDATEd later, first_cart_id would come back NULL. As the owner the users FK is altered
    for the load instead (the DEFERRABLE one is deferred) and every table equals the source;
    a plain user is refused, saying why."""
    server = restore_case.server
    source = source_db(server, "insert_trigger_cycle")
    (tmp_path / "in.sql").write_bytes(pgharness.data_dump(server, source, fmt, restore_case.pg_dump_bin))
    schema = pgharness.schema_dump(server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    bulk = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql")
    assert bulk.returncode == 0, bulk.stderr.decode()
    target = pgharness.create_target(server, schema)
    restored = pgharness.restore(target, tmp_path / "out.sql")  # the default: every FK off
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(server, source, target.dbname)
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", "--explain", "--no-bulk")
    assert result.returncode == 0, result.stderr.decode()
    explained = result.stderr.decode()
    assert "owner: ALTER CONSTRAINT" in explained and "FK users_cart_id_fkey" in explained
    assert "not loaded as NULL: INSERT triggers on public.users would see NULL" in explained
    assert "defer: checked at COMMIT (FK ledgers_last_entry_id_fkey" in explained
    output = (tmp_path / "out.sql").read_bytes()
    assert b"ALTER TABLE public.users ALTER CONSTRAINT users_cart_id_fkey" in output
    assert b"dumpfix_t" not in output  # no column loaded as NULL
    target = pgharness.create_target(server, schema)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(server, source, target.dbname)
    for refused_args in (["--role", "user"], ["--strategy", "nulls"]):
        refused = run_dumpfix("in.sql", "-o", "user.sql", "--schema", "schema.sql", *refused_args)
        assert refused.returncode == 2
        assert "public.users(cart_id) -> public.carts: INSERT triggers would see NULL" in refused.stderr.decode()
        assert not (tmp_path / "user.sql").exists()
