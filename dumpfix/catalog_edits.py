"""Edits of a Catalog that DDL implies, independent of how the DDL was written.

A catalog being loaded is a draft (CatalogDraft, TableDraft) changed in place;
finish() hands on the frozen Catalog. Columns, triggers and FKs are values
even in a draft: an edit puts a changed copy in place of the old one.

``ddl`` reads parse trees and calls these; here live the side effects PostgreSQL
gives each change: a rename follows every FK, DROP COLUMN drops the FKs using it,
a detached partition keeps copies of its keys, generated constraint names
follow the server's rules.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .catalog import Catalog, Column, ForeignKey, QName, Table, Trigger, resolved, root_of

NAMEDATALEN = 64


def make_object_name(name1: str, name2: str | None, label: str) -> str:
    """PostgreSQL's makeObjectName: ``name1_name2_label`` clipped to 63 bytes.

    The longer of name1 and name2 loses bytes first, cut on a character boundary,
    so generated constraint names match what the server chose.
    """
    raw1, raw2 = name1.encode(), (name2 or "").encode()
    avail = NAMEDATALEN - 1 - (len(label) + 1 + (1 if name2 is not None else 0))
    len1, len2 = len(raw1), len(raw2)
    while len1 + len2 > avail:
        if len1 > len2:
            len1 -= 1
        else:
            len2 -= 1
    parts = [raw1[:len1].decode(errors="ignore")]
    if name2 is not None:
        parts.append(raw2[:len2].decode(errors="ignore"))
    return "_".join([*parts, label])


def choose_name(name1: str, columns: Iterable[str] | None, label: str, taken: Callable[[str], bool]) -> str:
    """PostgreSQL's ChooseConstraintName / ChooseRelationName: add a counter on clashes."""
    name2 = "_".join(columns) if columns is not None else None
    candidate, counter = make_object_name(name1, name2, label), 0
    while taken(candidate):
        counter += 1
        candidate = make_object_name(name1, name2, f"{label}{counter}")
    return candidate


@dataclass
class TableDraft:
    """A Table while its DDL is read: Table's fields, changed in place."""

    name: QName
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: tuple[str, ...] | None = None
    unique_keys: list[tuple[str, ...]] = field(default_factory=list)
    parent: QName | None = None
    partitioned: bool = False
    triggers: list[Trigger] = field(default_factory=list)

    @classmethod
    def of(cls, table: Table) -> TableDraft:
        return cls(**_table_fields(table))

    def freeze(self) -> Table:
        return Table(**_table_fields(self))

    def change_column(self, name: str, **changes: Any) -> Column:
        """A column is a value: the changed copy (of a new column, if none) takes its place."""
        column = replace(self.columns.get(name) or Column(name), **changes)
        self.columns[name] = column
        return column


def _table_fields(table: Table | TableDraft) -> dict[str, Any]:
    """Table's fields of a table or draft, each dict and list copied: a draft changes its own."""
    return {f.name: copy.copy(getattr(table, f.name)) for f in fields(Table)}


@dataclass
class CatalogDraft:
    """A Catalog while DDL (or a server's catalog) is read into it."""

    tables: dict[QName, TableDraft] = field(default_factory=dict)
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    @classmethod
    def of(cls, catalog: Catalog) -> CatalogDraft:
        return cls({q: TableDraft.of(t) for q, t in catalog.tables.items()}, list(catalog.foreign_keys))

    def root_of(self, name: QName) -> QName:
        return root_of(self.tables, name)

    def freeze(self) -> Catalog:
        """The loaded catalog, FKs without a column list resolved to the referenced primary key."""
        return Catalog(
            {q: t.freeze() for q, t in self.tables.items()}, [resolved(fk, self.tables) for fk in self.foreign_keys]
        )


@dataclass(frozen=True)
class IndexInfo:
    """A CREATE [UNIQUE] INDEX, remembered for ADD CONSTRAINT ... USING INDEX."""

    table: QName
    #: None for expression indexes, which cannot back a key.
    columns: tuple[str, ...] | None
    #: Unique, non-partial, plain columns: a key FKs may reference.
    is_key: bool


@dataclass(frozen=True)
class NamedKey:
    """A named PRIMARY KEY / UNIQUE / NOT NULL constraint, for DROP CONSTRAINT."""

    kind: str  # "pkey", "key" or "not_null"
    columns: tuple[str, ...]


class CatalogEditor:
    """A catalog plus what one load must remember beyond it (index and key names)."""

    def __init__(self, catalog: CatalogDraft) -> None:
        self.catalog = catalog
        self.indexes: dict[QName, IndexInfo] = {}
        self.named_keys: dict[tuple[QName, str], NamedKey] = {}
        #: Statement-level triggers, which partitions do not inherit.
        self.statement_triggers: set[tuple[QName, str]] = set()
        # (table, name) -> FK, built on demand; edits other than adding reset it.
        self._fks: dict[tuple[QName, str], ForeignKey] | None = None

    def taken(self, schema: str) -> Callable[[str], bool]:
        """Whether a generated name clashes in the schema (approximating PostgreSQL's checks)."""

        def is_taken(name: str) -> bool:
            return (
                QName(schema, name) in self.catalog.tables
                or QName(schema, name) in self.indexes
                or any(t.schema == schema and n == name for t, n in self.named_keys)
                or any(fk.table.schema == schema and fk.name == name for fk in self.catalog.foreign_keys)
            )

        return is_taken

    # -- keys and constraints ------------------------------------------------
    def add_key(self, table: TableDraft, primary: bool, columns: tuple[str, ...], name: str | None) -> None:
        kind = "pkey" if primary else "key"
        name = name or choose_name(table.name.name, None if primary else columns, kind, self.taken(table.name.schema))
        self.named_keys[(table.name, name)] = NamedKey(kind, columns)
        if primary:
            table.primary_key = columns
            for column in columns:
                table.change_column(column, not_null=True)
        else:
            table.unique_keys.append(columns)

    def take_index(self, table: TableDraft, index_name: str) -> tuple[str, ...] | None:
        """ADD CONSTRAINT ... USING INDEX: the constraint takes the index (and its key) over."""
        index = self.indexes.pop(QName(table.name.schema, index_name), None)
        if index is None or index.columns is None:
            return None
        if index.is_key and index.columns in table.unique_keys:
            table.unique_keys.remove(index.columns)
        return index.columns

    def set_not_null(self, table: TableDraft, columns: tuple[str, ...], name: str | None) -> None:
        for column in columns:
            table.change_column(column, not_null=True)
            key_name = name or make_object_name(table.name.name, column, "not_null")
            self.named_keys[(table.name, key_name)] = NamedKey("not_null", (column,))

    def foreign_key(self, table: QName, name: str) -> ForeignKey | None:
        if self._fks is None:
            self._fks = {(fk.table, fk.name): fk for fk in self.catalog.foreign_keys}
        return self._fks.get((table, name))

    def fk_name(self, table: TableDraft, columns: tuple[str, ...], name: str | None) -> str:
        return name or choose_name(table.name.name, columns, "fkey", self.taken(table.name.schema))

    def add_foreign_key(self, fk: ForeignKey) -> bool:
        """Record an FK; a second one with the same name is a no-op (Drizzle's DO blocks)."""
        if self.foreign_key(fk.table, fk.name) is not None:
            return False
        self.catalog.foreign_keys.append(fk)
        if self._fks is not None:
            self._fks[(fk.table, fk.name)] = fk
        return True

    def change_foreign_key(self, fk: ForeignKey, **changes: Any) -> ForeignKey:
        """An FK is a value: the changed copy takes its place in the catalog's order."""
        new = replace(fk, **changes)
        fks = self.catalog.foreign_keys
        fks[next(i for i, each in enumerate(fks) if each is fk)] = new
        self._fks = None
        return new

    def drop_constraint(self, table: TableDraft, name: str) -> None:
        fk = self.foreign_key(table.name, name)
        if fk is not None:
            self.catalog.foreign_keys.remove(fk)
            self._fks = None
            return
        key = self.named_keys.pop((table.name, name), None)
        if key is None and name == make_object_name(table.name.name, None, "pkey"):
            key = NamedKey("pkey", table.primary_key or ())
        if key is None:
            return
        if key.kind == "pkey" and table.primary_key == key.columns:
            table.primary_key = None
        elif key.kind == "key" and key.columns in table.unique_keys:
            table.unique_keys.remove(key.columns)
        elif key.kind == "not_null" and key.columns[0] in table.columns:
            table.change_column(key.columns[0], not_null=key.columns[0] in (table.primary_key or ()))

    def rename_constraint(self, table: TableDraft, old: str, new: str) -> None:
        fk = self.foreign_key(table.name, old)
        if fk is not None:
            self.change_foreign_key(fk, name=new)
        elif (table.name, old) in self.named_keys:
            self.named_keys[(table.name, new)] = self.named_keys.pop((table.name, old))

    # -- columns ---------------------------------------------------------------
    def drop_column(self, table: TableDraft, name: str) -> None:
        """DROP COLUMN also drops the keys and FKs (either side) that use it."""
        table.columns.pop(name, None)
        if table.primary_key and name in table.primary_key:
            table.primary_key = None
        table.unique_keys = [key for key in table.unique_keys if name not in key]
        self._fks = None
        self.catalog.foreign_keys = [
            fk
            for fk in self.catalog.foreign_keys
            if not (fk.table == table.name and name in fk.columns)
            and not (fk.ref_table == table.name and name in fk.ref_columns)
        ]

    def rename_column(self, table: TableDraft, old: str, new: str) -> None:
        """RENAME COLUMN: the column, its keys, indexes and both sides of FKs follow,
        in the partitions too."""
        for each in [table, *self.partitions_of(table.name)]:
            if old in each.columns:
                self._rename_column(each, old, new)

    def _rename_column(self, table: TableDraft, old: str, new: str) -> None:
        def swap(columns: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(new if c == old else c for c in columns)

        table.columns = {
            (new if name == old else name): (replace(col, name=new) if name == old else col)
            for name, col in table.columns.items()
        }
        table.primary_key = swap(table.primary_key) if table.primary_key else None
        table.unique_keys = [swap(key) for key in table.unique_keys]
        self._fks = None
        self.catalog.foreign_keys = [
            replace(
                fk,
                columns=swap(fk.columns) if fk.table == table.name else fk.columns,
                delete_set_columns=swap(fk.delete_set_columns) if fk.table == table.name else fk.delete_set_columns,
                ref_columns=swap(fk.ref_columns) if fk.ref_table == table.name else fk.ref_columns,
            )
            for fk in self.catalog.foreign_keys
        ]
        for name, index in self.indexes.items():
            if index.table == table.name and index.columns:
                self.indexes[name] = replace(index, columns=swap(index.columns))

    # -- tables ----------------------------------------------------------------
    def move_table(self, table: TableDraft, new: QName) -> None:
        """RENAME TO / SET SCHEMA: every reference to the table follows it."""
        old = table.name
        self._fks = None
        self.catalog.tables = {(new if k == old else k): v for k, v in self.catalog.tables.items()}
        table.name = new
        self.catalog.foreign_keys = [
            replace(
                fk,
                table=new if fk.table == old else fk.table,
                ref_table=new if fk.ref_table == old else fk.ref_table,
            )
            for fk in self.catalog.foreign_keys
        ]
        table.triggers = [replace(trigger, table=new) for trigger in table.triggers]
        for other in self.catalog.tables.values():
            other.parent = new if other.parent == old else other.parent
        for key, index in list(self.indexes.items()):
            if index.table == old:
                self.indexes[key] = replace(index, table=new)
                if key.schema != new.schema:  # indexes move with their table
                    self.indexes[QName(new.schema, key.name)] = self.indexes.pop(key)
        self.named_keys = {((new if t == old else t), n): k for (t, n), k in self.named_keys.items()}
        self.statement_triggers = {((new if t == old else t), n) for t, n in self.statement_triggers}

    def partitions_of(self, name: QName) -> list[TableDraft]:
        found = [t for t in self.catalog.tables.values() if t.parent == name]
        return found + [p for child in found for p in self.partitions_of(child.name)]

    def detach(self, child: TableDraft) -> None:
        """A detached partition keeps copies of its keys and inherited FKs, not the triggers."""
        self.inherit_from_parent(child, set(), triggers=False)
        ancestors, parent = set(), child.parent
        while parent is not None and parent not in ancestors:
            ancestors.add(parent)
            parent = getattr(self.catalog.tables.get(parent), "parent", None)
        for fk in list(self.catalog.foreign_keys):
            if fk.table in ancestors:
                self.add_foreign_key(replace(fk, table=child.name))
        child.parent = None

    def drop_tables(self, names: Iterable[QName]) -> None:
        """DROP TABLE takes the table's partitions and every FK on or to them along."""
        doomed = {q for q in names if q in self.catalog.tables}
        doomed.update(p.name for q in list(doomed) for p in self.partitions_of(q))
        if not doomed:
            return
        self._fks = None
        self.catalog.tables = {k: v for k, v in self.catalog.tables.items() if k not in doomed}
        self.catalog.foreign_keys = [
            fk for fk in self.catalog.foreign_keys if fk.table not in doomed and fk.ref_table not in doomed
        ]
        self.indexes = {k: v for k, v in self.indexes.items() if v.table not in doomed}
        self.named_keys = {k: v for k, v in self.named_keys.items() if k[0] not in doomed}

    # -- indexes and triggers ----------------------------------------------------
    def add_index(self, name: QName, index: IndexInfo) -> None:
        self.indexes[name] = index
        table = self.catalog.tables.get(index.table)
        if index.is_key and index.columns and table is not None:
            table.unique_keys.append(index.columns)

    def drop_index(self, name: QName) -> None:
        index = self.indexes.pop(name, None)
        table = self.catalog.tables.get(index.table) if index else None
        if index and table and index.is_key and index.columns in table.unique_keys:
            table.unique_keys.remove(index.columns)

    def rename_index(self, old: QName, new_name: str) -> None:
        if old in self.indexes:
            self.indexes[QName(old.schema, new_name)] = self.indexes.pop(old)

    def add_trigger(self, table: TableDraft, trigger: Trigger, row_level: bool) -> None:
        table.triggers = [t for t in table.triggers if t.name != trigger.name]
        table.triggers.append(trigger)
        if not row_level:
            self.statement_triggers.add((table.name, trigger.name))

    # -- the end -------------------------------------------------------------------
    def finish(self) -> Catalog:
        """Give partitions their parent's columns, keys and row triggers; the frozen catalog."""
        done: set[QName] = set()
        for table in list(self.catalog.tables.values()):
            self.inherit_from_parent(table, done)
            table.unique_keys = list(dict.fromkeys(table.unique_keys))
        return self.catalog.freeze()

    def inherit_from_parent(self, table: TableDraft, done: set[QName], triggers: bool = True) -> None:
        if table.name in done:
            return
        done.add(table.name)
        parent = self.catalog.tables.get(table.parent) if table.parent else None
        if parent is None:
            return
        self.inherit_from_parent(parent, done)
        for column in parent.columns.values():
            own = table.columns.setdefault(column.name, column)
            table.change_column(
                column.name,
                not_null=own.not_null or column.not_null,
                generated=own.generated or column.generated,
                identity_always=own.identity_always or column.identity_always,
                defaulted=own.defaulted or column.defaulted,
            )
        if table.primary_key is None:
            table.primary_key = parent.primary_key
        table.unique_keys.extend(k for k in parent.unique_keys if k not in table.unique_keys)
        own_triggers = {t.name for t in table.triggers}
        for trigger in parent.triggers if triggers else ():
            if trigger.name not in own_triggers and (parent.name, trigger.name) not in self.statement_triggers:
                table.triggers.append(replace(trigger, table=table.name))
