"""Facts about the data that decide the plan: how many rows each cut would touch.

Read in a pass of its own over only the blocks of tables in cycles, after
the split and before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from dumpfix.catalog import Catalog, ForeignKey, QName
from dumpfix.dumpfile import Item, Kind
from dumpfix.input import read
from dumpfix.rows import copy_any_value, copy_chunks, copy_non_null, insert_rows, insert_statements, insert_tuples

if TYPE_CHECKING:  # layout imports nothing of ours at run time, but keep it that way
    from dumpfix.layout import Layout

NULLS = (b"NULL", b"\\N")


#: Bytes of each block whose lines estimate its rows.
ROW_SAMPLE = 1 << 16


def estimated_rows(buf: bytes, blocks: list[Item]) -> int:
    """About how many rows the blocks load: each block's size times the line density
    of its first 64 KB. A row is a line of COPY data, and pg_dump writes each INSERT
    statement, and each row of a --rows-per-insert statement, on a line of its own.
    """
    rows = 0
    for item in blocks:
        start = item.data_start or item.start
        size = item.end - start
        if size <= 0:
            continue
        sample = min(size, ROW_SAMPLE)
        lines = read(buf, start, sample).count(b"\n")
        if sample == size and item.kind is Kind.COPY:
            lines -= 1  # the whole block was read: its \\. line is no row
        rows += max(lines, 0) * size // sample
    return rows


def block_columns(item: Item, catalog: Catalog, table: QName) -> tuple[str, ...]:
    """The column each field of the block's rows belongs to."""
    if item.columns is not None:
        return item.columns
    known = catalog.tables.get(table)
    return tuple(known.columns) if known else ()


def statement_rows(buf: bytes, item: Item) -> Iterator[list[list[bytes]] | None]:
    """Per INSERT statement its rows' values; COPY blocks yield None (use copy_rows)."""
    if item.kind is Kind.COPY:
        yield None
        return
    for start, end in insert_statements(buf, item.start, item.end):
        yield [t.values for t in insert_tuples(buf, start, end, len(item.prefix))]


def copy_rows(buf: bytes, item: Item) -> Iterator[list[bytes]]:
    """Fields of each COPY line, one Python step a row: only for rare slow paths."""
    end = item.end - _terminator_length(buf, item)
    for chunk in copy_chunks(buf, item.data_start, end):
        for line in chunk.splitlines():
            yield line.split(b"\t")


def _terminator_length(buf: bytes, item: Item) -> int:
    tail = buf[max(item.end - 4, item.data_start - 1) : item.end]
    return len(tail) - tail.rfind(b"\\.")


def copy_data_end(buf: bytes, item: Item) -> int:
    """Where the rows of a COPY item end (the \\. line starts)."""
    return item.end - _terminator_length(buf, item)


class KeySet:
    """Keys of the rows loaded so far, compactly: a bit per value for integer keys.

    Self-references in INSERT dumps need every key seen; a Python set of tuples
    costs about a hundred bytes a row, a bitmap one bit per possible value.
    """

    def __init__(self) -> None:
        self.bits = bytearray()
        self.others: set[bytes] = set()

    @staticmethod
    def _small_int(key: tuple[bytes, ...]) -> int | None:
        if len(key) == 1 and 0 < len(key[0]) <= 9 and key[0].isdigit():
            return int(key[0])
        return None

    def add(self, key: tuple[bytes, ...]) -> None:
        n = self._small_int(key)
        if n is None:
            self.others.add(b"\0".join(key))
            return
        if n >> 3 >= len(self.bits):
            self.bits.extend(bytes(max((n >> 3) + 1 - len(self.bits), len(self.bits))))
        self.bits[n >> 3] |= 1 << (n & 7)

    def __contains__(self, key: tuple[bytes, ...]) -> bool:
        n = self._small_int(key)
        if n is None:
            return b"\0".join(key) in self.others
        return n >> 3 < len(self.bits) and bool(self.bits[n >> 3] & (1 << (n & 7)))


def forward_flags(
    buf: bytes, blocks: list[Item], columns: list[tuple[str, ...]], fk: ForeignKey
) -> dict[int, bytearray]:
    """Per block (by its start), a byte per row in load order: 1 where the row points
    at a row of its own table that is not loaded yet.

    FK checks run at the end of each statement, so keys of the same statement count as loaded.
    """
    seen = KeySet()
    flags: dict[int, bytearray] = {}
    for item, cols in zip(blocks, columns):
        key_idx = [cols.index(c) for c in fk.ref_columns]
        fk_idx = [cols.index(c) for c in fk.columns]
        out = flags[item.start] = bytearray()
        for rows in _statements(buf, item):
            for row in rows():
                seen.add(tuple(row[i] for i in key_idx))
            for row in rows():
                ref = tuple(row[i] for i in fk_idx)
                out.append(not any(v in NULLS for v in ref) and ref not in seen)
    return flags


def _statements(buf: bytes, item: Item) -> Iterator:
    """Per statement, a callable that iterates its rows (COPY: the whole block, twice)."""
    if item.kind is Kind.COPY:
        yield lambda: copy_rows(buf, item)
        return
    for rows in statement_rows(buf, item):
        yield lambda rows=rows: iter(rows)


# Bytes of a block read to estimate how many of its rows a cut would touch: COPY
# rows are counted inside the regex engine (thousands of rows), INSERT rows
# parsed at a few microseconds each, so their sample is smaller (still many
# hundreds of rows). Estimates only rank cuts; the plan's one exact question,
# whether a column holds any value at all, reads on past the sample when it finds none.
SAMPLE = 1 << 18
INSERT_SAMPLE = 1 << 16


def _rows_span(buf: bytes, item: Item) -> tuple[int, int]:
    if item.kind is Kind.COPY:
        return item.data_start, copy_data_end(buf, item)
    return item.start, item.end


def _sample_end(buf: bytes, item: Item, start: int, end: int) -> int:
    """Where the first SAMPLE (INSERT_SAMPLE) bytes of rows end, at a row (COPY) or
    statement boundary."""
    if item.kind is Kind.COPY:
        if end - start <= SAMPLE:
            return end
        nl = buf.find(b"\n", start + SAMPLE, end)
        return end if nl < 0 else nl + 1
    if end - start <= INSERT_SAMPLE:
        return end
    for _, stop in insert_statements(buf, start, end):
        if stop >= start + INSERT_SAMPLE:
            return stop
    return end


class Stats:
    def __init__(self, buf: bytes, layout: Layout, catalog: Catalog) -> None:
        self.buf = buf
        self.layout = layout
        self.catalog = catalog
        #: Self-referencing FK -> block start -> a byte per row: points at a row not loaded yet.
        self.forward: dict[ForeignKey, dict[int, bytearray]] = {}
        #: INSERTS block start -> its sample's end and, per row, a bit per column with a value:
        #: every cut weighed reads the same sample, so it is parsed once.
        self._samples: dict[int, tuple[int, list[int]]] = {}

    def _blocks(self, table: QName) -> tuple[list[Item], list[tuple[str, ...]]]:
        node = self.catalog.root_of(table)
        blocks, columns = [], []
        for unit in self.layout.units:
            if unit.node == node:
                for b in unit.blocks:
                    blocks.append(self.layout.items[b])
                    columns.append(block_columns(self.layout.items[b], self.catalog, unit.table))
        return blocks, columns

    def non_null(self, table: QName, nulled: tuple[str, ...]) -> int:
        """Rows of the table with a value in any of the columns: each needs an UPDATE.

        Only choosing between cuts depends on the number, so large blocks are
        estimated from a sample of their first rows; whether it is 0 decides whether
        anything must be rewritten, so an estimate of 0 is checked on every row.
        """
        estimate = 0.0
        unsure: list[tuple[Item, list[int], int]] = []
        blocks, columns = self._blocks(table)
        for item, cols in zip(blocks, columns):
            idx = [cols.index(c) for c in nulled if c in cols]
            if not idx:
                continue
            start, end = _rows_span(self.buf, item)
            stop, found = self._count(item, idx, start, end)
            estimate += found * (end - start) / max(stop - start, 1)
            if found == 0 and stop < end:
                unsure.append((item, idx, stop))
        if round(estimate) == 0 and any(self._any(item, idx, stop) for item, idx, stop in unsure):
            return 1
        return round(estimate)

    def _count(self, item: Item, idx: list[int], start: int, end: int) -> tuple[int, int]:
        """Where the block's sample ends, and its rows with a value in any of the columns."""
        if item.kind is Kind.COPY:
            stop = _sample_end(self.buf, item, start, end)
            return stop, max(copy_non_null(self.buf, start, stop, i) for i in idx)
        if item.start not in self._samples:
            stop = _sample_end(self.buf, item, start, end)
            rows = insert_rows(self.buf, start, stop, len(item.prefix))
            masks = [sum(1 << i for i, v in enumerate(row) if v not in NULLS) for row in rows]
            self._samples[item.start] = stop, masks
        stop, masks = self._samples[item.start]
        wanted = sum(1 << i for i in idx)
        return stop, sum(1 for mask in masks if mask & wanted)

    def _any(self, item: Item, idx: list[int], start: int) -> bool:
        """Whether any row from start on has a value in the columns (stops at the first)."""
        _, end = _rows_span(self.buf, item)
        if item.kind is Kind.COPY:
            return any(copy_any_value(self.buf, start, end, i) for i in idx)
        rows = insert_rows(self.buf, start, end, len(item.prefix))
        return any(any(row[i] not in NULLS for i in idx) for row in rows)

    def forward_references(self, fk: ForeignKey) -> int:
        """Rows pointing at rows of their own table that a later statement loads.

        The flags are kept (in self.forward, a byte a row) for the writer.
        """
        blocks, columns = self._blocks(fk.table)
        if any(any(c not in cols for c in fk.columns + fk.ref_columns) for cols in columns):
            return 0
        flags = forward_flags(self.buf, blocks, columns, fk)
        self.forward[fk] = flags
        return sum(sum(f) for f in flags.values())
