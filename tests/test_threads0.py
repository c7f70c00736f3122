"""threads=0: the same API, run in the calling thread; what holds with threads holds here."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sqlite3
import threading
import time

import pytest

import sqlnb

from .helpers import FOREVER, FOREVER_ROWS, WAIT, sqlnb_threads


@pytest.fixture(params=["file", "memory"])
def inline(request, tmp_path):
    path = tmp_path / "inline.db" if request.param == "file" else None
    database = sqlnb.connect(path, threads=0)
    yield database
    database.close()
    assert sqlnb_threads() == set()


def test_reads_and_writes_run_in_the_calling_thread(inline):
    seen = []
    inline.write("CREATE TABLE t (x)")
    asyncio.run(inline.execute_write_fn(lambda conn: seen.append(threading.current_thread())))
    assert seen == [threading.current_thread()]
    inline.write_many("INSERT INTO t VALUES (?)", [(1,), (2,)])
    assert list(inline.query("SELECT x FROM t ORDER BY x")["x"]) == [1, 2]
    assert {t.name for t in sqlnb_threads()} <= {"sqlnb-timer"}


def test_same_routing_and_session_rules(inline):
    inline.write("CREATE TABLE t (x)")
    inline.query("WITH v AS (SELECT 5) INSERT INTO t SELECT * FROM v")
    inline.write("CREATE TEMP TABLE tt (y)")
    inline.write("INSERT INTO tt VALUES (6)")
    assert inline.query("SELECT y FROM tt")["y"][0] == 6
    inline.query("PRAGMA foreign_keys = ON")
    assert inline.query("PRAGMA foreign_keys").iloc[0, 0] == 1
    assert inline.query("SELECT x FROM t")["x"][0] == 5


def test_time_limit_and_cancel_from_another_thread(inline):
    with pytest.raises(sqlnb.QueryTimeout):
        inline.query(FOREVER, time_limit=0.2)
    holder = {}

    def cancel_soon():
        time.sleep(0.3)
        holder["cancelled"] = holder["handle"].cancel()

    original = inline._dispatch.submit_read

    def capture(task):
        holder["handle"] = sqlnb.QueryHandle(task)
        original(task)

    inline._dispatch.submit_read = capture
    threading.Thread(target=cancel_soon).start()
    with pytest.raises(sqlnb.QueryCancelled):
        inline.query(FOREVER, time_limit=math.inf)
    inline._dispatch.submit_read = original
    assert holder["cancelled"] is True
    assert inline.query("SELECT 1 AS one")["one"][0] == 1


def test_cancelled_write_rolls_back(inline):
    inline.write("CREATE TABLE t (x)")
    with pytest.raises(sqlnb.QueryTimeout):
        inline.write("INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     "FROM c) SELECT x FROM c", time_limit=0.2)
    assert inline.query("SELECT count(*) FROM t").iloc[0, 0] == 0


def test_streams_and_async(inline):
    inline.write("CREATE TABLE t (x)")
    inline.write_many("INSERT INTO t VALUES (?)", [(i,) for i in range(2500)])
    assert [len(c) for c in inline.iter_chunks("SELECT * FROM t", chunk_rows=1000)] == [
        1000, 1000, 500]

    async def main():
        sizes = [len(c) async for c in inline.stream("SELECT * FROM t", chunk_rows=2000)]
        result = await inline.execute("SELECT count(*) FROM t")
        return sizes, result.single_value()

    assert asyncio.run(main()) == ([2000, 500], 2500)


def test_errors_keep_their_type(inline):
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        inline.query("SELECT * FROM nowhere")
    inline.write("CREATE TABLE u (x UNIQUE)")
    inline.write("INSERT INTO u VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError):
        inline.write("INSERT INTO u VALUES (1)")
    assert inline.query("SELECT count(*) FROM u").iloc[0, 0] == 1


def _sigint_now() -> None:
    """Deliver Ctrl-C to this (the main) thread and give Python the chance to handle it."""
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(WAIT * 1000):  # the handler runs between two bytecodes of this loop
        time.sleep(0.001)


def test_ctrl_c_between_chunks_is_the_users_keyboard_interrupt(inline):
    """Finding 6: a half-read iter_chunks held sqlnb's SIGINT handler across `yield`, so Ctrl-C
    in the user's own code between chunks was swallowed and the next chunk raised
    QueryCancelled. Outside a running query, Ctrl-C is the user's KeyboardInterrupt."""
    inline.write("CREATE TABLE t (x)")
    inline.write_many("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    chunks = inline.iter_chunks("SELECT x FROM t", chunk_rows=10)
    assert list(next(chunks)["x"]) == list(range(10))
    with pytest.raises(KeyboardInterrupt):
        _sigint_now()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert list(next(chunks)["x"]) == list(range(10, 20))  # the query goes on
    chunks.close()
    assert inline.query("SELECT count(*) AS n FROM t")["n"][0] == 100


def test_ctrl_c_while_a_chunk_is_read_cancels_the_query(inline):
    chunks = inline.iter_chunks(FOREVER_ROWS, chunk_rows=10**9, time_limit=math.inf)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        next(chunks)
    timer.join()
    assert inline.query("SELECT 4 AS four")["four"][0] == 4
