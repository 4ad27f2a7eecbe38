"""The command line without a server: modes, exit codes, exact stderr lines, settings, pictures.

Each test runs the click command in-process with CliRunner from its own empty
folder, so that no pyproject.toml of the repository is found.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dumpfix import __version__
from dumpfix.cli import command
from dumpfix.fix import analyse
from dumpfix.picture import dot_string, mermaid_text, picture, to_dot, to_mermaid
from dumpfix.progress import CountingWriter, Progress, clock_time, human
from dumpfix.report import moved_tables

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
WHY = "10 FKs off for the load, then validated, one transaction"


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test in its own folder holding the shop schema, a dump that needs fixing, and a fixed one."""
    shutil.copy(GOLDEN / "shop.schema.sql", tmp_path / "schema.sql")
    shutil.copy(GOLDEN / "shop_copy.sql", tmp_path / "broken.sql")
    shutil.copy(GOLDEN / "shop_copy.expected.sql", tmp_path / "fixed.sql")
    (tmp_path / ".git").mkdir()  # the search for pyproject.toml stops here
    monkeypatch.chdir(tmp_path)
    return tmp_path


def dumpfix(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(command, list(args), input=input, catch_exceptions=False)


def lines(text: str) -> list[str]:
    """stderr lines, without the pg_temp warnings a fixed dump's own temp tables give."""
    return [line for line in text.splitlines() if "pg_temp." not in line]


# --- plain mode ------------------------------------------------------------------


def test_plain_mode_writes_only_sql_to_stdout() -> None:
    result = dumpfix("broken.sql", "--schema", "schema.sql", "--explain")
    assert result.exit_code == 0
    assert result.stdout_bytes == (GOLDEN / "shop_copy.expected.sql").read_bytes()
    assert result.stderr.startswith("dumpfix plan:\n")


def test_output_file_run_ends_with_a_summary_line() -> None:
    result = dumpfix("broken.sql", "--schema", "schema.sql", "-o", "out.sql")
    assert result.exit_code == 0
    assert lines(result.stderr) == [f"dumpfix: fixed broken.sql -> out.sql: {WHY}"]
    unchanged = dumpfix("fixed.sql", "--schema", "schema.sql", "-o", "again.sql")
    assert lines(unchanged.stderr) == ["dumpfix: copied fixed.sql -> again.sql: unchanged, it restores as it is"]
    assert dumpfix("broken.sql", "--schema", "schema.sql", "-o", "out.sql", "-q").stderr == ""
    assert dumpfix("broken.sql", "--schema", "schema.sql").stderr == ""  # stdout: the SQL says it all


def test_plain_mode_reads_stdin() -> None:
    result = dumpfix("-", "--schema", "schema.sql", input=Path("broken.sql").read_bytes())
    assert result.exit_code == 0
    assert result.stdout_bytes == Path("fixed.sql").read_bytes()


def test_version() -> None:
    result = dumpfix("--version")
    assert result.exit_code == 0
    assert result.stdout == f"dumpfix, version {__version__}\n"


def test_help_has_examples_and_exit_codes() -> None:
    result = dumpfix("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "dumpfix --check backups/*.sql.gz --schema schema.sql" in result.stdout
    assert "Exit codes: 0 ok, 1 --check found a dump to rewrite, 2 error." in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "missing IN: a dump file, or - for stdin", id="no-input"),
        pytest.param(["broken.sql", "fixed.sql"], "several IN files need --check or --in-place", id="several"),
        pytest.param(["--check", "--in-place", "broken.sql"], "--check and --in-place exclude each other", id="both"),
        pytest.param(
            ["--check", "broken.sql", "-o", "x.sql"], "-o goes with a single IN, not with --check", id="check-o"
        ),
        pytest.param(["--in-place", "-"], "--in-place needs files, not - (stdin)", id="in-place-stdin"),
        pytest.param(
            ["--check", "--graph", "g.dot", "broken.sql", "fixed.sql"],
            "--graph draws one dump: give one IN",
            id="graph-several",
        ),
        pytest.param(
            ["--print-deferrable-migration", "--print-deferrable-revert"],
            "--print-deferrable-migration/--print-deferrable-revert go alone",
            id="migration-and-revert",
        ),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = dumpfix(*args, "--schema", "schema.sql")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert result.stdout == ""


# --- --check ---------------------------------------------------------------------


def test_check_clean_dump_exits_0_silently() -> None:
    result = dumpfix("--check", "fixed.sql", "--schema", "schema.sql")
    assert result.exit_code == 0
    assert lines(result.stderr) == []
    assert result.stdout == ""


def test_check_says_which_dump_and_why() -> None:
    before = Path("broken.sql").read_bytes()
    result = dumpfix("--check", "fixed.sql", "broken.sql", "--schema", "schema.sql")
    assert result.exit_code == 1
    assert lines(result.stderr) == [f"dumpfix: would rewrite broken.sql: {WHY}"]
    assert result.stdout == ""
    assert Path("broken.sql").read_bytes() == before
    assert sorted(os.listdir()) == [".git", "broken.sql", "fixed.sql", "schema.sql"]


def test_check_one_bad_file_does_not_stop_the_others() -> None:
    Path("truncated.sql").write_bytes(b"COPY public.users (id) FROM stdin;\n1\n")
    result = dumpfix("--check", "missing.sql", "truncated.sql", "broken.sql", "--schema", "schema.sql")
    assert result.exit_code == 2
    got = lines(result.stderr)
    assert got[0] == "dumpfix: error: missing.sql: cannot open input: No such file or directory"
    assert got[1].startswith("dumpfix: error: truncated.sql")
    assert got[2] == f"dumpfix: would rewrite broken.sql: {WHY}"
    assert len(got) == 3


def test_check_quiet_prints_nothing_but_keeps_the_exit_code() -> None:
    result = dumpfix("--check", "-q", "broken.sql", "fixed.sql", "--schema", "schema.sql")
    assert result.exit_code == 1
    assert result.stderr == ""


def test_quiet_still_prints_errors() -> None:
    result = dumpfix("--check", "-q", "missing.sql", "--schema", "schema.sql")
    assert result.exit_code == 2
    assert result.stderr == "dumpfix: error: missing.sql: cannot open input: No such file or directory\n"


def test_schema_error_stops_the_run_once() -> None:
    Path("bad.sql").write_text("CREATE TABLE (;\n")
    result = dumpfix("--check", "broken.sql", "fixed.sql", "--schema", "bad.sql")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("dumpfix: error: bad.sql")


def test_check_reads_stdin() -> None:
    result = dumpfix("--check", "-", "--schema", "schema.sql", input=Path("broken.sql").read_bytes())
    assert result.exit_code == 1
    assert lines(result.stderr) == [f"dumpfix: would rewrite <stdin>: {WHY}"]


def test_check_reports_moved_tables() -> None:
    Path("schema2.sql").write_text(
        "CREATE TABLE public.a (id integer PRIMARY KEY);\n"
        "CREATE TABLE public.b (id integer PRIMARY KEY, a_id integer NOT NULL REFERENCES public.a);\n"
    )
    Path("order.sql").write_text(
        "COPY public.b (id, a_id) FROM stdin;\n1\t1\n\\.\n\nCOPY public.a (id) FROM stdin;\n1\n\\.\n"
    )
    result = dumpfix("--check", "order.sql", "--schema", "schema2.sql")
    assert result.exit_code == 1
    assert result.stderr == "dumpfix: would rewrite order.sql: 1 FK off for the load, then validated, one transaction\n"
    result = dumpfix("--check", "order.sql", "--schema", "schema2.sql", "--no-bulk")
    assert result.stderr == "dumpfix: would rewrite order.sql: 1 table moved, one transaction\n"


# --- --in-place ------------------------------------------------------------------


def test_in_place_rewrites_what_needs_it_and_leaves_the_rest() -> None:
    fixed_stat = os.stat("fixed.sql")
    result = dumpfix("--in-place", "broken.sql", "fixed.sql", "--schema", "schema.sql")
    assert result.exit_code == 0
    assert lines(result.stderr) == [f"dumpfix: rewrote broken.sql: {WHY}"]
    assert Path("broken.sql").read_bytes() == (GOLDEN / "shop_copy.expected.sql").read_bytes()
    after = os.stat("fixed.sql")
    assert (after.st_ino, after.st_mtime_ns) == (fixed_stat.st_ino, fixed_stat.st_mtime_ns)  # untouched
    again = dumpfix("--check", "broken.sql", "--schema", "schema.sql")
    assert again.exit_code == 0


def test_in_place_keeps_compression() -> None:
    Path("broken.sql.gz").write_bytes(gzip.compress(Path("broken.sql").read_bytes()))
    result = dumpfix("--in-place", "broken.sql.gz", "--schema", "schema.sql")
    assert result.exit_code == 0
    assert gzip.decompress(Path("broken.sql.gz").read_bytes()) == Path("fixed.sql").read_bytes()


def test_in_place_error_leaves_the_file_and_continues() -> None:
    Path("truncated.sql").write_bytes(b"COPY public.users (id) FROM stdin;\n1\n")
    result = dumpfix("--in-place", "truncated.sql", "broken.sql", "--schema", "schema.sql")
    assert result.exit_code == 2
    assert Path("truncated.sql").read_bytes() == b"COPY public.users (id) FROM stdin;\n1\n"
    assert Path("broken.sql").read_bytes() == Path("fixed.sql").read_bytes()
    assert not [n for n in os.listdir() if n.startswith(".dumpfix-")]


# --- pyproject.toml --------------------------------------------------------------


def test_settings_from_pyproject_upward_with_paths_relative_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("db").mkdir()
    shutil.move("schema.sql", "db/schema.sql")
    Path("pyproject.toml").write_text('[tool.dumpfix]\nschema = ["db/schema.sql"]\n')
    Path("backups").mkdir()
    shutil.move("broken.sql", "backups/broken.sql")
    monkeypatch.chdir("backups")
    result = dumpfix("--check", "broken.sql")
    assert result.exit_code == 1
    assert lines(result.stderr) == [f"dumpfix: would rewrite broken.sql: {WHY}"]


def test_command_line_overrides_pyproject() -> None:
    Path("pyproject.toml").write_text('[tool.dumpfix]\nschema = "schema.sql"\nstrategy = "superuser"\n')
    refused = dumpfix("--check", "broken.sql")
    assert refused.exit_code == 2
    assert refused.stderr == "dumpfix: error: broken.sql: --strategy superuser needs --role superuser\n"
    result = dumpfix("--check", "broken.sql", "--strategy", "nulls")
    assert result.exit_code == 1
    assert lines(result.stderr) == [
        "dumpfix: would rewrite broken.sql: 2 cycles, 3 FK columns loaded as NULL, one transaction"
    ]


def test_pyproject_search_stops_at_the_repository_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("pyproject.toml").write_text('[tool.dumpfix]\nschema = "schema.sql"\n')
    (tmp_path / "sub" / ".git").mkdir(parents=True)  # a repository of its own inside
    monkeypatch.chdir(tmp_path / "sub")
    result = dumpfix("--check", "../broken.sql")
    assert result.exit_code == 2
    assert result.stderr.startswith("dumpfix: error: ../broken.sql: no schema:")


def test_config_option_names_the_file() -> None:
    Path("conf").mkdir()
    Path("conf/settings.toml").write_text('[tool.dumpfix]\nschema = "../schema.sql"\n')
    result = dumpfix("--config", "conf/settings.toml", "--check", "broken.sql")
    assert result.exit_code == 1


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param(
            '[tool.dumpfix]\nshema = "schema.sql"\n',
            "pyproject.toml: unknown setting 'shema' in [tool.dumpfix] (known: bulk, dsn, explain, keep-inserts, no-staging, pass-unknown, quiet, role, schema, "
            "strategy, strip-restrict, target-version, verbose, wrap)",
            id="unknown-key",
        ),
        pytest.param(
            '[tool.dumpfix]\nrole = "root"\n',
            "pyproject.toml: [tool.dumpfix] role: 'root' is not one of 'user', 'owner', 'superuser'.",
            id="bad-choice",
        ),
        pytest.param(
            "[tool.dumpfix]\nschema = 3\n", "pyproject.toml: schema must be a path or a list of paths", id="bad-path"
        ),
        pytest.param("[tool.dumpfix\n", "pyproject.toml: not valid TOML: ", id="bad-toml"),
    ],
)
def test_bad_settings_exit_2_naming_the_file(toml: str, message: str) -> None:
    Path("pyproject.toml").write_text(toml)
    result = dumpfix("--check", "broken.sql")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"dumpfix: error: {Path.cwd() / message}".rstrip())


def test_dsn_on_the_command_line_replaces_the_schema_setting() -> None:
    Path("pyproject.toml").write_text('[tool.dumpfix]\nschema = "schema.sql"\n')
    # A --dsn typed now wins over the file's schema (no "use one" usage error): the
    # connection is what fails, proving --dsn was taken.
    result = dumpfix("--check", "broken.sql", "--dsn", "postgresql:///nonexistent?host=/nonexistent")
    assert result.exit_code == 2
    assert "Error: --schema and --dsn" not in result.stderr
    assert result.stderr.startswith("dumpfix: error: ")


# --- --graph ---------------------------------------------------------------------


def test_graph_dot_marks_cycles_and_cuts() -> None:
    result = dumpfix("broken.sql", "--schema", "schema.sql", "--no-bulk", "--graph", "plan.dot", "-o", "out.sql")
    assert result.exit_code == 0
    dot = Path("plan.dot").read_text()
    assert dot.splitlines()[2] == "digraph dumpfix {"
    ids = {label: nid for nid, label in _dot_nodes(dot)}
    assert (
        f'  {ids["public.users"]} -> {ids["public.carts"]} [label="cart_id: nulls, 5 rows updated after", color=red, style=dashed];'
        in dot
    )
    assert f'  {ids["public.colors"]} -> {ids["public.imgs"]} [label="img_id"];' in dot
    assert f'  {ids["public.colors"]} [label="public.colors"];' in dot
    assert f'  {ids["public.users"]} [label="public.users", color=red];' in dot
    assert dot.count("style=dashed") == 4  # the three cut FKs and the legend's frame
    legend = dot.split("subgraph cluster_legend", 1)[1]
    assert "red: tables and FKs in a cycle" in legend and "dashed: the FK dumpfix cuts" in legend
    assert "nulls: loaded as NULL, then set by one UPDATE" in legend
    assert "owner:" not in legend  # only the ways this plan uses


def test_graph_of_the_default_plan_shows_the_cycles_and_no_cut() -> None:
    """Every FK off for the load: the cycles are still red, no arrow is cut, the legend says why."""
    result = dumpfix("broken.sql", "--schema", "schema.sql", "--graph", "plan.dot", "-o", "out.sql")
    assert result.exit_code == 0
    dot = Path("plan.dot").read_text()
    ids = {label: nid for nid, label in _dot_nodes(dot)}
    assert f'  {ids["public.users"]} -> {ids["public.carts"]} [label="cart_id", color=red];' in dot
    assert f'  {ids["public.colors"]} -> {ids["public.imgs"]} [label="img_id"];' in dot
    assert f'  {ids["public.users"]} [label="public.users", color=red];' in dot
    assert dot.count("style=dashed") == 1  # the legend's frame
    assert "every FK is off for the load (NOT ENFORCED or dropped), then validated by one query each" in dot


def test_graph_cut_fk_altered_for_the_load_counts_its_rows() -> None:
    result = dumpfix(
        "broken.sql", "--schema", "schema.sql", "--strategy", "owner", "--graph", "plan.dot", "-o", "out.sql"
    )
    assert result.exit_code == 0
    dot = Path("plan.dot").read_text()
    assert re.search(r'label="\w+: owner, about [\d,]+ rows? checked at the end"', dot), dot
    assert "owner: the FK altered for the load" in dot


def _dot_nodes(dot: str) -> list[tuple[str, str]]:
    out = []
    for line in dot.splitlines():
        if line.startswith("  n") and "->" not in line and "legend" not in line:
            nid, rest = line.strip().split(" ", 1)
            out.append((nid, rest.split('"')[1]))
    return out


@pytest.mark.parametrize("name", ["plan.mmd", "plan.md"])
def test_graph_mermaid(name: str) -> None:
    result = dumpfix("--check", "broken.sql", "--schema", "schema.sql", "--no-bulk", "--graph", name)
    assert result.exit_code == 1
    text = Path(name).read_text()
    if name.endswith(".md"):
        assert text.startswith("```mermaid\n") and text.endswith("```\n")
        text = text[len("```mermaid\n") : -len("```\n")]
    assert "flowchart LR" in text.splitlines()
    assert text.count("-.->") == 3
    assert '-.->|"cart_id: nulls, 5 rows updated after"|' in text
    assert "linkStyle" in text and "class " in text
    assert 'subgraph legend["legend"]' in text and "dotted: the FK dumpfix cuts" in text


def test_graph_unknown_extension_is_an_error() -> None:
    result = dumpfix("--check", "broken.sql", "--schema", "schema.sql", "--graph", "plan.png")
    assert result.exit_code == 2
    assert result.stderr == (
        "dumpfix: error: plan.png: --graph: cannot tell the format from the name (use one of .dot, .gv, .mmd, .md)\n"
    )


HOSTILE = 'we"ird\\N name\n]|x -->%%#;'


def test_dot_strings_escape_everything_graphviz_reads() -> None:
    assert dot_string(HOSTILE) == '"we\\"ird\\\\N name\\n]|x -->%%#;"'
    assert dot_string("plain") == '"plain"'


def test_mermaid_text_has_only_plain_characters_and_entities() -> None:
    text = mermaid_text(HOSTILE)
    assert text == "we#34;ird#92;N name#10;#93;#124;x --#62;#37;#37;#35;#59;"
    assert not set(text) & set('"[]|{}<>%\\\n')


def test_hostile_table_names_stay_inside_labels() -> None:
    schema = (
        'CREATE TABLE public."a""]|-->%%" (id integer PRIMARY KEY, b_id integer);\n'
        'CREATE TABLE public."b\\N\nx" (id integer PRIMARY KEY, a_id integer NOT NULL REFERENCES public."a""]|-->%%");\n'
        'ALTER TABLE public."a""]|-->%%" ADD FOREIGN KEY (b_id) REFERENCES public."b\\N\nx";\n'
    )
    dump = (
        'COPY public."a""]|-->%%" (id, b_id) FROM stdin;\n1\t1\n\\.\n\n'
        'COPY public."b\\N\nx" (id, a_id) FROM stdin;\n1\t1\n\\.\n'
    )
    Path("h.schema.sql").write_text(schema)
    analysis = analyse(dump.encode(), [Path("h.schema.sql")])
    pic = picture(analysis)
    assert len(pic.nodes) == 2 and len(pic.arrows) == 2
    dot = to_dot(pic)
    for line in dot.splitlines()[3:]:
        # outside labels, a line holds only ids, arrows and attributes
        outside = "".join(part for i, part in enumerate(_split_dot_quotes(line)) if i % 2 == 0)
        assert set(outside) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =,;[]{}->_"), line
    assert '"public.\\"b\\\\N\\nx\\""' in dot
    mermaid = to_mermaid(pic)
    assert "-->%%" not in mermaid.replace("%% dumpfix", "").split("flowchart LR")[1]


def _split_dot_quotes(line: str) -> list[str]:
    """Split a DOT line at the quotes that open and close strings (\\" stays inside)."""
    parts, current, i = [], "", 0
    while i < len(line):
        if line[i] == "\\":
            current += line[i : i + 2]
            i += 2
            continue
        if line[i] == '"':
            parts.append(current)
            current = ""
        else:
            current += line[i]
        i += 1
    parts.append(current)
    return parts


# --- the deferrable migration ----------------------------------------------------


def test_migration_from_a_dump_alters_only_its_cycles() -> None:
    result = dumpfix("--print-deferrable-migration", "broken.sql", "--schema", "schema.sql")
    assert result.exit_code == 0
    statements = [line for line in result.stdout.splitlines() if line.startswith("ALTER")]
    assert "ALTER TABLE public.users ALTER CONSTRAINT users_cart_id_fkey DEFERRABLE INITIALLY DEFERRED;" in statements
    assert not any("colors" in s for s in statements)  # not in a cycle
    assert result.stdout.splitlines()[3] == "BEGIN;"
    assert result.stdout.endswith("COMMIT;\n")


def test_migration_without_a_dump_covers_the_schema() -> None:
    up = dumpfix("--print-deferrable-migration", "--schema", "schema.sql")
    down = dumpfix("--print-deferrable-revert", "--schema", "schema.sql")
    assert up.exit_code == down.exit_code == 0
    assert "ALTER TABLE public.colors ALTER CONSTRAINT colors_img_id_fkey DEFERRABLE INITIALLY DEFERRED;" in up.stdout
    assert "ALTER TABLE public.colors ALTER CONSTRAINT colors_img_id_fkey NOT DEFERRABLE;" in down.stdout
    assert up.stdout.count("ALTER TABLE") == down.stdout.count("ALTER TABLE") == 10


def test_migration_quotes_identifiers() -> None:
    Path("q.sql").write_text(
        'CREATE TABLE "My Schema"."Order" (id integer PRIMARY KEY, "user" integer);\n'
        'CREATE SCHEMA "My Schema";\n'
        'ALTER TABLE "My Schema"."Order" ADD CONSTRAINT "Fk ""x""" FOREIGN KEY ("user") '
        'REFERENCES "My Schema"."Order" DEFERRABLE;\n'
    )
    down = dumpfix("--print-deferrable-revert", "--schema", "q.sql")
    assert down.exit_code == 0, down.stderr
    assert 'ALTER TABLE "My Schema"."Order" ALTER CONSTRAINT "Fk ""x""" DEFERRABLE INITIALLY IMMEDIATE;' in down.stdout


def test_migration_needs_a_schema() -> None:
    result = dumpfix("--print-deferrable-migration")
    assert result.exit_code == 2
    assert result.stderr == (
        "dumpfix: error: no schema: give --schema FILE_OR_DIR or --dsn URL (or a dump: its cycles' FKs)\n"
    )


# --- progress --------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_waits_then_shows_bytes_rate_and_time_left() -> None:
    clock, stream = FakeClock(), io.StringIO()
    bar = Progress("/x/backup.sql", stream, clock=clock)
    bar.start(10_000_000)
    clock.now += 0.5
    bar(1_000_000)
    assert stream.getvalue() == ""  # short runs show nothing
    clock.now += 1.5
    bar(4_000_000)
    # 6 MB of this pass and 10 MB of writing left at 2 MB/s: 8 s.
    assert stream.getvalue() == ("\rdumpfix: planning backup.sql: 4.0 MB of 10.0 MB (40%), 2.0 MB/s, 0:08 left\x1b[K")
    clock.now += 1.0
    bar(8_000_000)  # faster now: the time left follows
    assert stream.getvalue().rsplit("\r", 1)[1] == (
        "dumpfix: planning backup.sql: 8.0 MB of 10.0 MB (80%), 2.7 MB/s, 0:05 left\x1b[K"
    )
    bar.start(10_000_000)
    clock.now += 1.0
    bar(6_000_000)
    assert stream.getvalue().rsplit("\r", 1)[1] == (
        "dumpfix: writing backup.sql: 6.0 MB of 10.0 MB (60%), 6.0 MB/s, 0:01 left\x1b[K"
    )
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_progress_of_a_stream_shows_bytes_and_rate_only() -> None:
    clock, stream = FakeClock(), io.StringIO()
    bar = Progress("-", stream, clock=clock)
    clock.now += 2.0
    bar(3_000_000)
    assert stream.getvalue() == "\rdumpfix: reading -: 3.0 MB, 1.5 MB/s\x1b[K"


def test_progress_counting_writer_counts_every_byte() -> None:
    seen: list[int] = []
    out = io.BytesIO()
    writer = CountingWriter(out, seen.append)
    writer.write(b"abc")
    writer.write(memoryview(b"defg"))
    assert out.getvalue() == b"abcdefg" and seen == [3, 7]
    assert not hasattr(writer, "fileno")  # so the writer copies through it, not around it


@pytest.mark.parametrize(("size", "text"), [(0, "0 B"), (999, "999 B"), (1500, "1.5 kB"), (2_500_000_000, "2.5 GB")])
def test_human_sizes(size: int, text: str) -> None:
    assert human(size) == text


def test_clock_time() -> None:
    assert [clock_time(s) for s in (None, 0, 61, 3725)] == ["--:--", "0:00", "1:01", "1:02:05"]


def test_moved_tables_counts_the_fewest_moves() -> None:
    class U:
        def __init__(self, table: str) -> None:
            self.table = table

    units = [U(t) for t in "abcde"]
    assert moved_tables(units, [units[i] for i in (0, 1, 2, 3, 4)]) == 0  # type: ignore[arg-type]
    assert moved_tables(units, [units[i] for i in (4, 0, 1, 2, 3)]) == 1  # type: ignore[arg-type]
    assert moved_tables(units, [units[i] for i in (1, 0, 3, 2, 4)]) == 2  # type: ignore[arg-type]


def test_progress_on_a_terminal_goes_to_stderr_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dumpfix.cli._terminal", lambda stream: True)
    monkeypatch.setattr("dumpfix.progress.DELAY", 0.0)
    monkeypatch.setattr("dumpfix.progress.INTERVAL", 0.0)
    result = dumpfix("broken.sql", "--schema", "schema.sql")
    assert result.exit_code == 0
    assert result.stdout_bytes == Path("fixed.sql").read_bytes()
    assert "\rdumpfix: planning broken.sql: " in result.stderr
    assert "\rdumpfix: writing broken.sql: 3.3 kB of 3.3 kB (100%)" in result.stderr
    assert result.stderr.endswith("\r\x1b[K")
    quiet = dumpfix("broken.sql", "--schema", "schema.sql", "-q")
    assert quiet.stderr == ""
