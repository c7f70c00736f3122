"""The seam between sqlnb's control plane and an engine (SQLite, DuckDB, ...): public as
`sqlnb.engine`, described in docs/ENGINES.md.

The control plane (tasks, a query's control, the timer, the read pool, the writer and its group
commit, streams, frames, the magics and the widget) knows no engine. An engine gives it two
things, written for the hardest case: a server that can vanish, with coarse progress, whose
connections cannot be opened read-only.

- A `Backend` per Database: where the data is (a label safe to show), how to open what a reader
  and the writer need, what a piece of SQL holds (its statements, which of them surely write),
  where a read that failed belongs instead, and how to write a DataFrame. Its class describes
  the engine to the registry (name, title, schemes, suffixes, options, how a target is read).
- A `Link` per connection, used by one worker at a time: run one statement (its result whole,
  or as a DataFrame built batch by batch), stream one in chunks, run one statement for many
  parameter sets, call a user's function with the native connection, take the writer's
  transaction steps, list tables and columns (and every name completion offers); and, from
  any other thread, interrupt the statement it runs now and say how far it got.

An engine's errors keep their own types. At the seam, `Link.translate` turns the engine's
"interrupted" into `Stopped` when the query's control asked for the stop (the control plane
then raises QueryCancelled or QueryTimeout, whatever the engine, with the bases the engine
gives sqlnb's errors: `Backend.error_bases`), names the SQL, and adds the notes that say what
to do.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from .._redact import Secret, has_secret, reveal
from ..errors import ErrorBases, UsageError, annotate
from . import sqltext
from .sqltext import Dialect, split_name

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
    #: the engine can roll back part of a transaction (SAVEPOINT): then it gives `savepoint`,
    #: `release` and `rollback_to`, and the writer's group commit isolates each write in one;
    #: without (the default), it runs the writes again one transaction each after a failure
    savepoints: ClassVar[bool] = False
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
        """Mark a point the transaction can roll back to (an engine with `savepoints`)."""
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


@dataclass(frozen=True)
class Option:
    """A connect option an engine takes (`sqlnb.connect(target, NAME=value)`, `%sqlnb connect
    TARGET --option NAME=VALUE`), declared once in `Backend.options`."""

    name: str
    #: the value when connect() is not given one
    default: Any
    #: one line: what it does (the README's and the errors' words)
    doc: str
    #: the type of its value: bool, int, float or str; text (from --option) is read as it
    kind: type = str
    #: a further check of a value of `kind`: returns the value to use, or raises UsageError
    check: Callable[[Any], Any] | None = None

    def value(self, given: Any) -> Any:
        """`given` as the engine takes it, or a UsageError naming the option and what it takes
        (None passes: the engine's default then applies)."""
        if given is None:
            return None
        if isinstance(given, str) and self.kind is not str:
            given = _from_text(self.name, self.kind, given)
        wrong = (not isinstance(given, self.kind) or (isinstance(given, bool)
                                                      and self.kind is not bool))
        if self.kind is float and isinstance(given, int) and not isinstance(given, bool):
            given, wrong = float(given), False
        if wrong:
            raise UsageError(f"{self.name} takes {_KINDS[self.kind]}, not {given!r}")
        return self.check(given) if self.check is not None else given


_KINDS = {bool: "True or False", int: "a whole number", float: "a number", str: "text"}


def _from_text(name: str, kind: type, text: str) -> Any:
    """An option's value given as text (`--option wal=false`), as its kind."""
    word = text.strip().lower()
    if kind is bool:
        if word in ("true", "yes", "on", "1"):
            return True
        if word in ("false", "no", "off", "0"):
            return False
    else:
        try:
            return kind(word)
        except ValueError:
            pass
    raise UsageError(f"{name} takes {_KINDS.get(kind, kind.__name__)}, not {text!r}")


class Backend(ABC):
    """One engine's side of one Database: its target, its connections, its SQL.

    The class describes the engine (a plug-in: `register(MyBackend)`, see docs/ENGINES.md):
    its name and title, the URL schemes and file suffixes of its targets, the pip extra that
    installs its client, its connect options, and how it reads a target (`parse_target`,
    `short_name`, `holds_secret`, `with_secret`). An instance is one Database's engine:
    `__init__(target, *, read_only, **options)` opens it, given what `parse_target` made of
    the target and every option in `options` (a default where connect() gave none).
    """

    #: the engine's name, as `Database.engine` says it ("sqlite", "duckdb")
    name: ClassVar[str]
    #: the engine's name in messages: "connected: t on DuckDB"
    title: ClassVar[str]
    #: the URL schemes its targets have ("duckdb" for duckdb:///path and duckdb://), lower case;
    #: "sqlite" also takes "sqlite+driver" (SQLAlchemy's form)
    schemes: ClassVar[tuple[str, ...]] = ()
    #: the file suffixes of its targets (".duckdb"), lower case: a path ending so opens it
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: its targets as messages show them ("duckdb:///path/to/file.duckdb, duckdb:// for memory")
    example: ClassVar[str] = ""
    #: the pip extra that installs its client ("duckdb": pip install 'sqlnb[duckdb]'), if any
    extra: ClassVar[str | None] = None
    #: its own connect options (the common ones, read_only, time_limit, threads, are sqlnb's)
    options: ClassVar[tuple[Option, ...]] = ()
    #: the option (one of `options`) that names an environment variable holding the secret a
    #: target needs (Spark's token_env, PostgreSQL's password_env; `%sqlnb connect
    #: --secret-env NAME` passes it), or None
    secret_env_option: ClassVar[str | None] = None
    #: the target as it may be shown (no credential), for `Database.path`
    label: str
    #: opened read-only: the engine refuses writes
    read_only: bool
    #: the base classes of the engine's own errors (sqlite3.Error, duckdb.Error)
    error_types: tuple[type[BaseException], ...]
    #: bases the engine gives sqlnb's own errors, by class: SQLite's QueryInterrupted is also a
    #: sqlite3.OperationalError, so `except sqlite3.OperationalError` catches a QueryTimeout
    #: there (errors.flavour); none by default
    error_bases: ClassVar[ErrorBases] = MappingProxyType({})
    #: reader threads when connect() does not say (None: sqlnb.options.threads)
    default_threads: ClassVar[int | None] = None

    # -- targets (class-level: before anything opens) --------------------------------------------
    @classmethod
    def parse_target(cls, target: Any) -> Any:
        """What the engine opens for `target`, a URL of one of its schemes, a path with one of
        its suffixes (a str or an os.PathLike), a `Secret` holding either, or (the default
        engine) anything else connect() was given; a UsageError for a form it does not take.
        By default a URL's path (`scheme:///abs/path` -> /abs/path, `scheme://` -> ""), and
        anything else as it is."""
        text = str(target) if isinstance(target, (str, Secret)) else None
        if text is not None and "://" in text:
            rest = reveal(target).split("://", 1)[1]  # type: ignore[union-attr]
            return rest[1:] if rest.startswith("/") else rest
        return target

    @classmethod
    def short_name(cls, label: str) -> str:
        """A short name for a Database with this `label` (its `path`): what the magics call a
        connection no --as names ("memory" for one in memory, else the file's stem)."""
        if label in ("", ":memory:"):
            return "memory"
        return PurePath(label.split("?", 1)[0]).stem or "db"

    @classmethod
    def holds_secret(cls, target: str) -> bool:
        """Whether the text of a target holds a secret (a password, a token), which sqlnb then
        keeps in a `Secret` and shows nowhere. By default what `redact` hides in URLs."""
        return has_secret(target)

    @classmethod
    def with_secret(cls, target: Any, secret: str) -> Secret:
        """`target` (as `parse_target` made it) with `secret`, read from the environment
        variable that `secret_env_option` named, put where the engine's client reads it."""
        raise UsageError(f"{cls.title} reads no secret from the environment")

    # -- links ---------------------------------------------------------------------------------
    @abstractmethod
    def open_reader(self) -> Link:
        """A link for a reader thread."""

    @abstractmethod
    def open_writer(self) -> Link:
        """The writer's link (the only one that writes, except isolated ones)."""

    @abstractmethod
    def open_isolated(self) -> Link:
        """A fresh writable link for one write function, closed after it."""

    #: the engine's lexical rules (its strings, quoted names, comments): how its SQL splits
    dialect: ClassVar[Dialect] = sqltext.SQLITE
    #: the engine's SQL dialect as sqlglot names it ("sqlite", "duckdb", "spark", "postgres"):
    #: what sqlnb parses a statement with to know the tables it reads, the functions it calls,
    #: and to write SQL back (named results' CTEs, formatting); "" is sqlglot's generic SQL
    sqlglot_dialect: ClassVar[str] = ""
    #: functions of the engine that sqlglot does not know and whose answer changes from call
    #: to call (lower case): the cache never keeps a statement that calls one (sqlglot's own
    #: random(), now(), uuid() ... and a shared list are known already: sqlnb._sql)
    volatile_functions: ClassVar[frozenset[str]] = frozenset()
    #: the schema of the session's TEMP objects, where a name can be qualified with it
    #: ("temp" on SQLite and DuckDB): a named result is dropped as temp.NAME, never a table of
    #: the same name in another schema
    temp_schema: ClassVar[str | None] = None

    def statements(self, sql: str) -> tuple[Statement, ...]:
        """The statements of `sql`, in order (blank and comment-only pieces dropped), split by
        the engine's `dialect`; each statement's `writes` says whether it must go to the
        writer (None: its first keyword decides, `Statement.surely_writes`)."""
        return sqltext.split(sql, self.dialect)

    def check_params(self, statement: Statement, params: object) -> None:
        """A UsageError naming the problem when `params` do not fit the statement."""
        sqltext.check_params(statement, params)

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

    def quote_identifier(self, name: str) -> str:
        """One name (a table's, a column's) as the engine's SQL writes it whatever it holds:
        by default in `name_quote`s, any of them in it doubled."""
        q = self.name_quote
        return q + name.replace(q, q * 2) + q

    def quote(self, name: str) -> str:
        """A table's or column's name in the engine's SQL: each part of `schema.table` quoted
        (see sqltext.split_name and quote_identifier)."""
        return ".".join(self.quote_identifier(part) for part in split_name(name))

    #: whether sqlnb can know every change to the data: its own writes it counts, and
    #: data_version() sees other processes' (SQLite), or none can write while sqlnb has the
    #: database open (DuckDB's file lock). False (Spark, PostgreSQL): the result cache keeps
    #: a result only for an explicit time to live, and says it "may be stale"
    knows_changes: ClassVar[bool] = False

    def data_version(self) -> Any:
        """A value that changes when another connection commits a change to the database
        (SQLite's PRAGMA data_version on a connection of the backend's own), compared by the
        result cache; None where it needs none (see knows_changes)."""
        return None

    #: whether show_frames works on a reader's link (DuckDB registers a DataFrame on the
    #: link's own cursor): else a statement that reads DataFrames runs on the writer, whose
    #: session may make temporary tables
    frames_on_readers: ClassVar[bool] = False

    def show_frames(self, link: Link, frames: Mapping[str, Any], control: Control
                    ) -> Callable[[], None]:
        """Make each DataFrame of `frames` readable as a table of its name by the next
        statement on `link` (`SELECT * FROM df JOIN t`: Database.query(frames=...), and the
        magics' DataFrame variables named in FROM); returns what takes them away again (it
        runs after the statement, also after its failure). The names are as the SQL writes
        them unquoted. By default the engine cannot: a UsageError saying what to do instead."""
        raise UsageError(f"{self.title} cannot read a pandas DataFrame named in FROM: import "
                         "it first (db.insert_df(df, 'name') or %sqlnb import df name)")

    def saved_result_sql(self, name: str, query: str, *, materialize: bool,
                         previous: str | None) -> list[str]:
        """The statements that make `query` the named result `name` (quoted) for this
        Database's session (`%%sql --save NAME`, `Database.save_result`): a TEMP VIEW, or a
        TEMP TABLE of its rows now with `materialize`, replacing what `previous` ("view" or
        "table") sqlnb made under that name before. The last one gets the query's parameters.

        The objects are the session's: an engine whose connections do not share TEMP objects
        (and does not move a read of them to the writer, as SQLite's and DuckDB's do) gives
        its own statements, or its own work (save_result_work)."""
        where = f"{self.temp_schema}." if self.temp_schema else ""
        steps = [f"DROP {previous.upper()} IF EXISTS {where}{name}"] if previous else []
        return [*steps, f"CREATE TEMP {'TABLE' if materialize else 'VIEW'} {name} AS {query}"]

    def save_result_work(self, name: str, query: str, params: Any, *, materialize: bool,
                         previous: str | None) -> Callable[[Link, Control], Any]:
        """The writer's work that saves a named result: by default, saved_result_sql's
        statements in order (see there), the query's parameters bound to the last."""
        steps = [sqltext.single(text, self.dialect) for text in self.saved_result_sql(
            name, query, materialize=materialize, previous=previous)]

        def work(link: Link, control: Control) -> Any:
            result = None
            for index, step in enumerate(steps):
                try:
                    result = link.run(step, params if index == len(steps) - 1 else None,
                                      control, False)
                except Exception as error:
                    raise annotate(error, step.text) from None
            return result

        return work

    def adapt_parameter(self, value: Any, name: str) -> Any:
        """A Python value from elsewhere (the magics' `:name` takes the notebook's variable
        `name`) as the engine's client binds it, or a UsageError naming `:name` and what the
        engine binds. By default numpy scalars become Python values and the rest is the
        client's to bind (DuckDB's and Spark's take dates, lists ...)."""
        item = getattr(value, "item", None)
        if callable(item) and getattr(value, "ndim", None) == 0:  # numpy scalars
            return item()
        return value

    def float_sql(self, expression: str) -> str:
        """`expression` cast to the engine's 64-bit float, as exploring's SQL needs it (a box
        plot's whiskers); PostgreSQL calls it DOUBLE PRECISION."""
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
