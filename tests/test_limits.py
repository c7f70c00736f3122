"""The time limit and cancel: SQLite stops the query, the right error is raised, a stopped write
is rolled back whole, and the Database goes on serving."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sqlite3
import threading
import time

import pytest

import sqlnb
from sqlnb._control import Control, Timer

from .helpers import FOREVER, WAIT, wait_running

SLOW_INSERT = ("INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
               "SELECT x FROM c")



def test_runaway_read_stops_at_its_time_limit(db):
    with pytest.raises(sqlnb.QueryTimeout) as info:
        db.query(FOREVER, time_limit=0.2)
    error = info.value
    assert isinstance(error, sqlnb.QueryInterrupted)
    assert error.time_limit == 0.2
    assert error.elapsed >= 0.2
    assert "0.2 s time limit" in str(error) and "time_limit=" in str(error)
    assert error.sql == FOREVER
    assert db.query("SELECT 1 AS one")["one"][0] == 1


def test_limit_holds_while_the_main_thread_runs_python(db):
    handle = db.submit(FOREVER, time_limit=0.2)
    total = 0
    while not handle.done():  # pure Python, holding the GIL as much as it can
        total += sum(range(1000))
    with pytest.raises(sqlnb.QueryTimeout):
        handle.result()


def test_cancel_from_another_thread(db):
    handle = db.submit(FOREVER, time_limit=math.inf)
    wait_running(handle)
    threading.Thread(target=handle.cancel).start()
    with pytest.raises(sqlnb.QueryCancelled) as info:
        handle.result(timeout=30)
    assert not info.value.is_write
    assert handle.progress.state == "cancelled"
    assert handle.cancel() is False  # twice is harmless
    assert db.query("SELECT 2 AS two")["two"][0] == 2


def test_cancel_after_the_end_changes_nothing(db):
    handle = db.submit("SELECT 1")
    assert handle.result().rows == [(1,)]
    assert handle.cancel() is False
    assert handle.result().rows == [(1,)]


def test_cancel_while_queued_never_runs(db):
    db.write("CREATE TABLE t (x)")
    started, release = threading.Event(), threading.Event()

    def hold(conn):
        started.set()
        release.wait(30)

    blocker = asyncio.run(db.execute_write_fn(hold, block=False))
    assert started.wait(10)
    queued = db.write("INSERT INTO t VALUES (1)", block=False)
    assert queued.progress.state == "queued"
    assert queued.cancel() is True
    with pytest.raises(sqlnb.QueryCancelled):
        queued.result(timeout=5)  # at once, though the writer is still busy
    release.set()
    blocker.result()
    db.flush()
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 0


def test_cancelled_write_is_rolled_back_and_the_writer_goes_on(db):
    db.write("CREATE TABLE t (x)")
    db.write("INSERT INTO t VALUES (0)")
    handle = db.submit(SLOW_INSERT, time_limit=math.inf)
    wait_running(handle)
    time.sleep(0.2)
    handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled) as info:
        handle.result(timeout=30)
    assert info.value.is_write
    assert "rolled back" in str(info.value)
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 1
    db.write("INSERT INTO t VALUES (2)")
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 2
    assert db.query("PRAGMA integrity_check").iloc[0, 0] == "ok"


def test_timed_out_write_is_rolled_back(db):
    db.write("CREATE TABLE t (x)")
    with pytest.raises(sqlnb.QueryTimeout) as info:
        db.write(SLOW_INSERT, time_limit=0.2)
    assert info.value.is_write
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 0


def test_write_fn_that_swallows_the_interrupt_is_still_rolled_back(db):
    db.write("CREATE TABLE t (x)")

    def stubborn(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        with contextlib.suppress(Exception):  # the interrupt is swallowed: still rolled back
            conn.execute(FOREVER).fetchall()
        return "done"

    with pytest.raises(sqlnb.QueryTimeout):
        asyncio.run(db.execute_write_fn(stubborn, time_limit=0.2))
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 0


def test_limit_precedence_call_then_database_then_global(db):
    saved = sqlnb.options.time_limit
    try:
        sqlnb.options.time_limit = 0.2
        with pytest.raises(sqlnb.QueryTimeout) as info:
            db.query(FOREVER)
        assert info.value.time_limit == 0.2
        db.time_limit = 0.3
        with pytest.raises(sqlnb.QueryTimeout) as info:
            db.query(FOREVER)
        assert info.value.time_limit == 0.3
        with pytest.raises(sqlnb.QueryTimeout) as info:
            db.query(FOREVER, time_limit=0.25)
        assert info.value.time_limit == 0.25
        handle = db.submit("SELECT 1", time_limit=math.inf)
        handle.result()
        assert handle.progress.time_limit is None
    finally:
        sqlnb.options.time_limit = saved


def test_progress_counts_rows_and_steps(db):
    db.write("CREATE TABLE t (x)")
    db.write("INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
             "LIMIT 200000) SELECT x FROM c")
    handle = db.submit("SELECT a.x FROM t a, t b WHERE b.x < 3 ORDER BY a.x DESC")
    result = handle.result(timeout=60)
    progress = handle.progress
    assert progress.state == "done"
    assert progress.rows == len(result) == 400000
    assert progress.time_limit == 30.0
    assert 0 < progress.fraction < 1
    slow = db.submit(FOREVER, time_limit=math.inf)
    wait_running(slow)
    first = slow.progress.steps
    time.sleep(0.3)
    assert slow.progress.steps > first
    assert slow.progress.elapsed > 0.25
    slow.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        slow.result()


def test_keyboard_interrupt_while_waiting_cancels_the_query(db):
    main = threading.main_thread().ident
    handle = db.submit(FOREVER, time_limit=math.inf)
    timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        handle.result()
    assert handle.done()
    assert isinstance(handle.exception(), sqlnb.QueryCancelled)
    assert db.query("SELECT 3 AS three")["three"][0] == 3


def test_keyboard_interrupt_with_threads_0_reaches_sqlite(tmp_path):
    with sqlnb.connect(tmp_path / "x.db", threads=0) as db:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            db.query(FOREVER, time_limit=math.inf)
        assert db.query("SELECT 4 AS four")["four"][0] == 4


def test_cancelling_the_awaiting_task_cancels_the_query(db):
    async def main():
        task = asyncio.create_task(db.execute(FOREVER, time_limit=math.inf))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        result = await db.execute("SELECT 5")
        return result.single_value()

    assert asyncio.run(main()) == 5


def test_many_limited_queries_in_parallel(db):
    handles = [db.submit(FOREVER, time_limit=0.1 + i / 50) for i in range(6)]
    for handle in handles:
        with pytest.raises(sqlnb.QueryTimeout):
            handle.result(timeout=30)


def test_a_write_queued_behind_a_slow_one_in_its_group_keeps_its_own_limit(db):
    # The writer asks the timer about a whole group at once, as the group starts; a write that
    # starts later in the group must still get its full limit, and must still be stopped.
    db.write("CREATE TABLE t (x)")
    asyncio.run(db.execute_write_fn(
        lambda conn: conn.create_function("pause", 1, lambda s: time.sleep(s) or s),
        transaction=False))
    hold = threading.Event()

    def blocker(conn):
        hold.wait(10)

    first = asyncio.run(db.execute_write_fn(blocker, block=False, time_limit=math.inf))
    slow = db.write("INSERT INTO t VALUES (pause(0.6))", block=False, time_limit=5)
    runaway = db.write(
        "INSERT INTO t WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) "
        "SELECT n FROM c", block=False, time_limit=0.3)
    last = db.write("INSERT INTO t VALUES ('last')", block=False, time_limit=5)
    hold.set()
    first.result(timeout=10)
    assert slow.exception(timeout=10) is None  # 0.6 s of a 5 s limit
    with pytest.raises(sqlnb.QueryTimeout):
        runaway.result(timeout=10)
    assert runaway.progress.elapsed >= 0.3  # its limit counted from its own start
    assert last.exception(timeout=10) is None
    assert sorted(map(str, db.query("SELECT x FROM t")["x"])) == ["0.6", "last"]
    with pytest.raises(sqlnb.BackgroundWriteError):
        db.flush()


def test_a_cancel_landing_during_a_timer_tick_keeps_its_repeated_interrupts():
    """Finding 7: the timer used to overwrite the sooner time a cancel() asked for while
    `on_timer` ran (with the query's far deadline), so the repeated interrupts that stop a
    multi-statement write were lost. Forced interleaving: the cancel lands inside the tick."""
    timer = Timer()
    conn = sqlite3.connect(":memory:")
    calls: list[float] = []
    repeated = threading.Event()

    class CancelledMidTick(Control):
        __slots__ = ()

        def on_timer(self, now: float) -> float:
            when = super().on_timer(now)
            calls.append(when)
            if len(calls) == 1:
                self.cancel()  # after on_timer's look, before the timer books its answer
            else:
                repeated.set()
            return when

    control = CancelledMidTick(3600.0, timer)
    try:
        assert control.begin(conn)  # watched at its deadline, an hour away
        timer.watch(control, time.monotonic())  # a tick now
        assert repeated.wait(WAIT), "the cancel's repeated interrupt was lost"
        assert calls[0] > time.monotonic() + 60  # the first tick answered the far deadline
    finally:
        control.finish("cancelled")
        timer.close()
        conn.close()
