"""Every SQL statement dumpfix generates, built in one place.

The writer (write.py) puts them into the rewritten dump, the migration printer
(migration.py) into its script, and the explanation (explain.py) names what
they do; settings.py and cleanup.py take the ones that set a setting again.
Names and literals are quoted here (catalog.quote_ident, quote_literal), so
no other module writes SQL text of its own. Each function returns one
statement without its line end: the writer adds the file's.

Temporary tables are ``pg_temp.dumpfix_N`` ("captures"): they hold a block's
rows (staged) or the original values of its nulled columns, and the UPDATE
after the data sets the nulled columns from them.
"""

from __future__ import annotations

from collections.abc import Iterable

from dumpfix.catalog import ForeignKey, QName, quote_ident, quote_literal

# -- the transaction around the load ------------------------------------------
BEGIN = "BEGIN;"
COMMIT = "COMMIT;"
DEFER_ALL = "SET CONSTRAINTS ALL DEFERRED;"
CHECK_ALL = "SET CONSTRAINTS ALL IMMEDIATE;"


def abort(reason: str) -> str:
    """A statement that fails, saying why: a streamed output ends with it when the input
    turns out wrong after its start was written (stream.py), so that nothing commits.
    The reason is data's words (a table's name): ASCII only, no dollar sign to end the
    body, quoted as a literal."""
    text = reason.encode("ascii", "replace").decode().replace("$", "?")
    return f"DO $dumpfix$BEGIN RAISE EXCEPTION '%', {quote_literal('dumpfix stopped the load: ' + text)}; END$dumpfix$;"


#: The superuser strategy: no FK (nor any trigger) fires while the data loads.
REPLICA = "SET LOCAL session_replication_role = replica;"
ORIGIN = "SET LOCAL session_replication_role = DEFAULT;"
#: FKs validated by a merge join (plan.MERGE_VALIDATION_ROWS) come after this.
NO_HASH_JOIN = "SET LOCAL enable_hashjoin = off;"
#: ENFORCED validates each FK with one anti-join whose work_mem is maintenance_work_mem
#: (ri_triggers.c, RI_Initial_Check); the 64MB default spills the hash of a
#: million-row parent to disk. Raised for this transaction only, never lowered.
VALIDATION_MEMORY = (
    "DO $dumpfix$BEGIN IF pg_catalog.pg_size_bytes(pg_catalog.current_setting('maintenance_work_mem'))"
    " < 268435456 THEN PERFORM pg_catalog.set_config('maintenance_work_mem', '256MB', true); END IF; END$dumpfix$;"
)


def merge_join_above(table: str, name: str, rows: int) -> str:
    """For the transaction that validates FK name of table (as stored) on its own: hash
    joins off when the table it references holds more than rows rows (by the planner's
    estimate, read from EXPLAIN: freshly loaded tables have no statistics yet), so that
    the check reads the referenced key's index in order instead of hashing every key
    (plan.MERGE_VALIDATION_ROWS); a small one is hashed, as the planner likes."""
    body = (
        "DECLARE parent regclass; plan json; BEGIN "
        "SELECT confrelid INTO parent FROM pg_catalog.pg_constraint "
        f"WHERE conrelid = {quote_literal(table)}::regclass AND conname = {quote_literal(name)}; "
        "EXECUTE pg_catalog.format('EXPLAIN (FORMAT JSON) SELECT 1 FROM ONLY %s', parent) INTO plan; "
        f"IF (plan->0->'Plan'->>'Plan Rows')::float8 > {rows} "
        "THEN PERFORM pg_catalog.set_config('enable_hashjoin', 'off', true); END IF; END"
    )
    return f"DO {_dollar_quoted(body)};"


def _dollar_quoted(body: str) -> str:
    """body between dollar quotes whose tag it does not hold (names are in it)."""
    tag, n = "$dumpfix$", 0
    while tag in body:
        n += 1
        tag = f"$dumpfix{n}$"
    return f"{tag}{body}{tag}"


# -- FK constraints: off for the load, back afterwards -------------------------
#: PostgreSQL 18+: an FK off for the load, then ENFORCED (one validating query).
NOT_ENFORCED = "NOT ENFORCED"
#: Before 18: an FK checked at COMMIT for the load, then its own timing again.
DEFERRABLE = "DEFERRABLE"
DEFERRED = "DEFERRABLE INITIALLY DEFERRED"


def alter_constraint(fk: ForeignKey, timing: str) -> str:
    """ALTER CONSTRAINT: the FK's timing (9.4+) or, from 18, its enforcement."""
    return f"ALTER TABLE {fk.table} ALTER CONSTRAINT {quote_ident(fk.name)} {timing};"


def declared(fk: ForeignKey) -> str:
    """The FK's timing as the schema declares it, as ALTER CONSTRAINT takes it."""
    if not fk.deferrable:
        return "NOT DEFERRABLE"
    return "DEFERRABLE INITIALLY " + ("DEFERRED" if fk.initially_deferred else "IMMEDIATE")


#: What the bulk load locks, and the way around it: said by --explain and in the head.
LOCKS = (
    "ALTER TABLE holds ACCESS EXCLUSIVE locks on these tables until COMMIT (other sessions wait "
    "for them); for a target in use, --no-bulk loads the FK cycles row by row and alters only the FKs "
    "it cannot load otherwise (--role user: none)"
)


def released(fk: ForeignKey, dropped: bool, unenforced: bool) -> str:
    """The statement that takes an FK off (or makes it wait for COMMIT) for the load:
    dropped (Plan.dropped), NOT ENFORCED (Plan.unenforces: 18+), else deferred."""
    if dropped:
        return f"ALTER TABLE {fk.table} DROP CONSTRAINT {quote_ident(fk.name)};"
    return alter_constraint(fk, NOT_ENFORCED if unenforced else DEFERRED)


def restored(fk: ForeignKey, dropped: bool, unenforced: bool) -> str:
    """The statement that gives an FK back after the load, validating what was loaded."""
    if dropped:
        return f"ALTER TABLE {fk.table} ADD CONSTRAINT {quote_ident(fk.name)} {fk.definition()};"
    return alter_constraint(fk, "ENFORCED" if unenforced else declared(fk))


def comment_on(fk: ForeignKey) -> str:
    """An FK added again takes back its comment (the caller checks it has one)."""
    assert fk.comment is not None
    return f"COMMENT ON CONSTRAINT {quote_ident(fk.name)} ON {fk.table} IS {quote_literal(fk.comment)};"


def orphan_check(fk: ForeignKey) -> str:
    """A DO block failing the restore when rows loaded unchecked point at missing rows."""
    cols = [f"dumpfix_c.{quote_ident(c)}" for c in fk.columns]
    match = " AND ".join(
        f"dumpfix_p.{quote_ident(r)} = dumpfix_c.{quote_ident(c)}" for c, r in zip(fk.columns, fk.ref_columns)
    )
    present = " AND ".join(f"{c} IS NOT NULL" for c in cols)
    exists = f"EXISTS (SELECT FROM {fk.ref_table} AS dumpfix_p WHERE {match})"
    if fk.match_full:
        bad = f"({' OR '.join(f'{c} IS NOT NULL' for c in cols)}) AND NOT ({present} AND {exists})"
    else:
        bad = f"{present} AND NOT {exists}"
    message = quote_literal(f"dumpfix: rows of {fk.table} point at missing rows of {fk.ref_table} (FK {fk.name})")
    body = (
        f"BEGIN IF EXISTS (SELECT FROM {fk.table} AS dumpfix_c WHERE {bad}) "
        f"THEN RAISE EXCEPTION USING MESSAGE = {message}; END IF; END"
    )
    tag = "dumpfix"
    while f"${tag}$" in body:
        tag += "_"
    return f"DO ${tag}${body}${tag}$;"


# -- captures: the temporary tables of the nulled columns ------------------------
def _idents(columns: Iterable[str]) -> str:
    return ", ".join(quote_ident(c) for c in columns)


def create_capture(name: str, table: QName, columns: Iterable[str]) -> str:
    """An empty temporary table with the table's types for the columns."""
    return f"CREATE TEMP TABLE pg_temp.{name} AS SELECT {_idents(columns)} FROM {table} WITH NO DATA;"


def copy_capture(name: str, columns: Iterable[str]) -> str:
    """The COPY header that loads the rows written after it into a capture."""
    return f"COPY pg_temp.{name} ({_idents(columns)}) FROM stdin;"


def insert_capture(name: str, columns: Iterable[str]) -> str:
    """The head of a multi-row INSERT into a capture (its VALUES rows follow)."""
    return f"INSERT INTO pg_temp.{name} ({_idents(columns)}) VALUES"


def insert_staged(table: QName, columns: Iterable[str], nulled: Iterable[str], name: str) -> str:
    """A staged table's rows from its capture into the table, NULL in the nulled columns."""
    loaded = list(columns)
    later = set(nulled)
    values = ", ".join("NULL" if c in later else quote_ident(c) for c in loaded)
    return f"INSERT INTO {table} ({_idents(loaded)}) OVERRIDING SYSTEM VALUE SELECT {values} FROM pg_temp.{name};"


def update_nulled(table: QName, name: str, key: Iterable[str], nulled: Iterable[str], staged: bool) -> str:
    """The one UPDATE that sets a table's nulled columns from its capture, row by key.

    A staged capture holds every row: only those with a value change."""
    nulled = tuple(nulled)
    sets = ", ".join(f"{quote_ident(col)} = dumpfix_v.{quote_ident(col)}" for col in nulled)
    where = " AND ".join(f"dumpfix_t.{quote_ident(k)} = dumpfix_v.{quote_ident(k)}" for k in key)
    if staged:
        where += " AND (" + " OR ".join(f"dumpfix_v.{quote_ident(col)} IS NOT NULL" for col in nulled) + ")"
    return f"UPDATE {table} AS dumpfix_t SET {sets} FROM pg_temp.{name} AS dumpfix_v WHERE {where};"


def drop_capture(name: str) -> str:
    return f"DROP TABLE pg_temp.{name};"


def switch_trigger(table: QName, name: str, on: bool) -> str:
    """A user UPDATE trigger off around dumpfix's UPDATE (forced nulls), then on again."""
    return f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER {quote_ident(name)};"


# -- settings set again before a moved block ------------------------------------
def reset(name: str) -> str:
    """A setting back to the connection's default (custom names are dotted)."""
    return f"RESET {'.'.join(quote_ident(part) for part in name.split('.'))};"


def set_config(name: str, value: str) -> str:
    """A session-level set_config(name, value, false): what a dump's own call did."""
    return f"SELECT pg_catalog.set_config({quote_literal(name)}, {quote_literal(value)}, false);"


def set_where_known(name: str, value: str) -> str:
    """SET name = value on a server that knows the setting, nothing on one that does not
    (pg_settings has no row for it): cleanup.portable_setting."""
    return (
        f"SELECT pg_catalog.set_config(name, {quote_literal(value)}, false) "
        f"FROM pg_catalog.pg_settings WHERE name = {quote_literal(name)};"
    )
