"""`sqlnb.connect()` and `Database`: async methods, DataFrame-returning calls, query handles.

Every call builds a task and hands it to the dispatcher (_dispatch.py): reads to the read pool,
writes to the writer thread; the engine (engines/) runs it on a link. The task is its own reply
(a `Reply`, _reply.py, a lean one-shot future), wrapped in a `QueryHandle`, so one code path
serves a sync caller (`.result()`), an async one (`await`) and the progress widget
(`.progress`, `.cancel()`). The async and sync methods are thin twins over it.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import functools
import itertools
import logging
import math
import os
import threading
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import _sql
from ._control import QUEUED, Control, Progress
from ._dispatch import Dispatch
from ._explore import Explorer
from ._import import checked_encoding, import_work, source_format
from ._redact import Secret, hold
from ._task import SmallFrame, Stopped, Task, settle
from .cache import CACHE, CacheHit, params_key
from .engines import engine_for, open_backend
from .engines.sqltext import split_name, tokens
from .errors import (
    BackgroundWriteError,
    Error,
    QueryCancelled,
    UsageError,
    annotate,
    shorten,
)
from .history import HISTORY, filtered
from .results import Catalog, Result

if TYPE_CHECKING:
    import pandas as pd

    from ._explore_view import View
    from .engines.base import Link
    from .engines.sqltext import Statement

__all__ = ["Database", "Options", "QueryHandle", "connect", "options"]

#: First keywords, besides DDL's (Statement.changes_session), after which the names a Database
#: knows may differ: the current schema (USE), a database imported or an extension's functions
#: loaded (DuckDB), and DDL of the user's transaction committed or rolled back
_RENAMING = frozenset({"USE", "IMPORT", "LOAD", "COMMIT", "END", "ROLLBACK"})

log = logging.getLogger("sqlnb")
T = TypeVar("T")

#: Rows per chunk for iter_chunks() and stream() unless the call says otherwise.
CHUNK_ROWS = 10_000
#: How many chunks a stream's worker may run ahead of its consumer.
CHUNKS_AHEAD = 2
_END = object()


@dataclass
class Options:
    """Defaults for every Database; a Database's own settings and each call's arguments win.

    `sqlnb.options.time_limit = 120` raises the default limit everywhere at once (it is read
    when each query starts). `math.inf` (or None) means no limit.
    """

    #: seconds a query may run before SQLite stops it
    time_limit: float | None = 30.0
    #: reader threads per Database
    threads: int = 3
    #: seconds a connection waits for another's lock before "database is locked"
    busy_timeout: float = 5.0
    #: statements the query history keeps in memory (the oldest go first): db.history()
    history_size: int = 1000
    #: bytes of DataFrames the result cache keeps, for every Database (the least recently
    #: used go first): query(cache=True), %%sql --cache
    cache_bytes: int = 256 * 2**20


#: The process-wide defaults (see Options).
options = Options()
DEFAULTS = options  # the same object, where a parameter named `options` hides the name


def check_seconds(value: object, name: str = "time_limit") -> float | None:
    """A validated time limit in seconds: None (inherit), a positive number, or math.inf; a
    UsageError naming `name` for anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise UsageError(f"{name} must be a number of seconds (or math.inf for no limit), "
                         f"not {value!r}")
    if value <= 0:
        raise UsageError(f"{name} must be more than 0 seconds, not {value!r}; "
                         "use math.inf for no limit")
    return float(value)


class QueryHandle:
    """A query queued or running: wait for it, await it, cancel it, or watch its progress.

    `cancel()` is safe from any thread at any moment, and twice. A sync wait that gets a
    KeyboardInterrupt (the kernel's Stop button) cancels the query, waits for the worker to let
    go of the connection, then lets the interrupt through.
    """

    __slots__ = ("__weakref__", "_cache", "_task")

    def __init__(self, task: Task, cache: CacheHit | str | None = None) -> None:
        self._task = task
        self._cache = cache

    @property
    def from_cache(self) -> bool:
        """True when the result cache gave this result (submit's `cache`): nothing ran."""
        return isinstance(self._cache, CacheHit)

    @property
    def cache_line(self) -> str | None:
        """What the cache says of this result, for the line under it: "from cache · 3 min old
        · no writes since" (or "· may be stale" where sqlnb cannot know), or why a result
        asked to be cached was not ("not cached: random() is not deterministic"); None when
        no cache was asked for, or it has nothing to say."""
        if isinstance(self._cache, CacheHit):
            return self._cache.line()
        return self._cache

    @property
    def sql(self) -> str:
        """The SQL this handle runs."""
        return self._task.sql

    @property
    def progress(self) -> Progress:
        """Elapsed seconds, the time limit, rows fetched so far and VM steps, as a snapshot."""
        return self._task.control.progress()

    @property
    def first_rows(self) -> pd.DataFrame | None:
        """The first rows of a result while the rest is fetched (the engine keeps them aside
        from its first batch: DuckDB, PostgreSQL, SQLite; the progress widget shows them), or
        None: before they arrive,
        for a SQLite result of a few hundred rows (fetched whole at once), and on Spark, which
        sends a result whole."""
        preview = self._task.control.preview
        if preview is None:
            return None
        from .results import rows_to_dataframe

        return rows_to_dataframe(preview[1], preview[0])

    def cancel(self) -> bool:
        """Stop the query; False if it had already finished. A write is rolled back whole where
        the engine has transactions (SQLite, DuckDB, PostgreSQL); on Spark its error's
        `applied` says what
        is known, and one that finished before the stop came is done (no error)."""
        return _cancel(self._task)

    @property
    def is_write(self) -> bool:
        """True when the query runs on the writer (see cancel() for what a stop undoes)."""
        return self._task.control.is_write

    def done(self) -> bool:
        """True once the query has finished, failed or been stopped."""
        return self._task.done()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the query is over (True) or `timeout` seconds pass (False); no raise.

        The progress widget waits in slices this way, updating itself in between.
        """
        return self._task.wait(timeout)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the query and return its value (or raise its error).

        `timeout` bounds the wait only (TimeoutError); the query goes on under its own limit.
        """
        future = self._task
        try:
            return future.result(timeout)
        except KeyboardInterrupt:
            self.cancel()
            if not future.wait(10):
                log.warning("sqlnb: a cancelled query has not stopped after 10 s: %s",
                            shorten(self.sql))
            raise
        except QueryCancelled as error:
            if self._task.control.keyboard:  # Ctrl-C reached SQLite in this thread (threads=0)
                raise KeyboardInterrupt from error
            raise

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the query; its error, or None if it succeeded."""
        return self._task.exception(timeout)

    def add_done_callback(self, fn: Callable[[QueryHandle], object]) -> None:
        """Call `fn(handle)` when the query is over (at once if it already is), in any thread."""
        self._task.add_done_callback(lambda _future: fn(self))

    def __await__(self) -> Any:
        return self._wait().__await__()

    async def _wait(self) -> Any:
        return await _await_task(self._task)

    def __repr__(self) -> str:
        p = self.progress
        return f"<QueryHandle {p.state} {p.elapsed:.2f}s rows={p.rows} {shorten(self.sql, 40)!r}>"


def _cancel(task: Task) -> bool:
    """Stop a task (see QueryHandle.cancel)."""
    prior = task.control.cancel()
    if prior == QUEUED:
        settle(task, error=Stopped())
    return prior is not None


def _waiter(task: Task) -> asyncio.Future[None]:
    """A future of the running loop, completed through the loop's mailbox when `task` is over."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    task.add_done_callback(functools.partial(_mailbox(loop).post, waiter))
    return waiter


async def _await_task(task: Task) -> Any:
    """Wait for a task on the running event loop; cancelling the wait cancels the query."""
    if not task.done():
        try:
            await _waiter(task)
        except asyncio.CancelledError:
            _cancel(task)
            raise
    return task.result()


class _Mailbox:
    """Wakes the waiters of one event loop: one `call_soon_threadsafe` per burst, not per reply.

    The writer settles a whole group of writes at once; one self-pipe write for all of them
    spares the writer a system call per write. It holds its loop weakly, so a loop that is
    dropped can go (the table of mailboxes is keyed weakly by loop).
    """

    __slots__ = ("__weakref__", "_lock", "_loop", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._lock = _thread.allocate_lock()
        self._waiters: list[asyncio.Future[None]] = []

    def post(self, waiter: asyncio.Future[None], _reply: object = None) -> None:
        """Have the loop wake `waiter` (callable as a reply's done-callback)."""
        with self._lock:
            self._waiters.append(waiter)
            if len(self._waiters) > 1:
                return  # a drain is already on its way
        loop = self._loop()
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


_mailboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Mailbox] = (
    weakref.WeakKeyDictionary())
_last_mailbox: _Mailbox | None = None  # the last one asked for: a loop is usually the same one


def _mailbox(loop: asyncio.AbstractEventLoop) -> _Mailbox:
    global _last_mailbox
    mailbox = _last_mailbox
    if mailbox is not None and mailbox._loop() is loop:
        return mailbox
    mailbox = _mailboxes.get(loop)
    if mailbox is None:
        mailbox = _mailboxes.setdefault(loop, _Mailbox(loop))
    _last_mailbox = mailbox
    return mailbox


_DEFAULT: Any = object()
_serials = itertools.count(1)


class Database:
    """A database (SQLite, DuckDB, Spark, PostgreSQL or a plug-in's engine): reads on a pool of
    threads, writes through one writer thread.

    Every query runs under a time limit that the engine enforces: the call's `time_limit`, else the
    Database's, else `sqlnb.options.time_limit` (30 s unless changed). Open it with
    `sqlnb.connect()`; close it with `close()`, a `with` block, or let interpreter exit do it.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        time_limit: float | None = None,
        threads: int | None = None,
        **options: Any,
    ) -> None:
        target = hold(_target(target, options))  # type: ignore[assignment]  # shown redacted
        self._time_limit = check_seconds(time_limit)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 0):
            raise UsageError(f"threads must be a whole number, 0 or more, not {threads!r}")
        backend = open_backend(target, read_only=bool(read_only), options=options)
        if threads is None:  # the engine's own default, else the process-wide one
            threads = backend.default_threads or DEFAULTS.threads
        try:
            self._dispatch = Dispatch(backend, threads=threads)
        except BaseException:
            backend.close()
            raise
        self._backend = backend
        self._explorer = Explorer(backend)
        self._finalizer = weakref.finalize(self, self._dispatch.close)
        self._threads = threads
        self._background_lock = threading.Lock()
        self._background_errors: list[tuple[str, BaseException]] = []
        #: bumped when a statement through sqlnb may have changed the names in the database
        self._schema_version = 0
        self._catalog: tuple[int, Catalog] | None = None
        self._catalog_reading: tuple[int, Task] | None = None
        #: the named results saved on this Database (save_result), by lower-case name
        self._saved: dict[str, _sql.Saved] = {}
        #: this Database among the process's (the history tells them apart by it)
        self._serial = next(_serials)
        #: the done-callback that records each of the user's statements in the history
        self._record = HISTORY.recorder(self._serial, backend.label, backend.name,
                                        backend.dialect)

    # -- about --------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """The database file's path (or URI), or ":memory:" for an in-memory database."""
        return self._backend.label

    @property
    def engine(self) -> str:
        """The engine this Database runs on, by its name: "sqlite", "duckdb", "spark" (or a
        plug-in's: sqlnb.engine.register)."""
        return self._backend.name

    @property
    def error_types(self) -> tuple[type[BaseException], ...]:
        """The errors a query on this Database may raise: the engine's own (sqlite3.Error for
        SQLite) and sqlnb.Error. `except db.error_types:` catches any of them."""
        return (*self._backend.error_types, Error)

    @property
    def read_only(self) -> bool:
        """True when opened read-only (read_only=True, or a `file:` URI with mode=ro): the
        engine refuses writes, and no statement writes another file."""
        return self._backend.read_only

    @property
    def time_limit(self) -> float | None:
        """This Database's default time limit in seconds (None: sqlnb.options.time_limit)."""
        return self._time_limit

    @time_limit.setter
    def time_limit(self, value: float | None) -> None:
        self._time_limit = check_seconds(value)

    @property
    def closed(self) -> bool:
        """True once close() has run."""
        return self._dispatch.closed

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"threads={self._threads}"
        return f"<sqlnb.Database {self.path!r} {state}>"

    def _limit(self, time_limit: float | None) -> float | None:
        """The limit a query runs under: the call's, else the Database's, else the global one."""
        limit, name = time_limit, "time_limit"
        if limit is None:
            limit = self._time_limit
            if limit is None:
                limit, name = options.time_limit, "sqlnb.options.time_limit"
        if type(limit) is float and 0 < limit < math.inf:  # the common case, checked quickly
            return limit
        limit = check_seconds(limit, name)
        return None if limit is None or limit == math.inf else limit

    def _control(self, time_limit: float | None, is_write: bool = False) -> Control:
        return Control(self._limit(time_limit), self._dispatch.timer, is_write=is_write)

    # -- the one path every statement takes ----------------------------------------------------
    def submit(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
               time_limit: float | None = None, dataframe: bool = False,
               frames: Mapping[str, pd.DataFrame] | None = None, cache: bool = False,
               cache_ttl: float | None = None) -> QueryHandle:
        """Start one statement and return its handle at once.

        A read runs on the pool, a write on the writer (as SQLite says, not as the text looks).
        The handle's value is a `Result`, or a DataFrame when `dataframe=True` (built on the
        worker batch by batch, except a result of a few rows, which `result()` builds).

        `frames` ({"df": df}) makes pandas DataFrames readable as tables of those names by this
        statement alone (`SELECT * FROM df JOIN t USING (id)`): DuckDB scans them where they
        are, the other engines get a temporary table (Spark: a temporary view) of each, by
        Arrow, made before the statement and dropped after it, on the writer. A frame's name
        hides a table of the same name for the statement.

        `cache=True` (with dataframe=True) gives the DataFrame of the last run of the same SQL
        with the same parameters on this Database when no write can have changed its answer
        since (sqlnb counts its writes; SQLite's PRAGMA data_version shows other processes';
        DuckDB's file lock lets none write), and keeps this one otherwise. Where sqlnb cannot
        know (Spark, PostgreSQL) only `cache_ttl` seconds cache, "may be stale"; cache_ttl
        also bounds a result's age elsewhere. A statement whose answer changes without a
        write (random(), now(), a file read) or that reads `frames` is never cached.
        `handle.from_cache` and `handle.cache_line` say what happened.
        """
        if cache or cache_ttl is not None:
            return self._cached_submit(sql, params, time_limit, dataframe, frames, cache_ttl)
        return QueryHandle(self._statement_task(sql, params, time_limit, dataframe, frames))

    def _cached_submit(self, sql: str, params: Any, time_limit: float | None, dataframe: bool,
                       frames: Mapping[str, Any] | None, ttl: float | None) -> QueryHandle:
        """submit() with the result cache (see there)."""
        if ttl is not None:
            ttl = check_seconds(ttl, "cache_ttl")
        if not dataframe:
            raise UsageError("the result cache keeps DataFrames: pass dataframe=True "
                             "(db.query does)")
        self._dispatch.check_open()
        sql, params = self._identifiers(sql, params)
        statement = self._single(sql)
        why = self._uncacheable(statement, frames, ttl)
        if why is not None:
            task = self._statement_task(sql, params, time_limit, dataframe, frames)
            return QueryHandle(task, f"not cached: {why}")
        self._backend.check_params(statement, params)
        key = (self._serial, statement.text, params_key(params))
        token = self._cache_token()
        kept = CACHE.get(key)
        if kept is not None:
            age = time.monotonic() - kept.kept
            fresh = kept.token == token and (ttl is None or age <= ttl)
            if fresh:
                frame = kept.frame.copy(deep=False)
                task = Task(None, self._control(time_limit), sql, statement=statement,
                            params=params, frame=True)
                task.set_result(frame)
                HISTORY.record_cached(self._serial, self._backend.label, self._backend.name,
                                      self._backend.dialect, sql, params, len(frame))
                return QueryHandle(task, CacheHit(age, self._backend.knows_changes))
            CACHE.drop(key)
        label = self._backend.label

        def keep(value: Any) -> Any:  # on the worker, before the caller hears of the result
            frame = value.frame() if isinstance(value, SmallFrame) else value
            CACHE.put(key, frame, token, label, statement.text, _cache_budget())
            return frame

        return QueryHandle(self._statement_task(sql, params, time_limit, dataframe,
                                                keep=keep))

    def _uncacheable(self, statement: Statement, frames: Any, ttl: float | None
                     ) -> str | None:
        """Why the statement's result must not be cached, or None."""
        if frames:
            return "it reads DataFrames, which can change without a write"
        if not self._backend.knows_changes and ttl is None:
            return (f"sqlnb cannot see every write to {self._backend.title} (others may "
                    "write to it): give a time to live, --cache-ttl SECONDS (cache_ttl=)")
        tree = _sql.parse(statement.text.strip().rstrip(";").rstrip(), self.dialect)
        if tree is None or not _sql.is_query(tree):
            return "only a query the parser can read is cached"
        return _sql.unknowable(tree, self.dialect, self._backend.volatile_functions)

    def _cache_token(self) -> tuple[Any, ...]:
        """The state a kept result must have been read in to be given again."""
        return (self._dispatch.writes, self._backend.data_version())

    def cache_clear(self) -> int:
        """Forget this Database's kept results (query(cache=True)); how many there were."""
        return CACHE.clear(self._serial)

    def statements(self, sql: str) -> tuple[Statement, ...]:
        """The statements of `sql`, as this Database's engine splits them: each with its
        `.text`, first `.keyword` and `.named` parameters (the %%sql magic runs a cell so)."""
        if not isinstance(sql, str):
            raise UsageError(f"SQL must be a str, not {type(sql).__name__}")
        return self._backend.statements(sql)

    def quote_identifier(self, name: str) -> str:
        """`name` (a table's or a column's) quoted as this Database's engine writes a name that
        holds anything (`"my table"`; Spark: `` `my table` ``), for SQL built in Python."""
        if not isinstance(name, str):
            raise UsageError(f"a name to quote must be a str, not {type(name).__name__}")
        return self._backend.quote_identifier(name)

    def tokens(self, sql: str) -> Iterator[tuple[str, int, str]]:
        """The tokens of `sql` as this Database's engine reads its SQL (its strings, quoted
        names and comments: `$$it's$$` and `E'it\\'s'` on PostgreSQL and DuckDB, `'it\\'s'`
        on Spark), each (kind, start, text), end to end; kind is "ws", "comment", "string",
        "quoted" (a quoted name), "word", "number", "param", "cast", "semi" or "punct". For
        tools that read SQL as the engine will (sqlnb's completion reads a cell with it)."""
        if not isinstance(sql, str):
            raise UsageError(f"SQL must be a str, not {type(sql).__name__}")
        return tokens(sql, self._backend.dialect)

    def adapt_parameter(self, value: Any, name: str = "?") -> Any:
        """A Python value from elsewhere as this Database's engine binds it, or a UsageError
        naming `:name`: the magics bind the notebook's variables so. SQLite binds numbers, text,
        bytes and None, and a date or time as its ISO text; DuckDB, Spark and PostgreSQL bind
        what their clients take (a date stays a DATE; PostgreSQL refuses a dict or a list:
        json.dumps it); numpy scalars become Python values."""
        return self._backend.adapt_parameter(value, name)

    @property
    def dialect(self) -> str:
        """This Database's SQL dialect as sqlglot names it ("sqlite", "duckdb", "spark"; ""
        for sqlglot's generic SQL): what sqlnb parses and writes SQL in."""
        return self._backend.sqlglot_dialect

    # -- named results ------------------------------------------------------------------------
    def save_result(self, name: str, sql: str,
                    params: Sequence[Any] | Mapping[str, Any] | None = None, *,
                    materialize: bool = False, time_limit: float | None = None,
                    block: bool = True, frames: Mapping[str, pd.DataFrame] | None = None
                    ) -> QueryHandle | None:
        """Make the query `sql` a named result: later statements on this Database read it as
        the table `name` (`FROM name`). It is a TEMP VIEW of the session (Spark: a temporary
        view), or with materialize=True a TEMP TABLE of its rows now (Spark: a cached view);
        nothing is written to the database's files. Saving a name again replaces it.

        A name that is a table or view of the database already is refused (the result would
        hide it). A view cannot hold parameters: a query with `:name` parameters needs
        materialize=True, and so does one that reads DataFrames (`frames`, as in submit: a
        view could not read them later). saved_results() lists them, expand(name) writes one
        as a single query with CTEs. block=False returns the save's QueryHandle.
        """
        _check_name(name, "named result")
        sql, params = self._identifiers(sql, params)
        statement = self._single(sql)
        query = statement.text.strip().rstrip(";").rstrip()
        tree = _sql.parse(query, self.dialect)
        if (tree is not None and not _sql.is_query(tree)) or (
                tree is None and statement.keyword not in ("SELECT", "WITH", "VALUES")):
            raise UsageError(f"a named result is a query's rows, and this statement is not a "
                             f"query ({shorten(query, 40)}): save a SELECT")
        if (statement.named or statement.positional) and not materialize:
            raise UsageError("a named result is a view, and a view holds no parameters: save it "
                             "with materialize=True (%%sql --save NAME --materialize), which "
                             "keeps its rows for the values bound now")
        self._backend.check_params(statement, params)
        key = name.lower()
        previous = self._saved.get(key)
        if previous is None and self.tables_named([name], time_limit=time_limit):
            raise UsageError(f"{name!r} is a table or view of the database already: a named "
                             "result of that name would hide it. Choose another name")
        read = _sql.tables_read(tree) if tree is not None else []
        depends = tuple(t for t in read if t.lower() in self._saved and t.lower() != key)
        saved = _sql.Saved(name, query, depends,
                           tuple(t for t in read if t not in depends and t.lower() != key),
                           "table" if materialize else "view")
        work = self._backend.save_result_work(
            self.quote_identifier(name), query, params, materialize=materialize,
            previous=previous.kind if previous else None)
        if frames:
            if not materialize:
                shown = ", ".join(frames)
                raise UsageError(f"a named result that reads DataFrames ({shown}) must keep its "
                                 "rows: save it with materialize=True (%%sql --save NAME "
                                 "--materialize), as a view could not read them later")
            work = self._with_frames(work, self._checked_frames(frames))
        self._dispatch.check_open()
        task = Task(work, self._control(time_limit), f"(save {name}) {query}", params=params,
                    groupable=False)
        task.add_done_callback(self._record)

        def keep(done: Task) -> None:
            if done.exception() is None:
                self._saved[key] = saved

        task.add_done_callback(keep)
        self._watch_schema(task)
        handle = self._submit_write(task)
        if not block:
            return handle
        handle.result()
        return None

    def saved_results(self) -> pd.DataFrame:
        """The named results saved on this Database, in the order they were saved: name, kind
        ("view" or "table"), depends_on (the named results it reads), reads (the other tables
        it reads) and its SQL."""
        import pandas as pd

        rows = [(s.name, s.kind, ", ".join(s.depends), ", ".join(s.reads), s.sql)
                for s in self._saved.values()]
        return pd.DataFrame(rows, columns=["name", "kind", "depends_on", "reads", "sql"])

    def expand(self, name: str) -> str:
        """The named result `name` as one query, in this Database's dialect: each named result
        it reads (directly or not) a CTE before it, in order (for a dashboard, a dbt model or
        another tool)."""
        _check_name(name, "named result")
        if name.lower() not in self._saved:
            known = ", ".join(s.name for s in self._saved.values()) or "none yet"
            raise UsageError(f"no named result {name!r} (saved: {known}): save one with "
                             "%%sql --save NAME or db.save_result(NAME, SQL)")
        return _sql.expand(name, self._saved, self.dialect)

    def names_read(self, sql: str) -> tuple[str, ...]:
        """The unqualified names the one statement `sql` reads as tables (in FROM and JOIN,
        subqueries too, not the names its own WITH defines), in order, as sqlglot parses it
        in the engine's dialect; () when the parser cannot read it (it then runs as it is)."""
        tree = _sql.parse(sql.strip().rstrip(";").rstrip(), self.dialect)
        return tuple(_sql.tables_read(tree)) if tree is not None else ()

    def tables_named(self, names: Iterable[str], *, time_limit: float | None = None
                     ) -> list[str]:
        """Those of `names` that are a table or view of the database (TEMP ones and named
        results too) that an unqualified name in a statement finds, as the engine compares
        names (case-insensitively here). Reads the catalog (kept until a change of schema)."""
        known = {name.lower() for name in self._visible_tables(time_limit)}
        return [name for name in names if name.lower() in known]

    def _visible_tables(self, time_limit: float | None) -> list[str]:
        """The catalog's tables as an unqualified name finds them."""
        catalog = self.catalog(time_limit=time_limit)
        return list(catalog.tables)  # type: ignore[union-attr]

    def _identifiers(self, sql: str, params: Any) -> tuple[str, Any]:
        """`sql` with each IDENTIFIER(:name) replaced by the parameter `name`'s value written
        as one quoted name of the engine (quote_identifier: whatever it holds, it stays a
        name, never SQL), and the parameters no longer named taken out. A table's or column's
        name held in a variable is given so, as on Databricks and Snowflake; a qualified one
        as IDENTIFIER(:schema).IDENTIFIER(:table). The value must be a non-empty str."""
        if not isinstance(params, Mapping) or "identifier" not in sql.lower():
            return sql, params
        significant = [t for t in self.tokens(sql) if t[0] not in ("ws", "comment")]
        pieces: list[str] = []
        last = 0
        replaced: set[str] = set()
        for i in range(len(significant) - 3):
            word, open_, param, close = significant[i:i + 4]
            if not (word[0] == "word" and word[2].upper() == "IDENTIFIER"
                    and open_[2] == "(" and param[0] == "param" and param[2][:1] in ":$@"
                    and close[2] == ")" and param[2][1:] in params):
                continue
            name = param[2][1:]
            value = params[name]
            if not isinstance(value, str) or not value or "\x00" in value:
                raise UsageError(f"IDENTIFIER(:{name}) takes a table's or column's name (a "
                                 f"non-empty str), not {shorten(repr(value), 40)}")
            pieces += [sql[last:word[1]], self._backend.quote_identifier(value)]
            last = close[1] + len(close[2])
            replaced.add(name)
        if not replaced:
            return sql, params
        text = "".join(pieces) + sql[last:]
        still = {t[2][1:] for t in self.tokens(text) if t[0] == "param"}
        return text, {k: v for k, v in params.items() if k not in replaced or k in still}

    def format_sql(self, sql: str, *, strict: bool = False) -> str:
        """`sql` written pretty in the engine's dialect (sqlglot), statement by statement,
        each ending with `;` on a script of several, comments kept (as /* */). A statement the
        parser cannot read, or whose writing would lose a comment, is kept as it is; with
        strict=True it is a UsageError naming it instead (%sqlnb format notes it so)."""
        out = []
        for statement in self.statements(sql):
            text = statement.text.strip().rstrip(";").rstrip()
            pretty = _sql.format_statement(text, self.dialect)
            if pretty is not None:
                written = " ".join(pretty.split())
                lost = [body for body in self._comments(text) if body not in written]
                if lost:
                    pretty = None
            if pretty is None:
                if strict:
                    raise UsageError(f"cannot format {shorten(text, 40)!r}: the parser does "
                                     f"not read it in {self.dialect or 'generic'} SQL (or a "
                                     "comment would be lost); it is left as it is")
                pretty = text
            out.append(pretty)
        if len(out) == 1:
            return out[0]
        return ";\n\n".join(out) + ";"

    def _comments(self, sql: str) -> list[str]:
        """The text of each comment in `sql`, without its marks and spacing."""
        found = []
        for kind, _start, text in self.tokens(sql):
            if kind == "comment":
                body = text[2:-2] if text.startswith("/*") else text[2:]
                body = " ".join(body.split())
                if body:
                    found.append(body)
        return found

    def _single(self, sql: str) -> Statement:
        """The one statement of `sql`, or a UsageError if it holds none or several."""
        statements = self.statements(sql)
        if not statements:
            raise UsageError("the SQL is empty (only blanks or comments): give a statement to run")
        if len(statements) > 1:
            raise UsageError(
                f"this call runs one statement, and the SQL holds {len(statements)}: run them "
                "one by one, or use execute_write_script() for a script")
        return statements[0]

    def _statement_task(self, sql: str, params: Any, time_limit: float | None,
                        dataframe: bool, frames: Mapping[str, Any] | None = None,
                        keep: Callable[[Any], Any] | None = None) -> Task:
        """The task of one statement, submitted. `keep`: called with its value on the worker
        (the result cache), which it returns."""
        self._dispatch.check_open()
        sql, params = self._identifiers(sql, params)
        statement = self._single(sql)
        self._backend.check_params(statement, params)
        alone = statement.runs_alone
        if frames:
            return self._frames_task(statement, params, time_limit, dataframe, frames)
        work = None
        if keep is not None:
            def work(link: Link, control: Control) -> Any:
                return keep(link.run(statement, params, control, dataframe))
        task = Task(work, self._control(time_limit, statement.surely_writes), sql,
                    statement=statement, params=params, frame=dataframe, groupable=not alone,
                    transaction=not alone, reroutable=True)
        task.add_done_callback(self._record)
        if statement.changes_session or statement.keyword in _RENAMING:
            self._watch_schema(task)
        if statement.surely_writes:
            self._dispatch.submit_write(task)
        else:
            self._dispatch.submit_read(task)
        return task

    def _frames_task(self, statement: Statement, params: Any, time_limit: float | None,
                     dataframe: bool, frames: Mapping[str, Any]) -> Task:
        """The task of a statement that reads DataFrames (submit's `frames`): the engine
        shows them on the link that runs it (Backend.show_frames), and takes them away after."""
        def run(link: Link, control: Control) -> Any:
            return link.run(statement, params, control, dataframe)

        work = self._with_frames(run, self._checked_frames(frames))
        backend = self._backend

        on_readers = backend.frames_on_readers and not statement.surely_writes
        alone = statement.runs_alone
        task = Task(work, self._control(time_limit, not on_readers), statement.text,
                    statement=statement, params=params, frame=dataframe, groupable=False,
                    transaction=not alone and not on_readers, reroutable=on_readers)
        task.add_done_callback(self._record)
        if statement.changes_session or statement.keyword in _RENAMING:
            self._watch_schema(task)
        self._dispatch.submit(task, write=not on_readers)
        return task

    @staticmethod
    def _checked_frames(frames: Mapping[str, Any]) -> dict[str, Any]:
        """`frames` checked: str names, pandas DataFrames."""
        import pandas as pd

        checked: dict[str, Any] = {}
        for name, df in frames.items():
            if not isinstance(name, str) or not name.strip():
                raise UsageError(f"a name in frames must be a table's name (a str), not "
                                 f"{name!r}")
            if not isinstance(df, pd.DataFrame):
                raise UsageError(f"frames[{name!r}] is a {type(df).__name__}, not a pandas "
                                 "DataFrame")
            checked[name] = df
        return checked

    def _with_frames(self, inner: Callable[[Link, Control], Any], frames: dict[str, Any]
                     ) -> Callable[[Link, Control], Any]:
        """`inner` with the DataFrames shown on its link first (Backend.show_frames), and
        taken away after it, also after its failure."""
        backend = self._backend

        def work(link: Link, control: Control) -> Any:
            undo = backend.show_frames(link, frames, control)
            try:
                value = inner(link, control)
            except BaseException:
                with contextlib.suppress(Exception):  # (inner's error is the one)
                    undo()
                raise
            undo()
            return value

        return work

    # -- async: the Datasette-shaped API ----------------------------------------------------------
    async def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
                      time_limit: float | None = None) -> Result:
        """Run one statement (read or write) and return its `Result`."""
        return await _await_task(self._statement_task(sql, params, time_limit, False))

    async def execute_fn(self, fn: Callable[[Any], T], *, time_limit: float | None = None) -> T:
        """Run `fn(connection)` on a read-only connection and return its value.

        It runs on a reader; if fn reads TEMP tables or views (which live on the writer's
        connection), it runs again on the writer, under PRAGMA query_only.
        """
        self._dispatch.check_open()
        name = _fn_name(fn)
        task = Task(lambda link, control: link.call(fn, name, read_only=True),
                    self._control(time_limit),
                    name, groupable=False, transaction=False, reads=True,
                    reroutable=True)  # to the writer, if fn reads TEMP objects only it has
        self._dispatch.submit_read(task)
        return await QueryHandle(task)

    async def execute_write(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None,
                            *, block: bool = True, time_limit: float | None = None) -> Any:
        """Run one statement on the writer; with block=False, queue it and return its handle."""
        task = self._write_task(sql, params, time_limit)
        if not block:
            return self._background(QueryHandle(task))
        return await _await_task(task)

    async def execute_write_script(self, sql: str, *, block: bool = True,
                                   time_limit: float | None = None) -> Any:
        """Run several statements on the writer, all in one transaction when they allow it."""
        return await self._await(self._write_script(sql, time_limit), block)

    async def execute_write_many(self, sql: str, params_seq: Iterable[Any], *, block: bool = True,
                                 time_limit: float | None = None) -> Any:
        """Run one statement once per parameter set, in one transaction on the writer."""
        return await self._await(self._write_many(sql, params_seq, time_limit), block)

    async def execute_write_fn(self, fn: Callable[[Any], T], *, block: bool = True,
                               isolated_connection: bool = False, transaction: bool = True,
                               time_limit: float | None = None) -> Any:
        """Run `fn(connection)` on the writer thread.

        With transaction=True it runs in a transaction that commits when fn returns and rolls
        back if fn raises or the query is stopped; there `with conn:` is a savepoint and fn
        may not end the transaction (a COMMIT or ROLLBACK raises UsageError, nothing commits).
        With transaction=False fn gets the connection in autocommit mode, and `with conn:` is
        one transaction for its whole block, DDL included (BEGIN IMMEDIATE ... COMMIT, or
        ROLLBACK of all of it), as with Python 3.12's autocommit=False, not a plain sqlite3
        connection's legacy default (which commits a CREATE TABLE at once). With
        isolated_connection=True fn gets a fresh connection, closed afterwards.
        """
        return await self._await(
            self._write_fn(fn, isolated_connection, transaction, time_limit), block)

    async def wait_for_writes(self) -> None:
        """Wait until every write queued so far has finished; raise BackgroundWriteError for
        writes queued with block=False that failed (each error is reported once)."""
        await self._barrier()
        self._raise_background()

    def stream(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
               chunk_rows: int = CHUNK_ROWS, time_limit: float | None = None
               ) -> AsyncIterator[pd.DataFrame]:
        """`async for chunk in db.stream(sql)`: the result as DataFrames of `chunk_rows` rows.

        The worker runs at most two chunks ahead. The time limit covers the whole stream,
        including the time the loop spends on each chunk; leaving the loop cancels the query.
        """
        task, produce = self._stream_task(sql, params, chunk_rows, time_limit)
        if not self._dispatch.threaded:
            return _aiter(self._dispatch.inline_stream(task, produce))
        return self._stream(task, produce)

    async def _stream(self, task: Task, produce: Callable[..., Iterator[Any]]
                      ) -> AsyncIterator[pd.DataFrame]:
        import janus

        channel: janus.Queue[Any] = janus.Queue()
        handle, slots = self._start_stream(task, produce, channel.sync_q.put)
        try:
            while True:
                item = await channel.async_q.get()
                if item is _END:
                    await handle
                    return
                slots.release()  # the worker may read one chunk more
                yield item
        finally:
            handle.cancel()
            channel.close()
            await channel.wait_closed()

    async def _await(self, handle: QueryHandle, block: bool) -> Any:
        if not block:
            return self._background(handle)
        return await handle

    def _background(self, handle: QueryHandle) -> QueryHandle:
        """A write queued with block=False: its failure is logged and kept for flush()."""
        handle.add_done_callback(_weak(self._note_background))
        return handle

    # -- sync: the notebook and script API --------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
              time_limit: float | None = None,
              frames: Mapping[str, pd.DataFrame] | None = None, cache: bool = False,
              cache_ttl: float | None = None) -> pd.DataFrame:
        """Run one statement and return its rows as a pandas DataFrame.

        A large result is built on the reader, batch by batch, under the time limit; one of a few
        rows comes back whole and is built here (faster than another thread hop). `frames`
        ({"df": df}): DataFrames the statement reads as tables of those names; `cache`,
        `cache_ttl`: the result cache (see submit).
        """
        return self.submit(sql, params, time_limit=time_limit, dataframe=True,
                           frames=frames, cache=cache, cache_ttl=cache_ttl).result()

    def write(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
              block: bool = True, time_limit: float | None = None) -> Any:
        """Run one statement on the writer and return its `Result` (`.rowcount`, `.lastrowid`)."""
        return self._wait(self._write_statement(sql, params, time_limit), block)

    def write_many(self, sql: str, params_seq: Iterable[Any], *, block: bool = True,
                   time_limit: float | None = None) -> Any:
        """Run one statement once per parameter set, in one transaction; `.rowcount` is the sum."""
        return self._wait(self._write_many(sql, params_seq, time_limit), block)

    def write_script(self, sql: str, *, block: bool = True,
                     time_limit: float | None = None) -> Any:
        """Run several statements on the writer, in one transaction when they allow it."""
        return self._wait(self._write_script(sql, time_limit), block)

    def insert_df(self, df: pd.DataFrame, table: str, *,
                  if_exists: Literal["fail", "append", "replace"] = "fail", index: bool = False,
                  time_limit: float | None = None) -> int:
        """Write a DataFrame into `table` through the writer, in one transaction; rows written.

        The table is created with column types from the dtypes (INTEGER, REAL, TEXT, BLOB).
        if_exists: "fail" (the default) raises if the table exists, "append" adds rows,
        "replace" drops it first. index=True writes the index as columns too.
        """
        self._dispatch.check_open()
        df = _checked_frame(df, table, if_exists, index)
        work = self._backend.insert_work(df, table, if_exists=if_exists)
        task = Task(work, self._control(time_limit),
                    f"insert_df(..., {table!r}, if_exists={if_exists!r})")
        self._watch_schema(task)
        self._dispatch.submit_write(task)
        return QueryHandle(task).result()

    def import_file(self, source: str | os.PathLike[str] | pd.DataFrame, table: str, *,
                    if_exists: Literal["fail", "append", "replace"] = "fail",
                    format: Literal["csv", "parquet"] | None = None,
                    encoding: str | None = None, time_limit: float | None = None,
                    block: bool = True) -> int | QueryHandle:
        """Load a CSV or Parquet file (or a DataFrame) into `table` through the writer, in
        chunks, all or nothing; the rows written (a QueryHandle with block=False).

        Types come from the file (pyarrow's readers; DuckDB reads Parquet itself) or the
        DataFrame's dtypes. if_exists: "fail" (the default), "append" or "replace". The format
        follows the suffix (.csv, .tsv, .parquet) unless `format` says. A CSV file is read as
        UTF-8 unless `encoding` names its codec ("latin-1", "cp1252"...); one that is not UTF-8
        is refused, naming the line. A Cancel, an error or the time limit leaves no table and
        no row of it.

        An import has no time limit unless `time_limit` gives one: the Database's default limit
        is for runaway queries, and a large file is not one (Cancel, Stop and `close()` still
        stop it). A file with more columns than the engine lets a table have, or than sqlnb
        reads from a file (10,000), is refused before it is read.
        """
        self._dispatch.check_open()
        _check_name(table, "table")
        parts = split_name(table)
        if len(parts) > 1:
            raise UsageError(f"{table!r} names a table of another schema, and an import goes "
                             "into another schema only through the SQL: import into a plain "
                             'name, then INSERT INTO schema.table SELECT ... (quote a name '
                             'that has a dot in it: \'"a.b"\')')
        table = parts[0]
        if if_exists not in ("fail", "append", "replace"):
            raise UsageError(f"if_exists must be 'fail', 'append' or 'replace', not "
                             f"{if_exists!r}")
        kind = source_format(source, format)
        encoding = checked_encoding(encoding, kind)
        if kind == "dataframe":
            source = _checked_frame(source, table, if_exists, False)
        work = import_work(self._backend, source, kind, table, if_exists, encoding)
        shown = "a DataFrame" if kind == "dataframe" else os.fspath(source)  # type: ignore[arg-type]
        # no limit unless the call gives one (None), not the Database's nor the global one
        limit = None if time_limit is None else self._limit(time_limit)
        task = Task(work, Control(limit, self._dispatch.timer, is_write=True),
                    f"import {shown} into {table} (if_exists={if_exists!r})", groupable=False)
        self._watch_schema(task)
        self._dispatch.submit_write(task)
        handle = QueryHandle(task)
        return handle.result() if block else handle

    def iter_chunks(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
                    chunk_rows: int = CHUNK_ROWS, time_limit: float | None = None
                    ) -> Iterator[pd.DataFrame]:
        """The result as DataFrames of `chunk_rows` rows, for results too big to hold at once.

        The worker runs at most two chunks ahead; closing the iterator cancels the query.
        """
        task, produce = self._stream_task(sql, params, chunk_rows, time_limit)
        if not self._dispatch.threaded:
            return self._dispatch.inline_stream(task, produce)
        return self._iter_chunks(task, produce)

    def _iter_chunks(self, task: Task, produce: Callable[..., Iterator[Any]]
                     ) -> Iterator[pd.DataFrame]:
        import queue

        channel: queue.SimpleQueue[Any] = queue.SimpleQueue()
        handle, slots = self._start_stream(task, produce, channel.put)
        try:
            while True:
                item = channel.get()
                if item is _END:
                    handle.result()
                    return
                slots.release()  # the worker may read one chunk more
                yield item
        finally:
            handle.cancel()

    def tables(self, *, time_limit: float | None = None) -> pd.DataFrame:
        """The tables and views (TEMP ones too), with each table's row count (not a view's: that
        would run its query), as a DataFrame."""
        self._dispatch.check_open()
        task = Task(lambda link, control: link.tables(), self._control(time_limit),
                    "(list the tables)", groupable=False, transaction=False, reads=True)
        return self._read_or_writer(task).result()

    def schema(self, table: str, *, time_limit: float | None = None) -> pd.DataFrame:
        """The columns of a table or view: type, not null, default, primary and foreign keys."""
        self._dispatch.check_open()
        if not isinstance(table, str) or not table.strip():
            raise UsageError(f"table must be a table's name, not {table!r}")
        task = Task(lambda link, control: link.schema(table), self._control(time_limit),
                    f"(the schema of {table!r})", groupable=False, transaction=False, reads=True)
        return self._read_or_writer(task).result()

    def catalog(self, *, time_limit: float | None = None, block: bool = True,
                refresh: bool = False) -> Catalog | QueryHandle:
        """The names completion offers: each table and view with its columns, and the engine's
        SQL functions and keywords.

        Read once and kept until a statement through this Database may have changed them (DDL,
        ATTACH, USE, COMMIT/ROLLBACK, a write function, insert_df, an import); refresh=True
        reads it again (after another process's DDL, which sqlnb cannot see). block=False
        returns a QueryHandle at once (its value the Catalog): the completer waits on it a
        moment and never longer.
        """
        self._dispatch.check_open()
        if refresh:
            self._schema_changed()
        version = self._schema_version
        cached, reading = self._catalog, self._catalog_reading
        if cached is not None and cached[0] == version:
            if block:
                return cached[1]
            task = Task(None, Control(None, self._dispatch.timer), "(read the catalog)")
            task.set_result(cached[1])
            return QueryHandle(task)
        if reading is not None and reading[0] == version and not reading[1].done():
            handle = QueryHandle(reading[1])  # one read at a time, however often Tab is hit
            return handle.result() if block else handle
        task = Task(lambda link, control: link.catalog(control), self._control(time_limit),
                    "(read the catalog)", groupable=False, transaction=False, reads=True)

        def keep(done: Any) -> None:
            if done.exception() is None:
                self._catalog = (version, done.result())

        task.add_done_callback(keep)
        self._catalog_reading = (version, task)
        handle = self._read_or_writer(task)
        return handle.result() if block else handle

    def history(self, *, failed: bool = False, slow: float | None = None,
                last: int | None = None) -> pd.DataFrame:
        """The statements this Database ran, oldest first, one row each: number, started,
        database, engine, sql, params, seconds, rows, outcome ("done", "error", "cancelled",
        "time limit", "closed"), error and cached (a cache gave the result).

        failed=True keeps those that did not end "done"; slow keeps those that ran at least
        that many seconds; last keeps the last N. Secrets are redacted (a URL's password or
        token, parameters named like secrets, the literals of a statement that names one).
        The history is the process's, bounded by sqlnb.options.history_size; %sqlnb history
        shows every Database's."""
        if slow is not None and (isinstance(slow, bool) or not isinstance(slow, (int, float))
                                 or slow < 0):
            raise UsageError(f"slow must be a number of seconds, 0 or more, not {slow!r}")
        if last is not None:
            _check_count(last, "last", 1)
        HISTORY.flush()
        entries = filtered(HISTORY.entries(self._serial), failed=failed, slow=slow, last=last)
        return HISTORY.frame(entries)

    # -- exploring a table, in the engine -------------------------------------------------------
    def profile(self, table: str, *, top: int = 3, time_limit: float | None = None,
                block: bool = True) -> pd.DataFrame | QueryHandle:
        """One row per column of `table`: type, count, nulls, distinct, min, max, mean (numbers)
        and the `top` most frequent values, computed in the engine (only these rows leave it).

        One aggregate query per 100 columns, then one GROUP BY per column that repeats a value;
        block=False returns a QueryHandle (its progress says which step runs).
        """
        _check_name(table, "table")
        _check_count(top, "top", 0)
        work = self._explorer.profile(table, top)
        return self._explore(work, f"(profile {table})", time_limit, block)

    def histogram(self, table: str, column: str, *, bins: int = 20,
                  time_limit: float | None = None, block: bool = True
                  ) -> pd.DataFrame | QueryHandle:
        """A numeric column's histogram, counted in the engine: a row per bin (bin_start,
        bin_end, count) over `bins` equal bins from its min to its max (two queries)."""
        _check_name(table, "table")
        _check_name(column, "column")
        _check_count(bins, "bins", 1, 10_000)
        work = self._explorer.histogram(table, column, bins)
        return self._explore(work, f"(histogram of {table}.{column})", time_limit, block)

    def value_counts(self, table: str, column: str, *, top: int = 20,
                     time_limit: float | None = None, block: bool = True
                     ) -> pd.DataFrame | QueryHandle:
        """The `top` most frequent values of a column (value, count), most frequent first,
        counted in the engine; `.attrs["total"]` is the table's row count."""
        _check_name(table, "table")
        _check_name(column, "column")
        _check_count(top, "top", 1)
        work = self._explorer.value_counts(table, column, top)
        return self._explore(work, f"(value counts of {table}.{column})", time_limit, block)

    def quartiles(self, table: str, column: str, *, time_limit: float | None = None,
                  block: bool = True) -> pd.DataFrame | QueryHandle:
        """A box plot's numbers for a numeric column, computed in the engine: one row with
        count, min, q1, median, q3, max, the whiskers (whislo, whishi: the furthest values
        within 1.5 IQR) and the number of outliers. `.attrs["fliers"]` holds the ones a plot
        draws, ascending: the 500 most extreme at each end (below the lower whisker, above the
        upper one); `.attrs["fliers_left_out"]` says how many others, nearer the whiskers, it
        leaves out. SQLite, which has no percentile function, sorts the column once."""
        _check_name(table, "table")
        _check_name(column, "column")
        work = self._explorer.quartiles(table, column)
        return self._explore(work, f"(quartiles of {table}.{column})", time_limit, block)

    def explore(self, source: str, params: Mapping[str, Any] | None = None, *,
                time_limit: float | None = None, result: pd.DataFrame | None = None) -> View:
        """A `View` of a table (its name) or a query's result, sorted, filtered, searched and
        paged in the engine: each page, count and summary is a query (a read, under the time
        limit), so the result is never fetched whole. What the magics' result explorer draws;
        `params` are the query's own :name parameters. It runs one page now, for the columns,
        unless `result` (the query's whole result, already fetched) gives the columns and
        the row count."""
        from ._explore_view import View

        self._dispatch.check_open()
        view = View(self, source, params, time_limit=time_limit, columns=result)
        if result is not None:
            view.remember_count(len(result))
        return view

    def explain(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
                time_limit: float | None = None) -> str:
        """The engine's plan for one statement, not run, as an indented tree of lines."""
        self._dispatch.check_open()
        sql, params = self._identifiers(sql, params)
        statement = self._single(sql)
        self._backend.check_params(statement, params)
        task = Task(lambda link, control: link.explain(statement, params, control),
                    self._control(time_limit), f"EXPLAIN {sql}", groupable=False,
                    transaction=False, reads=True)
        return self._read_or_writer(task).result()

    def _explore(self, work: Callable[[Link, Control], Any], label: str,
                 time_limit: float | None, block: bool) -> Any:
        self._dispatch.check_open()
        task = Task(work, self._control(time_limit), label, groupable=False,
                    transaction=False, reads=True)
        handle = self._read_or_writer(task)
        return handle.result() if block else handle

    def _watch_schema(self, task: Task) -> None:
        """Once `task` is over, the catalog is read again at its next use."""
        task.add_done_callback(_weak(self._schema_changed))

    def _schema_changed(self, _task: object = None) -> None:
        self._schema_version += 1

    def _read_or_writer(self, task: Task) -> QueryHandle:
        # some objects (SQLite's TEMP tables) live on the writer's link: then look there
        self._dispatch.submit(task, write=self._backend.reads_need_writer)
        return QueryHandle(task)

    def flush(self) -> None:
        """Wait until every write queued so far has finished (the sync twin of wait_for_writes)."""
        self._wait(self._barrier(), True)
        self._raise_background()

    def _wait(self, handle: QueryHandle, block: bool) -> Any:
        if not block:
            return self._background(handle)
        return handle.result()

    # -- building tasks ---------------------------------------------------------------------------
    def _write_statement(self, sql: str, params: Any, time_limit: float | None) -> QueryHandle:
        return QueryHandle(self._write_task(sql, params, time_limit))

    def _write_task(self, sql: str, params: Any, time_limit: float | None) -> Task:
        # the hottest path in sqlnb (every awaited single write): kept to plain steps, with
        # _limit's fast path inline (the calls cost 3% of concurrent write throughput)
        self._dispatch.check_open()
        if type(params) is dict:  # (IDENTIFIER(:name) takes named parameters only)
            sql, params = self._identifiers(sql, params)
        statement = self._single(sql)
        if params is not None and type(params) is not tuple:
            self._backend.check_params(statement, params)
        alone = statement.runs_alone
        limit = time_limit
        if limit is None:
            limit = self._time_limit
            if limit is None:
                limit = options.time_limit
        if type(limit) is not float or not 0 < limit < math.inf:
            limit = self._limit(time_limit)
        task = Task(None, Control(limit, self._dispatch.timer, is_write=True), sql, statement,
                    params, False, not alone, not alone)
        task.add_done_callback(self._record)
        if statement.changes_session or statement.keyword in _RENAMING:
            self._watch_schema(task)
        self._dispatch.submit_write(task)
        return task

    def _write_script(self, sql: str, time_limit: float | None) -> QueryHandle:
        self._dispatch.check_open()
        if not isinstance(sql, str):
            raise UsageError(f"SQL must be a str, not {type(sql).__name__}")
        statements = self._backend.statements(sql)
        if not statements:
            raise UsageError("the script is empty (only blanks or comments): give statements")
        alone = any(s.runs_alone for s in statements)

        def work(link: Link, control: Control) -> Result:
            result = Result([], [])
            for statement in statements:
                try:
                    result = link.run(statement, None, control, False)
                except Exception as error:
                    raise annotate(error, statement.text) from None
            return result

        task = Task(work, self._control(time_limit), sql, groupable=not alone,
                    transaction=not alone)
        task.add_done_callback(self._record)
        if any(s.changes_session or s.keyword in _RENAMING for s in statements):
            self._watch_schema(task)
        return self._submit_write(task)

    def _write_many(self, sql: str, params_seq: Iterable[Any],
                    time_limit: float | None) -> QueryHandle:
        self._dispatch.check_open()
        statement = self._single(sql)
        if isinstance(params_seq, (str, bytes, Mapping)) or not isinstance(params_seq, Iterable):
            raise UsageError("params_seq must be a list (or iterable) of parameter sets, "
                             f"not {type(params_seq).__name__}")

        def work(link: Link, control: Control) -> Result:
            return link.many(statement, params_seq, control)

        # an iterator can be read once only, so it gets a transaction of its own
        task = Task(work, self._control(time_limit), sql, statement=statement,
                    groupable=not isinstance(params_seq, Iterator))
        task.add_done_callback(self._record)
        return self._submit_write(task)

    def _write_fn(self, fn: Callable[[Any], Any], isolated: bool, transaction: bool,
                  time_limit: float | None) -> QueryHandle:
        self._dispatch.check_open()
        if not callable(fn):
            raise UsageError(f"fn must be a callable taking a connection, not {type(fn).__name__}")
        name = _fn_name(fn)

        def work(link: Link, control: Control) -> Any:
            return link.call(fn, name, guarded=transaction)

        task = Task(work, self._control(time_limit), name, groupable=False,
                    transaction=transaction, isolated=isolated)
        self._watch_schema(task)  # fn may create or drop anything
        return self._submit_write(task)

    def _submit_write(self, task: Task) -> QueryHandle:
        self._dispatch.submit_write(task)
        return QueryHandle(task)

    def _note_background(self, handle: QueryHandle) -> None:
        error = handle.exception()
        if error is not None and not isinstance(error, QueryCancelled):
            log.error("sqlnb: a write queued with block=False failed: %s: %s -- in: %s",
                      type(error).__name__, error, shorten(handle.sql))
            with self._background_lock:
                self._background_errors.append((handle.sql, error))
                if len(self._background_errors) > 1000:
                    del self._background_errors[:-1000]

    def _barrier(self) -> QueryHandle:
        self._dispatch.check_open()
        task = Task(lambda link, control: None, Control(None, self._dispatch.timer),
                    "(wait for writes)", groupable=False, transaction=False,  # needs no lock
                    reads=True)
        self._dispatch.submit_write(task)
        return QueryHandle(task)

    def _raise_background(self) -> None:
        with self._background_lock:
            errors, self._background_errors = self._background_errors, []
        if errors:
            raise BackgroundWriteError(errors)

    def _stream_task(self, sql: str, params: Any, chunk_rows: int, time_limit: float | None
                     ) -> tuple[Task, Callable[[Link, Control], Iterator[Any]]]:
        self._dispatch.check_open()
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise UsageError(f"chunk_rows must be a whole number above 0, not {chunk_rows!r}")
        sql, params = self._identifiers(sql, params)
        statement = self._single(sql)
        self._backend.check_params(statement, params)

        def produce(link: Link, control: Control) -> Iterator[Any]:
            return link.chunks(statement, params, control, chunk_rows)

        task = Task(lambda link, control: None, self._control(time_limit), sql,
                    statement=statement, params=params, groupable=False, transaction=False,
                    reroutable=True)
        task.add_done_callback(self._record)
        return task, produce

    def _start_stream(self, task: Task, produce: Callable[..., Iterator[Any]],
                      put: Callable[[Any], None]) -> tuple[QueryHandle, threading.Semaphore]:
        """Start a chunked read whose worker puts each chunk with `put`, at most CHUNKS_AHEAD
        ahead of the consumer, who releases the semaphore for each chunk taken."""
        slots = threading.Semaphore(CHUNKS_AHEAD)

        def pump(link: Link, control: Control) -> None:
            for chunk in produce(link, control):
                while not slots.acquire(timeout=0.05):
                    if control.reason is not None:
                        raise Stopped()
                put(chunk)

        def finished(_future: object) -> None:
            with contextlib.suppress(Exception):
                put(_END)

        task.work = pump
        task.add_done_callback(finished)
        self._dispatch.submit_read(task)
        return QueryHandle(task), slots

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        """Finish queued writes, stop running reads, close every connection and join every thread.

        Safe to call twice; later calls on this Database raise DatabaseClosed.
        """
        if self._dispatch.in_worker():
            raise UsageError("close() cannot run inside one of this Database's own threads "
                             "(from a function given to execute_fn or execute_write_fn): "
                             "close it after that call returns")
        self._dispatch.close()
        self._finalizer.detach()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


def _weak(method: Callable[[QueryHandle], None]) -> Callable[[QueryHandle], None]:
    """A callback that does not keep its Database alive (a dropped Database must close)."""
    ref = weakref.WeakMethod(method)

    def call(handle: QueryHandle) -> None:
        target = ref()
        if target is not None:
            target(handle)

    return call


def _check_name(value: object, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{what} must be a {what}'s name (a str), not {value!r}")


def _cache_budget() -> int:
    """sqlnb.options.cache_bytes, checked."""
    budget = options.cache_bytes
    _check_count(budget, "sqlnb.options.cache_bytes", 0)
    return budget


def _check_count(value: object, what: str, least: int, most: int | None = None) -> None:
    if (isinstance(value, bool) or not isinstance(value, int) or value < least
            or (most is not None and value > most)):
        upto = f" to {most:,}" if most is not None else " or more"
        raise UsageError(f"{what} must be a whole number, {least}{upto}, not {value!r}")


def _fn_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__qualname__', type(fn).__name__)}(connection)"


async def _aiter(iterator: Iterator[T]) -> AsyncIterator[T]:
    for item in iterator:
        yield item


def _checked_frame(df: Any, table: object, if_exists: object, index: bool) -> Any:
    """insert_df's arguments checked (a UsageError naming what is wrong); the frame to write,
    its index made columns when `index`."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise UsageError(f"insert_df() takes a pandas DataFrame, not {type(df).__name__}")
    if not isinstance(table, str) or not table.strip():
        raise UsageError(f"table must be a non-empty name, not {table!r}")
    if if_exists not in ("fail", "append", "replace"):
        raise UsageError(f"if_exists must be 'fail', 'append' or 'replace', not {if_exists!r}")
    if index:
        df = df.reset_index()
    if len(df.columns) == 0:
        raise UsageError("the DataFrame has no columns: a table needs at least one")
    return df


def _target(target: object, options: dict[str, Any]) -> object:
    """The target connect() was given: `target`, or `path=` as connect() called it before it
    took other engines' targets (a DeprecationWarning says so)."""
    if "path" not in options:
        return target
    if target is not None:
        raise UsageError("give the target once: connect(target), not also path=")
    warnings.warn("connect(path=...) is now connect(target=...), or connect(...) without the "
                  "name", DeprecationWarning, stacklevel=3)
    return options.pop("path")


def connect(
    target: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    time_limit: float | None = None,
    threads: int | None = None,
    **options: Any,
) -> Database:
    """Open a database and return a `Database`; the target picks the engine.

    target: a file (created if missing), a `file:` URI, or None (or ":memory:") for an
    in-memory SQLite database shared by every thread of this Database; `duckdb:///path` or a
    path ending .duckdb or .ddb for DuckDB; `sc://host:port` or `spark:local[N]` for Spark;
    `postgresql://user@host:5432/db` (libpq's URI, with its parameters) or `postgres://...`
    for PostgreSQL (and any engine a plug-in registered: sqlnb.engine.register). read_only=True: the
    Database writes nothing, anywhere (on SQLite `mode=ro`, so SQLite itself refuses writes;
    an ATTACH opens files read-only only, and VACUUM INTO, COPY ... TO and the like are
    refused). time_limit: this Database's default limit in seconds (None:
    sqlnb.options.time_limit; math.inf: none). threads: reader threads (0 runs everything in
    the calling thread).

    Every other keyword is the engine's own option, checked against the ones it declares (one
    it does not take is a UsageError naming whose it is). SQLite: busy_timeout, seconds to wait
    for another process's lock (sqlnb.options.busy_timeout, 5); wal=True puts a writable file
    in WAL mode (reads go on while a write commits) with synchronous=NORMAL (commits survive a
    process crash; a power cut may lose the last ones). Spark: token_env, the environment
    variable that holds the server's token, so no notebook cell holds the secret (a target with
    a secret typed in it works, and sqlnb shows it nowhere, but the cell's source keeps it:
    sqlnb warns once). PostgreSQL: password_env, the variable that holds the password (libpq's
    own PGPASSWORD, ~/.pgpass and PGSERVICE work without it).
    """
    target = hold(_target(target, options))  # type: ignore[assignment]  # shown redacted
    try:
        backend = engine_for(target)
    except UsageError:  # no engine opens it: Database() says so (after the warning, if any)
        backend = None
    if isinstance(target, str) and backend is not None and backend.holds_secret(target):
        target = Secret(target)  # a secret in a form of the engine's own (redact knows URLs')
    if isinstance(target, Secret):
        option = backend.secret_env_option if backend is not None else None
        if option is None or options.get(option) is None:
            warnings.warn(_secret_in_source(option), UserWarning, stacklevel=2)
    return Database(target, read_only=read_only, time_limit=time_limit, threads=threads,
                    **options)


def _secret_in_source(option: str | None) -> str:
    """What connect() says, once per place, of a target with a secret typed in it."""
    instead = f" and pass {option}=NAME" if option else ""
    return ("this target holds a secret, which the code that opens it keeps (a saved "
            f"notebook, a history): put it in an environment variable{instead} (sqlnb shows "
            "it nowhere)")
