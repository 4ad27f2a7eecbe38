"""The library entry point: from a dump buffer and schema sources to a plan, then output."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dumpfix.catalog import Catalog
from dumpfix.dumpfile import Item, Kind
from dumpfix.errors import DumpfixError
from dumpfix.input import Input
from dumpfix.layout import lay_out, refuse_reconnect
from dumpfix.parallel import split_items
from dumpfix.plan import Plan, Settings, make_plan
from dumpfix.refusals import (
    refuse_column_mismatch,
    refuse_no_data,
    refuse_truncated,
    refuse_unknown_tables,
)
from dumpfix.schema import load_schema, load_schema_sql
from dumpfix.write import reproduces, write_plan

_DDL = re.compile(rb"(?:CREATE|ALTER|DROP)\s", re.IGNORECASE)
_CREATE_TABLE = re.compile(
    rb"CREATE\s+(?:(?:GLOBAL\s+|LOCAL\s+)?(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s", re.IGNORECASE
)


@dataclass
class Analysis:
    source: Input
    items: list[Item]
    catalog: Catalog
    plan: Plan

    @property
    def buf(self) -> bytes:
        return self.source.data


def analyse(
    dump: Input | bytes,
    schema_paths: Sequence[Path] = (),
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> Analysis:
    """Split the dump, learn the catalog, and plan; nothing is written.

    Mistaken inputs (empty, truncated, the schema given as the dump, a dump
    the schema does not fit) are refused here (refusals.py), so that every
    mode that analyses refuses them alike.

    progress, when given, hears the offset reached by the splitter (the pass
    over every input byte) after each item: the CLI draws a bar from it.
    """
    settings = settings or Settings()
    source = Input.of(dump)
    buf = source.data
    # On both cores for a large input (parallel.py); a cut inside a statement or COPY
    # data stops it here.
    items = split_items(source, progress)
    refuse_truncated(buf)
    refuse_no_data(buf, items)
    if catalog is None:
        if schema_paths:
            catalog = load_schema(schema_paths)
        else:
            catalog = catalog_from_dump(buf, items)
    layout = lay_out(buf, items, catalog)
    refuse_unknown_tables(layout, catalog, settings.pass_unknown)
    refuse_column_mismatch(buf, layout, catalog)
    plan = make_plan(buf, catalog, layout, settings)
    if plan.changed and not plan.rewritten:  # only a transaction to wrap: written already?
        plan.reproduced = reproduces(source, plan, catalog)
    if plan.changed:
        refuse_reconnect(buf, layout)
    return Analysis(source, items, catalog, plan)


def catalog_from_dump(buf: bytes, items: list[Item]) -> Catalog:
    """The catalog a dump that carries DDL builds for its data.

    Everything before the first data block counts. After it, only CREATE TABLE
    does: hand-made and tool-made dumps interleave each table's definition with
    its data, and a table defined later is no less defined. Constraints a full
    dump adds after its data (ALTER TABLE ... ADD CONSTRAINT) do not constrain
    loading it, so they are left out.
    """
    ddl: list[bytes] = []
    data_seen = False
    for item in items:
        if item.kind in (Kind.COPY, Kind.INSERTS):
            data_seen = True
            continue
        if item.kind is not Kind.STATEMENT:
            continue
        wanted = _CREATE_TABLE if data_seen else _DDL
        if wanted.match(buf, item.start, item.end):
            ddl.append(bytes(buf[item.start : item.end]))
    if not ddl:
        raise DumpfixError(
            "no schema: give the tables' definitions with --schema FILE_OR_DIR "
            "(e.g. pg_dump --schema-only output or a migrations folder) or --dsn URL"
        )
    return load_schema_sql(b"\n".join(ddl).decode("utf-8", "surrogateescape"), source="<dump>")


def write(analysis: Analysis, out: BinaryIO) -> None:
    write_plan(analysis.source, analysis.plan, analysis.catalog, out)
