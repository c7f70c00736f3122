"""SQLite behind the engine interface: the embedded default, nothing more to install.

- Targets: a file path, a `file:` URI, None or ":memory:" (one in-memory database shared by
  every connection of the Database, through SQLite's memdb VFS).
- Readers: connections opened read-only (`mode=ro` for files) with `PRAGMA query_only`, so
  SQLite itself refuses a write there (SQLITE_READONLY) and the read moves to the writer: routing
  is SQLite's, not a regex's.
- One Database acts as one connection: connection-level PRAGMAs and ATTACHed files the writer's
  statements set are replayed on every reader (a versioned `SessionState`); TEMP objects and
  private in-memory attachments live on the writer only, and readers carry an authorizer that
  denies reads of them, so such reads move to the writer.
- Read-only: every connection is `mode=ro`, and an authorizer lets an ATTACH (or VACUUM INTO's
  copy) open only names that write no file, since SQLite opens those read-write whatever the
  main file's mode.
- Stopping: `Connection.interrupt()` from any thread; no Python on SQLite's hot path but a
  VM-step counter every STEP_BLOCK instructions. Another connection's lock is waited for in
  BUSY_SLICE slices (SQLite's busy handler cannot be interrupted).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..engine import (
    PREVIEW_ROWS,
    Backend,
    Catalog,
    FrameBuilder,
    Link,
    Option,
    Result,
    Secret,
    SmallFrame,
    Stopped,
    UsageError,
    annotate,
    check_params,
    check_seconds,
    ended_transaction,
    note,
    options,
    rows_to_dataframe,
    split,
)
from ..errors import DatabaseClosed, QueryInterrupted, TransactionRolledBack

if TYPE_CHECKING:
    from ..engine import Control, Statement, Task

log = logging.getLogger("sqlnb")

#: The progress handler counts VM steps in blocks this big (one Python call per block).
STEP_BLOCK = 1 << 22
#: Rows fetched per `fetchmany()` while a result is read (the row counter moves this often).
FETCH_ROWS = 2048
#: A result of at most this many rows is handed back whole and its DataFrame built by the
#: caller (see SmallFrame): at most about a millisecond of work on the caller's thread.
CALLER_FRAME_ROWS = 256
#: Rows per batch while a DataFrame is built (its row tuples are dropped batch by batch). A batch
#: this small stays in the CPU's cache while it is split into columns: 1M rows took 8% less time
#: than with batches of 65,536, and the tuples die young, before the GC's older generations.
FRAME_ROWS = 8192
#: The writer waits for another connection's lock this long at a time (seconds), so that a
#: cancel or a time limit can stop the wait between two slices.
BUSY_SLICE = 0.05

#: First keywords of statements that may change rows (and have a count of them).
CHANGES_ROWS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "SELECT", "VALUES"})

#: Connection-level PRAGMAs: when the user sets one, every connection of the Database gets it.
CONNECTION_PRAGMAS = frozenset({
    "analysis_limit", "automatic_index", "busy_timeout", "cache_size", "cache_spill",
    "case_sensitive_like", "cell_size_check", "foreign_keys", "full_column_names",
    "ignore_check_constraints", "legacy_alter_table", "mmap_size", "recursive_triggers",
    "reverse_unordered_selects", "short_column_names", "temp_store", "threads", "trusted_schema",
})


# -- where the database is ------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Where a Database's connections point, as SQLite URIs."""

    write_uri: str
    read_uri: str
    label: str
    memory: bool
    read_only: bool


def resolve_target(path: str | os.PathLike[str] | None, read_only: bool) -> Target:
    """Turn `connect()`'s path into URIs; a clear error for a path that cannot work."""
    if path is None or path == ":memory:":
        name = f"/sqlnb-{uuid.uuid4().hex}"
        uri = f"file:{name}?vfs=memdb" + ("&mode=ro" if read_only else "")
        return Target(uri, uri, ":memory:", True, read_only)
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"path must be a str, a pathlib.Path or None, not {type(path).__name__}")
    text = os.fspath(path)
    if isinstance(text, bytes):
        raise UsageError("path must be a str or a pathlib.Path, not bytes")
    if text.startswith("file:"):
        query = urllib.parse.urlsplit(text).query
        mode = (uri_modes(text) or [None])[-1]  # SQLite takes the last mode= it is given
        memory = mode == "memory" or "memdb" in urllib.parse.parse_qs(query).get("vfs", [])
        if read_only and mode in ("rw", "rwc", "memory"):
            what = {"rw": "the file opened to write", "rwc": "the file opened to write, "
                    "created if missing", "memory": "a new in-memory database, always writable"}
            raise UsageError(f"the URI asks for mode={mode} ({what[mode]}) and read_only=True asks "
                             "for read-only: drop one of them (a URI with mode=ro is "
                             "read-only by itself)")
        read_only = read_only or mode == "ro"
        # readers (and a read-only writer) read: mode=ro, put last so that it is the one taken
        ro = text if mode == "ro" else f"{text}{'&' if query else '?'}mode=ro"
        return Target(ro if read_only else text, text if memory else ro, text, memory, read_only)
    file = Path(text).expanduser().absolute()
    if file.is_dir():
        raise UsageError(f"{text!r} is a folder, not a database file: give the path of a file")
    if read_only and not file.exists():
        raise FileNotFoundError(
            f"no database at {text!r}: read_only=True opens an existing file only; check the path"
        )
    if not file.parent.exists():
        raise FileNotFoundError(
            f"the folder {str(file.parent)!r} does not exist: create it first, or check the path"
        )
    base = "file:" + urllib.parse.quote(str(file))
    read = base + "?mode=ro"
    return Target(read if read_only else base, read, str(file), False, read_only)


def uri_modes(name: str) -> list[str]:
    """Every `mode=` value of a `file:` URI, in order (SQLite takes the last one)."""
    query = urllib.parse.urlsplit(name).query
    return [value for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True)
            if key == "mode"]


def writes_no_file(name: str | None) -> bool:
    """Whether SQLite opens the database `name` (an ATTACH's, or the copy VACUUM INTO makes)
    without writing a file: a private temporary or in-memory database, or a `file:` URI whose
    every mode= is ro or memory. A name given as an expression (None: SQLite computes it when
    the statement runs) cannot be told, so it counts as one that may write."""
    if name is None:
        return False
    if name in ("", ":memory:"):
        return True
    if name[:5].lower() != "file:":
        return False
    modes = uri_modes(name)
    return bool(modes) and all(mode in ("ro", "memory") for mode in modes)


def _read_only_folder(target: Target) -> str | None:
    """The folder of a database file when this process cannot write in it, else None."""
    if target.memory or target.label.startswith("file:"):
        return None
    folder = os.path.dirname(target.label)
    return folder if not os.access(folder, os.W_OK) else None


# -- errors ---------------------------------------------------------------------------------

def is_interrupt(error: BaseException) -> bool:
    """SQLite's SQLITE_INTERRUPT."""
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_INTERRUPT if code is not None else str(error) == "interrupted"


def is_busy(error: BaseException) -> bool:
    """Another connection holds the lock (SQLITE_BUSY or SQLITE_LOCKED)."""
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "database is locked" in str(error)


def is_denied(error: BaseException) -> bool:
    """The authorizer refused the statement (SQLITE_AUTH)."""
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_AUTH if code is not None else str(error) == "not authorized"


def _refused(name: str, keyword: str | None) -> UsageError:
    """What a read-only Database says of an ATTACH or a VACUUM INTO that would write a file
    (`name` is "" when SQLite computes the name as the statement runs: it cannot be checked)."""
    start = "this Database is read-only (read_only=True), and "
    if not name:
        return UsageError(f"{start}the file of an ATTACH named by an expression cannot be "
                          "checked (SQLite computes the name as it runs, and would open the "
                          "file to write): give the name as a literal, ATTACH "
                          "'file:PATH?mode=ro' AS name")
    instead = ("put mode=ro in its URI" if name.lower().startswith("file:")
               else f"ATTACH 'file:{name}?mode=ro' AS name")
    if keyword == "VACUUM":
        return UsageError(f"{start}VACUUM INTO writes a copy of the database to {name!r}: "
                          "copy the file itself, or open the database writable to make the copy")
    if keyword == "ATTACH":
        return UsageError(f"{start}ATTACH would open {name!r} to write (SQLite creates a "
                          f"missing file): attach it read-only, {instead}")
    return UsageError(f"{start}{name!r} would be opened to write (an ATTACH, or the copy "
                      f"VACUUM INTO makes): attach files read-only ({instead}); VACUUM INTO "
                      "is refused")


def check_possible(statement: Statement) -> None:
    """Refuse what would break the Database's own connections, saying what to do instead."""
    if statement.sets_pragma and statement.pragma is not None:
        name, value = statement.pragma
        if name.rsplit(".", 1)[-1] == "locking_mode" and (value or "").strip("'\"").lower() == (
                "exclusive"):
            raise UsageError(
                "PRAGMA locking_mode = EXCLUSIVE would lock this Database's own reader "
                "connections out: use connect(..., threads=0) to work on one connection, or "
                "BEGIN EXCLUSIVE for one transaction")


def is_readonly(error: BaseException) -> bool:
    """SQLite refused a write (SQLITE_READONLY)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_READONLY
    return "readonly database" in str(error)


# -- connections ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionState:
    """Connection-level state the user set on the Database, which every connection must share.

    PRAGMAs and file ATTACHes are replayed on each reader before its next query. TEMP objects and
    private in-memory attachments cannot be shared between connections, so reads that touch them
    run on the writer's connection instead.
    """

    version: int = 0
    pragmas: dict[str, str] = field(default_factory=dict)  # name -> the PRAGMA statement
    attached: tuple[tuple[str, str], ...] = ()  # (schema, file) attachable by every connection
    writer_only_schemas: frozenset[str] = frozenset()  # "temp", private in-memory schemas
    writer_only_tables: frozenset[str] = frozenset()  # names of TEMP tables and views

    @property
    def has_writer_only(self) -> bool:
        return bool(self.writer_only_schemas)


def open_connection(uri: str, busy_timeout: float,
                    factory: type[sqlite3.Connection] = sqlite3.Connection) -> sqlite3.Connection:
    """A connection in autocommit mode (sqlnb issues BEGIN itself), usable from any thread."""
    return sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None,
                           check_same_thread=False, cached_statements=256, factory=factory)


class WriteConnection(sqlite3.Connection):
    """The writer's connection (and an isolated one), as a write function sees it.

    sqlnb keeps its connections in autocommit mode and issues BEGIN itself, where a plain
    connection's `with conn:` would neither commit nor roll back anything. Here `with conn:` is
    one transaction for its whole block: BEGIN IMMEDIATE ... COMMIT, or ROLLBACK of all of it,
    DDL included, when the block raises (as with Python 3.12's autocommit=False; a default
    sqlite3 connection would have committed a CREATE TABLE at once, and taken the write lock
    only at its first INSERT, where another connection's lock can fail the block half way).
    Inside a transaction already open (sqlnb's, or the user's own BEGIN) it is a SAVEPOINT:
    the block is undone alone and the outer transaction stays whole and uncommitted.
    `executescript()` inside an open transaction runs its statements in it, where sqlite3's own
    would COMMIT first.
    """

    #: how `with conn:` opens a transaction (plain BEGIN on a read-only database)
    begin = "BEGIN IMMEDIATE"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._blocks: list[bool] = []  # per open `with` block: is it a savepoint?

    def __enter__(self) -> WriteConnection:
        nested = self.in_transaction
        self.execute("SAVEPOINT sqlnb_with" if nested else self.begin)
        self._blocks.append(nested)
        return self

    def __exit__(self, kind: type[BaseException] | None, *_exc: object) -> bool:
        nested = self._blocks.pop() if self._blocks else False
        if not self.in_transaction:  # ended inside the block (or by SQLite): nothing to end
            return False
        if nested:
            if kind is not None:
                self.execute("ROLLBACK TO sqlnb_with")
            self.execute("RELEASE sqlnb_with")
        elif kind is None:
            self.commit()
        else:
            self.rollback()
        return False

    def executescript(self, sql_script: str) -> sqlite3.Cursor:
        """Run a script; inside an open transaction its statements join that transaction."""
        if not self.in_transaction:
            return super().executescript(sql_script)
        cursor = self.cursor()
        for statement in split(sql_script):
            cursor.execute(statement.text)
        return cursor


class SQLiteLink(Link):
    """One SQLite connection and the query it runs now (read by the VM-step counter)."""

    __slots__ = ("__weakref__", "after", "busy_wait", "conn", "control", "cursor", "denied",
                 "read_only", "refused", "replaying", "state", "version")
    savepoints = True

    def __init__(self, conn: sqlite3.Connection,
                 after: Callable[[SQLiteLink, Statement], None] | None = None,
                 busy_wait: float | None = None, read_only: bool = False) -> None:
        self.conn = conn
        #: a connection of a read-only Database: the authorizer refuses to open a file that
        #: SQLite would write (see authorize)
        self.read_only = read_only
        #: the file name the authorizer last refused to open (None: none since translate saw it)
        self.refused: str | None = None
        #: the link replays the session's ATTACHes (files the writer attached already)
        self.replaying = False
        #: on the writer: seconds to keep retrying a statement that finds the database locked
        #: (SQLite waits BUSY_SLICE at a time, so a cancel or a time limit can stop the wait)
        self.busy_wait = busy_wait
        self.control: Control | None = None
        #: a cursor whose last statement ran to its end, for the next statement on this link
        self.cursor: sqlite3.Cursor | None = None
        self.version = -1
        self.denied = False
        self.state = SessionState()
        self.after = after
        conn.set_progress_handler(self._count_steps, STEP_BLOCK)
        if read_only:
            conn.set_authorizer(self.authorize)

    def _count_steps(self) -> int:
        control = self.control
        if control is not None:
            control.steps += STEP_BLOCK
        return 0

    def authorize(self, action: int, arg1: str | None, _arg2: str | None,
                  schema: str | None, _source: str | None) -> int:
        """Deny (so the read moves to the writer) reads of objects only the writer has; on a
        read-only Database, deny opening a database file SQLite would write.

        An ATTACH opens its file with the flags the connection was opened with (read-write,
        create), whatever the main database's mode=ro, and VACUUM INTO attaches its copy the
        same way: on a read-only Database only names that write no file pass (a `file:` URI
        with mode=ro, or memory). SQLite runs VACUUM's own steps through the authorizer too,
        so VACUUM INTO is refused here, before its copy is created.
        """
        if action == sqlite3.SQLITE_READ:
            state = self.state
            if schema in state.writer_only_schemas or (
                schema == "main" and arg1 is not None and arg1.lower() in state.writer_only_tables
            ):
                self.denied = True
                return sqlite3.SQLITE_DENY
        elif (action == sqlite3.SQLITE_ATTACH and self.read_only and not self.replaying
              and not writes_no_file(arg1)):
            self.refused = "" if arg1 is None else arg1
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    @property
    def authorizer(self) -> Callable[..., int] | None:
        """The authorizer this link's connection carries between write functions."""
        return self.authorize if self.read_only or self.state.has_writer_only else None

    # -- any thread ----------------------------------------------------------------------------
    def interrupt(self) -> None:
        with contextlib.suppress(sqlite3.ProgrammingError):  # closed: nothing to stop
            self.conn.interrupt()

    # -- the worker's thread ---------------------------------------------------------------------
    def column_limit(self) -> int | None:
        getlimit = getattr(self.conn, "getlimit", None)  # Python 3.11 and later
        if getlimit is not None:
            return getlimit(sqlite3.SQLITE_LIMIT_COLUMN)
        for (option,) in self.conn.execute("PRAGMA compile_options"):
            if option.startswith("MAX_COLUMN="):
                return int(option.partition("=")[2])
        return 2000  # SQLITE_MAX_COLUMN when the build does not change it

    def translate(self, error: BaseException, task: Task) -> BaseException:
        control = task.control
        if control.reason is not None and is_interrupt(error):
            return Stopped()
        if self.refused is not None and is_denied(error):
            refused, self.refused = self.refused, None
            statement = task.statement
            return annotate(_refused(refused, statement.keyword if statement else None),
                            task.sql)
        if isinstance(error, sqlite3.Error):
            annotate(error, task.sql)
            if is_busy(error):
                note(error, "another connection to this database holds its lock (another "
                            "process, or a transaction left open there) for longer than "
                            "sqlnb's busy_timeout: wait longer with sqlnb.connect(path, "
                            "busy_timeout=SECONDS), default 5")
            if is_readonly(error):
                if task.reads:
                    note(error, "execute_fn gives fn a read-only connection: write with "
                                "execute_write_fn")
                elif control.is_write:
                    note(error, "the database is read-only (read_only=True, or a read-only "
                                "file): open it writable to change it")
            error.__traceback__ = None  # the frames are sqlnb's internals, not the user's
        return error

    def run(self, statement: Statement, params: Any, control: Control, frame: bool) -> Any:
        """Run one statement to its end and fetch all its rows, counting them as they come.

        Returns a `Result`; with frame=True a DataFrame, its columns built batch by batch as
        the rows arrive, so a large result never holds all its row tuples at once (or, for a
        result of at most CALLER_FRAME_ROWS rows, a SmallFrame that `Task.result()` builds).
        """
        conn = self.conn
        changes = conn.total_changes
        cursor = self.cursor
        if cursor is None:
            cursor = conn.cursor()
        self.cursor = None  # taken (a statement run inside this one, by a function, makes its own)
        builder: FrameBuilder | None = None
        text = statement.text
        if statement.keyword == "EXPLAIN":  # a plan must see the latest schema
            from .sqlite_explore import fresh_plan

            text = fresh_plan(conn, text)
        try:
            if self.busy_wait is None or conn.in_transaction:
                cursor.execute(text, () if params is None else params)
            else:  # on the writer in autocommit: a locked database is waited for, slice by slice
                deadline = time.monotonic() + self.busy_wait
                while True:
                    try:
                        cursor.execute(text, () if params is None else params)
                        break
                    except sqlite3.OperationalError as error:
                        if (not is_busy(error) or conn.in_transaction
                                or control.reason is not None or time.monotonic() >= deadline):
                            raise
            description = cursor.description
            if description is None:
                rowcount = cursor.rowcount
                if rowcount == -1 and control.is_write and statement.keyword in CHANGES_ROWS:
                    # sqlite3 counts a statement that starts with INSERT/UPDATE/...; a WITH ...
                    # INSERT counts here. A CREATE or a DROP changes no rows: -1, not 0
                    rowcount = conn.total_changes - changes
                result = Result([], [], rowcount, cursor.lastrowid, statement.text)
            elif frame:
                columns = [d[0] for d in description]
                batch = cursor.fetchmany(FRAME_ROWS)
                control.rows = len(batch)
                if len(batch) <= CALLER_FRAME_ROWS:  # all of it, and small: see SmallFrame
                    small = SmallFrame(columns, batch)
                else:
                    control.preview = (columns, batch[:PREVIEW_ROWS])
                    builder = FrameBuilder(columns)
                    while True:
                        builder.add(batch)
                        control.rows = builder.rows
                        if len(batch) < FRAME_ROWS:
                            break
                        batch = cursor.fetchmany(FRAME_ROWS)
                del batch
            else:
                rows: list[tuple] = []
                while True:
                    batch = cursor.fetchmany(FETCH_ROWS)
                    rows += batch
                    control.rows = len(rows)
                    if len(batch) < FETCH_ROWS:
                        break
                result = Result([d[0] for d in description], rows, cursor.rowcount,
                                cursor.lastrowid, statement.text)
        except BaseException:
            cursor.close()  # it may hold a statement not run to its end
            raise
        self.cursor = cursor  # run to its end (SQLite has reset it): the next statement reuses it
        if self.after is not None and statement.changes_session:
            self.after(self, statement)
        if frame:
            if description is None:
                return result.to_dataframe()
            return small if builder is None else builder.frame()
        result.elapsed = time.monotonic() - control.started  # type: ignore[operator]
        return result

    def chunks(self, statement: Statement, params: Any, control: Control,
               chunk_rows: int) -> Iterator[Any]:
        cursor = self.conn.cursor()
        try:
            cursor.execute(statement.text, () if params is None else params)
            if cursor.description is None:
                return
            columns = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(chunk_rows):
                control.rows += len(rows)
                yield rows_to_dataframe(rows, columns)
        finally:
            cursor.close()

    def many(self, statement: Statement, params_seq: Iterable[Any], control: Control) -> Result:
        import itertools

        rows = iter(params_seq)  # a list starts again if its group has to run again
        total = 0
        cursor = self.conn.cursor()
        try:
            while chunk := list(itertools.islice(rows, 10_000)):
                if control.rows == 0:
                    check_params(statement, chunk[0])
                cursor.executemany(statement.text, chunk)
                total += max(cursor.rowcount, 0)
                control.rows += len(chunk)
        finally:
            cursor.close()
        return Result([], [], rowcount=total, sql=statement.text)

    def call(self, fn: Callable[[Any], Any], name: str, *, guarded: bool = False,
             read_only: bool = False) -> Any:
        # read_only: a reader's connection is query_only already (and the writer's is, while
        # a read runs there: see reading())
        if not guarded:
            return fn(self.conn)
        return call_in_transaction(fn, self.conn, name, self.authorizer)

    def tables(self) -> Any:
        from .sqlite_explore import tables

        return tables(self.conn)

    def catalog(self, control: Control) -> Catalog:
        from .sqlite_explore import catalog

        return catalog(self.conn)

    def explain(self, statement: Statement, params: Any, control: Control) -> str:
        from .sqlite_explore import explain

        return explain(self.conn, statement.text, params)

    def schema(self, table: str) -> Any:
        from .sqlite_explore import schema

        return schema(self.conn, table)

    # -- the writer's transaction steps ------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def begin(self, controls: list[Control]) -> None:
        retry_busy(self, self.conn.begin, controls)  # type: ignore[attr-defined]

    def commit(self, controls: list[Control]) -> None:
        retry_busy(self, "COMMIT", controls)

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def savepoint(self) -> None:
        self.conn.execute("SAVEPOINT sqlnb_task")

    def release(self) -> None:
        self.conn.execute("RELEASE sqlnb_task")

    def rollback_to(self) -> None:
        self.conn.execute("ROLLBACK TO sqlnb_task")
        self.conn.execute("RELEASE sqlnb_task")

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        self.conn.execute("PRAGMA query_only = 1")
        try:
            yield
        finally:
            self.conn.execute("PRAGMA query_only = 0")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()


def retry_busy(link: SQLiteLink, sql: str, controls: list[Control]) -> None:
    """Run `sql` on the writer, waiting for another connection's lock up to the busy timeout.

    SQLite's own busy handler cannot be interrupted, so the writer's connection waits one
    BUSY_SLICE at a time and sqlnb checks between slices whether the query must stop.
    """
    deadline = time.monotonic() + (link.busy_wait or 0.0)
    while True:
        try:
            link.conn.execute(sql)
            return
        except sqlite3.OperationalError as error:
            if not is_busy(error) or time.monotonic() >= deadline:
                raise
            if controls and all(c.reason is not None for c in controls):
                raise Stopped() from None


def call_in_transaction(fn: Callable[[Any], Any], conn: sqlite3.Connection, name: str,
                        authorizer: Callable[..., int] | None = None) -> Any:
    """Call a write function inside the transaction sqlnb opened for it.

    sqlnb commits when `fn` returns and rolls back when it raises, so `fn` must not end that
    transaction itself: SQLite is told to refuse COMMIT, ROLLBACK and BEGIN while `fn` runs
    (savepoints stay allowed), and an attempt becomes a clear error before anything commits.
    `authorizer` is the one the connection carries otherwise: it still decides the rest, and
    is put back afterwards.
    """
    tried: list[str] = []

    def refuse_transaction_control(action: int, operation: str | None, *args: Any) -> int:
        if action == sqlite3.SQLITE_TRANSACTION:
            tried.append(operation or "COMMIT")
            return sqlite3.SQLITE_DENY
        if authorizer is not None:
            return authorizer(action, operation, *args)
        return sqlite3.SQLITE_OK

    conn.set_authorizer(refuse_transaction_control)
    try:
        value = fn(conn)
    except BaseException as error:
        if tried:
            raise ended_transaction(name, tried[0], "`with conn:`") from error
        raise
    finally:
        conn.set_authorizer(authorizer)
    if tried:
        raise ended_transaction(name, tried[0], "`with conn:`")
    return value



# -- the backend ----------------------------------------------------------------------------

class SQLiteBackend(Backend):
    """SQLite's side of one Database: URIs, connections, the session every link shares."""

    name = "sqlite"
    title = "SQLite"
    sqlglot_dialect = "sqlite"
    temp_schema = "temp"
    volatile_functions = frozenset({"unixepoch", "randomblob", "changes", "total_changes",
                                    "last_insert_rowid"})
    schemes = ("sqlite", "file")  # sqlite:///path, sqlite:// (memory); file: URIs as they are
    example = "sqlite:///path/to/file.db, sqlite:// for memory, a file: URI or a path"
    options = (
        Option("busy_timeout", None, "seconds to wait for another process's lock (None: "
               "sqlnb.options.busy_timeout, 5)", float, lambda s: check_seconds(s, "busy_timeout")),
        Option("wal", True, "put a writable file in WAL mode with synchronous=NORMAL (reads go "
               "on while a write commits); False leaves its journal mode alone", bool),
    )
    error_types = (sqlite3.Error,)
    #: sqlnb's errors on SQLite are sqlite3's too: code written against the sqlite3 module
    #: (`except sqlite3.OperationalError`) keeps catching a QueryTimeout or a lost transaction
    error_bases = MappingProxyType({
        QueryInterrupted: (sqlite3.OperationalError,),
        TransactionRolledBack: (sqlite3.OperationalError,),
        DatabaseClosed: (sqlite3.ProgrammingError,),
    })

    def mean_sql(self, column: str, declared: str) -> str | None:
        # a SQLite column holds any type whatever it declares (and often declares none), and
        # avg() reads text as 0: the mean is of the values that are numbers
        return f"avg(CASE WHEN typeof({column}) IN ('integer', 'real') THEN {column} END)"

    @classmethod
    def parse_target(cls, target: Any) -> Any:
        if isinstance(target, Secret):  # SQLite takes no secret: the text is the path
            target = target.reveal()
        if isinstance(target, str) and "://" in target and not target.startswith("file:"):
            path = target.split("://", 1)[1]  # sqlite:///relative.db, sqlite:////abs.db
            return (path[1:] if path.startswith("/") else path) or None  # sqlite://: memory
        return target  # a path, a file: URI, None or ":memory:"

    def __init__(self, path: str | os.PathLike[str] | None, *, read_only: bool,
                 busy_timeout: float | None = None, wal: bool = True) -> None:
        target = resolve_target(path, read_only)
        if busy_timeout is None:  # the process-wide default, read as the Database opens
            busy_timeout = check_seconds(options.busy_timeout, "sqlnb.options.busy_timeout")
        self.busy_timeout = busy_timeout or 0.0
        self.session = SessionState()
        self._session_lock = threading.Lock()
        #: the connection that asks PRAGMA data_version for the result cache (opened at need)
        self._version_conn: sqlite3.Connection | None = None
        self._version_lock = threading.Lock()
        try:
            conn = self._check(target, wal)
        except sqlite3.OperationalError as error:
            folder = _read_only_folder(target)
            if folder is None:
                raise
            if not target.read_only:
                note(error, f"the folder {folder!r} is read-only, and SQLite writes its journal "
                            "files beside the database: copy the file to a writable folder, or "
                            "connect with read_only=True")
                raise
            # a WAL file in a read-only folder: SQLite cannot make its -shm file, so open the
            # file as immutable (no locks; it must not change while this Database reads it)
            target = replace(target, write_uri=target.write_uri + "&immutable=1",
                             read_uri=target.read_uri + "&immutable=1")
            conn = self._check(target, wal)
        self.target = target
        self.label = target.label
        self.read_only = target.read_only
        self._first_writer: sqlite3.Connection | None = conn

    def _check(self, target: Target, wal: bool) -> sqlite3.Connection:
        """Open the write connection once: is it a database? WAL and synchronous=NORMAL."""
        conn = open_connection(target.write_uri, BUSY_SLICE, WriteConnection)
        try:
            conn.execute("PRAGMA schema_version").fetchall()
            if wal and not target.memory and not target.read_only:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode == "wal":  # durable across crashes; a power cut may lose the last commits
                    conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        if target.read_only:
            conn.begin = "BEGIN"  # type: ignore[attr-defined]
        return conn

    # -- links ---------------------------------------------------------------------------------
    def open_reader(self) -> SQLiteLink:
        conn = open_connection(self.target.read_uri, self.busy_timeout)
        conn.execute("PRAGMA query_only = 1")
        return SQLiteLink(conn, read_only=self.read_only)

    def open_writer(self) -> SQLiteLink:
        conn, self._first_writer = self._first_writer, None
        if conn is None:
            conn = self._write_connection()
        return SQLiteLink(conn, after=self._after_write, busy_wait=self.busy_timeout,
                          read_only=self.read_only)

    def open_isolated(self) -> SQLiteLink:
        return SQLiteLink(self._write_connection(), busy_wait=self.busy_timeout,
                          read_only=self.read_only)

    def _write_connection(self) -> sqlite3.Connection:
        conn = open_connection(self.target.write_uri, BUSY_SLICE, WriteConnection)
        if self.target.read_only:
            conn.begin = "BEGIN"  # type: ignore[attr-defined]
        return conn

    knows_changes = True

    def data_version(self) -> Any:
        # PRAGMA data_version changes when any other connection (sqlnb's writer, another
        # process) commits; it is a connection's own count, so one connection asks, always
        with self._version_lock:
            if self._version_conn is None:
                self._version_conn = open_connection(self.target.read_uri, self.busy_timeout)
            return self._version_conn.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        if self._first_writer is not None:  # no writer link was ever made of it
            self._first_writer.close()
            self._first_writer = None
        with self._version_lock:
            if self._version_conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._version_conn.close()
                self._version_conn = None

    # -- SQL -----------------------------------------------------------------------------------
    def statements(self, sql: str) -> tuple[Statement, ...]:
        statements = split(sql)  # sqlite3_complete() says where each one ends
        for statement in statements:
            if statement.sets_pragma:
                check_possible(statement)
        return statements

    def adapt_parameter(self, value: Any, name: str) -> Any:
        # sqlite3 binds numbers, text, bytes and None; a date or a time as its ISO text (as
        # SQLite's date functions read it), where sqlite3's own adapter is deprecated
        if value is None or isinstance(value, (int, float, str, bytes)):
            return value
        if isinstance(value, (datetime.date, datetime.time)):
            return value.isoformat()
        item = getattr(value, "item", None)
        if callable(item) and getattr(value, "ndim", None) == 0:  # numpy scalars
            return self.adapt_parameter(item(), name)
        raise UsageError(f":{name} is a {type(value).__name__}; SQLite binds numbers, text, "
                         "bytes or None: convert it first (one value per parameter)")

    def insert_work(self, df: Any, table: str, *, if_exists: str
                    ) -> Callable[[Link, Control], int]:
        from .sqlite_insert import insert_work

        work = insert_work(df, table, if_exists=if_exists)
        return lambda link, control: work(link.conn, control)  # type: ignore[attr-defined]

    def show_frames(self, link: Link, frames: Mapping[str, Any], control: Control
                    ) -> Callable[[], None]:
        # a TEMP table each, on the writer's connection, in the statement's transaction
        from .sqlite_insert import insert_work, quote

        conn = link.conn  # type: ignore[attr-defined]
        made: list[str] = []

        def undo() -> None:
            for name in made:
                conn.execute(f"DROP TABLE IF EXISTS temp.{quote(name)}")

        rows = control.rows
        try:
            for name, df in frames.items():
                insert_work(df, name, if_exists="fail", temp=True)(conn, control)
                made.append(name)
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                undo()
            raise
        control.rows = rows  # (the rows shown are the statement's)
        return undo

    # -- routing and the session ---------------------------------------------------------------
    @property
    def reads_need_writer(self) -> bool:
        return self.session.has_writer_only

    def prepare_reader(self, link: Link) -> None:
        if link.version != self.session.version:  # type: ignore[attr-defined]
            try:
                self._sync_session(link)  # type: ignore[arg-type]
            except sqlite3.Error as error:
                log.warning("sqlnb: could not apply the session's settings to a reader: %s",
                            error)
        link.denied = False  # type: ignore[attr-defined]  # the authorizer sets it on a denial

    def reroute(self, link: Link, task: Task, error: BaseException) -> bool:
        if not isinstance(error, sqlite3.Error):
            return False
        statement = task.statement
        if is_readonly(error):  # SQLite says it writes
            if statement is None:  # a function given a read-only connection (execute_fn)
                return False
            task.control.is_write = True
            task.groupable = task.transaction = not statement.runs_alone
            return True
        denied = link.denied  # type: ignore[attr-defined]
        link.denied = False  # type: ignore[attr-defined]
        if denied or (self.session.has_writer_only and str(error).startswith(
                ("no such table", "no such view", "no such column"))):
            # it reads objects only the writer's connection has
            task.groupable = task.transaction = False
            return True
        return False

    def _sync_session(self, link: SQLiteLink) -> None:
        state = self.session
        if link.version == state.version:
            return
        conn = link.conn
        for statement in state.pragmas.values():
            conn.execute(statement).fetchall()
        have = {name: file for _seq, name, file in conn.execute("PRAGMA database_list")
                if name not in ("main", "temp")}
        want = dict(state.attached)
        for name in have:
            if name not in want:
                conn.execute("DETACH DATABASE ?", (name,))
        link.replaying = True  # files the writer attached (on a read-only Database, read-only)
        try:
            for name, file in want.items():
                if name not in have:
                    conn.execute("ATTACH DATABASE ? AS ?", (file, name))
        finally:
            link.replaying = False
        if state.has_writer_only != link.state.has_writer_only or state.has_writer_only:
            # setting an authorizer also expires the connection's prepared statements
            conn.set_authorizer(link.authorize if state.has_writer_only or link.read_only
                                else None)
        link.state = state
        link.version = state.version

    def _after_write(self, link: SQLiteLink, statement: Statement) -> None:
        """After a statement on the writer: note connection-level state the readers must share."""
        keyword = statement.keyword
        if statement.sets_pragma:
            name = statement.pragma[0]  # type: ignore[index]
            if name.rsplit(".", 1)[-1] == "busy_timeout":  # the writer waits in slices of it
                milliseconds = link.conn.execute("PRAGMA busy_timeout").fetchone()[0]
                link.busy_wait = self.busy_timeout = milliseconds / 1000
                link.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_SLICE * 1000)}")
            if name.rsplit(".", 1)[-1] in CONNECTION_PRAGMAS:
                pragmas = dict(self.session.pragmas)
                pragmas.pop(name, None)
                pragmas[name] = statement.text
                self._update_session(pragmas=pragmas)
        elif keyword in ("ATTACH", "DETACH"):
            attached, private = [], set()
            for _seq, name, file in link.conn.execute("PRAGMA database_list"):
                if name in ("main", "temp"):
                    continue
                if file:
                    attached.append((name, file))
                else:
                    private.add(name.lower())
            self._update_session(attached=tuple(attached), private=private)
        elif keyword in ("CREATE", "DROP", "ALTER"):
            rows = link.conn.execute(
                "SELECT name FROM temp.sqlite_master WHERE type IN ('table', 'view')")
            names = frozenset(name.lower() for (name,) in rows)
            if names != self.session.writer_only_tables:
                self._update_session(tables=names)

    def _update_session(self, *, pragmas: dict[str, str] | None = None,
                        attached: tuple[tuple[str, str], ...] | None = None,
                        private: set[str] | None = None,
                        tables: frozenset[str] | None = None) -> None:
        with self._session_lock:
            state = self.session
            schemas = set(state.writer_only_schemas)
            if private is not None:
                schemas = {s for s in schemas if s == "temp"} | private
            if tables is not None:
                schemas.discard("temp")
                if tables:
                    schemas.add("temp")
            self.session = replace(
                state,
                version=state.version + 1,
                pragmas=state.pragmas if pragmas is None else pragmas,
                attached=state.attached if attached is None else attached,
                writer_only_schemas=frozenset(schemas),
                writer_only_tables=state.writer_only_tables if tables is None else tables,
            )
