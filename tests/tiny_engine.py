"""A tiny engine over Python's sqlite3, written against `sqlnb.engine` alone (issue 20).

It is the proof that an engine is one file: it registers itself with `register`, opens
`tiny:///path/to/file.db` targets (`sqlnb.connect`, `%sql`), and passes the engine-neutral
suite of test_engines.py with no edit in sqlnb/. It is deliberately plain: one sqlite3
connection per link (the file in WAL mode, so readers and the writer do not block each other),
transactions through BEGIN IMMEDIATE / COMMIT / ROLLBACK, no savepoints (the Link default), no
read-only connections (every SELECT goes to a reader by its first keyword), names quoted with
backticks (so completion shows it asks the engine), and one option of its own.
"""

from __future__ import annotations

import contextlib
import datetime
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlnb.engine import (
    Backend,
    Catalog,
    Control,
    Link,
    Option,
    Result,
    SmallFrame,
    Statement,
    Stopped,
    Task,
    UsageError,
    annotate,
    check_params,
    register,
    rows_to_dataframe,
)

#: A result of at most this many rows is built into a frame by the caller's thread.
SMALL = 256
#: The keywords completion offers, and those a name must be quoted to be.
KEYWORDS = ("AND", "AS", "ASC", "BY", "CREATE", "DELETE", "DESC", "DISTINCT", "DROP", "FROM",
            "GROUP", "HAVING", "INSERT", "INTO", "JOIN", "LIMIT", "NOT", "NULL", "ON", "OR",
            "ORDER", "SELECT", "SET", "TABLE", "UPDATE", "VALUES", "WHERE")
RESERVED = frozenset(KEYWORDS)
#: Column types from a DataFrame's dtypes (pandas' kinds: b, i, u, f; the rest is TEXT).
TYPES = {"b": "INTEGER", "i": "INTEGER", "u": "INTEGER", "f": "REAL"}


class TinyLink(Link):
    """One sqlite3 connection and the query it runs now."""

    def __init__(self, path: str, timeout: float) -> None:
        self.conn = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                                    check_same_thread=False)
        self.control: Control | None = None

    # -- any thread ----------------------------------------------------------------------------
    def interrupt(self) -> None:
        with contextlib.suppress(sqlite3.ProgrammingError):  # closed: nothing to stop
            self.conn.interrupt()

    # -- the worker's thread ---------------------------------------------------------------------
    def translate(self, error: BaseException, task: Task) -> BaseException:
        if (task.control.reason is not None and isinstance(error, sqlite3.OperationalError)
                and "interrupted" in str(error)):
            return Stopped()  # the control plane says why: QueryCancelled, QueryTimeout ...
        if isinstance(error, sqlite3.Error):
            annotate(error, task.sql)
        return error

    def run(self, statement: Statement, params: Any, control: Control, frame: bool) -> Any:
        cursor = self.conn.execute(statement.text, () if params is None else params)
        try:
            if cursor.description is None:
                result = Result([], [], cursor.rowcount, cursor.lastrowid, statement.text)
                return result.to_dataframe() if frame else result
            columns = [d[0] for d in cursor.description]
            rows: list[tuple] = []
            while batch := cursor.fetchmany(4096):
                rows += batch
                control.rows = len(rows)
        finally:
            cursor.close()
        if frame:
            return SmallFrame(columns, rows) if len(rows) <= SMALL else rows_to_dataframe(
                rows, columns)
        return Result(columns, rows, -1, None, statement.text)

    def chunks(self, statement: Statement, params: Any, control: Control,
               chunk_rows: int) -> Iterator[Any]:
        cursor = self.conn.execute(statement.text, () if params is None else params)
        try:
            columns = [d[0] for d in cursor.description or ()]
            while rows := cursor.fetchmany(chunk_rows):
                control.rows += len(rows)
                yield rows_to_dataframe(rows, columns)
        finally:
            cursor.close()

    def many(self, statement: Statement, params_seq: Iterable[Any], control: Control) -> Result:
        sets = list(params_seq)
        if sets:
            check_params(statement, sets[0])
        cursor = self.conn.executemany(statement.text, sets)
        control.rows = len(sets)
        return Result([], [], max(cursor.rowcount, 0), None, statement.text)

    def call(self, fn: Callable[[Any], Any], name: str, *, guarded: bool = False,
             read_only: bool = False) -> Any:
        return fn(self.conn)

    def tables(self) -> Any:
        found = []
        for name, kind in self.conn.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall():
            rows = None if kind == "view" else self.conn.execute(
                f"SELECT count(*) FROM {TinyBackend.quote_name(name)}").fetchone()[0]
            found.append((name, kind, "main", rows))
        frame = rows_to_dataframe(found, ["name", "type", "schema", "rows"])
        return frame.astype({"rows": "Int64"})

    def catalog(self, control: Control) -> Catalog:
        tables = {name: tuple(column for _cid, column, *_rest in self.conn.execute(
                      f"PRAGMA table_info({TinyBackend.quote_name(name)})"))
                  for (name,) in self.conn.execute(
                      "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        functions = tuple(sorted({name for (name,) in self.conn.execute(
            "SELECT name FROM pragma_function_list") if name.isidentifier()}))
        return Catalog(tables, functions, KEYWORDS, RESERVED)

    def explain(self, statement: Statement, params: Any, control: Control) -> str:
        depth = {0: -1}
        lines = []
        for node, parent, _unused, detail in self.conn.execute(
                f"EXPLAIN QUERY PLAN {statement.text}", () if params is None else params):
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        return "\n".join(lines)

    def schema(self, table: str) -> Any:
        columns = self.conn.execute(f"PRAGMA table_info({TinyBackend.quote_name(table)})"
                                    ).fetchall()
        if not columns:
            raise UsageError(f"no table or view named {table!r}: db.tables() lists them")
        return rows_to_dataframe(
            [(name, kind, bool(not_null), default, key, None)
             for _cid, name, kind, not_null, default, key in columns],
            ["name", "type", "not_null", "default", "primary_key", "references"])

    # -- the writer's transaction steps ------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def begin(self, controls: list[Control]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self, controls: list[Control]) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()


@register
class TinyBackend(Backend):
    """Tiny's side of one Database: a file, and a connection per link."""

    name = "tiny"
    title = "Tiny"
    schemes = ("tiny",)
    example = "tiny:///path/to/file.db"
    options = (Option("timeout", 5.0, "seconds a connection waits for another's lock", float),)
    error_types = (sqlite3.Error,)
    name_quote = "`"  # SQLite takes `name` too

    @classmethod
    def quote_name(cls, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def __init__(self, path: str, *, read_only: bool, timeout: float = 5.0) -> None:
        if read_only:
            raise UsageError("the tiny engine opens files to write: read_only=True is not "
                             "available on it")
        if not path:
            raise UsageError("a tiny target names a file: tiny:///path/to/file.db")
        self.path = path
        self.label = path
        self.read_only = False
        self.timeout = timeout
        with contextlib.closing(sqlite3.connect(path)) as conn:  # readers go on while it writes
            conn.execute("PRAGMA journal_mode = WAL")

    def open_reader(self) -> TinyLink:
        return TinyLink(self.path, self.timeout)

    def open_writer(self) -> TinyLink:
        return TinyLink(self.path, self.timeout)

    def open_isolated(self) -> TinyLink:
        return TinyLink(self.path, self.timeout)

    def adapt_parameter(self, value: Any, name: str) -> Any:
        # sqlite3's own adapter of dates is deprecated: give the ISO text, as SQLite keeps it
        if isinstance(value, (datetime.date, datetime.time)):
            return value.isoformat()
        return super().adapt_parameter(value, name)

    def insert_work(self, df: Any, table: str, *, if_exists: str
                    ) -> Callable[[Link, Control], int]:
        columns = ", ".join(self.quote_identifier(str(c)) for c in df.columns)
        declared = ", ".join(f"{self.quote_identifier(str(c))} "
                             f"{TYPES.get(df[c].dtype.kind, 'TEXT')}" for c in df.columns)
        marks = ", ".join("?" for _ in df.columns)
        target = self.quote(table)
        rows = list(df.astype(object).where(df.notna(), None).itertuples(index=False, name=None))

        def work(link: Link, control: Control) -> int:
            conn = link.conn  # type: ignore[attr-defined]
            if if_exists == "replace":
                conn.execute(f"DROP TABLE IF EXISTS {target}")
            if if_exists != "append" or not conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                conn.execute(f"CREATE TABLE {target} ({declared})")  # fails if it exists
            conn.executemany(f"INSERT INTO {target} ({columns}) VALUES ({marks})", rows)
            control.rows = len(rows)
            return len(rows)

        return work
