"""`%sql` / `%%sql` and `%sqlnb`: SQL cells that run through sqlnb's engine and give DataFrames.

A cell's statements run in order, each through `Database.submit()`: reads on the read pool, writes
through the writer. The value of the cell is the DataFrame of the last statement that returned
rows, or a one-line summary of what the writes changed. A failure shows one line (error type,
SQLite's message, which statement, and a hint) instead of a traceback through sqlnb; the
statements before it stay done and the line says so. `%config SqlNB.short_errors = False` shows
the full traceback.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextvars
import html
import io
import json
import keyword
import math
import os
import re
import sys
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import (
    MagicArgumentParser,
    argument,
    magic_arguments,
    parse_argstring,
)
from traitlets import Bool, Float, Int, Unicode, default, observe

import sqlnb
import sqlnb.cache
import sqlnb.history
from sqlnb import engine
from sqlnb.errors import shorten

from .progress import WIDGET_VIEW, CellProgress, widgets_available

if TYPE_CHECKING:
    from sqlnb.engines.sqltext import Statement

    from .completion import Completer

#: Options of %sql / %%sql that take a value (the others are flags).
_VALUED = {"--db", "--time-limit", "--save", "--cache-ttl"}
_TOKEN = re.compile(r"\s*(\S+)")
_TARGET = re.compile(r"\s*([^\s<]+)\s*<<")
#: the words of a statement that could be a Python variable's name
_WORDS = re.compile(r"[^\W\d]\w*")
#: SQLite's error for a { or } in SQL: someone expected a template
_BRACE = re.compile(r'unrecognized token: "[{}]')
_NO_OPTIONS = argparse.Namespace(db=None, time_limit=None, no_progress=False, background=False,
                                 explain=False, save=None, materialize=False, cache=False,
                                 cache_ttl=None, all=False)


class SqlCellError(Exception):
    """A SQL cell failed; IPython shows this one line instead of a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def _render_traceback_(self) -> list[str]:
        return [self.message]


class BackgroundCell:
    """A `%%sql --background` cell: wait for it, cancel it, or watch the statement running now.

    `VAR <<` holds this handle until the cell ends, then the result. An error or a cancellation
    shows in the cell's widget and is raised by `result()`.
    """

    def __init__(self, statements: int, progress: CellProgress) -> None:
        self._reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._progress = progress
        self._statements = statements
        self._current: sqlnb.QueryHandle | None = None
        self._started_count = 0

    def _started(self, handle: sqlnb.QueryHandle) -> None:
        self._current = handle
        self._started_count += 1

    def cancel(self) -> bool:
        """Stop the statement running now (a write is rolled back where the engine has
        transactions; the error line says what became of it) and the rest of the cell; False
        if the cell is over."""
        if self._reply.done():
            return False
        self._progress.cancel()
        return True

    def done(self) -> bool:
        """True once the cell has finished, failed or been cancelled."""
        return self._reply.done()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the cell: its DataFrame (or write summary), or raise its error."""
        return self._reply.result(timeout)

    @property
    def progress(self) -> sqlnb.Progress | None:
        """The progress of the statement running now (None before the first starts)."""
        handle = self._current
        return handle.progress if handle is not None else None

    def __repr__(self) -> str:
        if self._reply.done():
            return "<sqlnb background cell: done>"
        return (f"<sqlnb background cell: statement {max(self._started_count, 1)} of "
                f"{self._statements} running>")


class WriteSummary:
    """What a cell of writes changed, shown as one line ("3 rows changed"; "done" when none of
    its statements counts rows: a CREATE, or any write on Spark, which reports no counts)."""

    def __init__(self, rowcount: int | None, statements: int) -> None:
        #: rows inserted, updated or deleted by the cell's statements (None: none counted)
        self.rowcount = rowcount
        #: statements the cell ran
        self.statements = statements

    def __repr__(self) -> str:
        done = "" if self.statements == 1 else f" ({self.statements} statements)"
        if self.rowcount is None:
            return f"done{done}"
        rows = "1 row" if self.rowcount == 1 else f"{self.rowcount:,} rows"
        return f"{rows} changed{done}"


@magics_class
class SqlNB(Magics):
    """The sqlnb magics and their settings (`%config SqlNB.<name> = value`)."""

    time_limit = Float(
        None, allow_none=True, config=True,
        help="Seconds a cell's query may run before the engine stops it (math.inf: no limit). "
             "None uses the Database's limit, which is sqlnb.options.time_limit (30) by default. "
             "An import has no limit unless its --time-limit gives one.",
    )
    display_limit = Int(
        20, config=True,
        help="Rows of a result shown in the cell's output (first and last halves); the "
             "DataFrame itself keeps every row.",
    )
    show_progress = Bool(
        True, config=True,
        help="Show a progress widget (a text line in a terminal) for a query that runs longer "
             "than a moment, with a Cancel button.",
    )
    fetch_limit = Int(
        1_000_000, config=True,
        help="A %%sql query's result of more rows than this is not fetched whole: the cell's "
             "value holds its first fetch_limit rows and says so in one line, the explorer "
             "sorts, filters and pages every row in the engine, and %%sql --all fetches them "
             "all. 0: no limit. db.query() in Python always returns the whole result.",
    )
    explorer = Int(
        20, config=True,
        help="A %%sql query's result of more rows than this shows in the result explorer (a "
             "grid that sorts, filters, searches and pages in the engine); smaller results, and "
             "every result when this is -1, show as a plain table. The DataFrame is the same.",
    )
    static_grids = Bool(
        config=True,
        help="Show each explorer as its static table only (the page, its footer), no live "
             "grid: for a notebook run headless (nbconvert --execute, papermill), where no "
             "front end draws a widget and a stored one says 'model not found' once the "
             "notebook is opened. Default: True where the environment has "
             "SQLNB_STATIC_GRIDS=1.",
    )

    @default("static_grids")
    def _static_grids_default(self) -> bool:
        return os.environ.get("SQLNB_STATIC_GRIDS", "") == "1"

    short_errors = Bool(
        True, config=True,
        help="Show a failing statement as one line; False shows the full traceback.",
    )
    cache = Bool(
        False, config=True,
        help="Reuse a cell's read result when the same SQL with the same parameters ran on "
             "the same database and no write can have changed its answer since (SQLite, "
             "DuckDB); on Spark and PostgreSQL only --cache-ttl caches. As --cache on a cell.",
    )
    history_file = Unicode(
        "", config=True,
        help="Keep the query history (%sqlnb history) in this SQLite file too, so a new "
             "kernel shows it: a path, or 'default' for <Jupyter data folder>/sqlnb/"
             "history.sqlite. Empty (the default): in memory only. Secrets are never in it.",
    )

    @observe("history_file")
    def _history_file_changed(self, change: Any) -> None:
        path = _history_path(change["new"])
        try:
            sqlnb.history.persist_to(path)
        except (OSError, sqlnb.UsageError, ValueError) as error:
            raise IPythonUsageError(f"SqlNB.history_file: cannot keep the history in "
                                    f"{str(path)!r}: {error}") from None

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._databases: dict[str, sqlnb.Database] = {}
        self._owned: set[str] = set()
        self._current: str | None = None
        #: the magics' own results (by id; weakly, as DataFrames cannot be hashed): only they
        #: get the display_limit, not frames the user builds from them
        self._results: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        #: the query behind each result (by id): (db, sql, params, time limit), which the
        #: explorer runs again, wrapped, for each page
        self._queries: dict[int, tuple[Any, str, Any, float | None]] = {}
        #: the row counts of results larger than fetch_limit (by id), whose first rows they hold
        self._capped: dict[int, int] = {}
        #: the explorers each notebook cell showed (by the front end's cell id), with the run
        #: of the cell that showed them: a cell run again closes the grids of its last run
        self._grids: dict[str, list[tuple[int, Any]]] = {}
        #: the in-memory databases of DataFrames explored without a grid (in a terminal)
        self._frame_databases: list[sqlnb.Database] = []
        #: the profiles %sqlnb profile returned, shown as a report (see _profile_shown)
        self._profiles: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        #: (the frame, its grid's text) while IPython formats a result shown as its grid
        self._grid_text: tuple[weakref.ref[Any], str] | None = None
        #: the last --background cell of each `VAR <<`, for %sqlnb wait VAR
        self._background: dict[str, BackgroundCell] = {}
        #: targets whose secret the user was told is in the cell (each told once)
        self._secrets_said: set[str] = set()
        #: names that are both a table and a DataFrame variable (the user told once each)
        self._shadows_said: set[str] = set()
        #: the SQL of the last %sql/%%sql run (%sqlnb format with nothing after it)
        self._last_sql: str | None = None

        #: another extension's %sql / %%sql that loading sqlnb replaced ("line"/"cell" ->
        #: magic), given back by `%unload_ext sqlnb`
        self.replaced: dict[str, Any] = {}
        #: Tab completion inside SQL (set by `%load_ext sqlnb` when IPython has a completer)
        self.completer: Completer | None = None

    # -- %sql and %%sql ------------------------------------------------------------------------
    @magic_arguments()
    @argument("--db", metavar="NAME", help="run on this database (see %%sqlnb list)")
    @argument("--no-progress", action="store_true",
              help="show no progress widget for this cell (see %%config SqlNB.show_progress)")
    @argument("--background", action="store_true",
              help="return at once: the widget stays live and VAR (of VAR <<) holds the "
                   "cell's handle until the result replaces it")
    @argument("--time-limit", metavar="SECONDS", type=float,
              help="stop the query after this many seconds (default: %%config SqlNB.time_limit)")
    @argument("--all", action="store_true",
              help="fetch the whole result however many rows it has (see %%config "
                   "SqlNB.fetch_limit)")
    @argument("--explain", action="store_true",
              help="show the engine's plan of each statement instead of running it")
    @argument("--save", metavar="NAME",
              help="make the cell's last query a named result: later cells read it as the "
                   "table NAME (a view of the session; see %%sqlnb saved)")
    @argument("--materialize", action="store_true",
              help="with --save: keep the query's rows now, as a temporary table")
    @argument("--cache", action="store_true",
              help="reuse a read's result while no write can have changed it (default: "
                   "%%config SqlNB.cache)")
    @argument("--cache-ttl", type=float, metavar="SECONDS",
              help="reuse a read's result up to this old (where sqlnb cannot see every "
                   "write, as on Spark and PostgreSQL, the only way to cache)")
    @no_var_expand  # `$name` and `{x}` in SQL are SQLite's, never IPython's
    @line_cell_magic
    def sql(self, line: str, cell: str | None = None) -> Any:
        """Run SQL on the current database; the value is a DataFrame of the last result.

        %%sql [--db NAME] [--time-limit SECONDS] [--no-progress] [--background] [--explain]
              [--all] [--save NAME [--materialize]] [--cache] [--cache-ttl SECONDS] [VAR <<]
        %sql [options] [VAR <<] SELECT ...     (also: df = %sql SELECT ...)
        %sql sqlite:///path/to/file.db         (open a database and make it current)

        `:name` in the SQL binds the Python variable `name` as a parameter (never pasted into
        the SQL). `VAR <<` also stores the result in the variable VAR. A target opens its
        engine's database: SQLite (sqlite:///...), DuckDB (duckdb:///...), Spark (sc://...,
        spark:local[N]), PostgreSQL (postgresql://...) or an engine a plug-in registered; a
        URL no engine opens is an error.
        """
        try:
            return self._sql(line, cell)
        except (IPythonUsageError, SqlCellError) as error:
            safe = _without_credentials(error)
            if safe is error:
                raise
            raise safe from None
        finally:
            sqlnb.history.flush()  # to the history file, if there is one (never on a worker)

    def _sql(self, line: str, cell: str | None) -> Any:
        options, target, rest = _split_line(line)
        args = parse_argstring(self.sql, " ".join(options)) if options else _NO_OPTIONS
        sql = rest if cell is None else f"{rest}\n{cell}" if rest.strip() else cell
        first = rest.split(None, 1)[0] if rest.strip() else ""
        scheme = engine.scheme_of(first)
        if scheme is not None:  # a target: a URL, or a form an engine has (spark:local[2])
            _engine(first)
            if cell is not None or len(rest.split()) > 1:
                raise IPythonUsageError(
                    f"a {scheme}: target opens a database on a line of its own: run "
                    f"%sql {first} first, then the SQL")
            return self._connect(first, name=None, read_only=False)
        if target is not None and not (target.isidentifier() and not keyword.iskeyword(target)):
            raise IPythonUsageError(f"{target!r} is not a valid Python variable name for "
                                    "'VAR <<': use letters, digits and _")
        limit = _limit(args.time_limit, self.time_limit)
        db = self.database(args.db)
        self._last_sql = sql  # (what %sqlnb format formats when given nothing)
        statements = self._statements(db, sql)
        if args.explain:
            if target is not None or args.background:
                raise IPythonUsageError("--explain shows each statement's plan and runs "
                                        "nothing: it takes no VAR << and no --background")
            self._explain(db, statements, limit)
            return None
        if args.materialize and args.save is None:
            raise IPythonUsageError("--materialize keeps a named result's rows: give it with "
                                    "--save NAME")
        save = (args.save, args.materialize) if args.save is not None else None
        if args.cache_ttl is not None and not args.cache_ttl > 0:
            raise IPythonUsageError(f"--cache-ttl must be more than 0 seconds, not "
                                    f"{args.cache_ttl:g}")
        caching = (args.cache or self.cache, args.cache_ttl)
        if args.background:
            handle = self._run_background(db, statements, limit, target, save, caching,
                                          args.all)
            return handle if target is None else None
        progress = CellProgress(enabled=self.show_progress and not args.no_progress,
                                widgets=widgets_available(self.shell),
                                kernel=getattr(self.shell, "kernel", None))
        value = self._run_cell(db, statements, limit, progress, save=save, caching=caching,
                               fetch_all=args.all)
        if target is not None:
            self.shell.user_ns[target] = value
        return value

    def _statements(self, db: sqlnb.Database, sql: str) -> list[tuple[Statement, Any]]:
        """The cell's statements, each with its bound parameters (all bound before any runs)."""
        try:
            statements = db.statements(sql)
        except sqlnb.UsageError as error:
            raise IPythonUsageError(str(error)) from None
        if not statements:
            raise IPythonUsageError("the cell has no SQL (only blanks or comments): "
                                    "write a statement to run")
        total = len(statements)
        return [(s, self._bind(db, s, _where(i, total))) for i, s in enumerate(statements)]

    def _run_cell(self, db: sqlnb.Database, statements: list[tuple[Statement, Any]],
                  limit: float | None, progress: CellProgress,
                  on_start: Any = None, save: tuple[str, bool] | None = None,
                  caching: tuple[bool, float | None] = (False, None),
                  fetch_all: bool = False) -> Any:
        """Run the statements in order; the cell's value, or a SqlCellError naming the failure.
        `save` (name, materialize): the last statement becomes that named result, and the
        cell's value is read from it. `fetch_all`: no fetch limit (--all)."""
        frame = None
        changed: int | None = None
        total = len(statements)
        started = time.monotonic()
        for index, (statement, params) in enumerate(statements):
            where = _where(index, total)
            handle = None
            try:
                cap = self._cap(statement, fetch_all)
                capped: list[bool] = []

                def watch(running: sqlnb.QueryHandle, cap: int | None = cap,
                          capped: list[bool] = capped) -> None:
                    if cap is not None and not capped and running.progress.rows > cap:
                        capped.append(True)  # more rows than the fetch limit: stop fetching
                        running.cancel()

                # (all made before the query starts: from its start to the wait, this thread
                # holds the GIL that the worker running the query needs)
                if save is not None and index == total - 1:
                    handle = self._save(db, save, statement, params, limit, progress, on_start,
                                        where)
                else:
                    cache, ttl = caching if not statement.surely_writes else (False, None)
                    handle = db.submit(statement.text, params, time_limit=limit, dataframe=True,
                                       frames=self._frames(db, statement), cache=cache,
                                       cache_ttl=ttl)
                if on_start is not None:
                    on_start(handle)
                try:
                    value = progress.wait(handle, "" if total == 1 else f"{where} · ",
                                          watch if cap is not None else None)
                except sqlnb.QueryCancelled:
                    if not capped:
                        raise
                    value = self._first_rows(db, statement, params, limit, cap)
                else:
                    if cap is not None and len(value) > cap:  # in before the watch saw it:
                        value = self._keep_first(value.head(cap).copy(), len(value))  # alike
                if handle.cache_line is not None:
                    print(handle.cache_line if total == 1 else f"{where}: {handle.cache_line}")
            except KeyboardInterrupt:  # the kernel's Stop: worded as the Cancel button's cancel
                elapsed = handle.progress.elapsed if handle is not None else 0.0
                message = _cancelled(elapsed, _stopped_fate(handle), where, index,
                                     statement.text)
                progress.fail(message)
                if not self.short_errors:
                    raise
                raise SqlCellError(message) from None
            except (*db.error_types, ValueError, TypeError, OverflowError) as error:
                message = _one_line(error, where, index, statement.text)
                progress.fail(message)
                if not self.short_errors:
                    raise
                raise SqlCellError(message) from error
            if len(value.columns) or "rowcount" not in value.attrs:
                frame = value
                source = (db, statement, params, limit)
            elif value.attrs["rowcount"] >= 0:  # -1: the engine counted nothing
                changed = (changed or 0) + value.attrs["rowcount"]
        took = time.monotonic() - started
        if frame is None:
            result: Any = WriteSummary(changed, total)
            progress.finish(f"{result!r} in {took:.2f} s")
            return result
        rows = self._capped.get(id(frame))
        if rows is not None:
            progress.finish(f"the first {len(frame):,} rows of {rows:,} in {took:.2f} s")
            print(_capped_line(len(frame), rows))  # said in any case: never silent
        else:
            progress.finish(f"{len(frame):,} {'row' if len(frame) == 1 else 'rows'} in "
                            f"{took:.2f} s")
        self._results[id(frame)] = frame
        self._remember_query(frame, *source)
        return frame

    def _frames(self, db: sqlnb.Database, statement: Statement) -> dict[str, Any]:
        """The notebook's pandas DataFrame variables that `statement` reads as tables (in FROM
        or JOIN, as the engine's dialect parses it; `Database.names_read`). A name that is a
        table of the database too is the table's: the user is told so, once per name."""
        pandas = sys.modules.get("pandas")
        if pandas is None:
            return {}
        namespace = self.shell.user_ns
        text = statement.text
        # parse only when a word of the SQL names a DataFrame: looked up word by word, as a
        # long session's namespace holds thousands of names (_i1, _1, ...; 1.2 ms a statement
        # at 6,000 names when each was looked at)
        if not any(isinstance(namespace.get(word), pandas.DataFrame)
                   for word in set(_WORDS.findall(text)) if not word.startswith("_")):
            return {}
        found = {name: namespace[name] for name in db.names_read(text)
                 if not name.startswith("_")
                 and isinstance(namespace.get(name), pandas.DataFrame)}
        if not found:
            return found
        for name in db.tables_named(list(found)):
            del found[name]
            if name not in self._shadows_said:
                self._shadows_said.add(name)
                print(f"note: {name} is a table and a DataFrame variable: the table was read "
                      "(rename the variable to read the DataFrame)")
        return found

    def _save(self, db: sqlnb.Database, save: tuple[str, bool], statement: Statement,
              params: Any, limit: float | None, progress: CellProgress, on_start: Any,
              where: str) -> sqlnb.QueryHandle:
        """Make `statement` the named result save[0]; the handle of the read of its rows."""
        name, materialize = save
        handle = db.save_result(name, statement.text, params, materialize=materialize,
                                time_limit=limit, block=False,
                                frames=self._frames(db, statement))
        if on_start is not None:
            on_start(handle)
        progress.wait(handle, f"saving {name} · ")
        return db.submit(f"SELECT * FROM {db.quote_identifier(name)}", None, time_limit=limit,
                         dataframe=True)

    def _cap(self, statement: Statement, fetch_all: bool) -> int | None:
        """The rows a statement's result may have before it is no longer fetched whole (None:
        no limit): a query's only, unless --all or fetch_limit 0."""
        if (fetch_all or self.fetch_limit <= 0 or statement.writes
                or statement.keyword not in EXPLORABLE):
            return None
        return self.fetch_limit

    def _first_rows(self, db: sqlnb.Database, statement: Statement, params: Any,
                    limit: float | None, cap: int) -> Any:
        """A result larger than the fetch limit: its first `cap` rows (the query run again,
        wrapped with LIMIT) and its row count, counted in the engine."""
        view = db.explore(statement.text, params, time_limit=limit)
        return self._keep_first(view.page(0, cap), view.count())

    def _keep_first(self, frame: Any, rows: int) -> Any:
        """`frame`, the first rows of a result of `rows` rows, remembered as such (the
        line under it and the explorer's count say so)."""
        frame.index = range(len(frame))
        key = id(frame)
        self._capped[key] = rows
        weakref.finalize(frame, self._capped.pop, key, None)
        return frame

    def _remember_query(self, frame: Any, db: sqlnb.Database, statement: Statement,
                        params: Any, limit: float | None) -> None:
        """Keep the query behind a result (while the result lives) for its explorer: a
        query's only (a statement that may write is never run again)."""
        if statement.writes or statement.keyword not in EXPLORABLE:
            return
        key = id(frame)
        self._queries[key] = (db, statement.text, params, limit)
        weakref.finalize(frame, self._queries.pop, key, None)

    def _run_background(self, db: sqlnb.Database, statements: list[Any], limit: float | None,
                        target: str | None, save: tuple[str, bool] | None = None,
                        caching: tuple[bool, float | None] = (False, None),
                        fetch_all: bool = False) -> BackgroundCell:
        """Start the cell on a thread of its own; the widget stays live with its Cancel button."""
        widgets = widgets_available(self.shell)  # a terminal gets no progress line: it would
        progress = CellProgress(enabled=widgets, widgets=widgets,  # garble the prompt
                                blocking=False, show_after=0.0,
                                kernel=getattr(self.shell, "kernel", None))
        progress.show()  # in the cell, before it returns (so a stored notebook has it)
        cell = BackgroundCell(len(statements), progress)
        namespace = self.shell.user_ns

        def run() -> None:
            try:
                value = self._run_cell(db, statements, limit, progress, on_start=cell._started,
                                       save=save, caching=caching, fetch_all=fetch_all)
            except BaseException as error:
                cell._reply.set_exception(error)
                return
            if target is not None:
                namespace[target] = value
            cell._reply.set_result(value)

        if target is not None:  # before the thread starts, so the result always replaces it
            namespace[target] = cell
            self._background[target] = cell
        thread = threading.Thread(target=contextvars.copy_context().run, args=(run,),
                                  name="sqlnb-cell", daemon=True)
        thread.start()
        return cell

    def _bind(self, db: sqlnb.Database, statement: Statement, where: str
              ) -> dict[str, Any] | None:
        """The values of the Python variables the statement names (:name, @name, $name), as
        the Database's engine binds them."""
        if statement.positional:
            raise IPythonUsageError(f"{where} uses '?': in a SQL cell, bind Python variables "
                                    "by name, as :name")
        if not statement.named:
            return None
        namespace = self.shell.user_ns
        params = {}
        for name in statement.named:
            if name not in namespace:
                raise IPythonUsageError(
                    f":{name} in {where} names no Python variable: define {name} first, or "
                    "quote the text if it is not a parameter")
            try:
                params[name] = db.adapt_parameter(namespace[name], name)
            except sqlnb.UsageError as error:
                raise IPythonUsageError(str(error)) from None
        return params

    # -- %sqlnb --------------------------------------------------------------------------------
    @no_var_expand
    @line_magic
    def sqlnb(self, line: str) -> Any:
        """Manage and explore databases.

        %sqlnb connect PATH [--as NAME] [--read-only] [--secret-env NAME]
                            [--option NAME=VALUE]...    open a database and make it current;
                                                        --option gives an option of its engine
                                                        (wal=false on SQLite), --secret-env the
                                                        variable that holds its secret (a
                                                        token, a password; --token-env and
                                                        --password-env say the same)
        %sqlnb list                                     the open databases
        %sqlnb use NAME                                 make NAME current (or a Database variable)
        %sqlnb close [NAME]                             close a database (the current one)
        %sqlnb tables                                   tables and views, with tables' row counts
        %sqlnb schema TABLE                             a table's columns and keys
        %sqlnb profile TABLE [--top N] [--time-limit SECONDS]
                                                        per column: type, count, nulls, distinct,
                                                        min, max, mean, most frequent values
        %sqlnb plot hist|bar|box TABLE COLUMN [--bins N] [--top N] [--time-limit SECONDS]
                                                        a plot whose numbers the engine computes
        %sqlnb explain SQL                              the engine's plan for the statement
        %sqlnb import SOURCE TABLE [--if-exists fail|append|replace] [--format csv|parquet]
                     [--encoding NAME] [--time-limit SECONDS]
                                                        a DataFrame variable, a CSV or a Parquet
                                                        file into a table, all or nothing; no
                                                        time limit unless --time-limit gives one
                                                        (Cancel and Stop always work); a CSV is
                                                        UTF-8 unless --encoding names its codec
        %sqlnb wait VAR                                 wait for a --background cell's VAR
        %sqlnb format [SQL]                             the SQL (the last %%sql cell's) written
                                                        pretty in the engine's dialect, comments
                                                        kept; what does not parse is left as is
        %sqlnb cache [clear]                            the results --cache keeps (every
                                                        database's), or forget them
        %sqlnb saved                                    the named results (%%sql --save NAME):
                                                        kind, what each reads, their SQL
        %sqlnb expand NAME                              a named result and those it reads as one
                                                        query with CTEs, in the engine's dialect
        %sqlnb history [--failed] [--slow SECONDS] [-n N] [--rerun N]
                                                        the statements run (every database's),
                                                        secrets redacted; --rerun N runs entry
                                                        N's SQL again on its database, binding
                                                        :name from the variables as they are now
        %sqlnb explore [--rows N] [--time-limit SECONDS] TABLE|VAR|QUERY
                                                        the result explorer: sort, filter,
                                                        search and page in the engine (a
                                                        DataFrame VAR in an in-memory one)
        """
        try:
            return self._sqlnb(line)
        except (IPythonUsageError, SqlCellError) as error:
            safe = _without_credentials(error)
            if safe is error:
                raise
            raise safe from None

    def _sqlnb(self, line: str) -> Any:
        words = line.split(None, 1)
        if not words:
            raise IPythonUsageError(f"%sqlnb needs a command: {_COMMANDS} (see %sqlnb?)")
        command, rest = words[0], words[1] if len(words) > 1 else ""
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise IPythonUsageError(f"unknown %sqlnb command {command!r}: use {_COMMANDS}")
        return handler(rest)

    def _cmd_history(self, rest: str) -> Any:
        args = history_parser().parse_argstring(rest)
        if args.rerun is not None:
            if args.failed or args.slow is not None or args.n is not None:
                raise IPythonUsageError("--rerun N runs one entry again: give it alone")
            return self._rerun(args.rerun)
        if args.n is not None and args.n < 1:
            raise IPythonUsageError(f"-n takes a whole number above 0, not {args.n}")
        if args.slow is not None and not args.slow >= 0:
            raise IPythonUsageError(f"--slow takes seconds, 0 or more, not {args.slow:g}")
        frame = sqlnb.history.frame(failed=args.failed, slow=args.slow, last=args.n)
        return frame.set_index("number")

    def _cmd_cache(self, rest: str) -> Any:
        word = rest.strip()
        if word == "clear":
            count = sqlnb.cache.clear()
            print(f"cache cleared: {count} {'result' if count == 1 else 'results'} dropped")
            return None
        if word:
            raise IPythonUsageError(f"%sqlnb cache takes nothing, or clear, not {word!r}")
        kept = sqlnb.cache.frame()
        used = int(kept["bytes"].sum()) if len(kept) else 0
        print(f"{len(kept)} kept {'result' if len(kept) == 1 else 'results'}, "
              f"{used / 2**20:.1f} of {sqlnb.options.cache_bytes / 2**20:.0f} MB "
              "(sqlnb.options.cache_bytes)")
        return kept

    def _cmd_format(self, rest: str) -> None:
        sql = rest.strip() or self._last_sql
        if not sql:
            raise IPythonUsageError("%sqlnb format formats the SQL after it, or the last "
                                    "%%sql cell's: run one first, or give the SQL")
        text, notes = _formatted(self.database(None), sql)
        print(text)
        for line in notes:
            print(line)

    def format_cell(self, source: str) -> dict[str, Any]:
        """A `%%sql` cell's source with its SQL formatted (its first line, and so its options,
        untouched), for the JupyterLab extension's "Format SQL" command: {"source": ...,
        "notes": [one line per statement left as it is]}, or {"error": ...}."""
        lines = source.split("\n")
        first = next((i for i, line in enumerate(lines) if line.strip()), None)
        if first is None or not re.match(r"%%sql(\s|$)", lines[first]):
            return {"error": "Format SQL formats a %%sql cell: this cell is not one"}
        head, body = "\n".join(lines[:first + 1]), "\n".join(lines[first + 1:])
        if not body.strip():
            return {"source": source, "notes": []}
        try:
            options, _target, _rest = _split_line(lines[first][len("%%sql"):])
            args = parse_argstring(self.sql, " ".join(options)) if options else _NO_OPTIONS
            text, notes = _formatted(self.database(args.db), body)
        except (IPythonUsageError, sqlnb.UsageError) as error:
            return {"error": str(error)}
        return {"source": f"{head}\n{text}", "notes": notes}

    def _cmd_saved(self, rest: str) -> Any:
        _nothing_after("saved", rest, "%sqlnb expand NAME writes one as a single query")
        return self._explore(lambda db: db.saved_results())

    def _cmd_expand(self, rest: str) -> None:
        name = _unquoted(rest.strip(), "'\"")
        if not name:
            raise IPythonUsageError("%sqlnb expand needs a named result: see %sqlnb saved")
        db = self.database(None)
        try:
            print(db.expand(name))
        except sqlnb.UsageError as error:
            raise IPythonUsageError(str(error)) from None

    def _rerun(self, number: int) -> Any:
        """Run history entry `number` again as a cell, on the open database it ran on."""
        entry = sqlnb.history.find(number)
        if entry is None:
            raise IPythonUsageError(f"no history entry {number}: %sqlnb history shows the "
                                    "entries kept")
        names = [name for name, db in self._databases.items()
                 if db.path == entry.database and not db.closed]
        if not names:
            raise IPythonUsageError(f"entry {number} ran on {entry.database!r}, which is not "
                                    "open: open it with %sqlnb connect, then rerun")
        name = self._current if self._current in names else names[0]
        print(f"rerun of {number} on {name}: {_shown(entry.source)}")
        return self._sql(f"--db {name}", entry.source)

    def _cmd_connect(self, rest: str) -> Any:
        args = connect_parser().parse_argstring(rest)
        backend = _engine(args.path)
        options = {}
        for given in args.option:
            name, equals, value = given.partition("=")
            if not equals or not name.strip():
                raise IPythonUsageError(f"--option takes NAME=VALUE (an option of the engine, "
                                        f"such as wal=false), not {given!r}")
            options[name.strip()] = value
        given = {flag: getattr(args, flag[2:].replace("-", "_")) for flag in _SECRET_FLAGS}
        given = {flag: variable for flag, variable in given.items() if variable is not None}
        if len(given) > 1:
            raise IPythonUsageError(f"{' and '.join(given)} say the same (the variable that "
                                    "holds the target's secret): give the variable once")
        for flag, variable in given.items():
            if backend.secret_env_option is None:
                raise IPythonUsageError(f"{flag} names the environment variable that holds a "
                                        f"target's secret, and {backend.title} reads none from "
                                        "the environment")
            options[backend.secret_env_option] = variable
        return self._connect(args.path, name=args.name, read_only=args.read_only,
                             options=options)

    def _cmd_list(self, rest: str) -> Any:
        import pandas as pd

        _nothing_after("list", rest, "it lists every open database")
        self.database(None)  # the default database counts as open
        rows = [(name, db.path, db.read_only, name == self._current)
                for name, db in self._databases.items()]
        return pd.DataFrame(rows, columns=["name", "path", "read_only", "current"])

    def _cmd_use(self, rest: str) -> None:
        name = rest.strip()
        if not name:
            raise IPythonUsageError("%sqlnb use needs a name: see %sqlnb list")
        if name not in self._databases:
            value = self.shell.user_ns.get(name)
            if not isinstance(value, sqlnb.Database):
                raise IPythonUsageError(f"no database named {name!r}: %sqlnb list shows them, "
                                        "or name a sqlnb.Database variable")
            self._databases[name] = value
        self._current = name

    def _cmd_close(self, rest: str) -> None:
        name = rest.strip() or self._current
        if name is None or name not in self._databases:
            raise IPythonUsageError(f"no database named {name!r} is open: see %sqlnb list")
        db = self._databases.pop(name)
        if name in self._owned:
            self._owned.discard(name)
            db.close()
        if self._current == name:
            self._current = next(iter(self._databases), None)

    def _cmd_wait(self, rest: str) -> Any:
        """Wait for the `--background` cell whose `VAR <<` is `rest`; its result (also in VAR)."""
        name = rest.strip()
        if not name.isidentifier():
            raise IPythonUsageError("%sqlnb wait needs the VAR of a `%%sql --background VAR <<`")
        if name not in self.shell.user_ns:
            raise IPythonUsageError(f"no variable named {name!r}: run the background cell first")
        value = self.shell.user_ns[name]
        cell = self._background.get(name)
        try:
            if not isinstance(value, BackgroundCell):
                return value  # finished already: VAR holds the result
            return value.result()
        except KeyboardInterrupt:  # Stop while waiting stops the cell, as in a blocking cell
            value.cancel()
            progress = value.progress
            elapsed = progress.elapsed if progress is not None else 0.0
            if not self.short_errors:
                raise
            raise SqlCellError(f"QueryCancelled: cancelled after {elapsed:.2f} s (the "
                               f"background cell of {name}, stopped while %sqlnb wait waited "
                               "for it)") from None
        except SqlCellError:
            raise
        except Exception as error:  # the cell's own error (it ran in the background)
            raise SqlCellError(f"{type(error).__name__}: {error}") from error
        finally:
            if cell is not None and cell.done():
                # the cell's display update again, from this cell: nbconvert keeps no message
                # that comes after the cell it belongs to has ended
                cell._progress.refresh()

    def _cmd_explore(self, rest: str) -> Any:
        """%sqlnb explore [--time-limit S] [--rows N] TABLE|VAR|QUERY: the result explorer."""
        words = rest.split()
        limit: float | None = None
        rows = sqlnb.View.PAGE_ROWS
        while words and words[0].startswith("--"):
            option = words.pop(0)
            if option not in ("--time-limit", "--rows") or not words:
                raise IPythonUsageError("%sqlnb explore [--time-limit SECONDS] [--rows N] "
                                        "TABLE|VAR|QUERY: a table's name, a DataFrame "
                                        "variable or a query")
            value = words.pop(0)
            try:
                if option == "--rows":
                    rows = int(value)
                    if rows < 1:
                        raise ValueError
                else:
                    limit = float(value)
            except ValueError:
                raise IPythonUsageError(f"{option} takes a number, not {value!r}") from None
        source = " ".join(words)
        if not source:
            raise IPythonUsageError("%sqlnb explore needs a table's name, a DataFrame variable "
                                    "or a query: %sqlnb explore flights")
        import pandas as pd

        value = self.shell.user_ns.get(source) if source.isidentifier() else None
        on_close = None
        db = None
        try:
            if isinstance(value, pd.DataFrame):  # into an in-memory engine of its own
                db = _memory_database()
                db.insert_df(value, "df")
                on_close = db.close
                view = db.explore("df", time_limit=limit)
            else:
                db = self.database(None)
                params = None
                statements = db.statements(source)
                if len(statements) == 1 and statements[0].named:
                    params = self._bind(db, statements[0], "the query")
                view = db.explore(source, params, time_limit=_limit(limit, self.time_limit))
        except sqlnb.UsageError as error:
            raise IPythonUsageError(str(error)) from None
        except sqlnb.Error as error:
            if on_close is not None:
                on_close()
            raise SqlCellError(f"{type(error).__name__}: {str(error).splitlines()[0]}") from error
        except Exception as error:  # the engine's own error (no such table ...)
            if on_close is not None:
                on_close()
            if db is None or not isinstance(error, db.error_types) or not self.short_errors:
                raise
            raise SqlCellError(f"{type(error).__name__}: {str(error).splitlines()[0]}") from error
        if not widgets_available(self.shell):
            if on_close is not None:  # the DataFrame's database: closed with the magics
                self._frame_databases.append(view.database)
            return view
        from .explorer import Explorer

        if on_close is not None:  # a DataFrame's grid: its new cell reads the variable
            grid = Explorer(view, page_rows=rows, on_close=on_close,
                            cell_source=f"SELECT * FROM {source}")
        else:
            grid = Explorer(view, page_rows=rows, database_name=self._name_of(view.database))
        if self.static_grids:  # the static table shows the whole first page and its count
            grid.wait()
            return StaticGrid(self._keep_grid(grid))
        grid.settle(FIRST_PAGE_WAIT)  # shown with its first page where it comes at once
        return self._keep_grid(grid)

    def _cmd_tables(self, rest: str) -> Any:
        _nothing_after("tables", rest, "for one table's columns use %sqlnb schema TABLE")
        return self._explore(lambda db: db.tables())

    def _cmd_schema(self, rest: str) -> Any:
        table = rest.strip()
        if not table:
            raise IPythonUsageError("%sqlnb schema needs a table name: see %sqlnb tables")
        return self._explore(lambda db: db.schema(table))

    def _cmd_profile(self, rest: str) -> Any:
        args = profile_parser().parse_argstring(rest)
        args.table = _unquoted(args.table)
        frame = self._long(lambda db: db.profile(args.table, top=args.top, block=False,
                                                 time_limit=self._cell_limit(args.time_limit)),
                           f"profile of {args.table}")
        self._profiles[id(frame)] = frame
        return frame

    def _cmd_plot(self, rest: str) -> None:
        from IPython.display import Image, display

        from sqlnb import plot

        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise IPythonUsageError("%sqlnb plot draws with matplotlib, which is not installed: "
                                    "pip install 'sqlnb[plot]' (or matplotlib)") from None

        args = plot_parser().parse_argstring(rest)
        args.table, args.column = _unquoted(args.table), _unquoted(args.column)
        data = self._long(lambda db: plot.fetch(
            db, args.kind, args.table, args.column, bins=args.bins, top=args.top,
            time_limit=self._cell_limit(args.time_limit), block=False),
            f"{args.kind} of {args.table}.{args.column}")
        figure = Figure(figsize=(7, 4), layout="constrained")
        plot.draw(args.kind, data, args.table, args.column, figure.add_subplot())
        png = io.BytesIO()  # drawn here, whatever matplotlib backend the kernel has (or none)
        figure.savefig(png, format="png")
        display(Image(data=png.getvalue(), format="png"))
        self.shell.user_ns["_sqlnb_plot"] = data

    def _cmd_import(self, rest: str) -> Any:
        args = import_parser().parse_argstring(rest)
        args.source, args.table = _unquoted(args.source, '"\''), _unquoted(args.table)
        source = self.shell.user_ns.get(args.source, args.source) \
            if args.source.isidentifier() else args.source
        if isinstance(source, str) and args.source.isidentifier() and not Path(source).exists():
            raise IPythonUsageError(f"{args.source!r} is neither a variable nor a file: give a "
                                    "DataFrame's name, or a CSV or Parquet file's path")
        shown = args.source if source is args.source else f"{args.source} (a variable)"
        limit = _limit(args.time_limit, None)  # not %config SqlNB.time_limit: see its help
        rows = self._long(lambda db: db.import_file(
            source, args.table, if_exists=args.if_exists, format=args.format,
            encoding=args.encoding, block=False, time_limit=limit), f"import of {shown}",
            hint=lambda message: " -- add --if-exists append (to add its rows) or --if-exists "
                                 "replace" if "already exists" in message else "")
        print(f"{rows:,} rows imported into {args.table}")

    def _cmd_explain(self, rest: str) -> None:
        if not rest.strip():
            raise IPythonUsageError("%sqlnb explain needs a statement: %sqlnb explain SELECT ...")
        db = self.database(None)
        self._explain(db, self._statements(db, rest), self._cell_limit(None))

    def _explain(self, db: sqlnb.Database, statements: list[tuple[Statement, Any]],
                 limit: float | None) -> None:
        """Print the engine's plan of each statement (none of them runs)."""
        for index, (statement, params) in enumerate(statements):
            where = _where(index, len(statements))
            try:
                plan = db.explain(statement.text, params, time_limit=limit)
            except db.error_types as error:
                if not self.short_errors:
                    raise
                raise SqlCellError(_one_line(error, where, index, statement.text)) from error
            if len(statements) > 1:
                print(f"-- {where}: {_shown(statement.text)}")
            print(plan)

    def _cell_limit(self, option: float | None) -> float | None:
        return _limit(option, self.time_limit)

    def _long(self, start: Any, what: str, hint: Any = None) -> Any:
        """Run work that may take long (its handle from `start(db)`) with the progress widget
        and Cancel; its value, or one line naming the failure (and `hint(line)`'s advice)."""
        db = self.database(None)
        progress = CellProgress(enabled=self.show_progress, widgets=widgets_available(self.shell),
                                kernel=getattr(self.shell, "kernel", None))
        handle = None
        started = time.monotonic()
        try:
            handle = start(db)
            value = progress.wait(handle, f"{what} · ")
        except KeyboardInterrupt:
            elapsed = handle.progress.elapsed if handle is not None else 0.0
            message = f"QueryCancelled: {what} cancelled after {elapsed:.2f} s" + (
                _work_fate(handle, handle.exception(0) if handle.done() else _UNKNOWN)
                if handle is not None else "")
            progress.fail(message)
            raise SqlCellError(message) from None
        except db.error_types as error:
            nothing = _work_fate(handle, error)
            if isinstance(error, sqlnb.QueryCancelled):
                message = (f"QueryCancelled: {what} cancelled after {error.elapsed:.2f} s"
                           f"{nothing}")
            elif isinstance(error, sqlnb.QueryTimeout):
                message = (f"QueryTimeout: {what} stopped at the {error.time_limit:g} s time "
                           f"limit{nothing} -- raise it with --time-limit SECONDS")
            else:
                message = f"{type(error).__name__}: {str(error).splitlines()[0]}"
                message += hint(message) if hint is not None else ""
            progress.fail(message)
            if not self.short_errors:
                raise
            raise SqlCellError(message) from error
        progress.finish(f"{what} in {time.monotonic() - started:.2f} s")
        return value

    def _explore(self, call: Any) -> Any:
        db = self.database(None)
        try:
            return call(db)
        except db.error_types as error:
            if not self.short_errors:
                raise
            raise SqlCellError(f"{type(error).__name__}: {error}") from error

    # -- databases ------------------------------------------------------------------------------
    def _connect(self, target: str, *, name: str | None, read_only: bool,
                 options: dict[str, Any] | None = None) -> None:
        """Open `target` (a path or a URL: its engine picks by scheme or suffix) with the
        engine's `options`. A secret typed into it is shown nowhere, and said once to be in
        the cell."""
        shown = sqlnb.redact(target)
        try:
            with warnings.catch_warnings():  # the magic says it its own way, below
                warnings.simplefilter("ignore", UserWarning)
                db = sqlnb.connect(None if target in ("", ":memory:") else target,
                                   read_only=read_only, **(options or {}))
        except Exception as error:  # whatever the engine says when it cannot open the target
            said = " -- ".join([str(error), *getattr(error, "__notes__", ())])  # what to do
            raise SqlCellError(f"{type(error).__name__}: cannot open {shown!r}: "
                               f"{sqlnb.redact(said)}") from None
        backend = engine.engine_named(db.engine)
        if backend.holds_secret(target) and shown not in self._secrets_said:
            self._secrets_said.add(shown)
            print(_secret_note(backend))
        if name is None:
            base = backend.short_name(db.path)
            name, n = base, 1
            while name in self._databases:
                n += 1
                name = f"{base}{n}"
        elif name in self._databases:
            self._cmd_close(name)
        self._databases[name] = db
        self._owned.add(name)
        self._current = name
        self._read_catalog(db)
        print(f"connected: {name} ({db.path}) on {backend.title}")

    def _read_catalog(self, db: sqlnb.Database) -> sqlnb.Database:
        """Start reading the names Tab completes from, so the first Tab finds them (on Spark
        a read takes a round trip per table)."""
        if self.completer is not None:
            self.completer.prefetch(db)
        return db

    def database(self, name: str | None = None) -> sqlnb.Database:
        """The Database a cell runs on: the one named `name` (--db), else the current one
        (an in-memory SQLite database opened at first use)."""
        if name is None:
            if self._current is None:
                self._databases["default"] = self._read_catalog(sqlnb.connect())
                self._owned.add("default")
                self._current = "default"
            name = self._current
        db = self._databases.get(name)
        if db is None:
            raise IPythonUsageError(f"no database named {name!r}: %sqlnb list shows them, and "
                                    "%sqlnb connect PATH --as NAME opens one")
        if db.closed:
            raise IPythonUsageError(f"the database {name!r} is closed: open it again with "
                                    "%sqlnb connect")
        return db

    def opened(self, name: str | None = None) -> sqlnb.Database | None:
        """The Database `database(name)` gives, without opening the default one: None while
        no cell has opened a database (what Tab asks: a Tab opens nothing)."""
        if name is None and self._current is None:
            return None
        return self.database(name)

    def close_all(self) -> None:
        """Close the grids the magics showed and the databases they opened."""
        self.close_grids()
        for db in self._frame_databases:
            db.close()
        self._frame_databases.clear()
        for name in list(self._owned):
            self._databases.pop(name).close()
        self._owned.clear()
        self._current = None

    # -- display --------------------------------------------------------------------------------
    def install_display(self) -> None:
        """Show a result's first and last `display_limit` rows (only frames from these magics)."""
        import pandas as pd

        formatters = self.shell.display_formatter.formatters
        as_markup = formatters["text/html"]
        previous_html = (as_markup.lookup_by_type(pd.DataFrame)
                         if _has_type(as_markup, pd.DataFrame) else None)

        def as_html(frame: pd.DataFrame) -> str | None:
            if self._profiles.get(id(frame)) is frame:  # one line per column: never wrapped
                table = _profile_shown(frame).to_html(index=False, classes="sqlnb-profile")
                return f'<div style="white-space: nowrap; overflow-x: auto">{table}</div>'
            if not self._is_result(frame):
                return previous_html(frame) if previous_html else frame._repr_html_()
            if self._shows_explorer(frame):
                return None  # the explorer's static table, from its bundle (as_explorer)
            with pd.option_context(*self._display_options(frame)):
                table = frame._repr_html_() or ""
            return (f'{table}<div class="sqlnb-shape" style="color: var(--jp-ui-font-color2, '
                    f'#616161)">{html.escape(self._shape(frame))}</div>')

        as_markup.for_type(pd.DataFrame, as_html)
        plain = formatters["text/plain"]

        def as_text(frame: pd.DataFrame, printer: Any, cycle: bool) -> None:
            shown, self._grid_text = self._grid_text, None
            if shown is not None and shown[0]() is frame:  # shown as its grid: the grid's
                printer.text(shown[1])  # line (the whole frame's text took 0.17 s, unseen)
                return
            if self._profiles.get(id(frame)) is frame:
                printer.text(_profile_shown(frame).to_string(index=False))
                return
            if not self._is_result(frame):
                printer.text(repr(frame))
                return
            with pd.option_context(*self._display_options(frame)):
                printer.text(f"{frame!r}\n{self._shape(frame)}")

        plain.for_type(pd.DataFrame, as_text)
        bundles = self.shell.display_formatter.mimebundle_formatter

        def as_explorer(frame: pd.DataFrame, include: Any = None, exclude: Any = None
                        ) -> tuple[dict[str, Any], dict[str, Any]] | None:
            # the cell's value (an execute_result, which no display id can update): its
            # static copy is the result's first page; the metadata marks it as the explorer's
            self._grid_text = None
            explorer = self._explorer_of(frame)
            if explorer is None:
                return None
            from .explorer import OUTPUT_METADATA

            shown = StaticGrid(explorer) if self.static_grids else explorer
            bundle = shown._repr_mimebundle_()
            # IPython asks the text/plain printer (as_text) next, which would print the whole
            # frame over the bundle's own text: it prints this instead
            self._grid_text = (weakref.ref(frame), bundle.get("text/plain", ""))
            return bundle, ({} if self.static_grids else OUTPUT_METADATA)

        bundles.for_type(pd.DataFrame, as_explorer)

    def _shows_explorer(self, frame: Any) -> bool:
        """True for a result that shows as the explorer: one of more than `explorer` rows,
        of one query (a read), in a kernel that draws widgets, on a Database still open."""
        if (self.explorer < 0 or not self._is_result(frame) or len(frame) <= self.explorer
                or not widgets_available(self.shell)):
            return False
        query = self._queries.get(id(frame))
        return query is not None and not query[0].closed

    def _explorer_of(self, frame: Any) -> Any:
        """The explorer a result shows as (None: the plain table). Its first page is the
        result's first rows and its count the result's, so nothing runs until a click."""
        if not self._shows_explorer(frame):
            return None
        db, sql, params, limit = self._queries[id(frame)]
        from .explorer import Explorer

        try:
            view = db.explore(sql, params, time_limit=limit, result=frame)
            if id(frame) in self._capped:  # the result holds the first rows only
                view.remember_count(self._capped[id(frame)])
        except sqlnb.UsageError:
            return None  # a query the explorer cannot wrap: the plain table
        whole = None if id(frame) in self._capped else frame
        return self._keep_grid(Explorer(view, first_page=frame, whole=whole,
                                        database_name=self._name_of(db)))

    def _name_of(self, db: sqlnb.Database) -> str | None:
        """The name the magics know `db` by (%sqlnb list), None for one of their own."""
        return next((name for name, known in self._databases.items() if known is db), None)

    def _keep_grid(self, grid: Any) -> Any:
        """Register a grid under the running cell: the grids an earlier run of that cell
        showed are closed (their widgets, their queries still running, a DataFrame's
        in-memory database), since the new output replaces theirs."""
        cell = _cell_id(self.shell)
        if cell is None:
            return grid
        run = self.shell.execution_count
        kept = []
        for shown_run, old in self._grids.get(cell, []):
            if shown_run == run:
                kept.append((shown_run, old))
            else:
                old.close()
        self._grids[cell] = [*kept, (run, grid)]
        return grid

    def close_grids(self) -> None:
        """Close every grid the magics showed (unloading sqlnb does)."""
        for grids in self._grids.values():
            for _run, grid in grids:
                grid.close()
        self._grids.clear()

    def _shape(self, frame: Any) -> str:
        """The line under a result; a result larger than fetch_limit says it holds its first
        rows only."""
        rows = self._capped.get(id(frame))
        if rows is None:
            return _shape(frame)
        return f"{_capped_line(len(frame), rows)}\n{_shape(frame)}"

    def _is_result(self, frame: Any) -> bool:
        """True for a DataFrame these magics returned (not one built from it)."""
        return self._results.get(id(frame)) is frame

    def _display_options(self, frame: Any) -> list[Any]:
        """pandas display options for a result: display_limit rows, and no "[n rows x m
        columns]" (the line under the table says the rows and the column types)."""
        limit = self.display_limit
        return ["display.max_rows", limit, "display.min_rows", limit,
                "display.show_dimensions", False]


# -- helpers -----------------------------------------------------------------------------------

#: The %sqlnb commands, as its errors list them.
_COMMANDS = ("connect, list, use, close, tables, schema, profile, plot, explain, import, "
             "explore, wait, history, cache, saved, expand or format")


def _formatted(db: sqlnb.Database, sql: str) -> tuple[str, list[str]]:
    """`sql` formatted statement by statement in `db`'s dialect, and a note for each statement
    left as it is (the parser cannot read it, or a comment would be lost)."""
    try:
        statements = db.statements(sql)
    except sqlnb.UsageError as error:
        raise IPythonUsageError(str(error)) from None
    pieces, notes = [], []
    for index, statement in enumerate(statements):
        try:
            pieces.append(db.format_sql(statement.text, strict=True))
        except sqlnb.UsageError as error:
            pieces.append(statement.text.strip().rstrip(";").rstrip())
            notes.append(f"note: {_where(index, len(statements))}: {error}")
    if not pieces:
        return sql.strip(), notes
    return (pieces[0] if len(pieces) == 1 else ";\n\n".join(pieces) + ";"), notes


class StaticGrid:
    """An explorer shown as its static table only (`SqlNB.static_grids`): the page, its footer
    and the line under them, without the widget. Everything else is the grid's
    (`.view`, `.sql`, `.to_df()`, clicks from Python)."""

    def __init__(self, grid: Any) -> None:
        self.grid = grid

    def __getattr__(self, name: str) -> Any:
        return getattr(self.grid, name)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.grid._repr_mimebundle_(**kwargs)
        bundle.pop(WIDGET_VIEW, None)
        return bundle

    #: not the grid's (which shows the widget): IPython then displays `_repr_mimebundle_`
    _ipython_display_ = None

    def __repr__(self) -> str:
        return repr(self.grid)


class _Json:
    """A value whose text/plain is its JSON (what a front end reads from user_expressions)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return json.dumps(self.value)

    def _repr_pretty_(self, printer: Any, _cycle: bool) -> None:
        printer.text(repr(self))


def format_cell(source: str) -> _Json:
    """What the JupyterLab extension's "Format SQL" command asks the kernel (in an execute
    request's user_expressions): SqlNB.format_cell for the shell's magics, as JSON."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("SqlNB") if shell is not None else None
    if magics is None:
        return _Json({"error": "sqlnb is not loaded in this kernel: run %load_ext sqlnb"})
    return _Json(magics.format_cell(source))


def history_parser() -> MagicArgumentParser:
    """`%sqlnb history`'s arguments."""
    parser = MagicArgumentParser(prog="%sqlnb history")
    parser.add_argument("--failed", action="store_true",
                        help="only the statements that did not end done")
    parser.add_argument("--slow", type=float, metavar="SECONDS",
                        help="only the statements that ran at least this long")
    parser.add_argument("-n", type=int, metavar="N", help="only the last N statements")
    parser.add_argument("--rerun", type=int, metavar="N",
                        help="run entry N again, as a cell, on the database it ran on")
    return parser


def _history_path(setting: str) -> Path | None:
    """Where SqlNB.history_file keeps the history: None (memory only) for "", the Jupyter
    data folder's sqlnb/history.sqlite for "default", else the path given."""
    if not setting.strip():
        return None
    if setting.strip() == "default":
        from jupyter_core.paths import jupyter_data_dir

        return Path(jupyter_data_dir()) / "sqlnb" / "history.sqlite"
    return Path(setting).expanduser()


#: Seconds %sqlnb explore waits for its grid's first page before showing the grid (which
#: shows the page when it comes, and has its own Cancel meanwhile).
FIRST_PAGE_WAIT = 2.0

#: The first keywords of a query whose result the explorer can show (by running it again).
EXPLORABLE = frozenset({"SELECT", "WITH", "VALUES", "FROM", "TABLE"})


def _cell_id(shell: Any) -> str | None:
    """The front end's id of the cell running now (JupyterLab, Notebook 7 and VS Code send
    it with each execute request), or None."""
    kernel = getattr(shell, "kernel", None)
    get_parent = getattr(kernel, "get_parent", None)
    if get_parent is None:
        return None
    try:
        parent = get_parent()
    except Exception:  # a kernel of another make: no cell ids
        return None
    cell = (parent or {}).get("metadata", {}).get("cellId")
    return cell if isinstance(cell, str) else None


def _capped_line(held: int, rows: int) -> str:
    return (f"the first {held:,} rows of {rows:,}: the result is larger than the fetch limit "
            f"(%config SqlNB.fetch_limit); %%sql --all fetches every row, and the explorer "
            f"sorts, filters and pages all {rows:,} in the engine")


def _memory_database() -> sqlnb.Database:
    """An in-memory Database for exploring a DataFrame: the first of the registry's
    `frame_targets` whose client is installed."""
    *better, last = engine.frame_targets()
    for target in better:
        try:
            return sqlnb.connect(target)
        except sqlnb.UsageError:  # its client is not installed
            continue
    return sqlnb.connect(last)

#: Columns whose types the line under a result names (the rest are counted).
SHAPE_COLUMNS = 12


def _shape(frame: Any) -> str:
    """The line under a result: its rows and its columns' types ("0 rows" when empty)."""
    n = len(frame)
    types = ", ".join(f"{name} {dtype}" for name, dtype in
                      list(frame.dtypes.items())[:SHAPE_COLUMNS])
    more = len(frame.columns) - SHAPE_COLUMNS
    return (f"{n:,} {'row' if n == 1 else 'rows'} · {types}"
            + (f", and {more} more columns" if more > 0 else ""))


def _profile_shown(frame: Any) -> Any:
    """A profile as it is shown (the returned DataFrame keeps its numbers): counts with
    thousands separators, as `top` has them; blank where a statistic does not apply (a text
    column's mean, the min of a column of NULLs); every value whole, as text."""
    import pandas as pd

    def blank(value: Any) -> bool:
        return pd.api.types.is_scalar(value) and bool(pd.isna(value))

    def count(value: Any) -> str:
        return "" if blank(value) else f"{int(value):,}"

    def number(value: Any) -> str:
        if blank(value):
            return ""
        text = f"{value:,.6g}"
        return f"{value:,.2f}" if "e" in text and abs(value) >= 1 else text

    shown = {}
    for name in frame.columns:
        how = count if name in ("count", "nulls", "distinct") else \
            number if name == "mean" else (lambda value: "" if blank(value) else str(value))
        shown[name] = [how(value) for value in frame[name]]
    return pd.DataFrame(shown, columns=frame.columns, dtype=object)


def _unquoted(word: str, quotes: str = "'") -> str:
    """A command's argument without the quotes that keep its spaces together ('My Table'). A
    table's double quotes stay: they are SQL's ("My Table", "a.b"), which sqlnb reads."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in quotes:
        return word[1:-1]
    return word


def _split_line(line: str) -> tuple[list[str], str | None, str]:
    """The line's leading options, its `VAR <<` target, and the SQL after them (verbatim)."""
    options: list[str] = []
    pos = 0
    while True:
        match = _TOKEN.match(line, pos)
        if match is None:
            break
        token = match.group(1)
        if not re.match(r"--?[A-Za-z]", token):
            break
        options.append(token)
        pos = match.end()
        if token in _VALUED:
            value = _TOKEN.match(line, pos)
            if value is not None:
                options.append(value.group(1))
                pos = value.end()
    target = None
    match = _TARGET.match(line, pos)
    if match is not None:
        target = match.group(1)
        pos = match.end()
    return options, target, line[pos:]


#: The flags of %sqlnb connect that name the variable holding the target's secret (the first is
#: the neutral one; the others, for a token or a password, are the same flag).
_SECRET_FLAGS = ("--secret-env", "--token-env", "--password-env")


# -- the %sqlnb commands' arguments ------------------------------------------------------------
# Each command that takes options parses them with one of these; the documentation's reference
# of the magics is generated from them (and from SqlNB.sql.parser), so every argument has a help.

def connect_parser() -> MagicArgumentParser:
    """`%sqlnb connect`'s arguments."""
    parser = MagicArgumentParser(prog="%sqlnb connect")
    parser.add_argument("path", metavar="TARGET",
                        help="a path or URL: a SQLite file, a DuckDB file (.duckdb, .ddb, "
                             "duckdb://), sc://host:port or spark:local[N] (Spark), "
                             "postgresql://user@host/db (PostgreSQL)")
    parser.add_argument("--as", dest="name", metavar="NAME",
                        help="the name it is known by in %%sqlnb list, use and close, and "
                             "%%sql --db (default: from the target)")
    parser.add_argument("--read-only", action="store_true",
                        help="open it so that nothing can be written (sqlnb.connect's "
                             "read_only=True)")
    # one flag for the variable that holds the target's secret, whatever the engine calls it
    # (Spark's token_env, PostgreSQL's password_env: Backend.secret_env_option); the other two
    # names read better for a token or a password, and say the same
    for flag in _SECRET_FLAGS:
        said = ("the environment variable that holds the target's secret (Spark's token, "
                "PostgreSQL's password)") if flag == _SECRET_FLAGS[0] else \
            f"the same as {_SECRET_FLAGS[0]}"
        parser.add_argument(flag, metavar="NAME", dest=flag[2:].replace("-", "_"), help=said)
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="an option of the engine (wal=false on SQLite), once per option")
    return parser


def profile_parser() -> MagicArgumentParser:
    """`%sqlnb profile`'s arguments."""
    parser = MagicArgumentParser(prog="%sqlnb profile")
    parser.add_argument("table", metavar="TABLE", help="the table or view (quoted if it has a "
                                                       "space)")
    parser.add_argument("--top", type=int, default=3, metavar="N",
                        help="how many of each column's most frequent values to show")
    parser.add_argument("--time-limit", type=float, metavar="SECONDS",
                        help="stop after this many seconds (default: %%config SqlNB.time_limit)")
    return parser


def plot_parser() -> MagicArgumentParser:
    """`%sqlnb plot`'s arguments."""
    from sqlnb import plot

    parser = MagicArgumentParser(prog="%sqlnb plot")
    parser.add_argument("kind", choices=plot.KINDS,
                        help="hist (a histogram), bar (the most frequent values) or box (a box "
                             "plot)")
    parser.add_argument("table", metavar="TABLE", help="the table or view")
    parser.add_argument("column", metavar="COLUMN", help="the column drawn")
    parser.add_argument("--bins", type=int, default=20, metavar="N",
                        help="a histogram's bins")
    parser.add_argument("--top", type=int, default=20, metavar="N",
                        help="a bar chart's values (the most frequent)")
    parser.add_argument("--time-limit", type=float, metavar="SECONDS",
                        help="stop after this many seconds (default: %%config SqlNB.time_limit)")
    return parser


def import_parser() -> MagicArgumentParser:
    """`%sqlnb import`'s arguments."""
    parser = MagicArgumentParser(prog="%sqlnb import")
    parser.add_argument("source", metavar="SOURCE",
                        help="a DataFrame variable, or a CSV or Parquet file")
    parser.add_argument("table", metavar="TABLE", help="the table it goes into")
    parser.add_argument("--if-exists", choices=("fail", "append", "replace"), default="fail",
                        help="when the table exists: fail (the default), append its rows, or "
                             "replace it")
    parser.add_argument("--format", choices=("csv", "parquet"),
                        help="the file's format (default: from its suffix)")
    parser.add_argument("--encoding", metavar="NAME",
                        help="a CSV file's codec, e.g. latin-1 (default: UTF-8)")
    parser.add_argument("--time-limit", type=float, metavar="SECONDS",
                        help="stop the import after this many seconds (default: no limit; "
                             "Cancel and Stop always work)")
    return parser


#: The %sqlnb commands that take options, and their parsers (the others take a name, a
#: statement or nothing; SqlNB.sqlnb's docstring gives every command's usage).
COMMAND_PARSERS = {"connect": connect_parser, "profile": profile_parser, "plot": plot_parser,
                   "import": import_parser, "history": history_parser}


def _secret_note(backend: type[engine.Backend]) -> str:
    """What %sqlnb connect says, once per target, of a secret typed into it: where to put it,
    in the magic's words and in the engine's own option."""
    option = backend.secret_env_option
    instead = (f"Put it in an environment variable instead: %sqlnb connect URL --secret-env "
               f"NAME (sqlnb.connect(URL, {option}=NAME) in Python)" if option else
               f"Put it where {backend.title}'s client reads a secret from the environment")
    return ("note: this cell holds a secret (the target's token or password), which a saved "
            f"notebook keeps; sqlnb shows it nowhere else. {instead}")


def _engine(target: str) -> type[engine.Backend]:
    """The engine `target` opens, or the magic's UsageError naming only the scheme of a URL no
    engine opens (never the rest of it, which may hold a password) and what sqlnb opens."""
    try:
        return engine.engine_for(target)
    except sqlnb.UsageError as error:
        raise IPythonUsageError(f"{error}: %sql TARGET or %sqlnb connect PATH opens one"
                                ) from None


def _without_credentials(error: Exception) -> Exception:
    """`error`, or one like it whose message has the secrets of its URLs hidden."""
    message = str(error)
    safe = sqlnb.redact(message)
    return error if safe == message else type(error)(safe)


def _nothing_after(command: str, rest: str, hint: str) -> None:
    if rest.strip():
        raise IPythonUsageError(f"%sqlnb {command} takes nothing after it (not "
                                f"{rest.strip()!r}): {hint}")


def _limit(option: float | None, setting: float | None) -> float | None:
    value = option if option is not None else setting
    if value is None:
        return None
    if math.isnan(value) or value <= 0:
        raise IPythonUsageError(f"--time-limit must be more than 0 seconds, not {value:g} "
                                "(use inf for no limit)")
    return value


def _where(index: int, total: int) -> str:
    return "the statement" if total == 1 else f"statement {index + 1} of {total}"


def _done_before(index: int) -> str:
    if index == 0:
        return ""
    return ("; the statement before it is done" if index == 1
            else f"; the {index} statements before it are done")


def _fate(error: BaseException | None, is_write: bool) -> str:
    """What became of a stopped statement's write, from its error's attributes (`applied`:
    False nothing of it is in the database, None it may be; `elapsed` 0: it never began)."""
    if not is_write:
        return ""
    if error is not None and not getattr(error, "elapsed", 1.0):
        return "; it was not run"
    if error is not None and getattr(error, "applied", False) is None:
        return ("; it may have been applied (the engine has no transactions): look at the "
                "data before running it again")
    return "; its changes were rolled back"


#: the error of work that has not let go yet after a Stop: what it did is not known
_UNKNOWN = sqlnb.QueryCancelled("", is_write=True, elapsed=1.0, applied=None)


def _work_fate(handle: sqlnb.QueryHandle | None, error: BaseException | None) -> str:
    """What became of long work's writes (an import) that was stopped, from `error`'s
    `applied` (None: the work finished before the stop came)."""
    if handle is None or not handle.is_write:
        return ""
    if error is None:
        return "; it had finished before the stop: its rows are written"
    if getattr(error, "applied", False) is None:
        return ("; some of it may have been written (the engine has no transactions): look "
                "at the table before running it again")
    return "; nothing of it was written"


def _stopped_fate(handle: sqlnb.QueryHandle | None) -> str:
    """_fate for a statement the kernel's Stop cancelled (its handle, once it let go)."""
    if handle is None or not handle.is_write:
        return ""
    if not handle.done():  # it has not let go yet: nothing is known
        return _fate(_UNKNOWN, True)
    error = handle.exception(0)
    if error is None:  # it had finished: a stop that came too late changes nothing
        return "; it had finished before the stop: its changes are made"
    return _fate(error, True)


def _shown(text: str) -> str:
    """A statement as an error names it: one line, cut short, without its closing `;`."""
    return shorten(text.strip().rstrip(";").rstrip(), 60)


def _cancelled(elapsed: float, fate: str, where: str, index: int, text: str) -> str:
    """The one line of a cancelled statement, whichever control cancelled it (the Cancel
    button, the kernel's Stop, Ctrl-C, a background cell's cancel()); `fate` from _fate."""
    return (f"QueryCancelled: cancelled after {elapsed:.2f} s{fate} "
            f"({where}: {_shown(text)}){_done_before(index)}")


#: What a `{` in SQL gets: sqlnb fills in no templates; how to use a name held in a variable.
_TEMPLATE_HINT = (" -- sqlnb does not fill in {...} templates: :name binds a value, and "
                  "IDENTIFIER(:name) a table's or column's name held in the variable name "
                  "(checked and quoted, never pasted): SELECT * FROM IDENTIFIER(:table)")


def _one_line(error: BaseException, where: str, index: int, text: str) -> str:
    if isinstance(error, sqlnb.QueryCancelled):
        return _cancelled(error.elapsed, _fate(error, error.is_write), where, index, text)
    kind = type(error).__name__
    message = str(error).split("\n")[0]
    hint = ""
    if isinstance(error, sqlnb.QueryTimeout):
        message = f"stopped at the {error.time_limit:g} s time limit{_fate(error, error.is_write)}"
        hint = " -- raise it with --time-limit SECONDS or %config SqlNB.time_limit"
    elif _BRACE.match(message):
        hint = _TEMPLATE_HINT
    return f"{kind}: {message} ({where}: {_shown(text)}){_done_before(index)}{hint}"


def _has_type(formatter: Any, kind: type) -> bool:
    try:
        formatter.lookup_by_type(kind)
    except KeyError:
        return False
    return True
