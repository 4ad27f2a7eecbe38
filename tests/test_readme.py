"""The README is the manual: it must name every option, keep CI's commands, and show
only commands dumpfix accepts."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dumpfix.cli import command

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _help_options() -> list[str]:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    section = result.stdout.split("Options:", 1)[1].split("Examples:", 1)[0]
    return sorted(set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", section)))


def test_help_lists_options() -> None:
    options = _help_options()
    assert "--check" in options and "--in-place" in options and "-o" in options
    assert len(options) >= 20


@pytest.mark.parametrize("option", _help_options())
def test_readme_documents_every_option(option: str) -> None:
    assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", README), f"README.md does not mention {option}"


def _ci_lines() -> list[str]:
    return [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]


def test_readme_test_command_is_what_ci_runs() -> None:
    assert "    .venv/bin/python -m pytest" in README.splitlines()
    # CI wraps it (timeout, stdin) but runs exactly this command, without extra arguments.
    runs = [line for line in _ci_lines() if re.search(r"\.venv/bin/python -m pytest(?: <|$)", line)]
    assert runs, "no line of .ci/run runs the README's test command"


def test_readme_install_command_is_what_ci_runs() -> None:
    install = next(line for line in _ci_lines() if line.startswith(".venv/bin/pip install") and "-e" in line)
    assert " -q" in install  # CI is quiet; the README shows the same command without -q
    assert "    " + install.replace(" -q", "") in README.splitlines()
    assert "python3 -m venv .venv" in _ci_lines()


QUICK_START = (
    "    python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/dumpfix examples/backup.sql "
    "--schema examples/schema.sql -o fixed.sql --explain"
)


def test_quick_start_installs_the_runtime_only_and_fixes_the_example() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    section = re.sub(r"(?s)```text\n.*?```", "", section)  # what the command prints
    blocks = [line for line in section.splitlines() if line.startswith("    ")]
    assert blocks[0] == QUICK_START  # the first command: no test extras
    assert "[test]" in blocks[1] and blocks[2] == "    .venv/bin/python -m pytest"


def test_quick_start_shows_what_the_command_prints(tmp_path: Path) -> None:
    """The command of the first block, run from a clone's root, prints the plan shown under it."""
    args = shlex.split(QUICK_START.split(".venv/bin/dumpfix ", 1)[1])
    shutil.copytree(ROOT / "examples", tmp_path / "examples")  # a clone's root, as far as the command sees
    result = subprocess.run(
        [sys.executable, "-m", "dumpfix", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    shown = README.split("## Quick start", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    assert result.stderr == shown
    assert (tmp_path / "fixed.sql").stat().st_size > 0


def test_readme_has_the_powershell_pipe_and_each_platform() -> None:
    windows = README.split("**Windows PowerShell.**", 1)[1].split("\n**", 1)[0].split("###", 1)[0]
    commands = [line.strip() for line in windows.splitlines() if line.startswith("    ")]
    assert commands[0].startswith("pg_dump --data-only -f ")  # files first: PowerShell 5 re-encodes pipes
    assert commands[2].startswith("psql -v ON_ERROR_STOP=1 -f ")
    for heading in (
        "**Neon.**",
        "**Supabase.**",
        "**Amazon RDS / Aurora.**",
        "**Windows PowerShell.**",
        "A local server",
    ):
        assert heading in README


def _readme_invocations() -> list[list[str]]:
    """The dumpfix part of every command line in the README's indented code blocks."""
    found = []
    for line in README.splitlines():
        if not line.startswith("    ") or "dumpfix " not in line or line.strip().startswith(("-", "#", "pip")):
            continue
        for part in line.split("|"):
            words = shlex.split(part.split("#")[0].split(">")[0])
            synopsis = {"IN", "FILE...", "[options]"} & set(words)  # the usage lines
            if words and words[0] in ("dumpfix", ".venv/bin/dumpfix") and not synopsis:
                found.append(words[1:])
    return found


def test_readme_commands_are_found() -> None:
    assert len(_readme_invocations()) >= 10


@pytest.mark.parametrize("args", _readme_invocations(), ids=lambda a: " ".join(a)[:60])
def test_readme_commands_parse(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        command.make_context("dumpfix", list(args))
    except click.UsageError as e:
        pytest.fail(f"README command `dumpfix {' '.join(args)}` does not parse: {e}")
