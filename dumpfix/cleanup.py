"""Input clean-up between source and split: what is in the file but must not reach psql.

Real dump files carry things that are not the dump: ``pg_dump: warning: ...``
lines that ``2>&1`` put there, a UTF-8 byte order mark; settings an older
target server rejects (``--target-version``); ``\\restrict`` lines an older
loader does not understand (``--strip-restrict``). Each is removed as a whole
line (or statement) with a notice, and every other byte stays as it was.

Finding them is a lookup in the input's one pass for rare needles (index.py,
which source.py makes with the needles listed here); only when one turns up
does a walk over statement boundaries confirm that it stands between
statements (the same words inside COPY data or a string literal are data), and
only when something is removed is the buffer rewritten: spooled to a temporary
file, never held in memory.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pglast import parse_sql
from pglast.parser import ParseError

from dumpfix import statements
from dumpfix.dumpfile import copy_data_end, line_number
from dumpfix.errors import DumpError
from dumpfix.input import Input
from dumpfix.lexer import in_quoted, skip_space, statement_end

#: Settings pg_dump writes that a supported older server (12+) rejects, with the first
#: major version that knows them (pg_dump's _doSetFixedOutputState and the per-table
#: access method of schema dumps; lock_timeout, row_security and
#: idle_in_transaction_session_timeout are older than any supported target).
SETTING_SINCE = {
    "transaction_timeout": 17,
    "default_table_access_method": 12,
}
#: Programs whose messages land in a dump through ``2>&1``.
_TOOL_LINE = re.compile(rb"(?:pg_dump|pg_dumpall|pg_restore): ")
_TOOL_ERROR = re.compile(rb"(?:pg_dump|pg_dumpall|pg_restore): error: ")
#: A session SET of one setting, its name in group 1.
SETTING = re.compile(rb"SET\s+(?:SESSION\s+)?([A-Za-z_]+)\s*(?:=|TO\b)", re.IGNORECASE)
#: psql's \restrict and \unrestrict lines.
RESTRICT = re.compile(rb"\\(?:un)?restrict\b")
_COPY_HEAD = re.compile(rb"COPY\s", re.IGNORECASE)
_INSERT_HEAD = re.compile(rb"INSERT\s+INTO\s", re.IGNORECASE)
_LINE_END = re.compile(rb"[ \t]*(?:\r\n|\n|\r)")


@dataclass(frozen=True)
class Cleanup:
    """What the user asked to be removed besides what is never SQL.

    target_version: the major version of the server the output is for (from
    ``--target-version`` or a live server's ``server_version_num // 10000``).
    """

    target_version: int | None = None
    strip_restrict: bool = False

    def unsupported(self, setting: str) -> bool:
        """Whether the target server rejects ``SET setting``."""
        since = SETTING_SINCE.get(setting.lower())
        return since is not None and self.target_version is not None and self.target_version < since


@dataclass(frozen=True)
class Removal:
    start: int
    end: int
    line: int  # of start, in the input
    newlines: int  # how many line ends the removal takes away
    at_line_start: bool


@dataclass(frozen=True)
class Findings:
    """What to remove from the input and what to tell the user about it (the scan
    fills its collections; nothing replaces them)."""

    removals: list[Removal] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    #: Where a program's name stands inside COPY data, a string, a quoted identifier
    #: or a comment: the dump's data, never a message, wherever it falls.
    in_data: set[int] = field(default_factory=set)
    #: Of those in COPY data with a column list: how many TABs each of its rows holds.
    copy_tabs: dict[int, int] = field(default_factory=dict)

    def input_line(self, line: int) -> int:
        """The input's line number of a line of the cleaned buffer."""
        shift = 0
        for r in self.removals:
            cleaned_line = r.line - shift
            if cleaned_line < line or (cleaned_line == line and r.at_line_start):
                shift += r.newlines
        return line + shift


def find(source: Input, options: Cleanup, name: str) -> Findings:
    """Scan the input for what must go; raises DumpError for what cannot be a dump at all."""
    buf = source.data
    findings = Findings()
    nul, candidates = _scan(source, options)
    if nul >= 0:
        raise DumpError(
            "binary data (a NUL byte): not a plain SQL dump, or a damaged one",
            f"{name}:{line_number(buf, nul)}",
        )
    if bytes(buf[:3]) == codecs.BOM_UTF8:
        findings.removals.append(Removal(0, 3, 1, 0, True))
        findings.notices.append("notice: removed the UTF-8 byte order mark at the start (psql does not need it)")
    if candidates:
        _walk(source, options, name, candidates, findings)
        _refuse_interleaved(buf, candidates, findings, name)
    return findings


def _refuse_interleaved(buf: bytes, candidates: list[int], findings: Findings, name: str) -> None:
    """Refuse messages that ``2>&1`` cut into the middle of the dump's text.

    stdout is block-buffered, so with ``pg_dump -v`` a message lands where a
    block of the dump ended: at a multiple of 4096 bytes of the dump's own
    output, often mid-line or mid-row. Removing it there would guess. Only
    text outside COPY data, strings, quoted identifiers and comments is
    refused: anyone who may store text could otherwise put ``pg_dump: ``
    on a 4096-byte boundary and stop every backup of the database from being
    fixed. A message cut into data is not told from data.
    """
    removed = sorted(findings.removals, key=lambda r: r.start)
    for at in candidates:
        if at == 0 or buf[at - 1] in b"\r\n" or not _TOOL_LINE.match(buf, at):
            continue
        before = sum(min(r.end, at) - r.start for r in removed if r.start < at)
        if (at - before) % 4096 == 0 and (at not in findings.in_data or _breaks_row(buf, at, findings)):
            raise DumpError(
                "a pg_dump message is cut into the dump's text here (pg_dump -v ... 2>&1?): "
                "dump again without mixing stderr into the file",
                f"{name}:{line_number(buf, at)}",
            )


def _breaks_row(buf: bytes, at: int, findings: Findings) -> bool:
    """Whether a message at ``at`` in COPY data split its row in two: the line it ends
    and the next one do not hold the row's TABs (a field's TAB is always escaped).

    A value that holds the words keeps its row whole; a message cut into a
    one-column table's row is not told from data.
    """
    tabs = findings.copy_tabs.get(at)
    if tabs is None:
        return False
    start = buf.rfind(b"\n", 0, at) + 1
    start = max(start, buf.rfind(b"\r", start, at) + 1)  # a lone CR ends a line too
    first = _end_of_line(buf, at)
    second = _end_of_line(buf, first)
    lines = [bytes(buf[start:first]), bytes(buf[first:second])]
    return any(line.count(b"\t") != tabs for line in lines if line.rstrip(b"\r\n") != b"\\.")


_SET_ONE_VALUE = re.compile(
    rb"SET\s+(?:SESSION\s+)?([A-Za-z_]+)\s*(?:=|TO)\s*('(?:[^'\\]|'')*'|[A-Za-z0-9_.+-]+)\s*;", re.IGNORECASE
)


def portable_setting(statement: bytes, encoding: str) -> bytes | None:
    """``SET name = value;`` of a setting older servers lack, as a statement every
    server runs: set where it knows the setting, skipped where it does not.

    ``set_config(name, value, false)`` is what ``SET`` does (for the session);
    pg_settings has no row for a setting the server lacks, so the SELECT then
    calls nothing. For a rewritten dump whose target version is unknown, so
    that pg_dump 17+'s ``SET transaction_timeout = 0;`` does not stop the load
    on PostgreSQL 16 or older. None for any other statement.
    """
    m = _SET_ONE_VALUE.fullmatch(statement.strip())
    if m is None or m.group(1).decode().lower() not in SETTING_SINCE:
        return None
    raw = m.group(2).decode(encoding, "surrogateescape")
    value = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
    return statements.set_where_known(m.group(1).decode().lower(), value).encode(encoding, "surrogateescape")


def needles(options: Cleanup) -> list[bytes]:
    """What _scan looks for: the input's one pass (Input.indexed) should include them."""
    return [b"\0", _TOOL_NEEDLE, *_asked_for(options)]


def _asked_for(options: Cleanup) -> list[bytes]:
    """The needles of what the user asked to remove."""
    found = [b"\\restrict", b"\\unrestrict"] if options.strip_restrict else []
    if options.target_version is not None:
        found += [s.encode() for s in SETTING_SINCE if options.unsupported(s)]
    return found


# One needle for every program's message: one search instead of one a program. Past
# what the index holds of it (data full of pg_catalog, say) the programs' names are
# searched, which data holds less often.
_TOOL_NEEDLE = b"pg_"
_TOOL_NAMES = (b"pg_dump: ", b"pg_dumpall: ", b"pg_restore: ")


def _scan(source: Input, options: Cleanup) -> tuple[int, list[int]]:
    """The first NUL byte (or -1) and where something to remove may stand (may include data).

    Looked up in the input's NeedleIndex when source.py made one (a search otherwise).
    """
    buf = source.data
    nul = source.find_rare(b"\0", 0, len(buf))
    found = [at for at in _tool_candidates(source) if bytes(buf[at : at + 12]).startswith(_TOOL_NAMES)]
    for needle in _asked_for(options):
        found += source.everywhere(needle)
    return nul, sorted(set(found))


def _tool_candidates(source: Input) -> Iterator[int]:
    known = source.known(_TOOL_NEEDLE)
    rest = 0
    if known is not None:
        yield from known.positions
        rest = known.complete_until
    for name in (b"pg_dump", b"pg_restore: "):
        yield from source.everywhere(name, rest)


def _walk(source: Input, options: Cleanup, name: str, candidates: list[int], findings: Findings) -> None:
    """Go from statement to statement up to the last candidate, removing what stands
    between statements and noting the candidates that stand in data."""
    buf = source.data
    n = len(buf)
    last = candidates[-1]
    pending = 0  # the first candidate not yet passed
    pos = 0
    tool_lines = 0
    settings: list[str] = []
    restricts = 0
    while pos <= last and pos < n:
        pos = skip_space(buf, pos)
        if pos >= n:
            break
        at_line_start = pos == 0 or buf[pos - 1] in b"\r\n"
        line_end = _end_of_line(buf, pos)
        try:
            if at_line_start and _TOOL_LINE.match(buf, pos):
                if _TOOL_ERROR.match(buf, pos):
                    text = bytes(buf[pos:line_end]).decode("utf-8", "replace").strip()
                    raise DumpError(
                        f"the dump file contains an error message, so the dump is incomplete: {text}",
                        f"{name}:{line_number(buf, pos)}",
                    )
                _remove(buf, findings, pos, line_end)
                tool_lines += 1
                end = line_end
            elif buf[pos] == 0x5C:  # a psql meta-command: to the end of its line
                end = line_end
                if options.strip_restrict and RESTRICT.match(buf, pos):
                    _remove(buf, findings, pos, end)
                    restricts += 1
            elif _INSERT_HEAD.match(buf, pos):
                end = statement_end(buf, pos, n)
            elif _COPY_HEAD.match(buf, pos):
                head_end, end, columns = _copy_end(source, pos, n)
                while pending < len(candidates) and candidates[pending] < end:
                    at = candidates[pending]
                    if at >= head_end or in_quoted(buf, pos, head_end, at):
                        findings.in_data.add(at)
                        if at >= head_end and columns:
                            findings.copy_tabs[at] = columns - 1
                    pending += 1
            else:
                end = statement_end(buf, pos, n)
                m = SETTING.match(buf, pos, end)
                if m and options.unsupported(m.group(1).decode()):
                    _remove(buf, findings, pos, _with_line_end(buf, end))
                    settings.append(m.group(1).decode())
        except DumpError as e:
            if e.location is None:
                e.location = f"{name}:{line_number(buf, pos)}"
            raise
        while pending < len(candidates) and candidates[pending] < end:
            at = candidates[pending]
            if at < pos or in_quoted(buf, pos, end, at):  # a comment before the statement, or a literal
                findings.in_data.add(at)
            pending += 1
        pos = end
    if tool_lines:
        findings.notices.append(
            f"notice: removed {tool_lines} line(s) of pg_dump messages (not SQL: they came with 2>&1)"
        )
    for setting in dict.fromkeys(settings):
        findings.notices.append(
            f"notice: removed SET {setting}: PostgreSQL {options.target_version} does not know it "
            f"(from PostgreSQL {SETTING_SINCE[setting.lower()]} on)"
        )
    if restricts:
        findings.notices.append(
            f"warning: removed {restricts} \\restrict/\\unrestrict line(s): they stop psql from running "
            "meta-commands (such as \\! shell commands) that a malicious server could hide in a dump's "
            "data; load the output only if you trust the database it was dumped from"
        )


def _end_of_line(buf: bytes, pos: int) -> int:
    nl = buf.find(b"\n", pos)
    return len(buf) if nl < 0 else nl + 1


def _with_line_end(buf: bytes, end: int) -> int:
    """A removed statement takes its line end with it when nothing else is on its line."""
    m = _LINE_END.match(buf, end)
    return m.end() if m else end


def _remove(buf: bytes, findings: Findings, start: int, end: int) -> None:
    at_line_start = start == 0 or buf[start - 1] in b"\r\n"
    newlines = bytes(buf[start:end]).count(b"\n")
    findings.removals.append(Removal(start, end, line_number(buf, start), newlines, at_line_start))


def _copy_end(source: Input, pos: int, n: int) -> tuple[int, int, int | None]:
    """The end of a COPY statement's header, of the statement with its inline data when
    it reads from stdin, and the number of columns its column list names (None: no
    list, or no data)."""
    buf = source.data
    head_end = statement_end(buf, pos, n)
    try:
        copy: Any = parse_sql(bytes(buf[pos:head_end]).decode("utf-8", "surrogateescape"))[0].stmt
    except ParseError as e:
        raise DumpError(f"cannot parse COPY statement: {e}") from None
    if not getattr(copy, "is_from", False) or copy.filename is not None or copy.is_program:
        return head_end, head_end, None
    eol = _LINE_END.match(buf, head_end)
    if eol is None:
        raise DumpError("COPY ... FROM stdin must end its line")
    columns = len(copy.attlist) if copy.attlist and not copy.options else None  # text, TAB-separated
    return head_end, copy_data_end(source, eol.end(), n), columns
