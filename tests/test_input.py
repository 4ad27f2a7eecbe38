"""Input as users have it: compressed, from Windows, with pg_dump's messages, from another
pg_dump version, in pg_dump's archive formats. Each case is rewritten by dumpfix and
compared with the plain case or restored on a real server as the table owner.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import zstandard

import pgharness
from conftest import dumpfix_process
from pgharness import CaseSpec, Server, ServerPool

SourceDb = Callable[[Server, str], str]
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}
DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.decompress,
    ".bz2": bz2.decompress,
    ".xz": lzma.decompress,
    ".zst": lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
}
#: What a rewritten dump sets for pg_dump 17+'s SET transaction_timeout = 0 with no version known.
PORTABLE_TIMEOUT = (
    b"SELECT pg_catalog.set_config(name, '0', false) FROM pg_catalog.pg_settings WHERE name = 'transaction_timeout';"
)
MAGIC = {".gz": b"\x1f\x8b", ".bz2": b"BZh", ".xz": b"\xfd7zXZ\x00", ".zst": b"\x28\xb5\x2f\xfd"}


class Shop(NamedTuple):
    server: Server
    source: str  # the source database
    dump: bytes  # pg_dump --data-only (COPY), cyclic: dumpfix must rewrite it
    schema: bytes
    fixed: bytes  # dumpfix's output for dump


def notices(result: subprocess.CompletedProcess[bytes]) -> str:
    """stderr without the summary line a successful -o run ends with (tested in test_cli)."""
    lines = result.stderr.decode().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith(("dumpfix: fixed ", "dumpfix: copied ")))


def dumpfix(
    *args: str | os.PathLike[str], cwd: Path, input: bytes | None = None, path: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run dumpfix in a subprocess; path replaces PATH (to hide or pick a pg_restore)."""
    return dumpfix_process(*args, cwd=cwd, input=input, path=path, timeout=300)


def ok(result: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert result.returncode == 0, result.stderr.decode()
    return result


def restores(server: Server, source: str, schema: bytes, path: Path) -> None:
    target = pgharness.create_target(server, schema)
    result = pgharness.restore(target, path)
    assert result.returncode == 0, result.stderr
    pgharness.assert_same(server, source, target.dbname)


@pytest.fixture(scope="module")
def shop(pg_server: Server, source_db: SourceDb, tmp_path_factory: pytest.TempPathFactory) -> Shop:
    source = source_db(pg_server, "shop")
    dump = pgharness.data_dump(pg_server, source, "copy")
    schema = pgharness.schema_dump(pg_server, source)
    work = tmp_path_factory.mktemp("shop")
    (work / "in.sql").write_bytes(dump)
    (work / "schema.sql").write_bytes(schema)
    fixed = ok(dumpfix("in.sql", "--schema", "schema.sql", cwd=work)).stdout
    assert fixed != dump
    return Shop(pg_server, source, dump, schema, fixed)


@pytest.fixture
def work(tmp_path: Path, shop: Shop) -> Path:
    (tmp_path / "schema.sql").write_bytes(shop.schema)
    return tmp_path


@pytest.mark.parametrize("kind", sorted(COMPRESS))
@pytest.mark.parametrize("via", ["path", "stdin"])
def test_compressed_input_is_sniffed_by_magic(shop: Shop, work: Path, kind: str, via: str) -> None:
    packed = COMPRESS[kind](shop.dump)
    (work / "dump.sql").write_bytes(packed)  # the name says plain: only the bytes tell
    if via == "path":
        result = ok(dumpfix("dump.sql", "--schema", "schema.sql", cwd=work))
    else:
        result = ok(dumpfix("-", "--schema", "schema.sql", cwd=work, input=packed))
    assert result.stdout == shop.fixed
    assert result.stderr == b""


def test_compressed_input_restores(shop: Shop, work: Path) -> None:
    (work / "in.sql.xz").write_bytes(lzma.compress(shop.dump))
    ok(dumpfix("in.sql.xz", "-o", "out.sql", "--schema", "schema.sql", cwd=work))
    restores(shop.server, shop.source, shop.schema, work / "out.sql")


@pytest.mark.parametrize("ending", sorted(DECOMPRESS))
def test_output_is_compressed_by_its_name(shop: Shop, work: Path, ending: str) -> None:
    (work / "in.sql").write_bytes(shop.dump)
    ok(dumpfix("in.sql", "-o", f"out.sql{ending}", "--schema", "schema.sql", cwd=work))
    packed = (work / f"out.sql{ending}").read_bytes()
    assert packed.startswith(MAGIC[ending])
    assert DECOMPRESS[ending](packed) == shop.fixed
    # The compressed output is input again, and a rerun changes nothing.
    again = ok(dumpfix(f"out.sql{ending}", "--schema", "schema.sql", cwd=work))
    assert again.stdout == shop.fixed
    assert sorted(p.name for p in work.iterdir()) == sorted(["in.sql", "schema.sql", f"out.sql{ending}"])


def test_gzip_output_is_reproducible(shop: Shop, work: Path) -> None:
    (work / "in.sql").write_bytes(shop.dump)
    ok(dumpfix("in.sql", "-o", "a.sql.gz", "--schema", "schema.sql", cwd=work))
    ok(dumpfix("in.sql", "-o", "b.sql.gz", "--schema", "schema.sql", cwd=work))
    assert (work / "a.sql.gz").read_bytes() == (work / "b.sql.gz").read_bytes()


def test_compressed_input_to_stdout_is_plain(shop: Shop, work: Path) -> None:
    (work / "in.sql.gz").write_bytes(gzip.compress(shop.dump))
    assert ok(dumpfix("in.sql.gz", "-o", "-", "--schema", "schema.sql", cwd=work)).stdout == shop.fixed


def test_utf8_bom_is_dropped_with_a_notice(shop: Shop, work: Path) -> None:
    (work / "in.sql").write_bytes(codecs.BOM_UTF8 + shop.dump)
    result = ok(dumpfix("in.sql", "--schema", "schema.sql", cwd=work))
    assert result.stdout == shop.fixed
    assert (
        result.stderr.decode()
        == "dumpfix: notice: removed the UTF-8 byte order mark at the start (psql does not need it)\n"
    )


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _assert_crlf_only(data: bytes) -> None:
    lines = data.split(b"\n")
    bare = [i + 1 for i, line in enumerate(lines[:-1]) if not line.endswith(b"\r")]
    assert not bare, f"lines ending in LF only: {bare[:10]}"
    assert b"\r" not in data.replace(b"\r\n", b"")


@pytest.mark.parametrize("fmt", ["copy", "inserts"])
def test_crlf_dump_that_needs_rewriting_stays_crlf_and_restores(shop: Shop, work: Path, fmt: str) -> None:
    """PowerShell and Windows editors turn every line end into CRLF; shop has no newline in its data."""
    dump = pgharness.data_dump(shop.server, shop.source, fmt)
    (work / "in.sql").write_bytes(_crlf(dump))
    ok(dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", cwd=work))
    out = (work / "out.sql").read_bytes()
    assert b"ADD CONSTRAINT" in out
    _assert_crlf_only(out)
    restores(shop.server, shop.source, shop.schema, work / "out.sql")
    ok(dumpfix("out.sql", "-o", "again.sql", "--schema", "schema.sql", cwd=work))
    assert (work / "again.sql").read_bytes() == out


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_from_powershell_is_transcoded_and_restores(
    pg_server: Server, source_db: SourceDb, tmp_path: Path, codec: str
) -> None:
    """What `pg_dump ... > f.sql` writes in Windows PowerShell 5: UTF-16 with a BOM, CRLF."""
    source = source_db(pg_server, "awkward_values")  # non-ASCII text, all in escaped COPY fields
    dump = pgharness.data_dump(pg_server, source, "copy")
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    (tmp_path / "crlf.sql").write_bytes(_crlf(dump))
    bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
    (tmp_path / "in.sql").write_bytes(bom + _crlf(dump).decode("utf-8").encode(codec))
    expected = ok(dumpfix("crlf.sql", "--schema", "schema.sql", cwd=tmp_path)).stdout
    ok(dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", cwd=tmp_path))
    out = (tmp_path / "out.sql").read_bytes()
    assert out == expected
    _assert_crlf_only(out)
    restores(pg_server, source, schema, tmp_path / "out.sql")


def test_utf16_goes_back_to_the_dumps_client_encoding(pg_server: Server, tmp_path: Path) -> None:
    source = pgharness.create_database(
        pg_server, "CREATE TABLE t (id int PRIMARY KEY, s text); INSERT INTO t VALUES (1, 'café crème'), (2, 'ÀÉÎõü');"
    )
    dump = pgharness.pg_dump(pg_server, source, "--data-only", "--encoding=LATIN1")
    assert "café".encode("latin-1") in dump and b"SET client_encoding = 'LATIN1';" in dump
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(pg_server, source))
    (tmp_path / "in.sql").write_bytes(codecs.BOM_UTF16_LE + dump.decode("latin-1").encode("utf-16-le"))
    out = ok(dumpfix("in.sql", "--schema", "schema.sql", cwd=tmp_path)).stdout
    assert out == dump
    (tmp_path / "out.sql").write_bytes(out)
    restores(pg_server, source, pgharness.schema_dump(pg_server, source), tmp_path / "out.sql")


def test_pg_dump_messages_from_2_and_1_are_removed(shop: Shop, work: Path) -> None:
    """`pg_dump ... > f.sql 2>&1`: the cycle warnings end up at the top of the file."""
    args = [str(shop.server.bin_dir / "pg_dump"), "--data-only", "--dbname", shop.source]
    with open(work / "in.sql", "wb") as f:
        subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, env=shop.server.env(), check=True)
    dump = (work / "in.sql").read_bytes()
    assert dump.startswith(b"pg_dump: warning: there are circular foreign-key constraints")
    plain = pgharness.restore(pgharness.create_target(shop.server, shop.schema), work / "in.sql")
    assert 'syntax error at or near "pg_dump"' in plain.stderr
    result = ok(dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", cwd=work))
    messages = dump.count(b"\npg_dump: ") + 1
    assert notices(result) == (
        f"dumpfix: notice: removed {messages} line(s) of pg_dump messages (not SQL: they came with 2>&1)\n"
    )
    clean = b"".join(line for line in dump.splitlines(keepends=True) if not line.startswith(b"pg_dump: "))
    (work / "clean.sql").write_bytes(clean)
    assert (work / "out.sql").read_bytes() == ok(dumpfix("clean.sql", "--schema", "schema.sql", cwd=work)).stdout
    restores(shop.server, shop.source, shop.schema, work / "out.sql")


def test_pg_dump_words_in_data_are_data(pg_server: Server, tmp_path: Path) -> None:
    """A row (COPY data or a string literal) that starts a line with "pg_dump: " stays."""
    sql = (
        "CREATE TABLE t (s text, id int PRIMARY KEY);"
        "INSERT INTO t VALUES (E'pg_dump: warning: data', 1), (E'x\\npg_dump: warning: not a message\\n', 2);"
    )
    source = pgharness.create_database(pg_server, sql)
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    for fmt in ("copy", "inserts"):
        dump = pgharness.data_dump(pg_server, source, fmt)
        assert b"\npg_dump: warning: " in dump
        (tmp_path / "in.sql").write_bytes(dump)
        result = ok(dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", cwd=tmp_path))
        assert notices(result) == ""
        assert (tmp_path / "out.sql").read_bytes() == dump


@pytest.mark.parametrize("fmt", ["copy", "inserts", "rows-per-insert"])
def test_pg_dump_words_on_4096_byte_boundaries_are_data(pg_server: Server, tmp_path: Path, fmt: str) -> None:
    """Text that anyone may store cannot stop a dump from being fixed: values holding
    "pg_dump: " (and "error: ") over and over put one on every 4096-byte boundary's
    residue, in COPY data, in strings, in E'' strings and in a quoted name; the dump is
    fixed (a cycle to rewrite) and restores identically."""
    sql = (
        'CREATE TABLE "pg_dump: t" (id int PRIMARY KEY, "pg_dump: c" text, other int);\n'
        'CREATE TABLE u (id int PRIMARY KEY, t_id int REFERENCES "pg_dump: t", s text);\n'
        'ALTER TABLE "pg_dump: t" ADD FOREIGN KEY (other) REFERENCES u;\n'
        "INSERT INTO u SELECT i, NULL, repeat('pg_dump: error: x', 300 + i) FROM generate_series(1, 30) AS i;\n"
        "INSERT INTO \"pg_dump: t\" SELECT i, repeat('pg_dump: ', 500 + i) || E'\\\\ \\t' || repeat(E'pg_dump: \\'', 40),"
        " i FROM generate_series(1, 30) AS i;\n"
        "UPDATE u SET t_id = id;\n"
    )
    source = pgharness.create_database(pg_server, sql)
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    dump = pgharness.data_dump(pg_server, source, fmt)
    boundaries = {at % 4096 for at in (m.start() for m in re.finditer(rb"pg_dump: ", dump))}
    assert len(boundaries) == 4096
    (tmp_path / "in.sql").write_bytes(dump)
    result = ok(dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", cwd=tmp_path))
    assert notices(result) == ""
    assert (tmp_path / "out.sql").read_bytes() != dump
    restores(pg_server, source, schema, tmp_path / "out.sql")


def test_verbose_messages_inside_the_data_are_refused(shop: Shop, work: Path) -> None:
    """pg_dump -v 2>&1: stderr lines land where stdout's buffer was flushed, mid-row."""
    args = [str(shop.server.bin_dir / "pg_dump"), "-v", "--data-only", "--dbname", shop.source]
    with open(work / "in.sql", "wb") as f:
        subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, env=shop.server.env(), check=True)
    result = dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", cwd=work)
    assert result.returncode == 2
    error = result.stderr.decode().splitlines()[-1]
    assert error.startswith("dumpfix: error: in.sql:")
    assert "a pg_dump message is cut into the dump's text here" in error
    assert not (work / "out.sql").exists()


# -- version skew --------------------------------------------------------------


def _case(pg_pool: ServerPool, server: int, dump: int) -> pgharness.DumpCase:
    """The pair a @pytest.mark.pg_pair test asked for (conftest deselects it where missing)."""
    return pg_pool.case(CaseSpec(f"pg{server}-dump{dump}", server, dump))


@pytest.mark.pg_pair(15, 18)
@pytest.mark.parametrize("fmt", ["copy", "inserts"])
@pytest.mark.parametrize("fixture", ["shop", "awkward_values"])
def test_newer_pg_dump_into_older_server_with_target_version(
    pg_pool: ServerPool, source_db: SourceDb, tmp_path: Path, fixture: str, fmt: str
) -> None:
    """The (PostgreSQL 15 server, pg_dump 18) pair the restore tests leave out."""
    case = _case(pg_pool, 15, 18)
    source = source_db(case.server, fixture)
    dump = pgharness.data_dump(case.server, source, fmt, case.pg_dump_bin)
    schema = pgharness.schema_dump(case.server, source)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(schema)
    assert b"SET transaction_timeout = 0;\n" in dump
    failed = pgharness.restore(pgharness.create_target(case.server, schema), tmp_path / "in.sql")
    assert 'unrecognized configuration parameter "transaction_timeout"' in failed.stderr
    ok(dumpfix("in.sql", "-o", "plain.sql", "--schema", "schema.sql", cwd=tmp_path))
    result = ok(dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", "--target-version", "15", cwd=tmp_path))
    assert notices(result) == (
        "dumpfix: notice: removed SET transaction_timeout: PostgreSQL 15 does not know it (from PostgreSQL 17 on)\n"
    )
    out = (tmp_path / "out.sql").read_bytes()
    assert b"transaction_timeout" not in out
    assert out == (tmp_path / "plain.sql").read_bytes().replace(PORTABLE_TIMEOUT + b"\n", b"")
    restores(case.server, source, schema, tmp_path / "out.sql")


@pytest.mark.pg_pair(15, 18)
@pytest.mark.parametrize("fmt", ["copy", "inserts"])
def test_newer_pg_dump_into_older_server_without_a_version(
    pg_pool: ServerPool, source_db: SourceDb, tmp_path: Path, fmt: str
) -> None:
    """With no version known, a rewritten dump sets transaction_timeout where the server
    knows it and skips it elsewhere: pg_dump 18's dump loads into PostgreSQL 15 and 18
    as the owner; a second run changes nothing."""
    case = _case(pg_pool, 15, 18)
    source = source_db(case.server, "shop")
    dump = pgharness.data_dump(case.server, source, fmt, case.pg_dump_bin)
    schema = pgharness.schema_dump(case.server, source)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(schema)
    assert b"SET transaction_timeout = 0;\n" in dump
    result = ok(dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", cwd=tmp_path))
    assert notices(result) == ""
    out = (tmp_path / "out.sql").read_bytes()
    assert b"SET transaction_timeout" not in out
    assert PORTABLE_TIMEOUT + b"\n" in out
    restores(case.server, source, schema, tmp_path / "out.sql")
    newest = pg_pool.newest()
    if newest.version >= 17:
        on_newest = source_db(newest, "shop")
        restores(newest, on_newest, pgharness.schema_dump(newest, on_newest), tmp_path / "out.sql")
    ok(dumpfix("out.sql", "-o", "again.sql", "--schema", "schema.sql", cwd=tmp_path))
    assert (tmp_path / "again.sql").read_bytes() == out


def test_target_version_keeps_what_the_target_knows(shop: Shop, work: Path) -> None:
    dump = shop.dump
    (work / "in.sql").write_bytes(dump)
    result = ok(dumpfix("in.sql", "--schema", "schema.sql", "--target-version", "17", cwd=work))
    assert result.stdout == shop.fixed.replace(PORTABLE_TIMEOUT, b"SET transaction_timeout = 0;")
    assert result.stderr == b""
    # 18 also keeps the FKs, NOT ENFORCED for the load, where a version-less output drops them.
    result = ok(dumpfix("in.sql", "--schema", "schema.sql", "--target-version", "18", cwd=work))
    assert b"\nSET transaction_timeout = 0;\n" in result.stdout and b"NOT ENFORCED" in result.stdout
    assert result.stderr == b""


def test_transaction_timeout_in_data_is_data(pg_server: Server, tmp_path: Path) -> None:
    source = pgharness.create_database(
        pg_server, "CREATE TABLE t (s text); INSERT INTO t VALUES (E'x\\nSET transaction_timeout = 0;\\ny');"
    )
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(pg_server, source))
    dump = pgharness.data_dump(pg_server, source, "inserts")
    (tmp_path / "in.sql").write_bytes(dump)
    out = ok(dumpfix("in.sql", "--schema", "schema.sql", "--target-version", "15", cwd=tmp_path)).stdout
    assert out == dump.replace(b"SET transaction_timeout = 0;\nSET client_encoding", b"SET client_encoding", 1)
    assert b"\nSET transaction_timeout = 0;\ny" in out


def test_strip_restrict(shop: Shop, work: Path) -> None:
    (work / "in.sql").write_bytes(shop.dump)
    assert shop.dump.count(b"\n\\restrict ") == 1 and shop.dump.count(b"\n\\unrestrict ") == 1
    result = ok(dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", "--strip-restrict", cwd=work))
    stderr = notices(result)
    assert stderr.startswith("dumpfix: warning: removed 2 \\restrict/\\unrestrict line(s)")
    assert "trust" in stderr and len(stderr.splitlines()) == 1
    out = (work / "out.sql").read_bytes()
    assert b"\\restrict" not in out and b"\\unrestrict" not in out
    lines = [
        line for line in shop.fixed.splitlines(keepends=True) if not line.startswith((b"\\restrict", b"\\unrestrict"))
    ]
    assert out == b"".join(lines)
    restores(shop.server, shop.source, shop.schema, work / "out.sql")


# -- pg_dump's other formats ---------------------------------------------------


def _no_keys(data: bytes) -> bytes:
    """pg_dump and pg_restore draw a new \\restrict key each run."""
    return re.sub(rb"(?m)^(\\(?:un)?restrict) \w+", rb"\1 KEY", data)


ARCHIVES = {"custom": ["-Fc"], "directory": ["-Fd"], "tar": ["-Ft"]}


def _archive(case: pgharness.DumpCase, source: str, fmt: str, path: Path) -> None:
    args = [str(case.pg_dump_bin), "--data-only", *ARCHIVES[fmt], "-f", str(path), "--dbname", source]
    pgharness.run_checked(args, env=case.server.env())


@pytest.mark.parametrize("fmt", sorted(ARCHIVES))
def test_archive_is_converted_with_pg_restore(
    restore_case: pgharness.DumpCase, source_db: SourceDb, tmp_path: Path, fmt: str
) -> None:
    server = restore_case.server
    source = source_db(server, "shop")
    schema = pgharness.schema_dump(server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    _archive(restore_case, source, fmt, tmp_path / "backup")
    path = f"{restore_case.pg_dump_bin.parent}{os.pathsep}/usr/bin:/bin"
    result = ok(dumpfix("backup", "-o", "out.sql", "--schema", "schema.sql", cwd=tmp_path, path=path))
    assert notices(result) == ""
    assert b"ADD CONSTRAINT" in (tmp_path / "out.sql").read_bytes()
    restores(server, source, schema, tmp_path / "out.sql")
    if fmt == "custom":  # from stdin too, and compressed
        piped = ok(
            dumpfix(
                "-",
                "--schema",
                "schema.sql",
                cwd=tmp_path,
                path=path,
                input=gzip.compress((tmp_path / "backup").read_bytes()),
            )
        )
        assert _no_keys(piped.stdout) == _no_keys((tmp_path / "out.sql").read_bytes())


@pytest.mark.parametrize("fmt", sorted(ARCHIVES))
def test_archive_without_pg_restore_names_the_command(
    pg_server: Server, source_db: SourceDb, tmp_path: Path, fmt: str
) -> None:
    case = pgharness.DumpCase(pg_server, pg_server.bin_dir / "pg_dump", "newest", True)
    _archive(case, source_db(pg_server, "shop"), fmt, tmp_path / "my backup")
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (a int);")
    (tmp_path / "empty").mkdir()
    result = dumpfix("my backup", "-o", "out.sql", "--schema", "schema.sql", cwd=tmp_path, path=str(tmp_path / "empty"))
    assert result.returncode == 2
    assert result.stderr.decode() == (
        f"dumpfix: error: my backup: this is a pg_dump {fmt}-format archive, not a plain SQL dump, and "
        "pg_restore is not on PATH: convert it with `pg_restore -f - 'my backup' | dumpfix - ...`\n"
    )
    assert not (tmp_path / "out.sql").exists()


@pytest.mark.pg_pair(15, 18)
def test_archive_newer_than_pg_restore_is_a_clear_error(
    pg_pool: ServerPool, source_db: SourceDb, tmp_path: Path
) -> None:
    old = pg_pool.client_bins[pgharness.SYSTEM_MAJOR]
    case = _case(pg_pool, 15, 18)
    _archive(case, source_db(case.server, "shop"), "custom", tmp_path / "backup.dump")
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (a int);")
    result = dumpfix("backup.dump", "--schema", "schema.sql", cwd=tmp_path, path=f"{old}:/usr/bin:/bin")
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("dumpfix: error: backup.dump: pg_restore could not convert this custom-format archive: ")
    assert "unsupported version" in lines[0]


@pytest.mark.parametrize("ending", sorted(DECOMPRESS))
def test_compressed_output_of_a_dump_with_long_unchanged_spans(shop: Shop, work: Path, ending: str) -> None:
    """Unchanged spans long enough for a copy inside the kernel still go through the compressor."""
    padding = b"".join(b"-- %06d padding line of a long comment\n" % i for i in range(4000))
    (work / "in.sql").write_bytes(padding + shop.dump)
    plain = ok(dumpfix("in.sql", "--schema", "schema.sql", cwd=work)).stdout
    assert plain.startswith(padding)
    ok(dumpfix("in.sql", "-o", f"out.sql{ending}", "--schema", "schema.sql", cwd=work))
    assert DECOMPRESS[ending]((work / f"out.sql{ending}").read_bytes()) == plain


@pytest.mark.parametrize("cap", [3, 1 << 16])
def test_messages_are_found_past_data_full_of_pg_(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cap: int) -> None:
    """Data that says pg_catalog more often than the index keeps of "pg_": the
    messages after it are still items the output leaves out, with the input's own
    offsets, and one cut into the text on a 4096-byte boundary is still refused
    (its candidates past the index are searched by the programs' names)."""
    from dumpfix import index
    from dumpfix.dumpfile import Kind, dropped_notices, refuse_cut_messages, split_items
    from dumpfix.errors import DumpError
    from dumpfix.source import open_source

    monkeypatch.setattr(index, "CAP", cap)
    rows = b"".join(b"%d\tSELECT pg_catalog.now()\n" % i for i in range(50))
    dump = (
        b"COPY public.log (id, query) FROM stdin;\n" + rows + b"\\.\n"
        b"pg_dump: warning: one\n"
        b"SELECT 1;\n"
        b"pg_restore: warning: two\n"
    )
    (tmp_path / "in.sql").write_bytes(dump)
    with open_source(str(tmp_path / "in.sql")) as source:
        assert bytes(source.buf) == dump  # read as it is: no copy without them
        items = split_items(source.input)
        refuse_cut_messages(source.input, items)
        messages = [item for item in items if item.kind is Kind.MESSAGE]
        assert [dump[m.start : m.end] for m in messages] == [b"pg_dump: warning: one\n", b"pg_restore: warning: two\n"]
        assert dropped_notices(source.buf, messages, source.cleanup) == [
            "notice: removed 2 line(s) of pg_dump messages (not SQL: they came with 2>&1)"
        ]
    added = len(b"pg_dump: warning: one\npg_restore: warning: two\n")  # not pg_dump's stdout
    before = dump + b"-- " + b"x" * (8192 + added - len(dump) - len(b"-- \nSELECT ")) + b"\nSELECT "
    (tmp_path / "cut.sql").write_bytes(before + b"pg_dump: dumping contents of table\n1;\n")
    with open_source(str(tmp_path / "cut.sql")) as source, pytest.raises(DumpError) as refused:
        refuse_cut_messages(source.input, split_items(source.input))
    assert refused.value.message.startswith("a pg_dump message is cut into the dump's text here")
    assert refused.value.location == f"line {len(before.splitlines())}"
