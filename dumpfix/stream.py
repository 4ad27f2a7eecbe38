"""The pipe that streams: ``pg_dump | dumpfix - | psql`` writes while it reads.

The bulk load keeps the dump's order and takes each table's FKs off right before
its data (write.take_off): what the output holds up to a table's data depends
on the input up to there and the schema, nothing after. So a pipe is read a window
at a time (source.Pipe: the bytes go on to a spool file, never into memory), each
window split from where the last one stopped, and every data item it completes is
written at once (write.StreamingWriter): psql loads a table while pg_dump dumps the
next. A COPY block is written line by line as it arrives, whatever its size; a run
of one table's INSERT statements once it ends (its statements are merged as a whole,
as from a file). What only the whole input tells (the FKs to validate, the checks,
the COMMIT) is written at the end, from the plan of the whole input, which is the
plan the file would get: the output is the file's, byte for byte.

Nothing commits before that end. A dump that turns out wrong after its start was
written (truncated, a table the schema lacks, DDL between two tables' data) ends the
output with a statement that fails, and psql rolls the whole load back.

Before its first data nothing is written, and the input is read whole instead
(Fallback, then the file's way) when the dump carries DDL before its data (a full
dump: its own schema counts), is an earlier run's output, or holds no data; and a
pipe that ends before anything was written is planned as a file is (a small dump
is refused, if it must be, with nothing written).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import BinaryIO

from dumpfix.catalog import Catalog
from dumpfix.dumpfile import (
    COPY_TERMINATOR,
    Item,
    Kind,
    Splitter,
    copy_data_end,
    copy_error,
    copy_header,
    dropped_notices,
    refuse_cut_messages,
)
from dumpfix.errors import DumpError
from dumpfix.fix import Analysis, dump_catalog, load_catalog
from dumpfix.input import Input
from dumpfix.layout import Layout, is_wall, lay_out, refuse_reconnect
from dumpfix.parallel import joined
from dumpfix.plan import Plan, Settings, bulk_off, make_plan
from dumpfix.refusals import refuse_column_mismatch, refuse_truncated, refuse_unknown_tables
from dumpfix.settings import Settings as SetStatements
from dumpfix.source import Pipe, Source, refuse_nul
from dumpfix.write import StreamingWriter

#: Bytes read before the split goes on: large enough that a window costs little (a new
#: map, a split resumed), small enough that psql starts early.
WINDOW = 8 << 20
_OWN_LINE = re.compile(rb"(?m)^-- dumpfix: ")
_DATA = (Kind.COPY, Kind.INSERTS)
_NEWLINES = (b"\n", b"\r\n")


class Fallback(Exception):
    """Nothing was written, and the input is to be read whole and planned as a file."""


def streamable(catalog: Catalog | None, settings: Settings) -> bool:
    """Whether the output can stream: the bulk load, a schema known before the input (the
    catalog), and every FK it would take off one it can give back (none kept in force,
    whose cycles would load row by row, in another order)."""
    if catalog is None or not settings.bulk_load:
        return False
    fks = [fk for fk in catalog.foreign_keys if bulk_off(catalog, fk)]
    return bool(fks) and all(settings.can_take_off(fk) for fk in fks)


def stream(
    pipe: Pipe,
    catalog: Catalog,
    settings: Settings,
    out: BinaryIO,
    before_commit: Callable[[Analysis], None] = lambda analysis: None,
) -> tuple[Source, Analysis]:
    """Read pipe and write the output to out as it goes; the analysis of the whole at the
    end. before_commit hears it before the checks and the COMMIT are written, and may
    still refuse it (a DumpfixError: the output then ends with a failing statement)."""
    return _Stream(pipe, catalog, settings, out, before_commit).run()


class _Stream:
    def __init__(
        self,
        pipe: Pipe,
        catalog: Catalog,
        settings: Settings,
        out: BinaryIO,
        before_commit: Callable[[Analysis], None],
    ) -> None:
        self.before_commit = before_commit
        self.pipe = pipe
        self.catalog = catalog
        self.settings = settings
        self.out = out
        #: Every complete item so far, in order (what the file's split gives).
        self.items: list[Item] = []
        self.pos = 0  # where the split goes on, with the dump's state there
        self.state: tuple[tuple[str, ...], str, SetStatements] = (("public",), "utf-8", ())
        #: How many items at the end of items may still grow (0 or 1): a run of INSERTs,
        #: kept to its last whole chunk, that the next window may continue (cut_run).
        self.held = 0
        #: The index in items of a COPY block whose end has not come yet.
        self.open: int | None = None
        self.searched = 0  # its data holds no terminator before here
        self.checked = 0  # bytes looked at for a NUL byte
        self.writer: StreamingWriter | None = None

    def run(self) -> tuple[Source, Analysis]:
        try:
            while True:
                more = self.pipe.grow(WINDOW)
                if not more and self.writer is None:
                    raise Fallback  # all of it came before anything was written: as a file
                source = self.pipe.input()
                refuse_nul(source, self.pipe.name, self.checked)
                self.checked = len(source)
                self.split(source, eof=not more)
                self.write(source, eof=not more)
                if not more:
                    return self.finish(source)
        except Fallback:
            raise
        except BaseException as e:
            if self.writer is not None:
                self.writer.abort(str(e) or type(e).__name__)
            raise

    def split(self, source: Input, eof: bool) -> None:
        """The items this window completes."""
        buf, n = source.data, len(source)
        if self.open is not None and not self.close_copy(source, eof):
            return
        splitter = Splitter(source, self.pos, *self.state, cleanup=self.pipe.cleanup, locate=eof)
        new: list[tuple[Item, tuple[tuple[str, ...], str, SetStatements]]] = []
        failed = False
        try:
            for item in splitter.items():
                new.append((item, splitter.state))
        except DumpError:
            if eof:
                raise
            failed = True  # an item the window cuts short, or a COPY block to stream
        if not eof and not failed and new and new[-1][0].end == n:
            new.pop()  # it may go on in the next window
        if failed:
            self.pos, self.state = splitter.pos, splitter.state
        elif new:
            self.pos, self.state = new[-1][0].end, new[-1][1]
        items = [item for item, _ in new]
        held_end = self.items[-1].end if self.held else None
        if self.held:  # the run cut short goes on, as the file's split would have let it
            tail = self.items[-self.held :] + items
            del self.items[-self.held :]
            items = joined(buf, tail[:2], tail[2:]) if len(tail) >= 3 else tail
        self.items.extend(items)
        self.held = 0
        if failed:
            self.open_copy(source)
        if not eof and self.open is None:
            self.cut_run(buf, held_end)

    def cut_run(self, buf: bytes, held_end: int | None) -> None:
        """A run of INSERTs last among the items (a newline after it, at most) may go on
        in the next window: it is kept up to its last chunk, which is split again with
        what follows, and held. The run's chunks are then those the file's split gives
        (a chunk of statements is merged into one: write.merged), and so is the output.
        A run held already and not gone on (held_end) is held as it is: its chunks are whole."""
        items = self.items
        gap = (
            1
            if items and items[-1].kind is Kind.SPACE and bytes(buf[items[-1].start : items[-1].end]) in _NEWLINES
            else 0
        )
        if len(items) <= gap or items[-1 - gap].kind is not Kind.INSERTS:
            return
        run = items[-1 - gap]
        del items[-1 - gap :]
        self.state = (run.search_path, run.encoding, run.settings)
        if run.end == held_end:
            items.append(run)
            self.pos, self.held = run.end, 1
        elif len(run.chunks) > 1:
            stop = run.chunks[-2][0]
            items.append(replace(run, end=stop, chunks=run.chunks[:-1]))
            self.pos, self.held = stop, 1
        else:
            self.pos = run.start

    def open_copy(self, source: Input) -> None:
        """The split stopped at pos: if a COPY ... FROM stdin starts there, its data streams."""
        try:
            header = copy_header(source, self.pos, len(source), *self.state)
        except DumpError:
            return  # not whole yet: the next window tells
        if header.kind is Kind.COPY:
            self.open = len(self.items)
            self.items.append(header)
            self.searched = header.data_start

    def close_copy(self, source: Input, eof: bool) -> bool:
        """Whether the open COPY block ends in this window (its item is then complete)."""
        assert self.open is not None
        header = self.items[self.open]
        n = len(source)
        try:
            end = copy_data_end(source, self.searched, n)
        except DumpError as e:
            if eof:
                raise copy_error(e, header) from None
            end = -1
        if end < 0 or (not eof and end == n and source.data[n - 1 : n] != b"\n"):
            self.searched = max(self.searched, n - len(COPY_TERMINATOR) + 1)  # it may stand across the end
            return False
        self.items[self.open] = replace(header, end=end)
        self.pos = end
        if self.writer is not None:
            self.writer.update(source)
            self.writer.close_copy(end)
        self.open = None
        return True

    def write(self, source: Input, eof: bool) -> None:
        """Write what the items complete; before the first data, only look."""
        ready = len(self.items) - self.held
        if self.writer is None:
            first = next((i for i in range(ready) if self.items[i].kind in _DATA), None)
            self.refuse_prologue(source.data, ready if first is None else first)
            if first is None:
                return
            plan = Plan(Layout(self.items, 0, [], 0), [], {}, (), [], replace(self.settings, wrap=True), bulk=True)
            self.writer = StreamingWriter(source, plan, self.catalog, self.out)
        self.writer.update(source)
        self.writer.take(ready)
        if self.held:
            self.writer.stream_run(len(self.items) - 1)
        if self.open is not None:
            at = source.data.rfind(b"\n", self.items[self.open].data_start, len(source))
            if at >= 0:
                eol = b"\r\n" if source.data[at - 1 : at] == b"\r" else b"\n"
                self.writer.stream_copy(at + 1, eol)

    def refuse_prologue(self, buf: bytes, last: int) -> None:
        """Before the data: DDL (the dump's own schema counts then) or an earlier run's
        marks need the whole input planned."""
        for item in self.items[:last]:
            if is_wall(buf, item):
                raise Fallback
            if item.kind is Kind.SPACE and _OWN_LINE.search(buf, item.start, item.end):
                raise Fallback

    def finish(self, source: Input) -> tuple[Source, Analysis]:
        """The whole input is in: the file's refusals and plan, then the end of the output."""
        if self.writer is None:
            raise Fallback  # no data: the file's way says what is wrong, or copies it
        buf, items = source.data, self.items
        refuse_cut_messages(source, items)
        refuse_truncated(buf)
        catalog = load_catalog(self.catalog, dump_catalog(buf, items))
        layout = lay_out(buf, items, catalog)
        refuse_unknown_tables(layout, catalog, self.settings.pass_unknown)
        refuse_column_mismatch(buf, layout, catalog)
        refuse_reconnect(buf, layout)
        # The bulk load, as written from the start (even where the file's way would find the
        # dump restores as it stands), in the transaction the head opened; the user's
        # settings otherwise, for what --explain says of them.
        plan = make_plan(buf, catalog, layout, replace(self.settings, bulk=True, wrap=True))
        plan = replace(plan, settings=replace(self.settings, wrap=True))
        if not plan.bulk or set(plan.bulk_fks) != set(self.writer.taken_off):
            raise AssertionError("the plan of the whole takes off other FKs than the stream did")
        notices = dropped_notices(buf, (items[i] for i in layout.dropped), self.pipe.cleanup)
        analysis = Analysis(source, items, catalog, plan, False, tuple(notices), streamed=True)
        self.before_commit(analysis)
        self.writer.finish(plan)
        whole = Source(source, self.pipe.name, self.pipe.compression, None, None, self.pipe.cleanup)
        return whole, analysis
