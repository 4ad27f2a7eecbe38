"""Moving a block never changes its meaning: what the dump set before it still holds.

Hand-made dumps (concatenations of real pg_dump output, old-style unqualified names,
a file whose line ends change halfway) where dumpfix must move data past a SET, keep
it inside its own ``\\restrict`` pair, keep its temporary tables out of the way of a
user's table named like them, and write COPY data in the block's own newline style.
Each output is restored on a real server as the non-superuser owner and every table
compared with the source.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pgharness
from conftest import fixed_restores_identically
from dumpfix.dumpfile import Kind, split
from pgharness import Server, ServerPool

SCHEMA = """
CREATE SCHEMA evil;
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, cart_id int);
CREATE TABLE carts (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users);
ALTER TABLE users ADD FOREIGN KEY (cart_id) REFERENCES carts;
CREATE TABLE evil.users (id int PRIMARY KEY, note text);
CREATE TABLE dumpfix_1 (id int PRIMARY KEY, note text);
"""
DATA = r"""
SET session_replication_role = replica;
INSERT INTO users SELECT i, 'café ' || i, 11 - i FROM generate_series(1, 10) i;
UPDATE users SET name = E'back\\slash' WHERE id = 2;
INSERT INTO carts SELECT i, i FROM generate_series(1, 10) i;
INSERT INTO evil.users VALUES (1, 'evil é'), (2, E'back\\slash');
INSERT INTO dumpfix_1 VALUES (1, 'mine');
"""
#: The tables no FK involves: a part of each dump, so that every table compares.
OTHERS = ("-t", "evil.users", "-t", "dumpfix_1")
_RESTRICT = re.compile(rb"(?m)^\\(?:un)?restrict [A-Za-z0-9]+\r?\n")


_SOURCES: dict[str, str] = {}


def _source_on(server: Server) -> str:
    """The database the dumps come from on that server (shared: tests only read it)."""
    if server.host not in _SOURCES:
        _SOURCES[server.host] = pgharness.create_database(server, SCHEMA + DATA)
        pgharness.share_database(server, _SOURCES[server.host])
    return _SOURCES[server.host]


@pytest.fixture
def source(pg_server: Server) -> str:
    return _source_on(pg_server)


def _dump(server: Server, source: str, *args: str) -> bytes:
    return pgharness.pg_dump(server, source, "--data-only", *args)


def _restores(server: Server, source: str, tmp_path: Path, run_dumpfix, dump: bytes, *args: str) -> bytes:
    """dumpfix the dump, restore it as the owner, compare every table; a rerun changes
    nothing; the output."""
    out = fixed_restores_identically(server, source, dump, tmp_path, run_dumpfix, *args)
    again = run_dumpfix("out.sql", "-o", "again.sql", "--schema", "schema.sql", *args)
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "again.sql").read_bytes() == out
    return out


def _concatenated(server: Server, source: str, *parts: tuple[str, ...]) -> bytes:
    """Several pg_dump outputs, one after the other, without their \\restrict lines."""
    return b"".join(_RESTRICT.sub(b"", _dump(server, source, *args)) for args in parts)


def _unqualified(dump: bytes) -> bytes:
    """pg_dump before 10.3: names left to the search_path."""
    return dump.replace(b"COPY public.", b"COPY ").replace(b"INSERT INTO public.", b"INSERT INTO ")


@pytest.mark.parametrize("args", [["--no-bulk"], ["--no-staging"]], ids=["staged", "no-staging"])
def test_unqualified_blocks_keep_their_search_path(
    pg_server: Server, source: str, tmp_path: Path, run_dumpfix, args: list[str]
) -> None:
    """users (public) moves above carts, past SET search_path = evil / public: each
    unqualified block still loads the table its search_path named."""
    carts = _dump(pg_server, source, "-t", "carts")
    evil = _dump(pg_server, source, "-t", "evil.users", "-t", "dumpfix_1").replace(b"COPY evil.", b"COPY ")
    users = _unqualified(_dump(pg_server, source, "-t", "public.users"))
    evil = evil.replace(b"SELECT pg_catalog.set_config('search_path', '', false);", b"SET search_path = evil;")
    users = users.replace(b"SELECT pg_catalog.set_config('search_path', '', false);", b"SET search_path = public;")
    dump = _RESTRICT.sub(b"", carts + users + evil)
    out = _restores(pg_server, source, tmp_path, run_dumpfix, dump, *args)
    assert out.index("1\tcafé 1\t".encode()) < out.index(b"COPY public.carts")


def test_latin1_block_keeps_its_client_encoding(pg_server: Server, source: str, tmp_path: Path, run_dumpfix) -> None:
    """Two dumps cat'ed, the second LATIN1: its users block moves above its SET client_encoding."""
    dump = _concatenated(pg_server, source, ("-t", "carts"), ("-t", "public.users", "--encoding=LATIN1"), OTHERS)
    assert "café".encode("latin-1") in dump
    out = _restores(pg_server, source, tmp_path, run_dumpfix, dump, "--no-bulk")
    assert out.index("1\tcafé 1\t".encode("latin-1")) < out.index(b"COPY public.carts")
    _restores(pg_server, source, tmp_path, run_dumpfix, dump)  # the default moves nothing


@pytest.mark.parametrize("fmt", ["inserts", "copy"])
def test_block_keeps_standard_conforming_strings(
    pg_server: Server, source: str, tmp_path: Path, run_dumpfix, fmt: str
) -> None:
    """A second dump written with standard_conforming_strings off ('back\\\\slash')."""
    extra = ["--inserts"] if fmt == "inserts" else []
    first = _concatenated(pg_server, source, ("-t", "carts", *extra))
    second = _concatenated(pg_server, source, ("-t", "public.users", *extra))
    if fmt == "inserts":
        assert b"'back\\slash'" in second
        second = second.replace(b"'back\\slash'", b"'back\\\\slash'")
    second = second.replace(b"standard_conforming_strings = on", b"standard_conforming_strings = off")
    _restores(pg_server, source, tmp_path, run_dumpfix, first + second + _concatenated(pg_server, source, OTHERS))


def test_set_config_search_path_is_given_back(pg_server: Server, source: str, tmp_path: Path, run_dumpfix) -> None:
    """set_config('search_path', 'evil', false) between blocks: users (unqualified,
    public) moves above it and carts (unqualified) after it still loads public."""
    users = _unqualified(_dump(pg_server, source, "-t", "public.users"))
    carts = _unqualified(_dump(pg_server, source, "-t", "carts"))
    users = users.replace(b"set_config('search_path', ''", b"set_config('search_path', 'public'")
    carts = carts.replace(b"set_config('search_path', ''", b"set_config('search_path', 'evil, public'")
    evil = _dump(pg_server, source, "-t", "evil.users", "-t", "dumpfix_1").replace(b"COPY evil.", b"COPY ")
    evil = evil.replace(b"set_config('search_path', ''", b"set_config('search_path', 'evil'")
    _restores(pg_server, source, tmp_path, run_dumpfix, _RESTRICT.sub(b"", carts + users + evil), "--no-staging")


def _restrict_key(meta: bytes) -> bytes:
    return meta.split()[1]


def test_data_stays_inside_its_own_restrict_pair(pg_server: Server, source: str, tmp_path: Path, run_dumpfix) -> None:
    """Two real dumps cat'ed, each with its \\restrict pair: the first one's cycle is
    reordered inside its pair, the second one's data stays below its own \\restrict."""
    first = _dump(pg_server, source, "-t", "carts", "-t", "public.users")
    second = _dump(pg_server, source, *OTHERS)
    out = _restores(pg_server, source, tmp_path, run_dumpfix, first + second)
    items = list(split(out))
    open_key = None
    keys: list[bytes] = []
    for item in items:
        text = out[item.start : item.end]
        if item.kind is Kind.META and text.startswith(b"\\restrict "):
            open_key = _restrict_key(text)
        elif item.kind is Kind.META and text.startswith(b"\\unrestrict "):
            assert _restrict_key(text) == open_key
            open_key = None
        elif item.kind in (Kind.COPY, Kind.INSERTS):
            assert open_key is not None, text[:60]
            keys.append(open_key)
    first_key = _restrict_key(first[first.index(b"\\restrict ") :])
    assert keys == [first_key] * 2 + [_restrict_key(second[second.index(b"\\restrict ") :])] * 2
    assert out.index("1\tcafé 1\t".encode()) < out.index(b"COPY public.carts")


def test_order_across_restrict_pairs_is_refused(pg_server: Server, source: str, tmp_path: Path, run_dumpfix) -> None:
    """carts in the first dump, the users it needs first in the second: moving users
    above its own \\restrict is not done; one line says why."""
    dump = _dump(pg_server, source, "-t", "carts") + _dump(pg_server, source, "-t", "public.users", *OTHERS)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(pg_server, source))
    result = run_dumpfix("in.sql", "-o", "out.sql", "--schema", "schema.sql", "--no-bulk")
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "\\restrict" in lines[0], lines
    assert not (tmp_path / "out.sql").exists()
    # The default moves nothing: every FK is off while the data loads, in the dump's order.
    _restores(pg_server, source, tmp_path, run_dumpfix, dump)


@pytest.mark.parametrize("args", [["--no-bulk"], ["--no-staging"]], ids=["staged", "no-staging"])
def test_users_table_named_like_dumpfix_temporary_tables(
    pg_server: Server, source: str, tmp_path: Path, run_dumpfix, args: list[str]
) -> None:
    """An old-style dump (unqualified names) with a table of its own called dumpfix_1:
    dumpfix's temporary tables take other names and are always named pg_temp.x."""
    dump = _unqualified(_dump(pg_server, source, "-t", "carts", "-t", "public.users", "-t", "dumpfix_1"))
    old_path = b"SET search_path = public, pg_catalog;"
    dump = dump.replace(b"SELECT pg_catalog.set_config('search_path', '', false);", old_path)
    dump += _dump(pg_server, source, "-t", "evil.users")
    assert b"COPY dumpfix_1 " in dump
    out = _restores(pg_server, source, tmp_path, run_dumpfix, _RESTRICT.sub(b"", dump), *args)
    assert b"CREATE TEMP TABLE pg_temp.dumpfix_2 AS SELECT " in out
    assert not re.search(rb"(?<!pg_temp\.)\bdumpfix_2\b", out)


def _mixed_newlines(dump: bytes, crlf_first: bool) -> bytes:
    """CRLF up to the first data block and LF after, or the other way round: two
    files cat'ed, one from Windows (COPY data holds no raw line break to change)."""
    at = dump.index(b"COPY ")
    if crlf_first:
        return dump[:at].replace(b"\n", b"\r\n") + dump[at:]
    return dump[:at] + dump[at:].replace(b"\n", b"\r\n")


@pytest.mark.parametrize("crlf_first", [True, False], ids=["crlf-then-lf", "lf-then-crlf"])
@pytest.mark.parametrize(
    "major",  # a missing server deselects its case, with the reason counted; CI needs both
    [pytest.param(m, marks=pytest.mark.pg_pair(m, m)) for m in (pgharness.SYSTEM_MAJOR, 18)],
)
@pytest.mark.parametrize("args", [[], ["--no-bulk"], ["--no-staging"]], ids=["bulk", "staged", "no-staging"])
def test_copy_data_keeps_its_blocks_newline_style(
    pg_pool: ServerPool, tmp_path: Path, run_dumpfix, args: list[str], major: int, crlf_first: bool
) -> None:
    """Rows and \\. lines dumpfix writes follow the block's LF, not the file's first
    CRLF (psql before 18 sends the \\. line to the server, which compares its line end)."""
    pg_server = pg_pool.get(major)
    source = _source_on(pg_server)
    dump = _mixed_newlines(_dump(pg_server, source, "-t", "carts", "-t", "public.users"), crlf_first)
    dump += _dump(pg_server, source, *OTHERS)
    assert dump.startswith(b"--\r\n") == crlf_first
    _restores(pg_server, source, tmp_path, run_dumpfix, _RESTRICT.sub(b"", dump), *args)
