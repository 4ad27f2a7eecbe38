"""The plan: in which order the dump's blocks load, and which FK columns load as NULL.

Nothing here writes: the plan is built completely (and can be explained)
before the first output byte. Costs come from the data itself: breaking an
FK edge costs one UPDATE per row whose FK is not NULL.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from dumpfix import graph
from dumpfix.catalog import Catalog, ForeignKey, QName, Table
from dumpfix.dumpfile import line_number
from dumpfix.errors import PlanError
from dumpfix.layout import Layout, Unit
from dumpfix.stats import Stats, estimated_rows

#: ENFORCED validates an FK with one anti-join of the two tables. The planner
#: picks a hash join, and the hash of a referenced table this large no longer fits
#: the CPU's caches: a merge join (the referenced key's index read in order, the
#: referencing column sorted) takes half the time. Measured on 2 cores, 32 MB L3,
#: 3 million referencing rows: hash 0.23-0.32 s against merge 0.36-0.45 s up to
#: 100,000 referenced rows, 0.45-0.64 against 0.44-0.50 at 300,000, 0.96-1.22
#: against 0.53-0.59 at a million. Below it the hash join is left alone: a small
#: table's hash is the cheapest way to check a huge one against it.
MERGE_VALIDATION_ROWS = 250_000


@dataclass(frozen=True)
class Deferral:
    """A broken FK edge: its nulled columns load as NULL and are set once every row is in."""

    fk: ForeignKey
    #: The nulled columns: one nullable column suffices under MATCH SIMPLE.
    nulled: tuple[str, ...]
    #: Self-reference in INSERT statements: only rows pointing at keys not loaded yet.
    forward_only: bool = False


@dataclass(frozen=True)
class Rewrite:
    """What changes in the rows of one table."""

    table: Table
    key: tuple[str, ...]
    deferrals: tuple[Deferral, ...] = ()
    #: The rows load into a temporary table as they are, then into the table in one
    #: INSERT ... SELECT that writes NULL for the nulled columns. No row is
    #: rewritten, and a self-reference is checked once every row is in.
    staged: bool = False

    @property
    def nulled(self) -> tuple[str, ...]:
        """The nulled columns: loaded as NULL, set afterwards (staged, a self-reference needs none)."""
        wanted = {c for d in self.deferrals if not (self.staged and d.forward_only) for c in d.nulled}
        return tuple(c for c in self.table.columns if c in wanted)


@dataclass(frozen=True)
class Edge:
    fk: ForeignKey
    source: QName  # the referencing node (partition root)
    target: QName  # the referenced node
    deferral: Deferral | None  # how to load it as NULL, None when it cannot be
    cost: int  # rows that would need an UPDATE (self-references: rows pointing ahead)
    triggered: bool = False  # the referencing table has user UPDATE triggers
    #: The referencing table has user INSERT triggers, and loading the edge as NULL
    #: would show them NULL where the source has a value: not cut by nulls.
    insert_triggered: bool = False
    #: The FK's table is created by the dump after its first data (Catalog.late_tables):
    #: the FK does not exist yet when dumpfix's head runs, so it cannot be deferred or
    #: altered there; only loading as NULL (or a superuser load) cuts it.
    late: bool = False


class Method(str, enum.Enum):
    """How a cut edge is kept from failing, cheapest privilege first."""

    NULLS = "nulls"  # load as NULL, UPDATE afterwards: INSERT, UPDATE, TEMP
    DEFER = "defer"  # DEFERRABLE already: SET CONSTRAINTS ... DEFERRED in a transaction
    OWNER = "owner"  # ALTER CONSTRAINT ... DEFERRABLE for the load, then back: table owner
    SUPERUSER = "superuser"  # session_replication_role = replica, then an orphan check


class Role(str, enum.Enum):
    USER = "user"
    OWNER = "owner"
    SUPERUSER = "superuser"


@dataclass(frozen=True)
class Cut:
    edge: Edge
    method: Method


@dataclass(frozen=True)
class Cycle:
    """A strongly connected set of tables (or a table referencing itself) and how it loads."""

    nodes: tuple[QName, ...]
    edges: tuple[Edge, ...]
    cuts: tuple[Cut, ...]
    #: Not a cycle: the referenced table's data stands after DDL (a CREATE TABLE...)
    #: that the referencing table's data may not move across, so the FK is cut.
    across: bool = False


@dataclass(frozen=True)
class Settings:
    role: Role = Role.OWNER
    strategy: Method | None = None  # forced for every cycle
    wrap: bool = False  # the whole load in one transaction with constraints deferred
    #: Major version of the server restored into, when known (--target-version, --dsn).
    target_version: int | None = None
    #: Every FK of the loaded tables off during the load, then validated once each:
    #: no per-row checks, order irrelevant. PostgreSQL 18+: NOT ENFORCED, then
    #: ENFORCED; before (or with no version given): dropped, then added again.
    #: None (the default): for every dump that needs a change (a dump that restores
    #: as it is stays as it is); True (--bulk): for every dump with FKs; False
    #: (--no-bulk), or a role that may not alter the tables (see bulk_load): the FK
    #: cycles load row by row.
    bulk: bool | None = None
    #: Stage the tables loaded with NULLs (see Rewrite.staged); off, their rows are
    #: rewritten and the temporary tables hold only keys and FK values.
    staging: bool = True
    #: Tables the schema lacks pass through where they stand (with a warning each)
    #: instead of being refused (see refusals.refuse_unknown_tables).
    pass_unknown: bool = False
    #: Its minor version, when known (--target-version 18.4, --dsn): None means any.
    target_minor: int | None = None
    #: Write INSERT statements as the dump has them, not merged into multi-row INSERTs
    #: (inserts.py) where the output changes.
    keep_inserts: bool = False

    @property
    def bulk_load(self) -> bool:
        """Whether the FKs go off for the load: asked (the default), by a role that may
        alter the tables, and no row-by-row way forced (--strategy, --no-staging)."""
        return self.bulk is not False and self.role is not Role.USER and self.strategy is None and self.staging

    @property
    def unenforced(self) -> bool:
        """PostgreSQL 18+: an FK can go NOT ENFORCED for the load, then ENFORCED.

        ENFORCED validates each table in one query, where deferred checks run one
        query per row at COMMIT (measured on 200,000 rows: 78 ms against 917 ms).
        """
        return (self.target_version or 0) >= 18

    @property
    def keeps_deferrability(self) -> bool:
        """NOT ENFORCED and back keeps a DEFERRABLE FK's deferrability: 18.4 and later.

        18.0 to 18.3 lose DEFERRABLE / INITIALLY DEFERRED on the way back ("Fix loss of
        deferrability of foreign-key triggers", 18.4); where only 18 is known, the
        unsafe minors are assumed.
        """
        major, minor = self.target_version or 0, self.target_minor
        return major > 18 or (major == 18 and minor is not None and minor >= 4)

    def rebuilds(self, fk: ForeignKey) -> bool:
        """Whether the bulk load takes this FK off by dropping it and adding it again
        (from its definition, with its comment): before PostgreSQL 18 (or for a version
        not given) every FK; on 18 a NOT VALID one, which ENFORCED would validate
        (failing on the rows it never checked), and on 18.0 to 18.3 a DEFERRABLE one,
        which NOT ENFORCED would not give back intact. Adding an FK validates the table
        in the same single query as ENFORCED does (a NOT VALID one is added back NOT VALID)."""
        return not self.unenforced or not fk.validated or (fk.deferrable and not self.keeps_deferrability)

    def can_take_off(self, fk: ForeignKey) -> bool:
        """Whether the bulk load can take this FK off: not if it would have to be rebuilt
        but the schema does not show the key it references (Plan.kept_in_force)."""
        return not (self.rebuilds(fk) and not fk.ref_columns)

    def takes_off(self, fk: ForeignKey) -> tuple[bool, bool]:
        """How the bulk load takes this FK off: (dropped, NOT ENFORCED)."""
        dropped = self.rebuilds(fk)
        return dropped, self.unenforced and fk.validated and not dropped


@dataclass(frozen=True)
class Plan:
    layout: Layout
    order: list[Unit]
    rewrites: dict[QName, Rewrite]
    cycles: tuple[Cycle, ...]
    unknown: list[QName]
    settings: Settings = field(default_factory=Settings)
    #: Foreign keys among the loaded tables: what a superuser load checks afterwards.
    checked: tuple[ForeignKey, ...] = ()
    #: Self-references in row order: FK -> block start -> a byte per row (see Stats).
    forward: dict[ForeignKey, dict[int, bytearray]] = field(default_factory=dict)
    #: With Settings.bulk_load: every FK NOT ENFORCED (or dropped) for the load.
    bulk_fks: tuple[ForeignKey, ...] = ()
    #: With Settings.bulk_load: FKs that would have to be dropped and added again but
    #: whose definition the schema does not give in full (the referenced key): they
    #: stay in force, and the cycles they close load row by row (the cycles' cuts).
    kept_in_force: tuple[ForeignKey, ...] = ()
    #: Of the FKs made ENFORCED again, those validated by a merge join (see
    #: MERGE_VALIDATION_ROWS): after the others, with hash joins off.
    merge_validated: tuple[ForeignKey, ...] = ()
    #: The bulk load as it is meant (_bulk_plan): every FK of the loaded tables off, none
    #: kept in force, the dump's order kept; each table's FKs go off right before its
    #: data (write.take_off: bulk_fks_of that table), which a pipe can write as it reads.
    bulk: bool = False

    def methods(self) -> set[Method]:
        return {c.method for cycle in self.cycles for c in cycle.cuts if c.edge.cost or c.method is not Method.NULLS}

    @property
    def altered(self) -> list[ForeignKey]:
        """FKs made DEFERRABLE (18+: NOT ENFORCED) for the load and restored afterwards."""
        owner = [c.edge.fk for cy in self.cycles for c in cy.cuts if c.method is Method.OWNER]
        return [*self.bulk_fks, *owner]

    @property
    def unenforced(self) -> bool:
        """NOT ENFORCED for the load, then ENFORCED (Settings.unenforced)."""
        return self.settings.unenforced

    def dropped(self, fk: ForeignKey) -> bool:
        """The bulk load drops this FK and adds it again (Settings.rebuilds)."""
        return fk in self.bulk_fks and self.settings.rebuilds(fk)

    def unenforces(self, fk: ForeignKey) -> bool:
        """This FK goes NOT ENFORCED for the load and ENFORCED after (PostgreSQL 18+);
        not a NOT VALID one, which ENFORCED would validate: the owner strategy makes
        that one DEFERRABLE for the load instead, and the bulk load drops and adds it."""
        return self.unenforced and fk.validated and not self.dropped(fk)

    @property
    def recreated(self) -> bool:
        """The bulk load drops (and adds again) at least one FK."""
        return any(self.dropped(fk) for fk in self.bulk_fks)

    @property
    def superuser(self) -> bool:
        return Method.SUPERUSER in self.methods()

    @property
    def disabled_triggers(self) -> dict[QName, list[str]]:
        """User UPDATE triggers switched off around dumpfix's own UPDATEs (forced nulls)."""
        return {
            r.table.name: [t.name for t in r.table.update_triggers()]
            for r in self.rewrites.values()
            if r.table.update_triggers()
        }

    @property
    def transaction(self) -> bool:
        """Whether the output loads in one transaction that dumpfix opens and commits.

        Every rewritten dump does, whatever the strategy: a load that fails half way
        (a duplicate key in the last COPY, a dangling reference found by the UPDATE)
        must leave nothing behind, not rows with their FK columns NULL. Without
        ON_ERROR_STOP, psql then fails every later statement ("current transaction is
        aborted") and the final COMMIT only rolls back. An earlier run's output (its
        head, or its staging and UPDATEs) keeps its transaction when run again.
        """
        methods = self.methods()
        return (
            self.settings.wrap
            or bool(methods & {Method.DEFER, Method.OWNER, Method.SUPERUSER})
            or bool(self.disabled_triggers)
            or bool(self.bulk_fks)
            or self.rewritten
            or self.layout.earlier_head
            or self.layout.earlier_updates
            or any(u.staged for u in self.layout.units)
        )

    @property
    def rewritten(self) -> bool:
        """Rows to rewrite or data to move (an earlier run's staging stays as it is)."""
        staged = {u.node for u in self.layout.units if u.staged}
        pending = [node for node in self.rewrites if node not in staged]
        return bool(pending) or self.order != self.layout.units

    @property
    def changed(self) -> bool:
        """Whether the plan does more than copy the input: rows to rewrite, data to move,
        a transaction to wrap, or items to leave out (pg_dump's messages, say). An
        earlier run's output can still come out byte for byte as it went in: the
        writer's dry run decides (write.dry_run)."""
        return self.rewritten or self.transaction or bool(self.layout.dropped)

    def privileges(self) -> list[str]:
        """What the restoring role needs, in words (from the cuts, so a rerun says the same)."""
        methods = {c.method for cycle in self.cycles for c in cycle.cuts}
        if self.layout.earlier_updates:  # an earlier run's UPDATEs are in the data now
            methods.add(Method.NULLS)
        if Method.SUPERUSER in methods:
            return ["superuser (session_replication_role = replica)"]
        needs = ["INSERT on the tables"]
        if Method.NULLS in methods:
            needs.append("UPDATE and SELECT on the tables loaded with NULLs, TEMP on the database")
        owned = sorted({str(fk.table) for fk in self.altered} | {str(t) for t in self.disabled_triggers})
        if owned:
            needs.append("ownership of " + ", ".join(owned))
        return needs


def bulk_ways(plan: Plan, word: str = "for") -> str:
    """How the bulk load takes its FKs off, in words: NOT ENFORCED, dropped, or some of each."""
    dropped = sum(1 for fk in plan.bulk_fks if plan.dropped(fk))
    if dropped == len(plan.bulk_fks):
        return f"dropped {word} the load, then added again"
    if not dropped:
        return f"NOT ENFORCED {word} the load, then ENFORCED"
    return (
        f"NOT ENFORCED {word} the load, then ENFORCED, but {dropped} DEFERRABLE dropped and added again "
        "(18.0 to 18.3 lose deferrability on the way back; --target-version 18.4 where the server is newer)"
    )


def make_plan(buf: bytes, catalog: Catalog, layout: Layout, settings: Settings | None = None) -> Plan:
    """Order the units so that every kept FK edge points backwards; cut each cycle cheaply."""
    settings = settings or Settings()
    plan = _ordered_plan(buf, catalog, layout, settings)
    if plan.unenforced or plan.recreated:
        merged = (fk for fk in plan.altered if fk.validated and _large(buf, layout, catalog.root_of(fk.ref_table)))
        plan = replace(plan, merge_validated=tuple(merged))
    return plan


def _large(buf: bytes, layout: Layout, node: QName) -> bool:
    return estimated_rows(buf, layout.blocks_of(node)) > MERGE_VALIDATION_ROWS


def _ordered_plan(buf: bytes, catalog: Catalog, layout: Layout, settings: Settings) -> Plan:
    if settings.strategy is Method.SUPERUSER and settings.role is not Role.SUPERUSER:
        raise PlanError("--strategy superuser needs --role superuser")
    if settings.strategy is Method.OWNER and settings.role is Role.USER:
        raise PlanError("--strategy owner needs --role owner or --role superuser")
    if not settings.bulk_load:
        return _cycles_plan(buf, catalog, layout, settings)
    if settings.bulk or _points_ahead(catalog, layout):
        return _bulk_plan(buf, catalog, layout, settings)
    # Every FK between two tables points back already: only self-references (known
    # from their rows) can make the dump need a change; one that does not stays as it is.
    try:
        plan = _cycles_plan(buf, catalog, layout, settings)
    except PlanError:
        return _bulk_plan(buf, catalog, layout, settings)
    # Only what the FKs need counts: a dump whose only change is an item left out
    # (pg_dump's messages, say) restores as it stands.
    return _bulk_plan(buf, catalog, layout, settings) if plan.rewritten or plan.transaction else plan


def _points_ahead(catalog: Catalog, layout: Layout) -> bool:
    """Whether an FK between two loaded tables points at data that comes later in the dump,
    or the dump is an earlier run's output: either way the dump is rewritten."""
    if layout.earlier_head or layout.earlier_updates or any(u.staged for u in layout.units):
        return True
    first: dict[QName, int] = {}
    last: dict[QName, int] = {}
    for i, unit in enumerate(layout.units):
        first.setdefault(unit.node, i)
        last[unit.node] = i
    for fk in catalog.foreign_keys:
        source, target = catalog.root_of(fk.table), catalog.root_of(fk.ref_table)
        if fk.enforced and source != target and source in first and target in last and last[target] > first[source]:
            return True
    return False


def _cycles_plan(
    buf: bytes, catalog: Catalog, layout: Layout, settings: Settings, off: frozenset[ForeignKey] = frozenset()
) -> Plan:
    """The row-by-row plan: the units ordered so that every FK in force (all but those
    in off) points backwards, each cycle cut in the cheapest way the role allows."""
    stats = Stats(buf, layout, catalog)
    nodes: list[QName] = []
    for unit in layout.units:
        if unit.node not in nodes:
            nodes.append(unit.node)
    present = set(nodes)
    edges: list[Edge] = []
    for fk in catalog.foreign_keys:
        if not fk.enforced or fk in off:
            continue
        source, target = catalog.root_of(fk.table), catalog.root_of(fk.ref_table)
        if source in present and target in present:
            edges.append(_edge(fk, source, target, catalog))
    #: Per table loaded with NULLs: its deferrals so far (the Rewrites are made at the end).
    deferrals: dict[QName, list[Deferral]] = {}
    cycles: list[Cycle] = []
    cut: set[int] = set()
    pairs = [(e.source, e.target) for e in edges]
    # Data never leaves its segment: an FK whose target loads in a later one is cut.
    forced = _forced(layout, edges)
    for component in graph.strongly_connected(nodes, [p for i, p in enumerate(pairs) if i not in forced]):
        member = set(component)
        inside = [i for i, e in enumerate(edges) if e.source in member and e.target in member and i not in forced]
        for i in inside:  # only edges inside a cycle can be cut: only theirs are costed
            edge = edges[i]
            edges[i] = replace(edge, cost=_cost(edge, layout, stats, settings.staging))
            if edge.source == edge.target and settings.staging and layout.stageable(buf, edge.source):
                # Staged, a self-reference loads as it is (Rewrite.nulled): no NULL to see.
                edges[i] = replace(edges[i], insert_triggered=False)
        cross = [i for i in inside if edges[i].source != edges[i].target]
        # A self-reference fails only where rows point at rows a later statement loads.
        loops = [i for i in inside if edges[i].source == edges[i].target and edges[i].cost]
        if not cross and not loops:
            continue
        comp_nodes = [n for n in nodes if n in member]
        cuts = _choose(comp_nodes, [edges[i] for i in cross], [edges[i] for i in loops], settings)
        cycles.append(Cycle(tuple(comp_nodes), tuple(edges[i] for i in inside), tuple(cuts)))
        chosen = {c.edge for c in cuts}
        cut.update(i for i in inside if edges[i] in chosen)
        _collect_nulled(cuts, deferrals)
    for i in forced:
        edges[i] = replace(edges[i], cost=_cost(edges[i], layout, stats, settings.staging))
        across = Cut(edges[i], _across_method(buf, layout, edges[i], settings))
        cycles.append(Cycle((edges[i].source, edges[i].target), (edges[i],), (across,), across=True))
        cut.add(i)
        _collect_nulled([across], deferrals)
    rewrites = {node: _rewrite(buf, catalog, layout, settings, node, found) for node, found in deferrals.items()}
    kept = [pairs[i] for i in range(len(edges)) if i not in cut]
    node_order = graph.stable_order(nodes, kept)
    if node_order is None:  # stable_order skips self-loops; every cycle was cut
        raise AssertionError("cut left a cycle")
    rank = {n: i for i, n in enumerate(node_order)}
    _refuse_across_restrict(layout, kept)
    order = sorted(layout.units, key=lambda u: (u.segment, rank[u.node], u.index))
    # pg_temp tables are an earlier run's captures, not tables of the schema.
    unknown = [u.table for u in layout.units if u.table not in catalog.tables and u.table.schema != "pg_temp"]
    # A superuser load checks every FK among the loaded tables afterwards.
    superuser = any(c.method is Method.SUPERUSER for cycle in cycles for c in cycle.cuts)
    checked = tuple(e.fk for e in edges) if superuser else ()
    return Plan(layout, order, rewrites, tuple(cycles), unknown, settings, checked, forward=stats.forward)


def _rewrite(
    buf: bytes, catalog: Catalog, layout: Layout, settings: Settings, node: QName, deferrals: list[Deferral]
) -> Rewrite:
    table = catalog.tables[deferrals[0].fk.table]
    staged = settings.staging and layout.stageable(buf, node)
    return Rewrite(table, table.row_key() or (), tuple(deferrals), staged=staged)


def _collect_nulled(cuts: list[Cut], deferrals: dict[QName, list[Deferral]]) -> None:
    """The nulled columns of the cut FKs that load as NULL, by the table that holds them."""
    for c in cuts:
        if c.method is Method.NULLS and c.edge.cost:
            assert c.edge.deferral is not None
            deferrals.setdefault(c.edge.source, []).append(c.edge.deferral)


def _forced(layout: Layout, edges: list[Edge]) -> set[int]:
    """Edges whose referenced table loads (some of its data) in a later segment than the
    referencing table first does: units never leave their segment, so these must be cut.

    Only edges that cross nothing but the dump's own DDL (a CREATE TABLE standing between
    two tables' data) are: each is cut like a cycle's edge, or refused when no method the
    role allows can cut it. One that crosses a \\restrict pair (concatenated dumps each
    have their own) is refused if kept (_refuse_across_restrict).
    """
    if not layout.barriers:
        return set()
    first, last = _segment_spans(layout)
    forced = set()
    for i, e in enumerate(edges):
        if e.source == e.target or last[e.target] <= first[e.source]:
            continue
        if all(b in layout.ddl_barriers for b in range(first[e.source], last[e.target])):
            forced.add(i)
    return forced


def _segment_spans(layout: Layout) -> tuple[dict[QName, int], dict[QName, int]]:
    """Per node, the first and the last segment (\\restrict section or stretch between the
    dump's DDL) that loads its data."""
    first: dict[QName, int] = {}
    last: dict[QName, int] = {}
    for u in layout.units:
        first[u.node] = min(first.get(u.node, u.segment), u.segment)
        last[u.node] = max(last.get(u.node, u.segment), u.segment)
    return first, last


def _refuse_across_restrict(layout: Layout, kept: list[tuple[QName, QName]]) -> None:
    """Units stay in their \\restrict section (concatenated dumps each have their own
    pair): refuse when a kept FK needs a table that only a later section loads."""
    if not layout.barriers:
        return
    first, last = _segment_spans(layout)
    for source, target in kept:
        if source != target and last[target] > first[source]:
            raise PlanError(
                f"{source} needs rows of {target}, which a later \\restrict section of the dump loads "
                "(concatenated dumps?): dumpfix does not move data out of its \\restrict pair; "
                "dump those tables together in one pg_dump"
            )


def _across_method(buf: bytes, layout: Layout, edge: Edge, settings: Settings) -> Method:
    """How to cut an FK whose target's data stands after DDL the source's data may not
    cross; a one-line refusal when the role allows no way."""
    for allowed in _levels(settings):
        method = allowed(edge)
        if method is not None:
            return method
    ddl = layout.items[layout.ddl_barriers[_segment_spans(layout)[0][edge.source]]]
    raise PlanError(
        f"{edge.fk.table} needs rows of {edge.fk.ref_table} (FK {edge.fk.name}), which the dump loads only "
        f"after the DDL at line {line_number(buf, ddl.start)}: dumpfix does not move data across the dump's "
        f"own CREATE/ALTER/DROP statements, and cannot load the FK otherwise ({_why(edge, settings)}); "
        "put that table's CREATE TABLE and data before the other's"
    )


def _bulk_plan(buf: bytes, catalog: Catalog, layout: Layout, settings: Settings) -> Plan:
    """Every FK on a loaded table NOT ENFORCED (before 18: dropped) for the load: the dump's order stays.

    An FK that would have to be dropped but cannot be added again as it was (the
    schema does not show the key it references) stays in force: the units are then
    ordered for those FKs alone, and a cycle they close is cut row by row.
    """
    present = {u.node for u in layout.units}
    fks = bulk_fks_of(catalog, present)
    kept = tuple(fk for fk in fks if not settings.can_take_off(fk))
    off = tuple(fk for fk in fks if fk not in kept)
    if kept:
        plan = _cycles_plan(buf, catalog, layout, settings, frozenset(off))
        return replace(plan, bulk_fks=off, kept_in_force=kept)
    unknown = [u.table for u in layout.units if u.table not in catalog.tables and u.table.schema != "pg_temp"]
    return Plan(layout, list(layout.units), {}, (), unknown, settings, bulk_fks=off, bulk=True)


def bulk_off(catalog: Catalog, fk: ForeignKey) -> bool:
    """Whether the bulk load takes this FK off when its table loads. Not an FK that is not
    enforced, nor one of a table the dump creates after its data begins: it does not
    exist before, and stays in force, as in the input, whose order the bulk load keeps."""
    return fk.enforced and fk.table not in catalog.late_tables


def bulk_fks_of(catalog: Catalog, nodes: set[QName]) -> list[ForeignKey]:
    """The FKs the bulk load takes off for the loaded tables nodes (partition roots), in
    the catalog's order: the whole load's (_bulk_plan), or one table's, right before its
    data (write.take_off)."""
    return [fk for fk in catalog.foreign_keys if bulk_off(catalog, fk) and catalog.root_of(fk.table) in nodes]


_RANK = {Role.USER: 0, Role.OWNER: 1, Role.SUPERUSER: 2}
Allowed = Callable[[Edge], "Method | None"]


def _levels(settings: Settings) -> list[Allowed]:
    """The ways to cut edges to try, in order of the privilege they need."""
    role, forced = settings.role, settings.strategy

    def defer_or(method: Method | None, e: Edge) -> Method | None:
        if e.late:  # SET CONSTRAINTS / ALTER CONSTRAINT before the data: no such FK yet
            return method if method in (Method.NULLS, Method.SUPERUSER) else None
        return Method.DEFER if e.fk.deferrable else method

    def nulls(e: Edge, triggers_ok: bool) -> Method | None:
        # UPDATE triggers can be switched off around dumpfix's UPDATEs (by the owner);
        # INSERT triggers fire while the rows load, and must see their values.
        usable = e.deferral is not None and not e.insert_triggered and (triggers_ok or not e.triggered)
        return Method.NULLS if usable else None

    owner_ok = _RANK[role] >= _RANK[Role.OWNER]
    if forced is None:
        levels: list[Allowed] = [lambda e: defer_or(nulls(e, False), e)]
        if owner_ok:
            levels.append(lambda e: defer_or(Method.OWNER, e))
        return levels
    if forced is Method.NULLS:
        return [lambda e: nulls(e, owner_ok)]
    if forced is Method.DEFER:
        return [lambda e: defer_or(None, e)]
    if forced is Method.OWNER:
        return [lambda e: defer_or(Method.OWNER, e)]
    return [lambda e: Method.SUPERUSER]


def _choose(nodes: list[QName], cross: list[Edge], loops: list[Edge], settings: Settings) -> list[Cut]:
    """The cuts of one strongly connected component with the least privilege, then cost."""
    for allowed in _levels(settings):
        if any(allowed(e) is None for e in loops):
            continue
        if settings.strategy is Method.SUPERUSER:  # nothing is checked: keep the dump's order
            chosen: frozenset[int] | None = frozenset(range(len(cross)))
        else:
            chosen = graph.cheapest_cut(
                nodes,
                [(e.source, e.target) for e in cross],
                [allowed(e) is not None for e in cross],
                partial(_cut_cost, cross, allowed),
            )
        if chosen is not None:
            picked = [cross[j] for j in sorted(chosen)] + loops
            return [Cut(e, method) for e in picked if (method := allowed(e)) is not None]
    raise PlanError(_unbreakable_message(nodes, cross + loops, settings))


def _cut_cost(cross: list[Edge], allowed: Allowed, j: int) -> int:
    """What cutting edge j costs: the UPDATEs it needs when loaded as NULL, else nothing."""
    return 0 if allowed(cross[j]) is not Method.NULLS else cross[j].cost


def _edge(fk: ForeignKey, source: QName, target: QName, catalog: Catalog) -> Edge:
    table = catalog.tables.get(fk.table)
    triggered = bool(table and table.update_triggers())
    insert_triggered = bool(table and table.insert_triggers())
    late = fk.table in catalog.late_tables
    return Edge(fk, source, target, _deferral(fk, catalog, source == target), 0, triggered, insert_triggered, late)


def _cost(edge: Edge, layout: Layout, stats: Stats, staging: bool) -> int:
    """Rows the edge would touch if cut: for self-references, the rows pointing ahead."""
    if edge.source == edge.target:
        # One COPY checks its self-references at its end: only rows loaded by a
        # later statement than the rows pointing at them need anything.
        if not layout.needs_row_order(edge.source):
            return 0
        if staging and layout.stageable(stats.buf, edge.source):
            # Staged, the rows load in one statement: any reference at all is
            # reason enough, and no row needs to be looked at one by one.
            return stats.non_null(edge.fk.table, edge.fk.columns)
        return stats.forward_references(edge.fk)
    return stats.non_null(edge.fk.table, edge.deferral.nulled) if edge.deferral is not None else 0


def _deferral(fk: ForeignKey, catalog: Catalog, self_reference: bool) -> Deferral | None:
    """How this FK could be loaded as NULL, or None when it cannot."""
    table = catalog.tables.get(fk.table)
    if table is None or not table.row_key():
        return None
    key = set(table.row_key() or ())
    nullable = [
        c
        for c in fk.columns
        if c in table.columns and not table.columns[c].not_null and c not in key and not table.columns[c].generated
    ]
    if fk.match_full:
        if len(nullable) != len(fk.columns):
            return None
        columns = tuple(fk.columns)
    else:
        if not nullable:
            return None
        # One NULL column skips a MATCH SIMPLE check; prefer one no other FK uses.
        shared = {c for other in catalog.foreign_keys if other != fk for c in other.columns if other.table == fk.table}
        columns = (sorted(nullable, key=lambda c: (c in shared, fk.columns.index(c)))[0],)
    return Deferral(fk, columns, forward_only=self_reference)


def _unbreakable_message(nodes: list[QName], edges: list[Edge], settings: Settings) -> str:
    names = " -> ".join(str(n) for n in nodes)
    reasons = "; ".join(
        f"{e.fk.table}({', '.join(e.fk.columns)}) -> {e.fk.ref_table}: {_why(e, settings)}" for e in edges
    )
    how = f"--strategy {settings.strategy.value}" if settings.strategy else f"--role {settings.role.value}"
    return (
        f"cannot load the FK cycle {names} with {how} ({reasons}); "
        "use --role owner (ALTER CONSTRAINT ... DEFERRABLE during the load) or --role superuser, "
        "or make one of these constraints DEFERRABLE"
    )


def _why(edge: Edge, settings: Settings) -> str:
    if edge.late and edge.deferral is None:
        return "the dump creates the table after its data begins, so only loading it as NULL could cut the FK"
    if settings.strategy is Method.DEFER:
        return "DEFERRABLE" if edge.fk.deferrable else "NOT DEFERRABLE"
    if edge.fk.deferrable:
        return "DEFERRABLE"
    if edge.deferral is None:
        return "no nullable FK column or no key to UPDATE by"
    if edge.insert_triggered:
        return "INSERT triggers would see NULL where the dump has a value"
    if edge.triggered:
        return "UPDATE triggers would change the restored rows"
    return "nullable"
