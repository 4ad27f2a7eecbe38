"""The settings a dump's statements put in force, so that a block moved elsewhere gets them back.

A block of a dump means what it means under the settings the statements before it
set: search_path names its table, client_encoding reads its bytes,
standard_conforming_strings its literals. The splitter records them at each item
as (name, statement) pairs, the statement being one that sets the value again; the
writer, before a block that moved, writes those that differ from what is in force
there (changes()).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pglast import parse_sql
from pglast.parser import ParseError

from dumpfix import statements

#: The settings in force at a point of the dump: (name, statement) pairs sorted by name.
Settings = tuple[tuple[str, str], ...]

#: Statements that may change a setting (a cheap test before pglast parses them).
_SETTING = re.compile(rb"(?:SET|RESET)\s|SELECT\s+(?:pg_catalog\.)?set_config\s*\(", re.IGNORECASE)
#: Not settings a block's meaning depends on in a way dumpfix may restore: who runs it
#: travels with the block (pg_dump's --disable-triggers statements) and needs privileges.
_UNTRACKED = frozenset({"session_authorization", "role"})
# VariableSetStmt.kind: SET x = v, SET x TO DEFAULT, SET x FROM CURRENT, RESET x, RESET ALL.
_VALUE, _DEFAULT, _CURRENT, _RESET, _RESET_ALL = 0, 1, 2, 4, 5


@lru_cache(maxsize=256)
def parsed(statement: bytes, encoding: str) -> tuple[Any, ...]:
    """The statement's parse trees, read only: pg_dump repeats the same SET before every
    table (default_tablespace, default_table_access_method), parsed once each here."""
    return tuple(raw.stmt for raw in parse_sql(statement.decode(encoding, "surrogateescape")))


def followed(statement: bytes, settings: Settings, encoding: str) -> Settings:
    """The settings in force after statement runs where settings were.

    A session-level SET (or SET ... FROM CURRENT) is kept as its own text, a
    set_config(name, value, false) as one such call; RESET and SET ... TO DEFAULT
    drop the name (the connection's default holds again). SET LOCAL and
    set_config(..., true) end with the transaction: not tracked.
    """
    if not may_set(statement):
        return settings
    try:
        stmts = parsed(statement, encoding)
    except ParseError:
        return settings
    state = dict(settings)
    for stmt in stmts:  # pglast's nodes: attributes by node type
        kind = type(stmt).__name__
        if kind == "VariableSetStmt" and not stmt.is_local:
            name = (stmt.name or "").lower()
            if stmt.kind == _RESET_ALL:
                state.clear()
            elif name in _UNTRACKED or stmt.kind not in (_VALUE, _DEFAULT, _CURRENT, _RESET):
                continue
            elif stmt.kind in (_DEFAULT, _RESET):
                state.pop(name, None)
            else:
                state[name] = statement.decode(encoding, "surrogateescape").strip()
        elif kind == "SelectStmt":
            for name, value in _set_configs(stmt):
                state[name] = statements.set_config(name, value)
    return tuple(sorted(state.items()))


def setting_set(statement: bytes, encoding: str) -> tuple[str, str | None] | None:
    """The setting one session-level SET or RESET names, with the one value it sets
    (None: DEFAULT, FROM CURRENT, RESET or a list of values); None for any other
    statement, SET LOCAL, RESET ALL and what pglast cannot parse.

    The one reader of a SET's name and value: the splitter asks it which setting a
    statement sets (one the target rejects is dropped), the writer which value
    (cleanup.portable_setting).
    """
    if not may_set(statement):
        return None
    try:
        stmts = parsed(statement, encoding)
    except ParseError:
        return None
    if len(stmts) != 1 or type(stmts[0]).__name__ != "VariableSetStmt":
        return None
    stmt = stmts[0]
    if stmt.is_local or stmt.kind == _RESET_ALL or not stmt.name:
        return None
    args = tuple(stmt.args or ())
    value = _constant(args[0]) if stmt.kind == _VALUE and len(args) == 1 else None
    return stmt.name.lower(), value


def _constant(arg: Any) -> str | None:
    """A SET's value as the server reads it: a string's text, a number's digits."""
    val = getattr(arg, "val", None)
    for field in ("sval", "ival", "fval"):
        found = getattr(val, field, None)
        if found is not None:
            return str(found)
    return None


def _set_configs(stmt: Any) -> list[tuple[str, str]]:
    """The (name, value) of each session-level set_config(...) with constant arguments."""
    found = []
    for target in getattr(stmt, "targetList", None) or ():
        call = target.val
        if type(call).__name__ != "FuncCall" or call.funcname[-1].sval != "set_config" or len(call.args or ()) != 3:
            continue
        name, value, local = call.args
        setting, text = (getattr(getattr(a, "val", None), "sval", None) for a in (name, value))
        flag = getattr(getattr(local, "val", None), "boolval", None)
        if setting is None or text is None or flag is not False:  # is_local true, or not constant: not tracked
            continue
        found.append((setting.lower(), text))
    return found


def may_set(statement: bytes) -> bool:
    """Whether a statement can change a setting: the cheap test before pglast parses it."""
    return _SETTING.match(statement) is not None


#: Set first, in this order: the client encoding reads the statements after it, and
#: standard_conforming_strings the literals of the others.
_FIRST = {"client_encoding": 0, "standard_conforming_strings": 1}


def changes(have: Settings, want: Settings) -> list[str]:
    """The statements that turn the settings have into want: those that differ, the
    client encoding first; RESET (the connection's default) for one want does not set."""
    had, wanted = dict(have), dict(want)
    names = sorted(had.keys() | wanted.keys(), key=lambda n: (_FIRST.get(n, 2), n))
    return [wanted.get(n) or statements.reset(n) for n in names if had.get(n) != wanted.get(n)]
