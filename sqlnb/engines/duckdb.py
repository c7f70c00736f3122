"""DuckDB behind the engine interface: one machine, columnar, larger than memory.

Measured facts this follows (../shared/research/engines.md):
- A cursor is a connection of its own to the same database: each reader and the writer get one,
  and a cursor's `interrupt()` stops only its own query (from any thread; the parent's does not
  reach a cursor). An interrupt is not sticky: one that lands between statements is harmless.
- `query_progress()` gives a real percent only with `enable_progress_bar` set on the cursor that
  runs the query (and `enable_progress_bar_print` off, or DuckDB prints a bar), so every cursor
  sqlnb opens gets both.
- Results come as Arrow record batches (`to_arrow_reader`): 4-5x faster than `fetch_df`. A reader
  left open blocks its cursor, so every path closes it, also on an early stop or an error; an
  interrupt while batches are pulled surfaces as OSError ("INTERRUPT Error"), not as
  InterruptException.
- DuckDB has no read-only cursor and no savepoints, and fails a conflicting write at once: the
  writer serialises writes, reads are routed by statement type (DuckDB's own parser says what a
  statement is), and a group of writes that fails runs again one transaction per write.
- Per-connection settings (`SET search_path`, `USE`) are replayed on every reader, so the
  Database acts as one connection; TEMP tables live on the writer's cursor and reads of them
  run there.
- Another process holding the file: DuckDB refuses to open it at all; the error names the lock.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import duckdb

from ..engine import (
    POSTGRES,
    PREVIEW_ROWS,
    TRANSACTION_KEYWORDS,
    ArrowFrameBuilder,
    Backend,
    Catalog,
    Link,
    Result,
    Secret,
    Stopped,
    UsageError,
    annotate,
    arrow_rows,
    arrow_to_dataframe,
    check_params,
    ended_transaction,
    named_tokens,
    note,
    rechunk,
    rows_to_dataframe,
    shorten,
    single,
    split,
    split_name,
    tokens,
)

if TYPE_CHECKING:
    from ..engine import Control, Statement, Task

#: Rows per Arrow batch while a result is fetched (the row counter moves this often): 20 of
#: DuckDB's vectors of 2,048 rows. A batch that stays in the CPU's caches is copied into the
#: frame while it is there: 10M rows x 5 columns came 0.94x the Arrow path's time with batches
#: of 40,960 rows (30,720 and 61,440 alike), 1.20x with 122,880 (benchmarks/RESULTS.md).
BATCH_ROWS = 40_960
#: Statement types that only read: they may run on a reader's cursor.
READ_TYPES = frozenset({"SELECT", "EXPLAIN", "RELATION", "LOGICAL_PLAN"})
#: Statement types that change the connection's session: replayed on every reader.
SESSION_TYPES = frozenset({"SET", "VARIABLE_SET"})
#: How much of a result DuckDB may queue ahead of sqlnb's reader (`streaming_buffer_size`,
#: 10 MiB by default): the queue is full while a large result is copied into its frame, and
#: 4 MB took 8-15 MB off the peak of 10M rows x 5 columns, within the time's noise
#: (benchmarks/RESULTS.md, issue 24). A user's own SET, replayed on every reader, comes after.
STREAMING_BUFFER = "4MB"
#: Set on each of sqlnb's cursors.
_SETTINGS = ("SET enable_progress_bar = true", "SET enable_progress_bar_print = false",
             f"SET streaming_buffer_size = '{STREAMING_BUFFER}'")
#: Named parameters sqlnb accepts (:name, @name) become DuckDB's $name.
_NAMED = re.compile(r"^[:@]")
#: Settings that make DuckDB write a file: a log of queries, a profile, secrets on disk.
_FILE_SETTINGS = ("log_query_path", "profiling_output", "profile_output",
                  "default_secret_storage")
#: DuckDB types whose Arrow form changes the value (BIT as DuckDB's internal bytes, TIME WITH
#: TIME ZONE without its offset, BIGNUM as opaque bytes, a UHUGEINT of 2**127 or more as a
#: negative DECIMAL(38, 0)): fetched as DuckDB's text of them.
_AS_TEXT = frozenset({"bit", "time with time zone", "bignum", "uhugeint"})
#: Integer types Arrow carries as DECIMAL(38, 0) (HUGEINT, every integer sum()) or, from
#: _AS_TEXT, as text (UHUGEINT, BIGNUM): they stay integers (results.ArrowFrameBuilder).
_WHOLE = frozenset({"hugeint", "uhugeint", "bignum"})


@dataclass(frozen=True)
class Session:
    """What the user set on the writer's connection that every reader must share."""

    version: int = 0
    settings: tuple[str, ...] = ()  # SET / RESET / USE statements, in order
    temp_tables: frozenset[str] = frozenset()  # TEMP tables and views (the writer's alone)


def _classify(statement: Statement) -> Statement:
    """The statement with DuckDB's own word on what it is (its parser's statement type)."""
    try:
        parsed = duckdb.extract_statements(statement.text)
    except duckdb.Error:  # DuckDB cannot parse it: running it will say why, in its place
        return statement
    if len(parsed) != 1:
        return statement
    kind = parsed[0].type.name
    return replace(statement, kind=kind, writes=kind not in READ_TYPES)


@functools.lru_cache(maxsize=512)
def _file_write(kind: str | None, text: str) -> str | None:
    """What the statement would write outside the database file (a read-only Database refuses
    it), or None. DuckDB opens a read-only database's attachments read-only itself, but not
    these: COPY and EXPORT DATABASE write files, ATTACH ... (READ_WRITE) opens one to write,
    and some settings and calls send a log, a profile or a secret to a file."""
    if kind == "COPY":
        return "COPY writes a file (COPY ... TO) or a table (COPY ... FROM)"
    if kind == "EXPORT":
        return "EXPORT DATABASE writes the database's tables to files"
    significant = [token[2].lower() for token in tokens(text, POSTGRES)
                   if token[0] not in ("ws", "comment")]
    names = [token[2].lower() for token in tokens(text, POSTGRES)
             if token[0] == "word"]
    if kind == "ATTACH":
        # (READ_WRITE), or (READ_ONLY false / 0 / off)
        read_only_off = any(word == "read_only" and following in ("false", "0", "off")
                            for word, following in itertools.pairwise(significant))
        if "read_write" in names or read_only_off:
            return "ATTACH ... (READ_WRITE) opens that file to write"
    if kind == "SET":
        setting = next((name for name in names if name in _FILE_SETTINGS), None)
        if setting is not None:
            return f"the setting {setting} makes DuckDB write a file"
    if "enable_logging" in names and "storage_path" in names:
        return "enable_logging with a storage_path writes a log file"
    if kind == "CREATE" and "secret" in names and ("persistent" in names or "local_file" in names):
        return "a persistent secret is written to a file"
    return None


def _refuse_file_write(statement: Statement) -> None:
    """A read-only Database's refusal of a statement that would write a file (UsageError)."""
    what = _file_write(statement.kind, statement.text)
    if what is not None:
        raise UsageError(f"this Database is read-only (read_only=True), and {what}: "
                         f"{shorten(statement.text, 40)!r} is refused; open the database "
                         "writable to run it")


def _dollar_params(statement: Statement) -> Statement:
    """`:name` and `@name` as DuckDB's `$name` (the lexer skips strings and comments)."""
    found = list(named_tokens(statement.text, POSTGRES))
    if not found:
        return statement
    pieces, last = [], 0
    for start, end, token in found:
        pieces.append(statement.text[last:start])
        pieces.append(_NAMED.sub("$", token))
        last = end
    pieces.append(statement.text[last:])
    return replace(statement, text="".join(pieces))


def _for_arrow(relation: Any) -> tuple[Any, frozenset[int]]:
    """The relation to fetch as Arrow, and the positions of its columns that hold integers as
    DECIMAL(38, 0) or text. The types of _AS_TEXT are cast to VARCHAR in a projection over the
    query (by position: names may repeat); every other column comes as it is."""
    kinds = [kind.id for kind in relation.types]
    whole = frozenset(j for j, kind in enumerate(kinds) if kind in _WHOLE)
    if not _AS_TEXT.isdisjoint(kinds):
        relation = relation.project(", ".join(
            f"CAST(#{j + 1} AS VARCHAR) AS {_quote(name)}" if kind in _AS_TEXT else f"#{j + 1}"
            for j, (kind, name) in enumerate(zip(kinds, relation.columns))))
    return relation, whole


@functools.lru_cache(maxsize=512)
def _statements(sql: str) -> tuple[Statement, ...]:
    """The statements of `sql`, each classified by DuckDB's parser (the same SQL is often run
    again: the parse costs a one-row query 30 us)."""
    return tuple(_classify(_dollar_params(s)) for s in split(sql, POSTGRES))


class DuckDBLink(Link):
    """One DuckDB cursor (a connection of its own) and the query it runs now."""

    __slots__ = ("__weakref__", "backend", "control", "cursor", "reader", "txn", "version")
    savepoints = False

    def __init__(self, cursor: duckdb.DuckDBPyConnection, backend: DuckDBBackend) -> None:
        self.cursor = cursor
        self.backend = backend
        self.control: Control | None = None
        #: the Arrow reader of the result being fetched (closed before the next statement)
        self.reader: Any = None
        #: a transaction is open on this cursor (DuckDB does not say: sqlnb keeps track)
        self.txn = False
        self.version = -1
        for setting in _SETTINGS:
            _all(cursor, setting)

    # -- any thread ----------------------------------------------------------------------------
    def interrupt(self) -> None:
        with contextlib.suppress(duckdb.Error):  # closed: nothing to stop
            self.cursor.interrupt()

    def percent(self) -> float | None:
        try:
            value = self.cursor.query_progress()
        except duckdb.Error:
            return None
        return value if value >= 0 else None

    # -- the worker's thread ---------------------------------------------------------------------
    def translate(self, error: BaseException, task: Task) -> BaseException:
        control = task.control
        if control.reason is not None and _is_interrupt(error):
            return Stopped()
        if isinstance(error, duckdb.Error):
            annotate(error, task.sql)
            if isinstance(error, duckdb.TransactionException) and "aborted" in str(error):
                note(error, "a statement failed inside the transaction you opened (BEGIN): "
                            "run ROLLBACK to end it")
            error.__traceback__ = None  # the frames are sqlnb's internals, not the user's
        return error

    def _execute(self, statement: Statement, params: Any) -> None:
        args = () if params is None else params
        self.cursor.execute(statement.text, args)
        if statement.kind == "TRANSACTION":
            self.txn = not statement.ends_transaction

    def run(self, statement: Statement, params: Any, control: Control, frame: bool) -> Any:
        """Run one statement; a query's rows come as Arrow batches, counted as they arrive."""
        if statement.surely_writes:
            self._execute(statement, params)
            rows = self.cursor.fetchall() if self.cursor.description else []
            rowcount = rows[0][0] if (len(rows) == 1 and self.cursor.description
                                      and self.cursor.description[0][0] == "Count") else -1
            self.backend.after_write(self, statement)
            result = Result([], [], rowcount, None, statement.text)
            if frame:
                return result.to_dataframe()
            result.elapsed = time.monotonic() - control.started  # type: ignore[operator]
            return result
        relation = self.cursor.sql(statement.text, params=params)
        if relation is None:  # DuckDB ran it as a statement without rows
            return Result([], [], -1, None, statement.text)
        relation, whole = _for_arrow(relation)
        names = list(relation.columns)
        rows: list[tuple] = []
        reader = relation.to_arrow_reader(BATCH_ROWS)
        try:
            builder = ArrowFrameBuilder(names, reader.schema, whole) if frame else None
            for batch in reader:  # the builder takes each batch as it comes
                if builder is not None:
                    if control.preview is None:
                        first = batch.slice(0, PREVIEW_ROWS).columns
                        control.preview = (names, arrow_rows(first, whole))
                    builder.add(batch)
                else:
                    rows += arrow_rows(batch.columns, whole)
                control.rows += batch.num_rows
                del batch
        finally:
            reader.close()  # an open reader blocks the cursor
        if builder is not None:
            return builder.frame()
        result = Result(names, rows, -1, None, statement.text)
        result.elapsed = time.monotonic() - control.started  # type: ignore[operator]
        return result

    def chunks(self, statement: Statement, params: Any, control: Control,
               chunk_rows: int) -> Iterator[Any]:
        relation = self.cursor.sql(statement.text, params=params)
        if relation is None:
            return
        relation, whole = _for_arrow(relation)
        names = list(relation.columns)
        reader = relation.to_arrow_reader(min(chunk_rows, BATCH_ROWS))
        try:
            for chunk in rechunk(reader, chunk_rows):
                control.rows += sum(batch.num_rows for batch in chunk)
                yield arrow_to_dataframe(names, chunk, reader.schema, whole)
        finally:
            reader.close()

    def many(self, statement: Statement, params_seq: Iterable[Any], control: Control) -> Result:
        import itertools

        rows = iter(params_seq)
        total = 0
        while chunk := list(itertools.islice(rows, 10_000)):
            if control.rows == 0:
                check_params(statement, chunk[0])
            self.cursor.executemany(statement.text, chunk)
            total += max(self.cursor.rowcount, 0)
            control.rows += len(chunk)
        return Result([], [], rowcount=total, sql=statement.text)

    def call(self, fn: Callable[[Any], Any], name: str, *, guarded: bool = False,
             read_only: bool = False) -> Any:
        files = self.backend.read_only  # a read-only Database: no statement that writes a file
        if read_only:  # DuckDB has no read-only cursor: what fn runs is looked at first
            try:
                return fn(_CheckedCursor(self.cursor, _refuse_writes(name), files))
            finally:
                _drop_result(self.cursor)
        if not guarded:
            try:
                return fn(_CheckedCursor(self.cursor, None, files))
            finally:
                _drop_result(self.cursor)
                self.txn = _in_transaction(self.cursor)  # fn may have begun or ended one
        refuse = _RefuseTransactionControl(name)
        try:
            value = fn(_CheckedCursor(self.cursor, refuse, files))
        finally:
            _drop_result(self.cursor)
        if refuse.tried is not None:  # fn caught the error: the transaction is still refused
            raise ended_transaction(name, refuse.tried)
        return value

    def tables(self) -> Any:
        found = []
        for schema, name, kind, temporary in self.cursor.execute(
                "SELECT schema_name, table_name, 'table', temporary FROM duckdb_tables() "
                "WHERE NOT internal UNION ALL "
                "SELECT schema_name, view_name, 'view', temporary FROM duckdb_views() "
                "WHERE NOT internal ORDER BY 2").fetchall():
            rows = None
            if kind == "table":  # a count is cheap in DuckDB; a view's may not be
                rows = _all(self.cursor,
                            f"SELECT count(*) FROM {_quote(schema)}.{_quote(name)}")[0][0]
            found.append((name, kind, "temp" if temporary else schema, rows))

        frame = rows_to_dataframe(found, ["name", "type", "schema", "rows"])
        return frame.astype({"rows": "Int64"})

    def catalog(self, control: Control) -> Catalog:
        tables: dict[str, list[str]] = {}
        owner: dict[str, tuple[str, str]] = {}
        for table, column, *where in _all(
                self.cursor, "SELECT table_name, column_name, database_name, schema_name "
                "FROM duckdb_columns() WHERE NOT internal ORDER BY database_name <> "
                "current_database(), schema_name <> current_schema(), database_name, "
                "schema_name, table_name, column_index"):
            if owner.setdefault(table, tuple(where)) == tuple(where):  # a name is one table:
                tables.setdefault(table, []).append(column)  # the current schema's first
        functions = sorted({name for (name,) in _all(
            self.cursor, "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_type <> 'pragma'") if name.isidentifier()})
        words = _all(self.cursor, "SELECT upper(keyword_name), keyword_category = 'reserved' "
                                  "FROM duckdb_keywords() ORDER BY 1")
        return Catalog({name: tuple(columns) for name, columns in tables.items()},
                       tuple(functions), tuple(word for word, _reserved in words),
                       frozenset(word for word, reserved in words if reserved))

    def explain(self, statement: Statement, params: Any, control: Control) -> str:
        rows = _all(self.cursor, f"EXPLAIN (FORMAT json) {statement.text}", params)
        lines: list[str] = []

        def draw(node: dict[str, Any], depth: int) -> None:
            info = node.get("extra_info") or {}
            details = [f"{key}: {' '.join(v) if isinstance(v, list) else v}"
                       for key, v in info.items() if v not in ("", [])]
            lines.append("  " * depth + " · ".join([node["name"], *details]))
            for child in node.get("children", []):
                draw(child, depth + 1)

        for root in json.loads(rows[0][1]):
            draw(root, 0)
        return "\n".join(lines)

    def schema(self, table: str) -> Any:
        parts = split_name(table)
        # x.t is schema x's t, or database x's main.t (an attached file); d.s.t is both
        name, where = parts[-1], {1: "", 2: " AND (lower(schema_name) = lower(?) OR "
                                            "(lower(database_name) = lower(?) AND "
                                            "schema_name = 'main'))",
                                  3: " AND lower(database_name) = lower(?) "
                                     "AND lower(schema_name) = lower(?)"}.get(len(parts))
        if where is None:
            name, where, parts = table, "", (table,)
        qualifiers = [parts[0], parts[0]] if len(parts) == 2 else list(parts[:-1])
        # names are case-insensitive in DuckDB; a name in several schemas is the current one's
        found = self.cursor.execute(
            "SELECT column_name, data_type, NOT is_nullable, column_default, column_index, "
            "database_name, schema_name, table_name FROM duckdb_columns() "
            "WHERE lower(table_name) = "
            f"lower(?){where} ORDER BY database_name <> current_database(), "
            "schema_name <> current_schema(), database_name, schema_name, column_index",
            [name, *qualifiers]).fetchall()
        # the first table found: its database, schema and name (for its keys below)
        where_found = found[0][5:] if found else ()
        columns = [row[:5] for row in found if row[5:] == where_found]
        if not columns:
            raise UsageError(f"no table or view named {table!r}: %sqlnb tables (or db.tables()) "
                             "lists them")
        keys: dict[str, int] = {}
        references: dict[str, str] = {}
        for kind, names, other, targets in self.cursor.execute(
                "SELECT constraint_type, constraint_column_names, referenced_table, "
                "referenced_column_names FROM duckdb_constraints() WHERE database_name = ? "
                "AND schema_name = ? AND table_name = ?", list(where_found)).fetchall():
            if kind == "PRIMARY KEY":
                keys.update({n: i + 1 for i, n in enumerate(names)})
            elif kind == "FOREIGN KEY":
                for source, target in zip(names, targets or []):
                    references[source] = f"{other}({target})"
        data = [(name, kind, bool(not_null), default, keys.get(name, 0), references.get(name))
                for name, kind, not_null, default, _index in columns]

        return rows_to_dataframe(data, ["name", "type", "not_null", "default", "primary_key",
                                        "references"])

    # -- the writer's transaction steps ------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self.txn

    def transaction_lost(self) -> bool:
        if not self.txn:
            return True
        try:  # any failure inside a transaction aborts it: it can only be rolled back
            _all(self.cursor, "SELECT 1")
        except duckdb.TransactionException:
            return True
        return False

    def begin(self, controls: list[Control]) -> None:
        _all(self.cursor, "BEGIN TRANSACTION")
        self.txn = True

    def commit(self, controls: list[Control]) -> None:
        try:
            _all(self.cursor, "COMMIT")
        finally:
            self.txn = _in_transaction(self.cursor)

    def rollback(self) -> None:
        try:
            _all(self.cursor, "ROLLBACK")
        finally:
            self.txn = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        yield  # DuckDB cannot refuse writes on one cursor; reads on the writer are sqlnb's own

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.cursor.close()



def _is_interrupt(error: BaseException) -> bool:
    if isinstance(error, duckdb.InterruptException):
        return True
    return isinstance(error, OSError) and "INTERRUPT Error" in str(error)


def _ready(cursor: duckdb.DuckDBPyConnection, table: str, if_exists: str) -> bool:
    """Make way for rows into `table` as if_exists says (drop it for "replace", refuse one
    that exists for "fail"); whether the table exists, to be appended to."""
    if if_exists == "replace":
        _all(cursor, f"DROP TABLE IF EXISTS {_quote(table)}")
    exists = _all(cursor, "SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = "
                          "lower(?) AND database_name = current_database() "
                          "AND schema_name = current_schema()", [table])[0][0]  # any case
    if exists and if_exists == "fail":
        error = duckdb.CatalogException(f"table {table!r} already exists")
        note(error, "pass if_exists='append' to add rows, or 'replace'")
        raise error
    return bool(exists)


def _all(cursor: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple]:
    """Run `sql` and fetch every row: a result left unfinished blocks the cursor's next query."""
    return cursor.execute(sql, params).fetchall()


def _in_transaction(cursor: duckdb.DuckDBPyConnection) -> bool:
    """Whether a transaction is open on the cursor: in autocommit mode each statement is a
    transaction of its own, so two statements see two ids; inside one, the same id."""
    try:
        first = _all(cursor, "SELECT txid_current()")
        return _all(cursor, "SELECT txid_current()") == first
    except duckdb.TransactionException:  # an aborted transaction is still open
        return True


def _drop_result(cursor: duckdb.DuckDBPyConnection) -> None:
    """Drop what is left of a result a user's function did not fetch (it would block)."""
    with contextlib.suppress(duckdb.Error, AttributeError):
        cursor.abort()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _CheckedCursor:
    """A DuckDB cursor as a user's function sees it: everything the cursor does, but every SQL
    text it is given is looked at first, and `refuse` may stop it before it reaches DuckDB
    (DuckDB has no authorizer and no read-only cursor)."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, refuse: Any,
                 read_only: bool = False) -> None:
        self._cursor = cursor
        self._refuse = refuse if refuse is not None else lambda statement: None
        #: the Database is read-only: statements that write a file are refused too
        self._read_only = read_only

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __enter__(self) -> _CheckedCursor:
        """`with conn:` is one transaction for its whole block, as on SQLite: BEGIN, then
        COMMIT, or ROLLBACK of all of it if the block raises (a DuckDB cursor's own `with`
        closes it, and the Database's writer with it). Inside a transaction a block could be
        undone alone only with a savepoint, which DuckDB lacks: that is a UsageError."""
        if _in_transaction(self._cursor):
            raise UsageError(
                "`with conn:` inside a transaction would need a savepoint to undo its block "
                "alone, and DuckDB has none: run the statements straight in the transaction "
                "(execute_write_fn's is all or nothing already), or pass transaction=False "
                "for `with conn:` to be a transaction of its own")
        self._cursor.begin()
        return self

    def __exit__(self, kind: type[BaseException] | None, *_exc: object) -> bool:
        if _in_transaction(self._cursor):  # unless the block ended it itself
            if kind is None:
                self._cursor.commit()
            else:
                self._cursor.rollback()
        return False

    def _check(self, sql: Any) -> None:
        if isinstance(sql, str):
            for statement in _statements(sql):
                if self._read_only:
                    _refuse_file_write(statement)
                self._refuse(statement)

    def commit(self) -> None:
        self._refuse(single("COMMIT"))
        self._cursor.commit()

    def rollback(self) -> None:
        self._refuse(single("ROLLBACK"))
        self._cursor.rollback()

    def begin(self) -> None:
        self._refuse(single("BEGIN"))
        self._cursor.begin()

    def execute(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(sql)
        self._cursor.execute(sql, *args, **kwargs)
        return self

    def executemany(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(sql)
        self._cursor.executemany(sql, *args, **kwargs)
        return self

    def sql(self, sql: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(sql)
        return self._cursor.sql(sql, *args, **kwargs)


class _RefuseTransactionControl:
    """Inside the transaction sqlnb opened for a write function: no COMMIT, ROLLBACK or BEGIN."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tried: str | None = None

    def __call__(self, statement: Statement) -> None:
        if statement.keyword in TRANSACTION_KEYWORDS and statement.keyword not in (
                "SAVEPOINT", "RELEASE"):
            self.tried = statement.keyword
            raise ended_transaction(self.name, statement.keyword)


def _refuse_writes(name: str) -> Callable[[Statement], None]:
    """For execute_fn: only statements DuckDB's parser calls reads."""
    def refuse(statement: Statement) -> None:
        if statement.surely_writes:
            raise UsageError(f"{name} was given a read-only connection (execute_fn), and "
                             f"{shorten(statement.text, 40)!r} writes: write with "
                             "execute_write_fn")
    return refuse



# -- the backend ----------------------------------------------------------------------------

class DuckDBBackend(Backend):
    """DuckDB's side of one Database: one database instance, a cursor per worker."""

    name = "duckdb"
    title = "DuckDB"
    sqlglot_dialect = "duckdb"
    temp_schema = "temp"
    volatile_functions = frozenset({"today", "get_current_time", "get_current_timestamp",
                                    "transaction_timestamp", "current_localtime",
                                    "current_localtimestamp", "uuidv4", "uuidv7",
                                    "random_bytes", "version"})
    frames_on_readers = True
    #: no other process can write a DuckDB file sqlnb has open (DuckDB locks it), so sqlnb's
    #: own count of writes is all the result cache needs (DuckDB has no data_version)
    knows_changes = True
    schemes = ("duckdb",)
    suffixes = (".duckdb", ".ddb")
    example = "duckdb:///path/to/file.duckdb, duckdb:// for memory, or a path ending .duckdb"
    extra = "duckdb"
    error_types = (duckdb.Error,)
    dialect = POSTGRES  # DuckDB's lexer is PostgreSQL's ($$ strings, E'..', nesting)
    #: reader threads unless the caller says: DuckDB already runs one query on every core
    #: (measured here: 2 readers gave 1.4x the throughput of 1 for large reads; 4, 1.6x at
    #: twice the latency), so a pool of 2 serves a second query without queueing it
    default_threads = 2

    def quartiles_sql(self, table: str, column: str) -> str:
        x = f"CAST({column} AS DOUBLE)"
        return (f"SELECT count({x}), min({x}), quantile_cont({x}, 0.25), "
                f"quantile_cont({x}, 0.5), quantile_cont({x}, 0.75), max({x}) FROM {table}")

    @classmethod
    def parse_target(cls, target: Any) -> Any:
        if isinstance(target, Secret):  # DuckDB takes no secret: the text is the path
            target = target.reveal()
        if isinstance(target, str) and "://" in target:
            path = target.split("://", 1)[1]  # duckdb:///relative.duckdb, duckdb:////abs
            return (path[1:] if path.startswith("/") else path) or ":memory:"
        return target

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool) -> None:
        text = os.fspath(path)
        memory = text in ("", ":memory:")
        if not memory and read_only and not os.path.exists(text):
            raise FileNotFoundError(f"no database at {text!r}: read_only=True opens an existing "
                                    "file only; check the path")
        if not memory:
            folder = os.path.dirname(os.path.abspath(text))
            if not os.path.isdir(folder):
                raise FileNotFoundError(f"the folder {folder!r} does not exist: create it "
                                        "first, or check the path")
        try:
            self._db = duckdb.connect(":memory:" if memory else text, read_only=read_only)
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                note(error, "another process has this DuckDB file open (DuckDB lets one "
                            "process at a time open a file it writes); close it there first, "
                            "or open a copy")
            raise
        except duckdb.ConnectionException as error:
            if "different configuration" in str(error):
                mode = "read-only" if read_only else "writable"
                note(error, f"this DuckDB file is already open in this process (another "
                            f"sqlnb Database, or a duckdb.connect() of your own) with other "
                            f"settings than {mode}: DuckDB opens a file once per process, with "
                            "one configuration. Use the Database that has it open (%sqlnb use "
                            "NAME), or close it first and connect again")
            raise
        self.label = ":memory:" if memory else text
        self.read_only = read_only
        self.session = Session()
        self._session_lock = threading.Lock()
        self._name = f"sqlnb-{uuid.uuid4().hex[:8]}"

    # -- links ---------------------------------------------------------------------------------
    def open_reader(self) -> DuckDBLink:
        return DuckDBLink(self._db.cursor(), self)

    def open_writer(self) -> DuckDBLink:
        return DuckDBLink(self._db.cursor(), self)

    def open_isolated(self) -> DuckDBLink:
        return DuckDBLink(self._db.cursor(), self)

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self._db.close()

    # -- SQL -----------------------------------------------------------------------------------
    def statements(self, sql: str) -> tuple[Statement, ...]:
        statements = _statements(sql)
        if self.read_only:  # refused before any of them runs
            for statement in statements:
                _refuse_file_write(statement)
        return statements

    def insert_work(self, df: Any, table: str, *, if_exists: str
                    ) -> Callable[[Link, Control], int]:
        target = _quote(table)
        view = f"sqlnb_frame_{uuid.uuid4().hex}"

        def work(link: Link, control: Control) -> int:
            cursor = link.cursor  # type: ignore[attr-defined]
            cursor.register(view, df)
            try:
                if _ready(cursor, table, if_exists):
                    _all(cursor, f"INSERT INTO {target} BY NAME SELECT * FROM {_quote(view)}")
                else:
                    _all(cursor, f"CREATE TABLE {target} AS SELECT * FROM {_quote(view)}")
            finally:
                # after a failure the transaction is aborted and DuckDB refuses even this: the
                # view goes with the rollback, and the failure is what the caller must see
                with contextlib.suppress(duckdb.TransactionException):
                    cursor.unregister(view)
            control.rows = len(df)
            return len(df)

        return work

    def show_frames(self, link: Link, frames: Mapping[str, Any], control: Control
                    ) -> Callable[[], None]:
        # DuckDB scans a DataFrame where it is: registered on the link's own cursor (a
        # reader's too), as a view that only that cursor sees
        cursor = link.cursor  # type: ignore[attr-defined]
        for name, df in frames.items():
            cursor.register(name, df)

        def undo() -> None:
            for name in frames:
                cursor.unregister(name)

        return undo

    def native_import(self, path: str, format: str, table: str, if_exists: str
                      ) -> Callable[[Link, Control], int] | None:
        # Parquet through DuckDB's own reader (parallel, with the engine's percent in the
        # progress). Not CSV: DuckDB's sniffer takes a malformed file silently (seen here: a
        # row with one field too many made it read a 6-row file as no rows, or as one row
        # of three columns), where pyarrow's reader stops at the row and says so
        if format != "parquet":
            return None
        target = _quote(table)
        source = "SELECT * FROM read_parquet(?)"

        def work(link: Link, control: Control) -> int:
            cursor = link.cursor  # type: ignore[attr-defined]
            exists = _ready(cursor, table, if_exists)
            make = f"INSERT INTO {target} BY NAME " if exists else f"CREATE TABLE {target} AS "
            rows = _all(cursor, make + source, [path])[0][0]
            control.rows = rows
            return rows

        return work

    # -- routing and the session ---------------------------------------------------------------
    @property
    def reads_need_writer(self) -> bool:
        return bool(self.session.temp_tables)

    def prepare_reader(self, link: Link) -> None:
        session = self.session
        if link.version != session.version:  # type: ignore[attr-defined]
            for setting in session.settings:
                _all(link.cursor, setting)  # type: ignore[attr-defined]
            link.version = session.version  # type: ignore[attr-defined]

    def reroute(self, link: Link, task: Task, error: BaseException) -> bool:
        statement = task.statement
        if (isinstance(error, duckdb.CatalogException) and self.session.temp_tables
                and statement is not None):  # it reads a TEMP table only the writer has
            task.groupable = task.transaction = False
            return True
        return False

    def after_write(self, link: DuckDBLink, statement: Statement) -> None:
        """After a statement on the writer: note what the readers must share with it."""
        if statement.kind in SESSION_TYPES or statement.keyword in ("SET", "RESET", "USE"):
            with self._session_lock:
                self.session = replace(self.session, version=self.session.version + 1,
                                       settings=(*self.session.settings, statement.text))
        elif statement.keyword in ("CREATE", "DROP", "ALTER"):
            names = frozenset(name for (name,) in _all(
                link.cursor, "SELECT table_name FROM duckdb_tables() WHERE temporary UNION "
                             "SELECT view_name FROM duckdb_views() WHERE temporary"))
            if names != self.session.temp_tables:
                with self._session_lock:
                    self.session = replace(self.session, version=self.session.version + 1,
                                           temp_tables=names)
