"""--jobs: custom and directory archives loaded by pg_restore -j as a NON-superuser table owner.

Every restore is compared table by table with the source (assert_same), and every FK
definition, validity, deferrability and comment with the source's pg_constraint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import pgharness
from pgharness import DumpCase, Server

REPO_ROOT = Path(__file__).resolve().parent.parent
SourceDb = Callable[[Server, str], str]

_FKS = """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated,
    condeferrable, condeferred, coalesce(obj_description(oid, 'pg_constraint'), '<none>')
FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2"""

# FKs of every kind a round trip could lose: DEFERRABLE INITIALLY DEFERRED, DEFERRABLE,
# NOT VALID over an orphan row, MATCH FULL with actions, a comment, a cycle.
DETAILS_SQL = """
CREATE TABLE parent (id int PRIMARY KEY, child_id int, note text);
CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL, other int,
    CONSTRAINT child_parent_fkey FOREIGN KEY (parent_id) REFERENCES parent (id)
        DEFERRABLE INITIALLY DEFERRED);
ALTER TABLE parent ADD CONSTRAINT parent_child_fkey FOREIGN KEY (child_id) REFERENCES child (id)
    MATCH FULL ON DELETE SET NULL ON UPDATE CASCADE DEFERRABLE;
COMMENT ON CONSTRAINT parent_child_fkey ON parent IS 'it''s the cycle''s other half';
CREATE TABLE loose (id int PRIMARY KEY, parent_id int);
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO parent SELECT i, i, 'p' || i FROM generate_series(1, 200) i;
INSERT INTO child SELECT i, 201 - i, NULL FROM generate_series(1, 200) i;
COMMIT;
INSERT INTO loose VALUES (1, 1), (2, 999);
ALTER TABLE loose ADD CONSTRAINT loose_parent_fkey FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;
"""


def _archive(server: Server, db: str, fmt: str, tmp_path: Path, pg_dump_bin: Path | None = None) -> Path:
    path = tmp_path / ("archive.dir" if fmt == "d" else "archive.dump")
    pgharness.pg_dump(server, db, "--data-only", f"-F{fmt}", "-f", str(path), pg_dump_bin=pg_dump_bin)
    return path


def _env(bin_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if bin_dir is not None:
        env["PATH"] = str(bin_dir) + os.pathsep + env.get("PATH", "")
    return env


def _dumpfix(
    *args: str | Path, bin_dir: Path | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dumpfix", *map(str, args)],
        env=_env(bin_dir),
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


def _fks(server: Server, db: str) -> list[str]:
    return server.psql(db, _FKS).splitlines()


def _leftover(server: Server, db: str) -> str:
    return server.psql(db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'dumpfix'").strip()


def _target(server: Server, source: str) -> pgharness.Target:
    return pgharness.create_target(server, pgharness.schema_dump(server, source))


@pytest.mark.parametrize("fmt", ["d", "c"])
@pytest.mark.parametrize("fixture", pgharness.fixture_names())
def test_archive_loads_in_parallel_as_owner(
    restore_case: DumpCase, fixture: str, fmt: str, source_db: SourceDb, tmp_path: Path
) -> None:
    """Every fixture as -Fd and -Fc data-only archives loads with pg_restore -j 2 as the owner:
    same rows, same FKs (partitioned ones on 15 too, where an FK on a partitioned table
    cannot come back NOT VALID)."""
    server = restore_case.server
    source = source_db(server, fixture)
    archive = _archive(server, source, fmt, tmp_path, restore_case.pg_dump_bin)
    target = _target(server, source)
    bins = restore_case.pg_dump_bin.parent
    result = _dumpfix(archive, "--dsn", server.dsn(target.dbname, target.owner), "--jobs", "2", bin_dir=bins)
    assert result.returncode == 0, result.stderr
    assert "FKs back and validated" in result.stderr
    pgharness.assert_same(server, source, target.dbname)
    assert _fks(server, target.dbname) == _fks(server, source)
    assert _leftover(server, target.dbname) == "0"


def test_fk_details_survive(restore_case: DumpCase, tmp_path: Path) -> None:
    """Deferrability, MATCH FULL and actions, NOT VALID (over an orphan) and comments come back as they were:
    NOT ENFORCED on 18.4+ and DROP on 15 both end as the source's pg_constraint rows."""
    server = restore_case.server
    source = pgharness.create_database(server, DETAILS_SQL)
    archive = _archive(server, source, "d", tmp_path, restore_case.pg_dump_bin)
    target = _target(server, source)
    before = _fks(server, target.dbname)
    assert before == _fks(server, source)
    result = _dumpfix(
        archive,
        "--dsn",
        server.dsn(target.dbname, target.owner),
        "--jobs",
        "2",
        bin_dir=restore_case.pg_dump_bin.parent,
    )
    assert result.returncode == 0, result.stderr
    pgharness.assert_same(server, source, target.dbname)
    assert _fks(server, target.dbname) == before


def test_dangling_reference_leaves_every_fk_in_place(pg_server: Server, tmp_path: Path) -> None:
    """An orphan row: exit 2 naming the FK and the key; the FK stays (NOT VALID) and checks new rows;
    --finish validates once the row is fixed, and then removes dumpfix's schema."""
    source = pgharness.create_database(
        pg_server,
        """
        CREATE TABLE parent (id int PRIMARY KEY);
        CREATE TABLE child (id int PRIMARY KEY, parent_id int);
        INSERT INTO parent VALUES (1), (2);
        INSERT INTO child VALUES (1, 1), (2, 42);""",
    )
    archive = _archive(pg_server, source, "c", tmp_path)
    schema = pgharness.schema_dump(pg_server, source)
    schema += b"ALTER TABLE public.child ADD CONSTRAINT child_parent_fkey FOREIGN KEY (parent_id) REFERENCES public.parent(id);\n"
    target = pgharness.create_target(pg_server, schema)
    dsn = pg_server.dsn(target.dbname, target.owner)
    result = _dumpfix(archive, "--dsn", dsn, "--jobs", "2", bin_dir=pg_server.bin_dir)
    assert result.returncode == 2, result.stderr
    assert "child_parent_fkey" in result.stderr and "(parent_id)=(42)" in result.stderr
    assert len(result.stderr.strip().splitlines()[-1]) > 0 and "Traceback" not in result.stderr
    assert _fks(pg_server, target.dbname) == [
        "child|child_parent_fkey|FOREIGN KEY (parent_id) REFERENCES parent(id) NOT VALID|f|f|f|<none>"
    ]
    with pytest.raises(pgharness.HarnessError, match="violates foreign key constraint"):
        pg_server.psql(target.dbname, "INSERT INTO child VALUES (3, 77)", user=target.owner)
    # The same command again finishes first, and fails the same way: never a silent success.
    again = _dumpfix(archive, "--dsn", dsn, "--jobs", "2", bin_dir=pg_server.bin_dir)
    assert again.returncode == 2 and "(parent_id)=(42)" in again.stderr
    pg_server.psql(target.dbname, "DELETE FROM child WHERE parent_id = 42", user=target.owner)
    finished = _dumpfix("--finish", "--dsn", dsn, "--jobs", "2")
    assert finished.returncode == 0, finished.stderr
    assert _fks(pg_server, target.dbname)[0].split("|")[3] == "t"
    assert _leftover(pg_server, target.dbname) == "0"


def test_dangling_reference_from_a_partitioned_table(restore_case: DumpCase, tmp_path: Path) -> None:
    """An orphan row in a partitioned table: on 18 its FK comes back NOT VALID; before 18,
    where PostgreSQL cannot add it NOT VALID, it stays off and pending. Either way exit 2
    naming the FK and the key, and --finish puts it back validated once the row is fixed."""
    server = restore_case.server
    source = pgharness.create_database(
        server,
        """
        CREATE TABLE parent (id int PRIMARY KEY);
        CREATE TABLE child (id int, parent_id int) PARTITION BY RANGE (id);
        CREATE TABLE child_low PARTITION OF child FOR VALUES FROM (0) TO (10);
        CREATE TABLE child_high PARTITION OF child FOR VALUES FROM (10) TO (100);
        INSERT INTO parent VALUES (1), (2);
        INSERT INTO child VALUES (1, 1), (12, 42);""",
    )
    archive = _archive(server, source, "d", tmp_path, restore_case.pg_dump_bin)
    schema = pgharness.schema_dump(server, source)
    schema += b"ALTER TABLE public.child ADD CONSTRAINT child_parent_fkey FOREIGN KEY (parent_id) REFERENCES public.parent(id);\n"
    target = pgharness.create_target(server, schema)
    fks = _fks(server, target.dbname)
    dsn = server.dsn(target.dbname, target.owner)
    bins = restore_case.pg_dump_bin.parent
    result = _dumpfix(archive, "--dsn", dsn, "--jobs", "2", bin_dir=bins)
    assert result.returncode == 2, result.stderr
    assert "child_parent_fkey" in result.stderr and "(parent_id)=(42)" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    if server.version >= 18:
        assert "NOT VALID" in _fks(server, target.dbname)[0]
    else:
        assert "could not be put back" in result.stderr
        assert _fks(server, target.dbname) == []
    pending = "SELECT name, state FROM dumpfix.pending_fks"
    assert server.psql(target.dbname, pending).split() == [
        "child_parent_fkey|" + ("restored" if server.version >= 18 else "off")
    ]
    server.psql(target.dbname, "DELETE FROM child WHERE parent_id = 42", user=target.owner)
    finished = _dumpfix("--finish", "--dsn", dsn, "--jobs", "2")
    assert finished.returncode == 0, finished.stderr
    assert _fks(server, target.dbname) == fks
    assert _leftover(server, target.dbname) == "0"


def test_pg_restore_failure_puts_every_fk_back(pg_server: Server, source_db: SourceDb, tmp_path: Path) -> None:
    """pg_restore fails (the target lacks a column): exit 2 saying so, every FK back in place."""
    source = source_db(pg_server, "shop")
    archive = _archive(pg_server, source, "d", tmp_path)
    schema = pgharness.schema_dump(pg_server, source).replace(
        b"    price numeric(10,2) NOT NULL\n", b"    pricey int\n"
    )
    assert b"pricey" in schema
    target = pgharness.create_target(pg_server, schema)
    before = _fks(pg_server, target.dbname)
    result = _dumpfix(
        archive, "--dsn", pg_server.dsn(target.dbname, target.owner), "--jobs", "2", bin_dir=pg_server.bin_dir
    )
    assert result.returncode == 2, result.stderr
    assert "pg_restore failed" in result.stderr or "NOT VALID" in result.stderr
    after = _fks(pg_server, target.dbname)

    # Each FK is there with its definition (NOT VALID only when partial data breaks it).
    def strip(rows: list[str]) -> list[list[str]]:
        fields = [r.replace(" NOT VALID", "").split("|") for r in rows]
        return [f[:3] + f[4:] for f in fields]

    assert strip(after) == strip(before)


def test_killed_load_is_finished_by_the_same_command(pg_server: Server, tmp_path: Path) -> None:
    """SIGKILL to dumpfix (and its pg_restore) after the pre step: the same command again puts the
    FKs back and says the data is partial (exit 2); emptied tables then load as usual."""
    source = pgharness.create_database(
        pg_server,
        """
        CREATE TABLE big (id int PRIMARY KEY, pad text);
        CREATE TABLE p (id int PRIMARY KEY, q_id int);
        CREATE TABLE q (id int PRIMARY KEY, p_id int NOT NULL REFERENCES p (id));
        ALTER TABLE p ADD CONSTRAINT p_q_id_fkey FOREIGN KEY (q_id) REFERENCES q (id) DEFERRABLE;
        INSERT INTO big SELECT i, repeat('x', 100) FROM generate_series(1, 5000) i;
        BEGIN; SET CONSTRAINTS ALL DEFERRED;
        INSERT INTO p SELECT i, i FROM generate_series(1, 10) i;
        INSERT INTO q SELECT i, i FROM generate_series(1, 10) i;
        COMMIT;""",
    )
    archive = _archive(pg_server, source, "d", tmp_path)
    target = _target(pg_server, source)
    dsn = pg_server.dsn(target.dbname, target.owner)
    before = _fks(pg_server, target.dbname)
    # The largest table loads first (-j 1): a lock held here stops the load right after the pre step.
    locker = subprocess.Popen(
        [
            str(pg_server.bin_dir / "psql"),
            "-X",
            "-q",
            "-d",
            target.dbname,
            "-c",
            "BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);",
        ],
        env={**pg_server.env(), "PGAPPNAME": "dumpfix_test_locker"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        proc = subprocess.Popen(
            [sys.executable, "-m", "dumpfix", str(archive), "--dsn", dsn, "--jobs", "1"],
            env=_env(pg_server.bin_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        off = "0"
        for _ in range(200):
            time.sleep(0.1)
            if pg_server.psql(target.dbname, "SELECT to_regclass('dumpfix.pending_fks') IS NULL").strip() == "t":
                continue
            off = pg_server.psql(target.dbname, "SELECT count(*) FROM dumpfix.pending_fks WHERE state = 'off'").strip()
            if off != "0":
                break
        assert off == "2"
        time.sleep(0.5)  # pg_restore is waiting for the lock now
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        pg_server.psql(
            target.dbname,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'dumpfix_test_locker'",
        )
        locker.wait()
    again = _dumpfix(archive, "--dsn", dsn, "--jobs", "1", bin_dir=pg_server.bin_dir)
    assert again.returncode == 2, again.stderr
    assert "interrupted before pg_restore finished" in again.stderr
    assert _fks(pg_server, target.dbname) == before
    assert _leftover(pg_server, target.dbname) == "0"
    pg_server.psql(target.dbname, "TRUNCATE big, p, q", user=target.owner)
    last = _dumpfix(archive, "--dsn", dsn, "--jobs", "2", bin_dir=pg_server.bin_dir)
    assert last.returncode == 0, last.stderr
    pgharness.assert_same(pg_server, source, target.dbname)
    assert _fks(pg_server, target.dbname) == before


@pytest.mark.parametrize("fixture", ["shop", "partitioned"])
def test_plan_folder_and_its_script_restore(
    restore_case: DumpCase, fixture: str, source_db: SourceDb, tmp_path: Path
) -> None:
    """--schema S --jobs 2 -o DIR writes the steps, the list and both scripts; restore.sh restores
    (on 15 too, where FKs on and to partitioned tables come back validated at once)."""
    pg_server = restore_case.server
    source = source_db(pg_server, fixture)
    archive = _archive(pg_server, source, "d", tmp_path, restore_case.pg_dump_bin)
    (tmp_path / "schema.sql").write_bytes(pgharness.schema_dump(pg_server, source))
    result = _dumpfix(
        archive,
        "--schema",
        "schema.sql",
        "--jobs",
        "2",
        "-o",
        "plan",
        bin_dir=restore_case.pg_dump_bin.parent,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    plan = tmp_path / "plan"
    for name in ["pre.sql", "restore.list", "post.sql", "finish.sql", "loaded.sql", "restore.sh", "restore.ps1"]:
        assert (plan / name).is_file(), name
    listed = [line for line in (plan / "restore.list").read_text().splitlines() if "TABLE DATA" in line]
    tables = pg_server.psql(
        source, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
    )
    assert len(listed) == int(tables) and "largest tables first" in (plan / "restore.list").read_text()
    declared = pg_server.psql(source, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0")
    assert len(list((plan / "validate").glob("*.sql"))) == int(declared)
    target = _target(pg_server, source)
    env = _env(restore_case.pg_dump_bin.parent)
    run = subprocess.run(
        ["sh", str(plan / "restore.sh"), pg_server.dsn(target.dbname, target.owner)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    pgharness.assert_same(pg_server, source, target.dbname)
    assert _fks(pg_server, target.dbname) == _fks(pg_server, source)
    assert _leftover(pg_server, target.dbname) == "0"


@pytest.mark.pg_pair(18, 15)  # deselected, with the reason counted, where either is missing; CI needs both
def test_only_an_older_pg_restore_is_a_clear_error(pg_pool, tmp_path: Path) -> None:
    """An archive of pg_dump 18 with only pg_restore 15 around: one line naming both, exit 2."""
    pg_server = pg_pool.get(18)
    old = pg_pool.client_bins[15]
    source = pgharness.create_database(pg_server, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);")
    archive = _archive(pg_server, source, "c", tmp_path)
    env = _env(None)
    env["PATH"] = f"{old}{os.pathsep}/usr/bin{os.pathsep}/bin"
    result = subprocess.run(
        [sys.executable, "-m", "dumpfix", str(archive), "--dsn", pg_server.dsn(source), "--jobs", "2"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "newer pg_dump" in lines[0] and "unsupported version" in lines[0], result.stderr


def test_plain_and_tar_input_refused(tmp_path: Path) -> None:
    """--jobs takes only what pg_restore -j loads: a plain dump is one line and exit 2."""
    (tmp_path / "plain.sql").write_text("COPY t (id) FROM stdin;\n1\n\\.\n")
    result = _dumpfix(tmp_path / "plain.sql", "--dsn", "dbname=x", "--jobs", "2")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"dumpfix: error: {tmp_path / 'plain.sql'}: --jobs loads a pg_dump custom (-Fc) or directory (-Fd) "
        "archive; this is neither (a plain SQL dump: pipe it through dumpfix into psql without --jobs)"
    ]


@pytest.mark.parametrize("rows, hashjoin", [(3, "off"), (1_000_000, "on")])
def test_a_validation_reads_a_large_parent_in_key_order(pg_server: Server, rows: int, hashjoin: str) -> None:
    """Validating an FK to a table of more rows than the threshold turns hash joins off
    for its own transaction (the planner's estimate: a fresh load has no statistics); a
    name that holds the dollar quote's tag changes the tag, and stays one literal."""
    from dumpfix.statements import merge_join_above

    child = '"we$dumpfix$ird"'
    db = pgharness.create_database(
        pg_server,
        "CREATE TABLE parent (id int PRIMARY KEY);\n"
        "INSERT INTO parent SELECT generate_series(1, 1000);\n"
        f'CREATE TABLE {child} (p int CONSTRAINT "fk$dumpfix$" REFERENCES parent);\n',
    )
    statement = merge_join_above(f"public.{child}", "fk$dumpfix$", rows)
    assert statement.startswith("DO $dumpfix1$")
    shown = pgharness.run_checked(
        [
            str(pg_server.bin_dir / "psql"),
            "-X",
            "-q",
            "-At",
            "-d",
            db,
            "-c",
            "BEGIN",
            "-c",
            statement,
            "-c",
            "SHOW enable_hashjoin",
            "-c",
            "COMMIT",
        ],
        env=pg_server.env(),
    )
    assert shown.decode().split() == [hashjoin]


def test_an_fk_not_valid_in_the_schema_is_not_validated_early(
    restore_case: DumpCase, source_db: SourceDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every data entry said loaded while the finish step has not run yet: the early
    validation validates what the schema has valid and leaves marks_loose_fk (NOT VALID
    there, and in the source) to the finish step, which puts it back NOT VALID. Before, it
    came back valid whenever the early validation reached it before pg_restore ended."""
    from dumpfix import archive, pending
    from dumpfix.live import load_catalog
    from dumpfix.toc import read_toc

    server = restore_case.server
    source = source_db(server, "fk_variety")
    path = _archive(server, source, "d", tmp_path, restore_case.pg_dump_bin)
    target = _target(server, source)
    dsn = server.dsn(target.dbname, target.owner)
    monkeypatch.setenv("PATH", str(restore_case.pg_dump_bin.parent) + os.pathsep + os.environ.get("PATH", ""))
    toc = read_toc(str(path))
    catalog = load_catalog(dsn)
    fks = archive.taken_off(catalog, toc)
    assert [p.name for p in fks if not p.validated] == ["marks_loose_fk"]
    schedule = archive._Schedule.of(catalog, toc, fks)
    archive._execute(dsn, pending.pre_step(fks))
    early = archive._Early(dsn, schedule, 2)
    for dump_id in schedule.names.values():
        early.done(dump_id)
    early.pool.shutdown(wait=True)  # every validation run (close() would cancel those not begun)
    early.close()
    assert early.validated == len(fks) - 1
    done = archive.finish(dsn, 2)
    assert (done.failures, done.still_off) == ((), ())
    assert _fks(server, target.dbname) == _fks(server, source)
    assert _leftover(server, target.dbname) == "0"


@pytest.mark.parametrize(
    "jobs, lines",
    [
        (
            2,
            [
                b"pg_restore: launching item 11 TABLE DATA a\n",
                b"pg_restore: finished item 11 TABLE DATA a\n",
                b"pg_restore: finished item 12 TABLE DATA b\n",
                b"pg_restore: finished item 13 TABLE DATA c\n",
            ],
        ),
        (
            1,
            [
                b'pg_restore: processing data for table "public.a"\n',
                b'pg_restore: processing data for table "public.b"\n',
                b'pg_restore: processing data for table "public.c"\n',
            ],
        ),
    ],
)
def test_an_fk_is_validated_once_both_its_tables_are_loaded(
    monkeypatch: pytest.MonkeyPatch, jobs: int, lines: list[bytes]
) -> None:
    """pg_restore -v's lines tell which data entries are loaded: an FK goes back (and is
    validated) once its table's and its referenced table's are, while the load goes on;
    with -j 1 a table is loaded when the next one begins (the last one: by the finish step)."""
    from dumpfix import archive

    schedule = archive._Schedule(
        {
            ("public.b", "b_a"): frozenset({11, 12}),
            ("public.c", "c_b"): frozenset({12, 13}),
            ("public.d", "d_a"): frozenset({11}),
        },
        {"public.a": 11, "public.b": 12, "public.c": 13},
    )
    seen: list[tuple[str, tuple[str, str]]] = []
    monkeypatch.setattr(archive._Early, "_validate", lambda self, table, name: seen.append(("valid", (table, name))))
    early = archive._Early("postgresql://unused", schedule, jobs)
    for line in lines:
        early.line(line)
        early.pool.shutdown(wait=True)  # each job done before the next line: the order is kept
        early.pool = archive.ThreadPoolExecutor(max_workers=1)
        seen.append(("line", (line.decode().strip(), "")))
    early.close()
    fks = [fk for kind, fk in seen if kind == "valid"]
    if jobs == 2:
        assert fks == [("public.d", "d_a"), ("public.b", "b_a"), ("public.c", "c_b")]
        at = seen.index(("valid", ("public.d", "d_a")))  # on the line saying its entry finished (listed after)
        assert seen[at + 1] == ("line", ("pg_restore: finished item 11 TABLE DATA a", ""))
    else:  # c is last: not known to be loaded until pg_restore ends
        assert fks == [("public.d", "d_a"), ("public.b", "b_a")]
