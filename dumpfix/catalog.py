"""The catalog model: what dumpfix needs to know about the target schema.

Loaders (``schema`` from SQL files, ``live`` from a database) fill a draft
(catalog_edits.CatalogDraft) and hand on the frozen Catalog; the planner reads it. Names are PostgreSQL's stored names: unquoted identifiers
folded to lower case, quoted ones kept as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple, Protocol

from pglast import keywords


class QName(NamedTuple):
    """A schema-qualified relation name."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


_SAFE_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
# PostgreSQL's quote_identifier() quotes every keyword that is not unreserved.
_QUOTED_KEYWORDS = frozenset(keywords.RESERVED_KEYWORDS | keywords.COL_NAME_KEYWORDS | keywords.TYPE_FUNC_NAME_KEYWORDS)


def quote_ident(name: str) -> str:
    """Quote an identifier exactly as PostgreSQL's quote_ident() would need."""
    if (
        name
        and (name[0].isascii() and (name[0].islower() or name[0] == "_"))
        and all(ch in _SAFE_IDENT_CHARS for ch in name)
        and name not in _QUOTED_KEYWORDS
    ):
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A string literal that means value whatever standard_conforming_strings is.

    A dump may set it off (pg_dump of a server set so writes
    ``SET standard_conforming_strings = off;``): a backslash in a plain '...'
    literal is then an escape, so ``\\''`` closes the literal where its
    writer meant a quote, and the rest of the value runs as SQL. An E'' literal reads backslashes as
    escapes under either setting, so a value holding one is written as E''
    with each backslash doubled; one without is the same plain literal under both.
    """
    body = value.replace("'", "''")
    if "\\" in value:
        return "E'" + body.replace("\\", "\\\\") + "'"
    return "'" + body + "'"


@dataclass(frozen=True)
class Column:
    name: str
    not_null: bool = False
    #: GENERATED ALWAYS AS (...) STORED columns: never written by dumps.
    generated: bool = False
    #: GENERATED ALWAYS AS IDENTITY: INSERTs need OVERRIDING SYSTEM VALUE.
    identity_always: bool = False
    #: A value comes without the dump: a DEFAULT (serial too), an identity of either
    #: kind, or a generated expression. A NOT NULL column without one must be in every
    #: INSERT's and COPY's column list, or the restore fails on the first row.
    defaulted: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key constraint: a value (a catalog edit puts a changed copy in its place).

    (table, name) identifies it within a catalog."""

    name: str
    table: QName
    columns: tuple[str, ...]
    ref_table: QName
    #: Empty until resolved: REFERENCES t without a column list means t's primary key.
    ref_columns: tuple[str, ...]
    deferrable: bool = False
    initially_deferred: bool = False
    match_full: bool = False
    #: PostgreSQL 18 NOT ENFORCED constraints are never checked.
    enforced: bool = True
    #: Referential actions, as pg_constraint codes: a (NO ACTION), r, c, n, d.
    on_update: str = "a"
    on_delete: str = "a"
    #: ON DELETE SET NULL / SET DEFAULT (columns), PostgreSQL 15+.
    delete_set_columns: tuple[str, ...] = ()
    #: False for NOT VALID: existing rows were never checked.
    validated: bool = True
    comment: str | None = None

    def definition(self) -> str:
        """The constraint as ADD CONSTRAINT takes it back, in pg_get_constraintdef's words."""
        parts = [f"FOREIGN KEY ({_idents(self.columns)}) REFERENCES {self.ref_table}({_idents(self.ref_columns)})"]
        if self.match_full:
            parts.append("MATCH FULL")
        if self.on_update != "a":
            parts.append(f"ON UPDATE {_ACTIONS[self.on_update]}")
        if self.on_delete != "a":
            columns = f" ({_idents(self.delete_set_columns)})" if self.delete_set_columns else ""
            parts.append(f"ON DELETE {_ACTIONS[self.on_delete]}{columns}")
        if self.deferrable:
            parts.append("DEFERRABLE INITIALLY DEFERRED" if self.initially_deferred else "DEFERRABLE")
        if not self.validated:
            parts.append("NOT VALID")
        return " ".join(parts)


_ACTIONS = {"r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _idents(names: tuple[str, ...]) -> str:
    return ", ".join(quote_ident(n) for n in names)


@dataclass(frozen=True)
class Trigger:
    name: str
    table: QName
    #: Trigger fires on UPDATE: dumpfix's own UPDATEs (the nulls strategy) would
    #: fire it where the dump alone fires none.
    on_update: bool
    enabled: bool = True
    #: Trigger fires on INSERT (BEFORE or AFTER, row or statement level): the dump
    #: fires it anyway, but a column the nulls strategy loads as NULL would be NULL
    #: in NEW (or in the table, for a statement trigger) where the source had a value.
    on_insert: bool = False
    #: Fires once per statement (FOR EACH STATEMENT), or sees every row of its statement
    #: (a row trigger with a NEW TABLE transition table): how many statements load the
    #: rows changes what it does (see inserts.mergeable). None: not known.
    per_statement: bool | None = None


@dataclass(frozen=True)
class Table:
    """A table as the schema leaves it (its lists are never changed once loaded)."""

    name: QName
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: tuple[str, ...] | None = None
    unique_keys: list[tuple[str, ...]] = field(default_factory=list)
    #: Parent of a partition (PARTITION OF / ATTACH PARTITION).
    parent: QName | None = None
    partitioned: bool = False
    triggers: list[Trigger] = field(default_factory=list)

    def row_key(self) -> tuple[str, ...] | None:
        """Columns that identify a row for an UPDATE: the PK, else a NOT NULL unique key."""
        if self.primary_key:
            return self.primary_key
        for key in self.unique_keys:
            if all(self.columns.get(c) is not None and self.columns[c].not_null for c in key):
                return key
        return None

    def update_triggers(self) -> list[Trigger]:
        """Enabled user triggers that dumpfix's UPDATEs would fire."""
        return [t for t in self.triggers if t.on_update and t.enabled]

    def insert_triggers(self) -> list[Trigger]:
        """Enabled user triggers that loading the rows fires (they must not see NULLs)."""
        return [t for t in self.triggers if t.on_insert and t.enabled]


@dataclass(frozen=True)
class Catalog:
    tables: dict[QName, Table] = field(default_factory=dict)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    #: Tables the dump itself creates after its first data block (a dump that
    #: interleaves each table's CREATE with its data): they, and the FKs declared
    #: in their CREATE TABLE, do not exist yet when dumpfix's head runs before the
    #: data, so only loading as NULL (or a superuser load) can cut those FKs.
    late_tables: set[QName] = field(default_factory=set)

    def root_of(self, name: QName) -> QName:
        """The top partition root of a table (the table itself when not a partition)."""
        return root_of(self.tables, name)


def root_of(tables: Mapping[QName, TableShape], name: QName) -> QName:
    """The top partition root of a table among tables (the table itself when not a partition)."""
    seen = {name}
    table = tables.get(name)
    while table is not None and table.parent is not None and table.parent not in seen:
        name = table.parent
        seen.add(name)
        table = tables.get(name)
    return name


def resolved(fk: ForeignKey, tables: Mapping[QName, TableShape]) -> ForeignKey:
    """The FK with ref_columns filled when they default to the referenced table's primary key."""
    if fk.ref_columns:
        return fk
    target = tables.get(fk.ref_table)
    if target is None or not target.primary_key:
        return fk
    return replace(fk, ref_columns=target.primary_key)


class TableShape(Protocol):
    """What a Table and the draft a loader fills (catalog_edits.TableDraft) both have."""

    @property
    def parent(self) -> QName | None: ...

    @property
    def primary_key(self) -> tuple[str, ...] | None: ...
