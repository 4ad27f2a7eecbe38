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

from dumpfix.lexer import skip_space, statement_end

CHUNK = 1 << 22
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
        pos = stop


@lru_cache(maxsize=256)
def _null_count_pattern(index: int) -> re.Pattern[bytes]:
    return re.compile(rb"^(?:" + _FIELD + rb"\t){%d}" % index + _NULL, re.M)


def copy_non_null(buf: bytes, start: int, end: int, index: int) -> int:
    """Rows of COPY data whose field at index is not NULL."""
    pattern = _null_count_pattern(index)
    total = 0
    for chunk in copy_chunks(buf, start, end):
        total += chunk.count(b"\n") - len(pattern.findall(chunk))
    return total


@lru_cache(maxsize=256)
def _nulling(nulled: tuple[int, ...]) -> tuple[re.Pattern[bytes], bytes]:
    """A pattern and template that put \\N into the fields at the given positions."""
    pattern = [rb"^"]
    template = []
    prev = -1
    for n, k in enumerate(nulled, start=1):
        lead = rb"\t" if prev >= 0 else b""
        pattern.append(rb"(" + lead + rb"(?:" + _FIELD + rb"\t){%d})" % (k - prev - 1) + _FIELD)
        template.append(rb"\g<%d>\\N" % n)
        prev = k
    return re.compile(b"".join(pattern), re.M), b"".join(template)


def copy_null_out(chunk: bytes, nulled: tuple[int, ...]) -> bytes:
    """The chunk with the fields at the nulled positions set to \\N."""
    pattern, template = _nulling(nulled)
    return pattern.sub(template, chunk)


@lru_cache(maxsize=256)
def _extraction(
    fields: tuple[int, ...], nulled: tuple[int, ...]
) -> tuple[re.Pattern[bytes], re.Pattern[bytes], bytes]:
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


def copy_extract(chunk: bytes, fields: tuple[int, ...], nulled: tuple[int, ...]) -> bytes:
    """COPY lines of the given fields, for the rows where a nulled field is not NULL."""
    drop, keep, template = _extraction(fields, nulled)
    return keep.sub(template, drop.sub(b"", chunk))


# INSERT statements ---------------------------------------------------------

_VALUE = re.compile(
    rb"[Ee]'(?:[^'\\]|\\[\s\S]|'')*+'"  # E'' string
    rb"|[A-Za-z]?'(?:[^']|'')*+'"  # '', B'', X'' strings
    rb"|[^,()'\s]++"  # numbers, NULL, DEFAULT, true, false
)
_TUPLE = re.compile(
    rb"\((?:\s*+(?:" + _VALUE.pattern + rb")\s*+(?:,\s*+(?:" + _VALUE.pattern + rb")\s*+)*+)?\)"
)


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
