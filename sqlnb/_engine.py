"""The machinery under `Database`: connections, the read pool, the writer thread, running SQL.

Threads (all daemons, all joined by `Engine.close()`):

- `sqlnb-read-N`: up to N readers, started as reads arrive, each owning one connection opened
  read-only (`mode=ro` for files) with `PRAGMA query_only`, so SQLite itself refuses a write.
- `sqlnb-writer`: owns the only write connection; runs queued writes in order, several per
  transaction (group commit) with no savepoint per write: when one fails, the transaction is
  rolled back and the others run again, each in a savepoint (see WriteRunner._run_group).
- `sqlnb-timer`: interrupts queries at their deadline (see _control.py).

A statement whose first keyword settles it (INSERT, CREATE, BEGIN, PRAGMA x = y ...) goes
straight to the writer. Any other statement is tried on a reader; if SQLite refuses it there as a
write (`SQLITE_READONLY`), it moves to the writer. Reads that need the writer's own objects (TEMP
tables, a private in-memory ATTACH) are moved there too: see `SessionState`.

With `threads=0` the same readers and writer exist as connections used in the calling thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import _sqltext
from ._control import CLOSED, TIMEOUT, Control, Timer
from ._reply import Reply
from .errors import (
    DatabaseClosed,
    Error,
    QueryCancelled,
    QueryTimeout,
    TransactionRolledBack,
    UsageError,
    annotate,
)
from .results import FrameBuilder, Result, rows_to_dataframe

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
#: At most this many queued writes share one transaction.
MAX_GROUP = 1000

#: Connection-level PRAGMAs: when the user sets one, every connection of the Database gets it.
CONNECTION_PRAGMAS = frozenset({
    "analysis_limit", "automatic_index", "busy_timeout", "cache_size", "cache_spill",
    "case_sensitive_like", "cell_size_check", "foreign_keys", "full_column_names",
    "ignore_check_constraints", "legacy_alter_table", "mmap_size", "recursive_triggers",
    "reverse_unordered_selects", "short_column_names", "temp_store", "threads", "trusted_schema",
})

_STOP = object()


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
        parsed = urllib.parse.urlsplit(text)
        query = urllib.parse.parse_qs(parsed.query)
        memory = query.get("mode") == ["memory"] or query.get("vfs") == ["memdb"]
        ro = f"{text}{'&' if parsed.query else '?'}mode=ro" if "mode" not in query else text
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


class Link:
    """One SQLite connection and the query it runs now (read by the VM-step counter)."""

    __slots__ = ("__weakref__", "after", "busy_wait", "conn", "control", "cursor", "denied",
                 "state", "version")

    def __init__(self, conn: sqlite3.Connection,
                 after: Callable[[Link, _sqltext.Statement], None] | None = None,
                 busy_wait: float | None = None) -> None:
        self.conn = conn
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

    def _count_steps(self) -> int:
        control = self.control
        if control is not None:
            control.steps += STEP_BLOCK
        return 0

    def authorize(self, action: int, arg1: str | None, _arg2: str | None,
                  schema: str | None, _source: str | None) -> int:
        """Deny (so the read moves to the writer) reads of objects only the writer has."""
        if action == sqlite3.SQLITE_READ:
            state = self.state
            if schema in state.writer_only_schemas or (
                schema == "main" and arg1 is not None and arg1.lower() in state.writer_only_tables
            ):
                self.denied = True
                return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()


def retry_busy(link: Link, sql: str, controls: list[Control]) -> None:
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
            if not _is_busy(error) or time.monotonic() >= deadline:
                raise
            if controls and all(c.reason is not None for c in controls):
                raise Stopped() from None


def open_connection(uri: str, busy_timeout: float,
                    factory: type[sqlite3.Connection] = sqlite3.Connection) -> sqlite3.Connection:
    """A connection in autocommit mode (sqlnb issues BEGIN itself), usable from any thread."""
    return sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None,
                           check_same_thread=False, cached_statements=256, factory=factory)


class WriteConnection(sqlite3.Connection):
    """The writer's connection (and an isolated one), as a write function sees it.

    sqlnb keeps its connections in autocommit mode and issues BEGIN itself, where a plain
    connection's `with conn:` would neither commit nor roll back anything. Here `with conn:` is
    a transaction, as on a default sqlite3 connection: BEGIN ... COMMIT, or ROLLBACK when the
    block raises. Inside a transaction already open (sqlnb's, or the user's own BEGIN) it is a
    SAVEPOINT: the block is undone alone and the outer transaction stays whole and uncommitted.
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
        for statement in _sqltext.split(sql_script):
            cursor.execute(statement.text)
        return cursor


def call_in_transaction(fn: Callable[[Any], Any], conn: sqlite3.Connection, name: str) -> Any:
    """Call a write function inside the transaction sqlnb opened for it.

    sqlnb commits when `fn` returns and rolls back when it raises, so `fn` must not end that
    transaction itself: SQLite is told to refuse COMMIT, ROLLBACK and BEGIN while `fn` runs
    (savepoints stay allowed), and an attempt becomes a clear error before anything commits.
    """
    tried: list[str] = []

    def refuse_transaction_control(action: int, operation: str | None, *_args: Any) -> int:
        if action == sqlite3.SQLITE_TRANSACTION:
            tried.append(operation or "COMMIT")
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    conn.set_authorizer(refuse_transaction_control)
    try:
        value = fn(conn)
    except BaseException as error:
        if tried:
            raise _ended_transaction(name, tried[0]) from error
        raise
    finally:
        conn.set_authorizer(None)
    if tried:
        raise _ended_transaction(name, tried[0])
    return value


def _ended_transaction(name: str, operation: str) -> UsageError:
    return UsageError(
        f"{name} tried to {operation} the transaction execute_write_fn runs it in; nothing was "
        "committed and the transaction was rolled back. Let fn return to commit (or raise to "
        "roll back), use `with conn:` for a block that is undone alone, or pass "
        "transaction=False to manage transactions yourself")


# -- tasks ----------------------------------------------------------------------------------

class Task(Reply):
    """One unit of work for a reader or the writer, with its control; it is its own reply.

    The work is `work(link, control)`, or, when `work` is None, the one `statement` with its
    `params` (a DataFrame when `frame` is set): the common case, run with no wrapper call.
    """

    __slots__ = (
        "control",
        "frame",
        "groupable",
        "isolated",
        "params",
        "reads",
        "reroutable",
        "sql",
        "statement",
        "transaction",
        "work",
    )

    def __init__(self, work: Callable[[Link, Control], Any] | None, control: Control, sql: str,
                 statement: _sqltext.Statement | None = None, params: Any = None,
                 frame: bool = False, groupable: bool = True, transaction: bool = True,
                 isolated: bool = False, reroutable: bool = False, reads: bool = False) -> None:
        Reply.__init__(self)
        self.work = work
        self.control = control
        self.sql = sql
        self.statement = statement
        self.params = params
        self.frame = frame
        self.groupable = groupable and transaction and not isolated
        self.transaction = transaction
        self.isolated = isolated
        self.reroutable = reroutable
        #: the work only reads: on the writer it runs under PRAGMA query_only, and it runs even
        #: while a rolled-back transaction of the user's waits to be ended
        self.reads = reads

    def result(self, timeout: float | None = None) -> Any:
        """The value (a DataFrame for a SmallFrame, built here once), or raise the error."""
        value = Reply.result(self, timeout)
        if type(value) is SmallFrame:
            value = self._swap_value(value, value.frame())  # one frame, however many ask
        return value

    def run(self, link: Link, control: Control) -> Any:
        """Do the work on `link` (on the worker thread)."""
        if self.work is None:
            return run_statement(link, self.statement, self.params, control,  # type: ignore[arg-type]
                                 frame=self.frame)
        return self.work(link, control)


class SmallFrame:
    """A small, complete result for a DataFrame, which the caller's thread builds.

    Building a frame of a few rows costs less than the thread hop around it, and on this kind
    of machine it runs faster in the thread that was just woken to take it than in the worker
    that woke it. A larger result is built batch by batch on the worker, where the time limit
    and cancel reach the build and its row tuples never all exist at once.
    """

    __slots__ = ("columns", "rows")

    def __init__(self, columns: list[str], rows: list[tuple]) -> None:
        self.columns = columns
        self.rows = rows

    def frame(self) -> Any:
        return rows_to_dataframe(self.rows, self.columns)


def run_statement(link: Link, statement: _sqltext.Statement, params: Any,
                  control: Control, *, frame: bool = False) -> Any:
    """Run one statement to its end and fetch all its rows, counting them as they come.

    Returns a `Result`; with frame=True a DataFrame, its columns built batch by batch as the
    rows arrive, so a large result never holds all its row tuples at once (or, for a result of
    at most CALLER_FRAME_ROWS rows, a SmallFrame that `Task.result()` turns into one).
    """
    conn = link.conn
    changes = conn.total_changes
    cursor = link.cursor
    if cursor is None:
        cursor = conn.cursor()
    link.cursor = None  # taken (a statement run inside this one, by a function, makes its own)
    builder: FrameBuilder | None = None
    try:
        if link.busy_wait is None or conn.in_transaction:
            cursor.execute(statement.text, () if params is None else params)
        else:  # on the writer in autocommit: a locked database is waited for, slice by slice
            deadline = time.monotonic() + link.busy_wait
            while True:
                try:
                    cursor.execute(statement.text, () if params is None else params)
                    break
                except sqlite3.OperationalError as error:
                    if (not _is_busy(error) or conn.in_transaction or control.reason is not None
                            or time.monotonic() >= deadline):
                        raise
        description = cursor.description
        if description is None:
            rowcount = cursor.rowcount
            if rowcount == -1 and control.is_write:  # sqlite3 counts only INSERT/UPDATE/...
                rowcount = conn.total_changes - changes  # first; WITH ... INSERT counts here
            result = Result([], [], rowcount, cursor.lastrowid, statement.text)
        elif frame:
            columns = [d[0] for d in description]
            batch = cursor.fetchmany(FRAME_ROWS)
            control.rows = len(batch)
            if len(batch) <= CALLER_FRAME_ROWS:  # all of it, and small: see SmallFrame
                small = SmallFrame(columns, batch)
            else:
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
    link.cursor = cursor  # run to its end (SQLite has reset it): the next statement reuses it
    if link.after is not None and statement.changes_session:
        link.after(link, statement)
    if frame:
        if description is None:
            return result.to_dataframe()
        return small if builder is None else builder.frame()
    result.elapsed = time.monotonic() - control.started  # type: ignore[operator]
    return result


@contextlib.contextmanager
def keyboard_cancels(control: Control) -> Iterator[None]:
    """threads=0 runs SQLite in the caller's thread: there, Ctrl-C cancels the query.

    Python runs a signal handler only between bytecodes, and SQLite's VM-step counter gives it
    that chance while a statement runs; the KeyboardInterrupt is raised once SQLite has stopped.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def on_sigint(_signum: int, _frame: object) -> None:
        control.keyboard = True
        # The handler may run while this very thread holds the controls' lock (between two
        # bytecodes of Control.begin, say): cancel from another thread, which waits for it.
        threading.Thread(target=control.cancel, name="sqlnb-cancel", daemon=True).start()

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# -- outcomes -------------------------------------------------------------------------------

def _is_interrupt(error: BaseException) -> bool:
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_INTERRUPT if code is not None else str(error) == "interrupted"


def _is_busy(error: BaseException) -> bool:
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "database is locked" in str(error)


def _is_readonly(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_READONLY
    return "readonly database" in str(error)


def stopped_error(task: Task) -> BaseException:
    """The error for a query its control stopped (cancel, time limit, close)."""
    control = task.control
    kwargs = {"sql": task.sql, "elapsed": control.elapsed, "is_write": control.is_write}
    undone = "; the write was rolled back" if control.is_write else ""
    if control.reason == TIMEOUT:
        return QueryTimeout(
            f"query stopped at the {control.time_limit:g} s time limit{undone}: raise it with "
            "time_limit=SECONDS (this call), connect(time_limit=) or sqlnb.options.time_limit "
            "(math.inf for none)", time_limit=control.time_limit, **kwargs)
    if control.reason == CLOSED:
        error = DatabaseClosed(f"the database was closed while this query ran{undone}")
        error.sql = task.sql
        return error
    return QueryCancelled(f"query cancelled after {control.elapsed:.2f} s{undone}", **kwargs)


def settle(task: Task, value: Any = None, error: BaseException | None = None) -> None:
    """Finish a task: set its control's outcome and its reply (once), with errors made clear."""
    control = task.control
    if error is not None:
        if control.reason is not None and (_is_interrupt(error) or isinstance(error, Stopped)):
            error = stopped_error(task)
        elif isinstance(error, (sqlite3.Error, Error)):
            annotate(error, task.sql)
            if _is_busy(error):
                _note(error, "another connection to this database holds its lock (another "
                             "process, or a transaction left open there) for longer than "
                             "sqlnb's busy_timeout: wait longer with sqlnb.connect(path, "
                             "busy_timeout=SECONDS), default 5")
            if isinstance(error, sqlite3.Error) and _is_readonly(error):
                if task.reads:
                    _note(error, "execute_fn gives fn a read-only connection: write with "
                                 "execute_write_fn")
                elif control.is_write:
                    _note(error, "the database is read-only (read_only=True, or a read-only "
                                 "file): open it writable to change it")
        if isinstance(error, (sqlite3.Error, Error)):
            error.__traceback__ = None  # the frames are sqlnb's internals, not the user's
        if isinstance(error, QueryTimeout):
            control.finish("timed out")
        elif isinstance(error, QueryCancelled):
            control.finish("cancelled")
        else:
            control.finish("failed")
        task.set_exception(error)
    else:
        control.finish("done")
        task.set_result(value)


def settle_done(done: list[tuple[Task, Any]]) -> None:
    """Settle tasks that succeeded together (a committed group): one clock read, one unwatch."""
    if not done:
        return
    Control.finish_all([task.control for task, _value in done], time.monotonic())
    Reply.set_results(done)  # type: ignore[arg-type]


def _note(error: BaseException, text: str) -> None:
    """Add a note once (one error can settle a whole group of writes)."""
    if hasattr(error, "add_note") and text not in getattr(error, "__notes__", ()):
        error.add_note(text)


class Stopped(Exception):
    """Raised inside sqlnb where a query's control says stop; settle() turns it into the error."""


def settle_if_stopped(task: Task) -> None:
    """For a task that will not run because it was stopped: make sure its caller hears of it."""
    if not task.done() and task.control.reason is not None:
        settle(task, error=Stopped())


# -- the writer -----------------------------------------------------------------------------

class WriteRunner:
    """Runs write tasks on the write connection: alone, or several in one transaction.

    A transaction the user opened (BEGIN) is the user's: sqlnb never commits or rolls it back.
    When SQLite rolls it back whole (a trigger's RAISE(ROLLBACK), an interrupted write), every
    write made in it fails with TransactionRolledBack, and so does every later write until the
    user ends it: ROLLBACK ends it quietly, COMMIT raises that error once more.
    """

    def __init__(self, link: Link, begin: str, open_isolated: Callable[[], Link]) -> None:
        self.link = link
        self._begin = begin
        self._open_isolated = open_isolated
        #: the error that made SQLite roll back the user's transaction, until the user ends it
        self._aborted: BaseException | None = None

    def run(self, batch: list[Task]) -> None:
        if self._aborted is not None:
            batch = self._refuse(batch)
        if len(batch) == 1:  # its own transaction: no savepoint needed
            self._run_alone(batch[0])
        elif batch:
            self._run_group(batch)

    def _refuse(self, batch: list[Task]) -> list[Task]:
        """While the user's rolled-back transaction waits to be ended: the tasks that may run."""
        cause = self._aborted
        allowed = []
        for task in batch:
            statement = task.statement
            if self._aborted is None or task.reads:
                allowed.append(task)
            elif statement is not None and statement.ends_transaction:
                self._aborted = None
                if statement.keyword == "ROLLBACK":  # what the user asked for is done already
                    result = Result([], [], -1, None, statement.text)
                    settle(task, result.to_dataframe() if task.frame else result)
                else:
                    settle(task, error=TransactionRolledBack(
                        f"nothing to commit: {_rolled_back(cause)}; nothing of it is in the "
                        "database"))
            else:
                settle(task, error=TransactionRolledBack(
                    f"this write was not run: {_rolled_back(cause)}; nothing of it is in the "
                    "database. Run ROLLBACK to end it (writes are refused until then), then "
                    "write again"))
        return allowed

    def _user_transaction_lost(self, task: Task) -> None:
        """SQLite rolled back the user's whole transaction while `task` ran (now settled)."""
        error = self._aborted = task.exception(0)
        _note(error, "SQLite rolled back the whole transaction you opened (BEGIN) with this "
                     "write: nothing of it is in the database. Run ROLLBACK to end it (writes "
                     "are refused until then)")

    def _run_alone(self, task: Task) -> None:
        try:
            link = self._open_isolated() if task.isolated else self.link
        except BaseException as error:  # the fresh connection could not be opened
            settle(task, error=error)
            return
        conn = link.conn
        control = task.control
        users = conn.in_transaction and not task.isolated  # a transaction the user opened
        try:
            if not control.begin(conn):
                settle_if_stopped(task)
                return
            link.control = control
            savepoint = task.transaction and conn.in_transaction
            try:
                if task.transaction:
                    retry_busy(link, "SAVEPOINT sqlnb_task" if savepoint else self._begin,
                               [control])
                if task.reads:
                    conn.execute("PRAGMA query_only = 1")
                    try:
                        value = task.run(link, control)
                    finally:
                        conn.execute("PRAGMA query_only = 0")
                else:
                    value = task.run(link, control)
                if task.transaction:
                    if control.reason is not None:
                        raise Stopped()
                    retry_busy(link, "RELEASE sqlnb_task" if savepoint else "COMMIT", [control])
            except BaseException as error:
                link.control = None
                control.release()
                if task.transaction and conn.in_transaction:
                    self._undo(conn, savepoint)
                settle(task, error=error)
                if users and not conn.in_transaction:
                    self._user_transaction_lost(task)
            else:
                link.control = None
                control.release()
                settle(task, value)
        finally:
            link.control = None
            if task.isolated:
                link.close()

    def _run_group(self, batch: list[Task]) -> None:
        """Run several tasks in one transaction, each acknowledged only after its COMMIT.

        In a transaction of its own the group runs without a savepoint per task (two statements
        fewer per write). When a task fails there, the whole transaction is rolled back, the
        task fails alone, and the tasks before it run again, each in a savepoint now, so a task
        is never half done and the others are not lost. Inside a transaction the user opened,
        every task gets a savepoint from the start (that transaction is not sqlnb's to undo);
        if SQLite rolls that transaction back whole, every task of the group fails.
        """
        conn = self.link.conn
        remaining = batch
        users = savepoints = conn.in_transaction
        # one timer registration for the group: each query is looked at no later than its
        # deadline can be (it starts later than now), and the timer checks the real one
        now = time.monotonic()
        batch[0].control.timer.watch_all([(task.control, now + task.control.time_limit)
                                          for task in batch
                                          if task.control.time_limit is not None])
        while remaining:
            own = not conn.in_transaction
            if own:
                try:
                    retry_busy(self.link, self._begin, [t.control for t in remaining])
                except BaseException as error:
                    for task in remaining:
                        settle(task, error=error)
                    return
            done: list[tuple[Task, Any]] = []
            restart = False
            link = self.link
            for index, task in enumerate(remaining):
                control = task.control
                if not control.begin(conn, True):
                    settle_if_stopped(task)
                    continue
                link.control = control
                try:
                    if savepoints:
                        conn.execute("SAVEPOINT sqlnb_task")
                    value = task.run(link, control)
                    if control.reason is not None:
                        raise Stopped()
                    if savepoints:
                        conn.execute("RELEASE sqlnb_task")
                except BaseException as error:
                    link.control = None
                    control.release()
                    if savepoints and conn.in_transaction:
                        self._undo(conn, savepoint=True)
                        settle(task, error=error)
                        continue
                    settle(task, error=error)
                    if users:  # SQLite rolled back the user's transaction: all of it is gone
                        self._user_transaction_lost(task)
                        cause = _rolled_back(self._aborted)
                        for earlier, _value in done:
                            settle(earlier, error=TransactionRolledBack(
                                f"{cause}, so this write, made in it, was undone with it. Run "
                                "ROLLBACK to end it (writes are refused until then)"))
                        self._refuse(remaining[index + 1:])
                        return
                    # No savepoint to go back to, or SQLite rolled sqlnb's transaction back (an
                    # interrupted or failed write can do that): this task fails, and the tasks
                    # that ran before it run again, in savepoints from now on.
                    if own and conn.in_transaction:
                        self._undo(conn, savepoint=False)
                    for earlier, _value in done:
                        earlier.control.rows = 0
                    remaining = [t for t, _v in done] + remaining[index + 1:]
                    savepoints = restart = True
                    break
                link.control = None
                control.release()
                done.append((task, value))
            if restart:
                continue
            if own:
                try:
                    retry_busy(self.link, "COMMIT", [])
                except BaseException as error:
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    for task, _value in done:
                        settle(task, error=error)
                    return
            settle_done(done)
            return

    @staticmethod
    def _undo(conn: sqlite3.Connection, savepoint: bool) -> None:
        try:
            if savepoint:
                conn.execute("ROLLBACK TO sqlnb_task")
                conn.execute("RELEASE sqlnb_task")
            else:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("sqlnb: could not roll back a failed write")


def _rolled_back(cause: BaseException | None) -> str:
    """Why the user's transaction is gone, for TransactionRolledBack's message."""
    if isinstance(cause, QueryTimeout):
        why = "a write in it reached its time limit"
    elif isinstance(cause, QueryCancelled):
        why = "a write in it was cancelled"
    else:
        first = str(cause).splitlines()[0] if str(cause) else ""
        why = f"a write in it failed ({type(cause).__name__}: {first})"
    return f"the transaction you opened (BEGIN) was rolled back whole by SQLite when {why}"


class Writer:
    """The `sqlnb-writer` thread: takes write tasks in order and runs them, grouping when it can."""

    def __init__(self, runner: WriteRunner) -> None:
        self._runner = runner
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(self, task: Task) -> None:
        with self._lock:
            if self._stopped:
                settle(task, error=DatabaseClosed("the database is closed"))
                return
            self._queue.put(task)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlnb-writer", daemon=True)
                self._thread.start()

    def runs_in(self, thread: threading.Thread) -> bool:
        """True when `thread` is the writer thread."""
        return thread is self._thread

    def _run(self) -> None:
        held: deque[Any] = deque()
        while True:
            task = held.popleft() if held else self._queue.get()
            if task is _STOP:
                return
            batch = [task]
            if task.groupable:
                take, add = self._queue.get_nowait, batch.append
                while len(batch) < MAX_GROUP:
                    try:
                        following = take()
                    except queue.Empty:
                        break
                    if following is _STOP or not following.groupable:
                        held.append(following)
                        break
                    add(following)
            try:
                self._runner.run(batch)
            except BaseException:  # never let the writer die with callers waiting
                log.exception("sqlnb: the writer failed")
                for task in batch:
                    with contextlib.suppress(BaseException):
                        settle(task, error=Error("the writer failed; see the log"))
            del task, batch  # an idle writer must not keep the last tasks (and callers) alive

    def close(self) -> None:
        """Run what is queued, then stop the thread and close the write connection."""
        with self._lock:
            self._stopped = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._runner.link.close()


# -- the readers ----------------------------------------------------------------------------

class ReadPool:
    """Up to `size` reader threads, each with its own connection, started as reads arrive."""

    def __init__(self, engine: Engine, size: int) -> None:
        self._engine = engine
        self._size = size
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = 0  # readers waiting for a task
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._taken: set[Task] = set()
        self._closed = False

    def submit(self, task: Task) -> None:
        with self._lock:
            if self._closed:
                settle(task, error=DatabaseClosed("the database is closed"))
                return
            self._queue.put(task)
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._size:
                thread = threading.Thread(target=self._run, name=f"sqlnb-read-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()

    def runs_in(self, thread: threading.Thread) -> bool:
        """True when `thread` is one of this pool's readers."""
        with self._lock:
            return thread in self._threads

    def _run(self) -> None:
        link: Link | None = None
        try:
            while True:
                task = self._queue.get()
                if task is _STOP:
                    return
                with self._lock:  # close() stops every task taken before it, none after
                    if self._closed:
                        settle(task, error=DatabaseClosed("the database was closed before "
                                                          "this query ran"))
                        continue
                    self._taken.add(task)
                try:
                    if link is None:
                        link = self._engine.open_reader()
                    outcome = self._engine.run_read(link, task)
                except BaseException as error:
                    outcome = (None, error)
                with self._lock:
                    self._taken.discard(task)
                    self._idle += 1
                if outcome is not None:
                    try:  # last, so the woken caller finds this thread asleep
                        settle(task, *outcome)
                    except BaseException:  # a reader survives whatever a callback raises
                        log.exception("sqlnb: finishing a read failed")
                del task, outcome  # an idle reader must not keep the last task (and caller) alive
        finally:
            if link is not None:
                link.close()

    def close(self) -> None:
        """Fail the queued reads, stop the running ones, and join every reader."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            running = [task.control for task in self._taken]
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                break
            if task is not _STOP:
                settle(task, error=DatabaseClosed("the database was closed before this query ran"))
        for control in running:
            control.cancel(CLOSED)
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()


# -- the engine -----------------------------------------------------------------------------

class Engine:
    """Everything a Database runs on; threads hold this, never the Database itself."""

    def __init__(self, target: Target, *, threads: int, busy_timeout: float, wal: bool) -> None:
        self.target = target
        self.busy_timeout = busy_timeout
        self.timer = Timer()
        self.session = SessionState()
        self._session_lock = threading.Lock()
        self._closed = False
        self._closed_done = False
        self._lock = threading.Lock()
        self._close_lock = threading.Lock()
        conn = self._open_write_connection()
        try:
            conn.execute("PRAGMA schema_version").fetchall()
            if wal and not target.memory and not target.read_only:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode == "wal":  # durable across crashes; a power cut may lose the last commits
                    conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        self.writer_link = Link(conn, after=self._after_write, busy_wait=busy_timeout)
        begin = "BEGIN" if target.read_only else "BEGIN IMMEDIATE"
        runner = WriteRunner(self.writer_link, begin, self._open_isolated)
        self.threaded = threads > 0
        if self.threaded:
            self.pool: ReadPool | None = ReadPool(self, threads)
            self.writer: Writer | None = Writer(runner)
        else:
            self.pool = self.writer = None
            self._inline_lock = threading.RLock()
            self._inline_depth = 0  # how deep the thread in inline work is in it
            self._inline_thread: int | None = None  # which thread that is
            self._inline_reader: Link | None = None
            self._inline_runner = runner

    @property
    def closed(self) -> bool:
        return self._closed

    # -- submitting --------------------------------------------------------------------------
    def check_open(self) -> None:
        if self._closed:
            raise DatabaseClosed("the database is closed: open it again with sqlnb.connect()")

    def in_worker(self) -> bool:
        """True when called from this engine's own work: one of its threads, or (threads=0)
        a function it is running in the caller. close() there would wait for itself."""
        current = threading.current_thread()
        if self.pool is not None and self.pool.runs_in(current):
            return True
        if self.writer is not None and self.writer.runs_in(current):
            return True
        return not self.threaded and self._inline_thread == threading.get_ident()

    @contextlib.contextmanager
    def _inline(self, control: Control) -> Iterator[None]:
        """threads=0: run work in the calling thread, one piece at a time; Ctrl-C cancels it."""
        with self._inline_lock, keyboard_cancels(control):
            self._inline_depth += 1
            self._inline_thread = threading.get_ident()
            try:
                yield
            finally:
                self._inline_depth -= 1
                if not self._inline_depth:
                    self._inline_thread = None

    def submit_read(self, task: Task) -> None:
        self.check_open()
        if self.pool is not None:
            self.pool.submit(task)
        else:
            with self._inline(task.control):
                if self._inline_reader is None:
                    self._inline_reader = self.open_reader()
                outcome = self.run_read(self._inline_reader, task)
                if outcome is not None:
                    settle(task, *outcome)

    def submit_write(self, task: Task) -> None:
        self.check_open()
        task.control.is_write = True
        if self.writer is not None:
            self.writer.submit(task)
        else:
            with self._inline(task.control):
                self._inline_runner.run([task])

    # -- readers -----------------------------------------------------------------------------
    def open_reader(self) -> Link:
        conn = open_connection(self.target.read_uri, self.busy_timeout)
        conn.execute("PRAGMA query_only = 1")
        return Link(conn)

    def run_read(self, link: Link, task: Task) -> tuple[Any, BaseException | None] | None:
        """Run a read on a reader; move it to the writer when SQLite says it belongs there.

        Returns (value, error) for the caller to settle once its own bookkeeping is done (so
        the waiting thread, once woken, does not wait again for this one), or None when the
        task was stopped before it began or moved to the writer.
        """
        control = task.control
        if link.version != self.session.version:
            try:
                self._sync_session(link)
            except sqlite3.Error as error:
                log.warning("sqlnb: could not apply the session's settings to a reader: %s",
                            error)
        if not control.begin(link.conn):
            settle_if_stopped(task)
            return None
        link.control = control
        link.denied = False  # set by the authorizer if this task reads the writer's objects
        try:
            value = task.run(link, control)
        except BaseException as error:
            link.control = None
            control.release()
            if task.reroutable and isinstance(error, sqlite3.Error) and control.reason is None:
                moved = self._reroute(link, task, error)
                if moved is not None:
                    self._send_to_writer(moved)
                    return None
            link.denied = False
            return None, error
        link.control = None
        control.release()
        return value, None

    def _reroute(self, link: Link, task: Task, error: sqlite3.Error) -> Task | None:
        statement = task.statement
        if _is_readonly(error):  # SQLite says it writes
            if statement is None:  # a function given a read-only connection (execute_fn)
                return None
            task.control.is_write = True
            alone = statement is not None and statement.runs_alone
            task.groupable = task.transaction = not alone
            return task
        writer_only = link.denied or (
            self.session.has_writer_only
            and str(error).startswith(("no such table", "no such view", "no such column"))
        )
        link.denied = False
        if writer_only:  # it reads objects only the writer's connection has
            task.groupable = task.transaction = False
            return task
        return None

    def _send_to_writer(self, task: Task) -> None:
        if self.writer is not None:
            self.writer.submit(task)
        else:
            self._inline_runner.run([task])

    def _sync_session(self, link: Link) -> None:
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
        for name, file in want.items():
            if name not in have:
                conn.execute("ATTACH DATABASE ? AS ?", (file, name))
        if state.has_writer_only != link.state.has_writer_only or state.has_writer_only:
            # setting an authorizer also expires the connection's prepared statements
            conn.set_authorizer(link.authorize if state.has_writer_only else None)
        link.state = state
        link.version = state.version

    # -- the writer's bookkeeping ------------------------------------------------------------
    def _after_write(self, link: Link, statement: _sqltext.Statement) -> None:
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

    def _open_isolated(self) -> Link:
        return Link(self._open_write_connection(), busy_wait=self.busy_timeout)

    def _open_write_connection(self) -> sqlite3.Connection:
        conn = open_connection(self.target.write_uri, BUSY_SLICE, WriteConnection)
        if self.target.read_only:
            conn.begin = "BEGIN"  # type: ignore[attr-defined]
        return conn

    # -- streams -----------------------------------------------------------------------------
    def inline_stream(self, task: Task, produce: Callable[[Link, Control], Iterator[Any]]
                      ) -> Iterator[Any]:
        """threads=0: run a chunked read in the caller, yielding as it goes.

        The stream keeps the inline reader until it ends, but Ctrl-C cancels the query only
        while a chunk is being read: between chunks the user's own code runs, and there Ctrl-C
        is the user's KeyboardInterrupt.
        """
        control = task.control
        with self._inline_lock:
            with self._inline(control):
                if self._inline_reader is None:
                    self._inline_reader = self.open_reader()
                link = self._inline_reader
                self._sync_session(link)
                if not control.begin(link.conn):
                    settle_if_stopped(task)
                    task.result()
                link.control = control
            chunks = produce(link, control)
            try:
                while True:
                    with self._inline(control):
                        chunk = next(chunks, _STOP)
                    if chunk is _STOP:
                        break
                    yield chunk
            except GeneratorExit:  # the caller closed the iterator: that cancels the query
                control.cancel()
                error: BaseException = Stopped()
            except BaseException as failure:
                error = failure
            else:
                link.control = None
                control.release()
                settle(task, None)
                return
            finally:
                chunks.close()
            link.control = None
            control.release()
            settle(task, error=error)
            if isinstance(error, GeneratorExit) or type(error) is Stopped:
                return
            if control.keyboard:  # Ctrl-C reached SQLite while it read a chunk
                raise KeyboardInterrupt from task.exception(0)
            task.result()

    # -- closing -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop reads, finish queued writes, join every thread, close every connection.

        A second call, from any thread, returns once the first has finished.
        """
        with self._close_lock:
            if self._closed_done:
                return
            with self._lock:
                self._closed = True
            self._close()
            self._closed_done = True

    def _close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.writer is not None:
            self.writer.close()
        else:
            with self._inline_lock:
                if self._inline_reader is not None:
                    self._inline_reader.close()
                self.writer_link.close()
        self.timer.close()
