"""The query history: every statement a Database runs, as it ended, kept for the process
(public: `db.history()` gives one Database's, `sqlnb.history.frame()` every Database's).

Each statement the Database's calls run (query, submit, execute, write, write_many,
write_script, iter_chunks, stream; the magics' cells go through them) is recorded when it ends:
its SQL, its parameters, the database, when it started, how long it ran, how many rows it gave
or changed, its outcome ("done", "error", "cancelled", "time limit", "closed") and whether a
cache gave it (`record_cached`). sqlnb's own reads (a catalog for Tab, a profile's steps) are
not: they are not the user's statements.

No secret is kept in the form it is shown or written: the database is its redacted label
(`Database.path`); every text goes through `redact()` (a URL's password or token); a parameter
whose name is a secret's (`token`, `password`, ..., as `_redact.SECRET_NAMES`) is `***`; and
in a statement that names a secret (`CREATE SECRET`, `SET s3_secret_access_key = '...'`,
`ALTER USER ... PASSWORD '...'`) every string literal is `'***'` (found by the engine's own
lexer, so a quote inside a comment or a name is not taken for one).

The history lives in memory, bounded (`sqlnb.options.history_size`, oldest out first). With a
file (`persist_to(path)`, `%config SqlNB.history_file`), entries are appended to a SQLite file
(a table `history`) when `flush()` runs (after each cell of the magics, at `history()` and at
exit), never from a worker thread: a write there would hold up the writer. A file's earlier
entries are read back when it is opened, so a new kernel's `%sqlnb history` shows them.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import itertools
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ._redact import SECRET_NAMES, Secret, redact
from .errors import DatabaseClosed, QueryCancelled, QueryTimeout

if TYPE_CHECKING:
    import pandas as pd

    from ._task import Task
    from .engines.sqltext import Dialect

#: Entries kept in memory when sqlnb.options.history_size cannot be read.
DEFAULT_SIZE = 1000
#: How much of a parameter's value the history keeps (its repr, cut to this many characters).
PARAM_CHARS = 80
#: Word fragments that mark a statement holding a secret (its string literals are hidden).
SECRET_WORDS = ("secret", "password", "passwd", "token", "credential", "key_id", "access_key",
                "api_key", "private_key", "identified")

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Entry:
    """One statement as it ended (every text already redacted)."""

    #: its number in this history (what `%sqlnb history --rerun N` takes)
    number: int
    #: when it started running (local time; when it was given, for one that never ran)
    started: datetime.datetime
    #: the database's label, redacted (`Database.path`)
    database: str
    #: the engine's name ("sqlite", "duckdb", "spark", ...)
    engine: str
    #: the statement, redacted
    sql: str
    #: its parameters as text, redacted (None: it had none)
    params: str | None
    #: seconds it ran (0 for one stopped before it began, or given by the cache)
    seconds: float
    #: rows it gave (a read) or changed (a write), where known
    rows: int | None
    #: "done", "error", "cancelled", "time limit" or "closed"
    outcome: str
    #: the error's first line, redacted (None when it did not fail)
    error: str | None
    #: True when a cache gave the result (the statement did not run)
    cached: bool
    #: which Database of this process ran it (Database serials; 0 for one read from a file)
    serial: int = 0
    #: the statement as it was given, for running it again (never shown nor written to a
    #: file; an entry read from a file has its redacted text here)
    source: str = field(default="", repr=False, compare=False)


def redacted_sql(sql: str, dialect: Dialect | None = None) -> str:
    """`sql` as the history keeps it: URLs' secrets hidden, and every string literal `'***'`
    in a statement that names a secret (its words, by the engine's lexer)."""
    from .engines.sqltext import SQLITE, tokens

    text = redact(sql)
    lower = text.lower()
    if not any(word in lower for word in SECRET_WORDS):  # the common case: no lexing
        return text
    found = list(tokens(text, dialect or SQLITE))
    if not any(kind in ("word", "quoted") and any(w in value.lower() for w in SECRET_WORDS)
               for kind, _start, value in found):
        return text
    pieces, position = [], 0
    for kind, start, value in found:
        if kind == "string":
            pieces += [text[position:start], "'***'"]
            position = start + len(value)
    return "".join(pieces) + text[position:]


def redacted_params(params: Any) -> str | None:
    """Parameters as the history keeps them: a secret's name or a Secret as ***, each value's
    repr cut to PARAM_CHARS and redacted."""
    if params is None:
        return None
    if isinstance(params, dict):
        shown = ", ".join(f"{name}={_value(value, str(name))}" for name, value in params.items())
        return "{" + shown + "}"
    if isinstance(params, (list, tuple)):
        return "(" + ", ".join(_value(value) for value in params) + ")"
    return _value(params)


def _value(value: Any, name: str = "") -> str:
    if isinstance(value, Secret) or name.lower() in SECRET_NAMES:
        return "***"
    try:
        text = repr(value)
    except Exception:  # a value whose repr fails is shown by its type
        text = f"<{type(value).__name__}>"
    if len(text) > PARAM_CHARS:
        text = text[: PARAM_CHARS - 1] + "…"
    return redact(text)


def _rows(value: Any) -> int | None:
    """Rows a finished statement gave or changed, from its value (never building a frame)."""
    attrs = getattr(value, "attrs", None)
    if isinstance(attrs, dict) and "rowcount" in attrs and not len(getattr(value, "columns", ())):
        count = attrs["rowcount"]
        return count if count >= 0 else None
    rowcount = getattr(value, "rowcount", None)
    if isinstance(rowcount, int) and not getattr(value, "columns", None):  # a write's Result
        return rowcount if rowcount >= 0 else None
    rows = getattr(value, "rows", None)
    if isinstance(rows, list):  # a Result or a SmallFrame
        return len(rows)
    if isinstance(value, int) and not isinstance(value, bool):  # rows written (insert_df)
        return value
    try:
        return len(value) if value is not None else None
    except TypeError:
        return None


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "done"
    if isinstance(error, QueryTimeout):
        return "time limit"
    if isinstance(error, QueryCancelled):
        return "cancelled"
    if isinstance(error, DatabaseClosed):
        return "closed"
    return "error"


class _Raw(NamedTuple):
    """An entry as recorded on the worker, its texts not yet redacted (see _entry)."""

    number: int
    started: float  # time.time()
    database: str
    engine: str
    dialect: Dialect | None
    sql: str
    params: Any
    seconds: float
    rows: int | None
    outcome: str
    error: str | None
    serial: int


def _entry(item: Entry | _Raw) -> Entry:
    """An Entry, its texts redacted (a _Raw made one, else `item` as it is)."""
    if type(item) is not _Raw:
        return item  # type: ignore[return-value]
    return Entry(number=item.number, started=datetime.datetime.fromtimestamp(item.started),
                 database=item.database, engine=item.engine,
                 sql=redacted_sql(item.sql, item.dialect), params=redacted_params(item.params),
                 seconds=item.seconds, rows=item.rows, outcome=item.outcome,
                 error=redact(item.error) if item.error is not None else None, cached=False,
                 serial=item.serial, source=item.sql)


class History:
    """The process's history of statements: bounded in memory, optionally kept in a file."""

    def __init__(self, size: Callable[[], int] | None = None) -> None:
        self._size = size or (lambda: DEFAULT_SIZE)
        self._lock = threading.Lock()
        self._entries: deque[Entry | _Raw] = deque()
        #: entries not yet written to the file
        self._pending: list[Entry | _Raw] = []
        self._file: Path | None = None

    # -- recording (any thread) ---------------------------------------------------------------
    def recorder(self, serial: int, database: str, engine: str,
                 dialect: Dialect | None) -> Callable[[Task], None]:
        """The done-callback that records a Database's task (it holds no Database)."""

        def record(task: Task) -> None:
            # on the worker, after every statement: only what must be read now is read (the
            # texts are redacted when the entry is first read or written: _Raw.entry)
            value, error = task.peek()
            control = task.control
            if control.started is not None:
                seconds = control.elapsed
                started = time.time() - (time.monotonic() - control.started)
            else:  # stopped (or refused) before it ran
                seconds, started = 0.0, time.time()
            message = None
            if error is not None:
                lines = str(error).splitlines()
                message = f"{type(error).__name__}: {lines[0] if lines else ''}"
            self.add(_Raw(next(_numbers), started, database, engine, dialect, task.sql,
                          task.params, seconds, None if error is not None else _rows(value),
                          _outcome(error), message, serial))

        return record

    def record_cached(self, serial: int, database: str, engine: str, dialect: Dialect | None,
                      sql: str, params: Any, rows: int) -> None:
        """A statement a cache answered (it did not run)."""
        self.add(Entry(number=next(_numbers), started=datetime.datetime.now(),
                       database=database, engine=engine, sql=redacted_sql(sql, dialect),
                       params=redacted_params(params), seconds=0.0, rows=rows,
                       outcome="done", error=None, cached=True, serial=serial, source=sql))

    def add(self, entry: Entry | _Raw) -> None:
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._pending.append(entry)
            limit = max(_limit(self._size), 0)
            while len(self._entries) > limit:
                self._entries.popleft()

    # -- reading -------------------------------------------------------------------------------
    def entries(self, serial: int | None = None) -> list[Entry]:
        """The entries kept, oldest first (only one Database's, given its serial)."""
        with self._lock:
            if any(type(e) is _Raw for e in self._entries):
                self._entries = deque(_entry(e) for e in self._entries)
                self._pending = [_entry(e) for e in self._pending]
            found = list(self._entries)
        return found if serial is None else [e for e in found if e.serial == serial]

    def find(self, number: int) -> Entry | None:
        """The entry numbered `number`, if it is still kept."""
        return next((e for e in self.entries() if e.number == number), None)

    def clear(self) -> None:
        """Forget every entry in memory (a file keeps what was written to it)."""
        with self._lock:
            self._entries.clear()
            self._pending.clear()

    # -- the file ------------------------------------------------------------------------------
    @property
    def file(self) -> Path | None:
        """The SQLite file the history is kept in, or None (memory only)."""
        return self._file

    def persist_to(self, path: str | Path | None) -> None:
        """Keep the history in the SQLite file `path` too (None: memory only): its earlier
        entries are read back, and from now on every entry is written to it (at flush())."""
        self.flush()
        if path is None:
            with self._lock:
                self._file = None
                self._pending.clear()
            return
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        earlier = _read_file(path, _limit(self._size))
        with self._lock:
            ours = [_entry(e) for e in self._entries]
            known = {(e.started, e.sql) for e in ours}
            old = []
            for entry in earlier:
                if (entry.started, entry.sql) not in known:
                    old.append(Entry(**{**_as_dict(entry), "number": next(_numbers)}))
            self._entries = deque(old + ours)
            self._file = path
            self._pending = list(ours)
        self.flush()

    def flush(self) -> None:
        """Write the entries not yet in the file (nothing without a file)."""
        with self._lock:
            path, pending, self._pending = self._file, self._pending, []
        if path is None or not pending:
            return
        pending = [_entry(e) for e in pending]
        conn = sqlite3.connect(path, timeout=5)
        try:
            with conn:
                conn.execute(_CREATE)
                conn.executemany(
                    f"INSERT INTO history ({', '.join(_COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(_COLUMNS))})",
                    [_row(entry) for entry in pending])
        finally:
            conn.close()

    # -- as a table ----------------------------------------------------------------------------
    @staticmethod
    def frame(entries: Iterable[Entry]) -> pd.DataFrame:
        """The entries as a DataFrame, one row each, oldest first."""
        import pandas as pd

        names = [f.name for f in fields(Entry) if f.name not in ("serial", "source")]
        rows = [astuple(entry)[: len(names)] for entry in entries]
        frame = pd.DataFrame(rows, columns=names)
        return frame.astype({"rows": "Int64"})


def filtered(entries: list[Entry], *, failed: bool = False, slow: float | None = None,
             last: int | None = None) -> list[Entry]:
    """The entries that did not end "done" (failed), that ran at least `slow` seconds, and
    of those the `last` N."""
    if failed:
        entries = [e for e in entries if e.outcome != "done"]
    if slow is not None:
        entries = [e for e in entries if e.seconds >= slow]
    return entries[-last:] if last else entries


def _limit(size: Callable[[], int]) -> int:
    try:
        value = size()
    except Exception:
        return DEFAULT_SIZE
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_SIZE


_COLUMNS = ("started", "database", "engine", "sql", "params", "seconds", "rows", "outcome",
            "error", "cached")
_CREATE = ("CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY, started TEXT, "
           "database TEXT, engine TEXT, sql TEXT, params TEXT, seconds REAL, rows INTEGER, "
           "outcome TEXT, error TEXT, cached INTEGER)")


def _row(entry: Entry) -> tuple[Any, ...]:
    return (entry.started.isoformat(), entry.database, entry.engine, entry.sql, entry.params,
            entry.seconds, entry.rows, entry.outcome, entry.error, int(entry.cached))


def _as_dict(entry: Entry) -> dict[str, Any]:
    return {f.name: getattr(entry, f.name) for f in fields(Entry)}


def _read_file(path: Path, limit: int) -> list[Entry]:
    """The last `limit` entries of a history file (none if it does not exist yet)."""
    if not path.exists():
        return []
    conn = sqlite3.connect(path, timeout=5)
    try:
        conn.execute(_CREATE)
        rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM history ORDER BY id DESC "
                            "LIMIT ?", (limit,)).fetchall()
    finally:
        conn.close()
    return [Entry(number=0, started=datetime.datetime.fromisoformat(r[0]), database=r[1],
                  engine=r[2], sql=r[3], params=r[4], seconds=r[5], rows=r[6], outcome=r[7],
                  error=r[8], cached=bool(r[9]), source=r[3]) for r in reversed(rows)]


def _history_size() -> int:
    return _options().history_size


@functools.cache
def _options() -> Any:
    """sqlnb.options (imported at first use: database.py imports this module)."""
    from .database import options

    return options


#: The process's history (every Database records into it).
HISTORY = History(_history_size)
atexit.register(HISTORY.flush)


def frame(*, failed: bool = False, slow: float | None = None,
          last: int | None = None) -> pd.DataFrame:
    """Every Database's statements as a DataFrame, oldest first (see Database.history)."""
    HISTORY.flush()
    return History.frame(filtered(HISTORY.entries(), failed=failed, slow=slow, last=last))


def find(number: int) -> Entry | None:
    """The entry numbered `number` (the history's first column), if it is still kept."""
    return HISTORY.find(number)


def flush() -> None:
    """Write the entries not yet in the history file (nothing without one)."""
    HISTORY.flush()


def persist_to(path: str | Path | None) -> None:
    """Keep the history in the SQLite file `path` too (None: in memory only); its earlier
    entries are read back."""
    HISTORY.persist_to(path)


def clear() -> None:
    """Forget the entries kept in memory (a history file keeps what was written to it)."""
    HISTORY.clear()
