"""Query handles: waiting, done-callbacks, and what a caller's callback may not break.

A callback that raises is logged, as `concurrent.futures` does, and never reaches the thread that
finished the query: the reader or the writer goes on, and every other waiter is woken.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading

import pytest

import sqlnb

from .helpers import FOREVER, WAIT, wait_running


def _raise(_handle: sqlnb.QueryHandle) -> None:
    raise RuntimeError("a callback that fails")


def test_a_raising_callback_does_not_kill_the_reader(tmp_path, caplog):
    """Finding 5: with threads=1, a raising done-callback used to kill the only reader, and the
    next read hung forever."""
    with sqlnb.connect(tmp_path / "t.db", threads=1) as db:
        db.write("CREATE TABLE t (x)")
        db.write("INSERT INTO t VALUES (1)")
        slow = db.submit(FOREVER, time_limit=math.inf)
        wait_running(slow)
        slow.add_done_callback(_raise)  # called on the reader, as it settles the query
        with caplog.at_level(logging.ERROR, logger="sqlnb"):
            slow.cancel()
            assert slow.wait(WAIT)
            # the next read is served (the reader survived the callback)
            assert db.submit("SELECT x FROM t").result(timeout=WAIT).rows == [(1,)]
        assert any("callback" in r.getMessage() for r in caplog.records), caplog.records


def test_a_raising_callback_added_after_the_end_is_logged_not_raised(db, caplog):
    handle = db.submit("SELECT 1")
    handle.result(timeout=WAIT)
    with caplog.at_level(logging.ERROR, logger="sqlnb"):
        handle.add_done_callback(_raise)  # runs at once, in this thread: logged, not raised
    assert any("callback" in r.getMessage() for r in caplog.records)


def test_a_raising_callback_in_a_group_does_not_keep_the_others_waiting(db, caplog):
    """Finding 5: in a committed group, one raising callback used to skip waking the later
    replies, whose callers then waited forever."""
    db.write("CREATE TABLE t (x)")
    started, release = threading.Event(), threading.Event()

    def hold(conn):
        started.set()
        release.wait(WAIT)

    blocker = asyncio.run(db.execute_write_fn(hold, block=False, time_limit=math.inf))
    assert started.wait(WAIT)
    handles = [db.write("INSERT INTO t VALUES (?)", (i,), block=False) for i in range(5)]
    handles[0].add_done_callback(_raise)
    woken = [threading.Event() for _ in handles[1:]]
    for handle, event in zip(handles[1:], woken):
        handle.add_done_callback(lambda _h, event=event: event.set())
    with caplog.at_level(logging.ERROR, logger="sqlnb"):
        release.set()
        blocker.result(timeout=WAIT)
        for handle in handles:
            assert handle.result(timeout=WAIT).rowcount == 1
        assert all(event.wait(WAIT) for event in woken)
    # the writer is still alive
    assert db.write("INSERT INTO t VALUES (9)").rowcount == 1
    assert db.query("SELECT count(*) AS n FROM t")["n"][0] == 6


def test_wait_returns_whether_the_query_is_over_and_never_raises(db):
    handle = db.submit("SELECT no_such_function()")
    assert handle.wait(WAIT) is True
    assert handle.done()
    with pytest.raises(Exception, match="no_such_function"):
        handle.result()
    slow = db.submit(FOREVER, time_limit=math.inf)
    assert slow.wait(0.01) is False
    slow.cancel()
    assert slow.wait(WAIT) is True


def test_is_write_says_where_the_query_runs(db):
    db.write("CREATE TABLE t (x)")
    assert db.submit("INSERT INTO t VALUES (1)").is_write is True
    read = db.submit("SELECT * FROM t")
    read.result(timeout=WAIT)
    assert read.is_write is False
    moved = db.submit("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x")
    moved.result(timeout=WAIT)
    assert moved.is_write is True  # SQLite said it writes: it moved to the writer
