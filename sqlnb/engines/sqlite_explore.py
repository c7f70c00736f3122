"""What is in a database: its tables with row counts, and a table's columns and keys."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import UsageError
from ..results import rows_to_dataframe
from .sqlite_insert import quote


def tables(conn: sqlite3.Connection) -> Any:
    """A DataFrame of name, type ("table" or "view"), schema and rows, in name order."""
    found = []
    for schema_name, _file in _schemas(conn):
        prefix = quote(schema_name)
        for name, kind in conn.execute(
            f"SELECT name, type FROM {prefix}.sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ):
            try:
                rows = conn.execute(f"SELECT count(*) FROM {prefix}.{quote(name)}").fetchone()[0]
            except sqlite3.OperationalError as error:
                if "interrupted" in str(error):
                    raise
                rows = None  # a view whose SQL no longer works
            found.append((name, kind, schema_name, rows))
    frame = rows_to_dataframe(found, ["name", "type", "schema", "rows"])
    return frame.astype({"rows": "Int64"})


def schema(conn: sqlite3.Connection, table: str) -> Any:
    """A DataFrame with a row per column: name, type, not_null, default, primary_key, references."""
    columns = conn.execute(f"PRAGMA table_xinfo({quote(table)})").fetchall()
    if not columns:
        raise UsageError(f"no table or view named {table!r}: %sqlnb tables (or db.tables()) "
                         "lists them")
    references = {}
    for row in conn.execute(f"PRAGMA foreign_key_list({quote(table)})"):
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
