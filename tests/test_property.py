"""Property: any schema with FK cycles, any data -> real pg_dump -> dumpfix -> restore as owner -> identical.

Hypothesis draws schemas (a cycle of 1 to 4 tables, composite keys, nullable and
NOT NULL FKs, DEFERRABLE or not, tables whose only unique key is nullable so that
no row can be targeted by an UPDATE, extra FKs) and rows with awkward text and
NULLs. The source database is filled with FK checks off, so that every shape of
data is possible. Each plain dump format goes through dumpfix and is restored by
psql as the owner role.

dumpfix may refuse (PlanError: "cannot load the FK cycle") only with --role user,
and only when the schema has a cycle no allowed method can cut; the test checks
both directions against its own reading of the schema.

CI runs a bounded number of examples; DUMPFIX_HYPOTHESIS_EXAMPLES=500 runs more.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pgharness
from dumpfix.errors import PlanError
from dumpfix.fix import analyse, write
from dumpfix.plan import Role, Settings
from pgharness import Server

EXAMPLES = int(os.environ.get("DUMPFIX_HYPOTHESIS_EXAMPLES", "15"))
FORMATS = list(pgharness.DUMP_FORMATS)
AWKWARD = [
    "",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\\",
    "\\N",
    "\\.",
    "\\.\n",
    "'",
    "''",
    '"',
    ";",
    "--",
    "/*",
    "$$",
    "\\! touch @CANARY@",
    "日本語",
    "🐘",
    "é",
    "a\tb\\nc",
]


@dataclass(frozen=True)
class Table:
    name: str
    key: str  # "pk": id; "composite": (a, b); "unique": UNIQUE (u), nullable: no row key
    rows: int

    @property
    def key_columns(self) -> tuple[str, ...]:
        return {"pk": ("id",), "composite": ("a", "b"), "unique": ("u",)}[self.key]


@dataclass(frozen=True)
class Fk:
    source: int
    target: int
    nullable: bool
    deferrable: bool

    def columns(self, index: int, target: Table) -> tuple[str, ...]:
        return tuple(f"f{index}_{c}" for c in target.key_columns)


@dataclass(frozen=True)
class Case:
    tables: tuple[Table, ...]
    fks: tuple[Fk, ...]
    data: tuple[tuple[tuple[int | None, ...], ...], ...]  # per table, per row: a pick per FK (index or None)
    texts: tuple[str | None, ...]
    role: Role

    def cuttable(self, fk: Fk) -> bool:
        """Whether --role user can cut this edge: DEFERRABLE, or a nullable column and a row key."""
        return fk.deferrable or (fk.nullable and self.tables[fk.source].key != "unique")


@st.composite
def cases(draw: st.DrawFn) -> Case:
    length = draw(st.integers(1, 4))
    extra = draw(st.integers(0, 1))
    tables = []
    for i in range(length + extra):
        key = draw(st.sampled_from(["pk", "composite", "unique"]))
        tables.append(Table(f"t{i}", key, draw(st.integers(1, 5))))
    fks = [Fk(i, (i + 1) % length, draw(st.booleans()), draw(st.booleans())) for i in range(length)]
    for _ in range(draw(st.integers(0, 2))):
        source = draw(st.integers(0, len(tables) - 1))
        target = draw(st.integers(0, length - 1))
        fks.append(Fk(source, target, draw(st.booleans()), draw(st.booleans())))
    data = []
    for i, table in enumerate(tables):
        rows = []
        for _ in range(table.rows):
            picks: list[int | None] = []
            for fk in fks:
                if fk.source != i:
                    picks.append(None)
                    continue
                null = fk.nullable and draw(st.booleans())
                picks.append(None if null else draw(st.integers(0, tables[fk.target].rows - 1)))
            rows.append(tuple(picks))
        data.append(tuple(rows))
    text = st.one_of(
        st.none(),
        st.sampled_from(AWKWARD),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
    )
    count = sum(t.rows for t in tables)
    texts = tuple(draw(st.lists(text, min_size=count, max_size=count)))
    role = draw(st.sampled_from([Role.USER, Role.OWNER]))
    return Case(tuple(tables), tuple(fks), tuple(data), texts, role)


def _literal(value: str | None) -> str:
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''").replace("@CANARY@", str(pgharness.CANARY_PATH)) + "'"


def schema_sql(case: Case) -> str:
    lines = []
    for i, table in enumerate(case.tables):
        cols = {
            "pk": ["id integer PRIMARY KEY"],
            "composite": ["a integer NOT NULL", "b integer NOT NULL"],
            "unique": ["u integer UNIQUE"],
        }[table.key]
        if table.key == "composite":
            cols.append("PRIMARY KEY (a, b)")
        for j, fk in enumerate(case.fks):
            if fk.source == i:
                null = "" if fk.nullable else " NOT NULL"
                cols += [f"{c} integer{null}" for c in fk.columns(j, case.tables[fk.target])]
        cols.append("note text")
        lines.append(f"CREATE TABLE {table.name} ({', '.join(cols)});")
    for j, fk in enumerate(case.fks):
        target = case.tables[fk.target]
        deferrable = " DEFERRABLE" if fk.deferrable else ""
        lines.append(
            f"ALTER TABLE {case.tables[fk.source].name} ADD CONSTRAINT fk{j} FOREIGN KEY "
            f"({', '.join(fk.columns(j, target))}) REFERENCES {target.name} ({', '.join(target.key_columns)}){deferrable};"
        )
    return "\n".join(lines) + "\n"


def _key_values(table: Table, row: int) -> list[int]:
    return {"pk": [row + 1], "composite": [row // 2 + 1, row % 2], "unique": [row + 1]}[table.key]


def data_sql(case: Case) -> str:
    lines = ["SET session_replication_role = replica;"]
    texts = iter(case.texts)
    for i, table in enumerate(case.tables):
        for r, picks in enumerate(case.data[i]):
            values = [str(v) for v in _key_values(table, r)]
            for j, fk in enumerate(case.fks):
                if fk.source != i:
                    continue
                target = case.tables[fk.target]
                pick = picks[j]
                ncols = len(target.key_columns)
                values += ["NULL"] * ncols if pick is None else [str(v) for v in _key_values(target, pick)]
            values.append(_literal(next(texts)))
            lines.append(f"INSERT INTO {table.name} VALUES ({', '.join(values)});")
    lines.append("SET session_replication_role = DEFAULT;")
    return "\n".join(lines) + "\n"


def has_uncuttable_cycle(case: Case) -> bool:
    """A cycle of two or more tables whose every edge --role user cannot cut."""
    edges = {(fk.source, fk.target) for fk in case.fks if not case.cuttable(fk) and fk.source != fk.target}
    nodes = range(len(case.tables))

    def reaches(start: int, goal: int) -> bool:
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            for s, t in edges:
                if s == node and t not in seen:
                    if t == goal:
                        return True
                    seen.add(t)
                    stack.append(t)
        return False

    return any(reaches(n, n) for n in nodes)


def has_uncuttable_self_reference(case: Case) -> bool:
    return any(fk.source == fk.target and not case.cuttable(fk) for fk in case.fks)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases())
def test_any_cyclic_dump_restores_identically(pg_server: Server, case: Case) -> None:
    schema = schema_sql(case)
    source = pgharness.create_database(pg_server, schema + data_sql(case))
    schema_dump = pgharness.schema_dump(pg_server, source)
    with tempfile.TemporaryDirectory() as folder:
        schema_path = Path(folder) / "schema.sql"
        schema_path.write_bytes(schema_dump)
        for fmt in FORMATS:
            dump = pgharness.data_dump(pg_server, source, fmt)
            try:
                analysis = analyse(dump, [schema_path], settings=Settings(case.role))
            except PlanError as e:
                assert "cannot load the FK cycle" in e.message
                assert case.role is Role.USER, f"--role owner must never refuse: {e}"
                assert has_uncuttable_cycle(case) or has_uncuttable_self_reference(case), (
                    f"refused a schema with a cuttable way through:\n{schema}\n{e}"
                )
                continue
            assert not (case.role is Role.USER and has_uncuttable_cycle(case)), (
                f"no allowed method could load this schema, yet dumpfix did not refuse:\n{schema}"
            )
            out = io.BytesIO()
            write(analysis, out)
            out_path = Path(folder) / f"{fmt}.sql"
            out_path.write_bytes(out.getvalue())
            target = pgharness.create_target(pg_server, schema_dump)
            result = pgharness.restore(target, out_path)
            assert result.returncode == 0, f"{fmt}:\n{schema}\n{result.stderr}"
            pgharness.assert_same(pg_server, source, target.dbname)
            again = io.BytesIO()
            write(analyse(out.getvalue(), [schema_path], settings=Settings(case.role)), again)
            assert again.getvalue() == out.getvalue(), f"{fmt}: a second run changed the output"


def test_the_oracle_sees_cycles() -> None:
    """The refusal oracle itself: an uncuttable 2-cycle, and one with a cuttable edge."""
    tables = (Table("t0", "pk", 1), Table("t1", "unique", 1))
    hard = Case(tables, (Fk(0, 1, False, False), Fk(1, 0, True, False)), ((), ()), (), Role.USER)
    soft = Case(tables, (Fk(0, 1, True, False), Fk(1, 0, True, False)), ((), ()), (), Role.USER)
    assert has_uncuttable_cycle(hard)  # t1 has no row key, t0's FK is NOT NULL
    assert not has_uncuttable_cycle(soft)
    assert not has_uncuttable_cycle(Case(tables[:1], (Fk(0, 0, False, False),), ((),), (), Role.USER))


@pytest.mark.parametrize("role", [Role.USER, Role.OWNER])
def test_a_known_unbreakable_cycle_is_refused_only_for_user(pg_server: Server, tmp_path: Path, role: Role) -> None:
    tables = (Table("t0", "pk", 2), Table("t1", "unique", 2))
    case = Case(
        tables,
        (Fk(0, 1, False, False), Fk(1, 0, True, False)),
        (((1, None),) * 2, ((None, 0),) * 2),
        ("x", None, "\\N", "y"),
        role,
    )
    source = pgharness.create_database(pg_server, schema_sql(case) + data_sql(case))
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(pg_server, source))
    dump = pgharness.data_dump(pg_server, source, "copy")
    if role is Role.USER:
        with pytest.raises(PlanError, match="cannot load the FK cycle public.t0 -> public.t1"):
            analyse(dump, [tmp_path / "schema.sql"], settings=Settings(role))
    else:
        analyse(dump, [tmp_path / "schema.sql"], settings=Settings(role))
