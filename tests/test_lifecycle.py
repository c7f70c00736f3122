"""Lifecycle: opening, closing and dropping a Database, and the threads and files it holds.

close() is idempotent and is what `with` / `async with` call; it stops running reads (they raise
DatabaseClosed), finishes queued writes, and joins every `sqlnb-*` thread; a Database dropped
without close(), or left open at interpreter exit, cleans up too. Many open/close cycles leave the
thread count and the open file descriptors where they were. Real threads, real files; nothing
here asserts how long anything took (timeouts only keep a bug from hanging the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import sqlnb

from .helpers import FOREVER, FOREVER_ROWS, WAIT, committed_count, sqlnb_threads, wait_running

#: Seconds before a watchdog calls something a hang and rescues the test (never reached when well).
WATCHDOG = 10


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextlib.contextmanager
def watchdog(*handles: sqlnb.QueryHandle, rescue: object = None,
             seconds: float = WATCHDOG) -> Iterator[threading.Event]:
    """If the block has not finished after `seconds`, cancel `handles` (or call `rescue`) so it
    can finish, and set the event it yields, so the test can say what hung."""
    fired = threading.Event()

    def on_time() -> None:
        fired.set()
        for handle in handles:
            handle.cancel()
        if callable(rescue):
            rescue()

    timer = threading.Timer(seconds, on_time)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()
        timer.join()


def gated_write(db: sqlnb.Database, gate: threading.Event) -> sqlnb.QueryHandle:
    """Queue a write that holds the writer until `gate` is set (or WAIT seconds pass)."""

    def hold(conn: sqlite3.Connection) -> None:
        gate.wait(WAIT)
        conn.execute("INSERT INTO t VALUES ('gated')")

    return asyncio.run(db.execute_write_fn(hold, block=False))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "life.db"
    with sqlnb.connect(file) as setup:
        setup.write("CREATE TABLE t (x)")
    return file


@pytest.fixture
def baseline():
    """The sqlnb threads alive before the test; the test must add none that outlive it."""
    before = sqlnb_threads()
    yield before
    assert {t.name for t in sqlnb_threads() - before} == set()


# -- close() ----------------------------------------------------------------------------------

def _close_in_thread(db: sqlnb.Database, name: str) -> list[BaseException]:
    errors: list[BaseException] = []

    def close() -> None:
        try:
            db.close()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=close, name=name)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), "close() hung"
    return errors


def test_close_works_from_a_thread_named_like_sqlnbs_own(path, baseline):
    """Finding 8: close() refused every thread whose name starts with sqlnb-, such as the
    sqlnb-cell thread of a --background cell; only this Database's own workers are refused."""
    db = sqlnb.connect(path)
    db.query("SELECT 1")
    assert _close_in_thread(db, "sqlnb-cell") == []
    assert db.closed


@pytest.mark.parametrize("threads", [None, 0])
def test_close_inside_the_databases_own_worker_is_refused(path, baseline, threads):
    with sqlnb.connect(path, threads=threads) as db:
        for call in (db.execute_fn, db.execute_write_fn):
            with pytest.raises(sqlnb.UsageError, match="own threads"):
                asyncio.run(call(lambda conn: db.close()))
        assert not db.closed
        assert db.query("SELECT count(*) AS n FROM t")["n"][0] == 0


def test_close_of_another_database_inside_a_worker_works(path, tmp_path, baseline):
    other = sqlnb.connect(tmp_path / "other.db")
    other.query("SELECT 1")
    with sqlnb.connect(path) as db:
        asyncio.run(db.execute_write_fn(lambda conn: other.close()))
    assert other.closed


def test_close_is_idempotent(path, baseline):
    db = sqlnb.connect(path)
    db.write("INSERT INTO t VALUES (1)")
    db.query("SELECT * FROM t")
    assert not db.closed
    db.close()
    assert db.closed
    assert sqlnb_threads() - baseline == set()
    db.close()
    db.close()
    assert db.closed
    assert "closed" in repr(db)
    assert committed_count(path) == 1


def test_close_in_a_second_thread_waits_for_the_first(path, baseline):
    """A close() that finds another close() under way returns only when the Database is closed."""
    db = sqlnb.connect(path)
    gate = threading.Event()
    gated = gated_write(db, gate)
    queued = [db.write("INSERT INTO t VALUES (?)", (i,), block=False) for i in range(100)]
    first = threading.Thread(target=db.close)
    first.start()
    for _ in range(WAIT * 1000):
        if db.closed:
            break
        gate.wait(0.001)
    assert db.closed  # the first close() has begun and is waiting for the gated write

    seen: dict[str, object] = {}

    def second_close() -> None:
        db.close()
        seen["gated done"] = gated.done()
        seen["queued done"] = all(h.done() for h in queued)
        seen["threads"] = sorted(t.name for t in sqlnb_threads() - baseline)

    second = threading.Thread(target=second_close)
    second.start()
    second.join(1.0)  # a correct close() is still waiting here; the gate is what lets it go
    gate.set()
    second.join(WAIT)
    first.join(WAIT)
    assert not first.is_alive() and not second.is_alive()
    assert seen == {"gated done": True, "queued done": True, "threads": []}
    assert committed_count(path) == 101


def test_with_block_closes(path, baseline):
    with sqlnb.connect(path) as db:
        db.write("INSERT INTO t VALUES (1)")
        assert len(db.query("SELECT * FROM t")) == 1
        assert sqlnb_threads() - baseline
    assert db.closed
    assert sqlnb_threads() - baseline == set()
    with pytest.raises(sqlnb.DatabaseClosed):
        db.query("SELECT 1")


def test_with_block_closes_when_the_body_raises(path, baseline):
    with pytest.raises(KeyError), sqlnb.connect(path) as db:
        db.write("INSERT INTO t VALUES (1)")
        raise KeyError("boom")
    assert db.closed
    assert sqlnb_threads() - baseline == set()
    assert committed_count(path) == 1  # the write before the error was committed


def test_async_with_closes(path, baseline):
    async def main() -> sqlnb.Database:
        async with sqlnb.connect(path) as db:
            await db.execute_write("INSERT INTO t VALUES (1)")
            assert (await db.execute("SELECT count(*) FROM t")).single_value() == 1
        return db

    db = asyncio.run(main())
    assert db.closed
    assert sqlnb_threads() - baseline == set()
    with pytest.raises(sqlnb.DatabaseClosed):
        asyncio.run(db.execute("SELECT 1"))


def test_async_with_closes_when_the_body_raises(path, baseline):
    holder: list[sqlnb.Database] = []

    async def main() -> None:
        async with sqlnb.connect(path) as db:
            holder.append(db)
            await db.execute_write("INSERT INTO t VALUES (1)")
            raise KeyError("boom")

    with pytest.raises(KeyError):
        asyncio.run(main())
    assert holder[0].closed
    assert sqlnb_threads() - baseline == set()


@pytest.mark.parametrize("threads", [3, 0])
def test_calls_after_close_raise_database_closed(path, threads):
    db = sqlnb.connect(path, threads=threads)
    db.write("INSERT INTO t VALUES (1)")
    db.close()
    calls = {
        "query": lambda: db.query("SELECT * FROM t"),
        "write": lambda: db.write("INSERT INTO t VALUES (2)"),
        "write-nowait": lambda: db.write("INSERT INTO t VALUES (2)", block=False),
        "submit": lambda: db.submit("SELECT * FROM t"),
        "write_many": lambda: db.write_many("INSERT INTO t VALUES (?)", [(2,)]),
        "write_script": lambda: db.write_script("DELETE FROM t"),
        "insert_df": lambda: db.insert_df(pd.DataFrame({"x": [2]}), "t", if_exists="append"),
        "iter_chunks": lambda: db.iter_chunks("SELECT * FROM t"),
        "stream": lambda: db.stream("SELECT * FROM t"),
        "flush": db.flush,
        "execute": lambda: asyncio.run(db.execute("SELECT * FROM t")),
        "execute_write": lambda: asyncio.run(db.execute_write("DELETE FROM t")),
        "execute_fn": lambda: asyncio.run(db.execute_fn(lambda conn: 1)),
        "execute_write_fn": lambda: asyncio.run(db.execute_write_fn(lambda conn: 1)),
        "wait_for_writes": lambda: asyncio.run(db.wait_for_writes()),
    }
    for name, closed_call in calls.items():
        with pytest.raises(sqlnb.DatabaseClosed) as caught:
            closed_call()
        assert isinstance(caught.value, sqlite3.ProgrammingError), name
    assert committed_count(path) == 1


# -- threads ----------------------------------------------------------------------------------

def test_threads_are_named_while_in_use(path, baseline):
    db = sqlnb.connect(path, threads=2)
    gate = threading.Event()
    reads = [db.submit(FOREVER, time_limit=WAIT) for _ in range(3)]
    gated = gated_write(db, gate)
    try:
        for _ in range(WAIT * 1000):
            started = [h for h in reads if h.progress.state == "running"]
            if len(started) == 2 and gated.progress.state == "running":
                break
            gate.wait(0.001)
        assert len(started) == 2  # two readers busy, the third read waits for one
        assert gated.progress.state == "running"
        threads = sqlnb_threads() - baseline
        assert sorted(t.name for t in threads) == [
            "sqlnb-read-0", "sqlnb-read-1", "sqlnb-timer", "sqlnb-writer"]
        assert all(t.daemon and t.is_alive() for t in threads)
    finally:
        for handle in reads:
            handle.cancel()
        gate.set()
        with watchdog(*reads):
            db.close()
    assert gated.result(WAIT) is None
    assert [type(h.exception(WAIT)).__name__ for h in reads] == ["QueryCancelled"] * 3
    assert committed_count(path) == 1
    assert [t.name for t in threads if t.is_alive()] == []
    assert sqlnb_threads() - baseline == set()


def test_each_kind_of_work_starts_its_thread(path, baseline):
    db = sqlnb.connect(path, time_limit=math.inf)
    try:
        assert sqlnb_threads() - baseline == set()  # threads start when work arrives
        db.query("SELECT 1")
        assert {t.name for t in sqlnb_threads() - baseline} == {"sqlnb-read-0"}
        db.write("INSERT INTO t VALUES (1)")
        assert {t.name for t in sqlnb_threads() - baseline} == {"sqlnb-read-0", "sqlnb-writer"}
        db.query("SELECT 1", time_limit=30)
        assert {t.name for t in sqlnb_threads() - baseline} == {
            "sqlnb-read-0", "sqlnb-writer", "sqlnb-timer"}
    finally:
        db.close()
    assert sqlnb_threads() - baseline == set()


def cycle(path: Path | None, i: int) -> None:
    db = sqlnb.connect(path)
    db.write("CREATE TABLE IF NOT EXISTS t (x)")
    db.write("INSERT INTO t VALUES (?)", (i,))
    assert db.query("SELECT count(*) AS n FROM t")["n"][0] >= 1
    db.close()


@pytest.mark.parametrize(("where", "cycles"), [("file", 1000), ("memory", 200)])
def test_many_cycles_leave_threads_and_files_as_they_were(tmp_path, where, cycles):
    path = tmp_path / "cycles.db" if where == "file" else None
    cycle(path, -1)  # warm up: lazy imports and the like, once
    threads, fds = threading.active_count(), open_fds()
    for i in range(cycles):
        cycle(path, i)
    assert threading.active_count() == threads
    assert open_fds() == fds
    if path is not None:
        assert committed_count(path) == cycles + 1


def test_dropped_database_stops_its_threads(path, baseline):
    db = sqlnb.connect(path)
    db.write("INSERT INTO t VALUES (1)")
    db.query("SELECT * FROM t", time_limit=5)
    db.submit("SELECT 2").result(WAIT)
    list(db.iter_chunks("SELECT * FROM t"))
    threads = sqlnb_threads() - baseline
    assert {t.name for t in threads} == {"sqlnb-read-0", "sqlnb-writer", "sqlnb-timer"}
    ref = weakref.ref(db)
    del db
    gc.collect()
    try:
        assert ref() is None
        for thread in threads:
            thread.join(WAIT)
        assert [t.name for t in threads if t.is_alive()] == []
    finally:
        if ref() is not None:
            ref().close()
    assert committed_count(path) == 1


def test_dropped_database_stops_its_threads_after_writes_without_waiting(path, baseline):
    db = sqlnb.connect(path)
    for i in range(10):
        db.write("INSERT INTO t VALUES (?)", (i,), block=False)
    db.flush()
    threads = sqlnb_threads() - baseline
    ref = weakref.ref(db)
    del db
    gc.collect()
    try:
        assert ref() is None, "the Database is still referenced after del + gc.collect()"
        for thread in threads:
            thread.join(WAIT)
        assert [t.name for t in threads if t.is_alive()] == []
    finally:
        if ref() is not None:
            ref().close()
    assert committed_count(path) == 10


@pytest.mark.parametrize("path_kind", ["file", "memory"])
def test_threads0_leaves_no_thread(tmp_path, baseline, path_kind):
    path = tmp_path / "inline.db" if path_kind == "file" else None
    db = sqlnb.connect(path, threads=0, time_limit=math.inf)
    db.write("CREATE TABLE t (x)")
    db.write_many("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    assert len(db.query("SELECT * FROM t")) == 10
    assert sqlnb_threads() - baseline == set()  # no pool, no writer, no limit: no thread at all
    assert db.query("SELECT count(*) AS n FROM t", time_limit=30)["n"][0] == 10
    assert {t.name for t in sqlnb_threads() - baseline} <= {"sqlnb-timer"}
    db.close()
    assert sqlnb_threads() - baseline == set()
    db.close()
    with pytest.raises(sqlnb.DatabaseClosed):
        db.query("SELECT 1")


# -- close() while work is under way --------------------------------------------------------

def test_close_stops_a_running_read(path, baseline):
    db = sqlnb.connect(path)
    handle = db.submit(FOREVER, time_limit=math.inf)
    wait_running(handle)
    with watchdog(handle) as fired:
        db.close()
    assert not fired.is_set(), "close() did not stop the running read; the watchdog cancelled it"
    error = handle.exception(WAIT)
    assert isinstance(error, sqlnb.DatabaseClosed) and type(error).__name__ == "DatabaseClosed"
    assert isinstance(error, sqlite3.ProgrammingError)
    assert error.sql == FOREVER
    with pytest.raises(sqlnb.DatabaseClosed):
        handle.result(WAIT)
    assert sqlnb_threads() - baseline == set()


def test_close_stops_a_read_submitted_just_before(path, baseline):
    """A read queued or just picked up by a reader when close() comes must not outlive it."""
    for attempt in range(40):
        db = sqlnb.connect(path)
        handle = db.submit(FOREVER, time_limit=math.inf)
        with watchdog(handle) as fired:
            db.close()
        assert not fired.is_set(), (
            f"attempt {attempt}: close() hung on a read submitted just before it; "
            "the watchdog had to cancel the read")
        assert type(handle.exception(WAIT)).__name__ == "DatabaseClosed"
        assert sqlnb_threads() - baseline == set()


def test_close_stops_reads_on_every_reader(path, baseline):
    db = sqlnb.connect(path, threads=3)
    handles = [db.submit(FOREVER, time_limit=math.inf) for _ in range(5)]
    for handle in handles[:3]:
        wait_running(handle)
    with watchdog(*handles) as fired:
        db.close()
    assert not fired.is_set()
    assert [type(h.exception(WAIT)).__name__ for h in handles] == ["DatabaseClosed"] * 5
    assert sqlnb_threads() - baseline == set()


def test_close_stops_a_half_read_iter_chunks(path, baseline):
    db = sqlnb.connect(path)
    chunks = db.iter_chunks(FOREVER_ROWS, chunk_rows=100, time_limit=math.inf)
    assert len(next(chunks)) == 100
    with watchdog(rescue=chunks.close) as fired:  # closing the iterator cancels its query
        db.close()
    assert not fired.is_set(), "close() did not stop the stream's read"
    with pytest.raises(sqlnb.DatabaseClosed):
        for _chunk in chunks:
            pass
    assert sqlnb_threads() - baseline == set()


def test_close_stops_an_awaited_read(path, baseline):
    db = sqlnb.connect(path)

    async def main() -> BaseException | None:
        handle = db.submit(FOREVER, time_limit=math.inf)
        while handle.progress.state != "running":
            await asyncio.sleep(0.001)
        asyncio.get_running_loop().call_later(0.01, db.close)
        try:
            with watchdog(handle):
                await handle
        except sqlnb.DatabaseClosed as error:
            return error
        return None

    error = asyncio.run(main())
    assert isinstance(error, sqlnb.DatabaseClosed) and type(error).__name__ == "DatabaseClosed"
    assert db.closed
    assert sqlnb_threads() - baseline == set()


@pytest.mark.parametrize("threads", [3, 0])
def test_close_finishes_queued_writes(path, baseline, threads):
    db = sqlnb.connect(path, threads=threads)
    handles = [db.write("INSERT INTO t VALUES (?)", (i,), block=False) for i in range(5000)]
    handles.append(db.write_many("INSERT INTO t VALUES (?)", [(i,) for i in range(100)],
                                 block=False))
    db.close()
    assert all(h.done() for h in handles)
    assert [h.exception(0) for h in handles] == [None] * len(handles)
    assert sqlnb_threads() - baseline == set()
    with sqlnb.connect(path) as again:
        assert again.query("SELECT count(*) AS n FROM t")["n"][0] == 5100
    assert committed_count(path) == 5100


def test_close_finishes_a_write_running_on_the_writer(path, baseline):
    db = sqlnb.connect(path)
    gate = threading.Event()
    gated = gated_write(db, gate)
    queued = [db.write("INSERT INTO t VALUES (?)", (i,), block=False) for i in range(50)]
    wait_running(gated)
    opener = threading.Timer(0.05, gate.set)
    opener.start()
    db.close()
    opener.join()
    assert gated.exception(0) is None
    assert all(h.done() and h.exception(0) is None for h in queued)
    assert committed_count(path) == 51
    assert sqlnb_threads() - baseline == set()


# -- interpreter exit -----------------------------------------------------------------------

EXIT_SCRIPT = textwrap.dedent("""
    import math, sys, time
    import sqlnb

    db = sqlnb.connect(sys.argv[1])
    db.write("CREATE TABLE IF NOT EXISTS t (x)")
    if sys.argv[2] == "with-read":
        read = db.submit(sqlnb_forever, time_limit=math.inf)
        while read.progress.state != "running":
            time.sleep(0.001)
    for i in range(int(sys.argv[3])):
        db.write("INSERT INTO t VALUES (?)", (i,), block=False)
    print("queued", flush=True)
""").replace("sqlnb_forever", repr(FOREVER))


@pytest.mark.parametrize("mode", ["writes", "with-read"])
def test_exit_without_close_commits_queued_writes(tmp_path, mode):
    path = tmp_path / "exit.db"
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(path), mode, "3000"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "queued"
    assert committed_count(path) == 3000
