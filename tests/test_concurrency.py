"""Many reads and writes at once: every write lands, each acknowledged only after its commit,
and a failing write in a group fails alone while the others commit."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading

import pytest

import sqlnb


def _block_writer(db: sqlnb.Database) -> tuple[threading.Event, sqlnb.QueryHandle]:
    """Hold the writer thread so that the writes queued next are run as one group."""
    started, release = threading.Event(), threading.Event()

    def hold(conn):
        started.set()
        release.wait(30)

    handle = asyncio.run(db.execute_write_fn(hold, block=False, time_limit=math.inf))
    assert started.wait(10)
    return release, handle


def test_hundreds_of_concurrent_async_reads_and_writes(db):
    db.write("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")

    async def writer(i):
        await db.execute_write("INSERT INTO t (id, v) VALUES (?, ?)", (i, f"v{i}"))
        # acknowledged after commit: a reader on another connection sees it at once
        result = await db.execute("SELECT v FROM t WHERE id = ?", (i,))
        assert result.rows == [(f"v{i}",)]

    async def reader():
        result = await db.execute("SELECT count(*) FROM t")
        return result.single_value()

    async def main():
        jobs = [writer(i) for i in range(300)] + [reader() for _ in range(300)]
        return await asyncio.gather(*jobs)

    counts = asyncio.run(main())[300:]
    assert all(0 <= c <= 300 for c in counts)
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 300


def test_sync_writes_from_many_threads(db):
    db.write("CREATE TABLE t (thread INTEGER, n INTEGER)")

    def work(k):
        for n in range(50):
            db.write("INSERT INTO t VALUES (?, ?)", (k, n))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 400
    assert db.query("SELECT count(DISTINCT thread || '-' || n) FROM t").iloc[0, 0] == 400


def test_group_commit_isolates_a_failing_write(db):
    db.write("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    release, blocker = _block_writer(db)
    handles = [db.write("INSERT INTO t VALUES (?)", (i % 50 if i != 25 else 3,), block=False)
               for i in range(50)]
    release.set()
    blocker.result()
    results = {i: h.exception(timeout=30) for i, h in enumerate(handles)}
    assert isinstance(results.pop(25), sqlite3.IntegrityError)
    assert all(e is None for e in results.values())
    ids = set(db.query("SELECT id FROM t")["id"])
    assert ids == set(range(50)) - {25}
    with pytest.raises(sqlnb.BackgroundWriteError) as info:
        db.flush()
    assert len(info.value.errors) == 1
    assert "UNIQUE" in str(info.value)
    db.flush()  # each error is reported once


def test_a_write_that_rolls_back_the_whole_transaction_does_not_lose_the_others(db):
    db.write("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    release, blocker = _block_writer(db)
    before = [db.write("INSERT INTO t VALUES (?)", (i,), block=False) for i in range(20)]
    # interrupted mid-write, SQLite rolls back the whole transaction, not just the savepoint
    slow = db.write(
        "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1000 UNION ALL SELECT x + 1 FROM c) "
        "SELECT x FROM c", block=False, time_limit=0.2)
    after = [db.write("INSERT INTO t VALUES (?)", (100 + i,), block=False) for i in range(20)]
    release.set()
    blocker.result()
    with pytest.raises(sqlnb.QueryTimeout) as info:
        slow.result(timeout=30)
    assert info.value.is_write
    assert "rolled back" in str(info.value)
    for h in before + after:
        assert h.exception(timeout=30) is None
    ids = set(db.query("SELECT id FROM t")["id"])
    assert ids == set(range(20)) | set(range(100, 120))


def test_a_trigger_raising_rollback_fails_only_its_own_write(db):
    db.write_script("""
        CREATE TABLE t (id INTEGER PRIMARY KEY);
        CREATE TRIGGER no_sevens BEFORE INSERT ON t WHEN NEW.id = 7
        BEGIN SELECT RAISE(ROLLBACK, 'no sevens'); END;
    """)
    release, blocker = _block_writer(db)
    handles = [db.write("INSERT INTO t VALUES (?)", (i,), block=False) for i in range(10)]
    release.set()
    blocker.result()
    errors = [h.exception(timeout=30) for h in handles]
    assert isinstance(errors[7], sqlite3.IntegrityError)
    assert [e is None for i, e in enumerate(errors) if i != 7] == [True] * 9
    assert set(db.query("SELECT id FROM t")["id"]) == set(range(10)) - {7}


def test_a_failing_script_in_a_group_leaves_nothing_half_done(db):
    db.write("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT)")
    release, blocker = _block_writer(db)
    handles = []
    for i in range(30):
        if i in (5, 17):  # the first INSERT succeeds, the second breaks UNIQUE: neither stays
            sql = f"INSERT INTO t VALUES ({1000 + i}, 'half'); INSERT INTO t VALUES ({i - 1}, 'x')"
        else:
            sql = f"INSERT INTO t VALUES ({i}, 'ok')"
        handles.append(db.write_script(sql, block=False))
    release.set()
    blocker.result()
    errors = {i: h.exception(timeout=30) for i, h in enumerate(handles)}
    assert isinstance(errors.pop(5), sqlite3.IntegrityError)
    assert isinstance(errors.pop(17), sqlite3.IntegrityError)
    assert all(e is None for e in errors.values())
    rows = db.query("SELECT id, tag FROM t")
    assert set(rows["id"]) == set(range(30)) - {5, 17}
    assert set(rows["tag"]) == {"ok"}
    with pytest.raises(sqlnb.BackgroundWriteError):
        db.flush()


def test_insert_or_fail_in_a_group_is_undone_whole(db):
    # OR FAIL keeps the rows a failing statement already wrote; a task must still be all or none
    db.write("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    db.write("INSERT INTO t VALUES (50)")
    release, blocker = _block_writer(db)
    first = db.write("INSERT INTO t VALUES (1)", block=False)
    failing = db.write("INSERT OR FAIL INTO t WITH RECURSIVE c(x) AS (SELECT 40 UNION ALL "
                       "SELECT x + 1 FROM c WHERE x < 60) SELECT x FROM c", block=False)
    last = db.write("INSERT INTO t VALUES (2)", block=False)
    release.set()
    blocker.result()
    assert isinstance(failing.exception(timeout=30), sqlite3.IntegrityError)
    assert first.exception(timeout=30) is None and last.exception(timeout=30) is None
    assert sorted(db.query("SELECT id FROM t")["id"]) == [1, 2, 50]
    with pytest.raises(sqlnb.BackgroundWriteError):
        db.flush()


def test_a_failing_write_inside_the_users_transaction_keeps_that_transaction(db):
    db.write("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    db.write("BEGIN")
    db.write("INSERT INTO t VALUES (100)")
    release, blocker = _block_writer(db)
    handles = [db.write("INSERT INTO t VALUES (?)", (i if i != 3 else 100,), block=False)
               for i in range(6)]
    release.set()
    blocker.result()
    errors = [h.exception(timeout=30) for h in handles]
    assert isinstance(errors[3], sqlite3.IntegrityError)
    assert [e for i, e in enumerate(errors) if i != 3] == [None] * 5
    db.write("COMMIT")
    assert sorted(db.query("SELECT id FROM t")["id"]) == [0, 1, 2, 4, 5, 100]
    with pytest.raises(sqlnb.BackgroundWriteError):
        db.flush()


def test_writes_run_in_the_order_they_were_queued(db):
    db.write("CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER)")
    handles = [db.write("INSERT INTO log (n) VALUES (?)", (i,), block=False) for i in range(200)]
    db.flush()
    assert all(h.done() for h in handles)
    assert list(db.query("SELECT n FROM log ORDER BY seq")["n"]) == list(range(200))


def test_reads_go_on_while_a_write_holds_the_writer(db):
    db.write("CREATE TABLE t (x)")
    db.write("INSERT INTO t VALUES (1)")
    release, blocker = _block_writer(db)
    try:
        assert db.query("SELECT x FROM t")["x"][0] == 1
    finally:
        release.set()
        blocker.result()


def test_execute_write_fn_transaction_and_isolated_connection(db):
    db.write("CREATE TABLE t (x)")

    def fails(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(db.execute_write_fn(fails))
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 0

    def adds(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        return "ok"

    assert asyncio.run(db.execute_write_fn(adds, isolated_connection=True)) == "ok"
    assert asyncio.run(db.execute_write_fn(adds, transaction=False)) == "ok"
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 2


def test_execute_fn_runs_on_a_read_only_reader(db):
    db.write("CREATE TABLE t (x)")

    def count(conn):
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]

    assert asyncio.run(db.execute_fn(count)) == 0

    def sneaky(conn):
        conn.execute("INSERT INTO t VALUES (1)")

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        asyncio.run(db.execute_fn(sneaky))


def test_wait_for_writes_reports_background_failures(db):
    db.write("CREATE TABLE t (x NOT NULL)")

    async def main():
        ok = await db.execute_write("INSERT INTO t VALUES (1)", block=False)
        bad = await db.execute_write("INSERT INTO t VALUES (NULL)", block=False)
        with pytest.raises(sqlnb.BackgroundWriteError):
            await db.wait_for_writes()
        assert ok.done() and bad.done()
        await db.wait_for_writes()

    asyncio.run(main())
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 1


def test_execute_write_many_and_script(db):
    async def main():
        await db.execute_write_script("CREATE TABLE t (a, b); CREATE INDEX ta ON t (a);")
        result = await db.execute_write_many("INSERT INTO t VALUES (?, ?)",
                                             [(i, i * i) for i in range(1000)])
        assert result.rowcount == 1000
        gen = ({"a": i, "b": 0} for i in range(10))
        result = await db.execute_write_many("INSERT INTO t VALUES (:a, :b)", gen)
        assert result.rowcount == 10

    asyncio.run(main())
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 1010
