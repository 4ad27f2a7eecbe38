"""The pipe that streams (stream.py): output written while the input is read, the same
bytes as the file's output, and a pipe that turns out wrong leaves nothing committed.

The window (how much is read before the split goes on) is made small here, so that
COPY blocks, INSERT runs, statements and comments are cut at every kind of place.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pgharness
from conftest import REPO_ROOT
from dumpfix import stream as streaming
from dumpfix.cleanup import Cleanup
from dumpfix.errors import DumpError
from dumpfix.fix import analyse, write
from dumpfix.plan import Settings
from dumpfix.schema import load_schema
from dumpfix.source import Pipe
from pgharness import Server

GOLDEN = REPO_ROOT / "tests" / "fixtures" / "golden"
SCHEMA = GOLDEN / "shop.schema.sql"


DEFAULT = Settings()


def _file_output(dump: bytes, settings: Settings = DEFAULT) -> bytes:
    out = io.BytesIO()
    write(analyse(dump, [SCHEMA], settings=settings), out)
    return out.getvalue()


def _piped(dump: bytes, window: int, settings: Settings = DEFAULT) -> bytes:
    """The pipe's output, as the command line makes it: streamed, or, where the stream
    hands the input back before writing (Fallback), the file's; a dump longer than the
    window streams."""
    out = io.BytesIO()
    with contextlib.ExitStack() as stack:
        pipe = Pipe(io.BufferedReader(io.BytesIO(dump)), "<stdin>", None, Cleanup(), stack)  # type: ignore[arg-type]
        old = streaming.WINDOW
        streaming.WINDOW = window
        try:
            streaming.stream(pipe, load_schema([SCHEMA]), settings, out)
        except streaming.Fallback:
            assert len(dump) <= window
            return _file_output(dump, settings)
        finally:
            streaming.WINDOW = old
    return out.getvalue()


def _large_copy() -> bytes:
    dump = (GOLDEN / "shop_copy.sql").read_bytes()
    rows = b"".join(b"%d\t1\tit's; \\\\! echo %d\n" % (i, i) for i in range(100, 3000))
    return dump.replace(b"5\t5\tit's; \\\\! echo\n\\.\n", b"5\t5\tit's; \\\\! echo\n" + rows + b"\\.\n", 1)


def _large_inserts() -> bytes:
    dump = (GOLDEN / "shop_rows_per_insert.sql").read_bytes()
    rows = b"".join(
        b"INSERT INTO public.orders VALUES (%d, 1, 'it''s; \\! echo %d');\n" % (i, i) for i in range(100, 9000)
    )
    at = dump.index(b"\n--\n-- Name: carts_id_seq")
    return dump[:at] + b"\n" + rows + dump[at:]


DUMPS = {
    "copy": lambda: (GOLDEN / "shop_copy.sql").read_bytes(),
    "rows_per_insert": lambda: (GOLDEN / "shop_rows_per_insert.sql").read_bytes(),
    "large_copy": _large_copy,
    "large_copy_crlf": lambda: _large_copy().replace(b"\n", b"\r\n"),
    "large_inserts": _large_inserts,
}


@pytest.mark.parametrize("window", [97, 1000, 4096, 1 << 20])
@pytest.mark.parametrize("name", sorted(DUMPS))
def test_the_pipe_writes_what_the_file_gets(name: str, window: int) -> None:
    """Byte for byte, wherever the windows cut the input (a COPY row, an INSERT run, a
    comment, the \\. line, a CR LF)."""
    dump = DUMPS[name]()
    assert _piped(dump, window) == _file_output(dump)


@pytest.mark.parametrize("window", [97, 4096])
def test_the_pipe_knows_the_target_version(window: int) -> None:
    dump = _large_inserts()
    settings = Settings(target_version=18, target_minor=4)
    output = _piped(dump, window, settings)
    assert output == _file_output(dump, settings)
    assert b"ALTER CONSTRAINT users_cart_id_fkey NOT ENFORCED;" in output


def _big_orders() -> bytes:
    """A dump larger than the window, most of it the last table's data."""
    dump = _large_copy()
    more = b"".join(b"%d\t1\tx\n" % i for i in range(10**6, 10**6 + 800_000))
    end = dump.index(b"\n\\.\n", dump.index(b"COPY public.orders")) + 1
    return dump[:end] + more + dump[end:]


def _dumpfix(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "dumpfix", "-", "--schema", str(SCHEMA), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def test_output_flows_before_the_input_ends() -> None:
    """psql loads a table while pg_dump dumps the next: the first tables' data is out
    while the input is still open (a real pipe, the real window)."""
    dump = _big_orders()
    proc = _dumpfix()
    assert proc.stdin is not None and proc.stdout is not None
    last = threading.Event()
    feeder = threading.Thread(target=_feed, args=(proc.stdin, dump, last))
    feeder.start()
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while b"COPY public.orders" not in seen and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.5)[0]:
                seen += os.read(proc.stdout.fileno(), 1 << 20)
        assert b"COPY public.orders" in seen, seen[-500:]
        assert not last.is_set()  # the last bytes are not sent yet: dumpfix is still reading
        last.set()
        rest = proc.stdout.read()
        err = proc.stderr.read()  # type: ignore[union-attr]
    finally:
        last.set()
        feeder.join()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert seen + rest == _file_output(dump)


def _feed(stdin: io.BufferedWriter, dump: bytes, last: threading.Event) -> None:
    """All of dump but its last bytes, then those once last is set."""
    with contextlib.suppress(BrokenPipeError):
        stdin.write(dump[:-1000])
        stdin.flush()
        last.wait(120)
        stdin.write(dump[-1000:])
        stdin.close()


def _run(dump: bytes, *args: str) -> tuple[int, bytes, str]:
    proc = _dumpfix(*args)
    out, err = proc.communicate(dump, timeout=120)
    return proc.returncode, out, err.decode()


def test_a_truncated_pipe_ends_with_a_failing_statement() -> None:
    """Cut inside a COPY block after the first tables went out: the block is ended, then a
    statement that fails; no COMMIT, so psql rolls the load back."""
    dump = _big_orders()
    cut = dump.index(b"1700000\t1\tx")
    code, out, err = _run(dump[:cut])
    assert code == 2
    assert err.count("\n") == 1 and "truncated" in err, err
    assert b"\nCOMMIT;" not in out and b"COPY public.users" in out
    last = out[out.rindex(b"\\.\n") :]  # the COPY block ended, then the statement that fails
    assert last.startswith(b"\\.\nDO $dumpfix$BEGIN RAISE EXCEPTION") and last.endswith(b"END$dumpfix$;\n"), last


def test_ddl_between_two_tables_data_is_refused_from_a_pipe() -> None:
    """Once the output has begun (a dump longer than the window), DDL between two tables'
    data cannot be planned for: refused, and the output ends with a failing statement."""
    dump = _big_orders()
    at = dump.index(b"COPY public.carts")
    code, out, err = _run(dump[:at] + b"CREATE TABLE public.late (id int);\n" + dump[at:])
    assert code == 2 and "save it to a file" in err, err
    assert b"\nCOMMIT;" not in out and out.rstrip().endswith(b"END$dumpfix$;")


@pytest.mark.parametrize(
    "name, change",
    [
        (
            "ddl-first",
            lambda d: d.replace(
                b"SET statement_timeout", b"CREATE TABLE public.extra (id int);\nSET statement_timeout", 1
            ),
        ),
        ("earlier-output", lambda d: _file_output(d)),
        (
            "no-data",
            lambda d: d[: d.index(b"--\n-- Data for Name")] + b"\n--\n-- PostgreSQL database dump complete\n--\n",
        ),
    ],
)
def test_what_needs_the_whole_input_is_read_whole(name: str, change, tmp_path: Path) -> None:
    """DDL before the data (the dump's own schema counts), an earlier run's output, a dump
    without data: nothing was written, so the pipe is read whole and planned as the file is."""
    dump = change((GOLDEN / "shop_copy.sql").read_bytes())
    (tmp_path / "in.sql").write_bytes(dump)
    code, out, err = _run(dump)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    as_file = subprocess.run(
        [sys.executable, "-m", "dumpfix", str(tmp_path / "in.sql"), "--schema", str(SCHEMA)],
        capture_output=True,
        env=env,
        check=False,
    )
    assert (code, out) == (as_file.returncode, as_file.stdout), err


def test_a_nul_byte_in_the_pipe_is_refused() -> None:
    dump = _big_orders()
    at = dump.index(b"1700000\t1\tx")
    code, out, err = _run(dump[:at] + b"\0" + dump[at:])
    assert code == 2 and "NUL byte" in err and "<stdin>:" in err, err
    assert b"\nCOMMIT;" not in out


def test_explain_says_the_pipe_streamed_and_why_the_bulk_load() -> None:
    code, out, err = _run(_big_orders(), "--explain")
    assert code == 0, err
    assert "  streamed: written while the pipe was read" in err
    assert "(the default for --role owner, which may alter the tables)" in err


def test_streaming_is_only_for_the_bulk_load() -> None:
    """--no-bulk moves data: the pipe is read whole, and the output is the file's."""
    dump = (GOLDEN / "shop_copy.sql").read_bytes()
    code, out, err = _run(dump, "--no-bulk")
    assert code == 0, err
    assert out == _file_output(dump, Settings(bulk=False))


def test_the_pipe_restores_and_a_cut_one_leaves_the_target_as_it_was(pg_server: Server, tmp_path: Path) -> None:
    """pg_dump | dumpfix - | psql as the tables' owner: every table identical; the same
    pipe cut inside the last table's data, after the output began, fails and leaves every
    table empty."""
    source = pgharness.create_database(pg_server, pgharness.fixture_sql("shop"))
    pgharness.run_checked(
        [
            str(pg_server.bin_dir / "psql"),
            "-X",
            "-q",
            "-d",
            source,
            "-c",
            "INSERT INTO orders (user_id, total) SELECT 1, 9.99 FROM generate_series(1, 1000000)",
        ],
        env=pg_server.env(pg_server.superuser),
    )
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    dump = pgharness.data_dump(pg_server, source, "copy")
    for cut in (None, dump.rindex(b"\n", 0, dump.index(b"\\.\n", dump.index(b"COPY public.orders")) - 100)):
        target = pgharness.create_target(pg_server, schema)
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        fixer = subprocess.Popen(
            [sys.executable, "-m", "dumpfix", "-", "--schema", str(tmp_path / "schema.sql")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        psql = subprocess.Popen(
            [str(pg_server.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", target.dbname],
            stdin=fixer.stdout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=pg_server.env(target.owner),
        )
        assert fixer.stdout is not None and fixer.stdin is not None
        fixer.stdout.close()
        fixer.stdin.write(dump if cut is None else dump[:cut])
        fixer.stdin.close()
        fixer.wait(120)
        psql_out, psql_err = psql.communicate(timeout=120)
        err = fixer.stderr.read().decode()  # type: ignore[union-attr]
        if cut is None:
            assert fixer.returncode == 0 and psql.returncode == 0, err + psql_err.decode()
            pgharness.assert_same(pg_server, source, target.dbname)
        else:
            assert fixer.returncode == 2 and "truncated" in err, err
            assert len(dump) > 1.5 * streaming.WINDOW  # its start went out before the cut was read
            assert psql.returncode == 3, psql_err  # the statement that fails
            counts = pgharness.table_fingerprints(pg_server, target.dbname)
            assert all(v[0] == 0 for k, v in counts.items() if k.startswith("table ")), counts
            assert all(v == (1, "false") for k, v in counts.items() if k.startswith("sequence ")), counts


def test_a_small_pipe_is_planned_whole_and_refused_with_nothing_written() -> None:
    """A pipe that ends before anything was written is planned as the file is: a table the
    schema lacks is refused with no output at all."""
    dump = (GOLDEN / "shop_copy.sql").read_bytes().replace(b"public.orders", b"public.nosuch")
    code, out, err = _run(dump)
    assert (code, out) == (2, b"") and "the schema lacks 1 of the 7 tables" in err, err


def test_a_library_stream_refuses_a_wrong_dump_like_the_file() -> None:
    with pytest.raises(DumpError, match="truncated"):
        _piped(_large_copy()[:-300], 4096)


def test_stdout_redirected_to_a_file_is_never_left_half_written(tmp_path: Path) -> None:
    """`dumpfix - > fixed.sql`: nobody reads the file while it is written, so the pipe is
    read whole first, and a dump refused at its end leaves the file empty, not a streamed
    start with a failing statement."""
    dump = _big_orders()
    out = tmp_path / "fixed.sql"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    with out.open("wb") as stdout:
        proc = subprocess.run(
            [sys.executable, "-m", "dumpfix", "-", "--schema", str(SCHEMA)],
            input=dump[: dump.index(b"1700000\t1\tx")],
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
        )
    assert proc.returncode == 2 and b"truncated" in proc.stderr, proc.stderr
    assert out.read_bytes() == b""
