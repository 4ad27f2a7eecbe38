"""Multi-row INSERTs: the statements of an INSERT run written as a few statements.

An INSERT dump restores many times slower than the same rows as COPY, nearly all
of it per statement: a round trip, a parse, a plan each. So where dumpfix writes a
changed dump, a run of statements into one table with one prefix
(``INSERT INTO t [(cols)] [OVERRIDING SYSTEM VALUE] VALUES``) and one tail
(nothing, or pg_dump's `` ON CONFLICT DO NOTHING``) becomes multi-row INSERTs,
``PREFIX SEP(r1),SEP(r2);``, each row's text copied byte for byte and joined as
the dump's first row follows its prefix: for ``--inserts``, all on one line (psql
handles a script a line at a time, in turn with the server, so its work per line
adds to the load's time); for ``--rows-per-insert``, a row a line as pg_dump has
it. PostgreSQL coerces every row of an INSERT's VALUES list to the target columns as it does a
lone row, DEFAULT included (pg_dump's ``--rows-per-insert`` relies on it).

The work goes a chunk of the splitter's statements at a time (``Item.chunks``),
as ``dumpfile.redirected`` does, with no Python step per row where the chunk's
statements were counted. A chunk of ``count`` statements, each after the first on
a line of its own, has ``count - 1`` places where a line end is followed by the
prefix; where the chunk holds exactly that many, no value holds one. Where the
whole boundary ``)TAIL;EOL PREFIX SEP(``, which holds one, occurs that often
too, every statement ends as the others do and only those places read so: one
``replace`` of it by ``),SEP(`` is exact. That the ``)`` before each tail ends
the VALUES list, and no clause stands between (RETURNING, ORDER BY, UNION, which a
merge would change), a screen tells: every ``)`` followed by neither ``,`` nor
``;`` must be the start of ``)TAIL;``. A chunk whose strings hold such a ``)`` is
matched by a pattern of the rows pg_dump writes instead (one match in the regex
engine). Any other chunk (not counted, or a value holding the boundary) is cut
into its statements by the splitter's pattern and each matched on its own; a
statement of another shape leaves its chunk as the dump has it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

from dumpfix.catalog import Table
from dumpfix.dumpfile import Item, Kind, chunk_text, redirected, redirected_prefix, statement_rests
from dumpfix.input import read
from dumpfix.plan import Plan

#: The most bytes one merged statement is given (a statement longer on its own stays
#: alone): the server parses and plans a whole statement at once, and psql holds it
#: in memory; past some thousand rows a longer statement loads no faster.
MERGE_BYTES = 1 << 20
#: The tail ``pg_dump --on-conflict-do-nothing`` gives every statement.
DO_NOTHING = b" ON CONFLICT DO NOTHING"
#: Zero-column tables: every statement is ``INSERT INTO t DEFAULT VALUES;``, no rows to join.
_DEFAULT_VALUES = re.compile(rb"DEFAULT\s+VALUES\Z", re.IGNORECASE)
#: What stands between the prefix and the first row.
_SEP = re.compile(rb"[ \t\r\n]*+\(")
#: A ``)`` that neither ends a statement nor comes before the next row.
_CLOSE = re.compile(rb"\)(?![,;])")

# A row as pg_dump writes it, in tokens that lexer.py reads alike (so a ``)`` the
# pattern takes is never inside a string): strings, E'' strings, words (NULL,
# DEFAULT, true), lone minus signs, and runs of anything else but what starts
# another token or a parenthesis. No comment, dollar quote, quoted identifier or
# parenthesis inside a row: such a row is not matched, and its chunk stays as it is.
_IDENT_START = rb"A-Za-z_\x80-\xff"
_IDENT_CHAR = rb"A-Za-z_0-9$\x80-\xff"
_RUN = rb"[^;'\"$/\-()" + _IDENT_START + rb"]*+"
_TOKEN = (
    rb"'[^']*+'"
    rb"|[Ee]'(?:[^'\\]++|\\[\s\S]|'')*+'"
    rb"|[" + _IDENT_START + rb"][" + _IDENT_CHAR + rb"]*+"
    rb"|-(?!-)"
)
_ROW = rb"\(" + _RUN + rb"(?:(?:" + _TOKEN + rb")" + _RUN + rb")*+\)"
_ROWS = _ROW + rb"(?:,[ \t\r\n]*+" + _ROW + rb")*+"


@dataclass(frozen=True, slots=True)
class Shape:
    """What every statement of a run shares where it is merged."""

    #: ``INSERT INTO ... VALUES``, as the dump writes it.
    prefix: bytes
    #: The whitespace between the prefix and the first row (``" "``; ``"\\n\\t"`` with
    #: ``--rows-per-insert``).
    sep: bytes
    #: After the last row: nothing, or DO_NOTHING.
    tail: bytes
    #: The line end between two statements.
    eol: bytes

    @property
    def end(self) -> bytes:
        """How every statement ends."""
        return b")" + self.tail + b";"

    @property
    def boundary(self) -> bytes:
        """Between two statements: the end of one, the start of the next, to its first row's ``(``."""
        return self.end + self.eol + self.prefix + self.sep + b"("

    @property
    def joint(self) -> bytes:
        """Between the rows of two statements once merged: as between the prefix and a row."""
        return b"," + self.sep


def merging(plan: Plan) -> bool:
    """Whether the writer merges INSERT statements for the plan: unless --keep-inserts, and
    not in an earlier run's output, which it writes again as it stands (a fixed point).

    Only a changed dump is written at all: an unchanged one is copied byte for byte.
    """
    return not plan.settings.keep_inserts and not plan.layout.earlier_head


def mergeable(table: Table | None) -> bool:
    """Whether the table's INSERT statements may be merged.

    Not with an INSERT trigger that fires once per statement (or sees the statement's
    rows in a transition table), enabled or not (the dump may enable it): merged, it
    would fire once for many rows where the dump fires it once a row. A trigger whose
    level is not known counts as one; a table the catalog lacks (--pass-unknown), whose
    triggers are not known, keeps its statements too. Row-level triggers still fire
    once a row, in the same order.
    """
    return table is not None and not any(t.on_insert and t.per_statement is not False for t in table.triggers)


def shape_of(buf: bytes, item: Item, eol: bytes) -> Shape | None:
    """The shape the item's statements are merged in (eol: the dump's line end), or None
    where there is none to merge: not INSERTs, DEFAULT VALUES, or a first statement
    or last one that is not ``PREFIX SEP (...) TAIL;``."""
    if item.kind is not Kind.INSERTS or _DEFAULT_VALUES.search(item.prefix):
        return None
    start = item.start + len(item.prefix)
    sep = _SEP.match(read(buf, start, min(64, item.end - start)))
    ending = read(buf, max(start, item.end - len(DO_NOTHING) - 2), len(DO_NOTHING) + 2)
    if sep is None or not ending.endswith(b";"):
        return None
    tail = DO_NOTHING if ending.endswith(b")" + DO_NOTHING + b";") else b""
    if tail == b"" and not ending.endswith(b");"):
        return None
    return Shape(item.prefix, sep.group()[:-1], tail, eol)


def merged(buf: bytes, item: Item, shape: Shape, table: bytes | None = None) -> Iterator[bytes]:
    """The item's text with its statements merged, in pieces; with a table, into that
    table instead (as dumpfile.redirected, for a staged table's temporary table)."""
    prefix = shape.prefix if table is None else redirected_prefix(item, table)
    pos = item.start
    for stop, count in item.chunks:
        lead, body = chunk_text(buf, pos, stop)
        statements = _merged_chunk(body, count, shape, prefix)
        if statements is not None:
            yield lead
            yield statements[0]
            for statement in statements[1:]:
                yield shape.eol
                yield statement
        elif table is None:
            yield lead + body
        else:
            yield from redirected(buf, replace(item, start=pos, chunks=((stop, count),)), table)
        pos = stop


def _merged_chunk(body: bytes, count: int, shape: Shape, prefix: bytes) -> list[bytes] | None:
    """A chunk's statements merged (a statement per MERGE_BYTES), each starting with
    prefix; None where they stay as they are."""
    if count == 1:
        return None
    if count > 1 and _exact(body, count, shape):
        joined = b")" + shape.joint + b"("
        if prefix == shape.prefix:
            return [piece.replace(shape.boundary, joined) for piece in _pieces(body, shape)]
        return [prefix + piece[len(shape.prefix) :].replace(shape.boundary, joined) for piece in _pieces(body, shape)]
    return _merged_rests(body, shape, prefix)


def _exact(body: bytes, count: int, shape: Shape) -> bool:
    """Whether replacing every boundary in a chunk of count statements merges exactly them."""
    return (
        body.startswith(shape.prefix + shape.sep + b"(")
        and body.endswith(shape.end)
        and body.count(b"\n" + shape.prefix) == count - 1
        and body.count(shape.boundary) == count - 1
        and (
            len(_CLOSE.findall(body)) == (body.count(shape.end) if shape.tail else 0)
            or _chunk_pattern(shape).fullmatch(body) is not None
        )
    )


def _pieces(body: bytes, shape: Shape) -> list[bytes]:
    """The chunk cut at the last boundary before each MERGE_BYTES: whole statements,
    each piece a merged statement (a statement longer than that on its own alone)."""
    if len(body) <= MERGE_BYTES:
        return [body]
    boundary, kept = shape.boundary, len(shape.end)
    pieces = []
    start = 0
    while len(body) - start > MERGE_BYTES:
        at = body.rfind(boundary, start, start + MERGE_BYTES)
        if at < 0:
            at = body.find(boundary, start)
        if at < 0:
            break
        pieces.append(body[start : at + kept])
        start = at + kept + len(shape.eol)
    pieces.append(body[start:])
    return pieces


def _merged_rests(body: bytes, shape: Shape, prefix: bytes) -> list[bytes] | None:
    """The slow path: the chunk cut into its statements by the splitter's pattern,
    each matched as rows and the tail; None where one is not so, or there is one."""
    rests = statement_rests(body, shape.prefix)
    if len(rests) < 2:
        return None
    pattern = _rest_pattern(shape.tail)
    start, ending = prefix + shape.sep, shape.tail + b";"
    groups: list[list[bytes]] = [[]]
    size = len(start) + len(ending)
    for rest in rests:
        m = pattern.fullmatch(rest)
        if m is None:
            return None
        rows = m.group(1)
        if groups[-1] and size + len(rows) > MERGE_BYTES:
            groups.append([])
            size = len(start) + len(ending)
        groups[-1].append(rows)
        size += len(rows) + len(shape.joint)
    return [start + shape.joint.join(rows) + ending for rows in groups]


@lru_cache(maxsize=64)
def _chunk_pattern(shape: Shape) -> re.Pattern[bytes]:
    """Statements of the shape, one a line, as pg_dump writes their rows."""
    statement = re.escape(shape.prefix + shape.sep) + _ROWS + re.escape(shape.tail) + b";"
    return re.compile(statement + rb"(?:" + re.escape(shape.eol) + statement + rb")*+")


@lru_cache(maxsize=8)
def _rest_pattern(tail: bytes) -> re.Pattern[bytes]:
    """What follows the prefix in a statement of the tail (through its line end); group 1: the rows."""
    return re.compile(rb"[ \t\r\n]*+(" + _ROWS + rb")" + re.escape(tail) + rb";(?:\r?\n)?")
