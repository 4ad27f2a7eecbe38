"""Learn the catalog (tables, keys, FKs, triggers) from a live PostgreSQL with psycopg.

``--dsn URL`` names the database the dump will be restored into: its own
catalog is the truth about the constraints the restore meets, so nothing has to
be parsed. The result mirrors what ``schema`` builds from ``pg_dump
--schema-only`` of the same database, so that both give the same plan: each FK
appears once, on the table it was declared on (partition clones are skipped),
partitions carry their parent's keys and row triggers, and lists come in the
order pg_dump would have written them.

The same connection tells what the connecting role may do (superuser, owner of
the tables, or neither), which picks the default ``--role``, and the server's
major version. psycopg is an optional extra: ``pip install 'dumpfix[dsn]'``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from dumpfix.catalog import Catalog, Column, ForeignKey, QName, Trigger
from dumpfix.catalog_edits import CatalogDraft, TableDraft
from dumpfix.errors import DumpfixError
from dumpfix.plan import Role

if TYPE_CHECKING:
    import psycopg

    from dumpfix.refusals import Need

__all__ = [
    "Inspection",
    "RestoreCheck",
    "inspect",
    "load_catalog",
    "restore_check",
    "role_capabilities",
    "server_version",
]

_TRIGGER_TYPE_ROW = 1 << 0
_TRIGGER_TYPE_INSERT = 1 << 2
_TRIGGER_TYPE_UPDATE = 1 << 4
# Relations dumpfix can load data into: ordinary and partitioned tables, not
# temporary ones, outside the system schemas. {where} narrows it further.
_RELATIONS = r"""
SELECT c.oid
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
"""


class Inspection(NamedTuple):
    """Everything ``--dsn`` learns, read over one connection."""

    catalog: Catalog
    role: Role
    #: e.g. 15 or 18: newer servers offer cheaper strategies (NOT ENFORCED from 18).
    server_major: int
    #: e.g. 4 for 18.4: NOT ENFORCED keeps a DEFERRABLE FK's deferrability from 18.4 on.
    server_minor: int = 0


def connect(dsn: str) -> psycopg.Connection[Any]:
    """A connection, or one clear DumpfixError line (no traceback, no password)."""
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise DumpfixError(
            "--dsn needs psycopg: pip install 'dumpfix[dsn]' (from a checkout of dumpfix: pip install '.[dsn]')"
        ) from None
    dsn = as_conninfo(dsn)
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        raise DumpfixError(f"--dsn: invalid connection string: {error}") from None
    extra: dict[str, Any] = {"client_encoding": "UTF8", "application_name": "dumpfix"}
    if "connect_timeout" not in params:
        extra["connect_timeout"] = 10  # libpq would wait forever on a silent host
    try:
        return psycopg.connect(dsn, autocommit=False, **extra)
    except psycopg.Error as error:
        message = " ".join(str(error).split())
        raise DumpfixError(f"--dsn: cannot connect: {message}") from None


def as_conninfo(dsn: str) -> str:
    """A bare database name, as psql takes it (``--dsn shop``), as libpq's ``dbname=shop``."""
    if "=" in dsn or "://" in dsn or not dsn.strip():
        return dsn
    return "dbname=" + ("'" + dsn.replace("\\", "\\\\").replace("'", "\\'") + "'")


def _server_major(conn: psycopg.Connection[Any]) -> int:
    return conn.info.server_version // 10000


def _rows(conn: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql.format(relations=_RELATIONS))
        return cur.fetchall()


def _read_catalog(conn: psycopg.Connection[Any]) -> Catalog:
    """The catalog as the queries below see it, in one read-only transaction."""
    major = _server_major(conn)
    if major < 10:
        raise DumpfixError(f"--dsn: PostgreSQL {major} is too old (10 or later needed)")
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    catalog = CatalogDraft()
    by_oid: dict[int, TableDraft] = {}
    for oid, schema, name, kind in _rows(
        conn,
        """SELECT c.oid, n.nspname, c.relname, c.relkind::text
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid IN ({relations}) ORDER BY n.nspname, c.relname""",
    ):
        table = TableDraft(QName(schema, name), partitioned=kind == "p")
        catalog.tables[table.name] = by_oid[oid] = table
    attnames = _read_columns(conn, major, by_oid)
    _read_parents(conn, by_oid)
    _read_keys(conn, major, by_oid, attnames)
    _read_foreign_keys(conn, major, catalog, attnames)
    _read_triggers(conn, major, by_oid)
    conn.rollback()
    return catalog.freeze()


def _read_columns(
    conn: psycopg.Connection[Any], major: int, by_oid: dict[int, TableDraft]
) -> dict[int, dict[int, str]]:
    """Columns in attnum order (the order of dumps without column lists); attnum -> name."""
    # Stored and (PostgreSQL 18) virtual generated columns are never written by dumps.
    generated = "a.attgenerated <> ''" if major >= 12 else "false"
    attnames: dict[int, dict[int, str]] = defaultdict(dict)
    # atthasdef covers DEFAULTs and generated expressions; identities have none.
    for relid, attnum, name, not_null, is_generated, identity_always, defaulted in _rows(
        conn,
        f"""SELECT a.attrelid, a.attnum, a.attname, a.attnotnull, {generated}, a.attidentity = 'a',
            a.atthasdef OR a.attidentity <> ''
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid IN ({{relations}}) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attrelid, a.attnum""",
    ):
        attnames[relid][attnum] = name
        by_oid[relid].columns[name] = Column(name, not_null, is_generated, identity_always, defaulted)
    return attnames


def _read_parents(conn: psycopg.Connection[Any], by_oid: dict[int, TableDraft]) -> None:
    """Partitions only: plain INHERITS children load on their own, as in ``schema``."""
    for child, parent in _rows(
        conn,
        """SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i
        JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
        WHERE c.relispartition AND i.inhrelid IN ({relations})""",
    ):
        if child in by_oid and parent in by_oid:
            by_oid[child].parent = by_oid[parent].name


def _read_keys(
    conn: psycopg.Connection[Any], major: int, by_oid: dict[int, TableDraft], attnames: dict[int, dict[int, str]]
) -> None:
    """Primary keys, UNIQUE constraints, and unique indexes that can back a key.

    Unique keys come as pg_dump writes them: a table's own constraints by name,
    then its own unique indexes by name, then those it has as a partition.
    """
    inherited_con = "con.conparentid <> 0" if major >= 11 else "false"
    key_columns = "i.indkey[0:i.indnkeyatts - 1]" if major >= 11 else "i.indkey"
    rows = _rows(
        conn,
        f"""SELECT con.conrelid, con.contype::text, con.conkey, 0, {inherited_con}, con.conname
        FROM pg_catalog.pg_constraint con
        WHERE con.contype IN ('p', 'u') AND con.conrelid IN ({{relations}})
        UNION ALL
        SELECT i.indrelid, 'i', {key_columns}::int2[], 1, c.relispartition AND EXISTS (
                SELECT FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid),
            ic.relname
        FROM pg_catalog.pg_index i
        JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
        WHERE i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
          AND i.indrelid IN ({{relations}})
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k
                          WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
        ORDER BY 5, 4, 6""",
    )
    for relid, kind, attnums, _, _, _ in rows:
        table = by_oid[relid]
        columns = tuple(attnames[relid][n] for n in attnums)
        if kind == "p":
            table.primary_key = columns
        elif columns not in table.unique_keys:
            table.unique_keys.append(columns)


def _read_foreign_keys(
    conn: psycopg.Connection[Any], major: int, catalog: CatalogDraft, attnames: dict[int, dict[int, str]]
) -> None:
    """Each FK once, where it was declared, in pg_dump's order (schema, name, table).

    FKs on or to partitioned tables have clones on each partition (conparentid
    set): those are the server's bookkeeping, not constraints of their own.
    """
    not_cloned = "con.conparentid = 0" if major >= 11 else "true"
    enforced = "con.conenforced" if major >= 18 else "true"
    set_columns = "con.confdelsetcols" if major >= 15 else "NULL::int2[]"
    for row in _rows(
        conn,
        f"""SELECT con.conname, con.conrelid, n.nspname, c.relname, con.conkey,
            con.confrelid, fn.nspname, fc.relname, con.confkey,
            con.condeferrable, con.condeferred, con.confmatchtype::text, {enforced},
            con.confupdtype::text, con.confdeltype::text, {set_columns}, con.convalidated,
            pg_catalog.obj_description(con.oid, 'pg_constraint')
        FROM pg_catalog.pg_constraint con
        JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
        JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
        WHERE con.contype = 'f' AND {not_cloned} AND con.conrelid IN ({{relations}})
        ORDER BY n.nspname, con.conname, c.relname""",
    ):
        name, relid, schema, table, conkey, ref_relid, ref_schema, ref_table, confkey = row[:9]
        deferrable, deferred, match_type, is_enforced, on_update, on_delete, set_columns, validated, comment = row[9:]
        ref_names = attnames.get(ref_relid)
        catalog.foreign_keys.append(
            ForeignKey(
                name=name,
                table=QName(schema, table),
                columns=tuple(attnames[relid][n] for n in conkey),
                ref_table=QName(ref_schema, ref_table),
                # A referenced table outside the catalog (a system schema) has no names here:
                # leave the columns empty, as an unresolved REFERENCES would.
                ref_columns=tuple(ref_names[n] for n in confkey) if ref_names else (),
                deferrable=deferrable,
                initially_deferred=deferred,
                match_full=match_type == "f",
                enforced=is_enforced,
                on_update=on_update,
                on_delete=on_delete,
                delete_set_columns=tuple(attnames[relid][n] for n in set_columns or ()),
                validated=validated,
                comment=comment,
            )
        )


def _read_triggers(conn: psycopg.Connection[Any], major: int, by_oid: dict[int, TableDraft]) -> None:
    """User triggers: a table's own by name, then those cloned from its partition parent.

    FK checks are internal triggers. Before PostgreSQL 13 the row triggers a
    partition gets from its parent were internal too, but tied to no constraint.
    """
    if major >= 13:
        user, cloned = "NOT t.tgisinternal", "t.tgparentid <> 0"
    else:
        user, cloned = "(NOT t.tgisinternal OR t.tgconstraint = 0)", "t.tgisinternal"
    for relid, name, tgtype, enabled, per_statement in _rows(
        conn,
        f"""SELECT t.tgrelid, t.tgname, t.tgtype, t.tgenabled::text,
            (t.tgtype & {_TRIGGER_TYPE_ROW}) = 0 OR t.tgnewtable IS NOT NULL
        FROM pg_catalog.pg_trigger t
        WHERE {user} AND t.tgrelid IN ({{relations}})
        ORDER BY t.tgrelid, {cloned}, t.tgname""",
    ):
        table = by_oid[relid]
        # 'R' (ENABLE REPLICA) triggers fire only under session_replication_role = replica.
        table.triggers.append(
            Trigger(
                name,
                table.name,
                bool(tgtype & _TRIGGER_TYPE_UPDATE),
                enabled not in ("D", "R"),
                on_insert=bool(tgtype & _TRIGGER_TYPE_INSERT),
                per_statement=per_statement,
            )
        )


def _role(conn: psycopg.Connection[Any]) -> Role:
    """Superuser; else owner when the role (or one it belongs to) owns every table; else user.

    Tables that belong to extensions (PostGIS's spatial_ref_sys...) are left out:
    they are owned by whoever installed the extension, and pg_dump restores them
    through the extension.
    """
    superuser, owns_all = _rows(
        conn,
        r"""SELECT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
            coalesce(bool_and(pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')), true)
        FROM pg_catalog.pg_class c
        WHERE c.oid IN ({relations})
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                          WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                            AND d.deptype = 'e')""",
    )[0]
    conn.rollback()
    if superuser:
        return Role.SUPERUSER
    return Role.OWNER if owns_all else Role.USER


def inspect(dsn: str) -> Inspection:
    """The catalog, the connecting role's capabilities and the server version, in one connection."""
    with connect(dsn) as conn:
        number = conn.info.server_version  # server_version_num: 180004 for 18.4
        return Inspection(_read_catalog(conn), _role(conn), number // 10000, number % 100)


def load_catalog(dsn: str) -> Catalog:
    """The catalog of the database dsn names, as ``schema.load_schema`` would build it."""
    with connect(dsn) as conn:
        return _read_catalog(conn)


def role_capabilities(dsn: str) -> Role:
    """What the role dsn connects as may do to the tables: the default for ``--role``."""
    with connect(dsn) as conn:
        return _role(conn)


def server_version(dsn: str) -> int:
    """The server's major version (server_version_num // 10000), e.g. 18."""
    with connect(dsn) as conn:
        return _server_major(conn)


@dataclass(frozen=True)
class RestoreCheck:
    """What the --dsn role lacks for restoring an output, read before it is written."""

    #: The role the DSN connects as (current_user), for the message.
    role: str
    #: The needed privileges it does not have, in the order asked.
    missing: tuple[Need, ...]
    #: Loaded tables that already hold rows (only those the role may SELECT from).
    filled: tuple[QName, ...]


def restore_check(dsn: str, needs: Sequence[Need], tables: Sequence[QName]) -> RestoreCheck:
    """Ask the server, in one read-only transaction, which needs the role lacks.

    A table or sequence the database does not have is not reported here: the
    schema checks have refused it already, or --pass-unknown let it through.
    Inserting needs USAGE on the table's schema too, which has_table_privilege
    does not look at: it is checked with INSERT.
    """

    with connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with conn.cursor() as cur:
            cur.execute(
                "SELECT current_user, rolsuper, pg_catalog.has_database_privilege(current_database(), 'TEMP') "
                "FROM pg_catalog.pg_roles WHERE rolname = current_user"
            )
            role, superuser, temp = cur.fetchone() or ("?", False, False)
            missing: list[Need] = []
            schemas: set[str] = set()
            for need in needs:
                if need.kind == "role":
                    ok = bool(superuser)
                elif need.kind == "database":
                    ok = bool(temp) or bool(superuser)
                else:
                    ok = _has(cur, need, schemas, missing)
                if not ok:
                    missing.append(need)
            filled = tuple(t for t in tables if _holds_rows(cur, t))
        conn.rollback()
    return RestoreCheck(role, tuple(missing), filled)


def _has(cur: Any, need: Need, schemas: set[str], missing: list[Need]) -> bool:
    """One table or sequence privilege (USAGE on its schema noted in missing, once)."""
    from dumpfix.refusals import Need

    cur.execute(
        """SELECT c.oid IS NULL, n.nspname, pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE'),
            CASE %s
                WHEN 'OWNER' THEN pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
                WHEN 'SEQUENCE' THEN pg_catalog.has_sequence_privilege(c.oid, 'UPDATE')
                ELSE pg_catalog.has_table_privilege(c.oid, %s)
            END
        FROM (SELECT pg_catalog.to_regclass(%s) AS oid) r
        LEFT JOIN pg_catalog.pg_class c ON c.oid = r.oid
        LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace""",
        ("SEQUENCE" if need.kind == "sequence" else need.privilege, need.privilege, need.name),
    )
    absent, schema, usage, allowed = cur.fetchone()
    if absent:
        return True
    if not usage and schema not in schemas:
        schemas.add(schema)
        missing.append(Need("USAGE", "schema", schema))
    return bool(allowed)


def _holds_rows(cur: Any, table: QName) -> bool:
    """SELECT EXISTS on one table, when it is there and the role may read it (else: no warning)."""
    from psycopg import sql

    cur.execute(
        """SELECT CASE WHEN c.oid IS NULL THEN false
            ELSE pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE')
                AND pg_catalog.has_table_privilege(c.oid, 'SELECT') END
        FROM (SELECT pg_catalog.to_regclass(%s) AS oid) r
        LEFT JOIN pg_catalog.pg_class c ON c.oid = r.oid""",
        (str(table),),
    )
    row = cur.fetchone()
    if not row or not row[0]:
        return False
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {}.{})")
    cur.execute(query.format(sql.Identifier(table.schema), sql.Identifier(table.name)))
    return bool(cur.fetchone()[0])
