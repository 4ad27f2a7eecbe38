"""The planner without a server: graph algorithms, cut choice, strategy choice, refusals."""

from __future__ import annotations

import io

import pytest

from dumpfix import graph
from dumpfix.cleanup import Cleanup
from dumpfix.errors import DumpError, PlanError, SchemaError
from dumpfix.explain import explain
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
    b"COPY public.store (id, manager) FROM stdin;\n1\t1\n\\.\nCOPY public.staff (id, store_id) FROM stdin;\n1\t1\n\\.\n"
)


@pytest.mark.parametrize(
    ("settings", "method"),
    [
        (Settings(bulk=False), Method.OWNER),
        (Settings(Role.SUPERUSER, bulk=False), Method.OWNER),
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


def test_fk_that_cannot_be_added_back_stays_in_force() -> None:
    """An FK to a table the schema does not define, without a column list: dropped, it
    could not be added back as it was (which key it points at is unknown). Before 18 it
    stays in force and the tables load row by row in an order that keeps it; on 18 it
    goes NOT ENFORCED like the others."""
    catalog = load_schema_sql(
        "CREATE TABLE elsewhere_b (x int PRIMARY KEY, a_x int);"
        "CREATE TABLE a (x int PRIMARY KEY REFERENCES elsewhere.b, b_x int REFERENCES elsewhere_b);"
        "ALTER TABLE elsewhere_b ADD FOREIGN KEY (a_x) REFERENCES a;"
    )
    dump = b"COPY public.a (x, b_x) FROM stdin;\n1\t1\n\\.\nCOPY public.elsewhere_b (x, a_x) FROM stdin;\n1\t1\n\\.\n"
    plan = analyse(dump, catalog=catalog, settings=Settings(target_version=15)).plan
    assert [fk.name for fk in plan.kept_in_force] == ["a_x_fkey"]
    assert sorted(fk.name for fk in plan.bulk_fks) == ["a_b_x_fkey", "elsewhere_b_a_x_fkey"]
    assert not plan.cycles and plan.order == plan.layout.units  # nothing else to keep in order
    analysis = analyse(dump, catalog=catalog, settings=Settings(target_version=15))
    assert "kept in force: FK a_x_fkey on public.a would have to be dropped" in explain(analysis)
    out = io.BytesIO()
    write(analysis, out)
    assert b"DROP CONSTRAINT a_x_fkey" not in out.getvalue() and b"DROP CONSTRAINT a_b_x_fkey" in out.getvalue()
    plan = analyse(dump, catalog=catalog, settings=Settings(target_version=18)).plan
    assert plan.unenforced and not plan.recreated and not plan.kept_in_force


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
    analysis = analyse(dump, catalog=catalog, settings=Settings(pass_unknown=True, bulk=False))
    assert [str(u.table) for u in analysis.plan.order] == ["public.mystery", "public.b", "public.a"]
    bulk = analyse(dump, catalog=catalog, settings=Settings(pass_unknown=True)).plan
    assert [str(u.table) for u in bulk.order] == ["public.a", "public.mystery", "public.b"]
    assert [str(t) for t in analysis.plan.unknown] == ["public.mystery"]


TRIGGER_SCHEMA = """
CREATE TABLE users (id int PRIMARY KEY, cart_id int, first_cart_id int);
CREATE TABLE carts (id int PRIMARY KEY, user_id int {carts_null} REFERENCES users);
ALTER TABLE users ADD FOREIGN KEY (cart_id) REFERENCES carts {deferrable};
CREATE TRIGGER users_copy_cart {when} ON users FOR EACH {level} EXECUTE FUNCTION copy_cart();
"""
TRIGGER_DUMP = (
    b"COPY public.users (id, cart_id, first_cart_id) FROM stdin;\n1\t1\t1\n\\.\n"
    b"COPY public.carts (id, user_id) FROM stdin;\n1\t1\n\\.\n"
)


def _trigger_plan(
    settings: Settings,
    when: str = "BEFORE INSERT",
    carts_null: str = "NOT NULL",
    deferrable: str = "",
    level: str = "ROW",
) -> dict[str, Method]:
    schema = TRIGGER_SCHEMA.format(when=when, carts_null=carts_null, deferrable=deferrable, level=level)
    plan = analyse(TRIGGER_DUMP, catalog=load_schema_sql(schema), settings=settings).plan
    return {str(c.edge.fk.table): c.method for cycle in plan.cycles for c in cycle.cuts}


@pytest.mark.parametrize("when", ["BEFORE INSERT", "AFTER INSERT", "AFTER INSERT OR UPDATE OF cart_id"])
@pytest.mark.parametrize("level", ["ROW", "STATEMENT"])
def test_insert_trigger_keeps_its_table_from_nulls(when: str, level: str) -> None:
    """An INSERT trigger would see NULL in a column loaded as NULL (a BEFORE trigger copying
    NEW.cart_id would store NULL): the owner alters the FK for the load instead."""
    assert _trigger_plan(Settings(bulk=False), when, level=level) == {"public.users": Method.OWNER}


def test_insert_trigger_table_spared_when_another_edge_can_be_cut() -> None:
    """Another way: the cycle's other edge loads as NULL, on a table without triggers."""
    assert _trigger_plan(Settings(Role.USER), carts_null="") == {"public.carts": Method.NULLS}
    assert _trigger_plan(Settings(bulk=False), carts_null="") == {"public.carts": Method.NULLS}


def test_insert_trigger_table_with_a_deferrable_fk_is_deferred() -> None:
    assert _trigger_plan(Settings(Role.USER), deferrable="DEFERRABLE") == {"public.users": Method.DEFER}


def test_update_trigger_alone_still_lets_the_owner_force_nulls() -> None:
    """UPDATE triggers are switched off around dumpfix's UPDATE; INSERT triggers cannot be."""
    forced = Settings(Role.OWNER, Method.NULLS)
    assert _trigger_plan(forced, when="BEFORE UPDATE") == {"public.users": Method.NULLS}
    with pytest.raises(PlanError, match=r"public\.users\(cart_id\) -> public\.carts: INSERT triggers would see NULL"):
        _trigger_plan(forced)


def test_insert_trigger_refusal_for_a_plain_user_says_why() -> None:
    with pytest.raises(PlanError) as refused:
        _trigger_plan(Settings(Role.USER))
    message = str(refused.value)
    assert "with --role user" in message
    assert "public.users(cart_id) -> public.carts: INSERT triggers would see NULL where the dump has a value" in message
    assert "public.carts(user_id) -> public.users: no nullable FK column" in message


def test_every_rewritten_dump_is_one_transaction() -> None:
    """nulls and reorder alone open a transaction too; a dump left as it is gets none."""
    catalog = load_schema_sql(TRIGGER_SCHEMA.format(when="BEFORE UPDATE", carts_null="", deferrable="", level="ROW"))
    nulls = analyse(TRIGGER_DUMP, catalog=catalog, settings=Settings(Role.USER)).plan
    assert nulls.methods() == {Method.NULLS} and nulls.transaction and nulls.changed
    ordered = load_schema_sql("CREATE TABLE b (x int PRIMARY KEY); CREATE TABLE a (x int REFERENCES b);")
    moved = analyse(b"COPY public.a (x) FROM stdin;\n1\n\\.\nCOPY public.b (x) FROM stdin;\n1\n\\.\n", catalog=ordered)
    assert moved.plan.transaction and moved.plan.changed
    kept = analyse(b"COPY public.b (x) FROM stdin;\n1\n\\.\nCOPY public.a (x) FROM stdin;\n1\n\\.\n", catalog=ordered)
    assert not kept.plan.transaction and not kept.plan.changed


def test_what_the_output_leaves_out_changes_the_dump() -> None:
    """A dump that needs nothing but pg_dump's messages and a rejected setting left out
    is not passed through: its output is the input without them, the notices say so,
    and that output is unchanged by a rerun. In a cycle, the messages and the setting
    are left out wherever they stand, and nothing else moves for them."""
    ordered = load_schema_sql("CREATE TABLE a (x int PRIMARY KEY); CREATE TABLE b (x int REFERENCES a);")
    messages = b"pg_dump: warning: one\npg_dump: detail: two\n"
    body = b"SET lock_timeout = 0;\nCOPY public.a (x) FROM stdin;\n1\n\\.\nCOPY public.b (x) FROM stdin;\n1\n\\.\n"
    dump = messages + b"SET transaction_timeout = 0;\n" + body
    analysis = analyse(dump, catalog=ordered, cleanup=Cleanup(target_version=16))
    assert analysis.plan.changed and not analysis.unchanged
    assert analysis.notices == (
        "notice: removed 2 line(s) of pg_dump messages (not SQL: they came with 2>&1)",
        "notice: removed SET transaction_timeout: PostgreSQL 16 does not know it (from PostgreSQL 17 on)",
    )
    out = io.BytesIO()
    write(analysis, out)
    assert out.getvalue() == body
    assert analyse(body, catalog=ordered, cleanup=Cleanup(target_version=16)).unchanged
    cyclic = load_schema_sql("CREATE TABLE b (x int PRIMARY KEY); CREATE TABLE a (x int REFERENCES b);")
    clean = io.BytesIO()
    write(analyse(body, catalog=cyclic), clean)
    moved = io.BytesIO()
    write(analyse(dump, catalog=cyclic, cleanup=Cleanup(target_version=16)), moved)
    assert moved.getvalue() == clean.getvalue()


def test_commit_after_the_sequences_before_the_epilogues_own_transaction() -> None:
    """dumpfix's checks come before the setval calls (which no rollback undoes: a failed
    load must not set sequences), its COMMIT after them,
    and comes before pg_dump's own BEGIN ... COMMIT around large objects (which would
    end dumpfix's transaction early) and before \\unrestrict; a rerun gives the same bytes."""
    catalog = load_schema_sql("CREATE TABLE b (x int PRIMARY KEY); CREATE TABLE a (x int REFERENCES b);")
    epilogue = (
        b"\nSELECT pg_catalog.setval('public.s', 5, true);\n\n"
        b"BEGIN;\n\nSELECT pg_catalog.lo_open('16385', 131072);\nSELECT pg_catalog.lo_close(0);\n\nCOMMIT;\n\n"
        b"--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n"
    )
    dump = b"\\restrict abc\nCOPY public.a (x) FROM stdin;\n1\n\\.\nCOPY public.b (x) FROM stdin;\n1\n\\.\n" + epilogue
    out = io.BytesIO()
    write(analyse(dump, catalog=catalog, settings=Settings(bulk=False)), out)
    text = out.getvalue()
    checks = b"-- dumpfix: after the data\nSET CONSTRAINTS ALL IMMEDIATE;\n-- dumpfix: end\n"
    commit = b"-- dumpfix: commit\nCOMMIT;\n-- dumpfix: end\n"
    setval, rest = epilogue.split(b"true);\n", 1)
    assert text.endswith(checks + setval.lstrip(b"\n") + b"true);\n" + commit + rest)
    assert text.index(b"\nBEGIN;\n") < text.index(b"COPY public.b")
    again = io.BytesIO()
    write(analyse(text, catalog=catalog, settings=Settings(bulk=False)), again)
    assert again.getvalue() == text


def test_dump_ddl_counts_wherever_it_stands() -> None:
    """A dump whose CREATE TABLE comes after another table's data still defines that
    table; an FK a full dump adds after its data is not in force while it loads."""
    dump = (
        b"CREATE TABLE public.a (x int PRIMARY KEY);\n"
        b"COPY public.a (x) FROM stdin;\n1\n\\.\n"
        b"CREATE TABLE public.orders (x int PRIMARY KEY, a int REFERENCES public.a);\n"
        b"COPY public.orders (x, a) FROM stdin;\n1\t1\n\\.\n"
        b"ALTER TABLE public.a ADD CONSTRAINT a_x FOREIGN KEY (x) REFERENCES public.orders;\n"
    )
    analysis = analyse(dump)
    assert analysis.plan.unknown == []
    assert sorted(fk.name for fk in analysis.catalog.foreign_keys) == ["orders_a_fkey"]
    assert not analysis.plan.changed
