"""Fields of the rows in COPY data and INSERT statements: count, null out, extract.

COPY data is handled a chunk of whole lines at a time with patterns built
for the column positions concerned, so that rows are rewritten inside the
regex engine, not one Python step per row. INSERT values are tokenised with
PostgreSQL's literal rules: a value's bytes are copied exactly, never
re-quoted, so data cannot turn into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

from dumpfix.input import release
from dumpfix.lexer import skip_space, statement_end

CHUNK = 1 << 20
_FIELD = rb"[^\t\r\n]*"
_NULL = rb"\\N(?=[\t\r\n])"


def copy_chunks(buf: bytes, start: int, end: int) -> Iterator[bytes]:
    """Pieces of COPY data [start, end) that each end at a line end."""
    pos = start
    while pos < end:
        stop = min(pos + CHUNK, end)
        if stop < end:
            nl = buf.rfind(b"\n", pos, stop)
            stop = nl + 1 if nl >= pos else buf.find(b"\n", stop, end) + 1 or end
        yield bytes(buf[pos:stop])
        release(buf, stop - pos)
        pos = stop


@lru_cache(maxsize=256)
def _null_count_pattern(index: int) -> re.Pattern[bytes]:
    # Anchored on a literal newline, not ^ under MULTILINE: the engine then jumps
    # from line to line instead of trying the pattern at every byte.
    return re.compile(rb"\n(?:" + _FIELD + rb"\t){%d}" % index + _NULL)


def copy_non_null(buf: bytes, start: int, end: int, index: int) -> int:
    """Rows of COPY data whose field at index is not NULL."""
    pattern = _null_count_pattern(index)
    total = 0
    for chunk in copy_chunks(buf, start, end):
        total += chunk.count(b"\n") - len(pattern.findall(b"\n" + chunk))
    return total


@lru_cache(maxsize=256)
def _value_pattern(index: int) -> re.Pattern[bytes]:
    return re.compile(rb"^(?!\Z)(?:" + _FIELD + rb"\t){%d}(?!" % index + _NULL + rb")", re.M)


def copy_any_value(buf: bytes, start: int, end: int, index: int) -> bool:
    """Whether any row of COPY data has a value (not NULL) at index; stops at the first."""
    pattern = _value_pattern(index)
    return any(pattern.search(chunk) for chunk in copy_chunks(buf, start, end))


@lru_cache(maxsize=256)
def _nulling(nulled: tuple[int, ...]) -> tuple[re.Pattern[bytes], bytes]:
    """A pattern and template that put \\N into the fields at the given positions."""
    pattern = [rb"^(?!\Z)"]  # not at the end of a chunk: ^ matches after its last newline
    template = []
    prev = -1
    for n, k in enumerate(nulled, start=1):
        lead = rb"\t" if prev >= 0 else b""
        pattern.append(rb"(" + lead + rb"(?:" + _FIELD + rb"\t){%d})" % (k - prev - 1) + _FIELD)
        template.append(rb"\g<%d>\\N" % n)
        prev = k
    return re.compile(b"".join(pattern), re.M), b"".join(template)


@lru_cache(maxsize=256)
def _gaps(nulled: tuple[int, ...]) -> re.Pattern[bytes]:
    """What lies between the nulled fields of consecutive rows, one match per row.

    A match runs from just after the last nulled field of a row (the rest of that
    line, its newline, the next row's leading fields) through the next row's
    nulled fields; the groups are the text between those fields, the fields
    themselves are left out. Joining every group with \\N rewrites a chunk
    inside the regex engine: 3.11's re.sub expands a group template in Python.
    """
    parts = []
    prev = -1
    for k in nulled:
        if prev < 0:
            parts.append(rb"((?:\t[^\r\n]*)?\r?\n(?:" + _FIELD + rb"\t){%d})" % k)
        else:
            parts.append(rb"(\t(?:" + _FIELD + rb"\t){%d})" % (k - prev - 1))
        parts.append(_FIELD)
        prev = k
    return re.compile(b"".join(parts))


def copy_null_out(chunk: bytes, nulled: tuple[int, ...]) -> bytes:
    """The chunk (whole lines) with the fields at the nulled positions set to \\N."""
    # A newline before the first row and an empty row after the last one give
    # every row the same shape: one match each, every newline in a match.
    found = _gaps(nulled).findall(b"\n" + chunk + b"\t" * nulled[-1])
    if len(found) == chunk.count(b"\n") + 1 and chunk.endswith(b"\n"):
        groups = found if len(nulled) == 1 else chain.from_iterable(found)
        out = b"\\N".join(groups)
        return out[1 : out.rfind(b"\n") + 1]
    pattern, template = _nulling(nulled)  # a row with too few fields: leave it as it is
    return pattern.sub(template, chunk)


@lru_cache(maxsize=256)
def _extraction(fields: tuple[int, ...], nulled: tuple[int, ...]) -> tuple[re.Pattern[bytes], re.Pattern[bytes], bytes]:
    last = max(fields + nulled)
    drop, keep, template = [rb"^"], [rb"^"], []
    for i in range(last + 1):
        sep = rb"\t" if i else b""
        drop.append(sep + (_NULL if i in nulled else _FIELD))
        keep.append(sep + (rb"(" + _FIELD + rb")" if i in fields else _FIELD))
    for n, _ in enumerate(fields, start=1):
        template.append(rb"\g<%d>" % n)
    rest = rb"(?:\t[^\r\n]*)?(\r?\n)"
    drop_p = re.compile(b"".join(drop) + rest, re.M)
    keep_p = re.compile(b"".join(keep) + rest, re.M)
    return drop_p, keep_p, b"\t".join(template) + rb"\g<%d>" % (len(fields) + 1)


@lru_cache(maxsize=256)
def _row_filters(fields: tuple[int, ...], nulled: tuple[int, ...]) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """A pattern for "newline, then a row whose nulled fields are all NULL", and one
    matching a row whose groups are exactly the output: the kept fields, each
    with the tab before it (but the first), and the line end."""
    last = max(fields + nulled)
    drop, keep = [rb"\n"], []
    for i in range(last + 1):
        sep = rb"\t" if i else b""
        drop.append(sep + (_NULL if i in nulled else _FIELD))
        if i not in fields:
            keep.append(sep + _FIELD)
        elif i == fields[0]:
            keep.append(sep + rb"(" + _FIELD + rb")")
        else:
            keep.append(rb"(" + sep + _FIELD + rb")")
    drop.append(rb"[^\n]*")
    keep.append(rb"(?:\t[^\r\n]*)?(\r?\n)")
    return re.compile(b"".join(drop)), re.compile(b"".join(keep))


def copy_extract(chunk: bytes, fields: tuple[int, ...], nulled: tuple[int, ...]) -> bytes:
    """COPY lines of the given fields, for the rows where a nulled field is not NULL."""
    if fields == tuple(sorted(fields)) and chunk.endswith(b"\n"):
        # Inside the engine: dropping rows is a literal substitution, and the kept
        # rows' groups joined are the output (no template expansion in Python).
        drop, keep = _row_filters(fields, nulled)
        kept = drop.sub(b"", b"\n" + chunk)[1:]
        found = keep.findall(kept)
        if len(found) == kept.count(b"\n"):
            return b"".join(chain.from_iterable(found))
    drop_p, keep_p, template = _extraction(fields, nulled)  # a malformed row: the slow path
    return keep_p.sub(template, drop_p.sub(b"", chunk))


# INSERT statements ---------------------------------------------------------

_VALUE = re.compile(
    rb"[Ee]'(?:[^'\\]|\\[\s\S]|'')*+'"  # E'' string
    rb"|[A-Za-z]?'(?:[^']|'')*+'"  # '', B'', X'' strings
    rb"|[^,()'\s]++"  # numbers, NULL, DEFAULT, true, false
)
_TUPLE = re.compile(rb"\((?:\s*+(?:" + _VALUE.pattern + rb")\s*+(?:,\s*+(?:" + _VALUE.pattern + rb")\s*+)*+)?\)")


@dataclass(frozen=True, slots=True)
class Tuple:
    start: int
    end: int
    values: list[bytes]


def insert_statements(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of the statements of an INSERTS item."""
    pos = skip_space(buf, start)
    while pos < end:
        stop = statement_end(buf, pos, end)
        yield pos, stop
        release(buf, stop - pos)
        pos = skip_space(buf, stop)


def insert_tuples(buf: bytes, start: int, end: int, prefix_len: int) -> Iterator[Tuple]:
    """The VALUES rows of one INSERT statement, with their literal texts."""
    pos = start + prefix_len
    while True:
        m = _TUPLE.search(buf, pos, end)
        if m is None:
            return
        yield Tuple(m.start(), m.end(), _VALUE.findall(buf, m.start() + 1, m.end() - 1))
        pos = m.end()


def render_tuple(values: list[bytes]) -> bytes:
    return b"(" + b", ".join(values) + b")"


def insert_rows(buf: bytes, start: int, end: int, prefix_len: int) -> Iterator[list[bytes]]:
    """The literal texts of every row of the INSERT statements in [start, end)."""
    for begin, stop in insert_statements(buf, start, end):
        for t in insert_tuples(buf, begin, stop, prefix_len):
            yield t.values
