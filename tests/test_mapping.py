"""The searches the scans rest on: the first occurrence and every occurrence of a rare
needle, found backwards a window at a time, must be exactly what bytes.find finds."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from dumpfix import mapping
from dumpfix.mapping import find_rare, map_file, occurrences


def _all(data: bytes, sub: bytes, start: int, end: int) -> list[int]:
    found, at = [], data.find(sub, start, end)
    while at >= 0:
        found.append(at)
        at = data.find(sub, at + 1, end)
    return found


@pytest.mark.parametrize("window", [1, 2, 3, 5, 64])
def test_backward_searches_agree_with_find(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, window: int) -> None:
    monkeypatch.setattr(mapping, "RARE_WINDOW", window)  # needles straddle every window boundary
    rng = random.Random(window)
    data = bytes(rng.choice(b"\n\\.ab") for _ in range(3000))
    (tmp_path / "data").write_bytes(data)
    fd = os.open(tmp_path / "data", os.O_RDONLY)
    try:
        mapped = map_file(fd)
        for buf in (data, mapped):
            for sub in (b"\n\\.", b"\\.\n", b"\n\\.\n", b"aa"):
                for start, end in ((0, len(data)), (17, 2000), (1500, 1502), (400, 400)):
                    assert occurrences(buf, sub, start, end) == _all(data, sub, start, end)
                    assert find_rare(buf, sub, start, end) == data.find(sub, start, end)
        mapped.close()
    finally:
        os.close(fd)
