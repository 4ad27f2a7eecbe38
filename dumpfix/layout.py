"""The dump's layout: a prologue, units that can move, an epilogue.

A unit is a table's data block (consecutive COPY/INSERT items of one table)
with what belongs to it: the comment header and pg_dump's
``--disable-triggers`` statements before it, and whatever stands between it
and the next unit. Moving units keeps every byte of the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pglast import parse_sql

from dumpfix.catalog import Catalog, QName
from dumpfix.cleanup import RESTRICT
from dumpfix.dumpfile import Item, Kind, line_number, plain_copy
from dumpfix.errors import DumpError

_LEADING = re.compile(
    rb"(?:SET\s+SESSION\s+AUTHORIZATION\b|ALTER\s+TABLE\s+(?:ONLY\s+)?\S+\s+DISABLE\s+TRIGGER\b)",
    re.IGNORECASE,
)
_TRAILING = re.compile(rb"ALTER\s+TABLE\s+(?:ONLY\s+)?\S+\s+ENABLE\s+TRIGGER\b", re.IGNORECASE)
#: INSERT prefixes a temporary table cannot stand in for: DEFAULT VALUES rows and
#: OVERRIDING USER VALUE (identities generated anew) mean the target's defaults.
_NOT_STAGEABLE_PREFIX = re.compile(rb"(?:DEFAULT\s+VALUES|OVERRIDING\s+USER\s+VALUE)", re.IGNORECASE)


@dataclass(frozen=True)
class Unit:
    index: int  # position among the units of the input
    first: int  # item range [first, last)
    last: int
    blocks: tuple[int, ...]  # the data items
    table: QName  # the table the blocks load
    node: QName  # its partition root: what FKs are declared on
    #: An earlier run staged this data: it loads pg_temp.dumpfix_N, then table (the
    #: unit holds the CREATE TEMP TABLE before and the INSERT ... SELECT after).
    staged: bool = False
    #: Which \\restrict section the unit is in (0 without any between units): units
    #: never leave it, so no data moves out of the pair that protects it.
    segment: int = 0


@dataclass(frozen=True)
class Layout:
    items: list[Item]
    prologue_end: int
    units: list[Unit]
    epilogue_start: int
    #: Offset of a \\connect between two tables' data (pg_dumpall output), if any.
    reconnect: int | None = None
    #: The dump holds the UPDATEs of an earlier dumpfix run (restoring needs UPDATE, TEMP).
    earlier_updates: bool = False
    #: The item after those UPDATEs (and the statements around them), at the start of
    #: the epilogue: dumpfix's checks go after them (epilogue_start when there are none).
    updates_end: int = 0
    #: The highest N of the pg_temp.dumpfix_N tables an earlier run created (0: none).
    captures: int = 0
    #: Before its data the dump holds the head an earlier run of dumpfix wrote (its
    #: BEGIN): it is dumpfix's output, whose transaction a rerun writes again.
    earlier_head: bool = False
    #: Item ranges that stay between two segments: from the \\unrestrict (or
    #: \\restrict) after a segment's last unit up to the next segment's first unit.
    barriers: list[tuple[int, int]] = field(default_factory=list)
    #: The items the output leaves out (cleanup.py: messages, a BOM, rejected settings,
    #: stripped \\restrict lines), by index.
    dropped: tuple[int, ...] = ()
    #: Of the barriers, those holding DDL (CREATE/ALTER/DROP between two tables' data, as
    #: in dumps that interleave each CREATE TABLE with its data), not a \\restrict line:
    #: the index of the barrier and of its first DDL statement.
    ddl_barriers: dict[int, int] = field(default_factory=dict)
    _stageable: dict[QName, bool] = field(default_factory=dict, repr=False)

    def blocks_of(self, node: QName) -> list[Item]:
        return [self.items[b] for u in self.units if u.node == node for b in u.blocks]

    def stageable(self, buf: bytes, node: QName) -> bool:
        """Whether the table's data can load into a temporary table first, then into
        the table in one INSERT ... SELECT: one unit of plain COPY blocks or of INSERT
        statements, with one column list, and no DEFAULT among INSERT values (a
        temporary table has no defaults: the keyword would load NULL where the
        table has a default).
        """
        if node not in self._stageable:
            self._stageable[node] = self._can_stage(buf, node)
        return self._stageable[node]

    def _can_stage(self, buf: bytes, node: QName) -> bool:
        units = [u for u in self.units if u.node == node]
        if len(units) != 1:
            return False
        blocks = [self.items[b] for b in units[0].blocks]
        if len({b.columns for b in blocks}) != 1 or len({b.kind for b in blocks}) != 1:
            return False
        if blocks[0].kind is Kind.COPY:
            return all(plain_copy(buf, b) for b in blocks)
        if any(_NOT_STAGEABLE_PREFIX.search(b.prefix) for b in blocks):
            return False
        return not any(b.mentions_default for b in blocks)

    def needs_row_order(self, node: QName) -> bool:
        """Whether rows of one table load in several statements (INSERTs, or several COPYs)."""
        blocks = self.blocks_of(node)
        return len(blocks) > 1 or any(b.kind is Kind.INSERTS for b in blocks)


def resolve(item: Item, catalog: Catalog) -> QName:
    """The table a data item loads: unqualified names go through its search_path."""
    assert item.relation is not None
    if item.relation.schema is not None:
        return QName(item.relation.schema, item.relation.name)
    for schema in item.search_path:
        if QName(schema, item.relation.name) in catalog.tables:
            return QName(schema, item.relation.name)
    return QName(item.search_path[0], item.relation.name)


def lay_out(buf: bytes, items: list[Item], catalog: Catalog) -> Layout:
    own = own_statements(buf, items, _OFF_LINE)

    def leading(i: int) -> bool:
        return i in own or is_leading(buf, items[i])

    def bound_between(first: int, last: int) -> tuple[int, int] | None:
        return _bound_between(buf, items, first, last, own)

    groups: list[list[int]] = []
    dropped: list[int] = []
    for i, item in enumerate(items):
        if item.kind not in (Kind.COPY, Kind.INSERTS):
            if item.kind.dropped:
                dropped.append(i)
            continue
        if groups:
            prev = items[groups[-1][-1]]
            between = items[groups[-1][-1] + 1 : i]
            if prev.relation == item.relation and all(x.kind.blank for x in between):
                groups[-1].append(i)
                continue
        groups.append([i])
    if not groups:
        return Layout(items, len(items), [], len(items), updates_end=len(items), dropped=tuple(dropped))
    reconnect = _reconnect(buf, items, groups[0][0], groups[-1][-1])
    staged = {n: table for n, group in enumerate(groups) if (table := _staged_table(buf, items, group))}
    # Between two groups, the \\restrict / \\unrestrict lines of concatenated dumps, and
    # DDL: data never crosses the statement that creates its table (or its FKs, triggers).
    bounds = [bound_between(groups[n - 1][-1] + 1, groups[n][0]) for n in range(1, len(groups))]
    starts = []
    floor = 0
    for n, group in enumerate(groups):
        bound = bounds[n - 1] if n else None
        if bound is not None:  # what follows the section's end is not the unit's to take
            floor = bound[1] + 1
        start = group[0]
        while start > floor and (leading(start - 1) or (n in staged and _is_capture_table(buf, items[start - 1]))):
            start -= 1
        starts.append(start)
        floor = group[-1] + 1
    end = groups[-1][-1] + 1
    probe = end
    while probe < len(items):
        while probe < len(items) and items[probe].kind.blank:
            probe += 1
        if probe < len(items) and _is_trailing(buf, items[probe]):
            probe += 1
            end = probe
        else:
            break
    units = []
    barriers: list[tuple[int, int]] = []
    ddl_barriers: dict[int, int] = {}
    segment = 0
    for n, group in enumerate(groups):
        last = starts[n + 1] if n + 1 < len(groups) else end
        bound = bounds[n] if n + 1 < len(groups) else None
        if bound is not None:
            last = bound[0]
        table = staged.get(n) or resolve(items[group[0]], catalog)
        units.append(Unit(n, starts[n], last, tuple(group), table, catalog.root_of(table), n in staged, segment))
        if bound is not None:
            ddl = next((i for i in range(bound[0], bound[1] + 1) if i not in own and is_wall(buf, items[i])), None)
            if ddl is not None and not any(_is_restrict(buf, items[i]) for i in range(bound[0], bound[1] + 1)):
                ddl_barriers[len(barriers)] = ddl
            barriers.append((bound[0], starts[n + 1]))
            segment += 1
    mark = next(
        (
            i
            for i in range(groups[-1][-1] + 1, len(items))
            if items[i].kind is Kind.SPACE and UPDATES_MARK in bytes(buf[items[i].start : items[i].end])
        ),
        None,
    )
    earlier = mark is not None
    updates_end = end
    if mark is not None:  # after it: the UPDATEs and what goes with them
        at = updates_end = max(mark + 1, end)
        while at < len(items) and (items[at].kind.blank or _EARLIER_UPDATE.match(buf, items[at].start)):
            at += 1
            if items[at - 1].kind is Kind.STATEMENT:
                updates_end = at
    numbers = [int(m.group(1)) for g in groups if (m := _CAPTURE_NAME.fullmatch(_relation(items[g[0]])))]
    head = any(
        item.kind is Kind.SPACE and _HEAD_LINE.search(buf, item.start, item.end) is not None
        for item in items[: groups[0][0]]
    )
    return Layout(
        items,
        starts[0],
        units,
        end,
        reconnect,
        earlier,
        updates_end,
        max(numbers, default=0),
        earlier_head=head,
        barriers=barriers,
        dropped=tuple(dropped),
        ddl_barriers=ddl_barriers,
    )


#: The statements dumpfix writes with those UPDATEs (write.write_updates).
_EARLIER_UPDATE = re.compile(
    rb"(?:UPDATE\s|ALTER\s+TABLE\s.*\s(?:DIS|EN)ABLE\s+TRIGGER\s|SET\s+CONSTRAINTS\s|DROP\s+TABLE\s+pg_temp\.dumpfix_)"
)
#: The comment dumpfix writes before the UPDATEs that set the columns loaded as NULL.
UPDATES_MARK = b"-- dumpfix: set the FK columns that were loaded as NULL"
#: The comment that opens the statements dumpfix writes before the data (its BEGIN).
HEAD_MARK = b"-- dumpfix: before the data"
#: The comment that opens the statements taking a table's FKs off right before its data
#: (the bulk load; the line goes on with the table's name).
OFF_MARK = b"-- dumpfix: FKs off for the load of"
_OFF_LINE = re.compile(rb"(?m)^" + re.escape(OFF_MARK))
#: The comment that closes every region dumpfix writes.
END_MARK = b"-- dumpfix: end"
_END_LINE = re.compile(rb"(?m)^" + re.escape(END_MARK) + rb"\r?$")


def own_statements(buf: bytes, items: list[Item], opening: re.Pattern[bytes]) -> set[int]:
    """The items inside the regions an earlier run wrote that a line of opening starts
    (until dumpfix's end line): dumpfix's statements, not the dump's. Only comments open
    and close them (the same words in data are data); one may close in the comments in
    which the next opens. lay_out counts a table's FKs-off region among its leading items
    (no wall between two tables' data); fix.dump_catalog reads no DDL in any region."""
    own: set[int] = set()
    inside = False
    for i, item in enumerate(items):
        if item.kind is Kind.SPACE:
            opened = [m.end() for m in opening.finditer(buf, item.start, item.end)]
            closed = _END_LINE.search(buf, opened[-1] if opened else item.start, item.end)
            inside = (inside or bool(opened)) and closed is None
        elif inside:
            own.add(i)
    return own


_HEAD_LINE = re.compile(rb"(?m)^" + re.escape(HEAD_MARK))
_CONNECT = re.compile(rb"\\c(?:onnect)?\b")


def _reconnect(buf: bytes, items: list[Item], first: int, last: int) -> int | None:
    for item in items[first:last]:
        if item.kind is Kind.META and _CONNECT.match(buf, item.start, item.end):
            return item.start
    return None


#: DDL: a statement data never moves across, and what a dump that carries its schema defines.
DDL = re.compile(rb"(?:CREATE|ALTER|DROP)\s", re.IGNORECASE)
_TEMP = re.compile(rb"CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP|TEMPORARY)\s", re.IGNORECASE)


def _is_restrict(buf: bytes, item: Item) -> bool:
    return item.kind is Kind.META and RESTRICT.match(buf, item.start) is not None


def is_wall(buf: bytes, item: Item) -> bool:
    """DDL between two tables' data: CREATE, ALTER or DROP of the target's objects.

    Data moved across it would load before the table (or an FK it needs) exists, or
    after a trigger, constraint or column it did not meet in the input. pg_dump's
    own DISABLE/ENABLE TRIGGER lines belong to their table's data, and temporary
    tables (an earlier run's staging) are no objects of the target.
    """
    if item.kind is not Kind.STATEMENT or not DDL.match(buf, item.start, item.end):
        return False
    return not (is_leading(buf, item) or _is_trailing(buf, item) or _TEMP.match(buf, item.start, item.end))


def _bound_between(buf: bytes, items: list[Item], first: int, last: int, own: set[int]) -> tuple[int, int] | None:
    """The first and the last \\restrict / \\unrestrict line or DDL statement among items
    [first, last), not counting dumpfix's own (own)."""
    found = [i for i in range(first, last) if i not in own and (_is_restrict(buf, items[i]) or is_wall(buf, items[i]))]
    return (found[0], found[-1]) if found else None


def refuse_between(buf: bytes, items: list[Item], first: int, last: int) -> list[int]:
    """The \\restrict / \\unrestrict lines among items [first, last), between two tables'
    data read from a pipe (stream.py); DDL or a \\connect there is refused: the output is
    written as the input is read, with no plan of the whole to weigh it."""
    restricts = []
    for i in range(first, last):
        item = items[i]
        if is_wall(buf, item):
            raise DumpError(
                "the dump defines or alters tables between two tables' data: read from a pipe, "
                "it is planned as it streams; save it to a file and give dumpfix the file",
                location=f"line {line_number(buf, item.start)}",
            )
        if item.kind is Kind.META and _CONNECT.match(buf, item.start, item.end):
            raise DumpError(_RECONNECT, location=f"line {line_number(buf, item.start)}")
        if _is_restrict(buf, item):
            restricts.append(i)
    return restricts


_RECONNECT = (
    "the dump switches databases (\\connect) between tables: split it per database "
    "(pg_dumpall output) and run dumpfix on each part"
)


def refuse_reconnect(buf: bytes, layout: Layout) -> None:
    """Moving a table's data across a \\connect would load it into another database."""
    if layout.reconnect is not None:
        raise DumpError(_RECONNECT, location=f"line {line_number(buf, layout.reconnect)}")


_CAPTURE_NAME = re.compile(r"pg_temp\.dumpfix_(\d+)")
_CAPTURE_CREATE = re.compile(rb"CREATE TEMP TABLE (?:pg_temp\.)?dumpfix_\d+ AS SELECT ")
_STAGED_INSERT = re.compile(rb"INSERT INTO .* SELECT .* FROM pg_temp\.(dumpfix_\d+);", re.DOTALL)


def _relation(item: Item) -> str:
    assert item.relation is not None
    return f"{item.relation.schema}.{item.relation.name}"


def _is_capture_table(buf: bytes, item: Item) -> bool:
    """dumpfix's CREATE TEMP TABLE pg_temp.dumpfix_N AS SELECT ... WITH NO DATA (unqualified
    before: earlier outputs still count)."""
    return item.kind is Kind.STATEMENT and _CAPTURE_CREATE.match(buf, item.start, item.end) is not None


def _staged_table(buf: bytes, items: list[Item], group: list[int]) -> QName | None:
    """The table an earlier run's staged data loads: the group fills pg_temp.dumpfix_N
    between dumpfix's CREATE TEMP TABLE and its INSERT INTO table ... SELECT."""
    first = items[group[0]]
    name = _CAPTURE_NAME.fullmatch(_relation(first))
    if name is None:
        return None
    before, after = group[0] - 1, group[-1] + 1
    while before >= 0 and items[before].kind.blank:
        before -= 1
    while after < len(items) and items[after].kind.blank:
        after += 1
    if before < 0 or after >= len(items) or not _is_capture_table(buf, items[before]):
        return None
    insert = _STAGED_INSERT.fullmatch(bytes(buf[items[after].start : items[after].end]))
    if items[after].kind is not Kind.STATEMENT or insert is None or insert.group(1).decode() != name.group()[8:]:
        return None
    create = parse_sql(bytes(buf[items[before].start : items[before].end]).decode(first.encoding, "surrogateescape"))
    stmt: Any = create[0].stmt
    source = stmt.query.fromClause[0]
    return QName(source.schemaname or first.search_path[0], source.relname)


def is_leading(buf: bytes, item: Item) -> bool:
    if item.kind.blank:
        return True
    return item.kind is Kind.STATEMENT and _LEADING.match(buf, item.start, item.end) is not None


def _is_trailing(buf: bytes, item: Item) -> bool:
    return item.kind is Kind.STATEMENT and _TRAILING.match(buf, item.start, item.end) is not None
