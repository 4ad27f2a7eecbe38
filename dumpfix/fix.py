"""The library entry point: from a dump buffer and schema sources to a plan, then output.

The stages in order (ARCHITECTURE.md): split, schema, layout, plan, the writer's
dry run; then write. Only write() produces output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from dumpfix.catalog import Catalog, QName
from dumpfix.cleanup import DEFAULTS, Cleanup
from dumpfix.dumpfile import Item, Kind, dropped_notices, refuse_cut_messages
from dumpfix.errors import DumpfixError
from dumpfix.input import Input
from dumpfix.layout import DDL, OFF_MARK, lay_out, own_statements, refuse_reconnect
from dumpfix.parallel import split_items
from dumpfix.plan import Plan, Settings, make_plan
from dumpfix.refusals import (
    refuse_column_mismatch,
    refuse_no_data,
    refuse_truncated,
    refuse_unknown_tables,
)
from dumpfix.schema import load_schema, load_schema_sql
from dumpfix.write import dry_run, write_plan

_CREATE_TABLE = re.compile(
    rb"CREATE\s+(?:(?:GLOBAL\s+|LOCAL\s+)?(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s", re.IGNORECASE
)


@dataclass(frozen=True)
class Analysis:
    source: Input
    items: list[Item]
    catalog: Catalog
    plan: Plan
    #: The writer's dry run found the output is the input byte for byte (write.dry_run).
    unchanged: bool
    #: What the user is told about what the output leaves out (pg_dump's messages, a
    #: BOM, settings the target rejects, \\restrict lines): cleanup.notices.
    notices: tuple[str, ...] = ()
    #: The output was written while the input was read (stream.py).
    streamed: bool = False

    @property
    def buf(self) -> bytes:
        return self.source.data


def analyse(
    dump: Input | bytes,
    schema_paths: Sequence[Path] = (),
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
    cleanup: Cleanup = DEFAULTS,
) -> Analysis:
    """Split the dump, learn the catalog, plan, and let the writer try the plan
    (its dry run: is the output the input?); nothing is written.

    Mistaken inputs (empty, truncated, the schema given as the dump, a dump
    the schema does not fit) are refused here (refusals.py), so that every
    mode that analyses refuses them alike.

    progress, when given, hears the offset reached by the splitter (the pass
    over every input byte) after each item: the CLI draws a bar from it.
    cleanup: what the user asked to be left out besides what is never SQL.
    """
    settings = settings or Settings()
    source = Input.of(dump)
    buf = source.data
    # On both cores for a large input (parallel.py); a cut inside a statement or COPY
    # data stops it here.
    items = split_items(source, progress, cleanup)
    refuse_cut_messages(source, items)
    refuse_truncated(buf)
    refuse_no_data(buf, items)
    if catalog is None and schema_paths:
        catalog = load_schema(schema_paths)
    catalog = catalog_from_dump(buf, items) if catalog is None else load_catalog(catalog, dump_catalog(buf, items))
    layout = lay_out(buf, items, catalog)
    refuse_unknown_tables(layout, catalog, settings.pass_unknown)
    refuse_column_mismatch(buf, layout, catalog)
    plan = make_plan(buf, catalog, layout, settings)
    # After planning, the writer's dry run: an earlier run's output comes out as it went
    # in (no \connect to refuse then either: nothing moves, nothing is wrapped anew).
    unchanged = dry_run(source, plan, catalog)
    if not unchanged:
        refuse_reconnect(buf, layout)
    notices = dropped_notices(buf, (items[i] for i in layout.dropped), cleanup)
    return Analysis(source, items, catalog, plan, unchanged, tuple(notices))


def catalog_from_dump(buf: bytes, items: list[Item]) -> Catalog:
    """The catalog a dump that carries DDL builds for its data (no --schema, no --dsn)."""
    catalog = dump_catalog(buf, items)
    if catalog is None:
        raise DumpfixError(
            "no schema: give the tables' definitions with --schema FILE_OR_DIR "
            "(e.g. pg_dump --schema-only output or a migrations folder) or --dsn URL"
        )
    return catalog


#: A table no dump defines, created between the DDL before the data and the CREATE TABLEs
#: after it, so that one parse of both tells them apart: a catalog keeps its tables in
#: the order they were created, and those after this one are the dump's late tables.
_DATA_STARTS = QName("dumpfix: the data starts here", "dumpfix: the data starts here")

#: The lines that open what dumpfix writes before, between and after the data.
_OWN_START = re.compile(rb"(?m)^-- dumpfix: (?:before|after) the data|^" + re.escape(OFF_MARK))


def dump_catalog(buf: bytes, items: list[Item]) -> Catalog | None:
    """What the dump's own DDL has built by the time its data loads; None without DDL.

    Everything before the first data block counts. After it, only CREATE TABLE
    does: hand-made and tool-made dumps interleave each table's definition with
    its data, and a table defined later is no less defined (its FKs, declared in
    that CREATE TABLE, are in force for its data; Catalog.late_tables names those
    tables). Constraints a full dump adds after its data (pg_dump's post-data
    ALTER TABLE ... ADD CONSTRAINT) do not constrain loading it, so they are left out.
    """
    early: list[bytes] = []
    late: list[bytes] = []
    data_seen = False
    own = own_statements(buf, items, _OWN_START)  # an earlier run's: not the dump's DDL
    for i, item in enumerate(items):
        if item.kind in (Kind.COPY, Kind.INSERTS):
            data_seen = True
            continue
        if item.kind is not Kind.STATEMENT or i in own:
            continue
        wanted = _CREATE_TABLE if data_seen else DDL
        if wanted.match(buf, item.start, item.end):
            (late if data_seen else early).append(bytes(buf[item.start : item.end]))
    if not early and not late:
        return None
    if late:
        early.append(f"CREATE TABLE {_DATA_STARTS} ();".encode())
    catalog = load_schema_sql(b"\n".join(early + late).decode("utf-8", "surrogateescape"), source="<dump>")
    if late:
        names = list(catalog.tables)
        late_tables = set(names[names.index(_DATA_STARTS) + 1 :])
        tables = {name: table for name, table in catalog.tables.items() if name != _DATA_STARTS}
        catalog = replace(catalog, tables=tables, late_tables=late_tables)
    return catalog


def load_catalog(given: Catalog, own: Catalog | None) -> Catalog:
    """The catalog in force while the dump loads, from --schema/--dsn and the dump's DDL.

    A table the dump creates itself (a full pg_dump, a tool-made dump) is the
    dump's: its FKs are those the dump declares before its data, not the ones
    the given schema shows, which a full dump only adds after its data (altering
    or ordering by them would name constraints that do not exist yet). Its key
    comes from the given schema when the dump's CREATE TABLE has none (pg_dump
    adds primary keys after the data too): dumpfix's UPDATEs find rows by it.
    Every other table, and its FKs, are the given schema's.
    """
    if own is None or not own.tables:
        return given
    created = set(own.tables)
    tables = {name: table for name, table in given.tables.items() if name not in created}
    for name, table in own.tables.items():
        known = given.tables.get(name)
        if known is not None and table.row_key() is None and known.primary_key:
            if all(c in table.columns for c in known.primary_key):
                table = replace(table, primary_key=known.primary_key)
        tables[name] = table
    declared = {(fk.table, fk.name) for fk in own.foreign_keys}
    foreign_keys = [
        fk for fk in given.foreign_keys if fk.table not in created and (fk.table, fk.name) not in declared
    ] + list(own.foreign_keys)
    return Catalog(tables, foreign_keys, late_tables=set(own.late_tables))


def write(analysis: Analysis, out: BinaryIO) -> None:
    write_plan(analysis.source, analysis.plan, analysis.catalog, out, analysis.unchanged)
