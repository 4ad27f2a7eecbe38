"""What a data-only dump holds, per table: a row count and a digest of the rows as a multiset.

``--verify`` tallies the user's dump and pg_dump's dump of the restored database
the same way and compares the two. The digest is the sum of every row's SHA-256,
modulo 2**256: it does not depend on row order (a restore need not keep it),
counts duplicate rows, and is built in one streaming pass over the dump, so no
dump is ever held in memory.

A row is compared as pg_dump writes it: a COPY line (fields as text, TAB between
them), or an INSERT tuple's literal texts. Rows are tallied in the column order of
the user's dump: the other dump's rows are reordered (and narrowed to those
columns, should the restored table have more) by column name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from dumpfix.catalog import QName
from dumpfix.dumpfile import Item, Kind, Relation
from dumpfix.rows import copy_chunks, insert_rows

_MASK = (1 << 256) - 1
_SETVAL = re.compile(
    rb"SELECT\s+(?:pg_catalog\.)?setval\s*\(\s*'((?:[^']|'')*)'\s*,\s*(-?\d+)\s*(?:,\s*(true|false)\s*)?\)",
    re.IGNORECASE,
)
#: A field a short row lacks: never equal to any field pg_dump writes.
_MISSING = b"\x00missing"


@dataclass
class TableTally:
    """One table's rows in one dump format ("copy" or "insert")."""

    format: str
    #: The columns the rows are tallied in (None: by position, width values each).
    columns: tuple[str, ...] | None
    width: int = 0
    rows: int = 0
    digest: int = 0


@dataclass
class Tally:
    tables: dict[QName, TableTally] = field(default_factory=dict)
    #: setval's sequence argument as written -> (value, is_called).
    sequences: dict[str, tuple[int, bool]] = field(default_factory=dict)


def tally(
    buf: bytes,
    items: Sequence[Item],
    want: dict[QName, TableTally] | None = None,
    known: AbstractSet[QName] = frozenset(),
    targets: dict[int, QName] | None = None,
) -> Tally:
    """Count and digest every table's rows and read every setval.

    want, when given, is the user dump's tally: each table's rows are then put in
    its column order (tables it does not name keep their own). known are the
    schema's tables, for names the dump leaves unqualified. targets, by item
    index, are the tables data items load when that is not the table they name
    (an earlier dumpfix run's staged data); pg_temp tables are not tallied.
    """
    result = Tally()
    for index, item in enumerate(items):
        if item.kind is Kind.STATEMENT:
            m = _SETVAL.search(bytes(buf[item.start : item.end]))
            if m is not None:
                result.sequences[m.group(1).decode(item.encoding, "replace")] = (
                    int(m.group(2)),
                    (m.group(3) or b"true").lower() == b"true",
                )
            continue
        if item.kind not in (Kind.COPY, Kind.INSERTS) or item.relation is None:
            continue
        key = (targets or {}).get(index) or _key(item.relation, item.search_path, known)
        if key.schema == "pg_temp":  # values an earlier dumpfix run set aside
            continue
        fmt = "copy" if item.kind is Kind.COPY else "insert"
        rows = _copy_rows(buf, item) if item.kind is Kind.COPY else _insert_rows(buf, item)
        existing = result.tables.get(key)
        order = want.get(key) if want is not None else existing
        if order is not None and order.format != fmt:
            order = None
        target = existing or TableTally(fmt, order.columns if order else item.columns, order.width if order else 0)
        if target.format != fmt:  # one table in two formats: keep the first, count the rest apart
            continue
        result.tables[key] = target
        _add(target, rows, _positions(item.columns, target), fmt == "copy")
    return result


def _key(relation: Relation, search_path: tuple[str, ...], known: AbstractSet[QName]) -> QName:
    if relation.schema is not None:
        return QName(relation.schema, relation.name)
    found = (QName(s, relation.name) for s in search_path if QName(s, relation.name) in known)
    return next(found, QName(search_path[0] if search_path else "public", relation.name))


def _positions(columns: tuple[str, ...] | None, target: TableTally) -> list[int] | None:
    """Where each of the tally's columns is in a block's rows; None: the rows as they are."""
    if target.columns is None:
        if columns is None or target.width == 0:
            return None
        return list(range(target.width))  # a positional dump: the first values, in table order
    if columns is None or columns == target.columns:
        return None
    index = {name: i for i, name in enumerate(columns)}
    return [index.get(name, -1) for name in target.columns]


def _add(target: TableTally, rows: Iterator[list[bytes] | bytes], positions: list[int] | None, copy: bool) -> None:
    sep = b"\t" if copy else b"\0"
    count, digest = target.rows, target.digest
    sha = hashlib.sha256
    for row in rows:
        if positions is None:
            text = row if isinstance(row, bytes) else sep.join(row)
        else:
            fields = row.split(b"\t") if isinstance(row, bytes) else row
            text = sep.join(fields[i] if 0 <= i < len(fields) else _MISSING for i in positions)
        if not target.width and target.columns is None:
            target.width = len(row) if isinstance(row, list) else row.count(b"\t") + 1
        digest += int.from_bytes(sha(text).digest(), "big")
        count += 1
    target.rows, target.digest = count, digest & _MASK


def _copy_rows(buf: bytes, item: Item) -> Iterator[bytes]:
    """The data lines of a COPY block, without their line ends (an empty line is a row)."""
    end = item.end
    term = buf.rfind(b"\\.", item.data_start, end)
    if term >= item.data_start:
        end = term
    for chunk in copy_chunks(buf, item.data_start, end):
        lines = chunk.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line


def _insert_rows(buf: bytes, item: Item) -> Iterator[list[bytes]]:
    return insert_rows(buf, item.start, item.end, len(item.prefix))
