"""The planner without a server: graph algorithms, cut choice, strategy choice, refusals."""

from __future__ import annotations

import io

import pytest

from dumpfix import graph
from dumpfix.errors import DumpError, PlanError, SchemaError
from dumpfix.fix import analyse, write
from dumpfix.plan import Method, Role, Settings
from dumpfix.schema import load_schema_sql


def test_components_and_stable_order() -> None:
    nodes = ["a", "b", "c", "d"]
    edges = [("a", "b"), ("b", "a"), ("c", "d")]
    components = sorted(sorted(c) for c in graph.strongly_connected(nodes, edges))
    assert components == [["a", "b"], ["c"], ["d"]]
    assert graph.stable_order(nodes, [("c", "d")]) == ["a", "b", "d", "c"]
    assert graph.stable_order(nodes, edges) is None


def test_deep_chain_needs_no_recursion() -> None:
    nodes = list(range(5000))
    edges = [(i, i + 1) for i in range(4999)]
    assert len(graph.strongly_connected(nodes, edges)) == 5000
    assert graph.stable_order(nodes, edges) == nodes[::-1]


@pytest.mark.parametrize(
    ("costs", "expected"),
    [([5, 1], {1}), ([1, 5], {0}), ([0, 0], {0})],
    ids=["cheaper-second", "cheaper-first", "tie-keeps-given-order"],
)
def test_cheapest_cut(costs: list[int], expected: set[int]) -> None:
    # a references b (edge 0) and b references a (edge 1); given order a, b:
    # cutting edge 0 (a -> b) keeps a first, as given, so it wins ties.
    cut = graph.cheapest_cut(["a", "b"], [("a", "b"), ("b", "a")], [True, True], lambda i: costs[i])
    assert cut == frozenset(expected)


def test_no_cut_when_nothing_breakable() -> None:
    assert graph.cheapest_cut(["a", "b"], [("a", "b"), ("b", "a")], [False, False], lambda i: 0) is None


SCHEMA = """
CREATE TABLE store (id int PRIMARY KEY, manager int NOT NULL);
CREATE TABLE staff (id int PRIMARY KEY, store_id int NOT NULL REFERENCES store);
ALTER TABLE store ADD FOREIGN KEY (manager) REFERENCES staff;
"""
DUMP = (
    b"COPY public.store (id, manager) FROM stdin;\n1\t1\n\\.\n"
    b"COPY public.staff (id, store_id) FROM stdin;\n1\t1\n\\.\n"
)


@pytest.mark.parametrize(
    ("settings", "method"),
    [
        (Settings(), Method.OWNER),
        (Settings(Role.SUPERUSER), Method.OWNER),
        (Settings(Role.SUPERUSER, Method.SUPERUSER), Method.SUPERUSER),
    ],
    ids=["owner", "superuser-role-still-owner", "forced-superuser"],
)
def test_not_null_cycle_strategy(settings: Settings, method: Method) -> None:
    plan = analyse(DUMP, catalog=load_schema_sql(SCHEMA), settings=settings).plan
    assert {c.method for cycle in plan.cycles for c in cycle.cuts} == {method}
    assert plan.transaction


def test_not_null_cycle_refused_for_plain_user() -> None:
    with pytest.raises(PlanError, match=r"cannot load the FK cycle public\.store -> public\.staff with --role user"):
        analyse(DUMP, catalog=load_schema_sql(SCHEMA), settings=Settings(Role.USER))


def test_forced_strategy_needs_the_role() -> None:
    with pytest.raises(PlanError, match="--strategy superuser needs --role superuser"):
        analyse(DUMP, catalog=load_schema_sql(SCHEMA), settings=Settings(Role.OWNER, Method.SUPERUSER))


def test_bulk_before_18_needs_every_referenced_key() -> None:
    """An FK to a table the schema does not define, without a column list: dropped, it
    could not be added back as it was (which key it points at is unknown)."""
    catalog = load_schema_sql("CREATE TABLE a (x int REFERENCES elsewhere.b);")
    dump = b"COPY public.a (x) FROM stdin;\n1\n\\.\n"
    with pytest.raises(PlanError, match=r"--bulk before PostgreSQL 18 drops and re-creates each FK, and a_x_fkey"):
        analyse(dump, catalog=catalog, settings=Settings(bulk=True, target_version=15))
    plan = analyse(dump, catalog=catalog, settings=Settings(bulk=True, target_version=18)).plan
    assert plan.unenforced and not plan.recreated


def test_reordering_across_connect_is_refused() -> None:
    catalog = load_schema_sql("CREATE TABLE b (x int PRIMARY KEY); CREATE TABLE a (x int REFERENCES b);")
    dump = b"COPY public.a (x) FROM stdin;\n1\n\\.\n\\connect other\nCOPY public.b (x) FROM stdin;\n1\n\\.\n"
    with pytest.raises(DumpError, match="switches databases"):
        analyse(dump, catalog=catalog)
    in_order = b"COPY public.b (x) FROM stdin;\n1\n\\.\n\\connect other\nCOPY public.a (x) FROM stdin;\n1\n\\.\n"
    out = io.BytesIO()
    write(analyse(in_order, catalog=catalog), out)
    assert out.getvalue() == in_order


def test_unknown_table_is_kept_and_reported_with_pass_unknown() -> None:
    """Refused by default (refusals.py); Settings.pass_unknown (--pass-unknown) keeps it in place."""
    catalog = load_schema_sql("CREATE TABLE b (x int PRIMARY KEY); CREATE TABLE a (x int REFERENCES b);")
    dump = (
        b"COPY public.a (x) FROM stdin;\n1\n\\.\n"
        b"COPY public.mystery (x) FROM stdin;\n1\n\\.\n"
        b"COPY public.b (x) FROM stdin;\n1\n\\.\n"
    )
    with pytest.raises(SchemaError, match=r"lacks 1 of the 3 tables the dump loads: public\.mystery"):
        analyse(dump, catalog=catalog)
    analysis = analyse(dump, catalog=catalog, settings=Settings(pass_unknown=True))
    assert [str(u.table) for u in analysis.plan.order] == ["public.mystery", "public.b", "public.a"]
    assert [str(t) for t in analysis.plan.unknown] == ["public.mystery"]
