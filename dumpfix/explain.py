"""The plan in words, for --explain."""

from __future__ import annotations

from dumpfix.fix import Analysis


def explain(analysis: Analysis) -> str:
    plan = analysis.plan
    lines = ["dumpfix plan:"]
    lines.append("  load order: " + ", ".join(str(u.table) for u in plan.order))
    for cycle in plan.cycles:
        lines.append("  cycle: " + " <-> ".join(str(n) for n in cycle.nodes))
        for edge in cycle.cut:
            assert edge.deferral is not None
            cols = ", ".join(edge.deferral.columns)
            how = "rows pointing ahead " if edge.deferral.forward_only else ""
            lines.append(
                f"    load {edge.fk.table}({cols}) as NULL for {how}{edge.cost} row(s), "
                f"then UPDATE (FK {edge.fk.name} -> {edge.fk.ref_table})"
            )
    for name in plan.unknown:
        lines.append(f"  warning: {name} is not in the schema; left where it is")
    if not plan.changed:
        lines.append("  the dump restores as it is: output identical to input")
    return "\n".join(lines)
