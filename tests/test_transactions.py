"""Transactions the user opens, and the ones write functions run in: nothing is committed outside
the transaction it was written in, and no committed write is reported as failed."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading

import pytest

import sqlnb

from .helpers import committed, committed_count


def _block_writer(db: sqlnb.Database) -> tuple[threading.Event, sqlnb.QueryHandle]:
    """Hold the writer thread so that the writes queued next are run as one group."""
    started, release = threading.Event(), threading.Event()

    def hold(conn):
        started.set()
        release.wait(30)

    handle = asyncio.run(db.execute_write_fn(hold, block=False, time_limit=math.inf,
                                             transaction=False))
    assert started.wait(10)
    return release, handle


@pytest.fixture
def vetoed(db):
    """A table whose trigger rolls back the whole transaction when id 13 is inserted."""
    db.write("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    db.write("CREATE TRIGGER veto BEFORE INSERT ON t WHEN NEW.id = 13 "
             "BEGIN SELECT RAISE(ROLLBACK, 'thirteen is vetoed'); END")
    return db


# -- the user's own transaction ------------------------------------------------------------------

def test_a_rollback_of_the_users_transaction_commits_nothing_on_its_own(vetoed, tmp_path):
    """Finding 1: writes queued inside the user's BEGIN, one of which makes SQLite roll the whole
    transaction back, must all fail, nothing of them committed by sqlnb on its own."""
    db = vetoed
    db.write("BEGIN")
    db.write("INSERT INTO t VALUES (1)")
    release, blocker = _block_writer(db)
    handles = [db.write("INSERT INTO t VALUES (?)", (i,), block=False) for i in (2, 3, 13, 4)]
    release.set()
    blocker.result()
    errors = [h.exception(timeout=30) for h in handles]
    assert isinstance(errors[2], sqlite3.IntegrityError)  # the trigger's own error
    assert "vetoed" in str(errors[2])
    for error in errors[:2] + errors[3:]:
        assert isinstance(error, sqlnb.TransactionRolledBack), error
        assert "rolled back" in str(error)
    assert committed_count(tmp_path / "test.db") == 0
    # the user's COMMIT says what happened to the transaction, and nothing is committed
    with pytest.raises(sqlnb.TransactionRolledBack, match="thirteen is vetoed"):
        db.write("COMMIT")
    assert committed_count(tmp_path / "test.db") == 0
    # after that, the Database works as before
    db.write("INSERT INTO t VALUES (5)")
    assert committed(tmp_path / "test.db", "SELECT id FROM t") == [(5,)]
    with pytest.raises(sqlnb.BackgroundWriteError):
        db.flush()


def test_writes_after_the_users_transaction_was_rolled_back_wait_for_its_end(vetoed, tmp_path):
    """Finding 1: until the user ends the rolled-back transaction, later writes are refused (they
    were meant for it); ROLLBACK ends it quietly."""
    db = vetoed
    db.write("BEGIN")
    db.write("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError, match="vetoed"):
        db.write("INSERT INTO t VALUES (13)")
    with pytest.raises(sqlnb.TransactionRolledBack, match="ROLLBACK"):
        db.write("INSERT INTO t VALUES (2)")
    with pytest.raises(sqlnb.TransactionRolledBack):
        asyncio.run(db.execute_write_fn(lambda conn: conn.execute("INSERT INTO t VALUES (3)")))
    db.write("ROLLBACK")
    assert committed_count(tmp_path / "test.db") == 0
    db.write("INSERT INTO t VALUES (4)")
    assert committed(tmp_path / "test.db", "SELECT id FROM t") == [(4,)]


def test_a_write_stopped_inside_the_users_transaction_says_the_transaction_is_gone(db, tmp_path):
    """SQLite rolls back the whole transaction when a write in it is interrupted."""
    db.write("CREATE TABLE t (x)")
    db.write("BEGIN")
    db.write("INSERT INTO t VALUES (1)")
    endless = ("INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
               "SELECT x FROM c")
    with pytest.raises(sqlnb.QueryTimeout) as stopped:
        db.write(endless, time_limit=0.1)
    assert any("ROLLBACK" in note for note in stopped.value.__notes__)
    with pytest.raises(sqlnb.TransactionRolledBack, match="reached its time limit") as lost:
        db.write("INSERT INTO t VALUES (2)")
    assert isinstance(lost.value, sqlite3.OperationalError)  # sqlite3's except still catches it
    assert isinstance(stopped.value, sqlite3.OperationalError)
    db.write("ROLLBACK")
    db.write("INSERT INTO t VALUES (3)")
    assert committed(tmp_path / "test.db", "SELECT x FROM t") == [(3,)]


def test_a_group_outside_any_user_transaction_still_reruns_the_others(vetoed, tmp_path):
    """The rule above is for the user's transaction only: in sqlnb's own, the others commit."""
    db = vetoed
    release, blocker = _block_writer(db)
    handles = [db.write("INSERT INTO t VALUES (?)", (i,), block=False) for i in (2, 3, 13, 4)]
    release.set()
    blocker.result()
    errors = [h.exception(timeout=30) for h in handles]
    assert [e is None for e in errors] == [True, True, False, True]
    assert committed(tmp_path / "test.db", "SELECT id FROM t ORDER BY id") == [(2,), (3,), (4,)]
    with pytest.raises(sqlnb.BackgroundWriteError):
        db.flush()


# -- write functions -------------------------------------------------------------------------------

@pytest.mark.parametrize("isolated", [False, True])
def test_with_conn_is_a_transaction_when_fn_runs_without_one(db, tmp_path, isolated):
    """Finding 2: `with conn:` rolls back on an error, as on a plain sqlite3 connection."""
    db.write("CREATE TABLE t (x)")

    def half(conn):
        with conn:
            conn.execute("INSERT INTO t VALUES (1)")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(db.execute_write_fn(half, transaction=False, isolated_connection=isolated))
    assert committed_count(tmp_path / "test.db") == 0

    def whole(conn):
        with conn:
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("INSERT INTO t VALUES (2)")
        assert not conn.in_transaction
        return "ok"

    assert asyncio.run(db.execute_write_fn(whole, transaction=False,
                                           isolated_connection=isolated)) == "ok"
    assert committed_count(tmp_path / "test.db") == 2


@pytest.mark.parametrize("isolated", [False, True])
def test_with_conn_is_all_or_nothing_ddl_included(db, tmp_path, isolated):
    """Issue 19 #22, a decision: with transaction=False, `with conn:` is one transaction for its
    whole block, DDL included (as Python 3.12's autocommit=False has it), not the legacy
    default of a plain sqlite3 connection, which commits a CREATE TABLE at once and rolls back
    only the rows after it. The README says so."""
    def half(conn):
        with conn:
            conn.execute("CREATE TABLE made (x)")
            conn.execute("INSERT INTO made VALUES (1)")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(db.execute_write_fn(half, transaction=False, isolated_connection=isolated))
    assert committed(tmp_path / "test.db",
                     "SELECT count(*) FROM sqlite_master WHERE name = 'made'") == [(0,)]

    # the same block on a plain sqlite3 connection (its default, legacy transaction control)
    # keeps the table: the difference docs/guide/writes.md names
    plain = sqlite3.connect(tmp_path / "plain.db")
    with pytest.raises(ValueError, match="boom"):
        half(plain)
    assert plain.execute("SELECT count(*) FROM made").fetchone() == (0,)
    plain.close()

    def whole(conn):
        with conn:
            conn.execute("CREATE TABLE made (x)")
            conn.execute("INSERT INTO made VALUES (1)")
        return conn.in_transaction

    assert asyncio.run(db.execute_write_fn(whole, transaction=False,
                                           isolated_connection=isolated)) is False
    assert committed(tmp_path / "test.db", "SELECT x FROM made") == [(1,)]


def test_with_conn_inside_the_fns_transaction_is_a_savepoint(db, tmp_path):
    """Finding 3: `with conn:` inside execute_write_fn's transaction neither commits early nor
    makes sqlnb's own COMMIT fail; its block is undone alone when it raises."""
    db.write("CREATE TABLE t (x)")

    def fn(conn):
        with conn:
            conn.execute("INSERT INTO t VALUES (1)")
        try:
            with conn:
                conn.execute("INSERT INTO t VALUES (2)")
                raise KeyError("undo this block")
        except KeyError:
            pass
        assert conn.in_transaction  # still sqlnb's transaction, not committed yet
        return "ok"

    assert asyncio.run(db.execute_write_fn(fn)) == "ok"
    assert committed(tmp_path / "test.db", "SELECT x FROM t") == [(1,)]

    def fails_later(conn):
        with conn:
            conn.execute("INSERT INTO t VALUES (3)")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(db.execute_write_fn(fails_later))
    assert committed(tmp_path / "test.db", "SELECT x FROM t") == [(1,)]


def test_executescript_inside_the_fns_transaction_stays_in_it(db, tmp_path):
    """Finding 3: executescript() commits first on a plain connection; inside execute_write_fn
    its statements join the fn's transaction, so the fn's result is the truth."""
    db.write("CREATE TABLE t (x)")

    def fn(conn):
        conn.executescript("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);")
        return "ok"

    assert asyncio.run(db.execute_write_fn(fn)) == "ok"
    assert committed_count(tmp_path / "test.db") == 2

    def fails(conn):
        conn.executescript("INSERT INTO t VALUES (3); INSERT INTO t VALUES (4);")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(db.execute_write_fn(fails))
    assert committed_count(tmp_path / "test.db") == 2


@pytest.mark.parametrize("end", [
    lambda conn: conn.commit(),
    lambda conn: conn.execute("COMMIT"),
    lambda conn: conn.execute("ROLLBACK"),
    lambda conn: conn.executescript("INSERT INTO t VALUES (9); COMMIT;"),
])
def test_fn_that_ends_the_transaction_itself_gets_a_clear_error_and_commits_nothing(
        db, tmp_path, end):
    """Finding 3: a fn that tries to end sqlnb's transaction is stopped before anything commits,
    with an error that says what to do (never a failure reported for committed work)."""
    db.write("CREATE TABLE t (x)")

    def fn(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        end(conn)
        return "ok"

    with pytest.raises(sqlnb.UsageError, match="transaction=False"):
        asyncio.run(db.execute_write_fn(fn))
    assert committed_count(tmp_path / "test.db") == 0
    assert asyncio.run(db.execute_write_fn(
        lambda conn: conn.execute("INSERT INTO t VALUES (2)"))) is not None
    assert committed_count(tmp_path / "test.db") == 1


def test_fn_may_commit_itself_without_sqlnbs_transaction(db, tmp_path):
    db.write("CREATE TABLE t (x)")

    def fn(conn):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.commit()
        conn.executescript("INSERT INTO t VALUES (2); INSERT INTO t VALUES (3);")
        return "ok"

    assert asyncio.run(db.execute_write_fn(fn, transaction=False)) == "ok"
    assert committed_count(tmp_path / "test.db") == 3
