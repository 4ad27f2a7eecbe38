"""``--verify``: prove that a dump restores, by restoring it where nothing else lives.

For each dump: a fresh database on a scratch server (scratch.py), owned by an
ordinary role that also loads the schema; dumpfix's output for the dump (the bytes
``dumpfix FILE`` writes with the same options) restored with ``psql -v
ON_ERROR_STOP=1 -f`` as that role; then pg_dump's data-only dump of what was
loaded, in the input's format, compared table by table with the input (tally.py):
row counts, a digest of the rows in any order, and every setval. The user's
databases are never written: ``--dsn`` is only read, by pg_dump --schema-only.

The exit code follows: a dump that does not restore, or restores into something
other than what it holds, is a verification failure (exit 1); not being able to
verify at all (no server, a schema that does not load) is an error (exit 2).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from dumpfix import programs, scratch
from dumpfix.catalog import QName
from dumpfix.dumpfile import Item, Kind, line_number
from dumpfix.errors import DumpfixError
from dumpfix.fix import Analysis, write
from dumpfix.output import sigterm_as_interrupt
from dumpfix.parallel import split_items
from dumpfix.report import count_of
from dumpfix.schema import schema_files, schema_script
from dumpfix.source import Source, open_source
from dumpfix.tally import Tally, tally

_ENCODING = re.compile(rb"SET\s+client_encoding\s*(?:=|TO)\s*'([A-Za-z0-9_-]+)'", re.IGNORECASE)
_PSQL_ERROR = re.compile(r"^psql:(.*):(\d+): (?:ERROR|FATAL|error):\s+(.*)$")
_ALTER_TABLE = re.compile(rb"ALTER TABLE (\S+) (?:ADD|ALTER) CONSTRAINT ")
_DETAIL = re.compile(r"^(DETAIL|HINT|CONTEXT):\s+(.*)$")
_MESSAGE_TABLE = re.compile(r'(?:table|relation) "([^"]+)"|^COPY (\S+), line')
_TRANSACTION_TIMEOUT = re.compile(rb"(?m)^SET transaction_timeout = 0;\r?\n")
#: What ties a schema to the source's roles, one line each as pg_dump writes it: the
#: scratch owner role owns everything instead (pg_dump --no-owner --no-privileges).
_OWNERSHIP = re.compile(rb"(?im)^(?:ALTER\s[^;\n]*\sOWNER\s+TO\s[^;\n]*|(?:GRANT|REVOKE)\s[^;\n]*);[ \t]*\r?\n")


class VerifyFailure(DumpfixError):
    """The dump did not restore, or restored into something else: exit 1, not 2."""

    exit_code = 1


@dataclass(frozen=True)
class Line:
    """One row of the verdict's table: a table's rows or a sequence's value."""

    kind: str  # "table" or "sequence"
    name: str
    in_dump: str
    loaded: str
    match: bool
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    """What one dump's verification found."""

    name: str
    lines: tuple[Line, ...]
    #: psql's first error, in one line, when the restore failed.
    failure: str | None
    #: How rows were compared, in words.
    compared: str
    server: str

    @property
    def ok(self) -> bool:
        return self.failure is None and all(line.match for line in self.lines)

    def table(self) -> str:
        """The table for stderr: one line per table, then one per sequence."""
        if self.failure is not None or not self.lines:
            return ""
        rows = [("table", "rows in dump", "rows loaded", "match")]
        rows += [_cells(line) for line in self.lines if line.kind == "table"]
        sequences = [_cells(line) for line in self.lines if line.kind == "sequence"]
        if sequences:
            rows += [("sequence", "setval in dump", "value loaded", "match"), *sequences]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        out = []
        for r in rows:
            cells = [r[0].ljust(widths[0]), r[1].rjust(widths[1]), r[2].rjust(widths[2]), r[3]]
            out.append("  " + "  ".join(cells).rstrip())
        return "\n".join(out)

    def summary(self) -> str:
        """One line: what matched, or the first thing that did not."""
        if self.failure is not None:
            return f"{self.name}: does not restore: {self.failure}"
        tables = [line for line in self.lines if line.kind == "table"]
        sequences = [line for line in self.lines if line.kind == "sequence"]
        wrong = [line for line in self.lines if not line.match]
        if wrong:
            what = "; ".join(f"{w.name}: {w.note or f'{w.in_dump} in the dump, {w.loaded} loaded'}" for w in wrong)
            return f"{self.name}: restores, but not as it is: {what}"
        if not self.lines:
            return f"{self.name}: holds no table data: nothing to verify"
        rows = sum(int(line.in_dump) for line in tables)
        return (
            f"{self.name}: verified: {count_of(len(tables), 'table')} ({count_of(rows, 'row')}) and "
            f"{count_of(len(sequences), 'sequence')} restore as the dump holds them ({self.compared}; {self.server})"
        )


def _cells(line: Line) -> tuple[str, str, str, str]:
    return (
        line.name,
        line.in_dump,
        line.loaded,
        ("yes" if line.match else "NO") + (f" ({line.note})" if line.note else ""),
    )


class Verifier:
    """A run's scratch server, owner role and work folder, made on first use and
    removed when the run ends, however it ends (SIGTERM too)."""

    def __init__(self, server_dsn: str | None, schema: Sequence[Path], dsn: str | None) -> None:
        self.server_dsn = server_dsn
        self.schema = tuple(schema)
        self.dsn = dsn
        self._stack = contextlib.ExitStack()
        self._server: scratch.Server | None = None
        self._owner: tuple[str, str] | None = None
        self._work: Path | None = None
        self._schema_files: list[Path] | None = None

    def __enter__(self) -> Self:
        self._stack.enter_context(sigterm_as_interrupt())
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stack.close()

    def verify(self, name: str, source: Source, analysis: Analysis) -> Verdict:
        """Restore one dump into a database of its own and compare; the database is
        dropped before this returns."""
        if not any(item.kind in (Kind.COPY, Kind.INSERTS) for item in analysis.items):
            return Verdict(name, (), None, "", "")  # a schema file among the backups, say
        server, work = self._server_ready(), self._work_dir()
        owner, password = self._role()
        schema = self._schema(server, work)
        encoding = _client_encoding(source.buf, analysis.items)
        db = self._create_database(server, owner, encoding)
        try:
            self._load_schema(server, db, owner, password, schema)
            fixed = work / "fixed.sql"
            with open(fixed, "wb") as out:
                write(analysis, out)
            as_superuser = analysis.plan.superuser
            restore_user = server.admin if as_superuser else owner
            failure = _restore(server, db, restore_user, None if as_superuser else password, fixed)
            where = f"PostgreSQL {server.version}, as {'the superuser' if as_superuser else 'an ordinary owner role'}"
            if failure is not None:
                return Verdict(name, (), failure, "", where)
            known = frozenset(analysis.catalog.tables)
            targets = {b: u.table for u in analysis.plan.layout.units for b in u.blocks}
            dumped = tally(source.buf, analysis.items, known=known, targets=targets)
            loaded, compared = self._loaded(server, db, owner, password, dumped, analysis, encoding, work)
            return Verdict(name, tuple(_compare(dumped, loaded)), None, compared, where)
        finally:
            with programs.shielded():
                _drop_database(server, db)
                for leftover in work.iterdir():
                    if leftover.is_file():
                        leftover.unlink()

    # Made once per run ---------------------------------------------------------

    def _server_ready(self) -> scratch.Server:
        if self._server is None:
            if self.server_dsn:
                self._server = scratch.named(self.server_dsn)
            else:
                self._server = self._stack.enter_context(scratch.throwaway())
        return self._server

    def _work_dir(self) -> Path:
        if self._work is None:
            folder = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="dumpfix-verify-"))
            self._work = Path(folder)
            (self._work / "schema").mkdir()
        return self._work

    def _role(self) -> tuple[str, str]:
        """An ordinary role (no superuser, no CREATEDB/CREATEROLE/BYPASSRLS) for the run."""
        if self._owner is None:
            server = self._server_ready()
            name, password = f"dumpfix_verify_{secrets.token_hex(4)}", secrets.token_hex(16)
            attrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            scratch.psql(server, server.maintenance_db, f"CREATE ROLE {name} {attrs} PASSWORD '{password}'")
            self._owner = (name, password)
            self._stack.callback(_drop_role, server, name)
        return self._owner

    def _schema(self, server: scratch.Server, work: Path) -> list[Path]:
        """The files psql loads the schema from, in order (none: the dump has its DDL)."""
        if self._schema_files is None:
            folder = work / "schema"
            if self.dsn:
                target = folder / "target.sql"
                args = [server.program("pg_dump"), "--schema-only", "--no-owner", "--no-privileges"]
                args += ["-f", str(target), "--dbname", self.dsn]
                programs.run(args, what="pg_dump --schema-only of --dsn")  # the caller's PG* settings apply
                files = [target]
            else:
                files = [f for path in self.schema for f in schema_files(Path(path))]
            self._schema_files = [_prepared(f, folder / f"{i}.sql", server.version) for i, f in enumerate(files)]
        return self._schema_files

    # One dump ------------------------------------------------------------------

    def _create_database(self, server: scratch.Server, owner: str, encoding: str) -> str:
        db = f"dumpfix_verify_{secrets.token_hex(4)}"
        encoding = "SQL_ASCII" if encoding.upper() == "SQL_ASCII" else "UTF8"
        scratch.psql(
            server,
            server.maintenance_db,
            f"CREATE DATABASE {db} OWNER {owner} TEMPLATE template0 ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C'",
        )
        return db

    def _load_schema(self, server: scratch.Server, db: str, owner: str, password: str, files: list[Path]) -> None:
        if not files:
            return
        args = [server.program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        for f in files:
            args += ["-f", str(f)]
        args += ["--dbname", server.conninfo(db, owner)]
        what = "--verify: the schema does not load into the scratch database as an ordinary owner role"
        programs.run(args, env=server.env(password), what=what)

    def _loaded(
        self,
        server: scratch.Server,
        db: str,
        owner: str,
        password: str,
        dumped: Tally,
        analysis: Analysis,
        encoding: str,
        work: Path,
    ) -> tuple[Tally, str]:
        """pg_dump's data-only dump of the restored database, tallied like the input:
        once per format the input uses (COPY; INSERTs, re-dumped with column names)."""
        formats = sorted({t.format for t in dumped.tables.values()}) or ["copy"]
        roots = any(
            (schema_table := analysis.catalog.tables.get(k)) is not None and schema_table.partitioned
            for k in dumped.tables
        )
        known = frozenset(analysis.catalog.tables)
        merged = Tally()
        for fmt in formats:
            path = work / f"loaded-{fmt}.sql"
            args = [server.program("pg_dump"), "--data-only", "--encoding", encoding, "-f", str(path)]
            if fmt == "insert":
                args.append("--column-inserts")
            if roots:  # the input loads partitions through their root: so must this
                args.append("--load-via-partition-root")
            args += ["--dbname", server.conninfo(db, owner)]
            programs.run(args, env=server.env(password), what="--verify: pg_dump of the restored database failed")
            with open_source(str(path)) as source:
                items = split_items(source.input)
                part = tally(source.buf, items, want=dumped.tables, known=known)
            for key, table in part.tables.items():
                if table.format == fmt and (key not in merged.tables or key in dumped.tables):
                    merged.tables[key] = table
            merged.sequences.update(part.sequences)
        names = {"copy": "COPY lines", "insert": "INSERT values"}
        compared = " and ".join(names[f] for f in formats) + " as pg_dump writes them, in any order, by column name"
        return merged, compared


def _prepared(file: Path, copy: Path, server_version: int) -> Path:
    """A schema file as psql should read it: the file itself when it can, else a
    UTF-8 copy without what would undo it (dbmate's down section), what names the
    source's roles (owners, grants), nor settings an older server rejects."""
    data = file.read_bytes()
    body = schema_script(file).encode("utf-8")
    if not _plain_utf8(data):  # decoded from UTF-16 or the file's client_encoding
        body = b"SET client_encoding = 'UTF8';\n" + re.sub(rb"(?im)^SET client_encoding\b[^\n]*\n", b"", body)
    if server_version and server_version < 17:
        body = _TRANSACTION_TIMEOUT.sub(b"", body)
    body = _OWNERSHIP.sub(b"", body)
    if body == data:
        return file
    copy.write_bytes(body)
    return copy


def _plain_utf8(data: bytes) -> bool:
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _client_encoding(buf: bytes, items: list[Item]) -> str:
    for item in items:
        if item.kind is Kind.STATEMENT:
            m = _ENCODING.match(buf, item.start, item.end)
            if m is not None:
                return m.group(1).decode("ascii")
        elif item.kind in (Kind.COPY, Kind.INSERTS):
            break
    return "UTF8"


def _restore(server: scratch.Server, db: str, user: str, password: str | None, fixed: Path) -> str | None:
    """psql -f the fixed dump as the restoring role; psql's first error (None: it loaded)."""
    args = [server.program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(fixed)]
    args += ["--dbname", server.conninfo(db, user)]
    result = programs.run(args, env=server.env(password if password is not None else server.password), check=False)
    if result.returncode == 0:
        return None
    return _first_error(result.stderr.decode("utf-8", "replace"), fixed)


def _first_error(stderr: str, fixed: Path) -> str:
    """psql's first error with the output's line and the table whose data it was in."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        m = _PSQL_ERROR.match(line)
        if m is None:
            continue
        number = int(m.group(2))
        details = []
        for more in lines[i + 1 :]:
            d = _DETAIL.match(more)
            if d is None:
                break
            details.append(f"{d.group(1)}: {d.group(2)}")
        table = _table_at(fixed, number) or _table_altered(fixed, number) or _table_named(m.group(3), details)
        where = f"line {number} of dumpfix's output" + (f", table {table}" if table else "")
        extra = "".join(f" ({d})" for d in details)
        return f"{where}: ERROR: {m.group(3)}{extra}"
    text = " ".join(line.strip() for line in lines if line.strip())
    return f"psql failed: {text or 'no message'}"


def _table_at(fixed: Path, number: int) -> str | None:
    """The table whose data holds that line of the output, if a data block does."""
    with open_source(str(fixed)) as source:
        buf = source.buf
        for item in split_items(source.input):
            if item.kind in (Kind.COPY, Kind.INSERTS) and item.relation is not None:
                first, last = line_number(buf, item.start), line_number(buf, max(item.start, item.end - 1))
                if first <= number <= last:
                    rel = item.relation
                    return str(QName(rel.schema or (item.search_path or ("public",))[0], rel.name))
    return None


def _table_altered(fixed: Path, number: int) -> str | None:
    """The table of dumpfix's own ALTER TABLE on that line (an FK added back or enforced
    again after the data, whose validation fails on a dangling reference), as written."""
    with open(fixed, "rb") as lines:
        for n, line in enumerate(lines, 1):
            if n == number:
                m = _ALTER_TABLE.match(line)
                return m.group(1).decode("utf-8", "replace") if m else None
    return None


def _table_named(message: str, details: list[str]) -> str | None:
    for text in [message, *details]:
        for m in _MESSAGE_TABLE.finditer(text.removeprefix("CONTEXT: ")):
            return m.group(1) or m.group(2)
    return None


def _compare(dumped: Tally, loaded: Tally) -> Iterator[Line]:
    for key, table in dumped.tables.items():
        got = loaded.tables.get(key)
        if got is None:
            yield Line("table", str(key), str(table.rows), "-", False, "not in the restored database")
            continue
        same = got.rows == table.rows and got.digest == table.digest
        note = "" if same or got.rows != table.rows else "same count, other rows"
        yield Line("table", str(key), str(table.rows), str(got.rows), same, note)
    for key, got in sorted(loaded.tables.items()):
        if key not in dumped.tables and got.rows:
            yield Line("table", str(key), "0", str(got.rows), False, "rows the dump does not hold")
    for name, value in dumped.sequences.items():
        theirs = loaded.sequences.get(name)
        shown = _setval(theirs) if theirs is not None else "-"
        yield Line("sequence", name, _setval(value), shown, theirs == value)


def _setval(value: tuple[int, bool]) -> str:
    return str(value[0]) if value[1] else f"{value[0]} (not called)"


def _drop_database(server: scratch.Server, db: str) -> None:
    force = " WITH (FORCE)" if server.version >= 13 else ""
    with contextlib.suppress(DumpfixError):
        scratch.psql(server, server.maintenance_db, f"DROP DATABASE IF EXISTS {db}{force}")


def _drop_role(server: scratch.Server, name: str) -> None:
    with programs.shielded(), contextlib.suppress(DumpfixError):
        scratch.psql(server, server.maintenance_db, f"DROP ROLE IF EXISTS {name}")
