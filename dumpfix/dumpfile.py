"""The streaming splitter: a plain-SQL dump as a sequence of items with byte spans.

The items cover the input exactly: ``b"".join(buf[i.start:i.end] for i in
split(buf)) == buf``. COPY data is never parsed here (the terminator is found
with one ``find``), and a run of INSERT statements into one table becomes one
item, matched inside a compiled pattern, so that a dump of millions of rows
gives a few items per table.

It is the one walker over a dump: what the file holds but psql must not get
(cleanup.py: a program's message line, a byte order mark, a SET the target
rejects, a stripped ``\\restrict`` line) is an item of its own kind, recognised
where a statement may start, so that the same words inside COPY data or a
literal stay data; the writer leaves those items out.
"""

from __future__ import annotations

import enum
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import accumulate
from typing import Any

from pglast import parse_sql
from pglast.parser import ParseError

from dumpfix.catalog import quote_ident
from dumpfix.cleanup import DEFAULTS, RESTRICT, TOOL_ERROR, TOOL_LINE, TOOL_NAMES, TOOL_NEEDLE, Cleanup, notices
from dumpfix.errors import DumpError
from dumpfix.input import Input, read
from dumpfix.lexer import (
    DEFAULT_WORD,
    FAST_RUN,
    IDENT,
    in_quoted,
    python_encoding,
    skip_space,
    split_idents,
    statement_body,
    statement_end,
)
from dumpfix.settings import Settings, followed, may_set, parsed

# How many INSERT statements one pattern match takes: bounds the regex
# engine's bookkeeping while keeping Python steps rare.
_RUN_LENGTH = 2048


class Kind(enum.Enum):
    SPACE = "space"  # whitespace and comments
    META = "meta"  # one psql backslash command line
    STATEMENT = "statement"  # any other SQL statement, up to its ';'
    COPY = "copy"  # COPY ... FROM stdin; its data; the \. line
    INSERTS = "inserts"  # consecutive INSERT statements sharing one prefix
    # What the output leaves out (cleanup.py):
    MESSAGE = "message"  # a line pg_dump (pg_dumpall, pg_restore) wrote to stderr, with 2>&1
    BOM = "bom"  # a UTF-8 byte order mark at the start
    REJECTED = "rejected"  # a SET the target server rejects (--target-version), with its line end
    STRIPPED = "stripped"  # a \restrict or \unrestrict line (--strip-restrict)

    @property
    def dropped(self) -> bool:
        """Whether the output leaves items of this kind out."""
        return self in _DROPPED

    @property
    def blank(self) -> bool:
        """Whether psql runs nothing of it: space and comments, and what the output leaves
        out (the stages that look for statements pass over both alike)."""
        return self is Kind.SPACE or self in _DROPPED


_DROPPED = frozenset({Kind.MESSAGE, Kind.BOM, Kind.REJECTED, Kind.STRIPPED})


@dataclass(frozen=True, slots=True)
class Relation:
    """A table as a dump names it; schema None when the dump left it unqualified."""

    schema: str | None
    name: str


@dataclass(frozen=True, slots=True)
class Item:
    kind: Kind
    start: int
    end: int
    #: COPY / INSERTS: the table loaded and the column list (None: all, in table order).
    relation: Relation | None = None
    columns: tuple[str, ...] | None = None
    #: COPY: the first byte of the data; INSERTS: where the statements start.
    data_start: int = 0
    #: INSERTS: the shared text ``INSERT INTO ... VALUES`` of every statement.
    prefix: bytes = b""
    #: INSERTS: per chunk of the run, where it ends and how many statements it
    #: holds (0: not counted), each after the first starting a line of its own.
    chunks: tuple[tuple[int, int], ...] = ()
    #: INSERTS: the keyword DEFAULT stands among the values (in any case, outside strings).
    mentions_default: bool = False
    #: The search_path in effect (as SET by the dump) when the item runs.
    search_path: tuple[str, ...] = ("public",)
    #: Python codec of the dump's client_encoding at this item.
    encoding: str = "utf-8"
    #: Every setting the dump set before this item, as (name, the statement that sets
    #: it again), sorted: a block moved elsewhere gets these back (see Settings).
    settings: Settings = ()


_INSERT_PREFIX = re.compile(
    rb"INSERT\s+INTO\s+(?P<table>" + IDENT + rb"(?:\." + IDENT + rb")?)\s*"
    rb"(?:\((?P<cols>(?:\"(?:[^\"]|\"\")*+\"|[^\")])*+)\)\s*)?"
    rb"(?:OVERRIDING\s+(?:SYSTEM|USER)\s+VALUE\s+)?(?:DEFAULT\s+)?VALUES",
    re.IGNORECASE,
)
#: The COPY header pg_dump writes: a table, its columns, FROM stdin, no options.
_COPY_HEADER = re.compile(
    rb"COPY\s+(?P<table>" + IDENT + rb"(?:\." + IDENT + rb")?)\s*"
    rb"(?:\((?:\"(?:[^\"]|\"\")*+\"|[^\")])*+\)\s*)?FROM\s+stdin\s*;",
    re.IGNORECASE,
)
_SEARCH_PATH_SET = re.compile(rb"SET\s+(?:SESSION\s+)?search_path\b", re.IGNORECASE)
_SEARCH_PATH_CONFIG = re.compile(rb"SELECT\s+(?:pg_catalog\.)?set_config\s*\(\s*'search_path'", re.IGNORECASE)
_CLIENT_ENCODING = re.compile(rb"SET\s+client_encoding\s*(?:=|TO)\s*'([^']*)'", re.IGNORECASE)
_BOM = b"\xef\xbb\xbf"
_COPY_HEAD = re.compile(rb"COPY\s", re.IGNORECASE)
_INSERT_HEAD = re.compile(rb"INSERT\s+INTO\s", re.IGNORECASE)
_LINE_END = re.compile(rb"[ \t]*(?:\r\n|\n|\r)")
_RESET_PATH = re.compile(rb"RESET\s+(?:ALL|search_path)\b", re.IGNORECASE)


def line_number(buf: bytes, pos: int) -> int:
    """The 1-based line of pos; in slices, since an mmap has no count()."""
    newlines = 0
    for at in range(0, pos, 1 << 24):
        newlines += bytes(buf[at : min(at + (1 << 24), pos)]).count(b"\n")
    return newlines + 1


def split(buf: bytes, cleanup: Cleanup = DEFAULTS) -> Iterator[Item]:
    """Items of the whole buffer, in order, covering every byte."""
    return Splitter(Input(buf), cleanup=cleanup).items()


def split_items(
    source: Input, progress: Callable[[int], None] | None = None, cleanup: Cleanup = DEFAULTS
) -> list[Item]:
    """Items of the whole input, as split() gives them; progress hears offsets reached."""
    items = []
    for item in Splitter(source, cleanup=cleanup).items():
        items.append(item)
        if progress is not None:
            progress(item.end)
    return items


class Splitter:
    """The split from a position on, with the dump's state there (search_path, encoding),
    and what the user asked to be left out (cleanup)."""

    def __init__(
        self,
        source: Input,
        pos: int = 0,
        search_path: tuple[str, ...] = ("public",),
        encoding: str = "utf-8",
        settings: Settings = (),
        cleanup: Cleanup = DEFAULTS,
        locate: bool = True,
    ) -> None:
        #: Whether an error names its line (a count of every line before it: not for a
        #: stream's window, whose last item may just be cut short, stream.py).
        self.locate = locate
        self.source = source
        self.pos = pos
        self.search_path = search_path
        self.encoding = encoding
        self.settings = settings
        self.cleanup = cleanup

    @property
    def state(self) -> tuple[tuple[str, ...], str, Settings]:
        """What an item here inherits from the statements before it."""
        return self.search_path, self.encoding, self.settings

    def items(self, stop: int | None = None) -> Iterator[Item]:
        """Items from pos on, until pos reaches stop (or the end).

        With a stop, runs of INSERT statements end there at the latest (they are
        matched as if the buffer ended at stop), every other item where it ends.
        """
        source = self.source
        buf, n = source.data, len(source)
        limit = n if stop is None else stop
        while self.pos < limit:
            pos = self.pos
            if pos == 0 and buf[:3] == _BOM:
                yield Item(Kind.BOM, 0, 3, settings=self.settings)
                self.pos = 3
                continue
            space_end = skip_space(buf, pos)
            if space_end > pos:
                yield Item(Kind.SPACE, pos, space_end, settings=self.settings)
                self.pos = space_end
                continue
            try:
                first = buf[pos]
                if first == 0x70 and _line_start(buf, pos) and TOOL_LINE.match(buf, pos):
                    item = self._message(pos, n)  # "p": pg_dump's message lines, from 2>&1
                elif first == 0x5C:  # backslash: a psql meta-command runs to the end of its line
                    nl = buf.find(b"\n", pos)
                    stripped = self.cleanup.strip_restrict and RESTRICT.match(buf, pos) is not None
                    kind = Kind.STRIPPED if stripped else Kind.META
                    item = Item(kind, pos, n if nl < 0 else nl + 1, settings=self.settings)
                elif _INSERT_HEAD.match(buf, pos):
                    item = _insert_run(source, pos, n, limit, self.search_path, self.encoding, self.settings)
                elif _COPY_HEAD.match(buf, pos):
                    item = _copy_block(source, pos, n, self.search_path, self.encoding, self.settings)
                else:
                    item = self._statement(pos, statement_end(buf, pos, n))
            except DumpError as e:
                if e.location is None and self.locate:
                    e.location = f"line {line_number(buf, pos)}"
                raise
            yield item
            if item.kind is not Kind.INSERTS:  # a run counts its chunks as it reads them
                source.release(item.end - pos)  # flat RSS on a mapped gigabyte
            self.pos = item.end

    def _message(self, pos: int, n: int) -> Item:
        """A program's message line; one that says it failed ends the dump early."""
        buf = self.source.data
        nl = buf.find(b"\n", pos)
        end = n if nl < 0 else nl + 1
        if TOOL_ERROR.match(buf, pos):
            text = bytes(buf[pos:end]).decode("utf-8", "replace").strip()
            raise DumpError(f"the dump file contains an error message, so the dump is incomplete: {text}")
        return Item(Kind.MESSAGE, pos, end, settings=self.settings)

    def _statement(self, pos: int, end: int) -> Item:
        """A statement, taken in (_follow); a SET the target rejects is left out with its
        line end, and changes nothing."""
        buf = self.source.data
        statement = bytes(buf[pos:end])
        if may_set(statement) and self.cleanup.rejects(statement, self.encoding):
            m = _LINE_END.match(buf, end)
            return Item(Kind.REJECTED, pos, m.end() if m else end, encoding=self.encoding, settings=self.settings)
        item = Item(Kind.STATEMENT, pos, end, settings=self.settings)
        self._follow(statement)
        return item

    def _follow(self, statement: bytes) -> None:
        """Take in the state a statement sets: search_path, client_encoding, every setting."""
        if not may_set(statement):
            return
        self.settings = followed(statement, self.settings, self.encoding)
        if _RESET_PATH.match(statement):
            self.search_path = ("public",)
        self.search_path = _new_search_path(statement, self.encoding) or self.search_path
        m = _CLIENT_ENCODING.match(statement)
        if m:
            self.encoding = python_encoding(m.group(1).decode("ascii", "replace"))


def _line_start(buf: bytes, pos: int) -> bool:
    """Whether pos starts a line (a BOM before it counts for nothing)."""
    return pos == 0 or buf[pos - 1] in b"\r\n" or (pos == 3 and buf[:3] == _BOM)


def dropped_notices(buf: bytes, dropped: Iterable[Item], cleanup: Cleanup) -> list[str]:
    """What the user is told about the items the output leaves out."""
    kinds: list[Kind] = []
    rejected = []
    for item in dropped:
        kinds.append(item.kind)
        if item.kind is Kind.REJECTED:
            rejected.append(cleanup.rejects(bytes(buf[item.start : item.end]), item.encoding) or "")
    return notices(cleanup, Kind.BOM in kinds, kinds.count(Kind.MESSAGE), rejected, kinds.count(Kind.STRIPPED))


def refuse_cut_messages(source: Input, items: list[Item]) -> None:
    """Refuse messages that ``2>&1`` cut into the middle of the dump's text.

    stdout is block-buffered, so with ``pg_dump -v`` a message lands where a
    block of the dump ended: at a multiple of 4096 bytes of the dump's own
    output (the file without the message lines and BOM before it), often
    mid-line or mid-row, where the splitter cannot tell it. Removing it there
    would guess. Only text outside COPY data, strings, quoted identifiers and
    comments is refused: anyone who may store text could otherwise put
    ``pg_dump: `` on a 4096-byte boundary and stop every backup of the database
    from being fixed. A message cut into data is not told from data.

    The candidates are where the index (or a search past what it holds) found
    the programs' names; only those on a boundary are looked at more closely.
    """
    buf = source.data
    added = [(item.start, item.end) for item in items if item.kind in (Kind.MESSAGE, Kind.BOM)]
    ends = [end for _, end in added]
    sizes = list(accumulate((end - start for start, end in added), initial=0))
    starts: list[int] | None = None
    for at in _tool_candidates(source):
        done = bisect_right(ends, at)  # the added lines wholly before at
        if (at - sizes[done]) % 4096 or _line_start(buf, at) or not TOOL_LINE.match(buf, at):
            continue
        if starts is None:
            starts = [item.start for item in items]
        item = items[bisect_right(starts, at) - 1]
        if item.kind.dropped or (_in_data(buf, item, at) and not _breaks_row(buf, item, at)):
            continue
        raise DumpError(
            "a pg_dump message is cut into the dump's text here (pg_dump -v ... 2>&1?): "
            "dump again without mixing stderr into the file",
            f"line {line_number(buf, at)}",
        )


def _tool_candidates(source: Input) -> Iterator[int]:
    known = source.known(TOOL_NEEDLE)
    rest = 0
    if known is not None:
        yield from known.positions
        rest = known.complete_until
    for name in TOOL_NAMES:
        yield from source.everywhere(name, rest)


def _in_data(buf: bytes, item: Item, at: int) -> bool:
    """Whether at stands in COPY data, a string, a quoted identifier or a comment."""
    if item.kind is Kind.SPACE:
        return True
    if item.kind is Kind.COPY:
        return at >= item.data_start or in_quoted(buf, item.start, item.data_start, at)
    start, end = item.start, item.end
    if item.kind is Kind.INSERTS:  # the one statement of the run that holds at
        chunk = next((i for i, (stop, _) in enumerate(item.chunks) if at < stop), len(item.chunks) - 1)
        start = item.chunks[chunk - 1][0] if chunk else item.start
        while (end := statement_end(buf, start, item.end)) <= at:
            start = end
    return in_quoted(buf, start, end, at)


def _breaks_row(buf: bytes, item: Item, at: int) -> bool:
    """Whether a message at ``at`` in COPY data split its row in two: the line it ends
    and the next one do not hold the row's TABs (a field's TAB is always escaped).

    A value that holds the words keeps its row whole; a message cut into a
    one-column table's row, or into data whose header the TABs cannot be counted
    from (no column list, or options), is not told from data.
    """
    if item.kind is not Kind.COPY or at < item.data_start or not item.columns or not plain_copy(buf, item):
        return False
    tabs = len(item.columns) - 1
    start = buf.rfind(b"\n", 0, at) + 1
    start = max(start, buf.rfind(b"\r", start, at) + 1)  # a lone CR ends a line too
    first = _end_of_line(buf, at)
    second = _end_of_line(buf, first)
    lines = [bytes(buf[start:first]), bytes(buf[first:second])]
    return any(line.count(b"\t") != tabs for line in lines if line.rstrip(b"\r\n") != b"\\.")


def _end_of_line(buf: bytes, pos: int) -> int:
    nl = buf.find(b"\n", pos)
    return len(buf) if nl < 0 else nl + 1


def _insert_run(
    source: Input, pos: int, n: int, limit: int, search_path: tuple[str, ...], encoding: str, settings: Settings
) -> Item:
    buf = source.data
    head = _INSERT_PREFIX.match(buf, pos)
    if head is None:  # not a shape pg_dump writes: keep it as a plain statement
        return Item(Kind.STATEMENT, pos, statement_end(buf, pos, n), settings=settings)
    prefix = bytes(head.group())
    # Statements without the keyword DEFAULT first: a run that holds it cannot be
    # staged (a temporary table has no defaults), and the pattern that tells is as
    # fast as the one that does not.
    run = _run_pattern(prefix, without_default=True)
    fast = _fast_run_pattern(prefix)
    default = False
    ends: list[int] = []
    by_fast: list[bool] = []
    partial = -1  # the chunk that ended at the first DEFAULT: not _RUN_LENGTH statements
    end = pos
    while True:
        m = fast.match(buf, end, limit)
        quick = m is not None and m.end() > end
        if not quick:
            m = run.match(buf, end, limit)
        if (m is None or m.end() == end) and not default and _continues(buf, end, prefix):
            m = _run_pattern(prefix).match(buf, end, limit)
            if m is not None and m.end() > end:
                default, run, partial = True, _run_pattern(prefix), len(ends) - 1
        if m is None or m.end() == end:
            break
        source.release(m.end() - end)  # a table's run can be gigabytes: keep RSS flat
        end = m.end()
        ends.append(end)
        by_fast.append(quick)
    if end == pos:  # the patterns failed (nested comment, or truncated): one statement
        end = statement_end(buf, pos, n)
        chunks: tuple[tuple[int, int], ...] = ((end, 1),)
        default = DEFAULT_WORD.search(bytes(buf[pos + len(prefix) : end])) is not None
    else:
        counts = [_RUN_LENGTH if _full(i, partial, by_fast) else 0 for i in range(len(ends) - 1)] + [0]
        chunks = tuple(zip(ends, counts))
    names = split_idents(head.group("table"), encoding)
    cols = head.group("cols")
    return Item(
        Kind.INSERTS,
        pos,
        end,
        relation=Relation(names[0], names[1]) if len(names) == 2 else Relation(None, names[0]),
        columns=tuple(split_idents(cols, encoding)) if cols is not None else None,
        data_start=pos,
        prefix=prefix,
        chunks=chunks,
        mentions_default=default,
        search_path=search_path,
        encoding=encoding,
        settings=settings,
    )


def _full(i: int, partial: int, by_fast: list[bool]) -> bool:
    """Whether chunk i (not the last) holds _RUN_LENGTH statements: the general
    pattern stops short only where the run ends or at the first DEFAULT (partial),
    the fast one also before a statement it does not take, after which the general
    pattern goes on; so a fast chunk is known full only where a fast chunk follows."""
    if by_fast[i]:
        return by_fast[i + 1]
    return i != partial


def _continues(buf: bytes, end: int, prefix: bytes) -> bool:
    """Whether the statement after end (on the next line) has the run's prefix."""
    at = end + (2 if buf[end : end + 2] == b"\r\n" else 1 if buf[end : end + 1] == b"\n" else 0)
    return buf[at : at + len(prefix)] == prefix


@lru_cache(maxsize=256)
def _run_pattern(prefix: bytes, without_default: bool = False) -> re.Pattern[bytes]:
    return _chunk(prefix, statement_body("tag", without_default), statement_body("tag2", without_default))


def _chunk(prefix: bytes, first: bytes, further: bytes) -> re.Pattern[bytes]:
    """Up to _RUN_LENGTH statements, the prefix and then first or further: a chunk
    starts where the last one ended (or the run starts); each further statement
    on the next line. The further prefixes are a back reference to the first,
    compared in one loop of the regex engine, where a literal takes one of its
    steps per character (a quarter of a short statement's time)."""
    return re.compile(
        rb"(?:\r?\n)?(?P<prefix>"
        + re.escape(prefix)
        + rb")"
        + first
        + rb"(?:\r?\n(?P=prefix)"
        + further
        + rb"){0,%d}+" % (_RUN_LENGTH - 1)
    )


@lru_cache(maxsize=256)
def _fast_run_pattern(prefix: bytes) -> re.Pattern[bytes]:
    """_run_pattern for statements as pg_dump writes most of them: standard strings
    and characters that start no other token (see FAST_RUN). Where it takes a
    statement, it ends where the general pattern would end it; elsewhere it stops,
    and the general pattern goes on.

    The body is unrolled, a run and then any number of strings or lone minus
    signs, each followed by a run: no alternation is tried where a run ends, and
    the engine takes a short statement in fewer steps than a loop over tokens.
    """
    run = FAST_RUN + rb"*+"
    body = run + rb"(?:(?:'(?<![Ee]')[^']*+'|-(?!-))" + run + rb")*+;"
    return _chunk(prefix, body, body)


@lru_cache(maxsize=256)
def _statement_pattern(prefix: bytes) -> re.Pattern[bytes]:
    # Group 1: what follows the prefix, through the statement's line end.
    return re.compile(re.escape(prefix) + rb"(" + statement_body() + rb"(?:\r?\n)?)")


def plain_copy(buf: bytes, item: Item) -> bool:
    """Whether the COPY item's header is pg_dump's plain ``COPY t (cols) FROM stdin;``."""
    return item.kind is Kind.COPY and _COPY_HEADER.match(buf, item.start, item.data_start) is not None


def redirected_header(buf: bytes, item: Item, table: bytes) -> bytes:
    """A plain COPY item's header (through its line end) with ``table`` as its target."""
    head = _COPY_HEADER.match(buf, item.start, item.data_start)
    assert head is not None
    return bytes(buf[item.start : head.start("table")]) + table + bytes(buf[head.end("table") : item.data_start])


def redirected(buf: bytes, item: Item, table: bytes) -> Iterator[bytes]:
    """The INSERTS item's text with ``table`` as every statement's target, in pieces.

    Only the prefixes change, a chunk of whole statements at a time, so the values
    are copied byte for byte and no row is a Python step. A chunk's statements
    each start a line, so where the prefix follows a newline exactly as often as
    there are statements after the first, no value holds it, and a replace of
    every such prefix is exact; otherwise (or where the chunk's statements were
    not counted) the chunk is cut at the prefixes inside the regex engine. The
    replace tells how many it made by the length it adds (when the new target's
    length differs), which spares a pass counting them first.
    """
    new_prefix = redirected_prefix(item, table)
    line_prefix = b"\n" + item.prefix
    grows = len(new_prefix) - len(item.prefix)
    pos = item.start
    for stop, count in item.chunks:
        lead, body = chunk_text(buf, pos, stop)
        pos = stop
        if count:
            rest = body[len(item.prefix) :]
            replaced = rest.replace(line_prefix, b"\n" + new_prefix)
            made = (len(replaced) - len(rest)) // grows if grows else rest.count(line_prefix)
            if made == count - 1:
                yield lead + new_prefix + replaced
                continue
        yield lead + new_prefix.join([b"", *statement_rests(body, item.prefix)])


def redirected_prefix(item: Item, table: bytes) -> bytes:
    """The INSERTS item's prefix with ``table`` as its target."""
    head = _INSERT_PREFIX.match(item.prefix)
    assert head is not None
    return item.prefix[: head.start("table")] + table + item.prefix[head.end("table") :]


def chunk_text(buf: bytes, start: int, stop: int) -> tuple[bytes, bytes]:
    """A chunk's leading line end, and its statements."""
    chunk = read(buf, start, stop - start)  # pread: no page of the map touched
    body = chunk.lstrip(b"\r\n")
    return chunk[: len(chunk) - len(body)], body


def statement_rests(body: bytes, prefix: bytes) -> list[bytes]:
    """What follows the prefix in each statement of a chunk, cut inside the regex engine."""
    rests = [found[0] for found in _statement_pattern(prefix).findall(body)]
    if len(prefix) * len(rests) + sum(map(len, rests)) != len(body):
        # The splitter's slow path: one statement (a nested comment) the pattern cannot cut.
        if statement_end(body, 0, len(body)) != len(body):
            raise AssertionError("INSERT statements did not split as they did before")
        return [body[len(prefix) :]]
    return rests


def _copy_block(
    source: Input, pos: int, n: int, search_path: tuple[str, ...], encoding: str, settings: Settings
) -> Item:
    header = copy_header(source, pos, n, search_path, encoding, settings)
    if header.kind is not Kind.COPY:
        return header
    try:
        end = copy_data_end(source, header.data_start, n)
    except DumpError as e:  # name the table: the located line is only its COPY header's
        raise copy_error(e, header) from None
    return replace(header, end=end)


def copy_header(
    source: Input, pos: int, n: int, search_path: tuple[str, ...], encoding: str, settings: Settings
) -> Item:
    """The COPY statement at pos: a COPY ... FROM stdin as a COPY item that ends where its
    data starts (its end still to find), any other COPY as a statement."""
    buf = source.data
    head_end = statement_end(buf, pos, n)
    statement = bytes(buf[pos:head_end])
    try:
        copy: Any = parse_sql(statement.decode(encoding, "surrogateescape"))[0].stmt
    except ParseError as e:
        raise DumpError(f"cannot parse COPY statement: {e}") from None
    if not copy.is_from or copy.filename is not None or copy.is_program:
        return Item(Kind.STATEMENT, pos, head_end, settings=settings)
    eol = _LINE_END.match(buf, head_end)
    if eol is None:
        raise DumpError("COPY ... FROM stdin must end its line")
    relation = copy.relation
    return Item(
        Kind.COPY,
        pos,
        eol.end(),
        relation=Relation(relation.schemaname, relation.relname),
        columns=tuple(c.sval for c in copy.attlist) if copy.attlist else None,
        data_start=eol.end(),
        search_path=search_path,
        encoding=encoding,
        settings=settings,
    )


def copy_error(e: DumpError, header: Item) -> DumpError:
    """e about a COPY block's data, naming its table."""
    assert header.relation is not None
    table = ".".join(quote_ident(p) for p in (header.relation.schema, header.relation.name) if p)
    return DumpError(e.message.replace("COPY data", f"COPY data of {table}", 1))


#: The start of the line that ends COPY data (a rare needle: see index.py).
COPY_TERMINATOR = b"\n\\."


def copy_data_end(source: Input, data_start: int, n: int) -> int:
    """The end of the ``\\.`` line closing COPY data that starts at data_start."""
    # Inside COPY text data a backslash is always escaped, so a line that is
    # exactly \. can only be the terminator. data_start - 1 is the header's newline.
    buf = source.data
    i = data_start - 1
    while True:
        i = source.find_rare(COPY_TERMINATOR, i, n)
        if i < 0:
            raise DumpError("COPY data never ends with a \\. line (truncated dump?)")
        after = i + 3
        if after >= n:
            return n
        if buf[after] == 0x0A:
            return after + 1
        if buf[after] == 0x0D and (after + 1 >= n or buf[after + 1] == 0x0A):
            return min(after + 2, n)
        i = after


def _new_search_path(statement: bytes, encoding: str) -> tuple[str, ...] | None:
    """The search_path a SET search_path or set_config('search_path', ...) establishes."""
    stmt: Any
    if _SEARCH_PATH_SET.match(statement):
        stmt = parsed(statement, encoding)[0]  # parsed already for the settings it sets
        names = [a.val.sval for a in (stmt.args or ()) if hasattr(a, "val")]
    elif _SEARCH_PATH_CONFIG.match(statement):
        stmt = parsed(statement, encoding)[0]
        value = stmt.targetList[0].val.args[1].val.sval
        names = split_idents(value.encode(encoding, "surrogateescape"), encoding)
    else:
        return None
    names = [s for s in names if s not in ("pg_catalog", "$user")]
    return tuple(names) or ("public",)
