"""Emit a plan: unchanged bytes copied, moved units in their new order, staged tables.

A table with nulled FK columns (loaded as NULL, set afterwards) is staged where it can be: its COPY block or
INSERT statements load a temporary table, unchanged but for their target (the
data is copied byte for byte), one INSERT ... SELECT moves the rows into the
table with NULL in the nulled columns, and one set-based UPDATE per table
sets them from the same temporary table once every row is in. Otherwise the
rows load with NULL there and the original values go into a temporary table
right after the block (COPY for COPY dumps, multi-row INSERT for INSERT dumps).
Every statement written here comes from statements.py.
"""

from __future__ import annotations

import contextlib
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from dumpfix import statements as sql
from dumpfix.catalog import Catalog, ForeignKey, QName
from dumpfix.cleanup import portable_setting
from dumpfix.dumpfile import Item, Kind, redirected, redirected_header
from dumpfix.input import Input
from dumpfix.inserts import Shape, mergeable, merged, merging, shape_of
from dumpfix.layout import END_MARK, HEAD_MARK, OFF_MARK, UPDATES_MARK, Unit, is_leading, refuse_between, resolve
from dumpfix.plan import Cut, Method, Plan, Rewrite, bulk_fks_of, bulk_ways
from dumpfix.rows import (
    copy_chunks,
    copy_extract,
    copy_null_out,
    insert_rows,
    insert_statements,
    insert_tuples,
    render_tuple,
)
from dumpfix.settings import Settings, changes, followed, may_set
from dumpfix.stats import NULLS, block_columns, copy_data_end, copy_rows

# Rows per INSERT into a temporary table.
BATCH = 1000


@dataclass(frozen=True)
class Capture:
    """A temporary table holding a block's original values of its nulled columns."""

    name: str
    table: QName
    key: tuple[str, ...]
    nulled: tuple[str, ...]
    #: Holds every row (a staged table), not only those with a nulled value.
    staged: bool = False


HEAD = HEAD_MARK.decode()
TAIL = "-- dumpfix: after the data"
#: The COMMIT stands after the epilogue's setval calls, apart from the checks: a
#: sequence's setval is never rolled back, so whatever can fail must run before it.
COMMIT_MARK = "-- dumpfix: commit"
#: Statements that begin or end a transaction: one in the epilogue (pg_dump's around
#: large objects) would end dumpfix's, whose COMMIT therefore comes before it.
_TRANSACTION_CONTROL = re.compile(rb"(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT)\b", re.IGNORECASE)
END = END_MARK.decode()
#: A bulk load takes each table's FKs off right before its first data (the line goes on
#: with the table's name): written as the data streams, it needs no look ahead.
OFF = OFF_MARK.decode()


def write_plan(source: Input, plan: Plan, catalog: Catalog, out: BinaryIO, unchanged: bool = False) -> None:
    """The output for the plan; unchanged (from dry_run): the input as it is; with
    nothing to do but leave items out (pg_dump's messages, say): the rest as it is."""
    if unchanged or not plan.changed:
        source.copy_out(0, len(source), out)
    elif not (plan.rewritten or plan.transaction):  # no head, no tail: the input but its skips
        _Writer(source, plan, catalog, out).copy_span(0, len(source))
    else:
        _Writer(source, plan, catalog, out).write_all()


class _Differs(Exception):
    pass


class _Comparing:
    """A sink that checks what is written against buf, stopping at the first difference."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def write(self, data: bytes) -> int:
        size = len(data)
        if self.buf[self.pos : self.pos + size] != data:
            raise _Differs
        self.pos += size
        return size


def dry_run(source: Input, plan: Plan, catalog: Catalog) -> bool:
    """The writer's dry run, the stage after planning: whether the output is the input.

    True when the plan only copies, and for an earlier run's output whose transaction
    head and tail this plan writes again as they stand: running dumpfix on its own
    output changes nothing, and ``--check`` passes on it. Nothing is written: the
    output is compared with the input as it would be written, up to the first
    difference.
    """
    if not plan.changed:
        return True
    return not plan.rewritten and not plan.layout.dropped and _reproduces(source, plan, catalog)


def _reproduces(source: Input, plan: Plan, catalog: Catalog) -> bool:
    sink = _Comparing(source.data)
    try:
        _Writer(source, plan, catalog, sink).write_all()  # type: ignore[arg-type]
    except _Differs:
        return False
    return sink.pos == len(source)


def own_regions(buf: bytes, plan: Plan) -> tuple[tuple[int, int] | None, list[tuple[int, int]]]:
    """Where an earlier run of dumpfix put its head, and its tail and COMMIT: they are
    replaced, not repeated.

    Only comments count (SPACE items): the same words inside data are data.
    """
    layout = plan.layout
    if not layout.units:
        return None, []
    first, last = layout.units[0].blocks[0], layout.units[-1].blocks[-1]
    after = [_region(buf, layout.items, mark, last + 1, len(layout.items)) for mark in (TAIL, COMMIT_MARK)]
    offs = list(_regions(buf, layout.items, OFF, 0, last))
    return _region(buf, layout.items, HEAD, 0, first), offs + [r for r in after if r is not None]


def _regions(buf: bytes, items: list[Item], mark: str, first: int, last: int) -> Iterator[tuple[int, int]]:
    """Every region opened by mark among items [first, last), in order."""
    while (found := _region(buf, items, mark, first, last)) is not None:
        yield found
        first = next((i for i in range(first, last) if items[i].end > found[1]), last)


def _region(buf: bytes, items: list[Item], mark: str, first: int, last: int) -> tuple[int, int] | None:
    start = None
    for item in items[first:last]:
        if item.kind is not Kind.SPACE:
            continue
        text = bytes(buf[item.start : item.end])
        if start is None:
            at = _line_start_find(text, mark.encode())
            if at >= 0:
                start = _own_newline(buf, item.start, item.start + at)
                end_at = _line_start_find(text, END.encode(), at)
                if end_at >= 0:
                    return start, item.start + end_at + len(END)
        else:
            end_at = _line_start_find(text, END.encode())
            if end_at >= 0:
                return start, item.start + end_at + len(END)
    return None


def _own_newline(buf: bytes, item_start: int, at: int) -> int:
    """Where a region found at ``at`` in a SPACE item (from item_start) starts: with the
    newline before it when dumpfix wrote that newline too (emit_region does after a
    byte other than a newline), not when it ends a line of the dump (a COPY block's
    last line is its own item; blank lines are the dump's)."""
    for eol in (b"\r\n", b"\n"):
        before = at - len(eol)
        if before >= item_start and buf[before:at] == eol:
            return before if before > 0 and buf[before - 1 : before] != b"\n" else at
    return at


def _line_start_find(text: bytes, word: bytes, pos: int = 0) -> int:
    at = text.find(word, pos)
    while at > 0 and text[at - 1] != 0x0A:
        at = text.find(word, at + 1)
    return at


class _Writer:
    def __init__(self, source: Input, plan: Plan, catalog: Catalog, out: BinaryIO) -> None:
        self.source = source
        self.buf = buf = source.data
        self.plan = plan
        self.catalog = catalog
        self.out = out
        self.items = plan.layout.items
        self.eol = _newline(buf)
        self.captures: list[Capture] = []
        #: dumpfix_N names a table of the catalog or the dump has: an unqualified
        #: reference to it would find dumpfix's temporary table first (pg_temp).
        self.taken = {t.name for t in catalog.tables} | {
            relation.name
            for u in plan.layout.units
            if not u.staged
            for b in u.blocks
            if (relation := self.items[b].relation) is not None
        }
        self.next_capture = plan.layout.captures + 1
        #: The settings (and codec) in force at the point of the output written so far.
        self.settings: Settings = ()
        self.encoding = "utf-8"
        self.last_byte = b"\n"
        head, after = own_regions(buf, plan)
        dropped = [(self.items[i].start, self.items[i].end) for i in plan.layout.dropped]
        #: What is never copied, sorted and apart: the regions an earlier run added, the
        #: items the output leaves out (cleanup.py).
        self.skips = _disjoint(([head] if head is not None else []) + after + dropped)
        self.skip_ends = [end for _, end in self.skips]
        self.old_head = head
        #: Runs of INSERT statements are written as multi-row INSERTs (inserts.py).
        self.merging = merging(plan)
        #: The bulk load's FKs taken off so far, table by table (take_off).
        self.taken_off: list[ForeignKey] = []
        self.tables_off: set[QName] = set()

    def copy_span(self, start: int, end: int) -> None:
        """Copy input bytes, leaving out what is never copied (self.skips)."""
        i = bisect_right(self.skip_ends, start)
        while i < len(self.skips) and self.skips[i][0] < end:
            self._copy(start, self.skips[i][0])
            start = max(start, self.skips[i][1])
            i += 1
        self._copy(start, end)

    def _copy(self, start: int, end: int) -> None:
        if start < end:
            self.source.copy_out(start, end, self.out)
            self.last_byte = self.buf[end - 1 : end]

    def skipped(self, start: int, end: int) -> bool:
        """Whether input bytes [start, end) lie within what is never copied."""
        i = bisect_right(self.skip_ends, start)
        return i < len(self.skips) and self.skips[i][0] <= start and end <= self.skips[i][1]

    def emit(self, data: bytes) -> None:
        if data:
            self.out.write(data)
            self.last_byte = data[-1:]

    def copy_items(self, first: int, last: int) -> None:
        if first < last:
            self.copy_span(self.items[first].start, self.items[last - 1].end)

    def sql(self, text: str, encoding: str | None = None, eol: bytes | None = None) -> None:
        """Text dumpfix writes, in the client_encoding in force where it goes (unless
        given) and with the file's newline (or the block's, eol)."""
        eol = eol or self.eol
        if self.last_byte not in (b"\n", b""):
            self.emit(eol)
        self.emit(text.replace("\n", eol.decode()).encode(encoding or self.encoding, "surrogateescape"))

    def state_at(self, index: int) -> tuple[Settings, str]:
        """The settings and encoding the input has in force where item index starts."""
        if index < len(self.items):
            return self.items[index].settings, self.items[index].encoding
        last = self.items[-1]
        if last.kind is Kind.STATEMENT:
            return followed(bytes(self.buf[last.start : last.end]), last.settings, last.encoding), last.encoding
        return last.settings, last.encoding

    def reached(self, index: int) -> None:
        """The input has been copied up to item index: its settings hold now."""
        self.settings, self.encoding = self.state_at(index)

    def settle(self, index: int) -> None:
        """Before input from item index on, which moved: the settings it had in the input.

        Only what differs is set (nothing where nothing moved past a SET), the client
        encoding first, as the statements after it are read in it, then
        standard_conforming_strings, which the others' literals may depend on; a
        setting the input had not set there goes back to the connection's default.
        """
        wanted, encoding = self.state_at(index)
        if wanted == self.settings:
            return
        self.sql("\n" + "\n".join(changes(self.settings, wanted)) + "\n", encoding)
        self.settings, self.encoding = wanted, encoding

    def write_all(self) -> None:
        layout = self.plan.layout
        # An earlier run's head is written again where it stood: what it wrote after
        # its head (a SET before a moved block) is part of the prologue now.
        split = layout.prologue_end
        if self.old_head is not None:
            split = next((i for i in range(split) if self.items[i].start >= self.old_head[0]), split)
        self.write_prologue(split, layout.prologue_end)
        segment = 0
        for unit in self.plan.order:
            while segment < unit.segment:  # what stands between two \restrict pairs: in place
                first, last = layout.barriers[segment]
                self.write_between(first, last)
                segment += 1
            self.begin_unit(unit.first, unit.node)
            self.write_unit(unit)
            self.reached(unit.last)
        assert not self.plan.bulk or set(self.taken_off) == set(self.plan.bulk_fks), "bulk FKs not taken off"
        self.write_updates()
        self.write_tail()

    def write_prologue(self, head: int, end: int) -> None:
        """The items before the data, with the head before item head."""
        self.copy_prologue(0, head)
        self.emit_region(HEAD, self.head_statements())
        self.copy_prologue(head, end)
        self.reached(end)

    def write_between(self, first: int, last: int) -> None:
        """Items [first, last) in place, between two units."""
        self.settle(first)
        self.separate(first)
        self.copy_items(first, last)
        self.reached(last)

    def begin_unit(self, first: int, node: QName) -> None:
        """Before a unit starting at item first: its settings, a line break, its FKs off."""
        self.settle(first)
        self.separate(first)
        self.take_off(node)
        self.separate(first)  # the data's first line after the region's last

    def write_tail(self) -> None:
        """From the epilogue on: every check before the epilogue's statements (pg_dump's
        setval calls, which no rollback undoes), the COMMIT after them: a load that
        fails, whatever fails, leaves the sequences as they were too. An earlier run's
        UPDATEs come first."""
        layout = self.plan.layout
        self.settle(layout.epilogue_start)
        checks = layout.updates_end
        if checks > layout.epilogue_start:
            self.separate(layout.epilogue_start)
            self.copy_items(layout.epilogue_start, checks)
        self.emit_region(TAIL, self.tail_statements())
        commit = max(self.commit_point(), checks)
        if commit > checks:
            self.separate(checks)
            self.copy_items(checks, commit)
        if self.plan.transaction:
            self.emit_region(COMMIT_MARK, [sql.COMMIT])
        self.separate(commit)
        self.copy_items(commit, len(self.items))

    def commit_point(self) -> int:
        """The item before which the tail (and its COMMIT) goes: after the last statement
        of the epilogue that comes before its first psql meta-command (\\unrestrict,
        \\connect) or transaction control of its own (pg_dump's BEGIN ... COMMIT around
        large objects would end dumpfix's transaction early). An earlier run's tail
        is skipped: it is replaced, wherever it stood."""
        layout = self.plan.layout
        commit = layout.epilogue_start
        for index in range(layout.epilogue_start, len(self.items)):
            item = self.items[index]
            if self.skipped(item.start, item.end):
                continue
            if item.kind is Kind.META:
                break
            if not item.kind.blank:
                if _TRANSACTION_CONTROL.match(self.buf, item.start, item.end):
                    break
                commit = index + 1
        return commit

    def copy_prologue(self, start: int, end: int) -> None:
        """Items of the prologue (before the data); with no target version known, a
        setting older servers lack is set where the server knows it
        (cleanup.portable_setting): the rewritten dump then loads into any supported
        version as it is."""
        if self.plan.settings.target_version is None:
            for i, item in enumerate(self.items[start:end], start):
                if item.kind is not Kind.STATEMENT or not may_set(self.buf[item.start : item.start + 64]):
                    continue  # not a SET: nothing copied out to look at
                portable = portable_setting(bytes(self.buf[item.start : item.end]), item.encoding)
                if portable is not None:
                    self.copy_items(start, i)
                    self.emit(portable)
                    start = i + 1
        self.copy_items(start, end)

    def emit_region(self, mark: str, statements: list[str]) -> None:
        if mark == TAIL and not statements:
            return
        summary = f"{HEAD}: {summarise(self.plan)}" if mark == HEAD else mark
        text = "\n".join([summary, *statements, END])
        if self.last_byte not in (b"\n", b""):
            text = "\n" + text
        self.emit(text.replace("\n", self.eol.decode()).encode(self.encoding, "surrogateescape"))

    def take_off(self, node: QName) -> None:
        """Before a table's first data: its FKs off, with no deferred check pending (ALTER
        TABLE refuses a table with pending trigger events, the referenced one included)."""
        if not self.plan.bulk or node in self.tables_off:
            return
        self.tables_off.add(node)
        fks = bulk_fks_of(self.catalog, {node})
        self.taken_off.extend(fks)
        if fks:
            off = [sql.released(fk, *self.plan.settings.takes_off(fk)) for fk in fks]
            self.emit_region(f"{OFF} {_comment_text(str(node))}", [sql.CHECK_ALL, *off, sql.DEFER_ALL])

    def head_statements(self) -> list[str]:
        plan = self.plan
        if not plan.transaction:
            return []
        altered = [] if plan.bulk else plan.altered  # the bulk load's go off table by table (take_off)
        off = (sql.released(fk, plan.dropped(fk), plan.unenforces(fk)) for fk in altered)
        locks = [f"-- {sql.LOCKS}."] if plan.bulk_fks or plan.bulk else []
        lines = [*locks, sql.BEGIN, *off, sql.DEFER_ALL]
        if plan.superuser:
            lines.append(sql.REPLICA)
        return lines

    def tail_statements(self) -> list[str]:
        plan = self.plan
        if not plan.transaction:
            return []
        lines = [sql.CHECK_ALL]
        if (plan.unenforced or plan.recreated) and plan.altered:
            lines.append(sql.VALIDATION_MEMORY)
        merged = set(plan.merge_validated)
        lines.extend(sql.restored(fk, plan.dropped(fk), plan.unenforces(fk)) for fk in plan.altered if fk not in merged)
        if merged:
            lines.append(sql.NO_HASH_JOIN)
            lines.extend(sql.restored(fk, plan.dropped(fk), plan.unenforces(fk)) for fk in plan.merge_validated)
        lines.extend(sql.comment_on(fk) for fk in plan.altered if fk.comment is not None and plan.dropped(fk))
        if plan.superuser:
            lines.append(sql.ORIGIN)
            lines.extend(sql.orphan_check(fk) for fk in plan.checked)
        return lines

    def separate(self, index: int) -> None:
        """Keep statements apart: a unit may move behind one that ends without a newline."""
        if index < len(self.items) and self.last_byte not in (b"\n", b""):
            at = self.items[index].start
            i = bisect_right(self.skip_ends, at)  # the first byte copied: skips are apart
            if i < len(self.skips) and self.skips[i][0] <= at:
                at = self.skips[i][1]
            if at < len(self.buf) and self.buf[at] not in b" \t\r\n":
                self.emit(self.eol)

    def write_unit(self, unit: Unit) -> None:
        rewrite = self.plan.rewrites.get(unit.node)
        if rewrite is not None and unit.staged:  # an earlier run's: its UPDATE is in the dump already
            self.copy_items(unit.first, unit.last)
            return
        if rewrite is not None and rewrite.staged:
            self.write_staged(unit, rewrite)
            return
        pos = unit.first
        for b in unit.blocks:
            self.copy_items(pos, b)
            if rewrite is not None:
                self.write_block(unit, self.items[b], rewrite)
            else:
                self.write_as_is(b, unit.table)
            pos = b + 1
        self.copy_items(pos, unit.last)

    def write_as_is(self, index: int, table: QName) -> None:
        """A data item with its rows as they are: copied, or its INSERTs merged."""
        item = self.items[index]
        merging = self.merging and mergeable(self.catalog.tables.get(table))
        shape = shape_of(self.buf, item, self.eol) if merging else None
        if shape is None:
            self.copy_items(index, index + 1)
        else:
            for piece in merged(self.buf, item, shape):
                self.emit(piece)

    def write_staged(self, unit: Unit, rewrite: Rewrite) -> None:
        """The unit's COPY or INSERT data into a temporary table, then one INSERT ... SELECT.

        The SELECT writes NULL for the nulled columns (set by the UPDATE after the
        data) and leaves out generated columns; a self-reference needs nothing, as
        one statement checks its rows once all are in.
        """
        first = self.items[unit.blocks[0]]
        columns = block_columns(first, self.catalog, unit.table)
        known = self.catalog.tables.get(unit.table)
        generated = {c for c in columns if known is not None and c in known.columns and known.columns[c].generated}
        nulled = tuple(c for c in columns if c in rewrite.nulled)
        name = self.capture_name()
        self.captures.append(Capture(name, unit.table, rewrite.key, nulled, staged=True))
        self.copy_items(unit.first, unit.blocks[0])
        self.sql(sql.create_capture(name, unit.table, columns) + "\n", first.encoding)
        target = f"pg_temp.{name}".encode(first.encoding, "surrogateescape")
        pos = unit.blocks[0]
        for b in unit.blocks:
            self.copy_items(pos, b)
            item = self.items[b]
            if item.kind is Kind.COPY:  # the data as it is: copied inside the kernel
                self.emit(redirected_header(self.buf, item, target))
                self.copy_span(item.data_start, item.end)
            else:  # its INSERTs into target (a temporary table: no trigger, merged if it can be)
                shape = shape_of(self.buf, item, self.eol) if self.merging else None
                pieces = redirected(self.buf, item, target) if shape is None else merged(self.buf, item, shape, target)
                for piece in pieces:
                    self.emit(piece)
            pos = b + 1
        loaded = [c for c in columns if c not in generated]
        self.sql("\n" + sql.insert_staged(unit.table, loaded, nulled, name) + "\n", first.encoding)
        self.copy_items(pos, unit.last)

    def capture_name(self) -> str:
        """The next temporary table's name, after those an earlier run left in the dump,
        and none that a table of the catalog or the dump has."""
        while f"dumpfix_{self.next_capture}" in self.taken:
            self.next_capture += 1
        self.next_capture += 1
        return f"dumpfix_{self.next_capture - 1}"

    def write_block(self, unit: Unit, item: Item, rewrite: Rewrite) -> None:
        columns = block_columns(item, self.catalog, unit.table)
        nulled_columns = tuple(c for c in columns if c in rewrite.nulled)
        capture = Capture(self.capture_name(), unit.table, rewrite.key, nulled_columns)
        self.captures.append(capture)
        captured = tuple(c for c in columns if c in rewrite.key or c in nulled_columns)  # in the block's field order
        fields = tuple(columns.index(c) for c in captured)
        nulled = tuple(columns.index(c) for c in nulled_columns)
        create = sql.create_capture(capture.name, unit.table, captured) + "\n"
        copy_header = sql.copy_capture(capture.name, captured)
        forward = any(d.forward_only for d in rewrite.deferrals)
        # COPY data ends its lines as its first line does (and psql before 18 sends
        # the \\. line to the server, which compares): the block's newline, not the file's.
        eol = _block_newline(self.buf, item) if item.kind is Kind.COPY else self.eol
        if item.kind is Kind.COPY and not forward:
            data_end = copy_data_end(self.buf, item)
            self.copy_span(item.start, item.data_start)
            for chunk in copy_chunks(self.buf, item.data_start, data_end):
                self.emit(copy_null_out(chunk, nulled))
            self.copy_span(data_end, item.end)
            self.sql(f"\n{create}{copy_header}\n", item.encoding, eol)
            for chunk in copy_chunks(self.buf, item.data_start, data_end):
                self.emit(copy_extract(chunk, fields, nulled))
            self.emit(b"\\." + eol)
            return
        # Each pass over the block decides row by row afresh: nothing kept per row.
        if item.kind is Kind.COPY:
            self.write_copy_rows(item, self._decider(item, rewrite, columns), eol)
            self.sql(f"\n{create}{copy_header}\n", item.encoding, eol)
            decide = self._decider(item, rewrite, columns)
            for row in copy_rows(self.buf, item):
                if decide(row):
                    self.emit(b"\t".join(row[i] for i in fields) + eol)
            self.emit(b"\\." + eol)
            return
        self.write_insert_rows(item, self._decider(item, rewrite, columns))
        self.sql(f"\n{create}", item.encoding)
        batch: list[bytes] = []
        head = sql.insert_capture(capture.name, captured).encode(item.encoding, "surrogateescape")
        decide = self._decider(item, rewrite, columns)
        for values in insert_rows(self.buf, item.start, item.end, len(item.prefix)):
            if decide(values):
                batch.append(render_tuple([values[i] for i in fields]))
                if len(batch) == BATCH:
                    self.emit_batch(head, batch)
                    batch = []
        if batch:
            self.emit_batch(head, batch)

    def emit_batch(self, head: bytes, batch: list[bytes]) -> None:
        sep = b"," + self.eol + b"\t"
        self.emit(head + self.eol + b"\t" + sep.join(batch) + b";" + self.eol)

    def _decider(
        self, item: Item, rewrite: Rewrite, columns: tuple[str, ...]
    ) -> Callable[[list[bytes]], tuple[int, ...]]:
        """A function called on each row of the block in order: the field positions
        to load as NULL there (empty: the row is unchanged)."""
        always = [columns.index(c) for d in rewrite.deferrals if not d.forward_only for c in d.nulled]
        flags = [
            ([columns.index(c) for c in d.nulled], iter(self.plan.forward[d.fk][item.start]))
            for d in rewrite.deferrals
            if d.forward_only
        ]

        def decide(row: list[bytes]) -> tuple[int, ...]:
            idx = [i for i in always if row[i] not in NULLS]
            for positions, it in flags:
                if next(it):
                    idx.extend(i for i in positions if row[i] not in NULLS)
            return tuple(sorted(set(idx))) if idx else ()

        return decide

    def write_copy_rows(self, item: Item, decide: Callable[[list[bytes]], tuple[int, ...]], eol: bytes) -> None:
        data_end = copy_data_end(self.buf, item)
        self.copy_span(item.start, item.data_start)
        for row in copy_rows(self.buf, item):
            for i in decide(row):
                row[i] = b"\\N"
            self.emit(b"\t".join(row) + eol)
        self.copy_span(data_end, item.end)

    def write_insert_rows(self, item: Item, decide: Callable[[list[bytes]], tuple[int, ...]]) -> None:
        pos = item.start
        for start, end in insert_statements(self.buf, item.start, item.end):
            for t in insert_tuples(self.buf, start, end, len(item.prefix)):
                null_idx = decide(t.values)
                if null_idx:
                    self.copy_span(pos, t.start)
                    values = list(t.values)
                    for i in null_idx:
                        values[i] = b"NULL"
                    self.emit(render_tuple(values))
                    pos = t.end
        self.copy_span(pos, item.end)

    def write_updates(self) -> None:
        if not self.captures:
            return
        lines = ["", UPDATES_MARK.decode(), ""]
        triggers = self.plan.disabled_triggers
        if triggers:  # ALTER TABLE refuses tables with pending deferred checks
            lines.append(sql.CHECK_ALL)
        for c in self.captures:
            if not c.nulled:  # staged for a self-reference only: nothing was loaded as NULL
                continue
            lines.extend(sql.switch_trigger(c.table, name, on=False) for name in triggers.get(c.table, ()))
            lines.append(sql.update_nulled(c.table, c.name, c.key, c.nulled, c.staged))
            lines.extend(sql.switch_trigger(c.table, name, on=True) for name in triggers.get(c.table, ()))
        lines.extend(sql.drop_capture(c.name) for c in self.captures)
        self.sql("\n".join(lines) + "\n")


class StreamingWriter(_Writer):
    """The bulk load written while the input is read (stream.py): the same output as
    write_all's for the same items, each written once what it needs is known.

    Items arrive in order in a list that grows (items, shared with the reader), the
    input's map with them (source). Nothing is written before the first data; from
    there every data item is written on arrival with what stands before it (its
    table's FKs off first, the first time); what follows the last one waits, as it
    may be the epilogue, for finish(), which gets the plan of the whole input.
    """

    def __init__(self, source: Input, plan: Plan, catalog: Catalog, out: BinaryIO) -> None:
        super().__init__(source, plan, catalog, out)
        self.seen = 0  # items[:seen] were looked at (a dropped one's span noted)
        self.last_block: int | None = None
        #: A COPY block being written while its data arrives: the next byte to write.
        self.open_at: int | None = None
        self.open_eol = b"\n"
        #: A run of INSERTs written while it may still go on: its index, where its
        #: written part ends, how many chunks that is, and the shape they merge in.
        self.run: int | None = None
        self.run_at = 0
        self.run_chunks = 0
        self.run_shape: Shape | None = None

    def update(self, source: Input) -> None:
        """The input's map after it grew."""
        self.source, self.buf = source, source.data

    def take(self, ready: int) -> None:
        """Items up to ready are complete: write each data item among them (the last may
        be a COPY block still open: see stream_copy)."""
        if self.run is not None and ready > self.run:  # the run streamed so far has ended
            self.stream_run(self.run)
            self.run = None
        while self.seen < ready:
            index = self.seen
            item = self.items[index]
            self.seen += 1
            if item.kind.dropped:
                self.skips.append((item.start, item.end))
                self.skip_ends.append(item.end)
            elif item.kind in (Kind.COPY, Kind.INSERTS):
                table = self.start_data(index)
                if item.kind is Kind.COPY and item.end == item.data_start:  # open: its data comes later
                    self.copy_items(index, index + 1)
                    self.open_at = item.end
                else:
                    self.write_as_is(index, table)

    def stream_run(self, index: int) -> None:
        """The chunks of a run of INSERTs that are complete, while the run may still go on
        (items[index] grows a chunk at a time: each is merged on its own, write.merged)."""
        item = self.items[index]
        if self.run != index:
            self.seen = index + 1
            table = self.start_data(index)
            self.run, self.run_at, self.run_chunks = index, item.start, 0
            merging = self.merging and mergeable(self.catalog.tables.get(table))
            self.run_shape = shape_of(self.buf, item, self.eol) if merging else None
        if self.run_shape is None:
            self.copy_span(self.run_at, item.end)
        else:
            rest = replace(item, start=self.run_at, chunks=item.chunks[self.run_chunks :])
            for piece in merged(self.buf, rest, self.run_shape):
                self.emit(piece)
        self.run_at, self.run_chunks = item.end, len(item.chunks)

    def start_data(self, index: int) -> QName:
        """What comes before the data item at index (its unit's start, its table's FKs
        off); the table it loads."""
        item = self.items[index]
        table = resolve(item, self.catalog)
        last = self.last_block
        if last is None:
            first = self._leading_start(index, 0)
            self.write_prologue(first, first)
            self.begin_unit(first, self.catalog.root_of(table))
        elif self.items[last].relation == item.relation and all(i.kind.blank for i in self.items[last + 1 : index]):
            first = last + 1  # the same table's data goes on: one unit
        else:
            walls = refuse_between(self.buf, self.items, last + 1, index)
            first = self._leading_start(index, walls[-1] + 1 if walls else last + 1)
            end = walls[0] if walls else first
            self.copy_items(last + 1, end)
            self.reached(end)
            if walls:
                self.write_between(end, first)
            self.begin_unit(first, self.catalog.root_of(table))
        self.copy_items(first, index)
        self.last_block = index
        return table

    def _leading_start(self, index: int, floor: int) -> int:
        """Where the unit of the data item at index starts (layout.lay_out alike)."""
        start = index
        while start > floor and is_leading(self.buf, self.items[start - 1]):
            start -= 1
        return start

    def stream_copy(self, upto: int, eol: bytes) -> None:
        """The open COPY block's data up to offset upto (a line's end)."""
        assert self.open_at is not None
        self.open_eol = eol
        if upto > self.open_at:
            self.copy_span(self.open_at, upto)
            self.open_at = upto

    def close_copy(self, end: int) -> None:
        """The open COPY block ends at end (its item in items is complete now)."""
        assert self.open_at is not None
        self.copy_span(self.open_at, end)
        self.open_at = None

    def finish(self, plan: Plan) -> None:
        """The rest, with the plan of the whole input: the epilogue, the checks, the COMMIT."""
        assert self.last_block is not None and self.open_at is None and self.run is None
        self.plan = plan
        self.copy_items(self.last_block + 1, plan.layout.epilogue_start)
        self.reached(plan.layout.epilogue_start)
        self.write_tail()

    def abort(self, reason: str) -> None:
        """End the output with a statement that fails: psql rolls the load back (no COMMIT
        was written), and with ON_ERROR_STOP stops there."""
        with contextlib.suppress(OSError, ValueError):
            if self.open_at is not None:  # psql is sending COPY data: end it first
                self.emit(b"\\." + self.open_eol)
            self.sql(sql.abort(reason) + "\n")
            self.out.flush()


#: The head's line for a bulk load taking the FKs off table by table: what it says is
#: known before the data is read (a pipe writes the head before it has seen the tables).
BULK_SUMMARY = (
    "bulk load: each table's FKs off right before its data, every one validated after the data. "
    "Restoring needs: INSERT on the tables; ownership of each table it loads."
)


def _comment_text(text: str) -> str:
    """text for a -- comment: a line break in a quoted name would end the comment and
    make the rest of the name SQL."""
    return text.replace("\r", " ").replace("\n", " ")


def summarise(plan: Plan) -> str:
    """One line on what the plan does and what restoring needs; stable across reruns.

    Self-references loaded as NULL are left out: once rewritten, a rerun finds
    no row pointing ahead and no such cut, and must still write the same line.
    """
    if plan.bulk:
        return BULK_SUMMARY
    parts = []
    for cycle in plan.cycles:
        cuts = [c for c in cycle.cuts if not (c.method is Method.NULLS and c.edge.source == c.edge.target)]
        if not cuts:
            continue
        how = ", ".join(sorted(f"{c.method.value} {c.edge.fk.table}({', '.join(_cut_columns(c))})" for c in cuts))
        # Sorted, not in the dump's order: the rewritten dump has another order.
        parts.append(f"{' <-> '.join(sorted(str(n) for n in cycle.nodes))} [{how}]")
    cycles = "; ".join(sorted(parts)) if parts else "none"
    if plan.bulk_fks:
        cycles += f"; all {len(plan.bulk_fks)} FKs {bulk_ways(plan, 'during')}"
    return _comment_text(f"FK cycles: {cycles}. Restoring needs: {'; '.join(plan.privileges())}.")


def _cut_columns(cut: Cut) -> tuple[str, ...]:
    if cut.method is Method.NULLS and cut.edge.deferral is not None:
        return cut.edge.deferral.nulled
    return cut.edge.fk.columns


def _block_newline(buf: bytes, item: Item) -> bytes:
    """The newline of a COPY block's rows: the line end before its \\. line (the
    header's, when it has no rows)."""
    at = copy_data_end(buf, item)
    return b"\r\n" if buf[at - 2 : at] == b"\r\n" else b"\n"


def _disjoint(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans sorted, those that overlap or touch made one."""
    joined: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def _newline(buf: bytes) -> bytes:
    nl = buf.find(b"\n")
    return b"\r\n" if nl > 0 and buf[nl - 1] == 0x0D else b"\n"
