"""examples/: what a new user tries first, kept true to the real pg_dump and restorable.

examples/source.sql builds the example shop; schema.sql and backup.sql are what
pg_dump 18 makes of it (--schema-only, --data-only), and backup-powershell.sql is
backup.sql as Windows PowerShell 5's ``>`` writes it (UTF-16 LE with a BOM, CRLF).
The first test makes them again and fails when the committed files drift; run it
with DUMPFIX_REGENERATE_EXAMPLES=1 to write them anew.
"""

from __future__ import annotations

import codecs
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pgharness
from conftest import REPO_ROOT
from pgharness import ServerPool

EXAMPLES = REPO_ROOT / "examples"
SOURCE = EXAMPLES / "source.sql"
SCHEMA = EXAMPLES / "schema.sql"
BACKUP = EXAMPLES / "backup.sql"
POWERSHELL = EXAMPLES / "backup-powershell.sql"
MAJOR = 18
# What differs between two runs of the same pg_dump on the same data.
_VOLATILE = re.compile(rb"(?m)^(\\(?:un)?restrict) \S+$|^(-- Dumped (?:from database|by pg_dump) version) .*$")


def _stable(dump: bytes) -> bytes:
    return _VOLATILE.sub(lambda m: (m.group(1) or m.group(2)) + b" ...", dump)


def powershell(dump: bytes) -> bytes:
    """What PowerShell 5's ``pg_dump ... > file`` leaves: UTF-16 LE with a BOM, CRLF."""
    return codecs.BOM_UTF16_LE + dump.decode("utf-8").replace("\n", "\r\n").encode("utf-16-le")


@pytest.mark.pg_pair(MAJOR, MAJOR)  # deselected, with the reason counted, where missing; CI needs it
def test_examples_are_what_pg_dump_makes(pg_pool: ServerPool) -> None:
    server = pg_pool.get(MAJOR)
    source = pgharness.create_database(server, SOURCE.read_text(encoding="utf-8"))
    schema = pgharness.schema_dump(server, source)
    backup = pgharness.pg_dump(server, source, "--data-only")
    if os.environ.get("DUMPFIX_REGENERATE_EXAMPLES") == "1":
        SCHEMA.write_bytes(schema)
        BACKUP.write_bytes(backup)
        POWERSHELL.write_bytes(powershell(backup))
    assert _stable(SCHEMA.read_bytes()) == _stable(schema)
    assert _stable(BACKUP.read_bytes()) == _stable(backup)


def test_powershell_example_is_the_backup_as_powershell_writes_it() -> None:
    assert POWERSHELL.read_bytes() == powershell(BACKUP.read_bytes())


@pytest.mark.parametrize("dump", [BACKUP, POWERSHELL], ids=["utf8", "powershell"])
def test_example_restores_as_the_owner(pg_pool: ServerPool, dump: Path, tmp_path: Path) -> None:
    """The fixed example loads as an ordinary table owner with every row and sequence intact."""
    server = pg_pool.newest()
    source = pgharness.create_database(server, SOURCE.read_text(encoding="utf-8"))
    out = tmp_path / "fixed.sql"
    result = subprocess.run(
        [sys.executable, "-m", "dumpfix", str(dump), "--schema", str(SCHEMA), "-o", str(out)],
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    target = pgharness.create_target(server, SCHEMA.read_bytes())
    restored = pgharness.restore(target, out)
    assert restored.returncode == 0, restored.stderr
    pgharness.assert_same(server, source, target.dbname)


def test_the_backup_does_not_restore_as_it_is(pg_pool: ServerPool) -> None:
    """Why the example exists: plain psql stops on an FK violation."""
    server = pg_pool.newest()
    target = pgharness.create_target(server, SCHEMA.read_bytes())
    restored = pgharness.restore(target, BACKUP)
    assert restored.returncode != 0
    assert "violates foreign key constraint" in restored.stderr
