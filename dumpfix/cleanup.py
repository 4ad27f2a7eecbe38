"""What is in a dump file but must not reach psql, and what the user is told about it.

Real dump files carry things that are not the dump: ``pg_dump: warning: ...``
lines that ``2>&1`` put there, a UTF-8 byte order mark; settings an older
target server rejects (``--target-version``); ``\\restrict`` lines an older
loader does not understand (``--strip-restrict``). The splitter (dumpfile.py)
recognises each where a statement may start, as an item of its own kind (the
same words inside COPY data or a string literal are data), and the writer
leaves those items out: every other byte stays as it was, and an error's line
is the input's own.

This module says what to look for (the options, the programs' message lines,
the settings each version knows), what to tell the user (``notices``), and how
a setting older servers lack is written for any server (``portable_setting``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dumpfix import statements
from dumpfix.settings import setting_set

#: Settings pg_dump writes that a supported older server (12+) rejects, with the first
#: major version that knows them (pg_dump's _doSetFixedOutputState and the per-table
#: access method of schema dumps; lock_timeout, row_security and
#: idle_in_transaction_session_timeout are older than any supported target).
SETTING_SINCE = {
    "transaction_timeout": 17,
    "default_table_access_method": 12,
}
#: A line of a program whose messages land in a dump through ``2>&1``.
TOOL_LINE = re.compile(rb"(?:pg_dump|pg_dumpall|pg_restore): ")
#: Such a line that says the program failed: the dump is incomplete.
TOOL_ERROR = re.compile(rb"(?:pg_dump|pg_dumpall|pg_restore): error: ")
#: psql's \restrict and \unrestrict lines.
RESTRICT = re.compile(rb"\\(?:un)?restrict\b")
#: One needle for every program's message: one search instead of one a program (the
#: index keeps where it stands; past what it holds of it, data full of pg_catalog say,
#: the programs' names are searched, which data holds less often).
TOOL_NEEDLE = b"pg_"
TOOL_NAMES = (b"pg_dump", b"pg_restore: ")


@dataclass(frozen=True)
class Cleanup:
    """What the user asked to be dropped besides what is never SQL.

    target_version: the major version of the server the output is for (from
    ``--target-version`` or a live server's ``server_version_num // 10000``).
    """

    target_version: int | None = None
    strip_restrict: bool = False

    def unsupported(self, setting: str) -> bool:
        """Whether the target server rejects ``SET setting``."""
        since = SETTING_SINCE.get(setting.lower())
        return since is not None and self.target_version is not None and self.target_version < since

    def rejects(self, statement: bytes, encoding: str) -> str | None:
        """The setting a SET statement sets when the target server rejects it."""
        if self.target_version is None:
            return None
        found = setting_set(statement, encoding)
        return found[0] if found is not None and self.unsupported(found[0]) else None


#: No options: only what is never SQL (messages, a BOM) is left out.
DEFAULTS = Cleanup()


def notices(options: Cleanup, bom: bool, messages: int, rejected: Iterable[str], stripped: int) -> list[str]:
    """What the user is told about what the output leaves out, in the order it is checked."""
    found = []
    if bom:
        found.append("notice: removed the UTF-8 byte order mark at the start (psql does not need it)")
    if messages:
        found.append(f"notice: removed {messages} line(s) of pg_dump messages (not SQL: they came with 2>&1)")
    for setting in dict.fromkeys(rejected):
        found.append(
            f"notice: removed SET {setting}: PostgreSQL {options.target_version} does not know it "
            f"(from PostgreSQL {SETTING_SINCE[setting]} on)"
        )
    if stripped:
        found.append(
            f"warning: removed {stripped} \\restrict/\\unrestrict line(s): they stop psql from running "
            "meta-commands (such as \\! shell commands) that a malicious server could hide in a dump's "
            "data; load the output only if you trust the database it was dumped from"
        )
    return found


def portable_setting(statement: bytes, encoding: str) -> bytes | None:
    """``SET name = value;`` of a setting older servers lack, as a statement every
    server runs: set where it knows the setting, skipped where it does not.

    ``set_config(name, value, false)`` is what ``SET`` does (for the session);
    pg_settings has no row for a setting the server lacks, so the SELECT then
    calls nothing. For a rewritten dump whose target version is unknown, so
    that pg_dump 17+'s ``SET transaction_timeout = 0;`` does not stop the load
    on PostgreSQL 16 or older. None for any other statement.
    """
    name, value = setting_set(statement, encoding) or ("", None)
    if name not in SETTING_SINCE or value is None:
        return None
    return statements.set_where_known(name, value).encode(encoding, "surrogateescape")


def needles() -> list[bytes]:
    """What the input's one pass (Input.indexed) should find for the refusal of
    messages cut into the dump's text (dumpfile.refuse_cut_messages), and NUL bytes."""
    return [b"\0", TOOL_NEEDLE]
