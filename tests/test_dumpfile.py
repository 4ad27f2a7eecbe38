"""The splitter: (input, expected items) tables, losslessness, and truncation errors."""

from __future__ import annotations

import random
import re

import pytest

from dumpfix import dumpfile
from dumpfix.cleanup import Cleanup
from dumpfix.dumpfile import Kind, Relation, redirected, split
from dumpfix.errors import DumpError
from dumpfix.lexer import statement_end

S, M, ST, C, I = Kind.SPACE, Kind.META, Kind.STATEMENT, Kind.COPY, Kind.INSERTS  # noqa: E741 (the cases' columns)

CASES = [
    pytest.param(
        b"SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n",
        [
            (ST, b"SET statement_timeout = 0;"),
            (S, b"\n"),
            (ST, b"SELECT pg_catalog.set_config('search_path', '', false);"),
            (S, b"\n"),
        ],
        id="preamble",
    ),
    pytest.param(
        b"\\restrict abc123\n\nCOPY public.t (a, b) FROM stdin;\n1\tx\\\\.\n\\.\n\\unrestrict abc123\n",
        [
            (M, b"\\restrict abc123\n"),
            (S, b"\n"),
            (C, b"COPY public.t (a, b) FROM stdin;\n1\tx\\\\.\n\\.\n"),
            (M, b"\\unrestrict abc123\n"),
        ],
        id="copy-with-escaped-backslash-dot-and-restrict",
    ),
    pytest.param(
        b"COPY public.t (a) FROM stdin;\n\\.\n",
        [(C, b"COPY public.t (a) FROM stdin;\n\\.\n")],
        id="empty-copy",
    ),
    pytest.param(
        b"COPY public.t (a) FROM stdin;\r\n1\r\n\\.\r\nSELECT 1;",
        [(C, b"COPY public.t (a) FROM stdin;\r\n1\r\n\\.\r\n"), (ST, b"SELECT 1;")],
        id="crlf-copy",
    ),
    pytest.param(
        b"INSERT INTO public.t VALUES (1, 'a;\n\\.\n\\! echo hi\n');\nINSERT INTO public.t VALUES (2, NULL);\n",
        [
            (I, b"INSERT INTO public.t VALUES (1, 'a;\n\\.\n\\! echo hi\n');\nINSERT INTO public.t VALUES (2, NULL);"),
            (S, b"\n"),
        ],
        id="insert-literal-with-newline-semicolon-meta",
    ),
    pytest.param(
        b"INSERT INTO public.t VALUES (1, E'it\\'s;');\nINSERT INTO public.u VALUES ($$;$$);\n",
        [
            (I, b"INSERT INTO public.t VALUES (1, E'it\\'s;');"),
            (S, b"\n"),
            (I, b"INSERT INTO public.u VALUES ($$;$$);"),
            (S, b"\n"),
        ],
        id="e-string-and-dollar-quote",
    ),
    pytest.param(
        b"INSERT INTO public.t VALUES\n\t(1, 'x'),\n\t(2, 'y');\n",
        [(I, b"INSERT INTO public.t VALUES\n\t(1, 'x'),\n\t(2, 'y');"), (S, b"\n")],
        id="rows-per-insert",
    ),
    pytest.param(
        b"INSERT INTO public.t (id, v) OVERRIDING SYSTEM VALUE VALUES (1, 'a') ON CONFLICT DO NOTHING;\n",
        [
            (I, b"INSERT INTO public.t (id, v) OVERRIDING SYSTEM VALUE VALUES (1, 'a') ON CONFLICT DO NOTHING;"),
            (S, b"\n"),
        ],
        id="overriding-on-conflict",
    ),
    pytest.param(
        b"INSERT INTO public.empty DEFAULT VALUES;\n",
        [(I, b"INSERT INTO public.empty DEFAULT VALUES;"), (S, b"\n")],
        id="default-values",
    ),
    pytest.param(
        b"SELECT /* a /* nested ; */ still */ 1;\n-- c ;\nSELECT 2;",
        [(ST, b"SELECT /* a /* nested ; */ still */ 1;"), (S, b"\n-- c ;\n"), (ST, b"SELECT 2;")],
        id="nested-comment",
    ),
    pytest.param(
        b"SELECT pg_catalog.lo_create('16385');\nSELECT pg_catalog.lowrite(0, '\\x0102');\n",
        [
            (ST, b"SELECT pg_catalog.lo_create('16385');"),
            (S, b"\n"),
            (ST, b"SELECT pg_catalog.lowrite(0, '\\x0102');"),
            (S, b"\n"),
        ],
        id="large-objects",
    ),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_split(data: bytes, expected: list[tuple[Kind, bytes]]) -> None:
    items = list(split(data))
    assert [(i.kind, data[i.start : i.end]) for i in items] == expected


DROPPED = [
    pytest.param(
        b"pg_dump: warning: circular\npg_dump: detail: a\nSET x = 1;\npg_dumpall: note\r\n",
        Cleanup(),
        [
            (Kind.MESSAGE, b"pg_dump: warning: circular\n"),
            (Kind.MESSAGE, b"pg_dump: detail: a\n"),
            (ST, b"SET x = 1;"),
            (S, b"\n"),
            (Kind.MESSAGE, b"pg_dumpall: note\r\n"),
        ],
        id="messages",
    ),
    pytest.param(
        b"\xef\xbb\xbfSET x = 1;\n",
        Cleanup(),
        [(Kind.BOM, b"\xef\xbb\xbf"), (ST, b"SET x = 1;"), (S, b"\n")],
        id="bom",
    ),
    pytest.param(
        b"SET transaction_timeout = 0;  \nSET lock_timeout = 0;\nset Session TRANSACTION_TIMEOUT TO '1s'; SELECT 1;\n",
        Cleanup(target_version=16),
        [
            (Kind.REJECTED, b"SET transaction_timeout = 0;  \n"),
            (ST, b"SET lock_timeout = 0;"),
            (S, b"\n"),
            (Kind.REJECTED, b"set Session TRANSACTION_TIMEOUT TO '1s';"),
            (S, b" "),
            (ST, b"SELECT 1;"),
            (S, b"\n"),
        ],
        id="rejected-settings",
    ),
    pytest.param(
        b"SET transaction_timeout = 0;\n",
        Cleanup(target_version=17),
        [(ST, b"SET transaction_timeout = 0;"), (S, b"\n")],
        id="known-setting",
    ),
    pytest.param(
        b"\\restrict k\nSELECT 1;\n\\unrestrict k\n\\connect db\n",
        Cleanup(strip_restrict=True),
        [
            (Kind.STRIPPED, b"\\restrict k\n"),
            (ST, b"SELECT 1;"),
            (S, b"\n"),
            (Kind.STRIPPED, b"\\unrestrict k\n"),
            (M, b"\\connect db\n"),
        ],
        id="stripped-restrict",
    ),
    pytest.param(
        b"COPY t (s) FROM stdin;\npg_dump: data\nSET transaction_timeout = 0;\n\\.\n"
        b"INSERT INTO t VALUES ('x\npg_dump: data\n\\restrict k\nSET transaction_timeout = 0;\n');\n"
        b"-- pg_dump: a comment\n",
        Cleanup(target_version=15, strip_restrict=True),
        [
            (C, b"COPY t (s) FROM stdin;\npg_dump: data\nSET transaction_timeout = 0;\n\\.\n"),
            (I, b"INSERT INTO t VALUES ('x\npg_dump: data\n\\restrict k\nSET transaction_timeout = 0;\n');"),
            (S, b"\n-- pg_dump: a comment\n"),
        ],
        id="in-data-they-are-data",
    ),
]


@pytest.mark.parametrize(("data", "cleanup", "expected"), DROPPED)
def test_what_the_output_leaves_out_are_items_of_their_own(
    data: bytes, cleanup: Cleanup, expected: list[tuple[Kind, bytes]]
) -> None:
    items = list(split(data, cleanup))
    assert [(i.kind, data[i.start : i.end]) for i in items] == expected


def test_a_pg_dump_error_line_ends_the_dump() -> None:
    with pytest.raises(DumpError) as e:
        list(split(b"SELECT 1;\npg_dump: error: query failed\n"))
    assert e.value.message == (
        "the dump file contains an error message, so the dump is incomplete: pg_dump: error: query failed"
    )
    assert e.value.location == "line 2"


def test_relations_and_columns() -> None:
    data = (
        'COPY "My Schema"."Täble" ("a b", "select", c) FROM stdin;\n\\.\n'
        'INSERT INTO public."X" ("Id", v) VALUES (1, 2);\n'
    ).encode()
    items = [i for i in split(data) if i.kind is not Kind.SPACE]
    assert items[0].relation == Relation("My Schema", "Täble")
    assert items[0].columns == ("a b", "select", "c")
    assert items[1].relation == Relation("public", "X")
    assert items[1].columns == ("Id", "v")


def test_old_search_path_applies_to_unqualified_names() -> None:
    data = b"SET search_path = shop, pg_catalog;\n\nCOPY items (id) FROM stdin;\n\\.\n"
    copy = [i for i in split(data) if i.kind is Kind.COPY][0]
    assert copy.relation == Relation(None, "items")
    assert copy.search_path == ("shop",)


SETTINGS = [
    pytest.param(
        b"SET client_encoding = 'LATIN1';", (("client_encoding", "SET client_encoding = 'LATIN1';"),), id="set"
    ),
    pytest.param(
        b"SELECT pg_catalog.set_config('search_path', 'a\\b', false);",
        (("search_path", "SELECT pg_catalog.set_config('search_path', E'a\\\\b', false);"),),
        id="set_config-either-strings-setting",
    ),
    pytest.param(b"SELECT pg_catalog.set_config('search_path', 'x', true);", (), id="set_config-local"),
    pytest.param(b"SET LOCAL search_path = x;", (), id="set-local"),
    pytest.param(b"SET SESSION AUTHORIZATION DEFAULT;", (), id="session-authorization"),
    pytest.param(b"SET standard_conforming_strings = off;\nRESET standard_conforming_strings;", (), id="reset"),
    pytest.param(b"SET xmloption = content;\nSET search_path = a;\nRESET ALL;", (), id="reset-all"),
    pytest.param(b"SET search_path = a;\nSET search_path TO DEFAULT;", (), id="to-default"),
    pytest.param(b"SELECT pg_catalog.setval('public.s', 3, true);", (), id="setval"),
]


@pytest.mark.parametrize(("statements", "expected"), SETTINGS)
def test_settings_in_force_after_statements(statements: bytes, expected: tuple[tuple[str, str], ...]) -> None:
    """What a block after these statements relies on, as the statements that set it again."""
    items = list(split(statements + b"\nCOPY t (a) FROM stdin;\nSET search_path = data;\n\\.\n"))
    assert items[-1].kind is Kind.COPY and items[-1].settings == expected


def test_insert_run_is_one_item_per_table() -> None:
    rows = b"".join(b"INSERT INTO public.t VALUES (%d, 'r');\n" % i for i in range(5000))
    items = [i for i in split(rows) if i.kind is Kind.INSERTS]
    assert 1 <= len(items) <= 3  # runs are capped, never one item per row
    assert items[0].start == 0 and items[-1].end == len(rows) - 1


@pytest.mark.parametrize(
    ("data", "message", "line"),
    [
        (b"SET a = 1;\nCOPY public.t (a) FROM stdin;\n1\n2\n", "COPY data of public.t never ends", 2),
        (b"SET a = 1;\n\nINSERT INTO public.t VALUES (1, 'abc", "statement never ends", 3),
        (b"SELECT /* never closed", "comment never ends", 1),
    ],
    ids=["truncated-copy", "truncated-insert", "open-comment"],
)
def test_truncated_input_is_an_error(data: bytes, message: str, line: int) -> None:
    with pytest.raises(DumpError) as info:
        list(split(data))
    assert message in info.value.message
    assert info.value.location == f"line {line}"


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_redirected_changes_only_the_targets(eol: bytes) -> None:
    """Staging retargets every statement of a run and copies its values byte for byte,
    whatever they hold: the prefix inside a string, semicolons, dollar quotes, E'' escapes."""
    prefix = b'INSERT INTO public."Odd ""t""" (id, note) VALUES'
    values = [
        b"(1, 'plain')",
        b"(2, 'INSERT INTO public.\"Odd \"\"t\"\"\" (id, note) VALUES (9, ''x'');')",
        b"(3, E'it\\'s; \\\\ done'), (4, $q$ $$ ; $q$)",
        b"(5, 'two" + eol + b"lines')",
    ]
    run = eol.join(prefix + b" " + v + b";" for v in values * 700)  # several chunks of 2048
    data = b"SET x = 1;" + eol + run + eol + b"SELECT 1;" + eol
    (item,) = [i for i in split(data) if i.kind is Kind.INSERTS]
    out = b"".join(redirected(data, item, b"pg_temp.dumpfix_1"))
    target = b"INSERT INTO pg_temp.dumpfix_1 (id, note) VALUES"
    assert out == eol.join(target + b" " + v + b";" for v in values * 700)


def test_redirected_single_statement_the_run_pattern_misses() -> None:
    """A nested comment sends the splitter to its slow path: one statement, still retargeted."""
    data = b"INSERT INTO t VALUES (1 /* a /* nested */ comment */, 'x');\n"
    (item,) = [i for i in split(data) if i.kind is Kind.INSERTS]
    expected = b"INSERT INTO pg_temp.dumpfix_2 VALUES (1 /* a /* nested */ comment */, 'x');"
    assert b"".join(redirected(data, item, b"pg_temp.dumpfix_2")) == expected


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
@pytest.mark.parametrize("target", [b"pg_temp.dumpfix_1", b"pg_tmp.x", b"x"])
def test_redirected_prefix_after_a_newline_inside_a_value(eol: bytes, target: bytes) -> None:
    """A value holding a newline and then the statement's own prefix: only that chunk
    is cut statement by statement, the value is copied as it is, the others replaced whole;
    whether the target is longer than the table's name, as long, or shorter (the
    replacements are then told by the length added, by a count, or by the length lost)."""
    prefix = b"INSERT INTO public.t VALUES"
    plain = [prefix + b" (%d, 'x');" % i for i in range(5000)]
    plain[3000] = prefix + b" (3000, 'one" + eol + prefix + b" (1, ''y'');');"
    data = eol.join(plain) + eol
    items = [i for i in split(data) if i.kind is Kind.INSERTS]
    assert len(items) == 1 and len(items[0].chunks) == 3
    out = b"".join(redirected(data, items[0], target))
    expected = eol.join(s.replace(prefix + b" (", b"INSERT INTO " + target + b" VALUES (", 1) for s in plain)
    assert out == expected
    assert out.count(b"INSERT INTO " + target + b" VALUES") == 5000


def test_statements_on_one_line_are_runs_of_their_own() -> None:
    """Every statement of a chunk after its first starts a line (what makes the replace
    exact); statements sharing a line still split, each redirected, every byte kept."""
    data = b"INSERT INTO t VALUES (1);INSERT INTO t VALUES (2);\nINSERT INTO t VALUES (3); INSERT INTO t VALUES (4);\n"
    items = list(split(data))
    assert b"".join(data[i.start : i.end] for i in items) == data
    runs = [i for i in items if i.kind is Kind.INSERTS]
    out = b"".join(b"".join(redirected(data, i, b"pg_temp.x")) for i in runs)
    assert out.count(b"INSERT INTO pg_temp.x VALUES") == 4 and b"INSERT INTO t" not in out


@pytest.mark.parametrize(
    ("values", "default"),
    [
        (b"(1, 'x')", False),
        (b"(1, DEFAULT)", True),
        (b"(1, Default)", True),
        (b"(1, dEfAuLt)", True),
        (b"(1, 'DEFAULT')", False),  # a string
        (b"(1, default_value)", False),  # another word
        (b"(1, E'it\\'s DEFAULT')", False),
        (b"(1, /* DEFAULT */ 2)", False),
        (b"(1, /* a /* nested */ comment */ DEFAULT)", True),  # the one-statement slow path
    ],
)
@pytest.mark.parametrize("where", [0, 1, 2100, 4999])
def test_a_run_knows_whether_default_stands_among_its_values(values: bytes, default: bool, where: int) -> None:
    """DEFAULT (a temporary table has no defaults: such a run is not staged) in any
    case, outside strings and comments, in any statement of the run."""
    rows = [b"INSERT INTO public.t VALUES (%d, 'v');" % i for i in range(5000)]
    rows[where] = b"INSERT INTO public.t VALUES " + values + b";"
    data = b"\n".join(rows) + b"\n"
    items = [i for i in split(data) if i.kind is Kind.INSERTS]
    assert any(i.mentions_default for i in items) == default
    assert b"".join(b"".join(redirected(data, i, b"pg_temp.x")) for i in items).count(b"pg_temp.x") == 5000


# Values the fast pattern takes, and values it leaves to the general one.
_FAST_VALUES = [
    b"1",
    b"NULL",
    b"'a''b'",
    b"'x;y'",
    b"'two\nlines'",
    b"'--'",
    b"3.5",
    b"'$q$'",
    b"'E''x'",
    b"U&'d'",
    b"true",
    b"false",
    b"-5",
    b"- 2",
    b"1e-5",
    b"x'1f'",
    b"-'7'",
    b"'a'-'b'",
    b"''",
    b"''';'",
    b"' '-3",
]
_GENERAL_VALUES = [
    b"E'it\\'s; x'",
    b"e'\\';'",
    b"DEFAULT",
    b"dEfault",
    b"$q$ ; $q$",
    b"a$b$c",
    b"/* ; */ 2",
    b"-- ;\n 2",
    b"--;\n2",
    b'"col;"',
    b"/* a /* nested; */ */ 3",
    b"'a'E'b;'",
    b"true'x;'",
    b"1e'x;'",
    b"'a'-- ;\n1",
]


@pytest.mark.parametrize("seed", range(24))
def test_the_fast_pattern_splits_as_the_general_one(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Runs mixing statements the fast pattern takes with ones it leaves: the same items
    as the general pattern alone gives, every counted chunk holding exactly that many
    statements (what the retargeting's replace rests on), and the same retargeted text."""
    rng = random.Random(seed)
    eol = rng.choice([b"\n", b"\r\n"])
    lines = [b"SET x = 1;"]
    for _ in range(rng.randint(1, 60)):
        if rng.random() < 0.08:
            lines.append(b"SELECT 1;")
            continue
        table = rng.choice([b"public.t", b"public.u"]) if rng.random() < 0.1 else b"public.t"
        pool = _FAST_VALUES if rng.random() < 0.8 else _GENERAL_VALUES
        values = b", ".join(rng.choice(pool) for _ in range(rng.randint(1, 3)))
        lines.append(b"INSERT INTO " + table + b" VALUES (" + values + b");")
    data = eol.join(lines) + eol

    def statements(start: int, stop: int) -> int:
        found = 0
        while start < stop:
            start = statement_end(data, start + len(data[start:stop]) - len(data[start:stop].lstrip(b"\r\n")), stop)
            found += 1
        return found

    def runs() -> list[object]:
        items = list(split(data))
        assert b"".join(data[i.start : i.end] for i in items) == data
        for item in items:
            ends = [item.start] + [stop for stop, _ in item.chunks]
            for (stop, count), start in zip(item.chunks, ends):
                assert count in (0, statements(start, stop))
        retargeted = [b"".join(redirected(data, i, b"pg_temp.dumpfix_1")) for i in items if i.kind is Kind.INSERTS]
        return [(i.kind, i.start, i.end, i.prefix, i.mentions_default) for i in items] + retargeted

    # Chunks of 3 statements end and begin everywhere (the patterns are compiled anew).
    monkeypatch.setattr(dumpfile, "_RUN_LENGTH", 3)
    dumpfile._run_pattern.cache_clear()
    dumpfile._fast_run_pattern.cache_clear()
    try:
        both = runs()
        with monkeypatch.context() as general_only:
            general_only.setattr(dumpfile, "_fast_run_pattern", lambda prefix: re.compile(rb"(?!)"))
            assert both == runs()
    finally:
        monkeypatch.undo()
        dumpfile._run_pattern.cache_clear()
        dumpfile._fast_run_pattern.cache_clear()


def test_changes_set_what_differs_encoding_first_and_reset_what_was_not_set() -> None:
    from dumpfix.settings import changes

    have = (("search_path", "SET search_path = a;"), ("xmloption", "SET xmloption = content;"))
    want = (
        ("client_encoding", "SET client_encoding = 'LATIN1';"),
        ("search_path", "SET search_path = b;"),
        ("standard_conforming_strings", "SET standard_conforming_strings = off;"),
        ("xmloption", "SET xmloption = content;"),
    )
    assert changes(have, want) == [
        "SET client_encoding = 'LATIN1';",
        "SET standard_conforming_strings = off;",
        "SET search_path = b;",
    ]
    assert changes(want, have) == [
        "RESET client_encoding;",
        "RESET standard_conforming_strings;",
        "SET search_path = a;",
    ]
    assert changes(have, have) == []
