"""The seam between sqlnb's control plane and an engine (SQLite, DuckDB, ...).

The control plane (tasks, a query's control, the timer, the read pool, the writer and its group
commit, streams, frames, the magics and the widget) knows no engine. An engine gives it two
things, written for the hardest case: a server that can vanish, with coarse progress, whose
connections cannot be opened read-only.

- A `Backend` per Database: where the data is (a label safe to show), how to open what a reader
  and the writer need, what a piece of SQL holds (its statements, which of them surely write),
  where a read that failed belongs instead, and how to write a DataFrame.
- A `Link` per connection, used by one worker at a time: run one statement (its result whole,
  or as a DataFrame built batch by batch), stream one in chunks, run one statement for many
  parameter sets, call a user's function with the native connection, take the writer's
  transaction steps, list tables and columns (and every name completion offers); and, from
  any other thread, interrupt the statement it runs now and say how far it got.

An engine's errors keep their own types. At the seam, `Link.translate` turns the engine's
"interrupted" into `Stopped` when the query's control asked for the stop (the control plane
then raises QueryCancelled or QueryTimeout, whatever the engine), names the SQL, and adds the
notes that say what to do.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from .sqltext import split_name

if TYPE_CHECKING:
    from .._control import Control
    from .._task import Task
    from ..results import Catalog
    from .sqltext import Statement


class Link(ABC):
    """One engine connection and the query it runs now; one worker uses it at a time."""

    __slots__ = ()

    #: the query running on this link now (None between queries)
    control: Control | None = None
    #: the engine can roll back part of a transaction (SAVEPOINT); the writer's group commit
    #: isolates each write in one, and runs writes one transaction each where it cannot
    savepoints: ClassVar[bool] = True
    #: the engine has transactions at all; without them (Spark SQL) every write runs alone, as
    #: its own statement (a group could not be rolled back, so it is never formed)
    transactions: ClassVar[bool] = True

    # -- any thread ----------------------------------------------------------------------------
    @abstractmethod
    def interrupt(self) -> None:
        """Stop the statement this link runs now; callable from any thread, at any moment."""

    def percent(self) -> float | None:
        """How far the running statement got, 0 to 100, or None where the engine cannot tell."""
        return None

    def phase(self) -> str | None:
        """What the running statement is doing, where the engine says (Spark's stage)."""
        return None

    # -- the worker's thread ---------------------------------------------------------------------
    @abstractmethod
    def translate(self, error: BaseException, task: Task) -> BaseException:
        """The error as the control plane raises it: `Stopped` for the engine's interrupt of a
        query its control stopped; otherwise the same error, named with `task.sql` and noted."""

    @abstractmethod
    def run(self, statement: Statement, params: Any, control: Control, frame: bool) -> Any:
        """Run one statement to its end: a `Result`, or with `frame` a DataFrame (or a
        `SmallFrame` the caller builds), counting rows on `control` as they come."""

    @abstractmethod
    def chunks(self, statement: Statement, params: Any, control: Control,
               chunk_rows: int) -> Iterator[Any]:
        """Run one statement and yield its rows as DataFrames of `chunk_rows` rows."""

    @abstractmethod
    def many(self, statement: Statement, params_seq: Iterable[Any], control: Control) -> Any:
        """Run one statement once per parameter set; a `Result` whose rowcount is the sum."""

    @abstractmethod
    def call(self, fn: Callable[[Any], Any], name: str, *, guarded: bool = False,
             read_only: bool = False) -> Any:
        """Call `fn(native connection)`. `guarded`: inside a transaction sqlnb opened for fn,
        which fn must not end (an attempt is a UsageError before anything commits).
        `read_only`: fn may only read (execute_fn), which the connection must enforce."""

    @abstractmethod
    def tables(self) -> Any:
        """A DataFrame of name, type ("table" or "view"), schema and rows."""

    @abstractmethod
    def catalog(self, control: Control) -> Catalog:
        """Every table and view with its column names, and the engine's functions and
        keywords, read in as few calls to the engine as it allows (completion asks for it).
        An engine that needs several calls looks at `control.reason` between them."""

    @abstractmethod
    def explain(self, statement: Statement, params: Any, control: Control) -> str:
        """The engine's plan for the statement (not run), as an indented tree of lines."""

    @abstractmethod
    def schema(self, table: str) -> Any:
        """A DataFrame with a row per column: name, type, not_null, default, primary_key,
        references."""

    def column_limit(self) -> int | None:
        """The most columns a table may have, as the engine says (an import refuses a wider
        file before reading it), or None where the engine has no small limit."""
        return None

    # -- the writer's transaction steps ------------------------------------------------------------
    @property
    @abstractmethod
    def in_transaction(self) -> bool:
        """True while a transaction is open on this link (sqlnb's or the user's)."""

    def transaction_lost(self) -> bool:
        """After a write failed inside a transaction: True when the engine can no longer commit
        it (SQLite rolled it back whole; DuckDB aborted it until a ROLLBACK)."""
        return not self.in_transaction

    @abstractmethod
    def begin(self, controls: list[Control]) -> None:
        """Open a write transaction (waiting for another connection's lock while `controls`
        may still run)."""

    @abstractmethod
    def commit(self, controls: list[Control]) -> None:
        """Commit the open transaction."""

    @abstractmethod
    def rollback(self) -> None:
        """Roll the open transaction back."""

    def savepoint(self) -> None:
        """Mark a point the transaction can roll back to (engines with `savepoints`)."""
        raise NotImplementedError

    def release(self) -> None:
        """Forget the last savepoint, keeping its work."""
        raise NotImplementedError

    def rollback_to(self) -> None:
        """Undo the work since the last savepoint, and forget it."""
        raise NotImplementedError

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Run a read on the writer's link with writes refused (as they are on a reader)."""
        yield

    @abstractmethod
    def close(self) -> None:
        """Close the connection (any thread, once no worker uses it)."""


class Backend(ABC):
    """One engine's side of one Database: its target, its connections, its SQL."""

    #: the engine's name, as `Database.engine` says it ("sqlite", "duckdb")
    name: ClassVar[str]
    #: the target as it may be shown (no credential), for `Database.path`
    label: str
    #: opened read-only: the engine refuses writes
    read_only: bool
    #: the base classes of the engine's own errors (sqlite3.Error, duckdb.Error)
    error_types: tuple[type[BaseException], ...]
    #: reader threads when connect() does not say (None: sqlnb.options.threads)
    default_threads: ClassVar[int | None] = None

    @abstractmethod
    def open_reader(self) -> Link:
        """A link for a reader thread."""

    @abstractmethod
    def open_writer(self) -> Link:
        """The writer's link (the only one that writes, except isolated ones)."""

    @abstractmethod
    def open_isolated(self) -> Link:
        """A fresh writable link for one write function, closed after it."""

    @abstractmethod
    def statements(self, sql: str) -> tuple[Statement, ...]:
        """The statements of `sql`, in order (blank and comment-only pieces dropped)."""

    @abstractmethod
    def check_params(self, statement: Statement, params: object) -> None:
        """A UsageError naming the problem when `params` do not fit the statement."""

    def prepare_reader(self, link: Link) -> None:  # noqa: B027 (most engines need nothing)
        """Before a read on a reader: give it the settings the Database's session changed."""

    def reroute(self, link: Link, task: Task, error: BaseException) -> bool:
        """A read failed on a reader: True (with the task's flags set for the writer) when it
        belongs on the writer instead, as when the engine says it writes."""
        return False

    @property
    def reads_need_writer(self) -> bool:
        """True while some objects exist only on the writer's connection (SQLite's TEMP
        tables): a listing of tables must then run there."""
        return False

    @abstractmethod
    def insert_work(self, df: Any, table: str, *, if_exists: str
                    ) -> Callable[[Link, Control], int]:
        """The writer's work that writes `df` (checked by the caller) into `table`; what the
        engine can check before the work runs, it checks here, in the caller."""

    def native_import(self, path: str, format: str, table: str, if_exists: str
                      ) -> Callable[[Link, Control], int] | None:
        """The writer's work that loads a CSV or Parquet file with the engine's own reader,
        or None where sqlnb reads the file in chunks (pyarrow) and inserts them."""
        return None

    #: the character that quotes a name in the engine's SQL (Spark's is a backtick)
    name_quote: ClassVar[str] = '"'

    def quote(self, name: str) -> str:
        """A table's or column's name in the engine's SQL: each part of `schema.table` quoted,
        its quote characters doubled (see sqltext.split_name)."""
        q = self.name_quote
        return ".".join(q + part.replace(q, q * 2) + q for part in split_name(name))

    def float_sql(self, expression: str) -> str:
        """`expression` cast to the engine's 64-bit float (PostgreSQL calls it DOUBLE
        PRECISION)."""
        return f"CAST({expression} AS DOUBLE)"

    def orderable(self, declared: str) -> bool:
        """Whether values of a column of this declared type have a min, a max and a distinct
        count in the engine (a profile shows NULL for them otherwise; PostgreSQL has no min of
        a boolean, no equality for json)."""
        return True

    def mean_sql(self, column: str, declared: str) -> str | None:
        """The aggregate giving a column's mean in a profile (name quoted), or None when its
        declared type is not a number's."""
        if re.search(r"INT|REAL|FLOA|DOUB|(?<!E)NUM|DEC|BYTE|SHORT|LONG", declared,
                     re.IGNORECASE) and "INTERVAL" not in declared.upper():
            return f"avg({column})"
        return None

    def quartiles_sql(self, table: str, column: str) -> str:
        """One row: count, min, q1, median, q3, max of a numeric column (names quoted), the
        quartiles interpolated linearly between ranks (as numpy's and DuckDB's quantile_cont).

        This form is SQLite's, which has no percentile function: it numbers the sorted
        values with window functions (one sort of the column's values: O(n log n) time and
        a temporary B-tree of n values; its CAST to INTEGER truncates). Engines with a
        percentile aggregate override it."""
        x = f"CAST({column} AS DOUBLE)"

        def at(p: float) -> str:  # value at rank h = (n-1)p: x[floor h] + frac(h) * step
            h = f"(n - 1) * {p}"
            low = f"sum(CASE WHEN i = CAST({h} AS INTEGER) THEN x END)"
            high = f"sum(CASE WHEN i = CAST({h} AS INTEGER) + 1 THEN x END)"
            frac = f"(max(n) - 1) * {p} - CAST((max(n) - 1) * {p} AS INTEGER)"
            return f"{low} + ({frac}) * coalesce({high} - {low}, 0)"

        return (f"WITH o AS (SELECT {x} AS x, row_number() OVER (ORDER BY {x}) - 1 AS i, "
                f"count(*) OVER () AS n FROM {table} WHERE {column} IS NOT NULL) "
                f"SELECT count(*), min(x), {at(0.25)}, {at(0.5)}, {at(0.75)}, max(x) FROM o")

    def close(self) -> None:  # noqa: B027 (most engines hold nothing more)
        """Release what the backend holds besides its links (closed by their owners)."""
