"""Regions of the output written by a forked child (reserved.py): the same bytes as
the writer alone writes, whether the child succeeds, cannot be made, or fails
half-way; and only into outputs whose regions can be written by offset."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

import pgharness
from pgharness import Server
from dumpfix import reserved, write
from dumpfix.fix import analyse
from dumpfix.fix import write as write_dump
from dumpfix.mapping import map_file
from dumpfix.output import open_output
from dumpfix.source import open_source

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


class _Counted(reserved.Reserved):
    made = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        type(self).made += 1
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def _rewrite(monkeypatch: pytest.MonkeyPatch, dump: Path, schema: Path, out: Path, parallel: bool) -> int:
    """dumpfix dump -o out, in this process; the regions left to children."""
    monkeypatch.setattr(write, "PARALLEL_MIN", 0 if parallel else 1 << 62)
    monkeypatch.setattr(_Counted, "made", 0)
    monkeypatch.setattr(write, "Reserved", _Counted)
    with open_source(str(dump)) as source, open_output(str(out)) as sink:
        write_dump(analyse(source.buf, [schema]), sink)
    return _Counted.made


def test_children_write_the_golden_output(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Both staged tables' statements (users, categories) are written by children,
    and the file is the golden one byte for byte."""
    out = tmp_path / "out.sql"
    made = _rewrite(monkeypatch, GOLDEN / "shop_rows_per_insert.sql", GOLDEN / "shop.schema.sql", out, parallel=True)
    assert made == 2
    assert out.read_bytes() == (GOLDEN / "shop_rows_per_insert.expected.sql").read_bytes()


def test_a_child_that_cannot_be_made(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_fork() -> int:
        raise OSError("no more processes")

    monkeypatch.setattr(os, "fork", no_fork)
    out = tmp_path / "out.sql"
    assert _rewrite(monkeypatch, GOLDEN / "shop_rows_per_insert.sql", GOLDEN / "shop.schema.sql", out, True) == 2
    assert out.read_bytes() == (GOLDEN / "shop_rows_per_insert.expected.sql").read_bytes()


def test_a_child_that_fails_half_way(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The child writes a few bytes of junk and dies: this process writes the region again."""
    parent = os.getpid()
    real_pwrite = os.pwrite

    def failing_in_children(fd: int, data: bytes, offset: int) -> int:
        if os.getpid() != parent:
            real_pwrite(fd, b"#junk#", offset)
            raise OSError("disk full")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", failing_in_children)
    out = tmp_path / "out.sql"
    assert _rewrite(monkeypatch, GOLDEN / "shop_rows_per_insert.sql", GOLDEN / "shop.schema.sql", out, True) == 2
    assert out.read_bytes() == (GOLDEN / "shop_rows_per_insert.expected.sql").read_bytes()


def test_regions_only_where_the_output_can_be_written_by_offset(tmp_path: Path) -> None:
    dump = tmp_path / "in.sql"
    dump.write_bytes(b"SELECT 1;\n")
    with open(dump, "rb") as f:
        buf = map_file(f.fileno())
        with open(tmp_path / "plain", "wb") as plain:
            assert reserved.positional(buf, plain) == plain.fileno()
            assert reserved.positional(b"SELECT 1;\n", plain) is None  # an input a child cannot share
        with open(tmp_path / "appended", "ab") as appended:
            assert reserved.positional(buf, appended) is None
        with open(tmp_path / "packed", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as packed:
            assert reserved.positional(buf, packed) is None  # type: ignore[arg-type]
        read_end, write_end = os.pipe()
        with os.fdopen(read_end, "rb"), os.fdopen(write_end, "wb") as pipe:
            assert reserved.positional(buf, pipe) is None
        buf.close()


@pytest.mark.parametrize("fmt", ["inserts", "column-inserts"])
def test_children_output_restores_identically(
    monkeypatch: pytest.MonkeyPatch, pg_server: Server, source_db, fmt: str, tmp_path: Path
) -> None:
    """A real pg_dump of the shop, its staged tables written by children: the same
    file as without them, and restored by the tables' owner, every table as the source."""
    source = source_db(pg_server, "shop")
    (tmp_path / "in.sql").write_bytes(pgharness.data_dump(pg_server, source, fmt))
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    args = (tmp_path / "in.sql", tmp_path / "schema.sql")
    assert _rewrite(monkeypatch, *args, tmp_path / "alone.sql", parallel=False) == 0
    assert _rewrite(monkeypatch, *args, tmp_path / "out.sql", parallel=True) >= 1
    assert (tmp_path / "out.sql").read_bytes() == (tmp_path / "alone.sql").read_bytes()
    target = pgharness.create_target(pg_server, schema)
    result = pgharness.restore(target, tmp_path / "out.sql", user=target.owner)
    assert result.returncode == 0, result.stderr
    pgharness.assert_same(pg_server, source, target.dbname)
