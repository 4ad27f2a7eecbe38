"""A picture of the plan: the FK graph of the dump's tables, as Graphviz DOT or Mermaid.

An arrow goes from the referencing table to the referenced one (the table
that must load first). Tables and arrows inside an FK cycle are red; the
arrows dumpfix cuts are dashed and say how they load and how many rows that
touches (``nulls``: loaded as NULL and set afterwards, ``defer``, ``owner``,
``superuser``); a legend inside the picture says all this. That is what a
user needs to see why pg_dump's order could not restore.

Table names are the user's and may hold any character, so nodes get
generated ids (``n0``, ``n1``, ...) and names appear only in labels,
escaped for each syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dumpfix import graph
from dumpfix.catalog import QName
from dumpfix.errors import DumpfixError
from dumpfix.fix import Analysis
from dumpfix.plan import Cut, Method
from dumpfix.stats import estimated_rows

#: Output syntax by file name ending.
FORMATS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".md": "markdown"}


@dataclass(frozen=True)
class Arrow:
    source: QName
    target: QName
    label: str  # the FK's columns, and for a cut how it is loaded
    in_cycle: bool
    cut: Cut | None


@dataclass(frozen=True)
class Picture:
    nodes: list[QName]
    cyclic: set[QName]
    unknown: set[QName]  # tables the schema does not describe
    arrows: list[Arrow]
    #: The ways the cut FKs load, in the legend's order.
    methods: tuple[Method, ...] = ()
    #: Every FK off for the load and validated after it: no FK is cut.
    bulk: bool = False


def picture(analysis: Analysis) -> Picture:
    """The FK graph the planner saw: the dump's tables and the enforced FKs among them."""
    plan, catalog = analysis.plan, analysis.catalog
    nodes: list[QName] = []
    for unit in plan.layout.units:
        if unit.node not in nodes:
            nodes.append(unit.node)
    present = set(nodes)
    cuts = {c.edge.fk: c for cycle in plan.cycles for c in cycle.cuts}
    inside = {e.fk for cycle in plan.cycles for e in cycle.edges}
    arrows = []
    for fk in catalog.foreign_keys:
        source, target = catalog.root_of(fk.table), catalog.root_of(fk.ref_table)
        if not fk.enforced or source not in present or target not in present:
            continue
        cut = cuts.get(fk)
        label = ", ".join(fk.columns)
        if cut is not None:
            label += ": " + _how(cut, estimated_rows(analysis.buf, plan.layout.blocks_of(source)))
        arrows.append(Arrow(source, target, label, fk in inside, cut))
    cyclic = {n for cycle in plan.cycles for n in cycle.nodes}
    if plan.bulk_fks:  # nothing cut: the cycles are the graph's, every FK off for the load
        pairs = [(a.source, a.target) for a in arrows]
        components = graph.strongly_connected(nodes, pairs)
        member = {n: i for i, component in enumerate(components) for n in component}
        loops = {a.source for a in arrows if a.source == a.target}
        cyclic |= {n for component in components if len(component) > 1 for n in component} | loops
        arrows = [replace(a, in_cycle=a.source in cyclic and member[a.source] == member[a.target]) for a in arrows]
    methods = tuple(m for m in Method if any(a.cut is not None and a.cut.method is m for a in arrows))
    return Picture(nodes, cyclic, set(plan.unknown) & present, arrows, methods, bool(plan.bulk_fks))


def _how(cut: Cut, rows: int) -> str:
    """How a cut FK loads and how many rows that touches, in the words of the legend."""
    if cut.method is Method.NULLS:
        return f"nulls, {_rows(cut.edge.cost)} updated after"
    return f"{cut.method.value}, about {_rows(rows)} checked at the end"


def _rows(n: int) -> str:
    return f"{n:,} row{'' if n == 1 else 's'}"


#: What each way of loading a cut FK means, as the legend says it.
MEANINGS = {
    Method.NULLS: "nulls: loaded as NULL, then set by one UPDATE of the rows that had a value",
    Method.DEFER: "defer: a DEFERRABLE FK, checked at COMMIT",
    Method.OWNER: "owner: the FK altered for the load (DEFERRABLE, or NOT ENFORCED on 18), then checked",
    Method.SUPERUSER: "superuser: FK checks off for the load, then one query finds orphans",
}


def legend(pic: Picture, cut_line: str = "dashed") -> list[str]:
    """The lines of the legend drawn inside the picture (cut_line: how cut arrows look)."""
    lines = [
        "an arrow points from a table to the table that loads first",
        "red: tables and FKs in a cycle, which no table order can load",
        f"{cut_line}: the FK dumpfix cuts; its label says how it loads and how many rows",
    ]
    if pic.unknown:
        lines.append("dashed box: a table the schema does not describe")
    lines.extend(MEANINGS[m] for m in pic.methods)
    if pic.bulk:
        lines.append("every FK is off for the load (NOT ENFORCED or dropped), then validated by one query each")
    return lines


def graph_format(path: str) -> str:
    """The syntax a file name asks for; an unknown ending is a usage error."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        endings = ", ".join(FORMATS)
        raise DumpfixError(f"--graph: cannot tell the format from the name (use one of {endings})", location=path)
    return FORMATS[suffix]


def render(pic: Picture, fmt: str) -> str:
    if fmt == "dot":
        return to_dot(pic)
    text = to_mermaid(pic)
    return f"```mermaid\n{text}```\n" if fmt == "markdown" else text


def to_dot(pic: Picture) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(pic.nodes)}
    lines = [
        "// dumpfix: FK graph of the dump's tables. An arrow points at the table that loads first;",
        "// red: an FK cycle; dashed: the FK dumpfix cuts (and how).",
        "digraph dumpfix {",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for node, nid in ids.items():
        attrs = [f"label={dot_string(str(node))}"]
        if node in pic.cyclic:
            attrs.append("color=red")
        if node in pic.unknown:
            attrs.append("style=dashed")
        lines.append(f"  {nid} [{', '.join(attrs)}];")
    for a in pic.arrows:
        attrs = [f"label={dot_string(a.label)}"]
        if a.in_cycle:
            attrs.append("color=red")
        if a.cut is not None:
            attrs.append("style=dashed")
        lines.append(f"  {ids[a.source]} -> {ids[a.target]} [{', '.join(attrs)}];")
    lines.append('  subgraph cluster_legend { label="legend"; fontname="Helvetica"; style=dashed;')
    text = "".join(dot_string(line)[1:-1] + "\\l" for line in legend(pic))
    lines.append(f'    legend [shape=note, fontsize=10, label="{text}"];')
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(pic: Picture) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(pic.nodes)}
    lines = [
        "%% dumpfix: FK graph of the dump's tables. An arrow points at the table that loads first;",
        "%% red: an FK cycle; dotted: the FK dumpfix cuts (and how).",
        "flowchart LR",
    ]
    for node, nid in ids.items():
        lines.append(f'  {nid}["{mermaid_text(str(node))}"]')
    red: list[int] = []
    for i, a in enumerate(pic.arrows):
        arrow = "-.->" if a.cut is not None else "-->"
        lines.append(f'  {ids[a.source]} {arrow}|"{mermaid_text(a.label)}"| {ids[a.target]}')
        if a.in_cycle:
            red.append(i)
    lines.append("  classDef cycle stroke:#d00,stroke-width:2px")
    lines.append("  classDef unknown stroke-dasharray:4 4")
    for cls, members in (("cycle", pic.cyclic), ("unknown", pic.unknown)):
        chosen = [ids[n] for n in pic.nodes if n in members]
        if chosen:
            lines.append(f"  class {','.join(chosen)} {cls}")
    if red:
        lines.append(f"  linkStyle {','.join(map(str, red))} stroke:#d00,color:#d00")
    lines.append('  subgraph legend["legend"]')
    lines.append("    direction TB")
    for i, line in enumerate(legend(pic, "dotted")):
        lines.append(f'    l{i}["{mermaid_text(line)}"]')
    lines.append("  end")
    return "\n".join(lines) + "\n"


def dot_string(text: str) -> str:
    """A DOT quoted string shown exactly as text.

    In a label a backslash starts an escape (``\\N`` is the node's name,
    ``\\l`` a line break), so every backslash is doubled, quotes escaped and
    line breaks written as ``\\n``.
    """
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{body}"'


_MERMAID_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._,:()-")


def mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: anything but plain characters as an entity code.

    Mermaid reads ``#NNN;`` as the character NNN inside labels; quoting alone
    would not do, since a ``"`` ends the label and ``|``, ``[`` or ``%%``
    would be read as syntax.
    """
    return "".join(ch if ch in _MERMAID_PLAIN else f"#{ord(ch)};" for ch in text)
