"""programs.py: PostgreSQL's programs found and run one way, failing in one line, stopped when interrupted.

The program stopped is a real psql in a real pg_sleep; that it is gone is read from
the server, which ends the backend once its client is (client_connection_check_interval).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dumpfix import programs
from dumpfix.errors import DumpfixError
from dumpfix.output import sigterm_as_interrupt
from pgharness import Server, unique_name

_SLEEPING = "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{name}'"


def _psql(server: Server, *sql: str) -> list[str]:
    args = [str(server.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", "postgres"]
    for each in sql:
        args += ["-c", each]
    return args


def test_the_named_folder_comes_first(pg_server: Server) -> None:
    found = programs.candidates("psql", pg_server.bin_dir)
    assert found[0] == str(pg_server.bin_dir / "psql")
    assert programs.locate("psql", pg_server.bin_dir) == found[0]
    assert len({os.path.realpath(p) for p in found}) == len(found)
    assert programs.version(found[0])[0] == pg_server.version


def test_a_failure_is_one_line_naming_the_program(pg_server: Server) -> None:
    with pytest.raises(programs.ProgramError) as raised:
        programs.run(_psql(pg_server, "SELECT 1", "SELECT * FROM nowhere"), env=pg_server.env())
    assert isinstance(raised.value, DumpfixError) and raised.value.exit_code == 2
    assert str(raised.value) == 'psql: ERROR: relation "nowhere" does not exist'
    result = programs.run(_psql(pg_server, "SELECT * FROM nowhere"), env=pg_server.env(), check=False)
    assert result.returncode != 0 and result.message == str(raised.value).removeprefix("psql: ")


def test_a_program_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "pg_restore")
    with pytest.raises(programs.ProgramError, match=rf"^pg_restore: cannot run {missing}: "):
        programs.run([missing, "--version"], check=False)


@pytest.fixture
def no_process_groups(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The OS without sessions and killpg, as on Windows: the program alone is killed."""
    monkeypatch.delattr(os, "setsid", raising=False)
    monkeypatch.delattr(os, "killpg", raising=False)
    assert programs.detached() == {}
    yield


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("groups", ["process groups", "fallback"])
def test_an_interrupted_program_is_stopped(
    pg_server: Server, how: str, groups: str, request: pytest.FixtureRequest
) -> None:
    """Ctrl-C or SIGTERM while psql sleeps: the interrupt goes on and psql is gone at once,
    with process groups and without (the fallback Windows takes)."""
    if groups == "fallback":
        request.getfixturevalue("no_process_groups")
    name = unique_name("sleeper")
    env = dict(pg_server.env(), PGAPPNAME=name, PGOPTIONS="-c client_connection_check_interval=100")

    def interrupt_once_asleep() -> None:
        deadline = time.monotonic() + 30
        while pg_server.psql("postgres", _SLEEPING.format(name=name)).strip() == "0":
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        os.kill(os.getpid(), getattr(signal, how))

    interrupter = threading.Thread(target=interrupt_once_asleep)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        interrupter.start()
        programs.run(_psql(pg_server, "SELECT pg_sleep(60)"), env=env)
    interrupter.join()
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 10
    while pg_server.psql("postgres", _SLEEPING.format(name=name)).strip() != "0":
        assert time.monotonic() < deadline, "psql's backend is still there: psql was not stopped"
        time.sleep(0.05)
