"""The SQL of a parallel load's pre and post steps, around ``dumpfix.pending_fks``.

pg_restore -j loads over several connections, so there is no one transaction
in which FKs could be deferred: they are taken off before the load and put
back after. A load can die half way (pg_restore fails, Ctrl-C, a lost
connection), so what was taken off is written down in the target itself, in
the same transaction that takes it off: ``dumpfix.pending_fks``, a table of
dumpfix's own schema created by the tables' owner. Everything after the pre
step reads that table, not the catalog, so any later run (``--finish``, or the
same command again, or the written script) can put the FKs back.

Taking off: ``ALTER CONSTRAINT ... NOT ENFORCED`` on PostgreSQL 18.4+ (and on
18.0-18.3 for FKs that are not DEFERRABLE: those minors lose deferrability on
the way back), else ``DROP CONSTRAINT``. The choice is made by the server at
run time, so a script written without a connection picks right too.

Putting back always succeeds first and checks afterwards: every FK is added
again as ``NOT VALID`` (a NOT ENFORCED one is dropped first: ``ENFORCED``
would validate at once under ACCESS EXCLUSIVE and, on an orphan row, leave the
FK unenforced), in one transaction with its comment, so from then on it checks
new rows. Then each is validated on its own connection (``VALIDATE
CONSTRAINT`` takes only SHARE UPDATE EXCLUSIVE, so they run side by side) and
its row deleted; an FK that fails stays NOT VALID and pending, and the error
names it and one key. The last step drops the table and the schema. The
exception: before PostgreSQL 18 an FK on a partitioned table cannot be added NOT
VALID, and one to a partitioned table stays NOT VALID on its partitions after
VALIDATE, so there such an FK comes back validated or not at all (it stays off,
pending, named with a key, until its rows are fixed and a later run puts it back).
"""

from __future__ import annotations

import dataclasses

from dumpfix.catalog import ForeignKey, QName, quote_ident, quote_literal
from dumpfix.plan import MERGE_VALIDATION_ROWS
from dumpfix.statements import VALIDATION_MEMORY, merge_join_above

SCHEMA = "dumpfix"
TABLE = "dumpfix.pending_fks"
#: How RESTORE's WARNING about an FK it could not put back begins (finish() collects them).
OFF_PREFIX = "dumpfix: "

CREATE = f"""CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {TABLE} (
    table_name text NOT NULL,       -- schema-qualified, quoted as ALTER TABLE takes it
    name text NOT NULL,             -- the constraint's name
    definition text NOT NULL,       -- as ADD CONSTRAINT takes it, without NOT VALID
    validated boolean NOT NULL,     -- validated in the schema: VALIDATE it after the load
    is_deferrable boolean NOT NULL,
    comment text,
    method text,                    -- 'not enforced' or 'dropped', once taken off
    add_validated boolean NOT NULL DEFAULT false,  -- comes back validated at once (see _restore)
    state text NOT NULL DEFAULT 'on' CHECK (state IN ('on', 'off', 'restored')),
    loaded boolean NOT NULL DEFAULT false,  -- pg_restore finished without an error
    PRIMARY KEY (table_name, name)
);
"""

_REFUSE_PENDING = f"""DO $dumpfix$
BEGIN
    IF EXISTS (SELECT FROM {TABLE}) THEN
        RAISE EXCEPTION 'dumpfix: % holds FKs an earlier run took off and did not put back: finish it first (dumpfix --finish --dsn URL, or the script with --finish)', '{TABLE}';
    END IF;
END $dumpfix$;
"""

_TAKE_OFF = f"""DO $dumpfix$
DECLARE
    r record;
    v integer := current_setting('server_version_num')::integer;
    how text;
    whole boolean;
BEGIN
    FOR r IN SELECT * FROM {TABLE} WHERE state = 'on' ORDER BY table_name, name LOOP
        -- Before 18, an FK on or to a partitioned table cannot come back NOT VALID as it was.
        whole := v < 180000 AND EXISTS (
            SELECT FROM pg_catalog.pg_constraint k
            JOIN pg_catalog.pg_class t ON t.oid = k.conrelid
            JOIN pg_catalog.pg_class f ON f.oid = k.confrelid
            WHERE k.conrelid = r.table_name::regclass AND k.conname = r.name AND 'p' IN (t.relkind, f.relkind));
        -- 18.0-18.3 lose DEFERRABLE on NOT ENFORCED and back ("Fix loss of deferrability", 18.4).
        IF v >= 180004 OR (v >= 180000 AND NOT r.is_deferrable) THEN
            EXECUTE format('ALTER TABLE %s ALTER CONSTRAINT %I NOT ENFORCED', r.table_name, r.name);
            how := 'not enforced';
        ELSE
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.table_name, r.name);
            how := 'dropped';
        END IF;
        UPDATE {TABLE} SET state = 'off', method = how, add_validated = whole
            WHERE table_name = r.table_name AND name = r.name;
    END LOOP;
END $dumpfix$;
"""


def _restore(which: str = "") -> str:
    """The FKs taken off (those of which, an SQL condition on the row, too) back in place.

    PostgreSQL before 18 cannot add an FK on a partitioned table NOT VALID, and one to a
    partitioned table would stay NOT VALID on its partitions after VALIDATE: such an FK is
    added validated (its VALIDATE step then finds nothing to do); if rows break it, the
    subtransaction leaves it off (its row too, so a later run tries again) and a WARNING
    says why and names a key (OFF_PREFIX).
    """
    return f"""DO $dumpfix$
DECLARE
    r record;
    detail text;
BEGIN
    IF pg_catalog.to_regclass('{TABLE}') IS NULL THEN
        RETURN;
    END IF;
    FOR r IN SELECT * FROM {TABLE} WHERE state = 'off'{which} ORDER BY table_name, name LOOP
        IF r.method = 'not enforced' THEN
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.table_name, r.name);
        END IF;
        BEGIN
            EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s%s', r.table_name, r.name, r.definition,
                CASE WHEN r.add_validated THEN '' ELSE ' NOT VALID' END);
            IF r.comment IS NOT NULL THEN
                EXECUTE format('COMMENT ON CONSTRAINT %I ON %s IS %L', r.name, r.table_name, r.comment);
            END IF;
            UPDATE {TABLE} SET state = 'restored' WHERE table_name = r.table_name AND name = r.name;
        EXCEPTION WHEN foreign_key_violation THEN  -- only an FK added validated reads rows here
            GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
            RAISE WARNING '{OFF_PREFIX}FK % on % is still off: %', quote_ident(r.name), r.table_name,
                concat_ws(' ', nullif(detail, ''), '(before PostgreSQL 18 an FK on or to a partitioned table comes back validated or not at all)');
        END;
    END LOOP;
    -- An FK that was NOT VALID in the schema is back as it was: nothing to validate.
    DELETE FROM {TABLE} WHERE state = 'restored' AND NOT validated{which};
END $dumpfix$;
"""


#: Every FK taken off back in place, NOT VALID (checking new rows), with its comment: one transaction.
RESTORE = _restore()


def _one(table: str, name: str) -> str:
    """The condition on a row of the table that picks one FK (table: as stored)."""
    return f" AND table_name = {quote_literal(table)} AND name = {quote_literal(name)}"


def restore_one(table: str, name: str) -> str:
    """One FK back in place as RESTORE puts them (table: as stored), for a transaction of its
    own: while the load goes on, once the tables it joins are loaded."""
    return _restore(_one(table, name))


#: After pg_restore succeeded: a later run that finds FKs pending knows the data is complete.
LOADED = f"UPDATE {TABLE} SET loaded = true;\n"

#: The last step: the table and schema go when nothing is pending, else one error naming what is.
FINISH = f"""DO $dumpfix$
DECLARE
    n integer;
    names text;
BEGIN
    IF pg_catalog.to_regclass('{TABLE}') IS NULL THEN
        RETURN;
    END IF;
    SELECT count(*), string_agg(format('%s on %s (%s)', quote_ident(name), table_name,
            CASE state WHEN 'restored' THEN 'back in place, NOT VALID: it checks new rows' ELSE 'still off' END),
            ', ' ORDER BY table_name, name)
        INTO n, names FROM {TABLE};
    IF n > 0 THEN
        RAISE EXCEPTION 'dumpfix: % FK(s) are not validated: %; fix the rows that break them and run the finish step again', n, names;
    END IF;
    DROP TABLE {TABLE};
    BEGIN
        DROP SCHEMA {SCHEMA};
    EXCEPTION WHEN dependent_objects_still_exist THEN
        NULL;  -- someone else keeps objects there: leave the schema
    END;
END $dumpfix$;
"""


def _pending_validation(which: str = "") -> str:
    return f"SELECT table_name, name FROM {TABLE} WHERE state = 'restored'{which} ORDER BY table_name, name"


#: Rows of FKs back in place but not validated yet: (table_name, name). Not one that was
#: NOT VALID in the schema (RESTORE strikes it off), nor one still off.
PENDING_VALIDATION = _pending_validation()


def pending_validation_of(table: str, name: str) -> str:
    """PENDING_VALIDATION for one FK (table: as stored): a row if it is to be validated."""
    return _pending_validation(_one(table, name))


@dataclasses.dataclass(frozen=True)
class Pending:
    """One FK to take off: a row of dumpfix.pending_fks."""

    table: QName
    name: str
    definition: str
    validated: bool
    deferrable: bool
    comment: str | None

    @classmethod
    def of(cls, fk: ForeignKey) -> Pending:
        # definition() appends NOT VALID for an FK that is not validated: the restore adds it itself.
        whole = dataclasses.replace(fk, validated=True).definition()
        return cls(fk.table, fk.name, whole, fk.validated, fk.deferrable, fk.comment)


def pre_step(fks: list[Pending]) -> str:
    """The pre step, for one transaction (psql -1): record the FKs, then take them off."""
    parts = [CREATE, _REFUSE_PENDING]
    if fks:
        rows = ",\n    ".join(
            f"({quote_literal(str(p.table))}, {quote_literal(p.name)}, {quote_literal(p.definition)}, "
            f"{str(p.validated).lower()}, {str(p.deferrable).lower()}, "
            f"{'NULL' if p.comment is None else quote_literal(p.comment)})"
            for p in fks
        )
        parts.append(
            f"INSERT INTO {TABLE} (table_name, name, definition, validated, is_deferrable, comment) VALUES\n    {rows};\n"
        )
    parts.append(_TAKE_OFF)
    return "".join(parts)


def validate_step(table: str, name: str) -> str:
    """One FK validated and struck off, for one transaction of its own (table: as stored)."""
    return (
        f"{VALIDATION_MEMORY}\n{merge_join_above(table, name, MERGE_VALIDATION_ROWS)}\n"
        f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote_ident(name)};\n"
        f"DELETE FROM {TABLE} WHERE table_name = {quote_literal(table)} AND name = {quote_literal(name)};\n"
    )
