"""The plan in words, for --explain."""

from __future__ import annotations

from dumpfix import graph
from dumpfix.dumpfile import Kind
from dumpfix.fix import Analysis
from dumpfix.inserts import mergeable, merging
from dumpfix.plan import Method, bulk_ways
from dumpfix.statements import DEFERRABLE, LOCKS, NOT_ENFORCED


def explain(analysis: Analysis) -> str:
    plan = analysis.plan
    lines = ["dumpfix plan:"]
    lines.append("  load order: " + ", ".join(str(u.table) for u in plan.order))
    if plan.bulk_fks:
        lines.extend(_bulk(analysis))
    if analysis.streamed:
        lines.append("  streamed: written while the pipe was read, each table's FKs off just before its data")
    for kept in plan.kept_in_force:
        lines.append(
            f"  kept in force: FK {kept.name} on {kept.table} would have to be dropped and added again, and the "
            f"schema does not show the key of {kept.ref_table} it references: its cycles load row by row"
        )
    for cycle in plan.cycles:
        if cycle.across:
            source, target = cycle.nodes
            lines.append(f"  across DDL: {source} needs {target}, whose data stands after DDL that data may not cross")
        else:
            lines.append("  cycle: " + " <-> ".join(str(n) for n in cycle.nodes))
        for cut in cycle.cuts:
            edge = cut.edge
            fk = f"FK {edge.fk.name}: {edge.fk.table}({', '.join(edge.fk.columns)}) -> {edge.fk.ref_table}"
            if cut.method is Method.NULLS:
                assert edge.deferral is not None
                cols = ", ".join(edge.deferral.nulled)
                rewrite = plan.rewrites.get(edge.source)
                if rewrite is not None and rewrite.staged and edge.deferral.forward_only:
                    lines.append(
                        f"    staged: {edge.fk.table} loads through a temporary table in one INSERT ... "
                        f"SELECT, which checks its self-reference once every row is in ({fk})"
                    )
                    continue
                which = "rows pointing ahead" if edge.deferral.forward_only else "rows"
                via = " (staged: a temporary table, then INSERT ... SELECT)" if rewrite and rewrite.staged else ""
                lines.append(
                    f"    nulls: load {edge.fk.table}({cols}) as NULL{via}, then UPDATE {edge.cost} {which} ({fk})"
                )
            elif cut.method is Method.DEFER:
                lines.append(f"    defer: checked at COMMIT ({fk} is DEFERRABLE)")
            elif cut.method is Method.OWNER:
                during = NOT_ENFORCED if plan.unenforces(edge.fk) else DEFERRABLE
                lines.append(f"    owner: ALTER CONSTRAINT {during} for the load, then back ({fk})")
            else:
                lines.append(f"    superuser: loaded with session_replication_role = replica, then checked ({fk})")
            if cut.method is not Method.NULLS and edge.insert_triggered and edge.deferral is not None:
                # Why a nullable column was not simply loaded as NULL.
                lines.append(f"      not loaded as NULL: INSERT triggers on {edge.fk.table} would see NULL")
    for name in plan.unknown:
        lines.append(f"  warning: {name} is not in the schema; left where it is")
    if plan.transaction:
        lines.append(
            "  the load runs in one transaction (BEGIN ... COMMIT, after the sequences are set):"
            " a failed statement leaves nothing"
        )
    lines.extend(_merged_inserts(analysis))
    lines.append("  restoring needs: " + "; ".join(plan.privileges()))
    if analysis.unchanged:
        lines.append("  the dump restores as it is: output identical to input")
    return "\n".join(lines)


def _bulk(analysis: Analysis) -> list[str]:
    """The bulk load: the cycles it makes no matter, why it was chosen, how, and what it locks."""
    plan, catalog = analysis.plan, analysis.catalog
    present = [u.node for u in plan.layout.units]
    pairs = [
        (catalog.root_of(fk.table), catalog.root_of(fk.ref_table))
        for fk in plan.bulk_fks
        if catalog.root_of(fk.ref_table) in present
    ]
    cycles = [c for c in graph.strongly_connected(list(dict.fromkeys(present)), pairs) if len(c) > 1]
    order = {n: i for i, n in enumerate(present)}
    lines = [
        f"  cycle: {' <-> '.join(str(n) for n in sorted(cycle, key=order.__getitem__))} (loads as it stands: FKs off)"
        for cycle in cycles
    ]
    settings = plan.settings
    chosen = "--bulk" if settings.bulk else f"the default for --role {settings.role.value}, which may alter the tables"
    lines.append(f"  bulk: {len(plan.bulk_fks)} FKs {bulk_ways(plan)}, each validated in one query ({chosen})")
    if plan.recreated and not plan.unenforced:
        version = settings.target_version
        why = "no server version known" if version is None else f"PostgreSQL {version} has no NOT ENFORCED"
        lines.append(f"    dropped: {why}; from 18, NOT ENFORCED keeps them (--target-version, or --dsn)")
    lines.append("    " + LOCKS)
    return lines


def _merged_inserts(analysis: Analysis) -> list[str]:
    """A line on the INSERT statements the output merges, and the tables it leaves as they are."""
    plan = analysis.plan
    if analysis.unchanged or not plan.changed or not merging(plan):
        return []
    layout = plan.layout
    tables = {u.table for u in layout.units if any(layout.items[b].kind is Kind.INSERTS for b in u.blocks)}
    if not tables:
        return []
    kept = sorted(str(t) for t in tables if not mergeable(analysis.catalog.tables.get(t)))
    line = "  INSERT statements written as multi-row INSERTs (--keep-inserts: as the dump has them)"
    if kept:
        line += (
            f"; not those of {', '.join(kept)} (an INSERT trigger fires per statement, or the triggers are not known)"
        )
    return [line]
