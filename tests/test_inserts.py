"""Multi-row INSERTs (inserts.py): a changed INSERT dump comes out with its statements merged.

Every case is real pg_dump output of a real database, rewritten by dumpfix and
restored by psql as the tables' owner (no superuser), each table compared with
the source; the statements are counted the way the splitter finds them.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import pgharness
from conftest import DumpfixRunner, fixed_restores_identically
from dumpfix import inserts
from dumpfix.dumpfile import Kind, split
from dumpfix.fix import analyse, write
from dumpfix.rows import insert_statements, insert_tuples
from pgharness import DumpCase, Server

#: A cycle (authors <-> books), so that dumpfix changes the dump; an ALWAYS identity
#: (OVERRIDING SYSTEM VALUE), a generated column (DEFAULT among --inserts values) and
#: a table of no columns (DEFAULT VALUES). Book titles hold ") " (a row's end, to a
#: look at bytes only), no line break (the dump is made CRLF).
CYCLE = """
CREATE TABLE authors (id integer PRIMARY KEY, name text NOT NULL, best_book_id integer);
CREATE TABLE books (
    id integer PRIMARY KEY,
    author_id integer NOT NULL REFERENCES authors (id),
    title text,
    price numeric(8, 2),
    tags text[],
    cover bytea,
    signed boolean
);
ALTER TABLE authors ADD FOREIGN KEY (best_book_id) REFERENCES books (id);
"""
BOOKS = (
    CYCLE
    + """
CREATE TABLE readings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    book_id integer NOT NULL REFERENCES books (id),
    pages integer,
    pages_twice integer GENERATED ALWAYS AS (pages * 2) STORED,
    note text
);
CREATE TABLE marks ();
SET session_replication_role = replica;
INSERT INTO authors SELECT i, 'author ' || i || ' O''Brien', 1 + (i * 13) % 5000 FROM generate_series(1, 300) AS i;
INSERT INTO books
SELECT i, 1 + i % 300, 'title (' || i || ') ; "x"', i * 1.25, ARRAY['a', 'b' || i], '\\x00ff'::bytea, i % 3 = 0
FROM generate_series(1, 5000) AS i;
INSERT INTO readings (book_id, pages, note)
SELECT 1 + i % 5000, NULLIF(i % 7, 0), CASE WHEN i % 5 > 0 THEN 'note ' || i END FROM generate_series(1, 3000) AS i;
INSERT INTO marks SELECT FROM generate_series(1, 5);
"""
)
#: How each flavour is dumped (crlf: that dump with CRLF line ends).
FLAVOURS = {
    "inserts": ["--inserts"],
    "column-inserts": ["--column-inserts"],
    "rows-per-insert": ["--rows-per-insert=3"],
    "on-conflict": ["--inserts", "--on-conflict-do-nothing"],
    "crlf": ["--inserts"],
}

_SOURCES: dict[tuple[str, int, str], str] = {}


def _source(server: Server, sql: str) -> str:
    """A database built from sql once per server, shared by the tests (which must not change it)."""
    key = (server.host, server.port, sql)
    if key not in _SOURCES:
        _SOURCES[key] = pgharness.create_database(server, sql)
        pgharness.share_database(server, _SOURCES[key])
    return _SOURCES[key]


def _dump(case: DumpCase, source: str, flavour: str) -> bytes:
    dump = pgharness.pg_dump(case.server, source, "--data-only", *FLAVOURS[flavour], pg_dump_bin=case.pg_dump_bin)
    return dump.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") if flavour == "crlf" else dump


def _statements(dump: bytes) -> dict[str, list[tuple[int, int]]]:
    """The spans of the INSERT statements into each table, as the splitter finds them."""
    found: dict[str, list[tuple[int, int]]] = {}
    for item in split(dump):
        if item.kind is Kind.INSERTS:
            assert item.relation is not None
            spans = found.setdefault(f"{item.relation.schema}.{item.relation.name}", [])
            spans.extend(insert_statements(dump, item.start, item.end))
    return found


def _counts(dump: bytes) -> dict[str, int]:
    return {table: len(spans) for table, spans in _statements(dump).items()}


def _fixed_point(run_dumpfix: DumpfixRunner, tmp_path: Path, output: bytes, *args: str) -> None:
    """dumpfix on its own output writes it again byte for byte, and --check passes on it."""
    again = run_dumpfix("out.sql", "-o", "again.sql", *args)
    assert again.returncode == 0, again.stderr.decode()
    assert (tmp_path / "again.sql").read_bytes() == output
    check = run_dumpfix("--check", "out.sql", *args)
    assert check.returncode == 0, check.stderr.decode()


@pytest.mark.parametrize("way", ["bulk", "row-by-row"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_insert_flavour_restores_identically_from_far_fewer_statements(
    restore_case: DumpCase, flavour: str, way: str, run_dumpfix: DumpfixRunner, tmp_path: Path
) -> None:
    source = _source(restore_case.server, BOOKS)
    dump = _dump(restore_case, source, flavour)
    args = ("--no-bulk",) if way == "row-by-row" else ()
    output = fixed_restores_identically(restore_case.server, source, dump, tmp_path, run_dumpfix, *args)
    before, after = _counts(dump), _counts(output)
    if way == "row-by-row":
        # authors load NULL in best_book_id through a temporary table (staged): merged there too.
        authors = after.pop("pg_temp.dumpfix_1")
        assert authors == 1
    else:  # every FK off: authors load as they stand, merged like the others
        authors = after.pop("public.authors")
        assert 1 <= authors <= 3
    assert before.pop("public.authors") >= 100
    assert after.pop("public.marks") == before.pop("public.marks") == 5  # DEFAULT VALUES: nothing to join
    assert before.keys() == after.keys() == {"public.books", "public.readings"}
    for table, count in after.items():
        assert 1 <= count <= 3 and before[table] >= 1000, (table, before[table], count)
    assert b"OVERRIDING SYSTEM VALUE VALUES" in output
    if flavour != "column-inserts":  # the generated column: DEFAULT among the values
        assert b", DEFAULT, " in output
    if flavour == "on-conflict":
        assert output.count(b") ON CONFLICT DO NOTHING;") == sum(after.values()) + authors
    if flavour == "crlf":
        assert output.count(b"\n") == output.count(b"\r\n")
    joint = b"),\n\t(" if flavour == "rows-per-insert" else b"), ("
    assert joint in output  # rows joined as the dump's first row follows its prefix
    _fixed_point(run_dumpfix, tmp_path, output, "--schema", "schema.sql", *args)


def _awkward(eol: str) -> list[str]:
    """Values holding what a statement boundary looks like, in each shape dumpfix checks for."""
    return [
        f"x);{eol}INSERT INTO public.notes VALUES (",
        f"y) ON CONFLICT DO NOTHING;{eol}INSERT INTO public.notes VALUES (",
        f"z);{eol}INSERT INTO public.notes VALUES{eol}\t(",
        f"w');{eol}INSERT INTO public.notes VALUES (1, 'w",
        "(a) RETURNING (b)",
        "it's; -- no comment /* nor this */ $$ nor this $$ E'\\' \\",
    ]


def _notes(eol: str) -> str:
    """The cycle and 4000 notes, the awkward ones among them in the first chunk of
    statements (counted), the middle and the last (not counted)."""
    when = " ".join(
        f"WHEN {n} THEN '{v.replace(chr(39), chr(39) * 2)}'"
        for n, v in zip((7, 9, 10, 2100, 3999, 4000), _awkward(eol))
    )
    return (
        CYCLE
        + f"""
CREATE TABLE notes (id integer PRIMARY KEY, body text);
INSERT INTO authors SELECT i, 'a' || i, NULL FROM generate_series(1, 5) AS i;
INSERT INTO books (id, author_id) SELECT i, i FROM generate_series(1, 5) AS i;
UPDATE authors SET best_book_id = id;
INSERT INTO notes SELECT i, CASE i {when} ELSE 'note ' || i END FROM generate_series(1, 4000) AS i;
"""
    )


@pytest.mark.parametrize("flavour", ["inserts", "on-conflict", "rows-per-insert", "crlf"])
def test_values_holding_a_statement_boundary_survive_exactly(
    restore_case: DumpCase, flavour: str, run_dumpfix: DumpfixRunner, tmp_path: Path
) -> None:
    """A string holding ``;\\nINSERT INTO public.notes VALUES (`` (or its CRLF, ON CONFLICT
    and --rows-per-insert forms): its chunk is cut into statements exactly, and merged."""
    eol = "\r\n" if flavour == "crlf" else "\n"
    source = _source(restore_case.server, _notes(eol))
    dump = _dump(restore_case, source, flavour)
    assert _awkward(eol)[0].encode() in dump
    output = fixed_restores_identically(restore_case.server, source, dump, tmp_path, run_dumpfix)
    before, after = _counts(dump)["public.notes"], _counts(output)["public.notes"]
    assert before >= 1300 and 1 <= after <= 3, (before, after)
    _fixed_point(run_dumpfix, tmp_path, output, "--schema", "schema.sql")


def test_the_byte_cap_cuts_merged_statements(
    pg_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With a small cap each merged statement stays under it, but for a row longer on its
    own, which stands alone; a chunk cut on the slow path (a value holding a boundary)
    is capped alike."""
    source = pgharness.create_database(
        pg_server,
        BOOKS
        + """
UPDATE books SET title = repeat('long ', 2000) WHERE id = 1234;
UPDATE books SET title = E'x);\\nINSERT INTO public.books VALUES (' WHERE id = 42;
""",
    )
    dump = pgharness.pg_dump(pg_server, source, "--data-only", "--inserts")
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    cap = 4000
    monkeypatch.setattr(inserts, "MERGE_BYTES", cap)
    out = io.BytesIO()
    write(analyse(dump, [tmp_path / "schema.sql"]), out)
    output = out.getvalue()
    spans = _statements(output)["public.books"]
    assert sum(end - start for start, end in spans) / cap < len(spans) < _counts(dump)["public.books"] / 20
    long = [(start, end) for start, end in spans if end - start > cap]
    assert len(long) == 1
    assert len(list(insert_tuples(output, *long[0], len(b"INSERT INTO public.books VALUES")))) == 1
    (tmp_path / "out.sql").write_bytes(output)
    target = pgharness.create_target(pg_server, schema)
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(pg_server, source, target.dbname)


#: audit_log counts what the triggers see while the dump loads: a row per audited
#: statement (a statement trigger), and per transitioned row the rows its statement
#: inserted (a row trigger with a transition table). watched has a plain row trigger.
TRIGGERS = (
    CYCLE
    + """
CREATE TABLE audit_log (n bigint);
CREATE FUNCTION log_statement() RETURNS trigger LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.audit_log VALUES (1); RETURN NULL; END$$;
CREATE FUNCTION log_rows_seen() RETURNS trigger LANGUAGE plpgsql
AS $$BEGIN INSERT INTO public.audit_log SELECT count(*) FROM new_rows; RETURN NULL; END$$;
CREATE FUNCTION mark_seen() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.seen := true; RETURN NEW; END$$;
CREATE TABLE audited (id integer PRIMARY KEY, body text);
CREATE TRIGGER per_statement AFTER INSERT ON audited FOR EACH STATEMENT EXECUTE FUNCTION log_statement();
CREATE TABLE transitioned (id integer PRIMARY KEY);
CREATE TRIGGER sees_rows AFTER INSERT ON transitioned REFERENCING NEW TABLE AS new_rows
FOR EACH ROW EXECUTE FUNCTION log_rows_seen();
CREATE TABLE watched (id integer PRIMARY KEY, seen boolean);
CREATE TRIGGER per_row BEFORE INSERT ON watched FOR EACH ROW EXECUTE FUNCTION mark_seen();
INSERT INTO authors SELECT i, 'a' || i, NULL FROM generate_series(1, 5) AS i;
INSERT INTO books (id, author_id) SELECT i, i FROM generate_series(1, 5) AS i;
UPDATE authors SET best_book_id = id;
INSERT INTO audited SELECT i, 'a' || i FROM generate_series(1, 50) AS i;
INSERT INTO transitioned SELECT i FROM generate_series(1, 30) AS i;
INSERT INTO watched SELECT i, false FROM generate_series(1, 40) AS i;
TRUNCATE audit_log;
"""
)


@pytest.mark.parametrize("catalog", ["schema", "dsn"])
def test_tables_with_statement_level_insert_triggers_keep_their_statements(
    pg_server: Server, catalog: str, run_dumpfix: DumpfixRunner, tmp_path: Path
) -> None:
    """Merged, a statement trigger would fire once for 50 rows, a transition table would
    show a row trigger every row of the statement: those tables keep one statement a
    row (the catalog from SQL and from a live database alike); row triggers are fine."""
    source = _source(pg_server, TRIGGERS)
    dump = pgharness.pg_dump(pg_server, source, "--data-only", "--inserts")
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "in.sql").write_bytes(dump)
    (tmp_path / "schema.sql").write_bytes(schema)
    target = pgharness.create_target(pg_server, schema)
    where = ["--schema", "schema.sql"] if catalog == "schema" else ["--dsn", pg_server.dsn(target.dbname, target.owner)]
    result = run_dumpfix("in.sql", "-o", "out.sql", "--explain", *where)
    assert result.returncode == 0, result.stderr.decode()
    assert "not those of public.audited, public.transitioned" in result.stderr.decode()
    output = (tmp_path / "out.sql").read_bytes()
    before, after = _counts(dump), _counts(output)
    assert after["public.audited"] == before["public.audited"] == 50
    assert after["public.transitioned"] == before["public.transitioned"] == 30
    assert before["public.watched"] == 40 and after["public.watched"] == 1
    restored = pgharness.restore(target, tmp_path / "out.sql")
    assert restored.returncode == 0, restored.stderr
    assert pg_server.psql(target.dbname, "SELECT count(*), sum(n) FROM audit_log").strip() == "80|80"
    wanted = pgharness.table_fingerprints(pg_server, source)
    got = pgharness.table_fingerprints(pg_server, target.dbname)
    del wanted["table public.audit_log"], got["table public.audit_log"]
    assert got == wanted


def test_keep_inserts_writes_the_statements_as_the_dump_has_them(
    pg_server: Server, run_dumpfix: DumpfixRunner, tmp_path: Path
) -> None:
    """--keep-inserts, or keep-inserts in [tool.dumpfix]: every statement as it was (the
    staged table's but for its target), and the restore is the same."""
    source = _source(pg_server, BOOKS)
    dump = pgharness.pg_dump(pg_server, source, "--data-only", "--inserts")
    output = fixed_restores_identically(pg_server, source, dump, tmp_path, run_dumpfix, "--keep-inserts", "--no-bulk")
    for table in (b"books", b"readings"):
        lines = [line for line in dump.splitlines() if line.startswith(b"INSERT INTO public.%s " % table)]
        assert len(lines) >= 1000
        assert [line for line in output.splitlines() if line.startswith(b"INSERT INTO public.%s " % table)] == lines
    assert _counts(output)["pg_temp.dumpfix_1"] == _counts(dump)["public.authors"]
    _fixed_point(run_dumpfix, tmp_path, output, "--schema", "schema.sql", "--keep-inserts", "--no-bulk")
    (tmp_path / "settings.toml").write_text("[tool.dumpfix]\nkeep-inserts = true\nbulk = false\n")
    configured = run_dumpfix("--config", "settings.toml", "in.sql", "-o", "configured.sql", "--schema", "schema.sql")
    assert configured.returncode == 0, configured.stderr.decode()
    assert (tmp_path / "configured.sql").read_bytes() == output


@pytest.mark.parametrize(
    "odd",
    [
        b"INSERT INTO public.t VALUES (2) RETURNING (a);",
        b"INSERT INTO public.t VALUES (2) UNION VALUES (3);",
        b"INSERT INTO public.t VALUES (2) ORDER BY (1);",
        b"INSERT INTO public.t VALUES (2) ON CONFLICT DO NOTHING;",
        b"INSERT INTO public.t VALUES /* a comment */ (2);",
        b"INSERT INTO public.t VALUES (2, now());",
    ],
    ids=["returning", "union", "order-by", "another-tail", "comment", "call"],
)
@pytest.mark.parametrize("at", [5, 2500])
def test_a_statement_of_another_shape_is_merged_with_none(odd: bytes, at: int) -> None:
    """A hand-made statement with more than rows after VALUES (RETURNING (a), merged,
    would return the next rows instead of loading them), a tail of its own, a comment
    or a call stays a statement of its own, in a counted chunk or not; the others merge."""
    statements = [b"INSERT INTO public.t VALUES (%d);" % i for i in range(3000)]
    statements[at] = odd
    dump = b"\n".join(statements) + b"\n"
    [item] = [item for item in split(dump) if item.kind is Kind.INSERTS]
    shape = inserts.shape_of(dump, item, b"\n")
    assert shape is not None
    output = b"".join(inserts.merged(dump, item, shape))
    assert b";\n" + odd + b"\nINSERT INTO" in output
    assert output.count(b"INSERT INTO") < 2100
