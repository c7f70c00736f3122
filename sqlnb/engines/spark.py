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
- Results come as Arrow (the server's own table, see _arrow_table; 8-12x faster than Rows);
  chunks come from `toLocalIterator()`, which holds one partition at a time (as Rows: slower,
  bounded memory).
- Spark SQL has no transactions: every write runs alone, as its own statement.
- A local server (`spark:local[N]`) is started by sqlnb as a child process (`spark-submit` of
  Spark's SparkConnectServer, in a process group of its own) with a token in its environment and
  a free port, and stopped (its JVM too) at close(). The token goes into the connection URL, never
  into this process's environment, and no label or message shows it. Its catalog is Spark's
  in-memory one and its warehouse a temporary folder: tables live as long as the Database (keep
  data in files, Parquet say, or on a cluster). A small watcher process (_spark_watch.py) ends
  that server, and removes its folder, when the process that started it ends in any way, SIGKILL
  included.
- pyspark's client retries a server that does not answer for ten minutes or more per call, so a
  server that died hung every query, the time limit, Cancel and close(). sqlnb's sessions retry
  what pyspark retries for RETRY_FOR seconds at most, and not at all once sqlnb stops the query
  or closes the Database; then the statement fails saying the server is gone, and the next one
  starts a new session (the server's TEMP views and settings of the old one are gone).
- pyspark logs every error it builds, as JSON with the query plan and the server's stack, on
  stderr: in a notebook, into the cell beside sqlnb's one line. Records logged on a thread while
  it does sqlnb's work are dropped (a filter on those two loggers); the user's own are kept.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import os
import queue
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
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

with warnings.catch_warnings():  # pyspark warns about pandas 3 on import; sqlnb reads Arrow
    warnings.simplefilter("ignore", FutureWarning)
    import grpc
    from pyspark.errors import PySparkException
    from pyspark.errors.exceptions.connect import SparkConnectGrpcException
    from pyspark.logger import PySparkLogger
    from pyspark.sql.connect.client import DefaultChannelBuilder
    from pyspark.sql.connect.client.retries import DefaultPolicy, RetryPolicy, RetryPolicyState
    from pyspark.sql.connect.session import SparkSession

from ..engine import (
    SPARK,
    Backend,
    Catalog,
    Link,
    Option,
    Result,
    Secret,
    Stopped,
    UsageError,
    annotate,
    arrow_rows,
    arrow_to_dataframe,
    check_params,
    note,
    redact,
    reveal,
    rows_to_dataframe,
    single,
    split,
)

if TYPE_CHECKING:
    from ..engine import Control, Statement, Task

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
#: Seconds a new session waits for a server that accepted the connection to say its first word
#: (HTTP/2's SETTINGS frame) before the connection fails as "sent nothing": gRPC's own default
#: (its minimum connect timeout), set on the channel as sqlnb's choice.
SILENT_WAIT = 20.0
#: Seconds a local server may take to start listening.
START_TIMEOUT = 120.0
#: Seconds sqlnb's client goes on retrying a call the server does not answer (pyspark's own
#: policy goes on for ten minutes or more), between 0.1 and 1 s apart.
RETRY_FOR = 15.0
#: Seconds close() waits for the server to release the session before closing the channel.
CLOSE_WAIT = 5.0
_LOCAL = re.compile(r"^spark:(local(\[(\d+|\*)\])?)$")

#: Set on a thread while it does sqlnb's Spark work: pyspark's error log is dropped there.
_quiet = threading.local()


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """pyspark logs no error it builds in the block (on this thread); see _QuietFilter."""
    was = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = was


class _QuietFilter(logging.Filter):
    """Drops pyspark's error records logged on a thread doing sqlnb's work: pyspark logs each
    error it builds (as JSON, with the query plan and the server's stack) on stderr, which is
    the cell, while sqlnb says it in one line. Other threads' records pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_quiet, "on", False)


def _install_quiet_filter() -> None:
    # PySparkLogger.getLogger makes these loggers as pyspark does (its handler and format);
    # the filter is added once per process
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logger = PySparkLogger.getLogger(name)
        if not any(isinstance(f, _QuietFilter) for f in logger.filters):
            logger.addFilter(_QuietFilter())


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


class _Retries(RetryPolicy):
    """What pyspark's DefaultPolicy retries (a server that is unavailable, or that asks for a
    retry), for RETRY_FOR seconds at most, 0.1 to 1 s apart, and only while the backend says
    the call may go on (see SparkBackend.may_retry)."""

    def __init__(self, backend: SparkBackend) -> None:
        super().__init__(max_retries=None, initial_backoff=100, max_backoff=1000,
                         backoff_multiplier=2.0, jitter=100, min_jitter_threshold=500)
        self._which = DefaultPolicy()
        self._backend = weakref.ref(backend)
        #: set once the session's first query has been answered: until then nothing is tried
        #: again (a first query must say at once what the server is, and no background call
        #: of pyspark's may hold up the closing of a session that never began)
        self.answered = False

    def can_retry(self, exception: BaseException) -> bool:
        return self._which.can_retry(exception)

    def may_go_on(self) -> bool:
        backend = self._backend()
        return self.answered and backend is not None and backend.may_retry()

    def to_state(self) -> RetryPolicyState:
        return _RetryState(self)


class _RetryState(RetryPolicyState):
    """One call's retries (pyspark makes a state per call): the clock starts at its first
    failure. A call that may not go on is given up without pyspark's RETRIES_EXCEEDED warning
    (which it gives only when a policy that took the error has no attempt left)."""

    def __init__(self, policy: _Retries) -> None:
        super().__init__(policy)
        self._first: float | None = None
        self._answer: tuple[BaseException | None, bool] = (None, False)

    def can_retry(self, exception: BaseException) -> bool:
        if self._answer[0] is exception:  # asked twice per failure: the same answer
            return self._answer[1]
        now = time.monotonic()
        if self._first is None:
            self._first = now
        policy: _Retries = self.policy  # type: ignore[assignment]
        answer = (policy.can_retry(exception) and now - self._first < RETRY_FOR
                  and policy.may_go_on())
        self._answer = (exception, answer)
        return answer


class _Helper:
    """A daemon thread (`sqlnb-spark-helper`) for the RPCs a caller must not wait on: the
    interrupts (the timer calls for them every few ms) and a new session's first query. A
    daemon, so a call stuck on a silent server can never hold up the interpreter's exit
    (a ThreadPoolExecutor's threads are joined at exit)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                future.set_exception(RuntimeError("closed"))
                return future
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlnb-spark-helper",
                                                daemon=True)
                self._thread.start()
            self._queue.put((fn, future))
        return future

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, future = item
            if future.set_running_or_notify_cancel():
                try:
                    with _quietly():
                        future.set_result(fn())
                except BaseException as error:
                    future.set_exception(error)

    def runs_in(self, thread: threading.Thread) -> bool:
        return thread is self._thread

    def close(self, timeout: float) -> None:
        """End the thread once what is queued has run (waiting `timeout` s at most)."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


def _condition(error: BaseException) -> str | None:
    """A pyspark error's condition ("OPERATION_CANCELED", "TABLE_OR_VIEW_NOT_FOUND"...)."""
    condition = getattr(error, "getCondition", None)
    try:
        return condition() if callable(condition) else None
    except Exception:
        return None


def _cancelled(error: BaseException) -> bool:
    return _condition(error) == "OPERATION_CANCELED"


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
        "tag",
    )
    savepoints = False
    transactions = False

    def __init__(self, backend: SparkBackend) -> None:
        self.backend = backend
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

    @property
    def session(self) -> Any:
        """The Database's Spark session now (a new one after the server was lost)."""
        return self.backend.session

    @contextlib.contextmanager
    def _tagged(self) -> Iterator[None]:
        """Run the block's Spark operations under a tag of this query's own (and without
        pyspark's error log on this thread)."""
        self._percent = self._phase = None
        self._sent = 0.0
        self._began = time.monotonic()
        with _quietly():
            session = self.backend.live_session()
            tag = self.tag = f"sqlnb-{uuid.uuid4().hex}"
            session.addTag(tag)
            self.backend.working.link = self
            try:
                yield
            finally:
                self.backend.working.link = None
                with contextlib.suppress(Exception):  # a session closed meanwhile
                    session.removeTag(tag)
                self.tag = None

    # -- the worker's thread ---------------------------------------------------------------------
    def translate(self, error: BaseException, task: Task) -> BaseException:
        control = task.control
        if control.reason is not None and _cancelled(error):
            # no transaction to roll back: the write may have been made before the stop came
            return Stopped(applied=None if control.is_write else False)
        if isinstance(error, PySparkException):
            error = self.backend.lost(error, control.is_write) or error
            annotate(error, task.sql)
            error.__traceback__ = None  # the frames are sqlnb's and the client's internals
        return error

    def _sql(self, statement: Statement, params: Any) -> Any:
        if params is None:
            return self.session.sql(statement.text)
        if not isinstance(params, (dict, list)):  # Spark takes a list or a dict, no tuple
            params = dict(params) if hasattr(params, "keys") else list(params)
        return self.session.sql(statement.text, args=params)

    def keep_rows(self, statement: Statement, params: Any, name: str) -> None:
        """Run the query `statement` now and keep its rows on the executors (a local
        checkpoint) as the session's temporary view `name` (quoted): a materialized named
        result. Not CACHE TABLE, whose cache Spark refreshes when the tables it reads change."""
        with self._tagged():
            self._sql(statement, params).localCheckpoint(eager=True).createOrReplaceTempView(
                name)

    def run(self, statement: Statement, params: Any, control: Control, frame: bool) -> Any:
        with self._tagged():
            # a command (a write, SET ...) runs as spark.sql() defines it; its rows, if it has
            # any (SET x), are then read from what the server kept, without running it again
            table = _arrow_table(self._sql(statement, params))
        if statement.surely_writes and table.num_columns == 0:
            result = Result([], [], -1, None, statement.text)
            return result.to_dataframe() if frame else result
        control.rows = table.num_rows
        if frame:
            return _frame(table)
        rows = arrow_rows(table.columns)
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
            check_params(statement, params)
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
    return arrow_to_dataframe(table.column_names, table.to_batches(), table.schema)


def _arrow_table(dataframe: Any) -> Any:
    """A query's Arrow table as the server sends it: a TIMESTAMP in the session's time zone (the
    wall time Spark's own functions and its clients show), a NULL struct kept though its fields
    are NOT NULL. pyspark's public toArrow() asks for the schema (one more call), then casts the
    same table to UTC and to the schema's nullability, which fails on such a struct ("nulls in
    input cannot be viewed as non-nullable"); `_to_table()` is its step before that cast. A
    pyspark without it gets toArrow()."""
    to_table = getattr(dataframe, "_to_table", None)
    if to_table is None:
        return dataframe.toArrow()
    return to_table()[0]


def _end(session: Any, *, release: bool) -> None:
    """Stop a session: release it on the server (`release`), close its channel (which ends the
    calls still waiting on it) and forget it as pyspark's default session."""
    with _quietly(), contextlib.suppress(Exception):
        session.release_session_on_close = release
        session.stop()


def _why(error: BaseException) -> str:
    """The end of a gRPC error's details ("Connection refused", "Socket closed")."""
    text = str(error)
    found = re.search(r'details = "([^"]*)"', text)
    detail = (found.group(1) if found else text.split("\n")[0]).strip()
    return detail.rsplit(": ", 1)[-1] or "no answer"


def _refused(error: BaseException, host: str, port: int, seconds: float) -> str:
    """Why a first query failed, as one line: the port is not a Spark Connect server's (an
    HTTP/1 server, a server without TLS where the URL asks for it, one that says nothing), or
    the server refused the session (a wrong token, say)."""
    text = str(error)
    where = f"the server at {host}:{port}"
    if "HTTP/2" in text or "http1" in text.lower():
        return (f"{where} is not a Spark Connect server: it answered in HTTP/1, where Spark "
                "Connect speaks gRPC (HTTP/2): check the port")
    if "Tls handshake" in text or "SSL_ERROR" in text or "WRONG_VERSION_NUMBER" in text:
        return (f"{where} did not answer in TLS, which the URL asks for (use_ssl=true, or a "
                "token for a host other than localhost): check the port, or drop use_ssl if "
                "the server has no TLS")
    if "SETTINGS frame" in text or "timed out" in text:
        return (f"{where} accepted the connection but sent nothing within {seconds:.0f} s: it "
                "is not a Spark Connect server, or it hangs; check the port")
    if getattr(error, "getGrpcStatusCode", lambda: None)() == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach the Spark Connect server at {host}:{port} ({_why(error)})"
    message = text.split("\n")[0]
    return (f"the Spark Connect server at {host}:{port} refused the session: "
            f"{redact(message) if '://' in message else message}")


def _grpc_error(message: str) -> BaseException:
    """pyspark's error for a server that is unavailable, with sqlnb's message."""
    try:
        return SparkConnectGrpcException(message=message,
                                         grpc_status_code=grpc.StatusCode.UNAVAILABLE)
    except TypeError:  # pyspark 4.0 takes no status code
        return SparkConnectGrpcException(message=message)


class SparkBackend(Backend):
    """Spark's side of one Database: one Spark Connect session (and a local server, maybe)."""

    name = "spark"
    title = "Spark"
    sqlglot_dialect = "spark"
    volatile_functions = frozenset({"monotonically_increasing_id", "spark_partition_id",
                                    "input_file_name", "input_file_block_start",
                                    "input_file_block_length", "shuffle", "randn", "version"})
    schemes = ("sc", "spark")  # sc://host:port (Spark Connect), spark:local[N] (a local one)
    example = "sc://host:15002 for Spark Connect, or spark:local[2] for a local server"
    extra = "spark"
    options = (Option("token_env", None, "the environment variable that holds the Spark Connect "
                      "server's token (so no cell holds it)", str),)
    secret_env_option = "token_env"
    error_types = (PySparkException,)
    name_quote = "`"
    dialect = SPARK  # backslash escapes in '...' and "..." strings, `names`

    def quartiles_sql(self, table: str, column: str) -> str:
        # approximate (rank error 1/10000): an exact percentile gathers every value of the
        # column on one executor, which a cluster's table may not fit
        x = f"CAST({column} AS DOUBLE)"
        return (f"SELECT count({x}), min({x}), percentile_approx({x}, 0.25, 10000), "
                f"percentile_approx({x}, 0.5, 10000), percentile_approx({x}, 0.75, 10000), "
                f"max({x}) FROM {table}")

    @classmethod
    def parse_target(cls, target: Any) -> Any:
        shown = str(target)  # a Secret's redacted text: its scheme and host are there
        if shown.lower().startswith("spark:") and _LOCAL.match(shown) is None:
            raise UsageError("a spark: target is spark:local[N], a local server sqlnb starts; "
                             "a cluster's Spark SQL is reached through its Spark Connect "
                             "server, sc://host:15002")
        return target if isinstance(target, Secret) else str(target)

    @classmethod
    def short_name(cls, label: str) -> str:
        return "spark"

    @classmethod
    def with_secret(cls, target: Any, secret: str) -> Secret:
        """Spark Connect's token goes after `/;` with its other options (`;token=...`)."""
        shown = str(target)
        if not shown.startswith("sc://"):
            raise UsageError("token_env is for Spark Connect targets (sc://host:port): "
                             "spark:local[N] starts a server with a token of its own")
        if "token=" in redact(shown):
            raise UsageError("the target has a token already: give it in one place, token_env")
        text = reveal(target)
        # Spark Connect's options come after "/;", separated by ";"
        base = f"{text};" if ";" in text else f"{text.rstrip('/')}/;"  # type: ignore[union-attr]
        return Secret(f"{base}token={secret}")

    def __init__(self, target: str | Secret, *, read_only: bool) -> None:
        if read_only:
            raise UsageError("read_only=True is not available on Spark: Spark Connect has no "
                             "read-only session; use an account the cluster lets only read")
        _install_quiet_filter()
        self.read_only = False
        self.server: LocalServer | None = None
        local = _LOCAL.match(str(target))
        # the token travels as a Secret, read only by the client (_connect)
        if local is not None:
            master = local.group(1) if local.group(2) else "local[2]"
            self.server = LocalServer(master)
            self._url: str | Secret = Secret(self.server.url)
            self.label = f"spark:{master} (sc://localhost:{self.server.port})"
        else:
            self._url = target
            self.label = redact(str(target))
        parsed = urllib.parse.urlsplit(str(self._url))  # a Secret's text is redacted
        self._host, self._port = parsed.hostname or "localhost", parsed.port or 15002
        self.working = threading.local()  # .link: the link running a query on this thread
        #: the engine's SQL functions and keywords (read once, by the first catalog read)
        self.words: tuple[tuple[str, ...], tuple[str, ...], frozenset[str]] | None = None
        self._helper = _Helper()
        self._closing = False
        self._lock = threading.Lock()  # held briefly: the timer takes it (interrupt)
        self._interrupting: set[str] = set()  # tags whose interrupt waits for the helper
        self._session_lock = threading.Lock()  # held while a new session connects
        #: why the session was lost with its server; the next query opens a new session
        self._lost: str | None = None
        self._session: Any = None
        try:
            self._session = self._connect()
        except BaseException:
            self.close()
            raise

    @property
    def session(self) -> Any:
        """The Spark Connect session every link of this Database shares."""
        return self._session

    def live_session(self) -> Any:
        """The session, or a new one when the last was lost with its server (a UsageError
        naming the server if it cannot be reached yet)."""
        if self._lost is not None:
            with self._session_lock:
                if self._lost is not None:
                    old, self._session = self._session, self._connect()
                    self._lost = None
                    self._helper.submit(lambda: _end(old, release=True))
        return self._session

    def may_retry(self) -> bool:
        """Whether pyspark may try a failed call again (see _Retries): not once the Database
        closes, not on the helper (the timer sends an interrupt again anyway), and not once the
        query of this thread's link is stopped (by the time limit, Cancel or close: a server
        that does not answer then must not hold the stop up)."""
        if self._closing or self._helper.runs_in(threading.current_thread()):
            return False
        link = getattr(self.working, "link", None)
        control = link.control if link is not None else None
        return control is None or control.reason is None

    def lost(self, error: BaseException, is_write: bool) -> BaseException | None:
        """For an error that says the server is gone (or restarted, ending this session): the
        error to raise instead, saying so, with the session marked lost so that the next query
        opens a new one. None for any other error."""
        status = getattr(error, "getGrpcStatusCode", None)
        try:
            unavailable = callable(status) and status() == grpc.StatusCode.UNAVAILABLE
            ended = bool(self._session.client.is_closed)
        except Exception:
            unavailable, ended = False, True
        if not unavailable and not ended:
            return None
        where = f"the Spark Connect server at {self._host}:{self._port}"
        stopped = self.server.stopped() if self.server is not None else None
        maybe = "; this write may have been applied before the server went" if is_write else ""
        if stopped is not None:
            message = (f"{where} is gone: the local Spark server sqlnb started has stopped "
                       f"({stopped}); connect again to start another{maybe}")
        elif unavailable:
            message = (f"{where} is gone ({_why(error)}): the next statement starts a new "
                       f"Spark session there, without this one's TEMP views and settings{maybe}")
        elif _condition(error) in ("NO_ACTIVE_SESSION", "INVALID_HANDLE.SESSION_CHANGED"):
            message = (f"{where} has ended this Database's Spark session (did it restart?), so "
                       "this statement was not run: run it again, in a new session without the "
                       "old one's TEMP views and settings")
        else:
            message = (f"{where} has ended this Database's Spark session (did it restart?): the "
                       "next statement starts a new one, without this one's TEMP views and "
                       f"settings{maybe.replace(' before the server went', '')}")
        self._lost = message
        return _grpc_error(message)

    def _connect(self) -> Any:
        """A new session on the server, checked with a first query."""
        host, port = self._host, self._port
        try:  # an address nobody answers at fails now, not after the client's ten minutes
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as error:
            stopped = self.server.stopped() if self.server is not None else None
            why = f"the local server sqlnb started has stopped: {stopped}" if stopped else (
                error.strerror or str(error))
            raise UsageError(f"cannot reach the Spark Connect server at {host}:{port} "
                             f"({why}): check the address and that the server runs") from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            try:  # the client's frames hold the URL: they must not reach a traceback
                channel = DefaultChannelBuilder(reveal(self._url), channelOptions=[
                    ("grpc.min_reconnect_backoff_ms", round(SILENT_WAIT * 1000))])
                session = SparkSession.builder.channelBuilder(channel).create()
            except Exception as error:
                raise UsageError(f"the Spark Connect client cannot use {str(self._url)!r}: "
                                 f"{redact(str(error))}") from None
        retries = _Retries(self)
        session.client.set_retry_policies([retries])
        started = time.monotonic()
        answer = self._helper.submit(lambda: session.sql("SELECT 1").collect())
        try:
            answer.result(CONNECT_TIMEOUT)
        except concurrent.futures.TimeoutError:
            _end(session, release=False)  # closes its channel: the helper's call ends too
            raise UsageError(f"the server at {host}:{port} accepted the connection but did not "
                             f"answer as a Spark Connect server within {CONNECT_TIMEOUT:g} s: "
                             "check the port, and that the server is not overloaded") from None
        except PySparkException as error:
            _end(session, release=False)
            raise UsageError(_refused(error, host, port, time.monotonic() - started)) from None
        retries.answered = True
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
        """Stop the queries of `tag` (from the helper thread: the RPC must not block the
        caller; one request per tag waits there at a time)."""
        with self._lock:
            if tag in self._interrupting:
                return
            self._interrupting.add(tag)
        self._helper.submit(lambda: self._interrupt(tag))

    def _interrupt(self, tag: str) -> None:
        try:
            with contextlib.suppress(Exception):
                self._session.interruptTag(tag)
        finally:
            with self._lock:
                self._interrupting.discard(tag)

    # -- links ---------------------------------------------------------------------------------
    def open_reader(self) -> SparkLink:
        return SparkLink(self)

    def open_writer(self) -> SparkLink:
        return SparkLink(self)

    def open_isolated(self) -> SparkLink:
        return SparkLink(self)

    def close(self) -> None:
        """Stop the session's queries and release it (CLOSE_WAIT s at most: then its channel is
        closed, which ends any call still waiting on the server), and a local server."""
        self._closing = True  # no call is tried again from now on
        session = self._session
        if session is not None:
            lost = self._lost is not None

            def release() -> None:
                if not lost:
                    with contextlib.suppress(Exception):
                        session.interruptAll()
                _end(session, release=not lost)

            try:
                self._helper.submit(release).result(CLOSE_WAIT)
            except concurrent.futures.TimeoutError:  # the server does not answer: cut it off
                with contextlib.suppress(Exception):  # (stop() holds pyspark's class lock)
                    session.client.close()
        self._helper.close(CLOSE_WAIT)
        if self.server is not None:
            self.server.stop()

    # -- SQL -----------------------------------------------------------------------------------
    def statements(self, sql: str) -> tuple[Statement, ...]:
        return tuple(replace(s, writes=s.keyword not in READ_KEYWORDS)
                     for s in split(sql, self.dialect))

    def saved_result_sql(self, name: str, query: str, *, materialize: bool,
                         previous: str | None) -> list[str]:
        # a temporary view of the session every link shares (materialized: save_result_work)
        return [f"CREATE OR REPLACE TEMP VIEW {name} AS {query}"]

    def save_result_work(self, name: str, query: str, params: Any, *, materialize: bool,
                         previous: str | None) -> Callable[[Link, Control], Any]:
        if not materialize:
            return super().save_result_work(name, query, params, materialize=False,
                                            previous=previous)
        statement = single(query, self.dialect)

        def work(link: Link, control: Control) -> Any:
            link.keep_rows(statement, params, name)  # type: ignore[attr-defined]
            return None

        return work

    def show_frames(self, link: Link, frames: Mapping[str, Any], control: Control
                    ) -> Callable[[], None]:
        # a temporary view of the session each, its rows sent by Arrow (on the writer, so two
        # statements never replace each other's views of the same name)
        def make(spark: Any) -> None:
            for name, df in frames.items():
                spark.createDataFrame(df).createOrReplaceTempView(self.quote_identifier(name))

        def drop(spark: Any) -> None:
            for name in frames:
                spark.catalog.dropTempView(name)  # (a plain name, not parsed)

        try:
            link.call(make, "DataFrames in FROM")
        except BaseException:
            with contextlib.suppress(Exception):
                link.call(drop, "DataFrames in FROM")
            raise
        return lambda: link.call(drop, "DataFrames in FROM")

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
