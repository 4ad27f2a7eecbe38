"""The split in two halves (a forked child from a guessed seam) gives split()'s items,
whatever the seam: a real statement start, a line inside a string or COPY data,
a place where the dump's state changed, or no boundary at all; and also where no
child can be made (fork fails, or there is no fork: Windows) or the child fails."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dumpfix import parallel
from dumpfix.cleanup import Cleanup
from dumpfix.dumpfile import Item, Kind, redirected, split
from dumpfix.errors import DumpError
from dumpfix.input import Input


def _dump(eol: bytes) -> bytes:
    users = [b"INSERT INTO public.users VALUES (%d, 'u%d', NULL);" % (i, i) for i in range(3000)]
    users[1500] = (
        b"INSERT INTO public.users VALUES (1500, 'two" + eol + b"INSERT INTO public.users VALUES (9, ''x'');', 1);"
    )
    orders = [b"INSERT INTO public.orders VALUES (%d, %d);" % (i, i % 7) for i in range(2500)]
    orders[700] = b"INSERT INTO public.orders VALUES (700 /* a /* nested */ comment */, 1);"
    parts = [
        b"SET client_encoding = 'UTF8';",
        b"SELECT pg_catalog.set_config('search_path', '', false);",
        b"",
        *users,
        b"",
        b"COPY public.carts (id, note) FROM stdin;",
        b"1\tINSERT INTO public.users VALUES (5, 'copy data');",
        b"2\t\\N",
        b"\\.",
        b"",
        b"SET search_path = shop, pg_catalog;",
        *orders,
        b"INSERT INTO items VALUES (1, 'x');INSERT INTO items VALUES (2, 'y');",
        b"",
    ]
    return eol.join(parts)


def _without_chunks(items: list[Item]) -> list[Item]:
    return [dataclasses.replace(i, chunks=()) for i in items]


def _redirected(buf: bytes, items: list[Item]) -> list[bytes]:
    return [b"".join(redirected(buf, i, b"pg_temp.x")) for i in items if i.kind is Kind.INSERTS]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_halves_give_the_items_of_split_whatever_the_seam(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, eol: bytes
) -> None:
    data = _dump(eol)
    (tmp_path / "dump.sql").write_bytes(data)
    expected = list(split(data))
    line_starts = [i + 1 for i in range(len(data)) if data[i : i + 1] == b"\n"]
    seams = sorted(
        set(
            line_starts[::97]
            + [data.index(b"INSERT INTO public.users VALUES (9")]
            + [
                data.index(b"1\tINSERT") + 2,
                data.index(b"SET search_path"),
                data.index(b"INSERT INTO public.orders"),
                data.index(b"INSERT INTO items VALUES (2"),
                17,
                len(data) - 3,
            ]
        )
    )
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 0)
    fd = os.open(tmp_path / "dump.sql", os.O_RDONLY)
    try:
        source = Input.mapped(fd)
        mapped = source.data
        for seam in seams:
            monkeypatch.setattr(parallel, "_seam", lambda buf, seam=seam: seam)
            reached: list[int] = []
            got = parallel.split_items(source, reached.append)
            assert _without_chunks(got) == _without_chunks(expected), seam
            assert _redirected(mapped, got) == _redirected(data, expected), seam
            assert reached[-1] == len(data)
        source.close()
    finally:
        os.close(fd)


def test_halves_leave_out_what_split_leaves_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Messages, a BOM, rejected settings and stripped \\restrict lines in either half
    are the items split() makes of them, and the settings after the seam do not hold
    the rejected one."""
    data = (
        b"\xef\xbb\xbfpg_dump: warning: first\n\\restrict k\nSET transaction_timeout = 0;\n"
        + _dump(b"\n").replace(
            b"SET search_path = shop, pg_catalog;",
            b"pg_dump: warning: second\nSET transaction_timeout = 0;\nSET search_path = shop, pg_catalog;",
        )
        + b"\\unrestrict k\npg_dump: warning: last\n"
    )
    (tmp_path / "dump.sql").write_bytes(data)
    cleanup = Cleanup(target_version=15, strip_restrict=True)
    expected = list(split(data, cleanup))
    kinds = [i.kind for i in expected]
    assert (kinds.count(Kind.MESSAGE), kinds.count(Kind.REJECTED), kinds.count(Kind.STRIPPED)) == (3, 2, 2)
    assert not any("transaction_timeout" in name for i in expected for name, _ in i.settings)
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 0)
    fd = os.open(tmp_path / "dump.sql", os.O_RDONLY)
    try:
        source = Input.mapped(fd)
        for seam in (data.index(b"INSERT INTO public.users VALUES (1000"), data.index(b"INSERT INTO public.orders")):
            monkeypatch.setattr(parallel, "_seam", lambda buf, seam=seam: seam)
            got = parallel.split_items(source, cleanup=cleanup)
            assert _without_chunks(got) == _without_chunks(expected), seam
        source.close()
    finally:
        os.close(fd)


def test_a_run_the_seam_parts_is_one_item_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = b"".join(b"INSERT INTO t VALUES (%d);\n" % i for i in range(5000))
    (tmp_path / "dump.sql").write_bytes(data)
    seam = data.index(b"INSERT INTO t VALUES (2500)")
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 0)
    monkeypatch.setattr(parallel, "_seam", lambda buf: seam)
    fd = os.open(tmp_path / "dump.sql", os.O_RDONLY)
    try:
        source = Input.mapped(fd)
        got = parallel.split_items(source)
        runs = [i for i in got if i.kind is Kind.INSERTS]
        assert len(runs) == 1 and runs[0].start == 0 and runs[0].end == len(data) - 1
        assert any(end == seam - 1 for end, _ in runs[0].chunks)  # the child's share, joined
        source.close()
    finally:
        os.close(fd)


def test_an_error_in_the_second_half_is_reported_as_split_reports_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = b"".join(b"INSERT INTO t VALUES (%d);\n" % i for i in range(3000)) + b"INSERT INTO t VALUES (1, 'never"
    (tmp_path / "dump.sql").write_bytes(data)
    with pytest.raises(DumpError) as expected:
        list(split(data))
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 0)
    fd = os.open(tmp_path / "dump.sql", os.O_RDONLY)
    try:
        source = Input.mapped(fd)
        with pytest.raises(DumpError) as got:
            parallel.split_items(source)
        assert (got.value.message, got.value.location) == (expected.value.message, expected.value.location)
        source.close()
    finally:
        os.close(fd)


def _forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the children split_items makes."""
    made: list[int] = []
    real = parallel.Forked.__init__

    def counted(self: parallel.Forked[object], compute: Callable[[], object]) -> None:
        made.append(1)
        real(self, compute)

    monkeypatch.setattr(parallel.Forked, "__init__", counted)
    return made


@pytest.mark.parametrize("how", ["fork fails", "no fork", "child fails"])
def test_without_a_child_this_process_splits_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str) -> None:
    data = _dump(b"\n")
    (tmp_path / "dump.sql").write_bytes(data)
    expected = list(split(data))
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 0)
    monkeypatch.setattr(parallel, "_seam", lambda source: data.index(b"INSERT INTO public.orders"))
    made = _forks(monkeypatch)
    if how == "fork fails":

        def no_more_processes() -> int:
            raise OSError("no more processes")

        monkeypatch.setattr(os, "fork", no_more_processes)
    elif how == "no fork":
        monkeypatch.delattr(os, "fork")
    else:
        parent = os.getpid()
        real_items = parallel.Splitter.items

        def failing_in_child(self: parallel.Splitter, stop: int | None = None) -> object:
            if os.getpid() != parent:
                raise RuntimeError("the child fails")
            return real_items(self, stop)

        monkeypatch.setattr(parallel.Splitter, "items", failing_in_child)
    fd = os.open(tmp_path / "dump.sql", os.O_RDONLY)
    try:
        source = Input.mapped(fd)
        assert _without_chunks(parallel.split_items(source)) == _without_chunks(expected)
        assert len(made) == (0 if how == "no fork" else 1)
        source.close()
    finally:
        os.close(fd)
