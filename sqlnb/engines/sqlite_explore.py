"""What is in a database: its tables with row counts, a table's columns and keys, and the names
completion offers (tables, columns, functions, keywords)."""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from ..engine import Catalog, UsageError, rows_to_dataframe, split_name
from .sqlite_insert import quote


def tables(conn: sqlite3.Connection) -> Any:
    """A DataFrame of name, type ("table" or "view"), schema and rows (a table's; a view's
    would mean running its query, which may take any time), in name order."""
    found = []
    for schema_name, _file in _schemas(conn):
        prefix = quote(schema_name)
        for name, kind in conn.execute(
            f"SELECT name, type FROM {prefix}.sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ):
            rows = None
            if kind == "table":
                try:
                    rows = conn.execute(
                        f"SELECT count(*) FROM {prefix}.{quote(name)}").fetchone()[0]
                except sqlite3.OperationalError as error:
                    if "interrupted" in str(error):
                        raise
                    # a virtual table whose module is not loaded: no count
            found.append((name, kind, schema_name, rows))
    frame = rows_to_dataframe(found, ["name", "type", "schema", "rows"])
    return frame.astype({"rows": "Int64"})


#: SQLite's keywords (https://www.sqlite.org/lang_keywords.html); SQLite has no SQL call that
#: lists them, and Python's sqlite3 module does not expose sqlite3_keyword_name().
_KEYWORDS = """
ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN
BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS CURRENT
CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED DELETE DESC
DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER
FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN
INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE
LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL NULL NULLS OF OFFSET ON OR ORDER OTHERS
OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE RANGE RECURSIVE REFERENCES REGEXP
REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS SAVEPOINT SELECT SET
TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION UNIQUE UPDATE USING VACUUM
VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT
"""
KEYWORDS = tuple(_KEYWORDS.split())


def catalog(conn: sqlite3.Connection) -> Catalog:
    """Every table and view of every attached schema with its columns, one query per schema;
    and SQLite's functions (PRAGMA function_list) and keywords."""
    tables: dict[str, list[str]] = {}
    # SQLite finds an unqualified name in temp first, then main, then the attached schemas
    for schema_name, _file in sorted(_schemas(conn), key=lambda schema: schema[0] != "temp"):
        master = f"{quote(schema_name)}.sqlite_master"
        try:
            rows = conn.execute(
                f"SELECT m.name, p.name FROM {master} AS m, pragma_table_info(m.name, ?) AS p "
                f"WHERE {_LISTED.format('m.')} ORDER BY m.name, p.cid", (schema_name,)).fetchall()
        except sqlite3.OperationalError as error:
            if "interrupted" in str(error):
                raise
            rows = _one_by_one(conn, master, schema_name)  # a view that no longer works
        seen = set(tables)  # a name is one table: the one SQLite finds first
        for table, column in rows:
            if table not in seen:
                tables.setdefault(table, []).append(column)
    functions = sorted({name for (name,) in conn.execute("SELECT name FROM pragma_function_list")
                        if name.isidentifier()})  # not the operators (->, ->>)
    return Catalog({name: tuple(columns) for name, columns in tables.items()},
                   tuple(functions), KEYWORDS, _reserved())


@functools.lru_cache(maxsize=1)
def _reserved() -> frozenset[str]:
    """The keywords SQLite does not take as a bare name: asked of SQLite itself (most of its
    keywords fall back to names; 2 ms, once)."""
    conn = sqlite3.connect(":memory:")
    try:
        reserved = set()
        for keyword in KEYWORDS:
            try:
                conn.execute(f"SELECT {keyword} FROM (SELECT 1 AS {keyword})").fetchall()
            except sqlite3.Error:
                reserved.add(keyword)
        return frozenset(reserved)
    finally:
        conn.close()


#: the rows of sqlite_master that are a user's tables and views ({} : the table's alias)
_LISTED = "{0}type IN ('table', 'view') AND {0}name NOT LIKE 'sqlite_%'"


def _one_by_one(conn: sqlite3.Connection, master: str, schema_name: str
                ) -> list[tuple[str, str]]:
    """The (table, column) pairs read table by table, leaving out views that no longer work."""
    rows = []
    listed = _LISTED.format("")
    for (table,) in conn.execute(f"SELECT name FROM {master} WHERE {listed} ORDER BY name"):
        try:
            rows += [(table, column) for (column,) in conn.execute(
                "SELECT name FROM pragma_table_info(?, ?) ORDER BY cid", (table, schema_name))]
        except sqlite3.OperationalError as error:
            if "interrupted" in str(error):
                raise
    return rows


def fresh_plan(conn: sqlite3.Connection, sql: str) -> str:
    """`sql` (an EXPLAIN) as text that names the schema's version. An EXPLAIN program never
    looks at the schema's cookie, so a prepared one is never expired, and sqlite3's statement
    cache would give the plan from before another connection's CREATE INDEX for as long as the
    same text comes again: a new version makes a new text, planned afresh. (A read of
    sqlite_master first makes the connection load the new schema, which a plan is made from.)"""
    conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    (version,), = conn.execute("PRAGMA schema_version").fetchall()
    return f"/* schema {version} */ {sql}"


def explain(conn: sqlite3.Connection, sql: str, params: Any = None) -> str:
    """SQLite's query plan (EXPLAIN QUERY PLAN) as an indented tree: each step under its
    parent, as the sqlite3 shell draws it."""
    rows = conn.execute(fresh_plan(conn, f"EXPLAIN QUERY PLAN {sql}"), params or ()).fetchall()
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return "\n".join(lines)


def schema(conn: sqlite3.Connection, table: str) -> Any:
    """A DataFrame with a row per column: name, type, not_null, default, primary_key, references."""
    *schema_name, name = split_name(table)
    on = f"{quote(schema_name[0])}." if len(schema_name) == 1 else ""  # main.t, aux.t
    if len(schema_name) > 1:
        on, name = "", table  # not schema.table: a name as it is
    columns = conn.execute(f"PRAGMA {on}table_xinfo({quote(name)})").fetchall()
    if not columns:
        raise UsageError(f"no table or view named {table!r}: %sqlnb tables (or db.tables()) "
                         "lists them")
    references = {}
    for row in conn.execute(f"PRAGMA {on}foreign_key_list({quote(name)})"):
        _id, _seq, other, source, target = row[:5]
        references[source] = f"{other}({target})" if target else other
    data = [
        (name, kind, bool(notnull), default, pk, references.get(name))
        for _cid, name, kind, notnull, default, pk, hidden in columns
        if hidden in (0, 2, 3)  # ordinary and generated columns, not a virtual table's hidden ones
    ]
    return rows_to_dataframe(data, ["name", "type", "not_null", "default", "primary_key",
                                    "references"])


def _schemas(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [(name, file) for _seq, name, file in conn.execute("PRAGMA database_list")]
