"""A read's caller is answered as soon as the engine has its stop (`Control.stop_reached`),
engine-neutral: PostgreSQL acknowledges a cancel at once but may take tens of ms to end the
query (a leader ends its parallel workers first). Here a test engine (the tiny one, whose stop
waits for the test's word) shows what the control plane promises: the read's caller hears
QueryCancelled / QueryTimeout while its reader still waits for the engine, the reader takes no
other query meanwhile, a write's caller waits for the rollback, and nothing is left behind."""

from __future__ import annotations

import threading

import pytest

import sqlnb
from sqlnb import engine

from . import tiny_engine
from .helpers import sqlnb_threads, wait_for

FOREVER = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
           "SELECT max(x) AS m FROM c")


class SlowStopLink(tiny_engine.TinyLink):
    """A link whose stop is acknowledged at once and done when the test says (`wound_down`)."""

    def __init__(self, backend: SlowStopBackend, path: str, timeout: float) -> None:
        super().__init__(path, timeout)
        self.backend = backend
        self.stopping: engine.Control | None = None

    def interrupt(self) -> None:
        # called under the controls' lock, every few ms once the query must stop: the stop is
        # acknowledged from a thread of its own (stop_reached takes that lock), once a query
        control = self.control
        if control is None or control is self.stopping:
            return
        self.stopping = control
        threading.Thread(target=self._stop, args=(control,), name="test-slow-stop",
                         daemon=True).start()

    def _stop(self, control: engine.Control) -> None:
        control.stop_reached()
        self.backend.acknowledged.set()
        self.backend.wound_down.wait(30)
        self.backend.interrupted.set()  # before the interrupt: the caller could hear of it next
        super().interrupt()


class SlowStopBackend(tiny_engine.TinyBackend):
    name = "slowstop"
    title = "Slow stop"
    schemes = ("slowstop",)
    example = "slowstop:///path/to/file.db"

    #: the backend of the Database opened last (the test's)
    latest: SlowStopBackend | None = None

    def __init__(self, path: str, *, read_only: bool, timeout: float = 5.0) -> None:
        super().__init__(path, read_only=read_only, timeout=timeout)
        SlowStopBackend.latest = self
        self.acknowledged = threading.Event()
        self.wound_down = threading.Event()
        self.interrupted = threading.Event()
        self.links: list[SlowStopLink] = []

    def _link(self) -> SlowStopLink:
        link = SlowStopLink(self, self.path, self.timeout)
        self.links.append(link)
        return link

    open_reader = open_writer = open_isolated = _link


@pytest.fixture
def db(tmp_path):
    engine.register(SlowStopBackend)
    before = sqlnb_threads()
    database = sqlnb.connect(f"slowstop:///{tmp_path / 'slow.db'}", threads=2)
    database.write("CREATE TABLE t (x INTEGER)")
    yield database
    backend_of(database).wound_down.set()  # whatever a test left waiting may stop
    database.close()
    engine.unregister("slowstop")
    assert sqlnb_threads() - before == set()


def backend_of(db: sqlnb.Database) -> SlowStopBackend:
    assert SlowStopBackend.latest is not None and db.engine == "slowstop"
    return SlowStopBackend.latest


def cancelled_while_running(db: sqlnb.Database, sql: str) -> sqlnb.QueryHandle:
    """The handle of `sql`, cancelled once it runs."""
    handle = db.submit(sql)
    wait_for(lambda: handle.progress.state == "running", "the query runs")
    handle.cancel()
    return handle


def test_a_cancelled_reads_caller_hears_it_before_the_engine_has_stopped(db):
    handle = cancelled_while_running(db, FOREVER)
    with pytest.raises(sqlnb.QueryCancelled):
        handle.result(timeout=30)
    backend = backend_of(db)
    assert backend.acknowledged.is_set() and not backend.interrupted.is_set()
    assert handle.progress.state == "cancelled"
    # the reader still waits for its engine: the next read goes to the other reader
    assert db.query("SELECT 41 + 1 AS n")["n"][0] == 42
    backend.wound_down.set()
    # once the engine has stopped, the first reader serves again (two reads at once need both)
    first, second = db.submit(FOREVER, time_limit=30), db.submit("SELECT 7 AS n")
    assert second.result(timeout=30).rows == [(7,)]
    first.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        first.result(timeout=30)


def test_a_read_out_of_time_is_answered_as_soon_as_its_stop_is_acknowledged(db):
    with pytest.raises(sqlnb.QueryTimeout):
        db.query(FOREVER, time_limit=0.2)
    assert not backend_of(db).interrupted.is_set()


def test_a_cancelled_writes_caller_waits_for_its_rollback(db):
    handle = cancelled_while_running(db, "INSERT INTO t " + FOREVER)
    backend = backend_of(db)
    assert backend.acknowledged.wait(30)
    with pytest.raises(TimeoutError):  # the engine has not stopped: no answer yet
        handle.result(timeout=0.3)
    backend.wound_down.set()
    with pytest.raises(sqlnb.QueryCancelled, match="rolled back"):
        handle.result(timeout=30)
    assert db.query("SELECT count(*) AS n FROM t")["n"][0] == 0


def test_close_waits_for_a_reader_that_still_winds_a_stopped_read_down(db):
    handle = cancelled_while_running(db, FOREVER)
    with pytest.raises(sqlnb.QueryCancelled):
        handle.result(timeout=30)
    threading.Timer(0.2, backend_of(db).wound_down.set).start()
    db.close()  # joins the reader once its engine has stopped; the fixture checks the threads
    assert backend_of(db).interrupted.is_set()
