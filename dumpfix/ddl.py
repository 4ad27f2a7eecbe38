"""Apply parsed DDL statements (pglast nodes) to a Catalog.

The ``schema`` module splits and parses SQL; this module knows what each
CREATE / ALTER / DROP means for tables, keys, foreign keys and triggers.
Statements that cannot matter to a data load (functions, views, grants...) are
ignored, and so are ALTERs of relations the catalog does not know: old pg_dump
versions wrote ``ALTER TABLE`` for sequences and views too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from pglast import ast
from pglast.enums import AlterTableType as AT
from pglast.enums import ConstrType as CT
from pglast.enums import ObjectType, VariableSetKind

from .catalog import Catalog, Column, ForeignKey, QName, Table, Trigger

NAMEDATALEN = 64
_TRIGGER_TYPE_UPDATE = 1 << 4
# search_path entries that never receive CREATEd tables here.
_NOT_CREATION_SCHEMAS = frozenset({"$user", "pg_catalog", "pg_temp"})
# Raw-parse attribute nodes that follow an inline REFERENCES and modify it.
_FK_ATTRIBUTES = frozenset(
    {
        CT.CONSTR_ATTR_DEFERRABLE,
        CT.CONSTR_ATTR_NOT_DEFERRABLE,
        CT.CONSTR_ATTR_DEFERRED,
        CT.CONSTR_ATTR_IMMEDIATE,
        CT.CONSTR_ATTR_ENFORCED,
        CT.CONSTR_ATTR_NOT_ENFORCED,
    }
)
_TRIGGER_SWITCHES = {
    AT.AT_EnableTrig: True,
    AT.AT_EnableAlwaysTrig: True,
    # A REPLICA trigger does not fire in an ordinary (origin) session.
    AT.AT_EnableReplicaTrig: False,
    AT.AT_DisableTrig: False,
}
_ALL_TRIGGER_SWITCHES = {
    AT.AT_EnableTrigAll: True,
    AT.AT_EnableTrigUser: True,
    AT.AT_DisableTrigAll: False,
    AT.AT_DisableTrigUser: False,
}


def make_object_name(name1: str, name2: str | None, label: str) -> str:
    """PostgreSQL's makeObjectName: ``name1_name2_label`` clipped to 63 bytes.

    The longer of name1 and name2 loses bytes first, cut on a character boundary,
    so generated constraint names match what the server chose.
    """
    raw1, raw2 = name1.encode(), (name2 or "").encode()
    overhead = len(label) + 1 + (1 if name2 is not None else 0)
    avail = NAMEDATALEN - 1 - overhead
    len1, len2 = len(raw1), len(raw2)
    while len1 + len2 > avail:
        if len1 > len2:
            len1 -= 1
        else:
            len2 -= 1
    parts = [raw1[:len1].decode(errors="ignore")]
    if name2 is not None:
        parts.append(raw2[:len2].decode(errors="ignore"))
    return "_".join([*parts, label])


def choose_name(
    name1: str, columns: Iterable[str] | None, label: str, taken: Callable[[str], bool]
) -> str:
    """PostgreSQL's ChooseConstraintName / ChooseRelationName: add a counter on clashes."""
    name2 = "_".join(columns) if columns is not None else None
    candidate, counter = make_object_name(name1, name2, label), 0
    while taken(candidate):
        counter += 1
        candidate = make_object_name(name1, name2, f"{label}{counter}")
    return candidate


def _names(nodes: Iterable[ast.Node] | None) -> tuple[str, ...]:
    return tuple(node.sval for node in nodes or ())


@dataclass
class IndexInfo:
    """A CREATE [UNIQUE] INDEX, remembered for ADD CONSTRAINT ... USING INDEX."""

    table: QName
    #: None for expression indexes, which cannot back a key.
    columns: tuple[str, ...] | None
    #: Unique, non-partial, plain columns: a key FKs may reference.
    is_key: bool


@dataclass
class NamedKey:
    """A named PRIMARY KEY / UNIQUE / NOT NULL constraint, for DROP CONSTRAINT."""

    kind: str  # "pkey", "key" or "not_null"
    columns: tuple[str, ...]


class DdlApplier:
    """Carries the session state (search_path) and the side tables of one load."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.search_path: list[str] = ["public"]
        #: Schemas known to exist: PostgreSQL creates in the first existing one on the path.
        self.schemas: set[str] = {"public"} | {q.schema for q in catalog.tables}
        self.indexes: dict[QName, IndexInfo] = {}
        self.named_keys: dict[tuple[QName, str], NamedKey] = {}
        #: Statement-level triggers, which partitions do not inherit.
        self.statement_triggers: set[tuple[QName, str]] = set()
        self._handlers: dict[type, Callable[[ast.Node], None]] = {
            ast.CreateStmt: self.create_table,
            ast.CreateTableAsStmt: self.create_table_as,
            ast.AlterTableStmt: self.alter_table,
            ast.RenameStmt: self.rename,
            ast.AlterObjectSchemaStmt: self.set_schema,
            ast.IndexStmt: self.create_index,
            ast.CreateTrigStmt: self.create_trigger,
            ast.DropStmt: self.drop,
            ast.CreateSchemaStmt: self.create_schema,
            ast.VariableSetStmt: self.set_variable,
            ast.SelectStmt: self.select,
        }

    def apply(self, node: ast.Node) -> None:
        handler = self._handlers.get(type(node))
        if handler is not None:
            handler(node)

    # -- names -------------------------------------------------------------
    def creation_schema(self) -> str:
        """The first existing schema on the path (else the first named: PostgreSQL would fail)."""
        candidates = [s for s in self.search_path if s not in _NOT_CREATION_SCHEMAS]
        existing = [s for s in candidates if s in self.schemas]
        return (existing or candidates or ["public"])[0]

    def new_name(self, rv: ast.RangeVar) -> QName:
        name = QName(rv.schemaname or self.creation_schema(), rv.relname)
        self.schemas.add(name.schema)
        return name

    def find(self, rv: ast.RangeVar) -> QName:
        """An existing table along the search_path, else the name CREATE would pick."""
        if rv.schemaname:
            return QName(rv.schemaname, rv.relname)
        for schema in self.search_path:
            if QName(schema, rv.relname) in self.catalog.tables:
                return QName(schema, rv.relname)
        return self.new_name(rv)

    def taken(self, schema: str) -> Callable[[str], bool]:
        """Whether a generated name clashes in the schema (approximating PostgreSQL's checks)."""

        def is_taken(name: str) -> bool:
            return (
                QName(schema, name) in self.catalog.tables
                or QName(schema, name) in self.indexes
                or any(t.schema == schema and n == name for t, n in self.named_keys)
                or any(fk.table.schema == schema and fk.name == name for fk in self.catalog.foreign_keys)
            )

        return is_taken

    # -- session -----------------------------------------------------------
    def set_search_path(self, schemas: list[str]) -> None:
        self.search_path = schemas or ["public"]

    def set_variable(self, node: ast.VariableSetStmt) -> None:
        if node.kind == VariableSetKind.VAR_RESET_ALL or (
            node.name == "search_path"
            and node.kind in (VariableSetKind.VAR_SET_DEFAULT, VariableSetKind.VAR_RESET)
        ):
            self.set_search_path(["$user", "public"])
        elif node.name == "search_path" and node.kind == VariableSetKind.VAR_SET_VALUE:
            # search_path is GUC_LIST_QUOTE: each argument is one schema name.
            self.set_search_path([arg.val.sval for arg in node.args or () if hasattr(arg.val, "sval")])

    def select(self, node: ast.SelectStmt) -> None:
        """``SELECT pg_catalog.set_config('search_path', 'a, b', false)``."""
        for target in node.targetList or ():
            call = target.val
            if not isinstance(call, ast.FuncCall) or _names(call.funcname)[-1:] != ("set_config",):
                continue
            args = call.args or ()
            values = [getattr(getattr(a, "val", None), "sval", None) for a in args[:2]]
            if len(values) == 2 and values[0] == "search_path" and values[1] is not None:
                self.set_search_path(split_identifier_list(values[1]))

    def create_schema(self, node: ast.CreateSchemaStmt) -> None:
        saved = self.search_path
        if node.schemaname:
            self.schemas.add(node.schemaname)
            self.search_path = [node.schemaname, *saved]
        try:
            for element in node.schemaElts or ():
                self.apply(element)
        finally:
            self.search_path = saved

    # -- CREATE TABLE ------------------------------------------------------
    def create_table(self, node: ast.CreateStmt) -> None:
        if node.relation.relpersistence == "t":
            return
        name = self.new_name(node.relation)
        if node.if_not_exists and name in self.catalog.tables:
            return
        table = Table(name, partitioned=node.partspec is not None)
        for parent in map(self.find, node.inhRelations or ()):
            self.inherit_columns(table, parent)
            if node.partbound is not None:
                table.parent = parent
        self.catalog.tables[name] = table
        for element in node.tableElts or ():
            if isinstance(element, ast.ColumnDef):
                self.add_column(table, element)
            elif isinstance(element, ast.Constraint):
                self.add_constraint(table, element)
            elif isinstance(element, ast.TableLikeClause):
                self.inherit_columns(table, self.find(element.relation))

    def create_table_as(self, node: ast.CreateTableAsStmt) -> None:
        """CREATE TABLE AS: a table without known columns, which later ALTERs may key."""
        if node.objtype == ObjectType.OBJECT_TABLE and node.into.rel.relpersistence != "t":
            name = self.new_name(node.into.rel)
            self.catalog.tables.setdefault(name, Table(name))

    def inherit_columns(self, table: Table, source: QName) -> None:
        parent = self.catalog.tables.get(source)
        for column in parent.columns.values() if parent else ():
            table.columns.setdefault(column.name, replace(column))

    def add_column(self, table: Table, node: ast.ColumnDef) -> None:
        column = table.columns.setdefault(node.colname, Column(node.colname))
        column.not_null = column.not_null or bool(node.is_not_null)
        last_fk: ForeignKey | None = None
        for con in node.constraints or ():
            if con.contype in _FK_ATTRIBUTES:
                if last_fk is not None:
                    _apply_fk_attribute(last_fk, con.contype)
            elif con.contype == CT.CONSTR_FOREIGN:
                last_fk = self.add_foreign_key(table, con, (column.name,))
            else:
                self.column_constraint(table, column, con)

    def column_constraint(self, table: Table, column: Column, con: ast.Constraint) -> None:
        if con.contype == CT.CONSTR_NOTNULL:
            self.set_not_null(table, (column.name,), con.conname)
        elif con.contype == CT.CONSTR_NULL:
            column.not_null = False
        elif con.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
            self.add_key(table, con, (column.name,))
        elif con.contype == CT.CONSTR_IDENTITY:
            column.not_null = True
            column.identity_always = con.generated_when == "a"
        elif con.contype == CT.CONSTR_GENERATED:
            column.generated = True

    # -- constraints -------------------------------------------------------
    def add_constraint(self, table: Table, con: ast.Constraint) -> None:
        if con.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
            self.add_key(table, con, _names(con.keys))
        elif con.contype == CT.CONSTR_FOREIGN:
            self.add_foreign_key(table, con, _names(con.fk_attrs))
        elif con.contype == CT.CONSTR_NOTNULL:
            self.set_not_null(table, _names(con.keys), con.conname)

    def add_key(self, table: Table, con: ast.Constraint, columns: tuple[str, ...]) -> None:
        """PRIMARY KEY / UNIQUE, from a column list or an existing index (USING INDEX)."""
        if con.indexname:
            index = self.indexes.pop(QName(table.name.schema, con.indexname), None)
            if index is None or index.columns is None:
                return
            columns = index.columns
            if index.is_key and columns in table.unique_keys:
                table.unique_keys.remove(columns)  # the constraint takes the index over
        if not columns:
            return
        kind = "pkey" if con.contype == CT.CONSTR_PRIMARY else "key"
        name = con.conname or choose_name(
            table.name.name, None if kind == "pkey" else columns, kind, self.taken(table.name.schema)
        )
        self.named_keys[(table.name, name)] = NamedKey(kind, columns)
        if kind == "pkey":
            table.primary_key = columns
            for column in columns:
                table.columns.setdefault(column, Column(column)).not_null = True
        else:
            table.unique_keys.append(columns)

    def set_not_null(self, table: Table, columns: tuple[str, ...], conname: str | None) -> None:
        for column in columns:
            table.columns.setdefault(column, Column(column)).not_null = True
            name = conname or make_object_name(table.name.name, column, "not_null")
            self.named_keys[(table.name, name)] = NamedKey("not_null", (column,))

    def add_foreign_key(
        self, table: Table, con: ast.Constraint, columns: tuple[str, ...]
    ) -> ForeignKey | None:
        """Record an FK; a second one with the same name is a no-op (Drizzle's DO blocks)."""
        name = con.conname or choose_name(
            table.name.name, columns, "fkey", self.taken(table.name.schema)
        )
        if self.foreign_key(table.name, name) is not None:
            return None
        fk = ForeignKey(
            name=name,
            table=table.name,
            columns=columns,
            ref_table=self.find(con.pktable),
            ref_columns=_names(con.pk_attrs),
            deferrable=bool(con.deferrable or con.initdeferred),
            initially_deferred=bool(con.initdeferred),
            match_full=con.fk_matchtype == "f",
            enforced=bool(con.is_enforced),
        )
        self.catalog.foreign_keys.append(fk)
        return fk

    def foreign_key(self, table: QName, name: str) -> ForeignKey | None:
        for fk in self.catalog.foreign_keys:
            if fk.table == table and fk.name == name:
                return fk
        return None

    def drop_constraint(self, table: Table, name: str) -> None:
        fk = self.foreign_key(table.name, name)
        if fk is not None:
            self.catalog.foreign_keys.remove(fk)
            return
        key = self.named_keys.pop((table.name, name), None)
        if key is None and name == make_object_name(table.name.name, None, "pkey"):
            key = NamedKey("pkey", table.primary_key or ())
        if key is None:
            return
        if key.kind == "pkey" and table.primary_key == key.columns:
            table.primary_key = None
        elif key.kind == "key" and key.columns in table.unique_keys:
            table.unique_keys.remove(key.columns)
        elif key.kind == "not_null" and key.columns[0] in table.columns:
            table.columns[key.columns[0]].not_null = key.columns[0] in (table.primary_key or ())

    def alter_constraint(self, table: Table, node: ast.Node) -> None:
        """ALTER CONSTRAINT: deferrability (9.4+) and, from PostgreSQL 18, enforcement."""
        fk = self.foreign_key(table.name, node.conname)
        if fk is None:
            return
        if getattr(node, "alterDeferrability", True):
            fk.deferrable = bool(node.deferrable or node.initdeferred)
            fk.initially_deferred = bool(node.initdeferred)
        if getattr(node, "alterEnforceability", False):
            fk.enforced = bool(node.is_enforced)

    # -- ALTER TABLE -------------------------------------------------------
    def alter_table(self, node: ast.AlterTableStmt) -> None:
        if node.objtype != ObjectType.OBJECT_TABLE:
            return
        table = self.catalog.tables.get(self.find(node.relation))
        if table is None:
            return
        for cmd in node.cmds or ():
            self.alter_table_cmd(table, cmd)

    def alter_table_cmd(self, table: Table, cmd: ast.AlterTableCmd) -> None:
        kind = cmd.subtype
        column = table.columns.get(cmd.name) if cmd.name else None
        if kind == AT.AT_AddColumn:
            if not (cmd.missing_ok and cmd.def_.colname in table.columns):
                self.add_column(table, cmd.def_)
        elif kind == AT.AT_AddConstraint:
            self.add_constraint(table, cmd.def_)
        elif kind == AT.AT_DropConstraint:
            self.drop_constraint(table, cmd.name)
        elif kind == AT.AT_AlterConstraint:
            self.alter_constraint(table, cmd.def_)
        elif kind == AT.AT_DropColumn:
            self.drop_column(table, cmd.name)
        elif kind == AT.AT_SetNotNull and column is not None:
            self.set_not_null(table, (column.name,), None)
        elif kind == AT.AT_DropNotNull and column is not None:
            column.not_null = False
        elif kind == AT.AT_AddIdentity and column is not None:
            column.not_null = True
            column.identity_always = cmd.def_.generated_when == "a"
        elif kind == AT.AT_SetIdentity and column is not None:
            for option in cmd.def_ or ():
                if option.defname == "generated":
                    column.identity_always = option.arg.ival == ord("a")
        elif kind == AT.AT_DropIdentity and column is not None:
            column.identity_always = False
        elif kind == AT.AT_DropExpression and column is not None:
            column.generated = False
        elif kind in _TRIGGER_SWITCHES:
            for trigger in table.triggers:
                if trigger.name == cmd.name:
                    trigger.enabled = _TRIGGER_SWITCHES[kind]
        elif kind in _ALL_TRIGGER_SWITCHES:
            for trigger in table.triggers:
                trigger.enabled = _ALL_TRIGGER_SWITCHES[kind]
        elif kind == AT.AT_AttachPartition:
            child = self.catalog.tables.get(self.find(cmd.def_.name))
            if child is not None:
                child.parent = table.name
        elif kind == AT.AT_DetachPartition:
            child = self.catalog.tables.get(self.find(cmd.def_.name))
            if child is not None and child.parent == table.name:
                self.detach(child)

    def detach(self, child: Table) -> None:
        """A detached partition keeps copies of its keys and inherited FKs, not the triggers."""
        self.inherit_from_parent(child, set(), triggers=False)
        ancestors, parent = set(), child.parent
        while parent is not None and parent not in ancestors:
            ancestors.add(parent)
            parent = getattr(self.catalog.tables.get(parent), "parent", None)
        for fk in list(self.catalog.foreign_keys):
            if fk.table in ancestors and self.foreign_key(child.name, fk.name) is None:
                self.catalog.foreign_keys.append(replace(fk, table=child.name))
        child.parent = None

    def drop_column(self, table: Table, name: str) -> None:
        """DROP COLUMN also drops the keys and FKs (either side) that use it."""
        table.columns.pop(name, None)
        if table.primary_key and name in table.primary_key:
            table.primary_key = None
        table.unique_keys = [key for key in table.unique_keys if name not in key]
        self.catalog.foreign_keys = [
            fk
            for fk in self.catalog.foreign_keys
            if not (fk.table == table.name and name in fk.columns)
            and not (fk.ref_table == table.name and name in fk.ref_columns)
        ]

    # -- renames -----------------------------------------------------------
    def rename(self, node: ast.RenameStmt) -> None:
        kind = node.renameType
        if kind == ObjectType.OBJECT_INDEX:
            old = self.index_name(node.relation)
            if old in self.indexes:
                self.indexes[QName(old.schema, node.newname)] = self.indexes.pop(old)
            return
        target = self.find(node.relation) if node.relation is not None else None
        table = self.catalog.tables.get(target) if target else None
        if table is None:
            return
        if kind == ObjectType.OBJECT_TABLE:
            self.move_table(table, QName(table.name.schema, node.newname))
        elif kind == ObjectType.OBJECT_COLUMN and node.relationType == ObjectType.OBJECT_TABLE:
            for each in [table, *self.partitions_of(table.name)]:
                rename_column(self.catalog, self.indexes, each, node.subname, node.newname)
        elif kind == ObjectType.OBJECT_TABCONSTRAINT:
            fk = self.foreign_key(table.name, node.subname)
            if fk is not None:
                fk.name = node.newname
            elif (table.name, node.subname) in self.named_keys:
                key = self.named_keys.pop((table.name, node.subname))
                self.named_keys[(table.name, node.newname)] = key

    def index_name(self, rv: ast.RangeVar) -> QName:
        if rv.schemaname:
            return QName(rv.schemaname, rv.relname)
        for schema in self.search_path:
            if QName(schema, rv.relname) in self.indexes:
                return QName(schema, rv.relname)
        return QName(self.creation_schema(), rv.relname)

    def set_schema(self, node: ast.AlterObjectSchemaStmt) -> None:
        if node.objectType == ObjectType.OBJECT_TABLE and node.relation is not None:
            table = self.catalog.tables.get(self.find(node.relation))
            if table is not None:
                self.schemas.add(node.newschema)
                self.move_table(table, QName(node.newschema, table.name.name))

    def move_table(self, table: Table, new: QName) -> None:
        """RENAME TO / SET SCHEMA: every reference to the table follows it."""
        old = table.name
        self.catalog.tables = {(new if k == old else k): v for k, v in self.catalog.tables.items()}
        table.name = new
        for fk in self.catalog.foreign_keys:
            fk.table = new if fk.table == old else fk.table
            fk.ref_table = new if fk.ref_table == old else fk.ref_table
        for trigger in table.triggers:
            trigger.table = new
        for other in self.catalog.tables.values():
            other.parent = new if other.parent == old else other.parent
        for key, index in list(self.indexes.items()):
            if index.table == old:
                index.table = new
                if key.schema != new.schema:
                    self.indexes[QName(new.schema, key.name)] = self.indexes.pop(key)
        self.named_keys = {((new if t == old else t), n): k for (t, n), k in self.named_keys.items()}
        self.statement_triggers = {((new if t == old else t), n) for t, n in self.statement_triggers}

    def partitions_of(self, name: QName) -> list[Table]:
        found = [t for t in self.catalog.tables.values() if t.parent == name]
        return found + [p for child in found for p in self.partitions_of(child.name)]

    # -- indexes, triggers, drops -----------------------------------------
    def create_index(self, node: ast.IndexStmt) -> None:
        table = self.catalog.tables.get(self.find(node.relation))
        if table is None:
            return
        plain = all(param.name for param in node.indexParams or ())
        columns = tuple(p.name or "expr" for p in node.indexParams or ())
        name = node.idxname or choose_name(
            table.name.name, columns, "idx", self.taken(table.name.schema)
        )
        is_key = bool(node.unique) and plain and node.whereClause is None
        self.indexes[QName(table.name.schema, name)] = IndexInfo(
            table.name, columns if plain else None, is_key
        )
        if is_key:
            table.unique_keys.append(columns)

    def drop_index(self, name: QName) -> None:
        index = self.indexes.pop(name, None)
        table = self.catalog.tables.get(index.table) if index else None
        if index is not None and table is not None and index.is_key and index.columns in table.unique_keys:
            table.unique_keys.remove(index.columns)

    def create_trigger(self, node: ast.CreateTrigStmt) -> None:
        """User triggers only: FK checks are system triggers (RI_FKey_* functions)."""
        if _names(node.funcname)[-1].startswith("RI_FKey_"):
            return
        table = self.catalog.tables.get(self.find(node.relation))
        if table is None:
            return
        table.triggers = [t for t in table.triggers if t.name != node.trigname]
        table.triggers.append(
            Trigger(node.trigname, table.name, on_update=bool(node.events & _TRIGGER_TYPE_UPDATE))
        )
        if not node.row:
            self.statement_triggers.add((table.name, node.trigname))

    def drop(self, node: ast.DropStmt) -> None:
        kind = node.removeType
        for obj in node.objects or ():
            names = _names(obj) if isinstance(obj, (list, tuple)) else (obj.sval,)
            if kind == ObjectType.OBJECT_SCHEMA:
                self.drop_tables([q for q in self.catalog.tables if q.schema == names[0]])
                self.schemas.discard(names[0])
            elif kind == ObjectType.OBJECT_TABLE:
                self.drop_tables([self.find(_range_var(names))])
            elif kind == ObjectType.OBJECT_INDEX:
                self.drop_index(self.index_name(_range_var(names)))
            elif kind == ObjectType.OBJECT_TRIGGER:
                table = self.catalog.tables.get(self.find(_range_var(names[:-1])))
                if table is not None:
                    table.triggers = [t for t in table.triggers if t.name != names[-1]]

    def drop_tables(self, names: list[QName]) -> None:
        """DROP TABLE takes the table's partitions and every FK on or to them along."""
        doomed = {q for q in names if q in self.catalog.tables}
        doomed.update(p.name for q in list(doomed) for p in self.partitions_of(q))
        if not doomed:
            return
        self.catalog.tables = {k: v for k, v in self.catalog.tables.items() if k not in doomed}
        self.catalog.foreign_keys = [
            fk
            for fk in self.catalog.foreign_keys
            if fk.table not in doomed and fk.ref_table not in doomed
        ]
        self.indexes = {k: v for k, v in self.indexes.items() if v.table not in doomed}
        self.named_keys = {k: v for k, v in self.named_keys.items() if k[0] not in doomed}

    # -- the end -----------------------------------------------------------
    def finish(self) -> None:
        """Give partitions their parent's columns, keys and row triggers, then resolve."""
        done: set[QName] = set()
        for table in list(self.catalog.tables.values()):
            self.inherit_from_parent(table, done)
            table.unique_keys = list(dict.fromkeys(table.unique_keys))
        self.catalog.resolve()

    def inherit_from_parent(self, table: Table, done: set[QName], triggers: bool = True) -> None:
        if table.name in done:
            return
        done.add(table.name)
        parent = self.catalog.tables.get(table.parent) if table.parent else None
        if parent is None:
            return
        self.inherit_from_parent(parent, done)
        for column in parent.columns.values():
            own = table.columns.setdefault(column.name, replace(column))
            own.not_null = own.not_null or column.not_null
            own.generated = own.generated or column.generated
            own.identity_always = own.identity_always or column.identity_always
        if table.primary_key is None:
            table.primary_key = parent.primary_key
        table.unique_keys.extend(k for k in parent.unique_keys if k not in table.unique_keys)
        own_triggers = {t.name for t in table.triggers}
        for trigger in parent.triggers if triggers else ():
            if trigger.name not in own_triggers and (parent.name, trigger.name) not in self.statement_triggers:
                table.triggers.append(replace(trigger, table=table.name))


def rename_column(
    catalog: Catalog, indexes: dict[QName, IndexInfo], table: Table, old: str, new: str
) -> None:
    """RENAME COLUMN: the column, its keys, indexes and both sides of FKs follow."""
    if old not in table.columns:
        return

    def swap(columns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(new if c == old else c for c in columns)

    table.columns = {
        (new if name == old else name): (replace(col, name=new) if name == old else col)
        for name, col in table.columns.items()
    }
    table.primary_key = swap(table.primary_key) if table.primary_key else None
    table.unique_keys = [swap(key) for key in table.unique_keys]
    for fk in catalog.foreign_keys:
        if fk.table == table.name:
            fk.columns = swap(fk.columns)
        if fk.ref_table == table.name:
            fk.ref_columns = swap(fk.ref_columns)
    for index in indexes.values():
        if index.table == table.name and index.columns:
            index.columns = swap(index.columns)


def _apply_fk_attribute(fk: ForeignKey, attribute: CT) -> None:
    if attribute == CT.CONSTR_ATTR_DEFERRABLE:
        fk.deferrable = True
    elif attribute == CT.CONSTR_ATTR_NOT_DEFERRABLE:
        fk.deferrable = fk.initially_deferred = False
    elif attribute == CT.CONSTR_ATTR_DEFERRED:
        fk.deferrable = fk.initially_deferred = True
    elif attribute == CT.CONSTR_ATTR_IMMEDIATE:
        fk.initially_deferred = False
    else:
        fk.enforced = attribute == CT.CONSTR_ATTR_ENFORCED


def _range_var(names: tuple[str, ...]) -> ast.RangeVar:
    """A RangeVar for a dotted name from a DROP (catalog.schema.name or shorter)."""
    return ast.RangeVar(relname=names[-1], schemaname=names[-2] if len(names) > 1 else None)


def split_identifier_list(value: str) -> list[str]:
    """PostgreSQL's SplitIdentifierString: comma list, unquoted names folded to lower case."""
    names: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t\r\n,":
            i += 1
        if i >= n:
            break
        if value[i] == '"':
            j, buf = i + 1, []
            while j < n:
                if value[j] == '"':
                    if value[j + 1 : j + 2] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(value[j])
                j += 1
            names.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and value[j] != ",":
                j += 1
            names.append(value[i:j].strip().lower())
            i = j
    return names
