"""Every command the README's recipes and --help's examples show, run as written.

A reader copies these into a shell: each block runs in bash (with pipefail, as a
careful user would) against a real server, from a folder holding the files the
examples name, and each restore ends with the target equal to the source. Only
the database names of the local-server recipe are the test's own (`shop` and
`shop_copy` would clash between runs); $SRC and $DST are set as a user sets them.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import pgharness
from conftest import REPO_ROOT
from dumpfix.cli import command
from pgharness import Server, ServerPool

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = REPO_ROOT / "examples"
_COMMANDS = ("createdb ", "pg_dump ", "psql ", "dumpfix ")


def _blocks(text: str) -> list[list[str]]:
    """The indented blocks of text whose lines are commands (not a command's output)."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("    ") and line.strip().startswith(_COMMANDS):
            current.append(line.strip())
        elif current:
            blocks.append(current)
            current = []
    return blocks


def _recipes() -> list[list[str]]:
    section = README.split("### Recipes", 1)[1].split("\n### ", 1)[0]
    return _blocks(section)


def _help_examples() -> list[str]:
    text = CliRunner().invoke(command, ["--help"]).stdout
    section = text.split("Examples:", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in section.splitlines() if line.strip()]


def test_the_recipes_are_found() -> None:
    assert len(_recipes()) >= 6 and len(_help_examples()) >= 6


@pytest.fixture
def world(pg_pool: ServerPool, tmp_path: Path) -> tuple[Server, str, dict[str, str]]:
    """The example shop on the newest server, a folder with the files the examples
    name, and an environment where pg_dump, psql and dumpfix are on PATH."""
    server = pg_pool.newest()
    source = pgharness.create_database(server, (EXAMPLES / "source.sql").read_text(encoding="utf-8"))
    shutil.copy(EXAMPLES / "backup.sql", tmp_path / "backup.sql")
    shutil.copy(EXAMPLES / "schema.sql", tmp_path / "schema.sql")
    (tmp_path / "migrations").mkdir()
    shutil.copy(EXAMPLES / "schema.sql", tmp_path / "migrations" / "001_shop.sql")
    (tmp_path / "backups").mkdir()
    shutil.copy(EXAMPLES / "backup.sql", tmp_path / "backups" / "monday.sql")
    (tmp_path / "backups" / "monday.sql.gz").write_bytes(gzip.compress((EXAMPLES / "backup.sql").read_bytes()))
    (tmp_path / ".git").mkdir()  # no pyproject.toml of the repository is found from here
    env = server.env()
    bins = [str(server.bin_dir), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join([*bins, env.get("PATH", "")])
    env["PYTHONPATH"] = str(REPO_ROOT)
    return server, source, env


def _bash(lines: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + "\n".join(lines) + "\n"
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _target(server: Server, env: dict[str, str]) -> pgharness.Target:
    target = pgharness.create_target(server, (EXAMPLES / "schema.sql").read_bytes())
    env["DST"] = server.dsn(target.dbname, target.owner)
    return target


@pytest.mark.parametrize("block", _recipes(), ids=lambda b: b[0][:50])
def test_readme_recipe_runs_as_written(
    world: tuple[Server, str, dict[str, str]], tmp_path: Path, block: list[str]
) -> None:
    server, source, env = world
    env = dict(env, SRC=server.dsn(source))
    if block[0].startswith("createdb "):  # the local-server recipe names its databases
        copy = pgharness.unique_name("copy")
        block = [re.sub(r"\bshop\b", source, re.sub(r"\bshop_copy\b", copy, line)) for line in block]
        try:
            result = _bash(block, tmp_path, env)
            assert result.returncode == 0, result.stderr
            pgharness.assert_same(server, source, copy)
        finally:
            server.psql(server.maintenance_db, f'DROP DATABASE IF EXISTS "{copy}"')
        return
    target = _target(server, env)
    result = _bash(block, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr, result.stderr
    pgharness.assert_same(server, source, target.dbname)


@pytest.mark.parametrize("example", _help_examples(), ids=lambda e: e[:50])
def test_help_example_runs_as_written(world: tuple[Server, str, dict[str, str]], tmp_path: Path, example: str) -> None:
    server, source, env = world
    env = dict(env, SRC=server.dsn(source))
    target = _target(server, env) if "$DST" in example else None
    result = _bash([example], tmp_path, env)
    expected = 1 if example.startswith("dumpfix --check") else 0  # the backups need fixing
    assert result.returncode == expected, result.stderr
    if target is not None:
        assert "ERROR" not in result.stderr, result.stderr
        pgharness.assert_same(server, source, target.dbname)
    if example.startswith("dumpfix --in-place"):
        assert (tmp_path / "plan.mmd").exists() and (tmp_path / "backup.sql").read_bytes() != (
            EXAMPLES / "backup.sql"
        ).read_bytes()
    if "> defer_fks.sql" in example:
        assert "DEFERRABLE INITIALLY DEFERRED" in (tmp_path / "defer_fks.sql").read_text()
