"""The plan: in which order the dump's blocks load, and which FK columns load as NULL.

Nothing here writes: the plan is built completely (and can be explained)
before the first output byte. Costs come from the data itself: breaking an
FK edge costs one UPDATE per row whose FK is not NULL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dumpfix import graph
from dumpfix.catalog import Catalog, ForeignKey, QName, Table
from dumpfix.errors import PlanError
from dumpfix.layout import Layout, Unit
from dumpfix.stats import Stats


@dataclass(frozen=True)
class Deferral:
    """A broken FK edge: its columns load as NULL and are set once every row is in."""

    fk: ForeignKey
    #: The columns loaded as NULL: one nullable column suffices under MATCH SIMPLE.
    columns: tuple[str, ...]
    #: Self-reference in INSERT statements: only rows pointing at keys not loaded yet.
    forward_only: bool = False


@dataclass
class Rewrite:
    """What changes in the rows of one table."""

    table: Table
    key: tuple[str, ...]
    deferrals: list[Deferral] = field(default_factory=list)

    @property
    def nulled(self) -> tuple[str, ...]:
        wanted = {c for d in self.deferrals for c in d.columns}
        return tuple(c for c in self.table.columns if c in wanted)


@dataclass(frozen=True)
class Edge:
    fk: ForeignKey
    source: QName  # the referencing node (partition root)
    target: QName  # the referenced node
    deferral: Deferral | None  # how to break it, None when it cannot be
    cost: int  # rows that would need an UPDATE


@dataclass
class Cycle:
    """A strongly connected set of tables and the edges cut to load it."""

    nodes: list[QName]
    edges: list[Edge]
    cut: list[Edge]


@dataclass
class Plan:
    layout: Layout
    order: list[Unit]
    rewrites: dict[QName, Rewrite]
    cycles: list[Cycle]
    unknown: list[QName]

    @property
    def changed(self) -> bool:
        return bool(self.rewrites) or self.order != self.layout.units


def make_plan(buf: bytes, catalog: Catalog, layout: Layout) -> Plan:
    """Order the units so that every kept FK edge points backwards; cut each cycle cheaply."""
    stats = Stats(buf, layout, catalog)
    nodes: list[QName] = []
    for unit in layout.units:
        if unit.node not in nodes:
            nodes.append(unit.node)
    present = set(nodes)
    edges: list[Edge] = []
    for fk in catalog.foreign_keys:
        if not fk.enforced:
            continue
        source, target = catalog.root_of(fk.table), catalog.root_of(fk.ref_table)
        if source in present and target in present:
            edges.append(_edge(fk, source, target, catalog, layout, stats))
    rewrites: dict[QName, Rewrite] = {}
    cycles: list[Cycle] = []
    cut: set[int] = set()
    pairs = [(e.source, e.target) for e in edges]
    for component in graph.strongly_connected(nodes, pairs):
        member = set(component)
        inside = [i for i, e in enumerate(edges) if e.source in member and e.target in member]
        if len(component) == 1 and not any(edges[i].source == edges[i].target for i in inside):
            continue
        comp_nodes = [n for n in nodes if n in member]
        cross = [i for i in inside if edges[i].source != edges[i].target]
        chosen = graph.cheapest_cut(
            comp_nodes,
            [pairs[i] for i in cross],
            [edges[i].deferral is not None for i in cross],
            lambda j: edges[cross[j]].cost,
        )
        if chosen is None:
            raise PlanError(_unbreakable_message(comp_nodes, [edges[i] for i in cross]))
        cycle_cut = [edges[cross[j]] for j in sorted(chosen)]
        cut.update(cross[j] for j in chosen)
        for i in inside:  # self-references that INSERT statements must defer
            e = edges[i]
            if e.source == e.target and e.deferral is not None and e.cost:
                cycle_cut.append(e)
                cut.add(i)
        cycles.append(Cycle(comp_nodes, [edges[i] for i in inside], cycle_cut))
        for e in cycle_cut:
            if e.cost == 0:  # nothing to set afterwards: the edge is cut for free
                continue
            table = catalog.tables[e.fk.table]
            rewrite = rewrites.setdefault(e.source, Rewrite(table, table.row_key() or ()))
            assert e.deferral is not None
            rewrite.deferrals.append(e.deferral)
    kept = [pairs[i] for i in range(len(edges)) if i not in cut]
    node_order = graph.stable_order(nodes, kept)
    if node_order is None:  # only self-loops can remain, and stable_order skips them
        raise AssertionError("cut left a cycle")
    rank = {n: i for i, n in enumerate(node_order)}
    order = sorted(layout.units, key=lambda u: (rank[u.node], u.index))
    unknown = [u.table for u in layout.units if u.table not in catalog.tables]
    return Plan(layout, order, rewrites, cycles, unknown)


def _edge(
    fk: ForeignKey, source: QName, target: QName, catalog: Catalog, layout: Layout, stats: Stats
) -> Edge:
    deferral = _deferral(fk, catalog, source == target)
    cost = 0
    if deferral is not None:
        if source == target and not layout.needs_row_order(source):
            # One COPY checks its self-references at its end: nothing to do.
            deferral = None
        elif deferral.forward_only:
            cost = stats.forward_references(fk)
        else:
            cost = stats.non_null(fk.table, deferral.columns)
    return Edge(fk, source, target, deferral, cost)


def _deferral(fk: ForeignKey, catalog: Catalog, self_reference: bool) -> Deferral | None:
    """How this FK could be loaded as NULL, or None when it cannot."""
    table = catalog.tables.get(fk.table)
    if table is None or not table.row_key():
        return None
    key = set(table.row_key() or ())
    nullable = [
        c
        for c in fk.columns
        if c in table.columns and not table.columns[c].not_null and c not in key
        and not table.columns[c].generated
    ]
    if fk.match_full:
        if len(nullable) != len(fk.columns):
            return None
        columns = tuple(fk.columns)
    else:
        if not nullable:
            return None
        # One NULL column skips a MATCH SIMPLE check; prefer one no other FK uses.
        shared = {c for other in catalog.foreign_keys if other is not fk for c in other.columns
                  if other.table == fk.table}
        columns = (sorted(nullable, key=lambda c: (c in shared, fk.columns.index(c)))[0],)
    return Deferral(fk, columns, forward_only=self_reference)


def _unbreakable_message(nodes: list[QName], edges: list[Edge]) -> str:
    names = " -> ".join(str(n) for n in nodes)
    fks = ", ".join(
        f"{e.fk.table}({', '.join(e.fk.columns)}) -> {e.fk.ref_table}" for e in edges
    )
    return (
        f"cannot break the FK cycle {names}: no nullable FK column on a table with a key "
        f"({fks}); use --role owner or --role superuser, or make one constraint DEFERRABLE"
    )
