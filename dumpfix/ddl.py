"""What parsed DDL statements (pglast nodes) mean for the catalog.

The ``schema`` module splits and parses SQL; this module reads each CREATE /
ALTER / DROP and SET search_path, resolves names the way PostgreSQL would, and
has ``catalog_edits`` apply the change. Statements that cannot matter to a data
load (functions, views, grants...) are ignored, and so are ALTERs of relations
the catalog does not know: old pg_dump versions wrote ``ALTER TABLE`` for
sequences and views too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType as AT
from pglast.enums import ConstrType as CT
from pglast.enums import ObjectType, VariableSetKind

from .catalog import Catalog, ForeignKey, QName, Trigger
from .catalog_edits import CatalogDraft, CatalogEditor, IndexInfo, TableDraft, choose_name

_TRIGGER_TYPE_INSERT = 1 << 2
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
# pglast's node classes declare every field optional: handlers take Any.
Node = Any


def _names(nodes: Iterable[Node] | None) -> tuple[str, ...]:
    return tuple(node.sval for node in nodes or ())


class DdlApplier:
    """One session's view: the search_path, the schemas that exist, the catalog."""

    def __init__(self, catalog: CatalogDraft) -> None:
        self.edit = CatalogEditor(catalog)
        self.catalog = catalog
        self.search_path: list[str] = ["public"]
        #: Schemas known to exist: PostgreSQL creates in the first existing one on the path.
        self.schemas: set[str] = {"public"} | {q.schema for q in catalog.tables}
        self._handlers: dict[type, Callable[[Node], None]] = {
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
            ast.CommentStmt: self.comment,
        }

    def apply(self, node: Node) -> None:
        handler = self._handlers.get(type(node))
        if handler is not None:
            handler(node)

    def finish(self) -> Catalog:
        return self.edit.finish()

    # -- names -------------------------------------------------------------
    def creation_schema(self) -> str:
        """The first existing schema on the path (else the first named: PostgreSQL would fail)."""
        candidates = [s for s in self.search_path if s not in _NOT_CREATION_SCHEMAS]
        existing = [s for s in candidates if s in self.schemas]
        return (existing or candidates or ["public"])[0]

    def new_name(self, rv: Node) -> QName:
        name = QName(rv.schemaname or self.creation_schema(), rv.relname)
        self.schemas.add(name.schema)
        return name

    def find(self, rv: Node, known: Iterable[QName] | None = None) -> QName:
        """An existing relation along the search_path, else the name CREATE would pick."""
        if rv.schemaname:
            return QName(rv.schemaname, rv.relname)
        existing = self.catalog.tables if known is None else known
        for schema in self.search_path:
            if QName(schema, rv.relname) in existing:
                return QName(schema, rv.relname)
        return QName(self.creation_schema(), rv.relname)

    def table(self, rv: Node) -> TableDraft | None:
        return self.catalog.tables.get(self.find(rv))

    # -- session -----------------------------------------------------------
    def set_search_path(self, schemas: list[str]) -> None:
        self.search_path = schemas or ["public"]

    def set_variable(self, node: Node) -> None:
        if node.kind == VariableSetKind.VAR_RESET_ALL or (
            node.name == "search_path" and node.kind in (VariableSetKind.VAR_SET_DEFAULT, VariableSetKind.VAR_RESET)
        ):
            self.set_search_path(["$user", "public"])
        elif node.name == "search_path" and node.kind == VariableSetKind.VAR_SET_VALUE:
            # search_path is GUC_LIST_QUOTE: each argument is one schema name.
            self.set_search_path([arg.val.sval for arg in node.args or () if hasattr(arg.val, "sval")])

    def select(self, node: Node) -> None:
        """``SELECT pg_catalog.set_config('search_path', 'a, b', false)``."""
        for target in node.targetList or ():
            call = target.val
            if not isinstance(call, ast.FuncCall) or _names(call.funcname)[-1:] != ("set_config",):
                continue
            values = [getattr(getattr(a, "val", None), "sval", None) for a in (call.args or ())[:2]]
            if len(values) == 2 and values[0] == "search_path" and values[1] is not None:
                self.set_search_path(split_identifier_list(values[1]))

    def create_schema(self, node: Node) -> None:
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
    def create_table(self, node: Node) -> None:
        if node.relation.relpersistence == "t":
            return
        name = self.new_name(node.relation)
        if node.if_not_exists and name in self.catalog.tables:
            return
        table = TableDraft(name, partitioned=node.partspec is not None)
        for parent in map(self.find, node.inhRelations or ()):
            self.copy_columns(table, parent)
            if node.partbound is not None:
                table.parent = parent
        self.catalog.tables[name] = table
        for element in node.tableElts or ():
            if isinstance(element, ast.ColumnDef):
                self.add_column(table, element)
            elif isinstance(element, ast.Constraint):
                self.add_constraint(table, element)
            elif isinstance(element, ast.TableLikeClause):
                self.copy_columns(table, self.find(element.relation))

    def create_table_as(self, node: Node) -> None:
        """CREATE TABLE AS: a table without known columns, which later ALTERs may key."""
        if node.objtype == ObjectType.OBJECT_TABLE and node.into.rel.relpersistence != "t":
            name = self.new_name(node.into.rel)
            self.catalog.tables.setdefault(name, TableDraft(name))

    def copy_columns(self, table: TableDraft, source: QName) -> None:
        """INHERITS, LIKE and PARTITION OF start from the source's columns."""
        parent = self.catalog.tables.get(source)
        for column in parent.columns.values() if parent else ():
            table.columns.setdefault(column.name, column)

    def add_column(self, table: TableDraft, node: Node) -> None:
        column = table.columns.get(node.colname)
        table.change_column(
            node.colname,
            not_null=(column is not None and column.not_null) or bool(node.is_not_null),
            defaulted=(column is not None and column.defaulted) or _serial(node),
        )
        last_fk: ForeignKey | None = None
        for con in node.constraints or ():
            if con.contype in _FK_ATTRIBUTES:
                if last_fk is not None:
                    last_fk = self.edit.change_foreign_key(last_fk, **_fk_attribute(con.contype))
            elif con.contype == CT.CONSTR_FOREIGN:
                last_fk = self.add_foreign_key(table, con, (node.colname,))
            else:
                self.column_constraint(table, node.colname, con)

    def column_constraint(self, table: TableDraft, column: str, con: Node) -> None:
        if con.contype == CT.CONSTR_NOTNULL:
            self.edit.set_not_null(table, (column,), con.conname)
        elif con.contype == CT.CONSTR_NULL:
            table.change_column(column, not_null=False)
        elif con.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
            self.add_key(table, con, (column,))
        elif con.contype == CT.CONSTR_IDENTITY:
            table.change_column(column, not_null=True, defaulted=True, identity_always=con.generated_when == "a")
        elif con.contype == CT.CONSTR_GENERATED:
            table.change_column(column, generated=True, defaulted=True)
        elif con.contype == CT.CONSTR_DEFAULT:
            table.change_column(column, defaulted=True)

    # -- constraints -------------------------------------------------------
    def add_constraint(self, table: TableDraft, con: Node) -> ForeignKey | None:
        if con.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
            self.add_key(table, con, _names(con.keys))
        elif con.contype == CT.CONSTR_FOREIGN:
            return self.add_foreign_key(table, con, _names(con.fk_attrs))
        elif con.contype == CT.CONSTR_NOTNULL:
            self.edit.set_not_null(table, _names(con.keys), con.conname)
        return None

    def add_key(self, table: TableDraft, con: Node, columns: tuple[str, ...]) -> None:
        """PRIMARY KEY / UNIQUE, from a column list or an existing index (USING INDEX)."""
        if con.indexname:
            columns = self.edit.take_index(table, con.indexname) or ()
        if columns:
            self.edit.add_key(table, con.contype == CT.CONSTR_PRIMARY, columns, con.conname)

    def add_foreign_key(self, table: TableDraft, con: Node, columns: tuple[str, ...]) -> ForeignKey | None:
        fk = ForeignKey(
            name=self.edit.fk_name(table, columns, con.conname),
            table=table.name,
            columns=columns,
            ref_table=self.find(con.pktable),
            ref_columns=_names(con.pk_attrs),
            deferrable=bool(con.deferrable or con.initdeferred),
            initially_deferred=bool(con.initdeferred),
            match_full=con.fk_matchtype == "f",
            enforced=bool(con.is_enforced),
            on_update=con.fk_upd_action or "a",
            on_delete=con.fk_del_action or "a",
            delete_set_columns=_names(getattr(con, "fk_del_set_cols", None)),
        )
        return fk if self.edit.add_foreign_key(fk) else None

    def alter_constraint(self, table: TableDraft, node: Node) -> None:
        """ALTER CONSTRAINT: deferrability (9.4+) and, from PostgreSQL 18, enforcement."""
        fk = self.edit.foreign_key(table.name, node.conname)
        if fk is None:
            return
        changes: dict[str, bool] = {}
        if getattr(node, "alterDeferrability", True):
            changes.update(
                deferrable=bool(node.deferrable or node.initdeferred), initially_deferred=bool(node.initdeferred)
            )
        if getattr(node, "alterEnforceability", False):
            changes.update(enforced=bool(node.is_enforced))
        self.edit.change_foreign_key(fk, **changes)

    # -- ALTER TABLE -------------------------------------------------------
    def alter_table(self, node: Node) -> None:
        table = self.table(node.relation) if node.objtype == ObjectType.OBJECT_TABLE else None
        if table is None:
            return
        for cmd in node.cmds or ():
            self.alter_table_cmd(table, cmd)

    def alter_table_cmd(self, table: TableDraft, cmd: Node) -> None:
        kind = cmd.subtype
        if kind == AT.AT_AddColumn:
            if not (cmd.missing_ok and cmd.def_.colname in table.columns):
                self.add_column(table, cmd.def_)
        elif kind == AT.AT_AddConstraint:
            fk = self.add_constraint(table, cmd.def_)
            if fk is not None and cmd.def_.skip_validation:  # NOT VALID (CREATE TABLE checks none: ignored there)
                self.edit.change_foreign_key(fk, validated=False)
        elif kind == AT.AT_ValidateConstraint:
            validated = self.edit.foreign_key(table.name, cmd.name)
            if validated is not None:
                self.edit.change_foreign_key(validated, validated=True)
        elif kind == AT.AT_DropConstraint:
            self.edit.drop_constraint(table, cmd.name)
        elif kind == AT.AT_AlterConstraint:
            self.alter_constraint(table, cmd.def_)
        elif kind == AT.AT_DropColumn:
            # Partitions cannot keep an inherited column: PostgreSQL recurses.
            for each in [table, *self.edit.partitions_of(table.name)]:
                self.edit.drop_column(each, cmd.name)
        elif kind in (AT.AT_AttachPartition, AT.AT_DetachPartition):
            self.partition_cmd(table, cmd)
        elif kind in _ALL_TRIGGER_SWITCHES:
            table.triggers = [replace(t, enabled=_ALL_TRIGGER_SWITCHES[kind]) for t in table.triggers]
        elif kind in _TRIGGER_SWITCHES:
            table.triggers = [
                replace(t, enabled=_TRIGGER_SWITCHES[kind]) if t.name == cmd.name else t for t in table.triggers
            ]
        elif cmd.name:
            for each in [table, *self.edit.partitions_of(table.name)]:
                if cmd.name in each.columns:
                    self.alter_column(each, cmd.name, cmd)

    def alter_column(self, table: TableDraft, column: str, cmd: Node) -> None:
        kind = cmd.subtype
        if kind == AT.AT_SetNotNull:
            self.edit.set_not_null(table, (column,), None)
        elif kind == AT.AT_DropNotNull:
            table.change_column(column, not_null=False)
        elif kind == AT.AT_AddIdentity:  # how pg_dump writes identity columns
            table.change_column(column, not_null=True, defaulted=True, identity_always=cmd.def_.generated_when == "a")
        elif kind == AT.AT_ColumnDefault:  # SET DEFAULT (pg_dump's nextval), DROP DEFAULT
            table.change_column(column, defaulted=cmd.def_ is not None)
        elif kind == AT.AT_SetIdentity:
            for option in cmd.def_ or ():
                if option.defname == "generated":
                    table.change_column(column, identity_always=option.arg.ival == ord("a"))
        elif kind == AT.AT_DropIdentity:
            table.change_column(column, identity_always=False, defaulted=False)
        elif kind == AT.AT_DropExpression:
            table.change_column(column, generated=False, defaulted=False)

    def partition_cmd(self, table: TableDraft, cmd: Node) -> None:
        child = self.table(cmd.def_.name)
        if child is None:
            return
        if cmd.subtype == AT.AT_AttachPartition:
            child.parent = table.name
        elif child.parent == table.name:
            self.edit.detach(child)

    def comment(self, node: Node) -> None:
        """COMMENT ON CONSTRAINT: an FK dropped and added again (--bulk) takes it back."""
        if node.objtype != ObjectType.OBJECT_TABCONSTRAINT:
            return
        names = _names(node.object)
        table = self.table(_range_var(names[:-1]))
        fk = self.edit.foreign_key(table.name, names[-1]) if table is not None else None
        if fk is not None:
            self.edit.change_foreign_key(fk, comment=node.comment or None)  # IS NULL and IS '' both remove it

    # -- renames -----------------------------------------------------------
    def rename(self, node: Node) -> None:
        kind = node.renameType
        if kind == ObjectType.OBJECT_INDEX:
            self.edit.rename_index(self.find(node.relation, self.edit.indexes), node.newname)
            return
        table = self.table(node.relation) if node.relation is not None else None
        if table is None:
            return
        if kind == ObjectType.OBJECT_TABLE:
            self.edit.move_table(table, QName(table.name.schema, node.newname))
        elif kind == ObjectType.OBJECT_COLUMN and node.relationType == ObjectType.OBJECT_TABLE:
            self.edit.rename_column(table, node.subname, node.newname)
        elif kind == ObjectType.OBJECT_TABCONSTRAINT:
            self.edit.rename_constraint(table, node.subname, node.newname)

    def set_schema(self, node: Node) -> None:
        table = self.table(node.relation) if node.objectType == ObjectType.OBJECT_TABLE else None
        if table is not None:
            self.schemas.add(node.newschema)
            self.edit.move_table(table, QName(node.newschema, table.name.name))

    # -- indexes, triggers, drops -----------------------------------------
    def create_index(self, node: Node) -> None:
        table = self.table(node.relation)
        if table is None:
            return
        params = node.indexParams or ()
        plain = all(param.name for param in params)
        columns = tuple(p.name or "expr" for p in params)
        name = node.idxname or choose_name(table.name.name, columns, "idx", self.edit.taken(table.name.schema))
        is_key = bool(node.unique) and plain and node.whereClause is None
        self.edit.add_index(QName(table.name.schema, name), IndexInfo(table.name, columns if plain else None, is_key))

    def create_trigger(self, node: Node) -> None:
        """User triggers only: FK checks are system triggers (RI_FKey_* functions)."""
        table = self.table(node.relation)
        if table is None or _names(node.funcname)[-1].startswith("RI_FKey_"):
            return
        on_update = bool(node.events & _TRIGGER_TYPE_UPDATE)
        on_insert = bool(node.events & _TRIGGER_TYPE_INSERT)
        per_statement = not node.row or any(t.isNew for t in node.transitionRels or ())
        trigger = Trigger(node.trigname, table.name, on_update, on_insert=on_insert, per_statement=per_statement)
        self.edit.add_trigger(table, trigger, bool(node.row))

    def drop(self, node: Node) -> None:
        kind = node.removeType
        for obj in node.objects or ():
            names = _names(obj) if isinstance(obj, (list, tuple)) else (obj.sval,)
            if kind == ObjectType.OBJECT_SCHEMA:
                self.edit.drop_tables([q for q in self.catalog.tables if q.schema == names[0]])
                self.schemas.discard(names[0])
            elif kind == ObjectType.OBJECT_TABLE:
                self.edit.drop_tables([self.find(_range_var(names))])
            elif kind == ObjectType.OBJECT_INDEX:
                self.edit.drop_index(self.find(_range_var(names), self.edit.indexes))
            elif kind == ObjectType.OBJECT_TRIGGER:
                table = self.table(_range_var(names[:-1]))
                if table is not None:
                    table.triggers = [t for t in table.triggers if t.name != names[-1]]


_SERIAL_TYPES = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})


def _serial(node: Any) -> bool:
    """serial and its kin: an integer with a sequence's DEFAULT (migrations write it)."""
    names: Any = node.typeName.names if node.typeName is not None else ()
    return len(names) == 1 and getattr(names[0], "sval", None) in _SERIAL_TYPES


def _fk_attribute(attribute: CT) -> dict[str, bool]:
    """What an attribute after an inline REFERENCES changes in its FK."""
    if attribute == CT.CONSTR_ATTR_DEFERRABLE:
        return {"deferrable": True}
    if attribute == CT.CONSTR_ATTR_NOT_DEFERRABLE:
        return {"deferrable": False, "initially_deferred": False}
    if attribute == CT.CONSTR_ATTR_DEFERRED:
        return {"deferrable": True, "initially_deferred": True}
    if attribute == CT.CONSTR_ATTR_IMMEDIATE:
        return {"initially_deferred": False}
    return {"enforced": attribute == CT.CONSTR_ATTR_ENFORCED}


def _range_var(names: tuple[str, ...]) -> Node:
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
            while j < n and not (value[j] == '"' and value[j + 1 : j + 2] != '"'):
                buf.append(value[j])
                j += 2 if value[j] == '"' else 1
            names.append("".join(buf))
            i = j + 1
        else:
            j = value.find(",", i)
            j = n if j < 0 else j
            names.append(value[i:j].strip().lower())
            i = j
    return names
