"""Emit a plan: unchanged bytes copied, moved units in their new order, rewritten rows.

For each table with deferred FK columns, the rows load with NULL there, the
original values go into a temporary table right after the block (COPY for
COPY dumps, multi-row INSERT for INSERT dumps: what any SQL client runs),
and one set-based UPDATE per table puts them back once every row is in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from dumpfix.catalog import Catalog, QName, quote_ident
from dumpfix.dumpfile import Item, Kind
from dumpfix.layout import Unit
from dumpfix.plan import Plan, Rewrite
from dumpfix.rows import copy_chunks, copy_extract, copy_null_out, insert_statements, insert_tuples
from dumpfix.rows import render_tuple
from dumpfix.stats import NULLS, block_columns, copy_data_end, copy_rows, forward_flags

# Rows per INSERT into a temporary table.
BATCH = 1000
COPY_SIZE = 1 << 22


@dataclass(frozen=True)
class Capture:
    """A temporary table holding a block's original values of its deferred columns."""

    name: str
    table: QName
    key: tuple[str, ...]
    columns: tuple[str, ...]  # key and deferred columns, in the block's field order
    deferred: tuple[str, ...]


def write_plan(buf: bytes, plan: Plan, catalog: Catalog, out: BinaryIO) -> None:
    if not plan.changed:
        _copy(buf, 0, len(buf), out)
        return
    writer = _Writer(buf, plan, catalog, out)
    writer.run()


def _copy(buf: bytes, start: int, end: int, out: BinaryIO) -> None:
    view = memoryview(buf)
    for pos in range(start, end, COPY_SIZE):
        out.write(view[pos : min(pos + COPY_SIZE, end)])


class _Writer:
    def __init__(self, buf: bytes, plan: Plan, catalog: Catalog, out: BinaryIO) -> None:
        self.buf = buf
        self.plan = plan
        self.catalog = catalog
        self.out = out
        self.items = plan.layout.items
        self.eol = _newline(buf)
        self.captures: list[Capture] = []
        self.last_byte = b"\n"

    def emit(self, data: bytes) -> None:
        if data:
            self.out.write(data)
            self.last_byte = data[-1:]

    def copy_items(self, first: int, last: int) -> None:
        if first < last:
            start, end = self.items[first].start, self.items[last - 1].end
            _copy(self.buf, start, end, self.out)
            self.last_byte = self.buf[end - 1 : end]

    def sql(self, text: str, encoding: str = "utf-8") -> None:
        if self.last_byte not in (b"\n", b""):
            self.emit(self.eol)
        self.emit(text.replace("\n", self.eol.decode()).encode(encoding, "surrogateescape"))

    def run(self) -> None:
        layout = self.plan.layout
        self.copy_items(0, layout.prologue_end)
        current = self._path_at(layout.units[0])
        for unit in self.plan.order:
            wanted = self._path_at(unit)
            if wanted != current:
                path = ", ".join(quote_ident(s) for s in wanted)
                self.sql(f"\nSET search_path = {path}, pg_catalog;\n")
                current = wanted
            self.separate(unit.first)
            self.write_unit(unit)
        self.write_updates()
        end_path = self._path_at(layout.units[-1])
        if current != end_path:
            path = ", ".join(quote_ident(s) for s in end_path)
            self.sql(f"\nSET search_path = {path}, pg_catalog;\n")
        self.separate(layout.epilogue_start)
        self.copy_items(layout.epilogue_start, len(self.items))

    def separate(self, index: int) -> None:
        """Keep statements apart: a unit may move behind one that ends without a newline."""
        if index < len(self.items) and self.last_byte not in (b"\n", b""):
            if self.buf[self.items[index].start] not in b" \t\r\n":
                self.emit(self.eol)

    def _path_at(self, unit: Unit) -> tuple[str, ...]:
        return self.items[unit.blocks[0]].search_path

    def write_unit(self, unit: Unit) -> None:
        rewrite = self.plan.rewrites.get(unit.node)
        pos = unit.first
        for b in unit.blocks:
            self.copy_items(pos, b)
            item = self.items[b]
            if rewrite is None:
                self.copy_items(b, b + 1)
            else:
                self.write_block(unit, item, rewrite)
            pos = b + 1
        self.copy_items(pos, unit.last)

    def write_block(self, unit: Unit, item: Item, rewrite: Rewrite) -> None:
        columns = block_columns(item, self.catalog, unit.table)
        deferred = tuple(c for c in columns if c in rewrite.nulled)
        key = rewrite.key
        capture = Capture(
            f"dumpfix_{len(self.captures) + 1}",
            unit.table,
            key,
            tuple(c for c in columns if c in key or c in deferred),
            deferred,
        )
        self.captures.append(capture)
        fields = tuple(columns.index(c) for c in capture.columns)
        nulled = tuple(columns.index(c) for c in deferred)
        sql_columns = ", ".join(quote_ident(c) for c in capture.columns)
        create = (
            f"CREATE TEMP TABLE {capture.name} AS SELECT {sql_columns} "
            f"FROM {unit.table} WITH NO DATA;\n"
        )
        forward = any(d.forward_only for d in rewrite.deferrals)
        if item.kind is Kind.COPY and not forward:
            data_end = copy_data_end(self.buf, item)
            _copy(self.buf, item.start, item.data_start, self.out)
            for chunk in copy_chunks(self.buf, item.data_start, data_end):
                self.emit(copy_null_out(chunk, nulled))
            self.copy_items_span(data_end, item.end)
            self.sql(f"\n{create}COPY pg_temp.{capture.name} ({sql_columns}) FROM stdin;\n", item.encoding)
            for chunk in copy_chunks(self.buf, item.data_start, data_end):
                self.emit(copy_extract(chunk, fields, nulled))
            self.emit(b"\\." + self.eol)
            return
        decisions = list(self._row_decisions(unit, item, rewrite, columns))
        if item.kind is Kind.COPY:
            self.write_copy_rows(item, decisions)
            self.sql(f"\n{create}COPY pg_temp.{capture.name} ({sql_columns}) FROM stdin;\n", item.encoding)
            for row, null_idx in zip(copy_rows(self.buf, item), decisions):
                if null_idx:
                    self.emit(b"\t".join(row[i] for i in fields) + self.eol)
            self.emit(b"\\." + self.eol)
            return
        self.write_insert_rows(item, decisions)
        self.sql(f"\n{create}", item.encoding)
        batch: list[bytes] = []
        head = f"INSERT INTO pg_temp.{capture.name} ({sql_columns}) VALUES".encode(item.encoding, "surrogateescape")
        for values, null_idx in zip(_insert_rows(self.buf, item), decisions):
            if null_idx:
                batch.append(render_tuple([values[i] for i in fields]))
                if len(batch) == BATCH:
                    self.emit_batch(head, batch)
                    batch = []
        if batch:
            self.emit_batch(head, batch)

    def copy_items_span(self, start: int, end: int) -> None:
        if start < end:
            _copy(self.buf, start, end, self.out)
            self.last_byte = self.buf[end - 1 : end]

    def emit_batch(self, head: bytes, batch: list[bytes]) -> None:
        sep = b"," + self.eol + b"\t"
        self.emit(head + self.eol + b"\t" + sep.join(batch) + b";" + self.eol)

    def _row_decisions(
        self, unit: Unit, item: Item, rewrite: Rewrite, columns: tuple[str, ...]
    ) -> Iterator[tuple[int, ...]]:
        """Per row of the block, the field positions to load as NULL (empty: unchanged)."""
        always = [columns.index(c) for d in rewrite.deferrals if not d.forward_only for c in d.columns]
        flags = []
        for d in rewrite.deferrals:
            if d.forward_only:
                blocks = self.plan.layout.blocks_of(unit.node)
                cols = [block_columns(b, self.catalog, unit.table) for b in blocks]
                flags.append(([columns.index(c) for c in d.columns], _flags_for(self.buf, blocks, cols, d.fk, item)))
        rows = copy_rows(self.buf, item) if item.kind is Kind.COPY else _insert_rows(self.buf, item)
        for row in rows:
            idx = [i for i in always if row[i] not in NULLS]
            for positions, it in flags:
                if next(it):
                    idx.extend(i for i in positions if row[i] not in NULLS)
            yield tuple(sorted(set(idx)))

    def write_copy_rows(self, item: Item, decisions: list[tuple[int, ...]]) -> None:
        data_end = copy_data_end(self.buf, item)
        _copy(self.buf, item.start, item.data_start, self.out)
        for row, null_idx in zip(copy_rows(self.buf, item), decisions):
            for i in null_idx:
                row[i] = b"\\N"
            self.emit(b"\t".join(row) + self.eol)
        self.copy_items_span(data_end, item.end)

    def write_insert_rows(self, item: Item, decisions: list[tuple[int, ...]]) -> None:
        it = iter(decisions)
        pos = item.start
        for start, end in insert_statements(self.buf, item.start, item.end):
            for t in insert_tuples(self.buf, start, end, len(item.prefix)):
                null_idx = next(it)
                if null_idx:
                    self.copy_items_span(pos, t.start)
                    values = list(t.values)
                    for i in null_idx:
                        values[i] = b"NULL"
                    self.emit(render_tuple(values))
                    pos = t.end
        self.copy_items_span(pos, item.end)

    def write_updates(self) -> None:
        if not self.captures:
            return
        lines = ["", "-- dumpfix: set the FK columns that were loaded as NULL", ""]
        for c in self.captures:
            sets = ", ".join(f"{quote_ident(col)} = dumpfix_v.{quote_ident(col)}" for col in c.deferred)
            where = " AND ".join(f"dumpfix_t.{quote_ident(k)} = dumpfix_v.{quote_ident(k)}" for k in c.key)
            lines.append(
                f"UPDATE {c.table} AS dumpfix_t SET {sets} FROM pg_temp.{c.name} AS dumpfix_v WHERE {where};"
            )
        for c in self.captures:
            lines.append(f"DROP TABLE pg_temp.{c.name};")
        self.sql("\n".join(lines) + "\n", self.items[self.plan.layout.units[0].blocks[0]].encoding)


def _flags_for(buf: bytes, blocks: list[Item], cols: list[tuple[str, ...]], fk, item: Item) -> Iterator[bool]:
    """The forward-reference flags of one block's rows, computed over all blocks up to it."""
    flags = forward_flags(buf, blocks, cols, fk)
    for b in blocks:
        n = sum(1 for _ in (copy_rows(buf, b) if b.kind is Kind.COPY else _insert_rows(buf, b)))
        if b is item:
            for _ in range(n):
                yield next(flags)
            return
        for _ in range(n):
            next(flags)


def _insert_rows(buf: bytes, item: Item) -> Iterator[list[bytes]]:
    for start, end in insert_statements(buf, item.start, item.end):
        for t in insert_tuples(buf, start, end, len(item.prefix)):
            yield t.values


def _newline(buf: bytes) -> bytes:
    nl = buf.find(b"\n")
    return b"\r\n" if nl > 0 and buf[nl - 1] == 0x0D else b"\n"
