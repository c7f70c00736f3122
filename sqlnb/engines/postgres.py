"""PostgreSQL behind the engine interface, through ADBC's libpq driver (Arrow results): one file
written against `sqlnb.engine` (docs/ENGINES.md takes it as the worked example of a server
engine), with `postgres_types.py` for PostgreSQL's types in Arrow.

Measured facts this follows (docs/research-postgres.md; its section 8 is the list):
- The client is `adbc-driver-postgresql` (libpq inside): a result-returning statement streams as
  Arrow record batches through `COPY (...) TO STDOUT (FORMAT binary)`, 1 MB batches (first rows
  in tens of milliseconds, bounded memory, 0.24x `pandas.read_sql`'s time on 1M rows); `SHOW`,
  `EXPLAIN` and other statements COPY refuses run with `use_copy` off. A `Result`'s rows and a
  frame's columns come from the same batches (postgres_types maps PostgreSQL's types).
- One connection per link: readers in read-only sessions (`default_transaction_read_only`), so
  PostgreSQL refuses a write there (SQLSTATE 25006, nothing changed) and the statement moves to
  the writer; the writer in real transactions, with savepoints (group commit as on SQLite). A
  read-only session is a routing guard, not a security boundary: statements that would leave it
  (BEGIN, SET) go to the writer by their first word, never to a reader.
- The Database acts as one connection: a `SET` the writer runs (alone, outside any transaction:
  SET is transactional, and a group rolled back would undo it) is replayed on every reader before
  its next statement; TEMP objects live on the writer's connection, and a read that fails with
  "no such table" (42P01) while the session has TEMP objects runs again there.
- Cancel, Stop and the time limit: `adbc_cancel()` (libpq's PQcancel, a request on a connection
  of its own) sent from a helper thread (`sqlnb-pg-cancel`: it can block on a frozen server, and
  the timer must never wait), again every CANCEL_EVERY seconds while the statement runs (a
  cancel that reaches the server before the statement does is dropped there), and never once the
  statement is over: the worker ends a statement under the lock the cancel is sent under, so a
  cancel never reaches the next one. Once the server has a cancel, a read's caller is answered
  (`Control.stop_reached`) while its reader waits for the server to end the query (a leader first
  ends its parallel workers, tens of ms); a write's caller waits for the rollback. A stream
  left part-way is cancelled before it is closed (else the next statement would first drain the
  rest of it). `statement_timeout` is a backstop only: the time limit plus BACKSTOP seconds,
  never looser than the server's or role's own.
- Targets are libpq's URIs (`postgresql://` or `postgres://`, with libpq's parameters); libpq
  reads PGPASSWORD, ~/.pgpass and PGSERVICE itself, and the `password_env` option names another
  variable (added as libpq's `password=` parameter). A target without `connect_timeout` gets one
  (libpq waits forever otherwise), and TCP keepalives, so that a dead network path ends a query.
- SQL is cut by sqltext's POSTGRES dialect (dollar quotes, E'' strings, nested comments, `;` in
  brackets or a BEGIN ATOMIC body) and classified here by PostgreSQL's rules (`split`): each
  Statement is made with this engine's word on where it runs (`runs_alone`, `changes_session`,
  `ends_transaction`). `:name` (a dict) and `?` (a sequence) are bound as PostgreSQL's `$n`.
- A server that goes away fails the statement at once ("server closed the connection"); the link
  then opens a new connection for its next statement (the old session's TEMP tables and settings
  are gone with it, and so is a transaction the user had open: TransactionRolledBack).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import adbc_driver_manager
import adbc_driver_postgresql
import adbc_driver_postgresql.dbapi as adbc

# The driver manager's own reader of a result stream (a private module: no public call hands
# it out; `Cursor.fetch_record_batch()` gives pyarrow's reader, whose failure mid-stream is a
# bare OSError holding libpq's text, without the SQLSTATE that says "cancelled" or "lost").
# Without it (another version of the driver manager) results still stream through pyarrow's
# reader, and its errors are read from libpq's text (_stream_error); tests/test_postgres.py
# says when the name has gone.
try:
    from adbc_driver_manager._reader import AdbcRecordBatchReader as _AdbcReader
except ImportError:  # pragma: no cover (a driver manager without it: pyarrow's reader)
    _AdbcReader = None

from ..engine import (
    POSTGRES,
    PREVIEW_ROWS,
    ArrowFrameBuilder,
    Backend,
    Catalog,
    Link,
    Option,
    Result,
    Secret,
    Statement,
    Stopped,
    UsageError,
    annotate,
    arrow_to_dataframe,
    ended_transaction,
    note,
    rechunk,
    redact,
    reveal,
    rows_to_dataframe,
    shorten,
    split_name,
    tokens,
)
from ..engine import split as split_text
from .postgres_types import plan as type_plan

if TYPE_CHECKING:
    from ..engine import Control, Task

log = logging.getLogger("sqlnb")


#: The batch size the driver aims at (bytes): small enough for the first rows to show in tens
#: of milliseconds (the driver's default, 16 MB, took 200-270 ms), large enough to be as fast.
BATCH_BYTES = 1 << 20
#: Seconds between two cancel requests for one statement while it runs.
CANCEL_EVERY = 0.1
#: Seconds the server-side statement_timeout allows beyond the query's time limit (a backstop:
#: sqlnb's own cancel comes first).
BACKSTOP = 10.0
#: What a target gets when it says nothing of these (libpq's names): a bounded connect (libpq
#: waits without end for a server that accepts and never answers), TCP keepalives that end a
#: query on a dead network path within about a minute, and a name in pg_stat_activity.
DEFAULTS = (("connect_timeout", "10"), ("keepalives", "1"), ("keepalives_idle", "30"),
            ("keepalives_interval", "10"), ("keepalives_count", "3"),
            ("application_name", "sqlnb"))
#: The most columns a PostgreSQL table may have.
COLUMN_LIMIT = 1600
#: First words of statements that read: they run on a reader (one that writes after all, like
#: `SELECT nextval(...)` or a data-modifying WITH, is refused there and moves to the writer).
READ_KEYWORDS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN"})
#: First words whose statements stream through COPY (the others run with use_copy off).
COPY_KEYWORDS = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})
#: First words of statements that return rows without streaming (use_copy off).
ROW_KEYWORDS = frozenset({"SHOW", "EXPLAIN", "FETCH", "CALL", "EXECUTE"})
#: A first batch of at most this many rows is kept whole until its first rows are looked at
#: (Control.keep_preview); a larger one has them converted at once, and is let go.
KEEP_ROWS = 1024

#: Transaction control (PostgreSQL's own words too): runs alone on the writer.
TRANSACTION_KEYWORDS = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT",
                                  "SAVEPOINT", "RELEASE"})
#: Statements that run alone on the writer, outside sqlnb's transaction: transaction control,
#: session state (a SET in a group rolled back would be undone: SET is transactional), and what
#: PostgreSQL refuses inside a transaction block (VACUUM, CREATE DATABASE ...).
ALONE_KEYWORDS = TRANSACTION_KEYWORDS | {"SET", "RESET", "DISCARD", "VACUUM", "CHECKPOINT",
                                         "LISTEN", "UNLISTEN", "LOAD", "DEALLOCATE", "CLUSTER"}
#: Second words after which CREATE/DROP/ALTER/REINDEX run alone (not in a transaction block).
_ALONE_OBJECTS = frozenset({"DATABASE", "TABLESPACE", "SYSTEM", "SUBSCRIPTION"})
#: First words after which the catalog (and the session's TEMP objects) may have changed.
_DDL = frozenset({"CREATE", "DROP", "ALTER", "DISCARD", "COMMIT", "END", "ROLLBACK", "ABORT",
                  "IMPORT", "SECURITY", "COMMENT", "GRANT", "REVOKE", "REFRESH", "TRUNCATE"})
#: Settings whose replay on a reader would let it write: never replayed there.
_READ_WRITE_SETTINGS = frozenset({"default_transaction_read_only", "transaction_read_only"})
#: The driver's transaction states (PQtransactionStatus) that mean a transaction is open.
_IN_TRANSACTION = frozenset({"intrans", "inerror", "active"})


# -- targets --------------------------------------------------------------------------------

def client_uri(target: str) -> str:
    """The target as the client takes it: libpq's URI with DEFAULTS added where it says none."""
    base, _hash, _fragment = target.partition("#")
    query = urllib.parse.urlsplit(base).query
    given = {name.lower() for name, _value in urllib.parse.parse_qsl(query,
                                                                     keep_blank_values=True)}
    extra = "&".join(f"{name}={value}" for name, value in DEFAULTS if name not in given)
    if not extra:
        return base
    return f"{base}{'&' if query else ('' if base.endswith('?') else '?')}{extra}"


def server_of(target: str) -> str:
    """host:port of a target, for messages (libpq's defaults where it names none)."""
    parts = urllib.parse.urlsplit(redact(target))
    try:
        port = parts.port
    except ValueError:  # libpq's lists of hosts (h1:5432,h2:5433): named as they are
        return parts.netloc.rsplit("@", 1)[-1] or "localhost:5432"
    host = parts.hostname or dict(urllib.parse.parse_qsl(parts.query)).get("host") or "localhost"
    return f"{host}:{port or 5432}"


# -- the SQL text: statements and parameters ------------------------------------------------

def _significant(text: str) -> list[tuple[str, int, str]]:
    return [t for t in tokens(text, POSTGRES) if t[0] not in ("ws", "comment")]


@functools.lru_cache(maxsize=512)
def split(sql: str) -> tuple[Statement, ...]:
    """The statements of `sql`, in order (blank and comment-only pieces dropped): cut by
    sqltext's POSTGRES dialect, each made with PostgreSQL's word on where it runs."""
    return tuple(_classified(statement) for statement in split_text(sql, POSTGRES))


def _classified(statement: Statement) -> Statement:
    """The statement with PostgreSQL's rules for where it runs (sqltext's Statement works them
    out from SQLite's keywords): what runs alone, what writes, what changes the session, what
    ends a transaction. Its parameters are the `:name`s (a `@` is PostgreSQL's operator, `$1`
    its own parameter) and the `?`s."""
    significant = _significant(statement.text)
    words = [t[2].upper() for t in significant if t[0] == "word"]
    keyword = statement.keyword
    second = words[1] if len(words) > 1 else ""
    alone = keyword in ALONE_KEYWORDS or (keyword, second) == ("PREPARE", "TRANSACTION") or (
        keyword in ("CREATE", "DROP", "ALTER", "REINDEX")
        and (second in _ALONE_OBJECTS or "CONCURRENTLY" in words[:5]))
    if keyword == "SET" and second in ("LOCAL", "TRANSACTION", "CONSTRAINTS"):
        alone = False  # these last as long as the transaction: they run in it
    # SELECT ... INTO makes a table, and a WITH whose statement writes (WITH ... INSERT INTO)
    # writes: both go to the writer, and neither can stream through COPY
    writes = keyword not in READ_KEYWORDS or (keyword in ("SELECT", "WITH")
                                              and _into_at_top(significant))
    named = tuple(dict.fromkeys(text[1:] for kind, _start, text in significant
                                if kind == "param" and text[0] == ":"))
    return dataclasses.replace(
        statement, named=named, kind=keyword, writes=writes, runs_alone=alone,
        changes_session=keyword in _DDL or keyword in ("SET", "RESET"),
        ends_transaction=keyword in ("COMMIT", "END", "ABORT") or (
            keyword == "ROLLBACK" and "TO" not in words[1:4] and "PREPARED" not in words[1:3]))


@functools.lru_cache(maxsize=512)
def _names(text: str) -> frozenset[str]:
    """The names a statement's text uses (unquoted ones lower case, as PostgreSQL folds them)."""
    return frozenset(value.lower() if kind == "word" else value[1:-1].replace('""', '"')
                     for kind, _start, value in tokens(text, POSTGRES)
                     if kind in ("word", "quoted"))


def _into_at_top(significant: list[tuple[str, int, str]]) -> bool:
    """Whether INTO comes outside brackets (SELECT ... INTO t, WITH ... INSERT INTO t)."""
    depth = 0
    for kind, _start, text in significant:
        if text in ("(", "["):
            depth += 1
        elif text in (")", "]"):
            depth = max(depth - 1, 0)
        elif not depth and kind == "word" and text.upper() == "INTO":
            return True
    return False


@functools.lru_cache(maxsize=512)
def _placeholders(text: str) -> tuple[tuple[tuple[int, int, str], ...], bool]:
    """sqlnb's placeholders in a statement, `:name` and `?` (start, end, text), and whether it
    has RETURNING."""
    found, returning = [], False
    for kind, start, value in tokens(text, POSTGRES):
        if kind == "param" and value[0] in ":?":
            found.append((start, start + len(value), value))
        elif kind == "word" and value.upper() == "RETURNING":
            returning = True
    return tuple(found), returning


def bind(statement: Statement, params: Any) -> tuple[str, list[Any] | None]:
    """The statement's text with sqlnb's placeholders as PostgreSQL's `$n`, and the values.

    With a dict, `:name` binds by name. With a sequence, `?` binds by position (PostgreSQL's
    own `$1` works too). Without parameters, or with a dict, a `?` is PostgreSQL's jsonb
    operator and stays as it is.
    """
    text = statement.text
    if params is None:
        return text, None
    found, _returning = _placeholders(text)
    if isinstance(params, Mapping):
        order: list[str] = []
        pieces, last = [], 0
        for start, end, token in found:
            if token[0] != ":":
                continue
            name = token[1:]
            if name not in params:
                raise UsageError(f"the SQL uses :{name}, and no value is given for it: add "
                                 f"{name!r} to the parameters")
            if name not in order:
                order.append(name)
            pieces += [text[last:start], f"${order.index(name) + 1}"]
            last = end
        pieces.append(text[last:])
        return "".join(pieces), [bound(params[name], f":{name}") for name in order]
    values = list(params)
    marks = [(start, end) for start, end, token in found if token == "?"]
    if marks:
        if len(marks) != len(values):
            raise UsageError(f"the SQL has {len(marks)} ? placeholders and {len(values)} "
                             "values are given: give one value per ?")
        pieces, last = [], 0
        for number, (start, end) in enumerate(marks, 1):
            pieces += [text[last:start], f"${number}"]
            last = end
        pieces.append(text[last:])
        text = "".join(pieces)
    return text, [bound(v, f"parameter {i + 1}") for i, v in enumerate(values)]


def bound(value: Any, name: str) -> Any:
    """A parameter's value as the driver binds it (a date stays a date, a Decimal a numeric),
    or a UsageError naming the parameter (`name`: ":d" or "parameter 2") for one it cannot."""
    if isinstance(value, (dict, list, tuple, set)):
        kind = type(value).__name__
        raise UsageError(f"{name} is a {kind}, which sqlnb does not bind on PostgreSQL: pass "
                         "json.dumps(value) and cast it in the SQL (:p::jsonb), or pass each "
                         "value as a parameter of its own")
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # numpy scalars
        return item()
    return value


def _copies(statement: Statement) -> bool:
    """Whether a statement is a query, whose rows stream through COPY (the driver runs one
    that has no columns, SELECT ... INTO, as a plain statement)."""
    return statement.keyword in COPY_KEYWORDS


def _returns_rows(statement: Statement) -> bool:
    """Whether a statement may return rows (read through a reader of batches); the others run
    as updates, which say how many rows they changed."""
    return (_copies(statement) or statement.keyword in ROW_KEYWORDS
            or _placeholders(statement.text)[1])


# -- errors ---------------------------------------------------------------------------------

def _detail(error: BaseException, key: bytes) -> str | None:
    for name, value in getattr(error, "details", None) or ():
        if name == key:
            return value.decode("utf-8", "replace")
    return None


_LIBPQ = re.compile(r"(?:ERROR|FATAL|PANIC):\s+(.*?)(?:\n|$)", re.DOTALL)


def _clean(error: BaseException) -> None:
    """PostgreSQL's own message as the error's text, on its first line: the primary message,
    then its DETAIL and HINT (the driver's says `INVALID_ARGUMENT: [libpq] Failed to execute
    query ... Query was: COPY (...) TO STDOUT ... SQLSTATE: 42601`)."""
    if getattr(error, "_sqlnb_clean", False):
        return
    primary = _detail(error, b"PG_DIAG_MESSAGE_PRIMARY")
    if primary is None:
        text = str(error)
        found = _LIBPQ.search(text)
        if found is not None:
            primary = found.group(1).strip()
        else:
            primary = re.sub(r"^[A-Z_]+: (?:\[libpq\] )?", "", text.split("\nQuery was:")[0])
            primary = re.sub(r"\. SQLSTATE: \w+$", "", primary).strip()
    message = primary
    detail, hint = (_detail(error, b"PG_DIAG_MESSAGE_DETAIL"),
                    _detail(error, b"PG_DIAG_MESSAGE_HINT"))
    if detail:
        message += f": {detail}"
    if hint:
        message += f" (hint: {hint})"
    error.args = (redact(" ".join(message.split("\n"))) if "\n" in message else redact(message),)
    with contextlib.suppress(AttributeError):
        error._sqlnb_clean = True  # type: ignore[attr-defined]


def _stream_error(error: OSError) -> BaseException:
    """The driver's error for a statement that failed while its batches were read (pyarrow's
    reader raises a bare OSError with libpq's text): an OperationalError of the client."""
    found = _LIBPQ.search(str(error))
    message = found.group(1).strip() if found else str(error).strip()
    failure = adbc_driver_manager.OperationalError(
        message, status_code=adbc_driver_manager.AdbcStatusCode.IO)
    failure._sqlnb_clean = True  # type: ignore[attr-defined]
    return failure


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL error (None where the driver did not say one)."""
    return getattr(error, "sqlstate", None) or _detail(error, b"PG_DIAG_SQLSTATE")


# -- the session every link of a Database shares ------------------------------------------------

@dataclass(frozen=True)
class Session:
    """What the writer's statements set that every reader must share, and what only the writer
    has (replaced whole on change: a reader compares versions)."""

    version: int = 0
    #: the SET and RESET statements to replay on a reader, in order (the last per setting)
    settings: tuple[tuple[str, str], ...] = ()
    #: the TEMP tables and views of the writer's session
    temp: frozenset[str] = frozenset()


def _setting(statement: Statement) -> str | None:
    """The name a session-level SET/RESET statement sets ("all" for RESET ALL, DISCARD ALL),
    or None for one that is no session setting (SET LOCAL, SET TRANSACTION ...)."""
    words = [t[2].lower() for t in _significant(statement.text) if t[0] in ("word", "quoted")]
    if statement.keyword == "DISCARD":
        return "all" if words[1:2] == ["all"] else None
    if len(words) < 2 or words[1] in ("local", "transaction", "constraints"):
        return None
    if words[1:3] == ["session", "characteristics"]:  # ... AS TRANSACTION READ WRITE
        return "default_transaction_read_only"
    name = words[2] if words[1] == "session" and len(words) > 2 else words[1]
    return {"time": "timezone", "names": "client_encoding", "schema": "search_path",
            "xml": "xmloption", "authorization": "session_authorization"}.get(name, name)


# -- a link ---------------------------------------------------------------------------------

class PostgresLink(Link):
    """One connection of a Database (a reader's, the writer's, or an isolated one)."""

    #: SAVEPOINT, RELEASE and ROLLBACK TO: the writer isolates each write of a group after a
    #: failure, and a write stopped inside the user's transaction is undone alone
    savepoints = True

    __slots__ = ("__weakref__", "_copy", "_lock", "_plain", "_running", "_sent", "_serial",
                 "_statement_cursor", "backend", "base_timeout", "broken",
                 "cancelling", "conn", "control", "hit", "pending", "reader", "timeout",
                 "version")

    def __init__(self, backend: PostgresBackend, reader: bool) -> None:
        self.backend = backend
        self.reader = reader  # a read-only session
        self.control: Control | None = None
        self.conn: Any = None
        self._copy: Any = None  # the cursor of streamed statements (COPY, 1 MB batches)
        self._plain: Any = None  # the cursor of the others (use_copy off)
        self._lock = threading.Lock()  # a statement ends, and a cancel is sent, under it
        self._serial = 0  # statements run so far
        self._running = 0  # the serial of the statement running now (0: none)
        self._statement_cursor: Any = None  # its cursor
        self.hit = 0  # the serial of the last statement a cancel was sent for
        self._sent = 0.0  # when a cancel was last sent
        self.cancelling = False  # a cancel request is under way
        self.timeout: int | None = None  # statement_timeout set on the session (ms)
        self.base_timeout = 0  # the server's (or role's) own statement_timeout (ms, 0: none)
        self.version = -1  # the Session version this link has replayed
        self.pending: list[tuple[str, str]] = []  # SETs made in the user's open transaction
        self.broken = False
        self._open()

    def _open(self) -> None:
        self.conn = self.backend.connect()
        try:
            options = adbc_driver_postgresql.StatementOptions
            self._copy = self.conn.cursor(adbc_stmt_kwargs={
                options.BATCH_SIZE_HINT_BYTES.value: str(BATCH_BYTES)})
            self._plain = self.conn.cursor(adbc_stmt_kwargs={options.USE_COPY.value: "false"})
            if self.reader or self.backend.read_only:
                self.execute_sql("SET default_transaction_read_only = on")
            rows = self.query_sql("SELECT setting FROM pg_settings WHERE name = "
                               "'statement_timeout'")
            self.base_timeout = int(rows[0][0]) if rows else 0
        except BaseException:
            self.close()
            raise
        self.timeout = self.base_timeout
        self.version = -1
        self.broken = False

    # -- any thread ----------------------------------------------------------------------------
    def interrupt(self) -> None:
        # called under the controls' lock, by the timer every few ms once a query must stop:
        # one cancel request in flight per link, at most every CANCEL_EVERY seconds
        serial = self._running
        now = time.monotonic()
        if not serial or self.cancelling or now - self._sent < CANCEL_EVERY:
            return
        self.cancelling = True
        self._sent = now
        self.backend.cancel_soon(self, serial)

    def cancel(self, serial: int) -> None:
        """Send the server a cancel for statement `serial` if it still runs (a helper thread:
        this may block while the server does not answer)."""
        control = None
        try:
            with self._lock:
                if self._running == serial and self._statement_cursor is not None:
                    self.hit = serial
                    try:
                        self._statement_cursor.adbc_cancel()
                        control = self.control
                    except Exception:  # a closed or lost connection
                        pass
        finally:
            self.cancelling = False
        if control is not None:
            # the server has the cancel; the query may still take tens of ms to end (a leader
            # waits for its parallel workers): a read's caller need not wait for that. Outside
            # the lock: the caller's callbacks run here, and may want this link's next query.
            control.stop_reached()

    # -- the worker's thread ---------------------------------------------------------------------
    def _status(self) -> str:
        try:
            return str(self.conn.adbc_connection.get_option(
                adbc_driver_postgresql.ConnectionOptions.TRANSACTION_STATUS.value))
        except Exception:
            return "unknown"

    def execute_sql(self, sql: str) -> None:
        """Run one statement of sqlnb's own that returns no rows."""
        self._plain.executemany(sql, None)

    def query_sql(self, sql: str, params: Any = None) -> list[tuple]:
        """Run one query of sqlnb's own; its rows."""
        self._plain.execute(sql, params)
        return self._plain.fetchall()

    def ready(self, control: Control | None) -> None:
        """Before a statement: a new connection if the last was lost, the session's settings on
        a reader, the backstop time limit on the server."""
        if control is not None and control.reason is not None:
            raise Stopped()
        if self.broken:
            self.close()
            self._open()
        if self.reader and self.version != self.backend.session.version:
            self.backend.replay(self)
        if control is not None:
            self._backstop(control.time_limit)

    def _backstop(self, limit: float | None) -> None:
        """statement_timeout: the limit plus BACKSTOP, never looser than the server's own, and
        left alone once the user sets it (or inside a transaction, where SET would join it)."""
        wanted = self.base_timeout
        if limit is not None:
            ms = int((limit + BACKSTOP) * 1000)
            wanted = ms if not wanted else min(wanted, ms)
        if wanted == self.timeout or self.backend.user_timeout:
            return
        if self._status() != "idle":
            return
        self.execute_sql(f"SET statement_timeout = {int(wanted)}")
        self.timeout = wanted

    @contextlib.contextmanager
    def _statement(self, cursor: Any) -> Iterator[None]:
        """The block runs one statement on `cursor`: a cancel reaches it while it runs, and
        never once it is over (the end is marked under the cancel's lock)."""
        with self._lock:
            self._serial += 1
            self._running = self._serial
            self._statement_cursor = cursor
        try:
            yield
        finally:
            with self._lock:
                self._running = 0
                self._statement_cursor = None

    def translate(self, error: BaseException, task: Task) -> BaseException:
        control = task.control
        if isinstance(error, OSError) and not isinstance(error, adbc_driver_manager.Error):
            error = _stream_error(error)
        if not isinstance(error, adbc_driver_manager.Error):
            return error
        if control.reason is not None and (sqlstate(error) == "57014" or self.hit == self._serial
                                           or self.broken):
            return Stopped()
        _clean(error)
        if self._status() == "unknown":  # the connection is gone: the next statement reopens it
            self.broken = True
            was = str(error)
            maybe = (" A write cut off so was not committed, unless the server committed it "
                     "just before." if control.is_write else "")
            error.args = (f"the connection to the PostgreSQL server at {self.backend.server} "
                          f"was lost ({was}): the next statement connects again, without this "
                          f"session's TEMP tables and settings.{maybe}",)
        annotate(error, task.sql)
        state = sqlstate(error)
        if state == "25006":
            if task.reads:
                note(error, "execute_fn gives fn a read-only connection: write with "
                            "execute_write_fn")
            elif self.backend.read_only:
                note(error, "the Database is read-only (read_only=True): open it writable to "
                            "change it")
        elif state == "25P02":
            note(error, "a statement failed inside the transaction you opened (BEGIN): run "
                        "ROLLBACK to end it")
        error.__traceback__ = None  # the frames are sqlnb's internals, not the user's
        return error

    def _batches(self, reader: Any) -> Iterator[Any]:
        """The reader's batches; a failure as the client's error (pyarrow's reader raises an
        OSError or ArrowInvalid with libpq's text)."""
        import pyarrow as pa

        iterator = iter(reader)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except adbc_driver_manager.Error:
                raise
            except (OSError, pa.ArrowException) as error:
                raise _stream_error(error) from None  # type: ignore[arg-type]
            yield batch

    def _cursor(self, statement: Statement) -> Any:
        return self._copy if _copies(statement) else self._plain

    def _stream(self, statement: Statement, params: Any) -> tuple[Any, Any]:
        """Start a statement that returns rows (through COPY when it is a query): its cursor
        and the reader of its batches."""
        text, args = bind(statement, params)
        cursor = self._cursor(statement)
        cursor.execute(text, args)
        if _AdbcReader is None:
            return cursor, cursor.fetch_record_batch()
        handle = cursor.fetch_arrow()  # kept until imported: its end releases the stream
        return cursor, _AdbcReader._import_from_c(handle.address)

    def _abandon(self, cursor: Any, reader: Any, finished: bool) -> None:
        """Close a reader; one left part-way is cancelled first (closing it alone would leave
        the rest to the next statement, which would read it all before its own)."""
        if not finished:
            with contextlib.suppress(Exception):
                cursor.adbc_cancel()
        with contextlib.suppress(Exception):
            reader.close()

    def run(self, statement: Statement, params: Any, control: Control, frame: bool) -> Any:
        """Run one statement; rows come as Arrow batches, counted as they arrive."""
        self.ready(control)
        if not _returns_rows(statement):
            text, args = bind(statement, params)
            with self._statement(self._plain):
                self._plain.executemany(text, [args] if args else None)
            rowcount = self._plain.rowcount
            self.backend.after(self, statement)
            result = Result([], [], rowcount if rowcount is not None else -1, None,
                            statement.text)
            if frame:
                return result.to_dataframe()
            result.elapsed = time.monotonic() - control.started  # type: ignore[operator]
            return result
        with self._statement(self._cursor(statement)):
            cursor, reader = self._stream(statement, params)
            finished = False
            try:
                schema = reader.schema
                names = list(schema.names)
                plan = type_plan(schema, self.backend.is_text_type)
                builder = ArrowFrameBuilder(names) if frame else None
                rows: list[tuple] = []
                batches = 0
                for batch in self._batches(reader):
                    batches += 1
                    if control.reason is not None:  # stopped: build no more (_abandon cancels)
                        raise Stopped()
                    if builder is not None:
                        if not control.has_preview:
                            first = batch.slice(0, PREVIEW_ROWS).columns  # shares the batch's
                            if batch.num_rows <= KEEP_ROWS:  # buffers: only a small one waits
                                control.keep_preview(names, functools.partial(plan.rows, first))
                            else:
                                control.preview = (names, plan.rows(first))
                        builder.add(plan.for_frame(batch))
                    else:
                        rows += plan.rows(batch.columns)
                    control.rows += batch.num_rows
                    del batch
                finished = True
            except adbc_driver_manager.Error:
                finished = True  # the statement failed: nothing left to read
                raise
            finally:
                self._abandon(cursor, reader, finished)
            rowcount = cursor.rowcount
        if statement.surely_writes:
            self.backend.after(self, statement)
        if not names:  # a statement without rows after all (SELECT ... INTO)
            result = Result([], [], -1 if rowcount is None else rowcount, None, statement.text)
            return result.to_dataframe() if frame else result
        if builder is not None:
            if not batches:  # typed by the schema (worked out only here: it costs 0.1 ms)
                builder = ArrowFrameBuilder(names, plan.schema(schema))
            return builder.frame()
        result = Result(names, rows, -1 if _copies(statement) else rowcount, None,
                        statement.text)
        result.elapsed = time.monotonic() - control.started  # type: ignore[operator]
        return result

    def chunks(self, statement: Statement, params: Any, control: Control,
               chunk_rows: int) -> Iterator[Any]:
        self.ready(control)
        with self._statement(self._cursor(statement)):
            cursor, reader = self._stream(statement, params)
            finished = False

            def batches() -> Iterator[Any]:
                nonlocal finished
                for batch in self._batches(reader):
                    yield plan.for_frame(batch)
                finished = True  # read to its end: closing it needs no cancel

            try:
                schema = reader.schema
                names = list(schema.names)
                plan = type_plan(schema, self.backend.is_text_type)
                shown = plan.schema(schema)
                for chunk in rechunk(batches(), chunk_rows):
                    control.rows += sum(batch.num_rows for batch in chunk)
                    yield arrow_to_dataframe(names, chunk, shown)
            except adbc_driver_manager.Error:
                finished = True
                raise
            finally:
                self._abandon(cursor, reader, finished)

    def many(self, statement: Statement, params_seq: Iterable[Any], control: Control) -> Result:
        import itertools

        self.ready(control)
        total = 0
        sets = iter(params_seq)
        while chunk := list(itertools.islice(sets, 10_000)):
            bound = [bind(statement, params) for params in chunk]
            texts = {text for text, _args in bound}
            if len(texts) > 1:
                raise UsageError("write_many needs every parameter set in one form: all dicts "
                                 "(:name) or all sequences (?)")
            (text,) = texts
            with self._statement(self._plain):
                self._plain.executemany(text, [args or () for _text, args in bound])
            total += max(self._plain.rowcount or 0, 0)
            control.rows += len(chunk)
        return Result([], [], rowcount=total, sql=statement.text)

    def call(self, fn: Callable[[Any], Any], name: str, *, guarded: bool = False,
             read_only: bool = False) -> Any:
        self.ready(None)
        refuse: Any = None
        if guarded:
            refuse = _RefuseTransactionControl(name)
        elif read_only:
            refuse = _refuse_leaving_read_only(name)
        with self._statement(self._plain):  # a cancel reaches what fn runs on the connection
            value = fn(_CheckedConnection(self, refuse, name))
        if guarded and getattr(refuse, "tried", None) is not None:
            raise ended_transaction(name, refuse.tried)  # type: ignore[attr-defined]
        return value

    def tables(self) -> Any:
        self.ready(None)
        found = self.query_sql(
            "SELECT c.oid::bigint, c.relname, CASE WHEN c.relkind IN ('v', 'm') THEN 'view' "
            "ELSE 'table' END, CASE WHEN c.relnamespace = pg_my_temp_schema() THEN 'temp' "
            "ELSE n.nspname END, n.nspname, c.relkind = 'r' AND has_table_privilege(c.oid, "
            "'SELECT') AND pg_relation_size(c.oid) <= 104857600 "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', "
            "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND (n.nspname NOT "
            "LIKE 'pg\\_temp%' OR c.relnamespace = pg_my_temp_schema()) ORDER BY 2, 4")
        counted: dict[int, int] = {}
        small = [(oid, schema, name) for oid, name, _kind, _shown, schema, small in found
                 if small]
        for start in range(0, len(small), 200):  # a count is cheap up to 100 MB a table
            union = " UNION ALL ".join(
                f"SELECT {oid}::bigint, count(*) FROM {_quote(schema)}.{_quote(name)}"
                for oid, schema, name in small[start:start + 200])
            counted.update(self.query_sql(union))
        rows = [(name, kind, shown, counted.get(oid))
                for oid, name, kind, shown, _schema, _small in found]
        frame = rows_to_dataframe(rows, ["name", "type", "schema", "rows"])
        return frame.astype({"rows": "Int64"})

    def catalog(self, control: Control) -> Catalog:
        self.ready(None)
        tables: dict[str, list[str]] = {}
        owner: dict[str, str] = {}
        for table, column, schema in self.query_sql(
                "SELECT c.relname, a.attname, n.nspname FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND a.attnum > 0 "
                "AND NOT a.attisdropped AND n.nspname NOT IN ('pg_catalog', "
                "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
                "AND (n.nspname NOT LIKE 'pg\\_temp%' OR c.relnamespace = pg_my_temp_schema()) "
                "ORDER BY NOT pg_table_is_visible(c.oid), n.nspname, c.relname, a.attnum"):
            if owner.setdefault(table, schema) == schema:  # a name is one table: the one
                tables.setdefault(table, []).append(column)  # on the search_path first
        if control.reason is not None:
            raise Stopped()
        if self.backend.words is None:  # read once: DDL does not change them
            functions = sorted({name for (name,) in self.query_sql(
                "SELECT DISTINCT p.proname FROM pg_proc p WHERE pg_function_is_visible(p.oid) "
                "AND p.prokind IN ('f', 'a', 'w') AND p.prorettype NOT IN ('internal'::regtype, "
                "'cstring'::regtype, 'trigger'::regtype, 'event_trigger'::regtype, "
                "'language_handler'::regtype, 'fdw_handler'::regtype, "
                "'index_am_handler'::regtype, 'table_am_handler'::regtype, "
                "'tsm_handler'::regtype) AND NOT 'internal'::regtype = ANY(p.proargtypes) "
                "AND p.oid NOT IN (SELECT oprcode FROM pg_operator)") if name.isidentifier()})
            words = self.query_sql("SELECT upper(word), catcode IN ('R', 'T') FROM "
                                "pg_get_keywords() ORDER BY 1")
            self.backend.words = (tuple(functions), tuple(word for word, _r in words),
                                  frozenset(word for word, reserved in words if reserved))
        return Catalog({name: tuple(columns) for name, columns in tables.items()},
                       *self.backend.words)

    def explain(self, statement: Statement, params: Any, control: Control) -> str:
        self.ready(control)
        text, args = bind(statement, params)
        with self._statement(self._plain):
            rows = self.query_sql(f"EXPLAIN (FORMAT JSON) {text}", args)
        plans = json.loads(rows[0][0])
        lines: list[str] = []

        def draw(node: dict[str, Any], depth: int) -> None:
            head = node["Node Type"]
            if node.get("Relation Name"):
                head += f" on {node['Relation Name']}"
                if node.get("Alias") and node["Alias"] != node["Relation Name"]:
                    head += f" {node['Alias']}"
            details = [f"{key.lower()}: {node[key]}" for key in _EXPLAINED if node.get(key)]
            details.append(f"rows≈{node.get('Plan Rows', '?')}")
            lines.append("  " * depth + " · ".join([head, *details]))
            for child in node.get("Plans", []):
                draw(child, depth + 1)

        for root in plans:
            draw(root["Plan"], 0)
        return "\n".join(lines)

    def schema(self, table: str) -> Any:
        self.ready(None)
        parts = split_name(table)
        oid = None
        for candidate in (parts, tuple(p.lower() for p in parts)):
            (oid,), = self.query_sql("SELECT to_regclass($1)::oid::bigint",
                                  [".".join(_quote(p) for p in candidate)])
            if oid is not None:
                break
        if oid is None:
            raise UsageError(f"no table or view named {table!r}: %sqlnb tables (or db.tables()) "
                             "lists them")
        columns = self.query_sql(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a LEFT JOIN pg_attrdef d "
            "ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = $1 "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", [oid])
        keys: dict[str, int] = {}
        references: dict[str, str] = {}
        for kind, names, other, targets in self.query_sql(
                "SELECT c.contype::text, array(SELECT a.attname::text FROM unnest(c.conkey) "
                "WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND "
                "a.attnum = k.n ORDER BY k.i), c.confrelid::regclass::text, "
                "array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) "
                "JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY "
                "k.i) FROM pg_constraint c WHERE c.conrelid = $1 AND c.contype IN ('p', 'f')",
                [oid]):
            if kind == "p":
                keys.update({n: i + 1 for i, n in enumerate(names)})
            else:
                for source, target in zip(names, targets or []):
                    references[source] = f"{other}({target})"
        data = [(name, kind, bool(not_null), default, keys.get(name, 0), references.get(name))
                for name, kind, not_null, default in columns]
        return rows_to_dataframe(data, ["name", "type", "not_null", "default", "primary_key",
                                        "references"])

    def column_limit(self) -> int | None:
        return COLUMN_LIMIT

    def ingest(self, reader: Any, schema: str | None, name: str, mode: str,
               control: Control, temporary: bool = False) -> None:
        """Write Arrow batches into a table through COPY (the driver's bulk ingest). mode:
        "create" (an error if it exists), "append" (made if missing) or "replace";
        `temporary`: a TEMP table of the session (no schema)."""
        self.ready(control)
        qualified = f"{_quote(schema)}.{_quote(name)}" if schema else _quote(name)
        if mode == "append" and not self.query_sql("SELECT to_regclass($1) IS NOT NULL",
                                                   [qualified])[0][0]:
            mode = "create"  # an append makes a missing table, as on every engine
        with self._statement(self._plain):
            try:
                self._plain.adbc_ingest(name, reader, mode=mode, db_schema_name=schema,
                                        temporary=temporary)
            except adbc_driver_manager.Error as error:
                if "already exists" in str(error):
                    _clean(error)
                    note(error, "pass if_exists='append' to add rows, or 'replace'")
                raise

    # -- the writer's transaction steps ------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._status() in _IN_TRANSACTION

    def transaction_lost(self) -> bool:
        return self._status() not in ("intrans", "active")

    def _step(self, sql: str) -> None:
        self.ready(None)
        with self._statement(self._plain):
            self.execute_sql(sql)

    def begin(self, controls: list[Control]) -> None:
        self._step("BEGIN")

    def commit(self, controls: list[Control]) -> None:
        self._step("COMMIT")
        self.backend.end_transaction(self, committed=True)

    def rollback(self) -> None:
        if self.broken:  # the server has rolled it back with the connection
            return
        self._step("ROLLBACK")
        self.backend.end_transaction(self, committed=False)

    def savepoint(self) -> None:
        self._step("SAVEPOINT sqlnb_task")

    def release(self) -> None:
        self._step("RELEASE SAVEPOINT sqlnb_task")

    def rollback_to(self) -> None:
        self._step("ROLLBACK TO SAVEPOINT sqlnb_task")
        self._step("RELEASE SAVEPOINT sqlnb_task")

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """A read on the writer, with writes refused: a read-only transaction of its own, or a
        read-only savepoint inside the user's (undone after: the read changes nothing)."""
        self.ready(None)
        nested = self.in_transaction
        if self._status() == "inerror":  # nothing runs in an aborted transaction but its end
            yield
            return
        if nested:
            self.execute_sql("SAVEPOINT sqlnb_read")
            self.execute_sql("SET LOCAL transaction_read_only = on")
        else:
            self.execute_sql("BEGIN READ ONLY")
        try:
            yield
        finally:
            with contextlib.suppress(adbc_driver_manager.Error):
                if nested:
                    self.execute_sql("ROLLBACK TO SAVEPOINT sqlnb_read")
                    self.execute_sql("RELEASE SAVEPOINT sqlnb_read")
                else:
                    self.execute_sql("ROLLBACK")

    def close(self) -> None:
        for cursor in (self._copy, self._plain):
            if cursor is not None:
                with contextlib.suppress(Exception):
                    cursor.close()
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self._copy = self._plain = self.conn = None


#: EXPLAIN (FORMAT JSON)'s keys a plan's line shows, besides the node and its relation.
_EXPLAINED = ("Index Name", "Join Type", "Strategy", "Hash Cond", "Merge Cond", "Index Cond",
              "Recheck Cond", "Filter", "Group Key", "Sort Key")



def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- a user's function and its connection -----------------------------------------------------

class _CheckedConnection:
    """The ADBC DB-API connection as a user's function gets it: every SQL text its cursors run
    is looked at first (PostgreSQL has no authorizer), `commit()` and `rollback()` are the
    transaction statements (checked too), and `with conn:` is one transaction for its block
    (a savepoint inside an open one), not ADBC's own `with`, which closes the connection."""

    def __init__(self, link: PostgresLink, refuse: Callable[[Statement], None] | None,
                 name: str) -> None:
        self._link = link
        self._refuse = refuse or (lambda statement: None)
        self._blocks: list[bool] = []  # per open `with conn:`: a savepoint (True) or BEGIN

    def __getattr__(self, name: str) -> Any:
        return getattr(self._link.conn, name)

    def check(self, sql: Any) -> bool:
        """Look at the SQL first; whether it is a query that may stream through COPY (SHOW,
        EXPLAIN and the like fail there: their cursor turns the driver's COPY off)."""
        if not isinstance(sql, str):
            return True
        statements = split(sql)
        for statement in statements:
            self._refuse(statement)
        return all(_copies(statement) for statement in statements)

    def cursor(self, **kwargs: Any) -> _CheckedCursor:
        return _CheckedCursor(self._link.conn.cursor(**kwargs), self)

    def execute(self, sql: Any, parameters: Any = None) -> _CheckedCursor:
        return self.cursor().execute(sql, parameters)

    def _run(self, sql: str) -> None:
        self.check(sql)
        with contextlib.closing(self._link.conn.cursor()) as cursor:
            cursor.executemany(sql, None)

    def commit(self) -> None:
        self._run("COMMIT")

    def rollback(self) -> None:
        self._run("ROLLBACK")

    def close(self) -> None:
        """The connection is the Database's: closing it is left to sqlnb."""

    def __enter__(self) -> _CheckedConnection:
        nested = self._link.in_transaction
        self._run("SAVEPOINT sqlnb_block" if nested else "BEGIN")
        self._blocks.append(nested)
        return self

    def __exit__(self, kind: type[BaseException] | None, *_exc: object) -> bool:
        nested = self._blocks.pop()
        if nested:
            if kind is None:
                self._run("RELEASE SAVEPOINT sqlnb_block")
            else:
                self._run("ROLLBACK TO SAVEPOINT sqlnb_block")
                self._run("RELEASE SAVEPOINT sqlnb_block")
        elif self._link.in_transaction:  # unless the block ended it itself
            self._run("COMMIT" if kind is None else "ROLLBACK")
        return False


class _CheckedCursor:
    """An ADBC cursor whose SQL texts are looked at first (see _CheckedConnection)."""

    def __init__(self, cursor: Any, connection: _CheckedConnection) -> None:
        self._cursor = cursor
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def __enter__(self) -> _CheckedCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self._cursor.close()

    def _prepare(self, sql: Any) -> None:
        copies = self._connection.check(sql)
        option = adbc_driver_postgresql.StatementOptions.USE_COPY.value
        self._cursor.adbc_statement.set_options(**{option: "true" if copies else "false"})

    def execute(self, sql: Any, parameters: Any = None) -> _CheckedCursor:
        self._prepare(sql)
        self._cursor.execute(sql, parameters)
        return self

    def executemany(self, sql: Any, parameters: Any) -> None:
        self._prepare(sql)
        self._cursor.executemany(sql, parameters)


class _RefuseTransactionControl:
    """Inside the transaction sqlnb opened for a write function: no COMMIT, ROLLBACK or BEGIN."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tried: str | None = None

    def __call__(self, statement: Statement) -> None:
        if statement.keyword in TRANSACTION_KEYWORDS and statement.keyword not in (
                "SAVEPOINT", "RELEASE") and not (statement.keyword == "ROLLBACK"
                                                 and not statement.ends_transaction):
            self.tried = statement.keyword
            raise ended_transaction(self.name, statement.keyword)


def _refuse_leaving_read_only(name: str) -> Callable[[Statement], None]:
    """For execute_fn: no statement that would make its read-only session write."""
    def refuse(statement: Statement) -> None:
        if statement.keyword in TRANSACTION_KEYWORDS or _leaves_read_only(statement):
            raise UsageError(f"{name} was given a read-only connection (execute_fn), and "
                             f"{shorten(statement.text, 40)!r} could make it write: write "
                             "with execute_write_fn")
    return refuse



# -- the backend ----------------------------------------------------------------------------

class PostgresBackend(Backend):
    """PostgreSQL's side of one Database: a server, a connection per link."""

    name = "postgres"
    title = "PostgreSQL"
    schemes = ("postgresql", "postgres")  # libpq's URIs
    example = "postgresql://user@host:5432/db or postgres://..."
    extra = "postgres"
    options = (Option("password_env", None, "the environment variable that holds the password "
                      "(libpq's own PGPASSWORD, ~/.pgpass and PGSERVICE need no naming)", str),)
    secret_env_option = "password_env"
    #: ADBC's errors (DB-API's classes: OperationalError, ProgrammingError ...), with
    #: PostgreSQL's `.sqlstate`; sqlnb's own errors get no bases of them (errors.flavour): no
    #: code written before sqlnb ran on PostgreSQL expects them to be ADBC's
    error_types = (adbc_driver_manager.Error,)
    dialect = POSTGRES
    sqlglot_dialect = "postgres"
    temp_schema = "pg_temp"
    volatile_functions = frozenset({"transaction_timestamp", "statement_timestamp",
                                    "clock_timestamp", "timeofday", "lastval", "uuidv4",
                                    "uuidv7", "txid_current", "pg_backend_pid",
                                    "current_query", "version"})

    @classmethod
    def parse_target(cls, target: Any) -> Any:
        """libpq's URI as it is (libpq reads its parameters), a Secret staying one; SQLAlchemy's
        form of it (`postgresql+psycopg://...`, what JupySQL is given) without the `+driver`."""
        text = reveal(target)
        scheme, sep, rest = text.partition("://")  # type: ignore[union-attr]
        if "+" in scheme:
            text = f"{scheme.split('+', 1)[0]}{sep}{rest}"
            return Secret(text) if isinstance(target, Secret) else text
        return target if isinstance(target, Secret) else str(target)

    @classmethod
    def short_name(cls, label: str) -> str:
        """The database's name (the URI's path, or its `dbname=`), else "postgres"."""
        parts = urllib.parse.urlsplit(label)
        name = urllib.parse.unquote(parts.path.strip("/")) or dict(
            urllib.parse.parse_qsl(parts.query)).get("dbname", "")
        return name or "postgres"

    @classmethod
    def with_secret(cls, target: Any, secret: str) -> Secret:
        """The password as libpq's `password` parameter of the URI."""
        if "***" in str(target):  # a Secret's text is redacted: a password typed in it
            raise UsageError("the target has a password already: give it in one place, "
                             "password_env")
        text = reveal(target)
        base, hash_, fragment = text.partition("#")  # type: ignore[union-attr]
        joiner = "&" if "?" in base else "?"
        password = urllib.parse.quote(secret, safe="")
        return Secret(f"{base}{joiner}password={password}{hash_}{fragment}")

    def __init__(self, target: str | Secret, *, read_only: bool) -> None:
        #: the client's URI (held as a Secret: no frame of a traceback shows a password)
        self._uri = Secret(client_uri(reveal(target)))  # type: ignore[arg-type]
        self.label = redact(str(target))
        self.server = server_of(str(target))
        self.read_only = read_only
        self.session = Session()
        self._session_lock = threading.Lock()
        #: the engine's SQL functions and keywords (read once, by the first catalog read)
        self.words: tuple[tuple[str, ...], tuple[str, ...], frozenset[str]] | None = None
        #: oids of types whose binary form is their text (enums, citext...), read when needed,
        #: and of the types looked up (read again when one not among them comes)
        self._text_types: frozenset[int] = frozenset()
        self._types_seen: frozenset[int] = frozenset()
        #: the user set statement_timeout: sqlnb's backstop leaves it alone from then on
        self.user_timeout = False
        self._cancels: set[threading.Thread] = set()
        self._cancels_lock = threading.Lock()

    def connect(self) -> Any:
        """A new connection to the server (autocommit: sqlnb sends BEGIN and COMMIT itself),
        or the client's error with a message that names the server and no secret."""
        try:
            return adbc.connect(self._uri.reveal(), autocommit=True)
        except adbc_driver_manager.Error as error:
            failure = adbc_driver_manager.OperationalError(
                _connect_message(str(error), self.server),
                status_code=adbc_driver_manager.AdbcStatusCode.IO)
        raise failure  # outside the except: no chain to the client's frames (they hold the URI)

    # -- links ---------------------------------------------------------------------------------
    def open_reader(self) -> PostgresLink:
        return PostgresLink(self, reader=True)

    def open_writer(self) -> PostgresLink:
        return PostgresLink(self, reader=False)

    def open_isolated(self) -> PostgresLink:
        return PostgresLink(self, reader=False)

    def cancel_soon(self, link: PostgresLink, serial: int) -> None:
        """Send a cancel for the link's statement from a thread of its own (it may block)."""
        thread = threading.Thread(target=self._cancel, args=(link, serial),
                                  name="sqlnb-pg-cancel", daemon=True)
        with self._cancels_lock:
            self._cancels.add(thread)
        thread.start()

    def _cancel(self, link: PostgresLink, serial: int) -> None:
        try:
            link.cancel(serial)
        finally:
            with self._cancels_lock:
                self._cancels.discard(threading.current_thread())

    def close(self) -> None:
        with self._cancels_lock:
            pending = list(self._cancels)
        for thread in pending:  # a cancel still under way: a moment for it (a frozen server
            thread.join(5)  # can hold it longer; it is a daemon and ends with the process)

    # -- SQL -----------------------------------------------------------------------------------
    def statements(self, sql: str) -> tuple[Statement, ...]:
        statements = split(sql)
        temp = self.session.temp
        if temp:  # a read naming a TEMP table goes to the writer, whose session has it (on a
            # reader the name would fail, or worse, find a table of the same name it shadows)
            statements = tuple(dataclasses.replace(s, writes=True) if not s.surely_writes
                               and not _names(s.text).isdisjoint(temp) else s
                               for s in statements)
        if self.read_only:
            for statement in statements:
                if _leaves_read_only(statement):
                    raise UsageError(
                        f"this Database is read-only (read_only=True), and "
                        f"{shorten(statement.text, 40)!r} would let its sessions write: it is "
                        "refused (a read-only role on the server is the real guard)")
        return statements

    def show_frames(self, link: Link, frames: Mapping[str, Any], control: Control
                    ) -> Callable[[], None]:
        # a TEMP table each on the writer's connection, by COPY, in the statement's
        # transaction; named as PostgreSQL folds the unquoted name (lower case)
        import pyarrow as pa

        made: list[str] = []

        def undo() -> None:
            for name in made:
                link.execute_sql(  # type: ignore[attr-defined]
                    f"DROP TABLE IF EXISTS pg_temp.{_quote(name)}")

        rows = control.rows
        try:
            for name, df in frames.items():
                arrow = pa.Table.from_pandas(df, preserve_index=False)
                link.ingest(arrow.to_reader(), None, name.lower(),  # type: ignore[attr-defined]
                            "create", control, temporary=True)
                made.append(name.lower())
        except BaseException:
            with contextlib.suppress(adbc_driver_manager.Error):
                undo()
            raise
        control.rows = rows
        return undo

    def saved_result_sql(self, name: str, query: str, *, materialize: bool,
                         previous: str | None) -> list[str]:
        # a view saved again is replaced in place: PostgreSQL refuses to drop a view that
        # another named result reads (and CREATE OR REPLACE keeps them reading it); its
        # columns must then keep their names and types, or PostgreSQL says so
        if previous == "view" and not materialize:
            return [f"CREATE OR REPLACE TEMP VIEW {name} AS {query}"]
        return super().saved_result_sql(name, query, materialize=materialize,
                                        previous=previous)

    def adapt_parameter(self, value: Any, name: str) -> Any:
        """What the driver binds: a date stays a date, a Decimal a numeric, numpy scalars
        become Python values; a dict, list, tuple or set is a UsageError (json.dumps it)."""
        return bound(value, f":{name}")

    def quartiles_sql(self, table: str, column: str) -> str:
        x = f"CAST({column} AS DOUBLE PRECISION)"
        at = [f"percentile_cont({p}) WITHIN GROUP (ORDER BY {x})" for p in (0.25, 0.5, 0.75)]
        return f"SELECT count({x}), min({x}), {', '.join(at)}, max({x}) FROM {table}"

    def float_sql(self, expression: str) -> str:
        return f"CAST({expression} AS DOUBLE PRECISION)"

    def orderable(self, declared: str) -> bool:
        return not re.match(r"(boolean|json|xml|point|line|lseg|box|path|polygon|circle"
                            r"|tsvector|tsquery|txid_snapshot|pg_snapshot)\b", declared)

    def insert_work(self, df: Any, table: str, *, if_exists: str
                    ) -> Callable[[Link, Control], int]:
        import pyarrow as pa

        parts = split_name(table)
        schema, name = (parts[0], parts[1]) if len(parts) == 2 else (None, table)
        arrow = pa.Table.from_pandas(df, preserve_index=False)
        mode = {"fail": "create", "append": "append", "replace": "replace"}[if_exists]

        def work(link: Link, control: Control) -> int:
            start = control.rows

            def counted() -> Iterator[Any]:
                for batch in arrow.to_batches(max_chunksize=65_536):
                    yield batch
                    control.rows += batch.num_rows

            reader = pa.RecordBatchReader.from_batches(arrow.schema, counted())
            link.ingest(reader, schema, name, mode, control)  # type: ignore[attr-defined]
            control.rows = start + len(df)
            return len(df)

        return work

    # -- routing and the session ---------------------------------------------------------------
    @property
    def reads_need_writer(self) -> bool:
        return bool(self.session.temp)

    def prepare_reader(self, link: Link) -> None:
        pass  # the link brings itself up to date before its statement (PostgresLink.ready)

    def replay(self, link: PostgresLink) -> None:
        """Give a reader the session's settings (then its read-only guard again, which a
        replayed RESET ALL would have undone)."""
        session = self.session
        try:
            for name, statement in session.settings:
                if name not in _READ_WRITE_SETTINGS:
                    link.execute_sql(statement)
            link.execute_sql("SET default_transaction_read_only = on")
        except adbc_driver_manager.Error as error:
            log.warning("sqlnb: could not apply the session's settings to a reader: %s", error)
        link.timeout = None  # (a RESET may have reset it)
        link.version = session.version

    def reroute(self, link: Link, task: Task, error: BaseException) -> bool:
        state = sqlstate(error)
        statement = task.statement
        if state == "25006" and statement is not None:  # PostgreSQL says it writes
            task.control.is_write = True
            task.groupable = task.transaction = not statement.runs_alone
            return True
        if state in ("42P01", "42883") and self.session.temp:  # it reads TEMP objects
            task.groupable = task.transaction = False
            return True
        return False

    def after(self, link: PostgresLink, statement: Statement) -> None:
        """After a statement on the writer: note what the readers must share with it."""
        if link.reader:
            return
        keyword = statement.keyword
        if keyword in ("SET", "RESET", "DISCARD"):
            name = _setting(statement)
            if name is not None:
                if name == "statement_timeout" or name == "all":
                    self.user_timeout = name == "statement_timeout" or self.user_timeout
                    link.timeout = None
                if link.in_transaction:
                    link.pending.append((name, statement.text))
                else:
                    self._settings([(name, statement.text)])
        if keyword in ("COMMIT", "END") or (keyword == "ROLLBACK" and statement.ends_transaction
                                            ) or keyword == "ABORT":
            self.end_transaction(link, committed=keyword in ("COMMIT", "END"))
        if keyword in _DDL or keyword in ("SELECT", "WITH"):
            self._refresh(link, keyword)

    def end_transaction(self, link: PostgresLink, committed: bool) -> None:
        """The writer's transaction ended: its SETs are the session's now, or undone."""
        pending, link.pending = link.pending, []
        link.timeout = None  # (a SET in it was undone or kept)
        if committed and pending:
            self._settings(pending)

    def _settings(self, made: list[tuple[str, str]]) -> None:
        with self._session_lock:
            settings = list(self.session.settings)
            for name, statement in made:
                if name == "all":
                    settings = []
                settings = [s for s in settings if s[0] != name]
                settings.append((name, statement))
            self.session = dataclasses.replace(
                self.session, version=self.session.version + 1, settings=tuple(settings))

    def _refresh(self, link: PostgresLink, keyword: str) -> None:
        """After DDL: the session's TEMP objects, and the text-like types, read again."""
        temp = frozenset(name for (name,) in link.query_sql(
            "SELECT relname::text FROM pg_class WHERE relnamespace = pg_my_temp_schema() "
            "AND relkind IN ('r', 'v', 'm', 'p', 'f')"))
        if temp != self.session.temp:
            with self._session_lock:
                self.session = dataclasses.replace(
                    self.session, version=self.session.version + 1, temp=temp)
        if keyword in ("CREATE", "ALTER", "DROP"):
            self._types_seen = frozenset()  # a new type is looked up when it comes

    def is_text_type(self, oid: int) -> bool:
        """Whether values of the type `oid` are sent as their text (an enum, citext...)."""
        if oid not in self._types_seen:
            # the link's connection is busy with the result: a connection of its own
            try:
                with contextlib.closing(self.connect()) as conn, conn.cursor() as cursor:
                    cursor.execute(_TEXT_TYPES)
                    found = cursor.fetchall()
            except adbc_driver_manager.Error:
                found = []
            self._text_types = frozenset(n for n, text in found if text)
            self._types_seen = frozenset(n for n, _text in found) | {oid}
        return oid in self._text_types



#: The types whose binary form is their text: enums, and types sent by text's own functions.
_TEXT_TYPES = ("SELECT t.oid::bigint, t.typtype = 'e' OR coalesce(p.prosrc IN ('textsend', "
               "'varcharsend', 'bpcharsend', 'enum_send'), false) FROM pg_type t "
               "LEFT JOIN pg_proc p ON p.oid = t.typsend")


def _leaves_read_only(statement: Statement) -> bool:
    """Whether a statement would let a read-only session write (research section 4): BEGIN or
    SET TRANSACTION ... READ WRITE, a setting of read-only-ness (or all of them), set_config()."""
    words = [t[2].upper() for t in _significant(statement.text) if t[0] == "word"]
    if "WRITE" in words and statement.keyword in ("BEGIN", "START", "SET"):
        return True
    if "SET_CONFIG" in words:  # set_config('default_transaction_read_only', 'off', ...)
        text = statement.text.lower()
        return any(name in text for name in _READ_WRITE_SETTINGS)
    return statement.keyword in ("SET", "RESET", "DISCARD") and _setting(statement) in (
        *_READ_WRITE_SETTINGS, "all")


def _connect_message(text: str, server: str) -> str:
    """libpq's reason a connection failed, in one line naming the server (never a secret)."""
    found = re.search(r"Failed to connect: (.*)", text, re.DOTALL)
    reason = (found.group(1) if found else text).strip()
    reason = re.sub(r'^connection to server at "[^"]*"(?: \([^)]*\))?, port \d+ failed: ', "",
                    reason)
    reason = " ".join(reason.replace("FATAL:", "").split())
    return redact(f"cannot connect to the PostgreSQL server at {server}: {reason}")

