"""Golden files: a real pg_dump output, its schema, and the exact rewrite expected.

tests/fixtures/golden/NAME.sql is the input, NAME.expected.sql the default output (every
FK off for the load) and NAME.row-by-row.expected.sql the output with --no-bulk (the
cycles cut row by row); the schema is shop.schema.sql. Each input was made by pg_dump 18
from the seed's shop schema; the expected outputs were read line by line when they were made.
The expected outputs were made again when dumpfix began to merge INSERT statements
(inserts.py), and their diffs read: only the boundaries between two statements of a
table's run changed (``);`` and the next prefix became ``),``), the rows as they were.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dumpfix.dumpfile import split
from dumpfix.fix import analyse, write
from dumpfix.plan import Settings

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
CASES = sorted(p.name.removesuffix(".expected.sql") for p in GOLDEN.glob("*.expected.sql"))
#: The settings of each kind of expected output.
WAYS = {"": Settings(), ".row-by-row": Settings(bulk=False)}


def _fix(data: bytes, case: str) -> bytes:
    out = io.BytesIO()
    write(analyse(data, [GOLDEN / "shop.schema.sql"], settings=WAYS[_way(case)]), out)
    return out.getvalue()


def _way(case: str) -> str:
    return case[case.index(".") :] if "." in case else ""


@pytest.mark.parametrize("case", CASES)
def test_rewrite_matches_golden(case: str) -> None:
    data = (GOLDEN / f"{case.removesuffix(_way(case))}.sql").read_bytes()
    assert _fix(data, case) == (GOLDEN / f"{case}.expected.sql").read_bytes()


@pytest.mark.parametrize("case", CASES)
def test_expected_output_is_a_fixed_point(case: str) -> None:
    expected = (GOLDEN / f"{case}.expected.sql").read_bytes()
    assert _fix(expected, case) == expected


def test_golden_cases_exist() -> None:
    assert CASES == [
        "shop_copy",
        "shop_copy.row-by-row",
        "shop_rows_per_insert",
        "shop_rows_per_insert.row-by-row",
    ]


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
