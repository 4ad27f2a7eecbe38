"""Golden files: a real pg_dump output, its schema, and the exact rewrite expected.

tests/fixtures/golden/NAME.sql is the input and NAME.expected.sql the output; the
schema is shop.schema.sql. Each file was made by pg_dump 18 from the seed's shop
schema; the expected outputs were read line by line when they were made.
shop_rows_per_insert.expected.sql was made again when dumpfix began to merge INSERT
statements (inserts.py), and its diff read: only the boundaries between two
statements of a table's run changed (``);`` and the next prefix became ``),``),
the rows as they were.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dumpfix.dumpfile import split
from dumpfix.fix import analyse, write

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
CASES = sorted(p.name.removesuffix(".expected.sql") for p in GOLDEN.glob("*.expected.sql"))


def _fix(data: bytes) -> bytes:
    out = io.BytesIO()
    write(analyse(data, [GOLDEN / "shop.schema.sql"]), out)
    return out.getvalue()


@pytest.mark.parametrize("name", CASES)
def test_rewrite_matches_golden(name: str) -> None:
    data = (GOLDEN / f"{name}.sql").read_bytes()
    assert _fix(data) == (GOLDEN / f"{name}.expected.sql").read_bytes()


@pytest.mark.parametrize("name", CASES)
def test_expected_output_is_a_fixed_point(name: str) -> None:
    expected = (GOLDEN / f"{name}.expected.sql").read_bytes()
    assert _fix(expected) == expected


def test_golden_cases_exist() -> None:
    assert CASES == ["shop_copy", "shop_rows_per_insert"]


@pytest.mark.parametrize(
    "path",
    sorted(GOLDEN.glob("*.sql")) + sorted((GOLDEN.parent.parent.parent / "examples").glob("backup*.sql")),
    ids=lambda p: p.name,
)
def test_split_is_lossless(path: Path) -> None:
    """Every golden file and shipped example splits into items that give it back byte for byte."""
    data = path.read_bytes()
    if data.startswith(b"\xff\xfe"):  # the PowerShell copy: the splitter reads it transcoded
        data = data[2:].decode("utf-16-le").encode("utf-8")
    items = list(split(data))
    assert b"".join(data[i.start : i.end] for i in items) == data
    assert all(a.end == b.start for a, b in zip(items, items[1:]))
