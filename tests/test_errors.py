"""Bad input ends with exit 2 and one clear line, and leaves nothing behind.

Every case checks the whole contract: exit status 2, exactly one line on stderr
naming the file (and line where known), no traceback (only with -v), no output
written, an existing output file untouched, no temporary file left. Interrupts
(SIGINT, SIGTERM) are sent to a real dumpfix process in the middle of writing.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zstandard

import pgharness
from conftest import REPO_ROOT, dumpfix_process
from dumpfix.cli import main
from pgharness import Server

SCHEMA = b"""\
CREATE TABLE public.a (id integer PRIMARY KEY, b_id integer);
CREATE TABLE public.b (id integer PRIMARY KEY, a_id integer NOT NULL REFERENCES public.a);
ALTER TABLE public.a ADD FOREIGN KEY (b_id) REFERENCES public.b;
"""
# The shape of pg_dump's output, with a cycle dumpfix must break (a.b_id).
DUMP = b"""\
--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Data for Name: a; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.a (id, b_id) FROM stdin;
1\t1
2\t\\N
3\t2
\\.


--
-- Data for Name: b; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.b VALUES (1, 1);
INSERT INTO public.b VALUES (2, 3);


--
-- PostgreSQL database dump complete
--

"""
KEEP = b"an earlier output that must survive\n"


def run(tmp_path: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return dumpfix_process(*args, cwd=tmp_path, input=input, timeout=120)


@contextlib.contextmanager
def unprivileged(folder: Path) -> Iterator[None]:
    """Run the block with an ordinary user's file permissions (root reads any file).

    As root, the effective uid becomes the harness's unprivileged OS user for the
    block, and the folder becomes theirs; as anyone else, nothing changes.
    """
    if os.geteuid() != 0:
        yield
        return
    account = pgharness.ensure_pg_os_user()
    for path in [folder, *folder.iterdir()]:
        os.chown(path, account.pw_uid, account.pw_gid)
    folder.chmod(0o755)
    os.setegid(account.pw_gid)
    os.seteuid(account.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def assert_refused_in_process(folder: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI in this process (under unprivileged()), with the same promises as assert_refused."""
    (folder / "out.sql").write_bytes(KEEP)
    before = sorted(p.name for p in folder.iterdir())
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with unprivileged(folder):
            code = main([*args, "-o", "out.sql"])
    finally:
        os.chdir(cwd)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == f"dumpfix: error: {expected}\n"
    assert (folder / "out.sql").read_bytes() == KEEP
    assert sorted(p.name for p in folder.iterdir()) == before


def assert_refused(tmp_path: Path, args: list[str], expected: str, input: bytes | None = None) -> None:
    """expected: the error line after "dumpfix: error: "."""
    (tmp_path / "out.sql").write_bytes(KEEP)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run(tmp_path, *args, "-o", "out.sql", input=input)
    assert result.returncode == 2, result.stderr.decode()
    assert result.stdout == b""
    assert result.stderr.decode() == f"dumpfix: error: {expected}\n"
    assert (tmp_path / "out.sql").read_bytes() == KEEP
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary file left
    verbose = run(tmp_path, *args, "-o", "out.sql", "-v", input=input)
    assert verbose.returncode == 2
    assert b"Traceback" in verbose.stderr
    assert verbose.stderr.decode().endswith(f"dumpfix: error: {expected}\n")
    assert (tmp_path / "out.sql").read_bytes() == KEEP


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "schema.sql").write_bytes(SCHEMA)
    (tmp_path / "in.sql").write_bytes(DUMP)
    return tmp_path


def test_the_sample_dump_is_fine(files: Path) -> None:
    result = run(files, "in.sql", "--schema", "schema.sql")
    assert result.returncode == 0, result.stderr.decode()
    assert b"ADD CONSTRAINT a_b_id_fkey" in result.stdout
    row_by_row = run(files, "in.sql", "--schema", "schema.sql", "--no-bulk")
    assert b"UPDATE public.a AS dumpfix_t" in row_by_row.stdout


def _cut_after(marker: bytes, extra: int = 0) -> bytes:
    return DUMP[: DUMP.index(marker) + len(marker) + extra]


TRUNCATED = [
    pytest.param(
        _cut_after(b"2\t\\N\n"),
        "in.sql:13: COPY data of public.a never ends with a \\. line (truncated dump?)",
        id="inside-copy-data",
    ),
    pytest.param(
        _cut_after(b"COPY public.a (id, b_id) FROM stdin;\n"),
        "in.sql:13: COPY data of public.a never ends with a \\. line (truncated dump?)",
        id="after-copy-header",
    ),
    pytest.param(
        _cut_after(b"COPY public.a (id, b_id) FR"),
        "in.sql:13: statement never ends (unterminated string, comment or truncated file)",
        id="copy-header",
    ),
    pytest.param(
        _cut_after(b"INSERT INTO public.b VALUES (2, "),
        "in.sql:25: statement never ends (unterminated string, comment or truncated file)",
        id="insert",
    ),
    pytest.param(
        DUMP.replace(b"(2, 3);", b"(2, '3);"),
        "in.sql:25: statement never ends (unterminated string, comment or truncated file)",
        id="unterminated-string",
    ),
]


@pytest.mark.parametrize(("data", "expected"), TRUNCATED)
def test_truncated_dump(files: Path, data: bytes, expected: str) -> None:
    (files / "in.sql").write_bytes(data)
    assert_refused(files, ["in.sql", "--schema", "schema.sql"], expected)


def test_line_numbers_count_the_lines_cleanup_removed(files: Path) -> None:
    messages = (
        b"pg_dump: warning: there are circular foreign-key constraints among these tables:\n"
        b"pg_dump: detail: a\npg_dump: detail: b\n"
    )
    (files / "in.sql").write_bytes(messages + _cut_after(b"2\t\\N\n"))
    (files / "out.sql").write_bytes(KEEP)
    result = run(files, "in.sql", "--schema", "schema.sql", "-o", "out.sql")
    assert result.returncode == 2
    assert result.stderr.decode().splitlines()[-1] == (
        "dumpfix: error: in.sql:16: COPY data of public.a never ends with a \\. line (truncated dump?)"
    )


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def _flip(data: bytes, at: int) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= 0x5A
    return bytes(damaged)


BIG = DUMP.replace(b"2\t\\N\n", b"".join(b"%d\t\\N\n" % i for i in range(10, 20000)))
COMPRESSED = [
    pytest.param(
        gzip.compress(BIG)[:-2000],
        "cannot read gzip data: the compressed stream ends early (truncated file?)",
        id="gzip-truncated",
    ),
    pytest.param(_flip(gzip.compress(BIG), 400), None, id="gzip-corrupt"),
    pytest.param(
        bz2.compress(BIG)[:-2000],
        "cannot read bzip2 data: the compressed stream ends early (truncated file?)",
        id="bzip2-truncated",
    ),
    pytest.param(_flip(bz2.compress(BIG), 400), "cannot read bzip2 data: Invalid data stream", id="bzip2-corrupt"),
    pytest.param(
        lzma.compress(BIG)[:-2000],
        "cannot read xz data: the compressed stream ends early (truncated file?)",
        id="xz-truncated",
    ),
    pytest.param(_flip(lzma.compress(BIG), 400), "cannot read xz data: Corrupt input data", id="xz-corrupt"),
    pytest.param(
        _zstd(BIG)[:-2000],
        "cannot read zstd data: the compressed stream ends early (truncated file?)",
        id="zstd-truncated",
    ),
    pytest.param(_flip(_zstd(BIG), 40), None, id="zstd-corrupt"),
    pytest.param(
        b"\x1f\x8b", "cannot read gzip data: the compressed stream ends early (truncated file?)", id="gzip-magic-only"
    ),
]


@pytest.mark.parametrize(("data", "expected"), COMPRESSED)
@pytest.mark.parametrize("via", ["path", "stdin"])
def test_damaged_compressed_input(files: Path, data: bytes, expected: str | None, via: str) -> None:
    name = "dump.bin" if via == "path" else "<stdin>"
    if via == "path":
        (files / "dump.bin").write_bytes(data)
    args = ["dump.bin" if via == "path" else "-", "--schema", "schema.sql"]
    if expected is None:  # the library's own words for the damage: check the start
        (files / "out.sql").write_bytes(KEEP)
        result = run(files, *args, "-o", "out.sql", input=data if via == "stdin" else None)
        assert result.returncode == 2
        lines = result.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"dumpfix: error: {name}: cannot read "), lines
        assert (files / "out.sql").read_bytes() == KEEP
        return
    assert_refused(files, args, f"{name}: {expected}", input=data if via == "stdin" else None)


GARBAGE = [
    pytest.param(os.urandom(1 << 16), id="random-bytes"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(300), id="png"),
    pytest.param(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + os.urandom(300), id="zip"),
    pytest.param(DUMP[:200] + b"\x00\x00\x00\x00" + DUMP[200:], id="nul-in-a-dump"),
]


@pytest.mark.parametrize("data", GARBAGE)
def test_binary_garbage(files: Path, data: bytes) -> None:
    (files / "in.sql").write_bytes(data)
    line = data.count(b"\n", 0, data.index(b"\0")) + 1
    assert_refused(
        files,
        ["in.sql", "--schema", "schema.sql"],
        f"in.sql:{line}: binary data (a NUL byte): not a plain SQL dump, or a damaged one",
    )


def test_pg_dump_error_in_the_file(files: Path) -> None:
    """`pg_dump ... > f 2>&1` that failed: the dump stops where the error is."""
    failed = _cut_after(b"\\.\n\n") + b"pg_dump: error: query failed: server closed the connection unexpectedly\n"
    (files / "in.sql").write_bytes(failed)
    assert_refused(
        files,
        ["in.sql", "--schema", "schema.sql"],
        "in.sql:19: the dump file contains an error message, so the dump is incomplete: "
        "pg_dump: error: query failed: server closed the connection unexpectedly",
    )


def test_missing_input(files: Path) -> None:
    assert_refused(
        files, ["nope.sql", "--schema", "schema.sql"], "nope.sql: cannot open input: No such file or directory"
    )


def test_input_is_a_folder(files: Path) -> None:
    (files / "folder").mkdir()
    assert_refused(
        files,
        ["folder", "--schema", "schema.sql"],
        "folder: is a folder, not a dump (a pg_dump directory-format archive has a toc.dat)",
    )


def test_unreadable_input(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "in.sql").chmod(0)
    assert_refused_in_process(
        files, ["in.sql", "--schema", "schema.sql"], "in.sql: cannot open input: Permission denied", capsys
    )


def test_missing_schema(files: Path) -> None:
    assert_refused(files, ["in.sql", "--schema", "nope.sql"], "nope.sql: cannot read: No such file or directory")


def test_unreadable_schema(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "schema.sql").chmod(0)
    assert_refused_in_process(
        files, ["in.sql", "--schema", "schema.sql"], "schema.sql: cannot read: Permission denied", capsys
    )


def test_schema_syntax_error_names_file_and_line(files: Path) -> None:
    (files / "schema.sql").write_bytes(SCHEMA.replace(b"CREATE TABLE public.b", b"CREATE TABEL public.b"))
    assert_refused(files, ["in.sql", "--schema", "schema.sql"], 'schema.sql:2: syntax error at or near "TABEL"')


def test_output_folder_missing(files: Path) -> None:
    result = run(files, "in.sql", "--schema", "schema.sql", "-o", "no/such/folder/out.sql")
    assert result.returncode == 2
    assert (
        result.stderr.decode()
        == f"dumpfix: error: no/such/folder/out.sql: output folder does not exist: {files}/no/such/folder\n"
    )
    assert sorted(p.name for p in files.iterdir()) == ["in.sql", "schema.sql"]


def test_output_is_a_folder(files: Path) -> None:
    (files / "out").mkdir()
    result = run(files, "in.sql", "--schema", "schema.sql", "-o", "out")
    assert result.returncode == 2
    assert result.stderr.decode() == "dumpfix: error: out: output is a folder, not a file\n"
    assert sorted(p.name for p in files.iterdir()) == ["in.sql", "out", "schema.sql"]


# -- interrupts ----------------------------------------------------------------


def _big_dump(rows: int) -> bytes:
    """A cyclic dump whose every row dumpfix rewrites (--no-bulk): slow enough to interrupt mid-write."""
    a = b"".join(b"%d\t%d\tsome text to make the rows longer %d\n" % (i, i, i) for i in range(1, rows + 1))
    b = b"".join(b"%d\t%d\n" % (i, i) for i in range(1, rows + 1))
    return (
        b"SET client_encoding = 'UTF8';\n\n"
        b"COPY public.a (id, b_id, note) FROM stdin;\n" + a + b"\\.\n\n"
        b"COPY public.b (id, a_id) FROM stdin;\n" + b + b"\\.\n\n"
    )


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    (folder / "schema.sql").write_bytes(SCHEMA.replace(b"b_id integer)", b"b_id integer, note text)"))
    (folder / "in.sql").write_bytes(_big_dump(600_000))
    return folder


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".dumpfix-")]


def _writing_into(pid: int, folder: Path) -> bool:
    """Whether the process holds a non-empty file open for writing in folder: unnamed
    (O_TMPFILE: ``folder/#123 (deleted)``) or under a hidden temporary name."""
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir() if fds.exists() else ():
        try:
            target = os.readlink(fd)
            size = fd.stat().st_size  # follows the link: the open file's own size
        except OSError:
            continue
        if target.startswith(f"{folder}/") and ("/#" in target or "/.dumpfix-" in target) and size > 0:
            return True
    return False


def _dumpfix_process(args: list[str], *, reading: bool, without_tmpfile: bool = False) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "dumpfix", *args]
    if without_tmpfile:  # the portable fallback: a system without O_TMPFILE (macOS, Windows)
        command = [
            sys.executable,
            "-c",
            "import os, sys; del os.O_TMPFILE; from dumpfix.cli import main; sys.exit(main(sys.argv[1:]))",
            *args,
        ]
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE if reading else subprocess.DEVNULL,
    )


def _wait_until_writing(proc: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + 60
    while not _writing_into(proc.pid, folder):
        assert proc.poll() is None, "dumpfix ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.002)


@pytest.mark.parametrize("without_tmpfile", [False, True], ids=["O_TMPFILE", "named-temporary"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("when", ["writing", "reading"])
def test_interrupt_leaves_no_partial_output(
    big: Path, tmp_path: Path, sig: signal.Signals, when: str, without_tmpfile: bool
) -> None:
    out = tmp_path / "out.sql"
    out.write_bytes(KEEP)
    args = [str(big / "in.sql"), "--schema", str(big / "schema.sql"), "--no-bulk", "-o", str(out)]
    if when == "reading":  # from stdin, which sends half the dump, then waits
        args[0] = "-"
    proc = _dumpfix_process(args, reading=when == "reading", without_tmpfile=without_tmpfile)
    try:
        if when == "writing":  # the temporary output exists and is growing
            _wait_until_writing(proc, tmp_path)
        else:
            data = (big / "in.sql").read_bytes()
            proc.stdin.write(data[: len(data) // 2])  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            time.sleep(1.0)
            assert proc.poll() is None and not _temp_files(tmp_path)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr.decode()
    assert stderr.decode() == "dumpfix: interrupted\n"
    assert out.read_bytes() == KEEP
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize("mode", ["-o", "--in-place"])
def test_sigkill_while_writing_leaves_nothing(big: Path, tmp_path: Path, mode: str) -> None:
    """SIGKILL runs no cleanup: the output is unnamed (O_TMPFILE) until it is complete."""
    target = tmp_path / "in.sql"
    target.write_bytes((big / "in.sql").read_bytes())
    before = target.read_bytes()
    args = [str(target), "--schema", str(big / "schema.sql"), "--no-bulk"]
    args += ["-o", str(tmp_path / "out.sql")] if mode == "-o" else ["--in-place"]
    proc = _dumpfix_process(args, reading=False)
    try:
        _wait_until_writing(proc, tmp_path)
        proc.kill()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.sql"]
    assert target.read_bytes() == before


def test_output_written_without_tmpfile_is_complete(files: Path) -> None:
    """Where O_TMPFILE is missing, a hidden temporary name is written and renamed."""
    proc = _dumpfix_process(
        [str(files / "in.sql"), "--schema", str(files / "schema.sql"), "-o", str(files / "out.sql")],
        reading=False,
        without_tmpfile=True,
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    expected = run(files, "in.sql", "--schema", "schema.sql")
    assert (files / "out.sql").read_bytes() == expected.stdout
    assert oct((files / "out.sql").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert _temp_files(files) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- closed and failing standard streams ----------------------------------------


def _shell(files: Path, command: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PY=sys.executable)
    return subprocess.run(["bash", "-c", command], cwd=files, env=env, capture_output=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            '"$PY" -m dumpfix in.sql --schema schema.sql >&-',
            "dumpfix: error: cannot write output: stdout is closed; give -o FILE or a pipe\n",
        ),
        ('"$PY" -m dumpfix - --schema schema.sql <&-', "dumpfix: error: <stdin>: cannot read input: stdin is closed\n"),
        (
            '"$PY" -m dumpfix in.sql --schema schema.sql > /dev/full',
            "dumpfix: error: cannot write output to stdout: No space left on device\n",
        ),
    ],
    ids=["stdout-closed", "stdin-closed", "stdout-full"],
)
def test_closed_or_full_standard_streams(files: Path, command: str, message: str) -> None:
    result = _shell(files, f"{command} 2>err.txt; echo $? > code.txt")
    assert (files / "code.txt").read_text() == "2\n"
    assert (files / "err.txt").read_text() == message
    assert sorted(p.name for p in files.iterdir()) == ["code.txt", "err.txt", "in.sql", "schema.sql"]
    del result


def test_reader_that_stops_early_is_an_error(big: Path) -> None:
    """psql stopping on an error closes the pipe: dumpfix says so once and exits 2."""
    result = _shell(
        big, '"$PY" -m dumpfix in.sql --schema schema.sql | head -c 10 >/dev/null; echo "${PIPESTATUS[0]}" >&2'
    )
    lines = result.stderr.decode().splitlines()
    assert lines == [
        "dumpfix: error: cannot write output to stdout: the reader closed the pipe before the end "
        "(did psql stop on an error?)",
        "2",
    ]


# -- tables and keys the schema and the dump disagree on -----------------------


def test_table_unknown_to_the_schema_is_kept_in_place_with_a_warning(pg_server: Server, tmp_path: Path) -> None:
    """Refused unless --pass-unknown, which keeps it in place, with a warning."""
    full = SCHEMA + b"CREATE TABLE public.audit (id integer, note text);\n"
    dump = DUMP.replace(
        b"--\n-- Data for Name: b;",
        b"COPY public.audit (id, note) FROM stdin;\n1\tx\n\\.\n\n--\n-- Data for Name: b;",
    )
    (tmp_path / "schema.sql").write_bytes(SCHEMA)  # audit is missing
    (tmp_path / "in.sql").write_bytes(dump)
    refused = run(tmp_path, "in.sql", "--schema", "schema.sql", "-o", "out.sql")
    assert refused.returncode == 2 and refused.stdout == b""
    assert refused.stderr.decode() == (
        "dumpfix: error: the schema lacks 1 of the 3 tables the dump loads: public.audit; their data would "
        "not restore: give their definitions, or --pass-unknown to pass their data through unchanged\n"
    )
    assert not (tmp_path / "out.sql").exists()
    result = run(tmp_path, "in.sql", "--schema", "schema.sql", "-o", "out.sql", "--pass-unknown", "--no-bulk")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr.decode() == (
        "dumpfix: warning: public.audit is not in the schema: its data passes through where it stands\n"
        "dumpfix: fixed in.sql -> out.sql: 1 cycle, 1 FK column loaded as NULL, one transaction\n"
    )
    out = (tmp_path / "out.sql").read_bytes()
    assert out.index(b"INSERT INTO public.a (") < out.index(b"COPY public.audit") < out.index(b"INSERT INTO public.b")
    source = pgharness.create_database(pg_server, full)
    target = pgharness.create_target(pg_server, full)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    assert pg_server.psql(target.dbname, "SELECT count(*) FROM audit").strip() == "1"
    assert pg_server.psql(target.dbname, "SELECT id, b_id FROM a ORDER BY id").split() == ["1|1", "2|", "3|2"]
    del source


def test_fk_to_a_table_not_in_the_dump_is_assumed_satisfied(
    pg_server: Server, source_db: Callable[[Server, str], str], tmp_path: Path
) -> None:
    """pg_dump -t: only some tables; the target already holds the rows they point at."""
    source = source_db(pg_server, "shop")
    schema = pgharness.schema_dump(pg_server, source)
    tables = pg_server.psql(
        source, "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
    ).split()
    assert "users" in tables and "orders" in tables
    dump = pgharness.pg_dump(pg_server, source, "--data-only", "-t", "public.orders")
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(schema)
    result = run(tmp_path, "in.sql", "--schema", "schema.sql", "-o", "out.sql")
    assert result.returncode == 0, result.stderr.decode()
    assert (tmp_path / "out.sql").read_bytes() == dump
    # The target holds everything but orders: loading orders needs no other table.
    rest = pgharness.pg_dump(pg_server, source, "--data-only", "-T", "public.orders", "--disable-triggers")
    target = pgharness.create_target(pg_server, schema)
    pg_server.psql(target.dbname, rest)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(pg_server, source, target.dbname)
