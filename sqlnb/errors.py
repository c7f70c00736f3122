"""The errors sqlnb raises, in one tree, the same on every engine.

```
Exception
├── Error                          * the base of every class marked *, to catch sqlnb's own errors
│   ├── QueryInterrupted           * a query stopped before it finished
│   │   ├── QueryTimeout           * ... because it reached its time limit
│   │   └── QueryCancelled         * ... because someone cancelled it (Cancel, Stop, q.cancel())
│   ├── TransactionRolledBack      * the transaction the user opened (BEGIN) was given up whole
│   │                                by the engine, so this write is not in the database
│   ├── DatabaseClosed             * the Database was closed before or while the call ran
│   ├── BackgroundWriteError       * writes queued with block=False failed; raised by
│   │                                Database.flush() / wait_for_writes()
│   └── UsageError (also ValueError) * a call was given something it cannot use: an empty
│                                    statement, several where one is expected, a parameter the
│                                    SQL does not use, a bad time limit, an unknown option
└── the engine's own errors        sqlite3.Error, duckdb.Error, pyspark's PySparkException ...
                                   pass through with their type and message; sqlnb adds `.sql`
                                   (the statement) and a note naming it (Database.error_types)
```

An engine may give sqlnb's errors bases of its own (`Backend.error_bases`): on SQLite,
QueryInterrupted (so QueryTimeout and QueryCancelled) and TransactionRolledBack are also
`sqlite3.OperationalError`, and DatabaseClosed a `sqlite3.ProgrammingError`, so code written
against the `sqlite3` module keeps catching them there. The control plane raises such an error
as a subclass of both (`flavour`: same name, one class per engine and error); on DuckDB or Spark
a QueryTimeout is no sqlite3 error. On an engine with transactions (SQLite, DuckDB) a cancelled
or timed-out write has been rolled back whole by the time the error is raised; Spark SQL has
none, so there `QueryInterrupted.applied` says what is known: nothing of it is in the database
(False), or it may be (None).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TypeVar

__all__ = [
    "BackgroundWriteError",
    "DatabaseClosed",
    "Error",
    "QueryCancelled",
    "QueryInterrupted",
    "QueryTimeout",
    "TransactionRolledBack",
    "UsageError",
]

E = TypeVar("E", bound=BaseException)
#: An engine's bases for sqlnb's errors: {QueryInterrupted: (sqlite3.OperationalError,), ...}
ErrorBases = Mapping[type, tuple[type, ...]]


class Error(Exception):
    """Base class of every error sqlnb raises itself."""

    sql: str | None = None


class UsageError(Error, ValueError):
    """A call was given something it cannot use; the message says what and how to fix it."""


class DatabaseClosed(Error):
    """The Database was closed, so it cannot run this call."""

    #: for a write the close stopped while it ran: as QueryInterrupted.applied
    applied: bool | None = False


class QueryInterrupted(Error):
    """A query stopped before it finished; see QueryTimeout and QueryCancelled."""

    def __init__(self, message: str, *, sql: str | None = None, elapsed: float = 0.0,
                 is_write: bool = False, applied: bool | None = False) -> None:
        super().__init__(message)
        self.sql = sql
        self.elapsed = elapsed
        #: True when the query was a write (see `applied` for what became of it).
        self.is_write = is_write
        #: For a write: False when nothing of it is in the database (rolled back, or stopped
        #: before it began); None when it may be there, whole or in part: an engine without
        #: transactions (Spark SQL) was stopped while it ran, after which its changes can have
        #: been made. A write that finished before the stop came is not an error: it is done.
        self.applied = applied


class QueryTimeout(QueryInterrupted):
    """A query reached its time limit and the engine stopped it."""

    def __init__(self, message: str, *, time_limit: float, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.time_limit = time_limit


class QueryCancelled(QueryInterrupted):
    """A query was cancelled (QueryHandle.cancel(), the widget's Cancel, the kernel's Stop)."""


class TransactionRolledBack(Error):
    """The engine gave up the transaction the user opened (SQLite rolled it back on a trigger's
    RAISE(ROLLBACK) or an interrupted write; DuckDB aborts it on any failed statement), so this
    write, made in it or queued for it, is not in the database.

    Writes are refused with this error until the user ends that transaction: ROLLBACK ends it
    quietly, COMMIT raises this error once more (nothing of it can be committed).
    """


class BackgroundWriteError(Error):
    """One or more writes queued with ``block=False`` failed; ``.errors`` lists (sql, error)."""

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        sql, first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        kind = type(first).__name__
        super().__init__(f"a background write failed{more}: {kind}: {first} -- in: {shorten(sql)}")
        self.errors = errors
        self.sql = sql


def shorten(sql: str, width: int = 80) -> str:
    """One line of SQL for a message: whitespace collapsed, cut at `width` characters."""
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def annotate(error: BaseException, sql: str) -> BaseException:
    """Name the SQL on an engine's error (an attribute, and a note where Python has notes)."""
    if getattr(error, "sql", None) is None:
        try:
            error.sql = sql  # type: ignore[attr-defined]
        except AttributeError:
            return error
        if hasattr(error, "add_note"):
            error.add_note(f"in SQL: {shorten(sql)}")
    return error


def ended_transaction(name: str, operation: str, nested: str = "") -> UsageError:
    """The error for a write function `name` that tried to `operation` (COMMIT, ROLLBACK, ...)
    the transaction execute_write_fn runs it in; `nested` names the engine's way to undo a
    block alone, where it has one (SQLite's `with conn:`)."""
    alone = f"use {nested} for a block that is undone alone, " if nested else ""
    return UsageError(
        f"{name} tried to {operation} the transaction execute_write_fn runs it in; nothing was "
        f"committed and the transaction was rolled back. Let fn return to commit (or raise to "
        f"roll back), {alone}or pass transaction=False to manage transactions yourself")


# -- an engine's bases for sqlnb's errors ----------------------------------------------------

_flavours: dict[tuple[type, tuple[type, ...]], type] = {}
_flavours_lock = threading.Lock()


def flavour(cls: type[E], bases: ErrorBases) -> type[E]:
    """`cls` as an engine raises it: a subclass of `cls` and of the bases `bases` gives it (or
    any class it derives from: QueryTimeout takes QueryInterrupted's), with the same name; `cls`
    itself when `bases` gives none. One class per (error, bases), made once."""
    neutral: type[E] = getattr(cls, "_neutral", cls)
    extra = tuple(dict.fromkeys(base for kind in neutral.__mro__
                                for base in bases.get(kind, ())))
    if not extra:
        return neutral
    key = (neutral, extra)
    made = _flavours.get(key)
    if made is None:
        with _flavours_lock:
            made = _flavours.get(key)
            if made is None:
                made = type(neutral.__name__, (neutral, *extra), {
                    "__module__": neutral.__module__, "__qualname__": neutral.__qualname__,
                    "__doc__": neutral.__doc__, "_neutral": neutral})
                _flavours[key] = made
    return made  # type: ignore[return-value]


def flavoured(error: E, bases: ErrorBases) -> E:
    """`error`, one of sqlnb's own, made an instance of its class as the engine raises it (see
    `flavour`); any other error as it is."""
    if bases and isinstance(error, Error):
        error.__class__ = flavour(type(error), bases)
    return error
