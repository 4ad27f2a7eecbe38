"""Mistaken inputs, refused before anything is written.

dumpfix must never turn a mistake into a silent success: an empty pipe, a dump
cut short, the schema given as IN, a schema of another database, or a target
role that could not run the output would each give a file that looks fixed and
then fails to restore, or restores less than the source held. These checks run
in the analysis, before the plan is written, so that a rewrite, ``--in-place``
and ``--check`` refuse the same inputs with the same one line (exit 2).

Each check reads little: the first and last 64 KB of the dump, the items the
splitter found anyway, and the first row of each INSERT block (never every row).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dumpfix.catalog import Catalog, QName, Table, quote_ident
from dumpfix.dumpfile import Item, Kind, line_number
from dumpfix.errors import DumpError, DumpfixError, MismatchError, SchemaError
from dumpfix.layout import Layout, resolve
from dumpfix.lexer import statement_end
from dumpfix.plan import Plan
from dumpfix.rows import insert_tuples

#: How far from each end of the dump pg_dump's header and last line are looked for:
#: `pg_dump: warning:` lines (2>&1) and `\restrict` may come before the header.
_EDGE = 1 << 16
_HEADER = re.compile(rb"^-- PostgreSQL database dump\r?$", re.MULTILINE)
_COMPLETE = re.compile(rb"^-- PostgreSQL database dump complete\r?$", re.MULTILINE)
_CREATE = re.compile(rb"CREATE\s", re.IGNORECASE)
_SETVAL = re.compile(rb"SELECT\s+(?:pg_catalog\.)?setval\s*\(\s*'((?:[^']|'')*)'", re.IGNORECASE)
#: Names listed in one message before "and N more".
_LISTED = 8


def refuse_truncated(buf: bytes) -> None:
    """A dump that starts as pg_dump's but lacks its last line was cut short.

    pg_dump writes ``-- PostgreSQL database dump complete`` (then, since the
    2025 minor releases, ``\\unrestrict KEY``) only once everything is out: a
    full disk, a killed pg_dump or a partial download lose it. Such a file may
    still split into whole statements, and would restore some tables and not
    others. Dumps made by hand (no pg_dump header) are not held to this.
    """
    if _HEADER.search(buf, 0, min(len(buf), _EDGE)) is None:
        return
    if _COMPLETE.search(buf, max(0, len(buf) - _EDGE)) is not None:
        return
    tail = bytes(buf[max(0, len(buf) - 4096) :])
    end = len(buf) - (len(tail) - len(tail.rstrip()))
    last = tail.rstrip().rsplit(b"\n", 1)[-1].strip()
    text = last.decode("utf-8", "replace")
    shown = text if len(text) <= 40 else text[:40] + "..."
    raise DumpError(
        f"truncated: the dump stops here ({shown!r}), without pg_dump's last line "
        "'-- PostgreSQL database dump complete': dump it again",
        location=f"line {line_number(buf, end)}",
    )


def refuse_no_data(buf: bytes, items: Sequence[Item]) -> None:
    """An IN with nothing to load: empty (pg_dump failed upstream of a pipe), or DDL only
    (IN and --schema swapped). Passed through, either would 'restore' nothing at all."""
    if any(item.kind in (Kind.COPY, Kind.INSERTS) for item in items):
        return
    statements = [item for item in items if item.kind is Kind.STATEMENT]
    if not statements:
        raise DumpError(
            "IN holds no SQL at all (empty, or only comments): did pg_dump fail before it? "
            "Run it again and look at its errors"
        )
    ddl = next((item for item in statements if _CREATE.match(buf, item.start, item.end)), None)
    if ddl is not None:
        raise DumpError(
            f"IN holds no data: it defines objects (CREATE at line {line_number(buf, ddl.start)}) "
            "and loads no table: did you swap IN and --schema?"
        )


def refuse_unknown_tables(layout: Layout, catalog: Catalog, pass_unknown: bool) -> None:
    """The dump loads tables the schema does not define.

    None of them defined: the schema is of another database (a wrong file, an
    empty target). Some: restoring their data would fail on them, and dumpfix
    cannot know their FKs to order them; ``--pass-unknown`` says to pass their
    data through where it stands (the plan then warns about each).
    """
    loaded = list(dict.fromkeys(u.table for u in layout.units if u.table.schema != "pg_temp"))
    unknown = [t for t in loaded if t not in catalog.tables]
    if not unknown:
        return
    if len(unknown) == len(loaded):
        raise SchemaError(
            f"the schema defines none of the {len(loaded)} tables the dump loads ({_names(unknown)}): "
            "a schema of another database, or an empty one? Give the target's schema with "
            "--schema FILE_OR_DIR or --dsn URL"
        )
    if not pass_unknown:
        raise SchemaError(
            f"the schema lacks {len(unknown)} of the {len(loaded)} tables the dump loads: {_names(unknown)}; "
            "their data would not restore: give their definitions, or --pass-unknown to pass "
            "their data through unchanged"
        )


def refuse_column_mismatch(buf: bytes, layout: Layout, catalog: Catalog) -> None:
    """The dump's rows do not fit the schema's tables (a dump of another version of the schema).

    Three cheap tests per data block: every column a COPY or ``--column-inserts``
    list names exists; a plain ``--inserts`` row (no column list) has no more
    values than the table has columns (only the block's first row is counted:
    pg_dump writes all of a table's rows alike); and every NOT NULL column
    without a default (serial, identity, generated) is given. The last is skipped
    on tables with triggers, which may fill a column before NOT NULL is checked.
    """
    for unit in layout.units:
        for index in unit.blocks:
            item = layout.items[index]
            table = catalog.tables.get(resolve(item, catalog))
            if table is not None:
                _refuse_columns(buf, item, table)


def _refuse_columns(buf: bytes, item: Item, table: Table) -> None:
    """Refuse the block if it does not fit the table (see refuse_column_mismatch)."""
    try:
        _check_columns(buf, item, table)
    except MismatchError as e:
        # The line is counted only now: counting it for every block read the whole input.
        e.location = f"line {line_number(buf, item.start)}"
        raise


def _check_columns(buf: bytes, item: Item, table: Table) -> None:
    what = "COPY" if item.kind is Kind.COPY else "INSERT"
    if item.columns is not None:
        for name in item.columns:
            if name not in table.columns:
                raise MismatchError(
                    f"the dump's {what} into {table.name} names column {quote_ident(name)}, which the "
                    "schema's table lacks: the dump and the schema are of different versions"
                )
        given: Iterable[str] = item.columns
    elif item.kind is Kind.INSERTS:
        count = _first_row_width(buf, item)
        if count is None:
            return
        if count > len(table.columns):
            raise MismatchError(
                f"the dump's INSERT into {table.name} has {count} values a row, and the schema's "
                f"table {len(table.columns)} columns: the dump and the schema are of different versions"
            )
        given = list(table.columns)[:count]
    else:
        return  # COPY without a column list: hand-made; its rows are not counted
    if any(t.enabled for t in table.triggers):
        return
    named = set(given)
    missing = [c.name for c in table.columns.values() if c.not_null and not c.defaulted and c.name not in named]
    if missing:
        raise MismatchError(
            f"the dump's {what} into {table.name} leaves out {', '.join(map(quote_ident, missing))}, "
            "NOT NULL without a default in the schema: the dump and the schema are of different versions"
        )


def _first_row_width(buf: bytes, item: Item) -> int | None:
    """The number of values in the block's first row (None: DEFAULT VALUES, no row)."""
    first = statement_end(buf, item.data_start, item.end)
    row = next(insert_tuples(buf, item.data_start, first, len(item.prefix)), None)
    return None if row is None else len(row.values)


@dataclass(frozen=True)
class Need:
    """One privilege the output needs from the restoring role, on one object."""

    #: INSERT, SELECT, UPDATE (tables, sequences), TEMP (database), OWNER, SUPERUSER.
    privilege: str
    #: "table", "sequence", "schema", "database" or "role".
    kind: str
    #: The object, qualified and quoted as SQL takes it ("" for the database and role).
    name: str

    def __str__(self) -> str:
        if self.kind == "database":
            return f"{self.privilege} on the database"
        if self.kind == "role":
            return self.privilege.lower()
        if self.kind == "schema":
            return f"{self.privilege} on schema {quote_ident(self.name)}"
        if self.privilege == "OWNER":
            return f"ownership of {self.name}"
        return f"{self.privilege} on {self.name}"


def needs(buf: bytes, items: Sequence[Item], plan: Plan) -> list[Need]:
    """What restoring the output asks of the role: the privileges --dsn checks before writing.

    INSERT on every table loaded; SELECT and UPDATE where dumpfix's UPDATEs set
    the columns loaded as NULL; TEMP where it stages rows in temporary tables;
    ownership where it alters constraints or switches triggers off; superuser for
    the superuser strategy; UPDATE on each sequence the dump sets (setval needs it).
    """
    if plan.superuser:
        return [Need("SUPERUSER", "role", "")]
    found: list[Need] = []
    loaded = list(dict.fromkeys(u.table for u in plan.layout.units if u.table.schema != "pg_temp"))
    found += [Need("INSERT", "table", str(t)) for t in loaded]
    updated = list(dict.fromkeys(r.table.name for r in plan.rewrites.values()))
    found += [Need(p, "table", str(t)) for t in updated for p in ("SELECT", "UPDATE")]
    staged = any(u.staged for u in plan.layout.units) or plan.layout.earlier_updates
    if plan.rewrites or staged:
        found.append(Need("TEMP", "database", ""))
    owned = list(dict.fromkeys([fk.table for fk in plan.altered] + list(plan.disabled_triggers)))
    found += [Need("OWNER", "table", str(t)) for t in owned]
    found += [Need("UPDATE", "sequence", s) for s in list(dict.fromkeys(_setvals(buf, items)))]
    return found


def _setvals(buf: bytes, items: Sequence[Item]) -> Iterable[str]:
    for item in items:
        if item.kind is Kind.STATEMENT:
            m = _SETVAL.match(buf, item.start, item.end)
            if m is not None:
                yield m.group(1).replace(b"''", b"'").decode(item.encoding, "replace")


def refuse_missing(missing: Sequence[Need], role: str) -> None:
    """One message naming everything the role lacks, so that one GRANT round fixes it all."""
    if missing:
        raise DumpfixError(
            f"the --dsn role {role} cannot restore the output: it lacks "
            + ", ".join(str(n) for n in missing)
            + " (grant them, or run as a role that has them)"
        )


def _names(tables: Sequence[QName]) -> str:
    shown = ", ".join(str(t) for t in tables[:_LISTED])
    return shown if len(tables) <= _LISTED else f"{shown} and {len(tables) - _LISTED} more"
