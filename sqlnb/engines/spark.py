"""Spark SQL behind the engine interface, through Spark Connect (the cluster can be anywhere).

Measured facts this follows (../shared/research/engines.md, and checked here with pyspark 4.3):
- One Spark Connect session per Database, shared by its readers and its writer: Spark schedules
  concurrent queries itself, and a TEMP VIEW or a SET is the session's, so every link sees it.
- Cancel: each query carries a tag of its own (`addTag` is per thread, so the worker that runs the
  query adds it); `interruptTag` from any thread stops that query only, in 30-200 ms, and it
  ends with OPERATION_CANCELED. The interrupt is an RPC: it is sent from a helper thread, at most
  every INTERRUPT_EVERY seconds, so the timer's repeats never flood the server or block the timer.
- Progress: `registerProgressHandler` is called on the thread that reads the query's replies,
  which is the worker's, so a thread-local finds the link; the report interval is lowered to
  200 ms (`spark.connect.progress.reportInterval`). A percent is per stage (the number of stages
  is not known up front, and a new job resets it), so the phase names the stage.
- Results come as Arrow (`toArrow()`, 8-12x faster than Rows); chunks come from
  `toLocalIterator()`, which holds one partition at a time (as Rows: slower, bounded memory).
- Spark SQL has no transactions: every write runs alone, as its own statement.
- A local server (`spark:local[N]`) is started by sqlnb as a child process (`spark-submit` of
  Spark's SparkConnectServer, in a process group of its own) with a token in its environment and
  a free port, and stopped (its JVM too) at close(). The token goes into the connection URL, never
  into this process's environment, and no label or message shows it. Its catalog is Spark's
  in-memory one and its warehouse a temporary folder: tables live as long as the Database (keep
  data in files, Parquet say, or on a cluster). A small watcher process (_spark_watch.py) ends
  that server, and removes its folder, when the process that started it ends in any way, SIGKILL
  included.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

with warnings.catch_warnings():  # pyspark warns about pandas 3 on import; sqlnb reads Arrow
    warnings.simplefilter("ignore", FutureWarning)
    from pyspark.errors import PySparkException
    from pyspark.sql.connect.session import SparkSession

from .._redact import redact
from .._task import Stopped, note
from ..errors import UsageError, annotate
from ..results import ArrowFrameBuilder, Catalog, Result, rows_to_dataframe
from . import sqltext
from .base import Backend, Link

if TYPE_CHECKING:
    from .._control import Control
    from .._task import Task
    from .sqltext import Statement

#: First keywords of statements that only read (Spark's parser is on the server: the lexer
#: decides, and a read that writes after all is still Spark's to run safely).
READ_KEYWORDS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "FROM", "SHOW", "DESCRIBE",
                           "DESC", "EXPLAIN"})
#: Seconds between two interrupts of one query (each is an RPC).
INTERRUPT_EVERY = 0.1
#: Seconds a query must have run before it is interrupted without a progress report yet (see
#: SparkLink.interrupt).
EARLY_INTERRUPT = 1.0
#: Seconds a new Database waits for a server's first answer before calling it unreachable.
CONNECT_TIMEOUT = 30.0
#: Seconds a local server may take to start listening.
START_TIMEOUT = 120.0
_LOCAL = re.compile(r"^spark:(local(\[(\d+|\*)\])?)$")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """A Spark Connect server on this machine that sqlnb starts and stops (its JVM too)."""

    def __init__(self, master: str, *, port: int | None = None, token: str | None = None
                 ) -> None:
        import pyspark

        home = Path(pyspark.__file__).parent
        self.port = port or _free_port()
        self.token = token or secrets.token_hex(16)
        #: the server's folder: its log, and the warehouse of its tables (Spark's default is
        #: ./spark-warehouse, which would leave files in the user's folder)
        self.folder = Path(tempfile.mkdtemp(prefix="sqlnb-spark-"))
        self.log = self.folder / "server.log"
        env = dict(os.environ, SPARK_HOME=str(home), SPARK_CONNECT_AUTHENTICATE_TOKEN=self.token)
        command = [
            str(home / "bin" / "spark-submit"),
            "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master", master, "--name", "sqlnb",
            "--conf", f"spark.connect.grpc.binding.port={self.port}",
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.ui.enabled=false",
            "--conf", "spark.ui.showConsoleProgress=false",
            "--conf", f"spark.sql.warehouse.dir={self.folder / 'warehouse'}",
            "spark-internal",
        ]
        self._watcher: subprocess.Popen[bytes] | None = None
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.folder, start_new_session=True)
        try:
            self._watcher = self._watch()
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def _watch(self) -> subprocess.Popen[bytes] | None:
        """Start the watcher that ends the server when this process ends (see _spark_watch.py):
        it reads a pipe whose only write end this process holds (not inherited by the children
        it starts later), in a session of its own, so a signal to this process's group (a
        kernel restart) does not end it first."""
        if not sys.executable:  # an embedded Python that cannot start another: close() only
            return None
        script = Path(__file__).with_name("_spark_watch.py")
        try:
            return subprocess.Popen(
                [sys.executable, "-I", str(script), str(self.process.pid), str(self.folder)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        except OSError:  # the server runs on; close() still stops it
            return None

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise UsageError("the local Spark Connect server stopped as it started: "
                                     f"{self._tail()} (Spark needs Java 17 or newer)") from None
                if time.monotonic() > deadline:
                    raise UsageError(f"the local Spark Connect server did not start within "
                                     f"{START_TIMEOUT:g} s: {self._tail()}") from None
                time.sleep(0.1)

    def _tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(line for line in lines[-3:]) or "no output"

    @property
    def url(self) -> str:
        """The URL the client connects with (holding the token: never shown)."""
        return f"sc://localhost:{self.port}/;token={self.token}"

    def stopped(self) -> str | None:
        """Why the server is not running ("exit code N", "killed by SIGKILL"), or None."""
        code = self.process.poll()
        if code is None:
            return None
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def stop(self) -> None:
        """Stop the server's process group (spark-submit and its JVM), wait for it, and end the
        watcher (which would do the same if this process ended first)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            with contextlib.suppress(OSError):
                watcher.stdin.close()  # type: ignore[union-attr]  # its end: it removes the folder
            try:
                watcher.wait(30)
            except subprocess.TimeoutExpired:
                watcher.kill()
                watcher.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _cancelled(error: BaseException) -> bool:
    condition = getattr(error, "getCondition", None)
    try:
        return callable(condition) and condition() == "OPERATION_CANCELED"
    except Exception:
        return False


class SparkLink(Link):
    """One worker's way into the Database's Spark Connect session, and the query it runs."""

    __slots__ = (
        "__weakref__",
        "_began",
        "_percent",
        "_phase",
        "_sent",
        "backend",
        "control",
        "session",
        "tag",
    )
    savepoints = False
    transactions = False

    def __init__(self, backend: SparkBackend) -> None:
        self.backend = backend
        self.session = backend.session
        self.control: Control | None = None
        self.tag: str | None = None  # the running query's tag
        self._percent: float | None = None
        self._phase: str | None = None
        self._sent = 0.0  # when an interrupt was last sent
        self._began = 0.0  # when the running query began

    # -- any thread ----------------------------------------------------------------------------
    def interrupt(self) -> None:
        tag = self.tag
        now = time.monotonic()
        if tag is None or now - self._sent < INTERRUPT_EVERY:
            return
        if self._percent is None and now - self._began < EARLY_INTERRUPT:
            # Interrupted before its first job, an operation ends but the job it goes on to
            # start runs on, unowned (seen here: two queries cancelled at once kept both cores
            # busy for minutes). The timer asks again every few ms; the interrupt goes once
            # the first progress report says a job runs, or after EARLY_INTERRUPT seconds.
            return
        self._sent = now
        self.backend.interrupt(tag)

    def percent(self) -> float | None:
        return self._percent

    def phase(self) -> str | None:
        return self._phase

    def progress(self, stages: list[Any]) -> None:
        """A progress report of the running query (from the backend's handler)."""
        running = [s for s in stages if not s.done] or stages[-1:]
        total = sum(s.num_tasks for s in running)
        if total:
            done = sum(s.num_completed_tasks for s in running)
            self._percent = 100.0 * done / total
            stage = max(s.stage_id for s in running)
            self._phase = f"stage {stage}: {done}/{total} tasks"

    @contextlib.contextmanager
    def _tagged(self) -> Iterator[None]:
        """Run the block's Spark operations under a tag of this query's own."""
        self._percent = self._phase = None
        self._sent = 0.0
        self._began = time.monotonic()
        tag = self.tag = f"sqlnb-{uuid.uuid4().hex}"
        self.session.addTag(tag)
        self.backend.working.link = self
        try:
            yield
        finally:
            self.backend.working.link = None
            self.session.removeTag(tag)
            self.tag = None

    # -- the worker's thread ---------------------------------------------------------------------
    def translate(self, error: BaseException, task: Task) -> BaseException:
        control = task.control
        if control.reason is not None and _cancelled(error):
            # no transaction to roll back: the write may have been made before the stop came
            return Stopped(applied=None if control.is_write else False)
        if isinstance(error, PySparkException):
            annotate(error, task.sql)
            error.__traceback__ = None  # the frames are sqlnb's and the client's internals
        return error

    def _sql(self, statement: Statement, params: Any) -> Any:
        if params is None:
            return self.session.sql(statement.text)
        if not isinstance(params, (dict, list)):  # Spark takes a list or a dict, no tuple
            params = dict(params) if hasattr(params, "keys") else list(params)
        return self.session.sql(statement.text, args=params)

    def run(self, statement: Statement, params: Any, control: Control, frame: bool) -> Any:
        with self._tagged():
            # a command (a write, SET ...) runs as spark.sql() defines it; its rows, if it has
            # any (SET x), are then read from what the server kept, without running it again
            table = self._sql(statement, params).toArrow()
        if statement.surely_writes and table.num_columns == 0:
            result = Result([], [], -1, None, statement.text)
            return result.to_dataframe() if frame else result
        control.rows = table.num_rows
        if frame:
            return _frame(table)
        rows = list(zip(*(column.to_pylist() for column in table.columns)))
        result = Result(list(table.column_names), rows, -1, None, statement.text)
        result.elapsed = time.monotonic() - control.started  # type: ignore[operator]
        return result

    def chunks(self, statement: Statement, params: Any, control: Control,
               chunk_rows: int) -> Iterator[Any]:
        with self._tagged():
            dataframe = self._sql(statement, params)
            columns = dataframe.columns
            rows = dataframe.toLocalIterator(prefetchPartitions=True)
            while chunk := [tuple(row) for row in itertools.islice(rows, chunk_rows)]:
                control.rows += len(chunk)
                yield rows_to_dataframe(chunk, columns)

    def many(self, statement: Statement, params_seq: Iterable[Any], control: Control) -> Result:
        for params in params_seq:
            sqltext.check_params(statement, params)
            with self._tagged():
                self._sql(statement, params)
            control.rows += 1
        return Result([], [], rowcount=-1, sql=statement.text)

    def call(self, fn: Callable[[Any], Any], name: str, *, guarded: bool = False,
             read_only: bool = False) -> Any:
        # Spark SQL has no transactions for fn to end, and no read-only session
        with self._tagged():
            return fn(self.session)

    def tables(self) -> Any:
        with self._tagged():
            found = [(t.name, "view" if t.tableType in ("VIEW", "TEMPORARY") else "table",
                      "temp" if t.isTemporary else (t.namespace[0] if t.namespace else ""),
                      None)
                     for t in self.session.catalog.listTables()]
        frame = rows_to_dataframe(sorted(found), ["name", "type", "schema", "rows"])
        return frame.astype({"rows": "Int64"})

    def catalog(self, control: Control) -> Catalog:
        # Spark Connect has no one call for every column: a round trip per table, so a stop
        # between two of them is looked for here
        tables: dict[str, tuple[str, ...]] = {}
        with self._tagged():
            for table in self.session.catalog.listTables():
                if control.reason is not None:
                    raise Stopped()
                name = table.name if table.isTemporary or not table.namespace else \
                    ".".join([*table.namespace, table.name])
                with contextlib.suppress(PySparkException):  # a view that no longer works
                    tables[table.name] = tuple(
                        c.name for c in self.session.catalog.listColumns(name))
            if self.backend.words is None:  # read once: 0.4 s, and DDL does not change them
                functions = self.session.sql("SHOW FUNCTIONS").toArrow().column(0)
                keywords = self.session.sql("SELECT keyword, reserved FROM sql_keywords() "
                                            "ORDER BY keyword").toArrow().to_pylist()
                self.backend.words = (
                    tuple(sorted({f for f in functions.to_pylist() if f.isidentifier()})),
                    tuple(k["keyword"] for k in keywords),
                    frozenset(k["keyword"] for k in keywords if k["reserved"]))
        return Catalog(tables, *self.backend.words)

    def explain(self, statement: Statement, params: Any, control: Control) -> str:
        with self._tagged():
            explained = replace(statement, text=f"EXPLAIN {statement.text}")
            table = self._sql(explained, params).toArrow()
        return str(table.column(0)[0]).rstrip()

    def schema(self, table: str) -> Any:
        with self._tagged():
            try:
                columns = self.session.catalog.listColumns(self.backend.quote(table))
            except PySparkException as error:
                if "not found" in str(error).lower() or "TABLE_OR_VIEW" in str(error):
                    raise UsageError(f"no table or view named {table!r}: %sqlnb tables (or "
                                     "db.tables()) lists them") from None
                raise
        data = [(c.name, c.dataType, not c.nullable, None, 0, None) for c in columns]
        return rows_to_dataframe(data, ["name", "type", "not_null", "default", "primary_key",
                                        "references"])

    # -- no transactions -----------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return False

    def begin(self, controls: list[Control]) -> None:
        pass  # every Spark statement is its own

    def commit(self, controls: list[Control]) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass  # the session is the backend's


def _frame(table: Any) -> Any:
    builder = ArrowFrameBuilder(table.column_names)
    for batch in table.to_batches():
        builder.add(batch)
    if not builder.rows:
        return rows_to_dataframe([], table.column_names)
    return builder.frame()


class SparkBackend(Backend):
    """Spark's side of one Database: one Spark Connect session (and a local server, maybe)."""

    name = "spark"
    error_types = (PySparkException,)
    name_quote = "`"

    def quartiles_sql(self, table: str, column: str) -> str:
        # approximate (rank error 1/10000): an exact percentile gathers every value of the
        # column on one executor, which a cluster's table may not fit
        x = f"CAST({column} AS DOUBLE)"
        return (f"SELECT count({x}), min({x}), percentile_approx({x}, 0.25, 10000), "
                f"percentile_approx({x}, 0.5, 10000), percentile_approx({x}, 0.75, 10000), "
                f"max({x}) FROM {table}")

    def __init__(self, target: str, *, read_only: bool) -> None:
        if read_only:
            raise UsageError("read_only=True is not available on Spark: Spark Connect has no "
                             "read-only session; use an account the cluster lets only read")
        self.read_only = False
        self.server: LocalServer | None = None
        local = _LOCAL.match(target)
        if local is not None:
            master = local.group(1) if local.group(2) else "local[2]"
            self.server = LocalServer(master)
            url = self.server.url
            self.label = f"spark:{master} (sc://localhost:{self.server.port})"
        else:
            url = target
            self.label = redact(target)
        self.working = threading.local()  # .link: the link running a query on this thread
        #: the engine's SQL functions and keywords (read once, by the first catalog read)
        self.words: tuple[tuple[str, ...], tuple[str, ...], frozenset[str]] | None = None
        self._helper = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sqlnb-spark")
        try:
            self.session = self._connect(url)
        except BaseException:
            self.close()
            raise

    def _connect(self, url: str) -> Any:
        parsed = urllib.parse.urlsplit(url)
        host, port = parsed.hostname or "localhost", parsed.port or 15002
        try:  # an address nobody answers at fails now, not after the client's ten minutes
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as error:
            raise UsageError(f"cannot reach the Spark Connect server at {host}:{port} "
                             f"({error.strerror or error}): check the address and that the "
                             "server runs") from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            session = SparkSession.builder.remote(url).create()
        answer = self._helper.submit(lambda: session.sql("SELECT 1").collect())
        try:
            answer.result(CONNECT_TIMEOUT)
        except concurrent.futures.TimeoutError:
            with contextlib.suppress(Exception):
                session.stop()
            raise UsageError(f"the Spark Connect server at {host}:{port} did not answer within "
                             f"{CONNECT_TIMEOUT:g} s") from None
        except PySparkException as error:
            with contextlib.suppress(Exception):
                session.stop()
            message = str(error).split("\n")[0]
            raise UsageError(f"the Spark Connect server at {host}:{port} refused the session: "
                             f"{redact(message) if '://' in message else message}") from None
        with contextlib.suppress(Exception):  # a percent five times a second, not every 2 s
            session.conf.set("spark.connect.progress.reportInterval", "200ms")
        session.registerProgressHandler(self._on_progress)
        return session

    def _on_progress(self, stages: list[Any], inflight_tasks: int, operation_id: str,
                     done: bool, **_more: Any) -> None:
        link = getattr(self.working, "link", None)  # the worker reading this query's replies
        if link is not None:
            link.progress(stages)

    def interrupt(self, tag: str) -> None:
        """Stop the queries of `tag` (from a helper thread: the RPC must not block the caller)."""
        with contextlib.suppress(RuntimeError):  # closed: nothing to stop
            self._helper.submit(self._interrupt, tag)

    def _interrupt(self, tag: str) -> None:
        with contextlib.suppress(Exception):
            self.session.interruptTag(tag)

    # -- links ---------------------------------------------------------------------------------
    def open_reader(self) -> SparkLink:
        return SparkLink(self)

    def open_writer(self) -> SparkLink:
        return SparkLink(self)

    def open_isolated(self) -> SparkLink:
        return SparkLink(self)

    def close(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            with contextlib.suppress(Exception):
                session.interruptAll()
            with contextlib.suppress(Exception):
                session.stop()
        self._helper.shutdown(wait=True)
        if self.server is not None:
            self.server.stop()

    # -- SQL -----------------------------------------------------------------------------------
    def statements(self, sql: str) -> tuple[Statement, ...]:
        return tuple(replace(s, writes=s.keyword not in READ_KEYWORDS)
                     for s in sqltext.split(sql))

    def check_params(self, statement: Statement, params: object) -> None:
        sqltext.check_params(statement, params)

    def insert_work(self, df: Any, table: str, *, if_exists: str
                    ) -> Callable[[Link, Control], int]:
        modes = {"fail": "error", "append": "append", "replace": "overwrite"}

        def work(link: Link, control: Control) -> int:
            with link._tagged():  # type: ignore[attr-defined]
                frame = link.session.createDataFrame(df)  # type: ignore[attr-defined]
                try:
                    frame.write.mode(modes[if_exists]).saveAsTable(self.quote(table))
                except PySparkException as error:
                    if "already exists" in str(error).lower() or "ALREADY_EXISTS" in str(error):
                        note(error, "pass if_exists='append' to add rows, or 'replace'")
                    raise
            control.rows = len(df)
            return len(df)

        return work
