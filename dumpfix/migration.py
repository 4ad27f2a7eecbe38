"""The permanent fix: a migration making FKs DEFERRABLE INITIALLY DEFERRED, and its revert.

For teams that would rather change the schema than rewrite every dump: with
deferred FKs, a data-only dump restored in one transaction
(``psql --single-transaction``) is checked at COMMIT, in whatever order its
tables come. ``ALTER TABLE ... ALTER CONSTRAINT`` (PostgreSQL 9.4+) changes
only the constraint's timing: no table rewrite, no validation, table
ownership suffices.

Given a dump, only the FKs inside its cycles change (the smallest schema
change that lets it restore in any order); given only a schema, every FK.
The revert restores each constraint's deferrability as the schema had it.
"""

from __future__ import annotations

from collections.abc import Iterable

from dumpfix import statements
from dumpfix.catalog import Catalog, ForeignKey
from dumpfix.fix import Analysis
from dumpfix.statements import BEGIN, COMMIT


def cycle_fks(analysis: Analysis) -> list[ForeignKey]:
    """The FKs inside the dump's cycles, in the catalog's order."""
    inside = {e.fk for cycle in analysis.plan.cycles for e in cycle.edges}
    return [fk for fk in analysis.catalog.foreign_keys if fk in inside]


def schema_fks(catalog: Catalog) -> list[ForeignKey]:
    """Every enforced FK, as declared: partitions inherit their parent's, which is altered instead."""
    return [fk for fk in catalog.foreign_keys if fk.enforced and not _inherited(fk, catalog)]


def _inherited(fk: ForeignKey, catalog: Catalog) -> bool:
    table = catalog.tables.get(fk.table)
    if table is None or table.parent is None:
        return False
    root = catalog.root_of(fk.table)
    return any(
        other.table == root and other.columns == fk.columns and other.ref_table == fk.ref_table
        for other in catalog.foreign_keys
    )


def deferrable_migration(fks: Iterable[ForeignKey]) -> str:
    """ALTER CONSTRAINT ... DEFERRABLE INITIALLY DEFERRED for each FK not deferred already."""
    changing = [fk for fk in fks if not (fk.deferrable and fk.initially_deferred)]
    head = [
        "-- dumpfix: make foreign keys DEFERRABLE INITIALLY DEFERRED, so that a data-only dump",
        "-- restored in one transaction (psql --single-transaction) is checked at COMMIT.",
        "-- Needs ownership of the tables. Revert with: dumpfix --print-deferrable-revert",
    ]
    return _script(head, [statements.alter_constraint(fk, statements.DEFERRED) for fk in changing])


def deferrable_revert(fks: Iterable[ForeignKey]) -> str:
    """The statements giving back each FK the deferrability the schema declares."""
    changing = [fk for fk in fks if not (fk.deferrable and fk.initially_deferred)]
    head = ["-- dumpfix: give the foreign keys back the deferrability the schema declares."]
    return _script(head, [statements.alter_constraint(fk, statements.declared(fk)) for fk in changing])


def _script(head: list[str], body: list[str]) -> str:
    if not body:
        return "\n".join([*head, "-- Nothing to change: every foreign key here is deferred already."]) + "\n"
    return "\n".join([*head, BEGIN, *body, COMMIT]) + "\n"
