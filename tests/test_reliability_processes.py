"""Another process on the same file: sqlnb waits for its lock, reads on through it, and says how to
wait longer.

A second process (a plain sqlite3 connection in a subprocess) holds a write transaction (BEGIN
IMMEDIATE, then waits for the parent's word). Meanwhile sqlnb's reads keep working (WAL: they see
the last commit), and a sqlnb write waits for the lock (the busy timeout) instead of failing at
once: it succeeds when the other process commits within the wait, and when the wait runs out it
fails with sqlite3.OperationalError "database is locked" whose notes name `busy_timeout`. A write
waiting for the lock still obeys its time limit and cancel(), like every other query. Last, a
second process writing in a loop while sqlnb reads and writes from several threads: no error on
either side, and every write of both is in the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqlnb

from .helpers import committed, sqlnb_threads, wait_running

#: Seconds to wait for anything before calling it a hang (never reached when all is well).
WAIT = 30

HOLDER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t (who) VALUES ('holder')")
    print("locked", flush=True)
    command = sys.stdin.readline().strip()  # the parent's word; end of input means roll back
    conn.execute("COMMIT" if command == "commit" else "ROLLBACK")
    conn.close()
    print("released", flush=True)
""")

LOOPER = textwrap.dedent("""
    import sqlite3, sys, threading, time
    path, limit = sys.argv[1], int(sys.argv[2])
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    stop_at = time.monotonic() + 30
    written = 0
    for i in range(limit):  # until the parent says stop (bounded in count and time)
        if stop.is_set() or time.monotonic() > stop_at:
            break
        if i % 10 == 0:  # now and then a longer transaction, to make sqlnb wait
            conn.execute("BEGIN IMMEDIATE")
            for k in range(5):
                conn.execute("INSERT INTO other (n) VALUES (?)", (i * 100 + k,))
            conn.execute("SELECT count(*) FROM t").fetchone()
            time.sleep(0.002)
            conn.execute("COMMIT")
            written += 5
        else:
            conn.execute("INSERT INTO other (n) VALUES (?)", (i * 100,))
            written += 1
        conn.execute("SELECT count(*) FROM t").fetchone()
        time.sleep(0.002)  # a busy neighbour, not a lock hog (SQLite's lock wait is not fair)
        if i == 0:
            print("started", flush=True)
    conn.close()
    print(written, flush=True)
""")


class Holder:
    """A subprocess holding the database's write lock until `release()`."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        assert line == "locked", f"the holder did not take the lock: {self.proc.stderr.read()}"

    def release(self, command: str = "commit") -> None:
        if self.proc.poll() is not None:
            return
        out, err = self.proc.communicate(command + "\n", timeout=WAIT)
        assert out.strip() == "released", err


@contextlib.contextmanager
def holding(path: Path) -> Iterator[Holder]:
    holder = Holder(path)
    try:
        yield holder
    finally:
        try:
            holder.release("rollback")
        finally:
            if holder.proc.poll() is None:
                holder.proc.kill()
                holder.proc.communicate()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "shared.db"
    with sqlnb.connect(file) as setup:  # sqlnb leaves the file in WAL mode
        setup.write("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)")
        setup.write("CREATE TABLE other (n INTEGER)")
        setup.write_many("INSERT INTO t (who) VALUES (?)", [("setup",)] * 10)
    assert committed(file, "PRAGMA journal_mode") == [("wal",)]
    return file


@pytest.fixture
def baseline():
    before = sqlnb_threads()
    yield
    assert {t.name for t in sqlnb_threads() - before} == set()


def test_reads_go_on_while_another_process_holds_the_write_lock(path, baseline):
    with sqlnb.connect(path, busy_timeout=WAIT) as db, holding(path):
        for _ in range(20):
            assert db.query("SELECT count(*) AS n FROM t")["n"].tolist() == [10]
            assert db.submit("SELECT who FROM t WHERE who = 'holder'").result(WAIT).rows == []
        chunks = list(db.iter_chunks("SELECT * FROM t", chunk_rows=3))
        assert [len(c) for c in chunks] == [3, 3, 3, 1]
        assert asyncio.run(db.execute("SELECT count(*) FROM t")).single_value() == 10
        assert not db._dispatch.writer_link.in_transaction


def test_a_write_waits_for_the_lock_and_goes_through_when_it_is_released(path, baseline):
    with sqlnb.connect(path, busy_timeout=WAIT) as db:
        with holding(path) as holder:
            first = db.write("INSERT INTO t (who) VALUES ('sqlnb')", block=False)
            wait_running(first)
            queued = [db.write("INSERT INTO t (who) VALUES (?)", (f"queued {i}",), block=False)
                      for i in range(20)]
            assert db.query("SELECT count(*) AS n FROM t")["n"].tolist() == [10]  # reads go on
            with pytest.raises(TimeoutError):
                first.result(timeout=0.3)  # waiting for the lock, not failed at once
            assert not any(h.done() for h in queued)
            holder.release("commit")
            assert first.result(WAIT).rowcount == 1
            assert [h.result(WAIT).rowcount for h in queued] == [1] * 20
        assert db.query("SELECT count(*) AS n FROM t")["n"].tolist() == [32]
        assert not db._dispatch.writer_link.in_transaction
    whos = [w for (w,) in committed(path, "SELECT who FROM t ORDER BY id")]
    assert whos == ["setup"] * 10 + ["holder", "sqlnb"] + [f"queued {i}" for i in range(20)]


def test_an_awaited_write_waits_for_the_lock_too(path, baseline):
    async def main(db: sqlnb.Database, holder: Holder) -> list[object]:
        writes = [asyncio.ensure_future(db.execute_write("INSERT INTO t (who) VALUES (?)",
                                                         (f"async {i}",))) for i in range(5)]
        await asyncio.sleep(0.2)
        assert not any(w.done() for w in writes)
        assert (await db.execute("SELECT count(*) FROM t")).single_value() == 10
        await asyncio.to_thread(holder.release, "commit")
        return [(await w).rowcount for w in writes]

    with sqlnb.connect(path, busy_timeout=WAIT) as db, holding(path) as holder:
        assert asyncio.run(asyncio.wait_for(main(db, holder), WAIT)) == [1] * 5
    assert committed(path, "SELECT count(*) FROM t") == [(16,)]


def test_a_write_that_waits_past_the_busy_timeout_says_how_to_wait_longer(path, baseline):
    with sqlnb.connect(path, busy_timeout=0.3) as db:
        with holding(path):
            with pytest.raises(sqlite3.OperationalError) as caught:
                db.write("INSERT INTO t (who) VALUES ('too late')")
            error = caught.value
            assert not isinstance(error, sqlnb.QueryInterrupted)
            assert "database is locked" in str(error)
            explained = "\n".join([str(error), *getattr(error, "__notes__", [])])
            assert "busy_timeout" in explained, explained
            # the same for writes that were grouped while they waited
            queued = [db.write("INSERT INTO t (who) VALUES (?)", (f"q {i}",), block=False)
                      for i in range(10)]
            errors = [h.exception(WAIT) for h in queued]
            assert all(isinstance(e, sqlite3.OperationalError) and "locked" in str(e)
                       for e in errors), errors
            assert not db._dispatch.writer_link.in_transaction
            assert db.query("SELECT count(*) AS n FROM t")["n"].tolist() == [10]  # reads go on
        # the other process rolled back; the Database goes on as before
        with pytest.raises(sqlnb.BackgroundWriteError) as background:
            db.flush()
        assert len(background.value.errors) == 10
        db.write("INSERT INTO t (who) VALUES ('after')")
        assert db.query("SELECT count(*) AS n FROM t")["n"].tolist() == [11]
    assert committed(path, "SELECT who FROM t WHERE id > 10") == [("after",)]


def test_flush_while_another_process_holds_the_lock_reports_the_failed_writes(path, baseline):
    """flush() only waits for the queued writes: it needs no lock of its own, so while another
    process holds the lock it raises BackgroundWriteError for the writes that failed, not
    "database is locked" for itself."""
    with sqlnb.connect(path, busy_timeout=0.3) as db, holding(path):
        queued = [db.write("INSERT INTO t (who) VALUES (?)", (f"q {i}",), block=False)
                  for i in range(5)]
        assert all(isinstance(h.exception(WAIT), sqlite3.OperationalError) for h in queued)
        with pytest.raises(sqlnb.Error) as caught:
            db.flush()
        assert isinstance(caught.value, sqlnb.BackgroundWriteError), repr(caught.value)
        assert len(caught.value.errors) == 5
        assert db.query("SELECT count(*) AS n FROM t")["n"].tolist() == [10]


@pytest.mark.parametrize("how", ["time limit", "cancel"])
def test_a_write_waiting_for_the_lock_stops_at_its_time_limit_or_cancel(path, baseline, how):
    """The time limit and cancel() cover the wait for another process's lock too: the caller
    hears QueryTimeout / QueryCancelled soon, not "database is locked" busy_timeout later."""
    busy = 6.0
    with sqlnb.connect(path, busy_timeout=busy) as db:
        with holding(path):
            limit = 0.3 if how == "time limit" else math.inf
            handle = db.write("INSERT INTO t (who) VALUES ('stopped')", block=False,
                              time_limit=limit)
            wait_running(handle)
            if how == "cancel":
                handle.cancel()
            # far longer than the limit or a cancel need, far shorter than the busy timeout
            try:
                error = handle.exception(timeout=busy / 3)
            except TimeoutError:
                error = None
            finished = handle.done()
        with contextlib.suppress(sqlnb.BackgroundWriteError):
            db.flush()
        assert finished, f"the {how} did not stop a write waiting for the lock"
        expected = sqlnb.QueryTimeout if how == "time limit" else sqlnb.QueryCancelled
        assert isinstance(error, expected), repr(error)
        db.write("INSERT INTO t (who) VALUES ('after')")
        assert not db._dispatch.writer_link.in_transaction
    assert committed(path, "SELECT who FROM t WHERE id > 10") == [("after",)]


@pytest.mark.timeout(90)
def test_another_process_writing_in_a_loop_while_sqlnb_reads_and_writes(path, baseline):
    looper = subprocess.Popen([sys.executable, "-c", LOOPER, str(path), "100000"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    errors: list[BaseException] = []
    acked: list[str] = []
    lock = threading.Lock()
    try:
        assert looper.stdout.readline().strip() == "started", looper.stderr.read()
        with sqlnb.connect(path, busy_timeout=WAIT) as db:
            def work(worker: int) -> None:
                try:
                    for i in range(80):
                        who = f"w{worker}-{i}"
                        if i % 4 == 3:
                            db.write_many("INSERT INTO t (who) VALUES (?)",
                                          [(f"{who}-{k}",) for k in range(3)])
                            done = [f"{who}-{k}" for k in range(3)]
                        else:
                            db.write("INSERT INTO t (who) VALUES (?)", (who,))
                            done = [who]
                        with lock:
                            acked.extend(done)
                        seen = db.query("SELECT count(*) AS n FROM t")["n"][0]
                        assert seen >= 10 + len(done)
                        db.submit("SELECT count(*) FROM other").result(WAIT)
                except BaseException as error:
                    with lock:
                        errors.append(error)

            async def async_work() -> None:
                for i in range(80):
                    await db.execute_write("INSERT INTO t (who) VALUES (?)", (f"a-{i}",))
                    with lock:
                        acked.append(f"a-{i}")
                    await db.execute("SELECT max(n) FROM other")

            threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
            for thread in threads:
                thread.start()
            try:
                asyncio.run(asyncio.wait_for(async_work(), WAIT * 2))
            except BaseException as error:
                errors.append(error)
            for thread in threads:
                thread.join(WAIT * 2)
            assert not any(t.is_alive() for t in threads), "a sqlnb worker hung"
        out, err = looper.communicate("stop\n", timeout=WAIT * 2)
    finally:
        if looper.poll() is None:
            looper.kill()
            looper.communicate()
    assert errors == []
    assert looper.returncode == 0, err
    written = int(out.split()[-1])
    whos = [w for (w,) in committed(path, "SELECT who FROM t")]
    missing = set(acked) - set(whos)
    assert not missing, f"acknowledged sqlnb writes missing: {sorted(missing)[:5]}"
    assert len(acked) == 4 * (60 + 20 * 3) + 80
    assert len(whos) == 10 + len(acked)
    ns = [n for (n,) in committed(path, "SELECT n FROM other")]
    assert len(ns) == len(set(ns)) == written > 0  # every write of the other process too
    assert committed(path, "PRAGMA integrity_check") == [("ok",)]
