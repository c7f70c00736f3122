"""Where statements run, and what one Database shares across its connections.

SQLite decides whether a statement writes (the readers are query_only, so it refuses writes
there); connection-level state the user sets (PRAGMAs, ATTACH, TEMP objects) behaves as if the
Database were one connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3

import pytest

import sqlnb


def test_with_insert_is_routed_to_the_writer(db):
    db.write("CREATE TABLE t (x INTEGER)")
    result = db.submit("WITH v(n) AS (VALUES (1), (2)) INSERT INTO t SELECT n FROM v").result()
    assert result.rowcount == 2
    assert db.query("SELECT count(*) AS n FROM t")["n"][0] == 2


def test_pragma_setting_a_file_value_goes_to_the_writer(db):
    db.query("PRAGMA user_version = 7")
    assert db.query("PRAGMA user_version")["user_version"][0] == 7


def test_foreign_keys_pragma_applies_to_every_connection(db):
    db.write_script("""
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (pid INTEGER REFERENCES parent(id));
    """)
    db.query("PRAGMA foreign_keys = ON")
    # every reader reports it (run several at once so more than one reader answers)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        values = list(pool.map(lambda _: db.query("PRAGMA foreign_keys").iloc[0, 0], range(12)))
    assert set(values) == {1}
    with pytest.raises(sqlite3.IntegrityError):
        db.write("INSERT INTO child VALUES (99)")
    db.query("PRAGMA foreign_keys = OFF")
    db.write("INSERT INTO child VALUES (99)")
    assert db.query("PRAGMA foreign_keys").iloc[0, 0] == 0


def test_temp_table_is_usable_by_later_calls(db):
    db.write("CREATE TEMP TABLE scratch (x)")
    db.write("INSERT INTO scratch VALUES (1), (2)")
    assert db.query("SELECT sum(x) AS s FROM scratch")["s"][0] == 3
    db.query("UPDATE scratch SET x = x * 10")
    assert db.query("SELECT sum(x) AS s FROM temp.scratch")["s"][0] == 30
    db.write("CREATE TEMP VIEW big AS SELECT x FROM scratch WHERE x > 10")
    assert list(db.query("SELECT x FROM big")["x"]) == [20]


def test_execute_fn_that_reads_temp_objects_runs_where_they_are(db):
    """Finding 9: the reader's authorizer refused temp.sqlite_master to execute_fn ("access to
    temp.sqlite_temp_master.name is prohibited"); a read of TEMP objects runs on the writer,
    on a connection as read-only there as on a reader."""
    db.write("CREATE TEMP TABLE scratch (x)")
    db.write("INSERT INTO scratch VALUES (1)")

    def names(conn):
        return [row[0] for row in conn.execute("SELECT name FROM temp.sqlite_master")]

    assert asyncio.run(db.execute_fn(names)) == ["scratch"]
    assert asyncio.run(db.execute_fn(
        lambda conn: conn.execute("SELECT count(*) FROM scratch").fetchone()[0])) == 1

    def sneaky(conn):
        conn.execute("INSERT INTO scratch VALUES (2)")

    with pytest.raises(sqlite3.OperationalError, match="readonly") as refused:
        asyncio.run(db.execute_fn(sneaky))
    assert any("execute_write_fn" in note for note in refused.value.__notes__)
    assert db.query("SELECT count(*) AS n FROM scratch")["n"][0] == 1
    db.write("INSERT INTO scratch VALUES (3)")  # the writer writes again afterwards
    assert db.query("SELECT count(*) AS n FROM scratch")["n"][0] == 2


def test_temp_table_shadowing_a_main_table_reads_the_temp_one(db):
    db.write("CREATE TABLE t (x)")
    db.write("INSERT INTO t VALUES ('main')")
    assert db.query("SELECT x FROM t")["x"][0] == "main"
    db.write("CREATE TEMP TABLE t (x)")
    db.write("INSERT INTO temp.t VALUES ('temp')")
    assert db.query("SELECT x FROM t")["x"][0] == "temp"
    assert db.query("SELECT x FROM main.t")["x"][0] == "main"
    db.write("DROP TABLE temp.t")
    assert db.query("SELECT x FROM t")["x"][0] == "main"


def test_attached_file_is_visible_to_later_reads(db, tmp_path):
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE o (v)")
    other.execute("INSERT INTO o VALUES (42)")
    other.commit()
    other.close()
    db.query(f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        values = list(pool.map(lambda _: db.query("SELECT v FROM other.o")["v"][0], range(8)))
    assert values == [42] * 8
    db.write("INSERT INTO other.o VALUES (43)")
    assert db.query("SELECT count(*) FROM other.o").iloc[0, 0] == 2
    db.write("DETACH DATABASE other")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.query("SELECT v FROM other.o")


def test_private_in_memory_attachment_is_usable(db):
    db.write("ATTACH DATABASE ':memory:' AS scratch")
    db.write("CREATE TABLE scratch.s (v)")
    db.write("INSERT INTO scratch.s VALUES (5)")
    assert db.query("SELECT v FROM scratch.s")["v"][0] == 5


def test_explicit_transaction_across_calls(db):
    db.write("CREATE TABLE t (x)")
    db.write("BEGIN")
    db.write("INSERT INTO t VALUES (1)")
    # a reader does not see the uncommitted row; the writer's transaction stays open
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 0
    db.write("INSERT INTO t VALUES (2)")
    db.write("COMMIT")
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 2
    db.write("BEGIN")
    db.write("INSERT INTO t VALUES (3)")
    db.write("ROLLBACK")
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 2


def test_script_with_its_own_transaction_statements(db):
    db.write_script("""
        BEGIN;
        CREATE TABLE t (x);
        INSERT INTO t VALUES (1);
        COMMIT;
    """)
    assert db.query("SELECT x FROM t")["x"][0] == 1


def test_script_without_transaction_statements_is_atomic(db):
    db.write("CREATE TABLE t (x UNIQUE)")
    with pytest.raises(sqlite3.IntegrityError) as info:
        db.write_script("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); "
                        "INSERT INTO t VALUES (1);")
    assert "INSERT INTO t VALUES (1)" in info.value.sql
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 0


def test_vacuum_and_analyze_run(db):
    db.write("CREATE TABLE t (x)")
    db.write_many("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    db.query("ANALYZE")
    db.query("VACUUM")
    assert db.query("SELECT count(*) FROM t").iloc[0, 0] == 100


def test_read_only_database_refuses_writes_but_keeps_temp_tables(tmp_path):
    path = tmp_path / "ro.db"
    with sqlnb.connect(path) as rw:
        rw.write("CREATE TABLE t (x)")
        rw.write("INSERT INTO t VALUES (1)")
    with sqlnb.connect(path, read_only=True) as ro:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.query("INSERT INTO t VALUES (2)")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.write("WITH v AS (SELECT 3) INSERT INTO t SELECT * FROM v")
        ro.write("CREATE TEMP TABLE notes (n)")
        ro.write("INSERT INTO notes VALUES ('ok')")
        assert ro.query("SELECT n FROM notes")["n"][0] == "ok"
        assert ro.query("SELECT count(*) FROM t").iloc[0, 0] == 1


def test_shared_in_memory_default_is_one_database_for_all_threads(memdb):
    memdb.write("CREATE TABLE t (x)")
    memdb.write_many("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        counts = list(pool.map(lambda _: memdb.query("SELECT count(*) FROM t").iloc[0, 0],
                               range(24)))
    assert counts == [10] * 24
    with sqlnb.connect() as other:  # another Database gets its own empty database
        assert other.query("SELECT count(*) FROM sqlite_master").iloc[0, 0] == 0


@pytest.mark.parametrize("sql", ["PRAGMA locking_mode = EXCLUSIVE",
                                 "pragma main.locking_mode='exclusive'"])
def test_exclusive_locking_is_refused_with_a_way_out(db, sql):
    with pytest.raises(sqlnb.UsageError, match="threads=0"):
        db.query(sql)
    with pytest.raises(sqlnb.UsageError, match="BEGIN EXCLUSIVE"):
        db.write_script(f"CREATE TABLE t (x); {sql};")
    assert db.query("SELECT count(*) FROM sqlite_master").iloc[0, 0] == 0
