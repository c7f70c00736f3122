"""The errors sqlnb raises, in one tree.

```
Exception
├── sqlite3.Error                  SQLite's own errors pass through with their sqlite3 type and
│   │                              message; sqlnb adds `.sql` (the statement) and a note naming it.
│   ├── sqlite3.OperationalError
│   │   ├── QueryInterrupted       * a query stopped before it finished
│   │   │   ├── QueryTimeout       * ... because it reached its time limit
│   │   │   └── QueryCancelled     * ... because someone cancelled it (Cancel, Stop, q.cancel())
│   │   └── TransactionRolledBack  * the transaction the user opened (BEGIN) was rolled back
│   │                                whole by SQLite, so this write is not in the database
│   └── sqlite3.ProgrammingError
│       └── DatabaseClosed         * the Database was closed before or while the call ran
└── ValueError
    └── UsageError                 * a call was given something it cannot use: an empty statement,
                                     several statements where one is expected, a parameter the SQL
                                     does not use, a bad time limit, an unknown option
Error                              * the base of every class marked *, to catch sqlnb's own errors
BackgroundWriteError (Error)       * writes queued with block=False failed; raised by
                                     Database.flush() / wait_for_writes()
```

The sqlnb errors also subclass the sqlite3 (or built-in) type a caller would already catch, so
code written against `sqlite3` keeps working. On an engine with transactions (SQLite, DuckDB) a
cancelled or timed-out write has been rolled back whole by the time the error is raised; Spark SQL
has none, so there `QueryInterrupted.applied` says what is known: nothing of it is in the
database (False), or it may be (None).
"""

from __future__ import annotations

import sqlite3

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


class Error(Exception):
    """Base class of every error sqlnb raises itself."""

    sql: str | None = None


class UsageError(Error, ValueError):
    """A call was given something it cannot use; the message says what and how to fix it."""


class DatabaseClosed(Error, sqlite3.ProgrammingError):
    """The Database was closed, so it cannot run this call."""

    #: for a write the close stopped while it ran: as QueryInterrupted.applied
    applied: bool | None = False


class QueryInterrupted(Error, sqlite3.OperationalError):
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
    """A query reached its time limit and SQLite stopped it."""

    def __init__(self, message: str, *, time_limit: float, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.time_limit = time_limit


class QueryCancelled(QueryInterrupted):
    """A query was cancelled (QueryHandle.cancel(), the widget's Cancel, the kernel's Stop)."""


class TransactionRolledBack(Error, sqlite3.OperationalError):
    """SQLite rolled back the transaction the user opened (a trigger's RAISE(ROLLBACK), an
    interrupted write...), so this write, made in it or queued for it, is not in the database.

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
    """Name the SQL on an error from SQLite (an attribute, and a note where Python has notes)."""
    if getattr(error, "sql", None) is None:
        try:
            error.sql = sql  # type: ignore[attr-defined]
        except AttributeError:
            return error
        if hasattr(error, "add_note"):
            error.add_note(f"in SQL: {shorten(sql)}")
    return error
