"""sqlnb: explore and change SQLite databases from Jupyter, with time limits and a Cancel button.

The engine (this package, without `sqlnb.ipython`) works in any Python program:

    import sqlnb
    with sqlnb.connect("data.db") as db:
        db.write("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT)")
        df = db.query("SELECT * FROM t WHERE id > :n", {"n": 10})
"""

from ._control import Progress
from ._explore_view import View
from ._redact import redact
from .database import Database, Options, QueryHandle, connect, options
from .errors import (
    BackgroundWriteError,
    DatabaseClosed,
    Error,
    QueryCancelled,
    QueryInterrupted,
    QueryTimeout,
    TransactionRolledBack,
    UsageError,
)
from .results import Result

__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext sqlnb`: register the %sql, %%sql and %sqlnb magics (imports IPython)."""
    from .ipython import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """`%unload_ext sqlnb`: close the databases the magics opened, and give back a `%sql`
    that sqlnb took over from another extension."""
    from .ipython import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "BackgroundWriteError",
    "Database",
    "DatabaseClosed",
    "Error",
    "Options",
    "Progress",
    "QueryCancelled",
    "QueryHandle",
    "QueryInterrupted",
    "QueryTimeout",
    "Result",
    "TransactionRolledBack",
    "UsageError",
    "View",
    "__version__",
    "connect",
    "options",
    "redact",
]
