"""The searches the scans rest on: the first occurrence and every occurrence of a rare
needle, found backwards a window at a time, must be exactly what bytes.find finds."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from dumpfix import index, input
from dumpfix.errors import DumpError
from dumpfix.index import occurrences
from dumpfix.input import Input


def _all(data: bytes, sub: bytes, start: int, end: int) -> list[int]:
    found, at = [], data.find(sub, start, end)
    while at >= 0:
        found.append(at)
        at = data.find(sub, at + 1, end)
    return found


@pytest.mark.parametrize("window", [1, 2, 3, 5, 64])
def test_backward_searches_agree_with_find(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, window: int) -> None:
    monkeypatch.setattr(input, "RARE_WINDOW", window)  # needles straddle every window boundary
    rng = random.Random(window)
    data = bytes(rng.choice(b"\n\\.ab") for _ in range(3000))
    (tmp_path / "data").write_bytes(data)
    fd = os.open(tmp_path / "data", os.O_RDONLY)
    try:
        mapped = Input.mapped(fd)
        for source in (Input(data), mapped):
            buf = source.data
            for sub in (b"\n\\.", b"\\.\n", b"\n\\.\n", b"aa"):
                for start, end in ((0, len(data)), (17, 2000), (1500, 1502), (400, 400)):
                    assert occurrences(buf, sub, start, end) == _all(data, sub, start, end)
                    assert source.find_rare(sub, start, end) == data.find(sub, start, end)
        mapped.close()
    finally:
        os.close(fd)


@pytest.mark.parametrize("cap", [1, 3, 10_000])
@pytest.mark.parametrize("window", [37, 400])
def test_needle_index_agrees_with_find(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cap: int, window: int) -> None:
    """One pass finds what bytes.find finds:
    lookups through the index, and the search of what a capped needle left over;
    needles found through a rare byte, and through the needle where that byte
    turns out dense (more than 100 in a window of 400)."""
    monkeypatch.setattr(index, "WINDOW", window)  # needles straddle windows
    monkeypatch.setattr(index, "ANCHOR_SPACING", 4)
    rng = random.Random(cap)
    data = bytes(rng.choice(b"\n\\.ab\0") for _ in range(3001))
    # Rare bytes, so that some needles are found through them (anchors), and a needle
    # through a byte that is rare in the sample but not in the last third.
    data = bytearray(data)
    for at in range(5, 3001, 211):
        data[at : at + 3] = b"pg_"
    data[2100:3000] = b"_x" * 450
    data = bytes(data)
    (tmp_path / "data").write_bytes(data)
    fd = os.open(tmp_path / "data", os.O_RDONLY)
    try:
        subs = [b"\n\\.", b"\0", b"ab\n", b"\\.\n\\", b"pg_", b"_x_", b"g_\n"]
        monkeypatch.setattr(index, "SAMPLE_SIZE", 30)
        mapped = Input.mapped(fd).indexed(subs, caps={sub: cap for sub in subs})
        assert mapped.index is not None and set(mapped.index) == set(subs)
        for sub in subs:
            assert list(mapped.everywhere(sub)) == _all(data, sub, 0, len(data))
            assert list(Input(data).everywhere(sub)) == _all(data, sub, 0, len(data))
            for start, end in ((0, len(data)), (17, 2000), (1499, 1503), (1500, 1502), (400, 400), (2990, 3001)):
                assert mapped.find_rare(sub, start, end) == data.find(sub, start, end), (sub, start, end)
        mapped.close()
    finally:
        os.close(fd)


def test_a_file_that_shrinks_while_read_is_an_input_error(tmp_path: Path) -> None:
    """The needle pass and the copy read with pread: a file cut short under them is a
    DumpError (one line, exit 2), not a short output or a SIGBUS from the map."""
    path = tmp_path / "dump.sql"
    path.write_bytes(b"x" * 100_000)
    fd = os.open(path, os.O_RDONLY)
    try:
        mapped = Input.mapped(fd)
        os.truncate(path, 50_000)
        with pytest.raises(DumpError, match="became shorter"):
            mapped.indexed([b"\n\\."])
        with pytest.raises(DumpError, match="became shorter"):
            mapped.copy_out(0, 100_000, io.BytesIO())
        mapped.close()
    finally:
        os.close(fd)


@pytest.mark.parametrize("missing", [(), ("pread", "preadv", "sendfile")])
def test_reads_and_copies_through_the_map_where_there_is_no_pread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, missing: tuple[str, ...]
) -> None:
    """Windows has no pread or sendfile: the needle pass, reads and copies (to a file
    or a pipe) take the bytes through the map instead, with the same results."""
    for name in missing:
        monkeypatch.delattr(os, name)
    monkeypatch.setattr(index, "WINDOW", 1000)
    monkeypatch.setattr(input, "COPY_BUFFER", 700)
    data = bytes(random.Random(7).choice(b"\n\\.ab") for _ in range(5000))
    (tmp_path / "data").write_bytes(data)
    fd = os.open(tmp_path / "data", os.O_RDONLY)
    try:
        mapped = Input.mapped(fd).indexed([b"\n\\."])
        assert mapped.index[b"\n\\."].positions == _all(data, b"\n\\.", 0, len(data))
        assert mapped.read(1234, 567) == data[1234:1801]
        out = io.BytesIO()
        mapped.copy_out(10, 4990, out)
        assert out.getvalue() == data[10:4990]
        read_end, write_end = os.pipe()
        with os.fdopen(write_end, "wb") as pipe:
            monkeypatch.setattr(input, "KERNEL_COPY_MIN", 1)
            mapped.copy_out(10, 4990, pipe)
        with os.fdopen(read_end, "rb") as piped:
            assert piped.read() == data[10:4990]
        mapped.close()
    finally:
        os.close(fd)
