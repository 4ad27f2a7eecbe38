"""Learn the catalog (tables, keys, FKs, triggers) from SQL files with pglast.

Reads ``pg_dump --schema-only`` output and migration folders (Prisma, Drizzle,
Flyway, Rails structure.sql, golang-migrate, dbmate...). The text is split into
statements here, with PostgreSQL's lexical rules and psql's meta-commands in
mind, so that each statement is parsed alone (whole-text parsing is slow on
non-ASCII text) and errors point at a line. ``ddl`` applies what was parsed.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from pglast import ast, parse_sql
from pglast.parser import ParseError, parse_plpgsql_json

from .catalog import Catalog
from .catalog_edits import CatalogDraft
from .ddl import DdlApplier
from .errors import SchemaError
from .lexer import Script, python_codec
from .settings import setting_set

__all__ = ["SchemaError", "Statement", "load_schema", "load_schema_sql", "split_statements"]


class Statement(NamedTuple):
    """One SQL statement without its terminating semicolon."""

    text: str
    #: 1-based line of the statement's first character in its file.
    line: int


# -- splitting ---------------------------------------------------------------
#: Values of standard_conforming_strings that turn it off (PostgreSQL's boolean words).
_SCS_OFF = frozenset({"off", "false", "no", "0", "of", "f", "n"})


def split_statements(text: str) -> Iterator[Statement]:
    """The statements of a psql script, skipping meta-command lines and COPY data.

    The text is read as UTF-8 bytes by the lexer that splits dumps (lexer.Script).
    pglast parses as a server with standard_conforming_strings on: while the script
    has it off (pg_dump of a server set so writes ``SET standard_conforming_strings
    = off;``), a plain '...' string reads its backslashes as escapes, and is given
    to pglast as the E'...' string it then is, so that an FK comment --bulk writes
    back is the one the server holds.
    """
    data = text.encode("utf-8", "surrogatepass")
    script = Script(data)
    line, counted = 1, 0
    for start, end, escaped in script.statements():
        line += data.count(b"\n", counted, start)
        counted = start
        raw = data[start:end]
        found = setting_set(raw, "utf-8")
        for at in reversed(escaped):
            raw = raw[: at - start] + b"E" + raw[at - start :]
        if found is not None and found[0] == "standard_conforming_strings":
            script.escapes = (found[1] or "on").lower() in _SCS_OFF
        yield Statement(raw.decode("utf-8", "surrogatepass"), line)


# -- parsing -----------------------------------------------------------------
# Statements that never change the catalog: not even parsed, so that data in a
# dump costs nothing and syntax pglast does not know cannot stop the load.
# Unknown statements are parsed, so that a typo still stops with its line.
_SKIPPED_FIRST_WORDS = frozenset(
    """insert update delete merge copy grant revoke comment vacuum analyze truncate
    values call lock notify listen begin commit start end rollback savepoint release
    prepare execute deallocate discard checkpoint security refresh cluster reindex
    explain fetch move close declare import load reassign abort table""".split()
)
# First word -> second words (after OR REPLACE) that never matter.
_SKIPPED_OBJECTS = {
    "create": frozenset(
        """function procedure aggregate view materialized sequence type domain extension
        operator cast collation rule policy publication subscription statistics text
        language event server user role foreign conversion access index recursive
        temp temporary transform tablespace database group""".split()
    ),
    "alter": frozenset(
        """function procedure aggregate view materialized sequence type domain extension
        operator collation policy publication subscription statistics text language event
        server user role foreign conversion default database system large routine
        tablespace group owner""".split()
    ),
    "drop": frozenset(
        """function procedure aggregate view materialized sequence type domain extension
        operator cast collation rule policy publication subscription statistics text
        language event server user role foreign conversion access owned routine
        tablespace database group""".split()
    ),
}
_FIRST_WORDS = re.compile(r"\(*\s*(\w+)(?:\s+or\s+replace)?(?:\s+(\w+))?", re.I)
# The one comment kept: an FK's, which --bulk adds back when it re-creates the FK.
_COMMENT_ON_CONSTRAINT = re.compile(r"\s*comment\s+on\s+constraint\s", re.I)
_IDENT = r'(?:"(?:[^"]|"")*"|[^\s",;.]+)'
# pg_dump writes one of these per object; only ALTER TABLE ... OWNER TO alone is skipped.
_ALTER_OWNER = re.compile(rf"ALTER\s+TABLE\s+(?:ONLY\s+)?{_IDENT}(?:\.{_IDENT})*\s+OWNER\s+TO\s+{_IDENT}\s*$", re.I)


def _worth_parsing(text: str) -> bool:
    words = _FIRST_WORDS.match(text)
    if words is None:
        return True  # let the parser say what is wrong
    first, second = words.group(1).lower(), (words.group(2) or "").lower()
    if first == "comment":
        return _COMMENT_ON_CONSTRAINT.match(text) is not None
    if first in _SKIPPED_FIRST_WORDS:
        return False
    if first in ("select", "with", "set"):
        return "search_path" in text.lower()
    if second in _SKIPPED_OBJECTS.get(first, ()):
        return False
    return not (first == "alter" and _ALTER_OWNER.match(text))


class _Loader:
    """Feeds statements to one DdlApplier, turning parse errors into SchemaErrors."""

    def __init__(self, catalog: Catalog) -> None:
        self.ddl = DdlApplier(CatalogDraft.of(catalog))

    def load_text(self, text: str, source: str) -> None:
        self.ddl.set_search_path(["$user", "public"])  # every script is a new session
        for statement in split_statements(text):
            self.load_statement(statement, source)

    def load_statement(self, statement: Statement, source: str) -> None:
        if not _worth_parsing(statement.text):
            return
        try:
            nodes = parse_sql(statement.text)
        except ParseError as error:
            message, index = error.args[0], error.args[1] if len(error.args) > 1 else None
            line = statement.line + statement.text.count("\n", 0, index or 0)
            raise SchemaError(message, f"{source}:{line}") from None
        for raw in nodes:
            if isinstance(raw.stmt, ast.DoStmt):
                for inner in _do_block_statements(raw.stmt, statement, source):
                    self.load_statement(inner, source)
            else:
                self.ddl.apply(raw.stmt)


def _do_block_statements(node: ast.DoStmt, statement: Statement, source: str) -> list[Statement]:
    """The SQL statements of a PL/pgSQL DO block, outside its exception handlers.

    Drizzle wraps each ADD CONSTRAINT in ``DO $$ BEGIN ... EXCEPTION WHEN
    duplicate_object THEN null; END $$``; others test ``IF NOT EXISTS`` first.
    Conditions are not evaluated: every statement is taken as having run.
    """
    options = {opt.defname: opt.arg.sval for opt in node.args or () if hasattr(opt.arg, "sval")}
    body = options.get("as")
    if body is None or options.get("language", "plpgsql").lower() != "plpgsql":
        return []
    tag = "$dumpfix$"
    while tag in body:
        tag = tag[:-1] + "x$"
    offset = max(statement.text.find(body), 0)
    first_line = statement.line + statement.text.count("\n", 0, offset)
    try:
        tree = json.loads(parse_plpgsql_json(f"CREATE FUNCTION f() RETURNS void AS {tag}{body}{tag} LANGUAGE plpgsql"))
    except ParseError as error:
        # PL/pgSQL errors carry no position: point at the token the message names.
        near = re.search(r'at or near "(.*)"$', error.args[0])
        at = body.find(near.group(1)) if near else -1
        line = first_line + body.count("\n", 0, max(at, 0))
        raise SchemaError(f"{error.args[0]} (in a DO block)", f"{source}:{line}") from None
    return [Statement(query, first_line + lineno - 1) for lineno, query in _plpgsql_sql(tree)]


_STRING_LITERAL = re.compile(r"'((?:[^']|'')*)'", re.S)


def _plpgsql_sql(tree: object) -> Iterator[tuple[int, str]]:
    """(line, SQL) of plain statements and of EXECUTEs of a string literal."""
    if isinstance(tree, list):
        for item in tree:
            yield from _plpgsql_sql(item)
    elif isinstance(tree, dict):
        for key, value in tree.items():
            if key == "exceptions":
                continue
            if key == "PLpgSQL_stmt_execsql":
                yield value.get("lineno", 1), value["sqlstmt"]["PLpgSQL_expr"]["query"]
            elif key == "PLpgSQL_stmt_dynexecute":
                literal = _STRING_LITERAL.fullmatch(value["query"]["PLpgSQL_expr"]["query"].strip())
                if literal:
                    yield value.get("lineno", 1), literal.group(1).replace("''", "'")
            else:
                yield from _plpgsql_sql(value)


# -- files -------------------------------------------------------------------
_CLIENT_ENCODING = re.compile(r"^SET\s+client_encoding\s*(?:=|TO)\s*'([\w-]+)'", re.I | re.M)


def _decode(data: bytes, source: str) -> str:
    """UTF-8 (a BOM allowed), UTF-16 with a BOM, or the script's client_encoding."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        declared = _CLIENT_ENCODING.search(data.decode("latin-1"))
        codec = None if declared is None else python_codec(declared.group(1))
        if codec is not None:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                pass
        line = data.count(b"\n", 0, error.start) + 1
        raise SchemaError("invalid UTF-8 (and no usable client_encoding)", f"{source}:{line}") from None


_DOWN_MIGRATION = re.compile(r"(^|[._-])down\.sql$|^U\d+(?:[._]\d+)*__", re.I)
_DBMATE_DOWN = re.compile(r"^--\s*migrate:down\b.*", re.M | re.S)


def _natural_key(path: Path) -> list[list[str | int]]:
    """V2__x.sql before V10__x.sql, folder by folder (0001_init/migration.sql)."""
    return [[int(t) if t.isdigit() else t for t in re.split(r"(\d+)", part)] for part in path.parts]


def schema_files(path: Path) -> list[Path]:
    """A file as given, or a folder's .sql files (recursively) in natural order.

    Down / undo migrations are left out: running them would undo the schema.
    """
    if not path.is_dir():
        return [path]
    files = [
        p
        for p in path.rglob("*.sql")
        if p.is_file()
        and not _DOWN_MIGRATION.search(p.name)
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    ]
    if not files:
        raise SchemaError("no .sql files in this folder", str(path))
    return sorted(files, key=lambda p: _natural_key(p.relative_to(path)))


def schema_script(file: Path) -> str:
    """The text of one schema file as it builds the schema: decoded, and without a
    dbmate file's down section (running it would undo the up section)."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise SchemaError(f"cannot read: {error.strerror or error}", str(file)) from None
    return _DBMATE_DOWN.sub("", _decode(data, str(file)))


def load_schema(paths: Sequence[Path]) -> Catalog:
    """The catalog built by running the given files and folders in order."""
    loader = _Loader(Catalog())
    for path in paths:
        for file in schema_files(Path(path)):
            loader.load_text(schema_script(file), str(file))
    return loader.ddl.finish()


def load_schema_sql(text: str, catalog: Catalog | None = None, source: str = "<sql>") -> Catalog:
    """Run one script against a catalog (a new one by default) and return the result.

    Also used on the DDL a dump itself carries. Index names and constraint names
    learned by an earlier call are not remembered across calls.
    """
    loader = _Loader(catalog if catalog is not None else Catalog())
    loader.load_text(text, source)
    result = loader.ddl.finish()
    if catalog is None:
        return result
    # Continued: callers hold the catalog they passed, so it takes the result's contents.
    catalog.tables.clear()
    catalog.tables.update(result.tables)
    catalog.foreign_keys[:] = result.foreign_keys
    return catalog
