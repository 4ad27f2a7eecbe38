"""dumpfix.schema: the catalog learned from SQL scripts, migration folders and real pg_dump output.

Each case states facts about the resulting catalog (see ``facts``); a case compares
every fact of the kinds it mentions, so a missing and an extra fact both fail.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dumpfix.catalog import Catalog, QName
from dumpfix.catalog_edits import make_object_name
from dumpfix.ddl import split_identifier_list
from dumpfix.errors import DumpfixError, SchemaError
from dumpfix.schema import Statement, load_schema, load_schema_sql, split_statements

FIXTURES = Path(__file__).parent / "fixtures" / "schema"


def facts(catalog: Catalog) -> set[str]:
    """The catalog as one short line per fact.

    ``cols s.t: a! b+ c!*`` (``!`` NOT NULL, ``+`` generated, ``*`` identity always),
    ``fk s.t.name: a,b -> s.u: x,y deferrable deferred full not-enforced``.
    """
    out: set[str] = set()
    for q, table in catalog.tables.items():
        name = f"{q.schema}.{q.name}"
        assert table.name == q
        flags = (" partitioned" if table.partitioned else "") + (
            f" of {table.parent.schema}.{table.parent.name}" if table.parent else ""
        )
        out.add(f"table {name}{flags}")
        cols = " ".join(
            c.name + "!" * c.not_null + "+" * c.generated + "*" * c.identity_always for c in table.columns.values()
        )
        out.add(f"cols {name}: {cols}")
        if table.primary_key:
            out.add(f"pk {name}: {','.join(table.primary_key)}")
        out.update(f"unique {name}: {','.join(key)}" for key in table.unique_keys)
        for trigger in table.triggers:
            assert trigger.table == q
            flags = (
                (" insert" if trigger.on_insert else "")
                + (" update" if trigger.on_update else "")
                + ("" if trigger.enabled else " disabled")
            )
            out.add(f"trigger {name}.{trigger.name}:{flags}")
    for fk in catalog.foreign_keys:
        flags = (
            (" deferrable" if fk.deferrable else "")
            + (" deferred" if fk.initially_deferred else "")
            + (" full" if fk.match_full else "")
            + ("" if fk.enforced else " not-enforced")
        )
        out.add(
            f"fk {fk.table.schema}.{fk.table.name}.{fk.name}: {','.join(fk.columns)}"
            f" -> {fk.ref_table.schema}.{fk.ref_table.name}: {','.join(fk.ref_columns)}{flags}"
        )
    return out


def assert_facts(catalog: Catalog, expected: list[str]) -> None:
    """Every fact of each kind named in expected; ``no KIND`` expects none of that kind."""
    kinds = {fact.split(" ")[-1] if fact.startswith("no ") else fact.split(" ", 1)[0] for fact in expected}
    actual = {fact for fact in facts(catalog) if fact.split(" ", 1)[0] in kinds}
    assert actual == {fact for fact in expected if not fact.startswith("no ")}


def load(sql: str) -> Catalog:
    return load_schema_sql(textwrap.dedent(sql))


CASES = [
    # -- psql scripts and pg_dump's preamble ------------------------------------
    pytest.param(
        r"""
        \restrict abcDEF123
        SET statement_timeout = 0;
        SELECT pg_catalog.set_config('search_path', '', false);
        CREATE TABLE public.t (a int);
        \connect other
        CREATE TABLE public.u (b int);
        \unrestrict abcDEF123
        """,
        ["table public.t", "table public.u"],
        id="meta-commands-dropped",
    ),
    pytest.param(
        r"""
        CREATE TABLE "a;b" (c text DEFAULT 'x;y', "d;" text DEFAULT $tag$ ; $ ; $tag$);
        /* a ; block /* nested ; */ still ; comment */
        CREATE TABLE e (f text DEFAULT E'\';' /* ; */, g text DEFAULT U&'\0041;');
        -- CREATE TABLE commented_out (x int);
        CREATE FUNCTION fn() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
        CREATE OR REPLACE PROCEDURE pr() LANGUAGE sql BEGIN ATOMIC
            SELECT 1;
            SELECT CASE WHEN true THEN 1 END;
        END;
        CREATE TABLE h (i int)
        """,
        [
            "table public.a;b",
            "table public.e",
            "table public.h",
            "cols public.a;b: c d;",
            "cols public.e: f g",
            "cols public.h: i",
        ],
        id="lexical-rules",
    ),
    pytest.param(
        """
        CREATE TABLE t (a text);
        COPY public.t (a) FROM stdin;
        CREATE TABLE not_a_table (x int);
        a;b'c
        \\.
        CREATE TABLE u (b int);
        INSERT INTO t VALUES ('CREATE TABLE v (x int)');
        """,
        ["table public.t", "table public.u"],
        id="copy-data-and-inserts-skipped",
    ),
    # -- search_path -----------------------------------------------------------
    pytest.param(
        "CREATE SCHEMA app; SET search_path = app, public; CREATE TABLE t (a int);",
        ["table app.t"],
        id="set-search-path",
    ),
    pytest.param(
        """
        SET search_path = nowhere, public;
        CREATE TABLE t (a int);
        CREATE TABLE later.x (a int);
        SET search_path = later, public;
        CREATE TABLE u (a int);
        """,
        ["table public.t", "table later.x", "table later.u"],
        id="search-path-skips-missing-schemas",
    ),
    pytest.param(
        'CREATE SCHEMA "App"; SET search_path TO "$user", "App"; CREATE TABLE t (a int);',
        ["table App.t"],
        id="set-search-path-to-skips-user",
    ),
    pytest.param(
        """
        CREATE SCHEMA app;
        CREATE SCHEMA "Other";
        SELECT pg_catalog.set_config('search_path', 'App, "Other"', false);
        CREATE TABLE t (a int);
        SELECT pg_catalog.set_config('search_path', '"Other", public', false);
        CREATE TABLE u (a int);
        """,
        ["table app.t", "table Other.u"],
        id="set-config-search-path",
    ),
    pytest.param(
        """
        CREATE SCHEMA app;
        SET search_path = app;
        SELECT pg_catalog.set_config('search_path', '', false);
        CREATE TABLE t (a int);
        SET search_path = app;
        RESET search_path;
        CREATE TABLE u (a int);
        """,
        ["table public.t", "table public.u"],
        id="empty-and-reset-search-path",
    ),
    pytest.param(
        """
        CREATE SCHEMA lib;
        CREATE SCHEMA app;
        CREATE TABLE lib.u (id int PRIMARY KEY);
        SET search_path = app, lib;
        CREATE TABLE t (u_id int REFERENCES u, w_id int REFERENCES w (id));
        ALTER TABLE u ADD COLUMN note int;
        """,
        [
            "table lib.u",
            "table app.t",
            "cols lib.u: id! note",
            "cols app.t: u_id w_id",
            "fk app.t.t_u_id_fkey: u_id -> lib.u: id",
            "fk app.t.t_w_id_fkey: w_id -> app.w: id",
        ],
        id="unqualified-references-search-the-path",
    ),
    pytest.param(
        """
        CREATE SCHEMA s
            CREATE TABLE t (a int PRIMARY KEY)
            CREATE TABLE u (t_a int REFERENCES t);
        CREATE TABLE v (a int);
        """,
        ["table s.t", "table s.u", "table public.v", "fk s.u.u_t_a_fkey: t_a -> s.t: a"],
        id="create-schema-with-elements",
    ),
    pytest.param(
        # pg_dump before 10.3: unqualified names under SET search_path = s, pg_catalog.
        """
        CREATE SCHEMA sales;
        SET search_path = public, pg_catalog;
        CREATE TABLE customers (id integer NOT NULL);
        ALTER TABLE public.customers_id_seq OWNER TO app;
        ALTER TABLE ONLY customers ALTER COLUMN id SET DEFAULT nextval('customers_id_seq'::regclass);
        SET search_path = sales, pg_catalog;
        CREATE TABLE orders (id integer NOT NULL, customer_id integer);
        SET search_path = public, pg_catalog;
        ALTER TABLE ONLY customers ADD CONSTRAINT customers_pkey PRIMARY KEY (id);
        SET search_path = sales, pg_catalog;
        ALTER TABLE ONLY orders
            ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);
        """,
        [
            "table public.customers",
            "table sales.orders",
            "pk public.customers: id",
            "fk sales.orders.orders_customer_id_fkey: customer_id -> public.customers: id",
        ],
        id="old-pg-dump-search-path-style",
    ),
    # -- CREATE TABLE ----------------------------------------------------------
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY, code text UNIQUE NOT NULL, note text NULL);
        CREATE TABLE t (id int CONSTRAINT t_pk PRIMARY KEY, u_id int NOT NULL REFERENCES u);
        """,
        [
            "cols public.u: id! code! note",
            "cols public.t: id! u_id!",
            "pk public.u: id",
            "pk public.t: id",
            "unique public.u: code",
            "fk public.t.t_u_id_fkey: u_id -> public.u: id",
        ],
        id="inline-constraints",
    ),
    pytest.param(
        """
        CREATE TABLE u (a int, b int, c int, PRIMARY KEY (a, b), CONSTRAINT u_c UNIQUE (c, b));
        CREATE TABLE t (
            x int, y int, z int,
            CONSTRAINT t_u FOREIGN KEY (x, y) REFERENCES u (a, b),
            FOREIGN KEY (z, y) REFERENCES u (c, b),
            UNIQUE (x, y, z)
        );
        """,
        [
            "pk public.u: a,b",
            "unique public.u: c,b",
            "unique public.t: x,y,z",
            "cols public.u: a! b! c",
            "cols public.t: x y z",
            "fk public.t.t_u: x,y -> public.u: a,b",
            "fk public.t.t_z_y_fkey: z,y -> public.u: c,b",
        ],
        id="table-constraints-composite",
    ),
    pytest.param(
        # Names checked on PostgreSQL 18: clipped to 63 bytes on a character boundary.
        """
        CREATE TABLE u (id int PRIMARY KEY, a int, b int, UNIQUE (a, b));
        CREATE TABLE v (id int PRIMARY KEY);
        CREATE TABLE t (a int REFERENCES u REFERENCES v);
        CREATE TABLE a_table_name_that_is_quite_long_indeed_more_than_forty_chars (
            a_column_name_that_is_also_rather_long_x integer REFERENCES u);
        CREATE TABLE "äääääääääääääääääääääääääääääääääääääää" (
            "ööööööööööööööööööööö" int REFERENCES u, x int, y int,
            FOREIGN KEY (x, y) REFERENCES u (a, b));
        """,
        [
            "fk public.t.t_a_fkey: a -> public.u: id",
            "fk public.t.t_a_fkey1: a -> public.v: id",
            "fk public.a_table_name_that_is_quite_long_indeed_more_than_forty_chars"
            ".a_table_name_that_is_quite_lo_a_column_name_that_is_also_r_fkey:"
            " a_column_name_that_is_also_rather_long_x -> public.u: id",
            "fk public." + "ä" * 31 + "." + "ä" * 14 + "_" + "ö" * 14 + "_fkey: " + "ö" * 21 + " -> public.u: id",
            "fk public." + "ä" * 31 + "." + "ä" * 27 + "_x_y_fkey: x,y -> public.u: a,b",
        ],
        id="default-fk-names-like-postgresql",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY);
        CREATE TABLE t (
            a int REFERENCES u DEFERRABLE,
            b int REFERENCES u DEFERRABLE INITIALLY DEFERRED,
            c int REFERENCES u INITIALLY DEFERRED,
            d int REFERENCES u NOT DEFERRABLE INITIALLY IMMEDIATE,
            e int,
            f int,
            FOREIGN KEY (e) REFERENCES u DEFERRABLE INITIALLY DEFERRED,
            FOREIGN KEY (f) REFERENCES u DEFERRABLE INITIALLY IMMEDIATE
        );
        """,
        [
            "fk public.t.t_a_fkey: a -> public.u: id deferrable",
            "fk public.t.t_b_fkey: b -> public.u: id deferrable deferred",
            "fk public.t.t_c_fkey: c -> public.u: id deferrable deferred",
            "fk public.t.t_d_fkey: d -> public.u: id",
            "fk public.t.t_e_fkey: e -> public.u: id deferrable deferred",
            "fk public.t.t_f_fkey: f -> public.u: id deferrable",
        ],
        id="deferrable",
    ),
    pytest.param(
        """
        CREATE TABLE u (a int, b int, PRIMARY KEY (a, b));
        CREATE TABLE t (
            a int, b int, c int, d int,
            FOREIGN KEY (a, b) REFERENCES u MATCH FULL,
            FOREIGN KEY (c, d) REFERENCES u (a, b) MATCH SIMPLE
        );
        """,
        [
            "fk public.t.t_a_b_fkey: a,b -> public.u: a,b full",
            "fk public.t.t_c_d_fkey: c,d -> public.u: a,b",
        ],
        id="match-full-and-simple",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY);
        CREATE TABLE t (
            a int REFERENCES u NOT ENFORCED,
            b int REFERENCES u ENFORCED,
            c int,
            CONSTRAINT t_c FOREIGN KEY (c) REFERENCES u NOT ENFORCED
        );
        """,
        [
            "fk public.t.t_a_fkey: a -> public.u: id not-enforced",
            "fk public.t.t_b_fkey: b -> public.u: id",
            "fk public.t.t_c: c -> public.u: id not-enforced",
        ],
        id="not-enforced-pg18",
    ),
    pytest.param(
        """
        CREATE TABLE t (
            id int GENERATED ALWAYS AS IDENTITY,
            seq bigint GENERATED BY DEFAULT AS IDENTITY,
            a int,
            twice int GENERATED ALWAYS AS (a * 2) STORED,
            thrice int GENERATED ALWAYS AS (a * 3) VIRTUAL
        );
        """,
        ["cols public.t: id!* seq! a twice+ thrice+"],
        id="identity-and-generated",
    ),
    pytest.param(
        """
        CREATE TABLE c (id int PRIMARY KEY);
        CREATE TABLE p (id int NOT NULL, k text, c_id int REFERENCES c, PRIMARY KEY (id, k))
            PARTITION BY LIST (k);
        CREATE TABLE p1 PARTITION OF p FOR VALUES IN ('a') PARTITION BY HASH (id);
        CREATE TABLE p1a PARTITION OF p1 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
        CREATE TABLE p2 PARTITION OF p (CONSTRAINT p2_c_id_nn CHECK (c_id > 0), c_id WITH OPTIONS NOT NULL)
            FOR VALUES IN ('b');
        """,
        [
            "table public.c",
            "table public.p partitioned",
            "table public.p1 partitioned of public.p",
            "table public.p1a of public.p1",
            "table public.p2 of public.p",
            "cols public.c: id!",
            "cols public.p: id! k! c_id",
            "cols public.p1: id! k! c_id",
            "cols public.p1a: id! k! c_id",
            "cols public.p2: id! k! c_id!",
            "pk public.c: id",
            "pk public.p: id,k",
            "pk public.p1: id,k",
            "pk public.p1a: id,k",
            "pk public.p2: id,k",
            "fk public.p.p_c_id_fkey: c_id -> public.c: id",
        ],
        id="partition-of-inherits-columns-and-keys",
    ),
    pytest.param(
        """
        CREATE TABLE t (a int PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS t (b int);
        CREATE TABLE IF NOT EXISTS u (c int);
        """,
        ["table public.t", "table public.u", "cols public.t: a!", "cols public.u: c"],
        id="create-table-if-not-exists",
    ),
    pytest.param(
        """
        CREATE TABLE base (id int NOT NULL, note text);
        CREATE TABLE copy1 (LIKE base, extra int);
        CREATE TABLE child (own int) INHERITS (base);
        CREATE TEMPORARY TABLE scratch (x int);
        CREATE TABLE made AS SELECT 1 AS x;
        """,
        [
            "table public.base",
            "table public.copy1",
            "table public.child",
            "table public.made",
            "cols public.base: id! note",
            "cols public.copy1: id! note extra",
            "cols public.child: id! note own",
            "cols public.made: ",
        ],
        id="like-inherits-temp-and-as",
    ),
    pytest.param(
        """
        CREATE TABLE t (u_id int REFERENCES u);
        CREATE TABLE u (id int, code int);
        ALTER TABLE u ADD PRIMARY KEY (code);
        """,
        ["fk public.t.t_u_id_fkey: u_id -> public.u: code", "pk public.u: code"],
        id="references-without-columns-resolve-to-later-pk",
    ),
    # -- ALTER TABLE -----------------------------------------------------------
    pytest.param(
        """
        CREATE TABLE public.u (id integer NOT NULL, code text);
        CREATE TABLE public.t (id integer NOT NULL, u_id integer, u_code text);
        ALTER TABLE ONLY public.u
            ADD CONSTRAINT u_pkey PRIMARY KEY (id);
        ALTER TABLE ONLY public.u ADD CONSTRAINT u_code_key UNIQUE (code);
        ALTER TABLE ONLY public.t
            ADD CONSTRAINT t_u_id_fkey FOREIGN KEY (u_id) REFERENCES public.u(id) NOT VALID;
        ALTER TABLE public.t ADD FOREIGN KEY (u_code) REFERENCES public.u (code);
        """,
        [
            "pk public.u: id",
            "unique public.u: code",
            "fk public.t.t_u_id_fkey: u_id -> public.u: id",
            "fk public.t.t_u_code_fkey: u_code -> public.u: code",
        ],
        id="alter-add-constraints-pg-dump-style",
    ),
    pytest.param(
        """
        CREATE TABLE t (a int NOT NULL, b int NOT NULL, c int);
        CREATE UNIQUE INDEX t_a_idx ON t (a);
        CREATE UNIQUE INDEX t_b_idx ON t (b);
        ALTER INDEX t_b_idx RENAME TO t_b_renamed;
        ALTER TABLE t ADD CONSTRAINT t_pk PRIMARY KEY USING INDEX t_a_idx;
        ALTER TABLE t ADD CONSTRAINT t_b_key UNIQUE USING INDEX t_b_renamed;
        CREATE TABLE r (a int REFERENCES t);
        """,
        ["pk public.t: a", "unique public.t: b", "fk public.r.r_a_fkey: a -> public.t: a"],
        id="add-constraint-using-index",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY, a int UNIQUE, b int, c int UNIQUE);
        CREATE TABLE t (x int REFERENCES u, y int CONSTRAINT keep REFERENCES u (c));
        ALTER TABLE t DROP CONSTRAINT t_x_fkey;
        ALTER TABLE t DROP CONSTRAINT IF EXISTS no_such_constraint;
        ALTER TABLE u DROP CONSTRAINT u_a_key;
        ALTER TABLE u ADD CONSTRAINT u_b_uq UNIQUE (b);
        ALTER TABLE u DROP CONSTRAINT u_pkey;
        """,
        ["no pk", "unique public.u: b", "unique public.u: c", "fk public.t.keep: y -> public.u: c"],
        id="drop-constraint",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY);
        CREATE TABLE t (a int CONSTRAINT a_fk REFERENCES u, b int CONSTRAINT b_fk REFERENCES u DEFERRABLE,
                        c int CONSTRAINT c_fk REFERENCES u);
        ALTER TABLE t ALTER CONSTRAINT a_fk DEFERRABLE INITIALLY DEFERRED;
        ALTER TABLE t ALTER CONSTRAINT b_fk NOT DEFERRABLE;
        ALTER TABLE t ALTER CONSTRAINT c_fk NOT ENFORCED;
        """,
        [
            "fk public.t.a_fk: a -> public.u: id deferrable deferred",
            "fk public.t.b_fk: b -> public.u: id",
            "fk public.t.c_fk: c -> public.u: id not-enforced",
        ],
        id="alter-constraint",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY);
        CREATE TABLE t (a int);
        ALTER TABLE t ADD COLUMN u_id int NOT NULL REFERENCES u DEFERRABLE,
                      ADD COLUMN IF NOT EXISTS a text NOT NULL,
                      ADD COLUMN k int UNIQUE;
        """,
        [
            "cols public.t: a u_id! k",
            "cols public.u: id!",
            "unique public.t: k",
            "fk public.t.t_u_id_fkey: u_id -> public.u: id deferrable",
        ],
        id="add-column",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY, code int UNIQUE, other int);
        CREATE TABLE t (id int PRIMARY KEY, u_id int REFERENCES u, u_code int REFERENCES u (code),
                        UNIQUE (u_id, u_code));
        CREATE TABLE r (t_id int REFERENCES t);
        ALTER TABLE t DROP COLUMN u_id;
        ALTER TABLE u DROP COLUMN code CASCADE;
        ALTER TABLE u DROP COLUMN IF EXISTS nothing;
        """,
        [
            "cols public.u: id! other",
            "cols public.t: id! u_code",
            "cols public.r: t_id",
            "pk public.u: id",
            "pk public.t: id",
            "fk public.r.r_t_id_fkey: t_id -> public.t: id",
        ],
        id="drop-column-drops-keys-and-fks",
    ),
    pytest.param(
        """
        CREATE TABLE t (a int, b int NOT NULL, c int);
        ALTER TABLE t ALTER COLUMN a SET NOT NULL, ALTER COLUMN b DROP NOT NULL;
        ALTER TABLE t ADD CONSTRAINT c_nn NOT NULL c;
        """,
        ["cols public.t: a! b c!"],
        id="set-and-drop-not-null",
    ),
    pytest.param(
        """
        CREATE TABLE p (id int GENERATED ALWAYS AS IDENTITY, a int NOT NULL, b int, c int, d int)
            PARTITION BY HASH (id);
        CREATE TABLE p1 PARTITION OF p FOR VALUES WITH (MODULUS 1, REMAINDER 0);
        ALTER TABLE p ALTER COLUMN id DROP IDENTITY, ALTER COLUMN a DROP NOT NULL;
        ALTER TABLE p ALTER COLUMN b SET NOT NULL, DROP COLUMN c;
        ALTER TABLE p ADD COLUMN e int;
        """,
        ["cols public.p: id! a b! d e", "cols public.p1: id! a b! d e"],
        id="column-changes-reach-partitions",
    ),
    pytest.param(
        """
        CREATE TABLE t (a int, b int, c int);
        ALTER TABLE t ADD CONSTRAINT c_nn NOT NULL c;
        ALTER TABLE t ALTER COLUMN a SET NOT NULL;
        ALTER TABLE t DROP CONSTRAINT c_nn;
        ALTER TABLE t DROP CONSTRAINT t_a_not_null;
        """,
        ["cols public.t: a b c"],
        id="drop-not-null-constraint-pg18",
    ),
    pytest.param(
        """
        CREATE TABLE public.t (id integer NOT NULL, n bigint NOT NULL, m int NOT NULL, g int);
        ALTER TABLE public.t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
            SEQUENCE NAME public.t_id_seq
            START WITH 1
            INCREMENT BY 1
            NO MINVALUE
            NO MAXVALUE
            CACHE 1
        );
        ALTER TABLE public.t ALTER COLUMN n ADD GENERATED BY DEFAULT AS IDENTITY;
        ALTER TABLE public.t ALTER COLUMN n SET GENERATED ALWAYS;
        ALTER TABLE public.t ALTER COLUMN m ADD GENERATED ALWAYS AS IDENTITY;
        ALTER TABLE public.t ALTER COLUMN m DROP IDENTITY;
        ALTER TABLE public.t ADD COLUMN h int GENERATED ALWAYS AS (g + 1) STORED;
        ALTER TABLE public.t ADD COLUMN i int GENERATED ALWAYS AS (g + 2) STORED;
        ALTER TABLE public.t ALTER COLUMN i DROP EXPRESSION;
        """,
        ["cols public.t: id!* n!* m! g h+ i"],
        id="identity-added-by-alter",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY);
        CREATE TABLE t (id int PRIMARY KEY, u_id int REFERENCES u, parent int REFERENCES t);
        CREATE TRIGGER trg BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TABLE p (k int) PARTITION BY LIST (k);
        CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);
        ALTER TABLE u RENAME TO users;
        ALTER TABLE t RENAME TO things;
        ALTER TABLE p RENAME TO parts;
        """,
        [
            "table public.users",
            "table public.things",
            "table public.parts partitioned",
            "table public.p1 of public.parts",
            "trigger public.things.trg: update",
            "fk public.things.t_u_id_fkey: u_id -> public.users: id",
            "fk public.things.t_parent_fkey: parent -> public.things: id",
        ],
        id="rename-table-propagates",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY, code int UNIQUE);
        CREATE TABLE t (u_id int REFERENCES u, u_code int REFERENCES u (code));
        ALTER TABLE u RENAME COLUMN id TO user_id;
        ALTER TABLE u RENAME code TO user_code;
        ALTER TABLE t RENAME COLUMN u_id TO owner;
        """,
        [
            "cols public.u: user_id! user_code",
            "cols public.t: owner u_code",
            "pk public.u: user_id",
            "unique public.u: user_code",
            "fk public.t.t_u_id_fkey: owner -> public.u: user_id",
            "fk public.t.t_u_code_fkey: u_code -> public.u: user_code",
        ],
        id="rename-column-propagates",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY);
        CREATE TABLE t (u_id int REFERENCES u, v int CONSTRAINT t_v_key UNIQUE);
        ALTER TABLE t RENAME CONSTRAINT t_u_id_fkey TO t_owner_fk;
        ALTER TABLE t RENAME CONSTRAINT t_v_key TO t_v_uq;
        ALTER TABLE t DROP CONSTRAINT t_v_uq;
        """,
        ["fk public.t.t_owner_fk: u_id -> public.u: id", "no unique"],
        id="rename-constraint",
    ),
    pytest.param(
        """
        CREATE SCHEMA archive;
        CREATE TABLE u (id int PRIMARY KEY);
        CREATE TABLE t (u_id int REFERENCES u);
        ALTER TABLE u SET SCHEMA archive;
        """,
        ["table archive.u", "table public.t", "fk public.t.t_u_id_fkey: u_id -> archive.u: id"],
        id="set-schema",
    ),
    pytest.param(
        # A detached partition keeps its cloned keys and FKs, not the cloned triggers.
        """
        CREATE TABLE c (id int PRIMARY KEY);
        CREATE TABLE p (id int PRIMARY KEY, k int REFERENCES c) PARTITION BY RANGE (id);
        CREATE TABLE p1 (id int NOT NULL, k int);
        CREATE TABLE p2 (id int NOT NULL, k int);
        CREATE TRIGGER tr BEFORE UPDATE ON p FOR EACH ROW EXECUTE FUNCTION f();
        ALTER TABLE ONLY p ATTACH PARTITION p1 FOR VALUES FROM (0) TO (10);
        ALTER TABLE p ATTACH PARTITION p2 FOR VALUES FROM (10) TO (20);
        ALTER TABLE p DETACH PARTITION p2;
        """,
        [
            "table public.c",
            "table public.p partitioned",
            "table public.p1 of public.p",
            "table public.p2",
            "pk public.c: id",
            "pk public.p: id",
            "pk public.p1: id",
            "pk public.p2: id",
            "fk public.p.p_k_fkey: k -> public.c: id",
            "fk public.p2.p_k_fkey: k -> public.c: id",
            "trigger public.p.tr: update",
            "trigger public.p1.tr: update",
        ],
        id="attach-and-detach-partition",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY);
        CREATE TABLE t (a int);
        ALTER TABLE IF EXISTS missing ADD CONSTRAINT x FOREIGN KEY (a) REFERENCES u;
        ALTER TABLE missing2 ADD CONSTRAINT x FOREIGN KEY (a) REFERENCES u;
        CREATE SEQUENCE s;
        ALTER TABLE public.s OWNER TO someone;
        CREATE VIEW v AS SELECT 1;
        ALTER TABLE v RENAME TO w;
        """,
        ["table public.u", "table public.t", "no fk"],
        id="alter-unknown-relation-ignored",
    ),
    # -- indexes, triggers, drops ----------------------------------------------
    pytest.param(
        """
        CREATE TABLE t (a int, b int, c int, d int, e int);
        CREATE UNIQUE INDEX t_a ON t USING btree (a);
        CREATE UNIQUE INDEX t_bc ON ONLY t (b, c);
        CREATE UNIQUE INDEX t_d_partial ON t (d) WHERE d > 0;
        CREATE UNIQUE INDEX t_lower ON t (lower(e::text));
        CREATE INDEX t_e ON t (e);
        CREATE UNIQUE INDEX ON t (e);
        DROP INDEX t_e_idx;
        DROP INDEX IF EXISTS nothing;
        """,
        ["unique public.t: a", "unique public.t: b,c"],
        id="unique-indexes",
    ),
    pytest.param(
        """
        CREATE TABLE t (a int);
        CREATE TRIGGER t_upd BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER t_ins AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER t_of AFTER INSERT OR UPDATE OF a ON t FOR EACH ROW EXECUTE PROCEDURE f();
        CREATE TRIGGER t_stmt AFTER UPDATE ON t FOR EACH STATEMENT EXECUTE FUNCTION f();
        CREATE TRIGGER t_gone AFTER UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
        DROP TRIGGER t_gone ON public.t;
        DROP TRIGGER IF EXISTS nothing ON t;
        CREATE OR REPLACE TRIGGER t_ins AFTER INSERT OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION g();
        CREATE CONSTRAINT TRIGGER "RI_ConstraintTrigger_c_1" AFTER INSERT ON t FROM u
            NOT DEFERRABLE INITIALLY IMMEDIATE FOR EACH ROW EXECUTE PROCEDURE "RI_FKey_check_ins"();
        CREATE CONSTRAINT TRIGGER user_ct AFTER UPDATE ON t DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER v_trg INSTEAD OF UPDATE ON some_view FOR EACH ROW EXECUTE FUNCTION f();
        """,
        [
            "trigger public.t.t_upd: update",
            "trigger public.t.t_of: insert update",
            "trigger public.t.t_stmt: update",
            "trigger public.t.t_ins: insert",
            "trigger public.t.user_ct: update",
        ],
        id="create-and-drop-triggers",
    ),
    pytest.param(
        """
        CREATE TABLE t (a int);
        CREATE TRIGGER a1 BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER a2 BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER a3 BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER a4 BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
        ALTER TABLE t DISABLE TRIGGER a1, ENABLE REPLICA TRIGGER a2, DISABLE TRIGGER a3;
        ALTER TABLE t ENABLE ALWAYS TRIGGER a3;
        CREATE TABLE u (a int);
        CREATE TRIGGER b1 BEFORE UPDATE ON u FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER b2 BEFORE UPDATE ON u FOR EACH ROW EXECUTE FUNCTION f();
        ALTER TABLE u DISABLE TRIGGER ALL;
        ALTER TABLE u ENABLE TRIGGER b2;
        CREATE TABLE w (a int);
        CREATE TRIGGER c1 BEFORE UPDATE ON w FOR EACH ROW EXECUTE FUNCTION f();
        ALTER TABLE w DISABLE TRIGGER USER;
        ALTER TABLE w ENABLE TRIGGER USER;
        """,
        [
            "trigger public.t.a1: update disabled",
            "trigger public.t.a2: update disabled",
            "trigger public.t.a3: update",
            "trigger public.t.a4: update",
            "trigger public.u.b1: update disabled",
            "trigger public.u.b2: update",
            "trigger public.w.c1: update",
        ],
        id="enable-and-disable-triggers",
    ),
    pytest.param(
        """
        CREATE TABLE p (id int PRIMARY KEY) PARTITION BY RANGE (id);
        CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);
        CREATE TRIGGER row_t BEFORE UPDATE ON p FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER stmt_t AFTER UPDATE ON p FOR EACH STATEMENT EXECUTE FUNCTION f();
        ALTER TABLE p DISABLE TRIGGER row_t;
        """,
        [
            "trigger public.p.row_t: update disabled",
            "trigger public.p.stmt_t: update",
            "trigger public.p1.row_t: update disabled",
        ],
        id="partitions-inherit-row-triggers",
    ),
    pytest.param(
        """
        CREATE TABLE u (id int PRIMARY KEY);
        CREATE TABLE t (id int PRIMARY KEY, u_id int REFERENCES u);
        CREATE TABLE r (t_id int REFERENCES t, u_id int REFERENCES u);
        CREATE TABLE p (k int) PARTITION BY LIST (k);
        CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);
        CREATE TABLE p1x (k int);
        DROP TABLE IF EXISTS t, p, nothing CASCADE;
        """,
        [
            "table public.u",
            "table public.r",
            "table public.p1x",
            "fk public.r.r_u_id_fkey: u_id -> public.u: id",
        ],
        id="drop-table-takes-fks-and-partitions",
    ),
    pytest.param(
        """
        CREATE SCHEMA a;
        CREATE TABLE a.t (id int PRIMARY KEY);
        CREATE TABLE a.u (id int);
        CREATE TABLE public.r (t_id int REFERENCES a.t);
        CREATE TABLE public.s (id int);
        DROP SCHEMA a CASCADE;
        DROP SCHEMA IF EXISTS nothing;
        """,
        ["table public.r", "table public.s", "cols public.r: t_id", "cols public.s: id", "no fk"],
        id="drop-schema-cascade",
    ),
    # -- migration tools -------------------------------------------------------
    pytest.param(
        """
        -- CreateTable
        CREATE TABLE "User" (
            "id" SERIAL NOT NULL,
            "email" TEXT NOT NULL,
            CONSTRAINT "User_pkey" PRIMARY KEY ("id")
        );

        -- CreateTable
        CREATE TABLE "Post" (
            "id" SERIAL NOT NULL,
            "authorId" INTEGER,
            CONSTRAINT "Post_pkey" PRIMARY KEY ("id")
        );

        -- CreateIndex
        CREATE UNIQUE INDEX "User_email_key" ON "User"("email");

        -- AddForeignKey
        ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
        """,
        [
            "cols public.User: id! email!",
            "cols public.Post: id! authorId",
            "pk public.User: id",
            "pk public.Post: id",
            "unique public.User: email",
            "fk public.Post.Post_authorId_fkey: authorId -> public.User: id",
        ],
        id="prisma",
    ),
    pytest.param(
        """
        CREATE TABLE IF NOT EXISTS "user" (
        \t"id" serial PRIMARY KEY NOT NULL,
        \t"name" text
        );
        --> statement-breakpoint
        CREATE TABLE IF NOT EXISTS "post" (
        \t"id" serial PRIMARY KEY NOT NULL,
        \t"author_id" integer NOT NULL,
        \t"editor_id" integer,
        \t"reviewer_id" integer
        );
        --> statement-breakpoint
        DO $$ BEGIN
         ALTER TABLE "post" ADD CONSTRAINT "post_author_id_user_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."user"("id") ON DELETE no action ON UPDATE no action;
        EXCEPTION
         WHEN duplicate_object THEN null;
        END $$;
        --> statement-breakpoint
        DO $$ BEGIN
         ALTER TABLE "post" ADD CONSTRAINT "post_author_id_user_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."user"("id") DEFERRABLE;
        EXCEPTION
         WHEN duplicate_object THEN null;
        END $$;
        --> statement-breakpoint
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'post_editor_fk') THEN
            ALTER TABLE post ADD CONSTRAINT post_editor_fk FOREIGN KEY (editor_id) REFERENCES "user";
          END IF;
          EXECUTE 'ALTER TABLE post ADD CONSTRAINT post_reviewer_fk FOREIGN KEY (reviewer_id) REFERENCES "user" (id)';
        EXCEPTION WHEN others THEN
          ALTER TABLE post ADD CONSTRAINT never_run FOREIGN KEY (editor_id) REFERENCES "user";
        END
        $$;
        DO LANGUAGE plpython3u $$ plpy.execute("ALTER TABLE post ADD CONSTRAINT py FOREIGN KEY (editor_id) REFERENCES x") $$;
        """,
        [
            "fk public.post.post_author_id_user_id_fk: author_id -> public.user: id",
            "fk public.post.post_editor_fk: editor_id -> public.user: id",
            "fk public.post.post_reviewer_fk: reviewer_id -> public.user: id",
        ],
        id="drizzle-do-blocks",
    ),
    pytest.param(
        """
        SET statement_timeout = 0;
        SET default_tablespace = '';
        SET default_table_access_method = heap;
        CREATE TABLE public.ar_internal_metadata (
            key character varying NOT NULL,
            value character varying
        );
        CREATE TABLE public.users (id bigint NOT NULL);
        CREATE SEQUENCE public.users_id_seq START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1;
        ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;
        CREATE TABLE public.posts (id bigint NOT NULL, user_id bigint NOT NULL);
        ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);
        ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
        ALTER TABLE ONLY public.posts ADD CONSTRAINT posts_pkey PRIMARY KEY (id);
        CREATE INDEX index_posts_on_user_id ON public.posts USING btree (user_id);
        ALTER TABLE ONLY public.posts
            ADD CONSTRAINT fk_rails_5b5ddfd518 FOREIGN KEY (user_id) REFERENCES public.users(id);
        SET search_path TO "$user", public;
        INSERT INTO "schema_migrations" (version) VALUES
        ('20240101000000'),
        ('20240102000000');
        """,
        [
            "table public.ar_internal_metadata",
            "table public.users",
            "table public.posts",
            "fk public.posts.fk_rails_5b5ddfd518: user_id -> public.users: id",
        ],
        id="rails-structure-sql",
    ),
    pytest.param(
        """
        BEGIN;
        --
        -- Create model Author
        --
        CREATE TABLE "library_author" ("id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "name" varchar(100) NOT NULL);
        --
        -- Create model Book
        --
        CREATE TABLE "library_book" ("id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "author_id" bigint NOT NULL);
        ALTER TABLE "library_book" ADD CONSTRAINT "library_book_author_id_5d1bd5c2_fk_library_author_id" FOREIGN KEY ("author_id") REFERENCES "library_author" ("id") DEFERRABLE INITIALLY DEFERRED;
        CREATE INDEX "library_book_author_id_5d1bd5c2" ON "library_book" ("author_id");
        COMMIT;
        """,
        [
            "cols public.library_author: id! name!",
            "cols public.library_book: id! author_id!",
            "fk public.library_book.library_book_author_id_5d1bd5c2_fk_library_author_id:"
            " author_id -> public.library_author: id deferrable deferred",
        ],
        id="django-sqlmigrate",
    ),
]


@pytest.mark.parametrize(("sql", "expected"), CASES)
def test_load_schema_sql(sql: str, expected: list[str]) -> None:
    assert_facts(load(sql), expected)


def test_load_schema_sql_continues_a_catalog() -> None:
    catalog = load("CREATE TABLE u (id int PRIMARY KEY);")
    same = load_schema_sql("CREATE TABLE t (u_id int REFERENCES u);", catalog)
    assert same is catalog
    assert_facts(catalog, ["table public.u", "table public.t", "fk public.t.t_u_id_fkey: u_id -> public.u: id"])


def test_fk_definitions_as_bulk_adds_them_back() -> None:
    """Actions, MATCH FULL, deferrability, NOT VALID (only ALTER TABLE makes one; VALIDATE
    ends it), ON DELETE SET NULL (columns) following a rename, and comments following
    the constraint's renames (IS NULL removes one)."""
    catalog = load(
        """
        CREATE TABLE p (id int PRIMARY KEY, k int, UNIQUE (id, k));
        CREATE TABLE c (id int PRIMARY KEY, a int, b int, d int REFERENCES p ON DELETE RESTRICT,
                        e int, FOREIGN KEY (e) REFERENCES p NOT VALID);
        ALTER TABLE c ADD CONSTRAINT c_ab FOREIGN KEY (a, b) REFERENCES p (id, k) MATCH FULL
            ON UPDATE CASCADE ON DELETE SET NULL (a) DEFERRABLE INITIALLY DEFERRED NOT VALID;
        ALTER TABLE c ADD CONSTRAINT c_b FOREIGN KEY (b) REFERENCES p ON UPDATE SET DEFAULT NOT VALID;
        COMMENT ON CONSTRAINT c_ab ON public.c IS 'it''s both';
        COMMENT ON CONSTRAINT c_d_fkey ON c IS 'gone soon';
        COMMENT ON CONSTRAINT c_d_fkey ON c IS NULL;
        ALTER TABLE c RENAME COLUMN a TO "A 2";
        ALTER TABLE c RENAME CONSTRAINT c_ab TO "c AB";
        ALTER TABLE c VALIDATE CONSTRAINT c_b;
        """
    )
    fks = {fk.name: fk for fk in catalog.foreign_keys}
    assert fks["c AB"].definition() == (
        'FOREIGN KEY ("A 2", b) REFERENCES public.p(id, k) MATCH FULL ON UPDATE CASCADE '
        'ON DELETE SET NULL ("A 2") DEFERRABLE INITIALLY DEFERRED NOT VALID'
    )
    assert fks["c AB"].comment == "it's both"
    assert fks["c_d_fkey"].definition() == "FOREIGN KEY (d) REFERENCES public.p(id) ON DELETE RESTRICT"
    assert fks["c_d_fkey"].comment is None
    assert fks["c_e_fkey"].definition() == "FOREIGN KEY (e) REFERENCES public.p(id)"
    assert fks["c_b"].definition() == "FOREIGN KEY (b) REFERENCES public.p(id) ON UPDATE SET DEFAULT"


def test_comments_follow_standard_conforming_strings() -> None:
    """While a script has standard_conforming_strings off, a plain string's backslashes
    are escapes (a backslash-quote is a quote that does not end it); E'' strings and
    strings after the setting is back on read as always; B'' and X'' hold no escapes."""
    catalog = load(
        r"""
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (a int REFERENCES p, b int REFERENCES p, d int REFERENCES p, e int REFERENCES p);
        SET standard_conforming_strings = off;
        COMMENT ON CONSTRAINT c_a_fkey ON c IS 'C:\\dir x\\''; CREATE TABLE pwned(); --';
        COMMENT ON CONSTRAINT c_b_fkey ON c IS 'a\'b; c\n';
        SELECT X'0a', B'01', E'\\';
        COMMENT ON CONSTRAINT c_d_fkey ON c IS E'\\x';
        SET standard_conforming_strings TO 'on';
        COMMENT ON CONSTRAINT c_e_fkey ON c IS 'a\';
        """
    )
    fks = {fk.name: fk.comment for fk in catalog.foreign_keys}
    assert fks == {
        "c_a_fkey": "C:\\dir x\\'; CREATE TABLE pwned(); --",
        "c_b_fkey": "a'b; c\n",
        "c_d_fkey": "\\x",
        "c_e_fkey": "a\\",
    }


# -- real pg_dump --schema-only output ----------------------------------------------
RICH_COMMON = [
    "table Sales.Kunden",
    "table Sales.Order Items",
    "table Sales.orders partitioned",
    "table Sales.orders_eu partitioned of Sales.orders",
    "table Sales.orders_eu_0 of Sales.orders_eu",
    "table Sales.orders_eu_1 of Sales.orders_eu",
    "table Sales.orders_other of Sales.orders",
    "table Sales.orders_üs of Sales.orders",
    "table public.departments",
    "table public.employees",
    "table public.tickets",
    "cols Sales.Kunden: KundenNr! größe email! select favourite_employee",
    "cols Sales.Order Items: order_id! region! line_no! quantity!",
    "cols public.departments: id!* name! manager_id",
    "cols public.employees: id! department_id! boss_id first_name! last_name! full_name+ updated_at! first_customer",
    "cols public.tickets: id! employee_id",
    *(
        f"cols Sales.{p}: id! region! customer_id! salesperson_id contact_email"
        for p in ("orders", "orders_eu", "orders_eu_0", "orders_eu_1", "orders_other", "orders_üs")
    ),
    "pk Sales.Kunden: KundenNr",
    "pk Sales.Order Items: order_id,region,line_no",
    *(
        f"pk Sales.{p}: id,region"
        for p in ("orders", "orders_eu", "orders_eu_0", "orders_eu_1", "orders_other", "orders_üs")
    ),
    "pk public.departments: id",
    "pk public.employees: id",
    "pk public.tickets: id",
    "unique Sales.Kunden: email",
    "unique public.departments: name",
    "trigger Sales.Kunden.kunden_sync: insert update disabled",
    "trigger public.employees.employees_audit: insert",
    "trigger public.employees.employees_touch: update",
    "fk Sales.Kunden.kunden_favourite_fk: favourite_employee -> public.employees: id",
    "fk Sales.Order Items.order_items_order_fk: order_id,region -> Sales.orders: id,region",
    "fk Sales.orders.orders_contact_email_fkey: contact_email -> Sales.Kunden: email full",
    "fk Sales.orders.orders_customer_id_fkey: customer_id -> Sales.Kunden: KundenNr",
    "fk Sales.orders.orders_salesperson_id_fkey: salesperson_id -> public.employees: id",
    "fk public.departments.departments_manager_fk: manager_id -> public.employees: id deferrable",
    "fk public.employees.employees_boss_id_fkey: boss_id -> public.employees: id deferrable deferred",
    "fk public.employees.employees_department_id_fkey: department_id -> public.departments: id",
    "fk public.employees.employees_first_customer_fkey: first_customer -> Sales.Kunden: KundenNr",
    "fk public.tickets.tickets_employee_id_fkey: employee_id -> public.employees: id",
]
RICH_PG18 = [
    "table public.audit_log",
    "cols public.audit_log: id!* employee_id department_id!",
    "pk public.audit_log: id",
    "fk public.audit_log.audit_department_fk: department_id -> public.departments: id deferrable deferred",
    "fk public.audit_log.audit_employee_fk: employee_id -> public.employees: id not-enforced",
]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(["pgdump15_rich.sql"], RICH_COMMON, id="pg_dump-15"),
        pytest.param(["pgdump18_rich.sql"], RICH_COMMON + RICH_PG18, id="pg_dump-18"),
        # The source script must give what the server made of it, generated names included.
        pytest.param(["rich_source.sql"], RICH_COMMON, id="rich-source"),
        pytest.param(["rich_source.sql", "rich_source_pg18.sql"], RICH_COMMON + RICH_PG18, id="rich-source-18"),
    ],
)
def test_real_pg_dump_schema(files: list[str], expected: list[str]) -> None:
    catalog = load_schema([FIXTURES / name for name in files])
    assert facts(catalog) == set(expected)


def test_real_pg_dump_partition_roots() -> None:
    catalog = load_schema([FIXTURES / "pgdump18_rich.sql"])
    assert catalog.root_of(QName("Sales", "orders_eu_1")) == QName("Sales", "orders")
    assert catalog.root_of(QName("Sales", "orders_üs")) == QName("Sales", "orders")
    assert catalog.root_of(QName("public", "employees")) == QName("public", "employees")
    assert catalog.tables[QName("public", "employees")].row_key() == ("id",)
    assert [t.name for t in catalog.tables[QName("public", "employees")].update_triggers()] == ["employees_touch"]


def test_real_pg_dump_meta_commands_present() -> None:
    """The fixture really carries what pglast rejects (so the test above means something)."""
    text = (FIXTURES / "pgdump18_rich.sql").read_text()
    assert text.startswith("--") and "\n\\restrict " in text and "\n\\unrestrict " in text
    assert "BEGIN ATOMIC" in text


# -- files and folders --------------------------------------------------------------
def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_folder_in_natural_order(tmp_path: Path) -> None:
    write(
        tmp_path / "flyway",
        {
            "V1__init.sql": "CREATE TABLE t (a int); CREATE TABLE gone (a int);",
            "V2__add.sql": "ALTER TABLE t ADD COLUMN v2 int;",
            "V10__add.sql": "ALTER TABLE t ADD COLUMN v10 int; DROP TABLE gone;",
            "V9__add.sql": "ALTER TABLE t ADD COLUMN v9 int; CREATE TABLE nine (a int);",
            "notes.txt": "CREATE TABLE not_sql (a int);",
        },
    )
    catalog = load_schema([tmp_path / "flyway"])
    assert_facts(catalog, ["table public.t", "table public.nine", "cols public.t: a v2 v9 v10", "cols public.nine: a"])


def test_prisma_style_subfolders(tmp_path: Path) -> None:
    write(
        tmp_path / "migrations",
        {
            "20240101000000_init/migration.sql": 'CREATE TABLE "User" ("id" INTEGER NOT NULL);',
            "9_early/migration.sql": 'CREATE TABLE "Early" ("id" INTEGER);',
            "20240201000000_fk/migration.sql": """
                CREATE TABLE "Post" ("userId" INTEGER);
                ALTER TABLE "User" ADD CONSTRAINT "User_pkey" PRIMARY KEY ("id");
                ALTER TABLE "Post" ADD CONSTRAINT "Post_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id");
                """,
            "migration_lock.toml": 'provider = "postgresql"',
            ".hidden/0_x.sql": "CREATE TABLE hidden (a int);",
        },
    )
    catalog = load_schema([tmp_path / "migrations"])
    assert list(catalog.tables) == [
        QName("public", "Early"),
        QName("public", "User"),
        QName("public", "Post"),
    ]
    assert_facts(catalog, ["fk public.Post.Post_userId_fkey: userId -> public.User: id"])


def test_paths_in_the_order_given_and_each_file_a_new_session(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "b.sql": "SET search_path = app; CREATE TABLE t (a int PRIMARY KEY);",
            "a.sql": "CREATE TABLE u (t_a int REFERENCES app.t); DROP TABLE IF EXISTS app.t2;",
        },
    )
    catalog = load_schema([tmp_path / "b.sql", tmp_path / "a.sql"])
    assert_facts(catalog, ["table app.t", "table public.u", "fk public.u.u_t_a_fkey: t_a -> app.t: a"])


def test_down_migrations_are_not_run(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "000001_init.up.sql": "CREATE TABLE a (id int);",
            "000001_init.down.sql": "DROP TABLE a;",
            "2024-01-01-000000_b/up.sql": "CREATE TABLE b (id int);",
            "2024-01-01-000000_b/down.sql": "DROP TABLE b;",
            "20240102_c.sql": "-- migrate:up\nCREATE TABLE c (id int);\n\n-- migrate:down\nDROP TABLE c;\n",
            "U2__undo.sql": "DROP TABLE a;",
        },
    )
    assert_facts(load_schema([tmp_path]), ["table public.a", "table public.b", "table public.c"])


def test_encodings(tmp_path: Path) -> None:
    (tmp_path / "bom.sql").write_bytes(b'\xef\xbb\xbfCREATE TABLE "\xc3\xa9t\xc3\xa9" (a int);')
    (tmp_path / "utf16.sql").write_bytes('CREATE TABLE "hiver" (a int);'.encode("utf-16"))
    (tmp_path / "latin1.sql").write_bytes(b"SET client_encoding = 'LATIN1';\nCREATE TABLE \"\xe9\" (a int);")
    catalog = load_schema([tmp_path / "bom.sql", tmp_path / "utf16.sql", tmp_path / "latin1.sql"])
    assert_facts(catalog, ["table public.été", "table public.hiver", "table public.é"])


def test_crlf_script_with_meta_commands_and_copy_data() -> None:
    text = (
        "\\restrict k\r\nCREATE TABLE public.t (a int PRIMARY KEY);\r\n"
        "COPY public.t (a) FROM stdin;\r\n1\r\n\\.\r\n"
        "CREATE TABLE public.u (\r\n  t_a int REFERENCES public.t\r\n);\r\n\\unrestrict k\r\n"
    )
    assert_facts(
        load_schema_sql(text),
        ["table public.t", "table public.u", "fk public.u.u_t_a_fkey: t_a -> public.t: a"],
    )
    with pytest.raises(SchemaError) as caught:
        load_schema_sql(text + "CREATE TABLE v (\r\n  ,\r\n);\r\n", source="crlf.sql")
    assert caught.value.location == "crlf.sql:11"


# -- errors -----------------------------------------------------------------------
def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path / "m",
        {
            "V1__ok.sql": "CREATE TABLE t (a int);\n",
            "V2__bad.sql": "-- fine so far\nCREATE TABLE u (a int);\n\nCREATE TABLE v (\n  a int,\n  , b int\n);\n",
        },
    )
    with pytest.raises(SchemaError) as caught:
        load_schema([tmp_path / "m"])
    error = caught.value
    assert str(error) == f'{tmp_path / "m" / "V2__bad.sql"}:6: syntax error at or near ","'
    assert error.location == f"{tmp_path / 'm' / 'V2__bad.sql'}:6"
    assert isinstance(error, DumpfixError) and error.exit_code == 2


@pytest.mark.parametrize(
    ("sql", "location"),
    [
        pytest.param("CREATE TABLE t (a int);\nCREATE TABLE é (a int", "x.sql:2", id="end-of-input"),
        pytest.param("SELECT 1;\nCREAT TABLE t (a int);", "x.sql:2", id="unknown-statement"),
        pytest.param(
            "\\restrict k\nCREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT;\n",
            "x.sql:3",
            id="after-meta",
        ),
        pytest.param(
            "DO $$\nBEGIN\n  ALTER TABLE t ADD CONSTRAINT x FOREGN KEY (a) REFERENCES u;\nEND $$;",
            "x.sql:3",
            id="inside-do-block",
        ),
    ],
)
def test_syntax_errors(sql: str, location: str) -> None:
    with pytest.raises(SchemaError) as caught:
        load_schema_sql(sql, source="x.sql")
    assert caught.value.location == location


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda root: root / "missing.sql", id="missing-file"),
        pytest.param(lambda root: root / "missing-dir" / "x.sql", id="missing-folder"),
        pytest.param(lambda root: (root / "empty").mkdir() or root / "empty", id="folder-without-sql"),
        pytest.param(
            lambda root: os.symlink(root / "nowhere", root / "link.sql") or root / "link.sql",
            id="broken-symlink",
        ),
        pytest.param(
            lambda root: (root / "bad.sql").write_bytes(b"CREATE TABLE t (a int);\n\xff\xfe\xfa;") and root / "bad.sql",
            id="not-utf8",
        ),
    ],
)
def test_unreadable_paths(tmp_path: Path, make: object) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(SchemaError) as caught:
        load_schema([path])
    assert str(caught.value).startswith(str(path) + ":")


# -- the splitter and helpers -------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("SELECT 1;SELECT 2", [("SELECT 1", 1), ("SELECT 2", 1)], id="no-final-semicolon"),
        pytest.param("\n\n  -- c\n  SELECT 1;\n", [("SELECT 1", 4)], id="leading-comment-and-lines"),
        pytest.param("\\connect db\nSELECT 1;", [("SELECT 1", 2)], id="meta-line"),
        pytest.param("SELECT 1 \\gset\nSELECT 2;", [("SELECT 1 ", 1), ("SELECT 2", 2)], id="meta-ends-statement"),
        pytest.param("SELECT ';\n';SELECT 2;", [("SELECT ';\n'", 1), ("SELECT 2", 2)], id="string-newline"),
        pytest.param("SELECT $a$ $b$ ; $a$;", [("SELECT $a$ $b$ ; $a$", 1)], id="dollar-tags"),
        pytest.param("SELECT a$b$c;", [("SELECT a$b$c", 1)], id="dollar-inside-identifier"),
        pytest.param("SELECT (1;2);SELECT 3", [("SELECT (1;2)", 1), ("SELECT 3", 1)], id="parentheses"),
        pytest.param("SELECT 'x;", [("SELECT 'x;", 1)], id="unterminated-string"),
        pytest.param(
            "COPY t FROM stdin;\r\na;b\r\n\\.\r\nSELECT 1;",
            [("COPY t FROM stdin", 1), ("SELECT 1", 4)],
            id="copy-data-crlf",
        ),
        pytest.param(
            "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END;\nSELECT 2;",
            [("CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END", 1), ("SELECT 2", 2)],
            id="begin-atomic",
        ),
        pytest.param(
            "CREATE TABLE begin (a int);CREATE TABLE t (a int)",
            [("CREATE TABLE begin (a int)", 1), ("CREATE TABLE t (a int)", 1)],
            id="begin-outside-function",
        ),
        pytest.param(
            "CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END;SELECT 2",
            [
                ("CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END", 1),
                ("SELECT 2", 1),
            ],
            id="case-inside-begin-atomic",
        ),
        pytest.param(
            "/* a /* ; */ ; */ SELECT /* ; /* ; */ ; */ 1;SELECT 2",
            [("SELECT /* ; /* ; */ ; */ 1", 1), ("SELECT 2", 1)],
            id="nested-comments",
        ),
        pytest.param(
            "SET standard_conforming_strings = off;\nSELECT 'a\\';b', B'1', E'\\'';SELECT 'c';\n"
            "SET standard_conforming_strings TO on;\nSELECT 'd\\';",
            [
                ("SET standard_conforming_strings = off", 1),
                ("SELECT E'a\\';b', B'1', E'\\''", 2),
                ("SELECT E'c'", 2),
                ("SET standard_conforming_strings TO on", 3),
                ("SELECT 'd\\'", 4),
            ],
            id="standard-conforming-strings-off",
        ),
        pytest.param("SELECT $x$ ;\nSELECT 2;", [("SELECT $x$ ;\nSELECT 2;", 1)], id="unterminated-dollar-quote"),
        pytest.param('SELECT é;\nSELECT "ü;";', [("SELECT é", 1), ('SELECT "ü;"', 2)], id="non-ascii"),
    ],
)
def test_split_statements(text: str, expected: list[tuple[str, int]]) -> None:
    assert list(split_statements(text)) == [Statement(*each) for each in expected]


_PIECES = st.sampled_from(
    ["'a;b'", "'it''s'", '"x;y"', "$$;$$", "$q$ ' ; $q$", "E'\\';'", "/* ; */", "(1;2)", "é", "1", " "]
)


@given(st.lists(st.lists(_PIECES, min_size=1, max_size=6).map(lambda p: "SELECT " + " ".join(p)), max_size=5))
def test_split_statements_round_trip(statements: list[str]) -> None:
    text, expected = "", []
    for statement in statements:
        expected.append(Statement(statement, text.count("\n") + 1))
        text += statement + ";\n"
    assert list(split_statements(text)) == expected


@pytest.mark.parametrize(
    ("name1", "name2", "label", "expected"),
    [
        pytest.param("t", "a", "fkey", "t_a_fkey", id="short"),
        pytest.param("t", None, "pkey", "t_pkey", id="no-columns"),
        pytest.param(
            "a_table_name_that_is_quite_long_indeed_more_than_forty_chars",
            None,
            "pkey",
            "a_table_name_that_is_quite_long_indeed_more_than_forty_cha_pkey",
            id="long-pkey",
        ),
        pytest.param(
            "a_table_name_that_is_quite_long_indeed_more_than_forty_chars",
            "another_long_column_name_for_the_unique_key",
            "key",
            "a_table_name_that_is_quite_lo_another_long_column_name_for__key",
            id="long-key",
        ),
        pytest.param(
            "a_table_name_that_is_quite_long_indeed_more_than_forty_chars",
            "a_column_name_that_is_also_rather_long_x",
            "not_null",
            "a_table_name_that_is_quite__a_column_name_that_is_also_not_null",
            id="long-not-null",
        ),
        pytest.param("ä" * 31, "x_y", "key", "ä" * 27 + "_x_y_key", id="multibyte"),
    ],
)
def test_make_object_name(name1: str, name2: str | None, label: str, expected: str) -> None:
    assert make_object_name(name1, name2, label) == expected
    assert len(expected.encode()) <= 63


def test_default_key_names_are_droppable() -> None:
    """PK / UNIQUE default names (checked on PostgreSQL 18) let DROP CONSTRAINT find them."""
    long_table = "a_table_name_that_is_quite_long_indeed_more_than_forty_chars"
    catalog = load(
        f"""
        CREATE TABLE {long_table} (id int PRIMARY KEY, another_long_column_name_for_the_unique_key int UNIQUE);
        CREATE TABLE w (x int, y int);
        ALTER TABLE w ADD UNIQUE (x), ADD UNIQUE (x), ADD PRIMARY KEY (y);
        ALTER TABLE {long_table} DROP CONSTRAINT a_table_name_that_is_quite_lo_another_long_column_name_for__key;
        ALTER TABLE {long_table} DROP CONSTRAINT a_table_name_that_is_quite_long_indeed_more_than_forty_cha_pkey;
        ALTER TABLE w DROP CONSTRAINT w_x_key1;
        ALTER TABLE w DROP CONSTRAINT w_pkey;
        """
    )
    assert_facts(catalog, ["unique public.w: x"])
    assert all(t.primary_key is None for t in catalog.tables.values())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("a, B", ["a", "b"]),
        ('"$user", public', ["$user", "public"]),
        ('"We ""quote""",x', ['We "quote"', "x"]),
    ],
)
def test_split_identifier_list(value: str, expected: list[str]) -> None:
    assert split_identifier_list(value) == expected
