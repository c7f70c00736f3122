"""The behaviours every engine shares, run on each engine (SQLite, DuckDB, Spark through a
real Spark Connect server and PostgreSQL through a real server, each started once for the test
session, and Tiny, an engine of tests/tiny_engine.py written against sqlnb.engine alone, the
proof that an engine is a plug-in): one control plane, so a time limit, Cancel, Stop, progress,
back-pressure, exploring, DataFrames in and out, clean shutdown and the magics behave alike.
The built-in engines with transactions (SQLite, DuckDB, PostgreSQL) share more: a rolled-back
write, group commit, the user's own transaction, write functions. What differs is said by the
engine-specific tests (SQLite's in the other files, DuckDB's at the end of this one, Spark's in
test_spark.py, PostgreSQL's in test_postgres.py).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import datetime
import math
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
from IPython.core.error import UsageError as IPythonUsageError

import sqlnb
import sqlnb.engine
from sqlnb.ipython.completion import Completer
from sqlnb.ipython.magics import SqlCellError

from . import tiny_engine
from .helpers import WAIT, sqlnb_threads, wait_for, wait_running

#: Per engine: a file name, a read that never ends on its own, a write that never ends, rows
#: 1 to 25,000 in a column x, the types of text and of a 64-bit float, and where they differ:
#: its scheme (a path does not pick it), the quote of names, dates bound as text, the most
#: columns a table may have (else sqlnb's cap) and the module a kernel must import (a plug-in);
#: strings written the engine's own ways that hold a quote.
ENGINES = {
    "sqlite": dict(
        file="t.db",
        forever="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT count(*) FROM c",
        forever_write="INSERT INTO t (x) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                      "SELECT x + 1 FROM c) SELECT x FROM c",
        rows="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 25000) "
             "SELECT x FROM c",
        text="VARCHAR", double="DOUBLE", dates_as_text=True, columns=2000,
        strings=["'it''s'"]),
    "duckdb": dict(
        file="t.duckdb",
        forever="SELECT sum(hash(range)) FROM range(1000000000000000)",
        forever_write="INSERT INTO t (x) SELECT range FROM range(1000000000000000)",
        rows="SELECT range AS x FROM range(1, 25001)",
        text="VARCHAR", double="DOUBLE", strings=["$$it's$$", "E'it\\'s'"]),
    "spark": dict(
        file=None,
        forever="SELECT count(*) FROM range(0, 1000000000000000, 1, 16)",
        forever_write="INSERT INTO t SELECT id, 'x' FROM range(0, 1000000000000000, 1, 16)",
        rows="SELECT id AS x FROM range(1, 25001, 1, 1)",
        text="STRING", double="DOUBLE", quote="`", strings=["'it\\'s'", '"it\\"s"']),
    "postgres": dict(  # (a set-returning function in FROM is materialised first: small ones)
        file=None,
        forever="SELECT count(*) FROM generate_series(1, 10000) a, generate_series(1, 10000) b, "
                "generate_series(1, 10000) c",
        forever_write="INSERT INTO t (x) SELECT g FROM generate_series(1, 1000) g UNION ALL "
                      "SELECT 0 FROM pg_sleep(100000)",
        rows="SELECT x FROM generate_series(1, 25000) x",
        text="TEXT", double="DOUBLE PRECISION", columns=1600,
        strings=["$$it's$$", "$q$it's$q$", "E'it\\'s'"]),
    # a plug-in over Python's sqlite3 (tests/tiny_engine.py), opened by its own scheme
    tiny_engine.TinyBackend.name: dict(
        file="t.db",
        scheme="tiny",
        forever="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT count(*) FROM c",
        forever_write="INSERT INTO t (x) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                      "SELECT x + 1 FROM c) SELECT x FROM c",
        rows="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 25000) "
             "SELECT x FROM c",
        text="VARCHAR", double="DOUBLE", quote="`", dates_as_text=True,
        module="tests.tiny_engine", strings=["'it''s'"]),
}
#: The engines with transactions.
TRANSACTIONAL = ["duckdb", "postgres", "sqlite"]


@contextlib.contextmanager
def fresh(engine: str, tmp_path, request, **options) -> Iterator[sqlnb.Database]:
    """A new Database of `engine`: a new file, or on Spark a namespace (on PostgreSQL a
    database) of its own on the test session's server (dropped afterwards), so no test sees
    another's tables."""
    before = sqlnb_threads()
    namespace = f"sqlnb_{uuid.uuid4().hex[:12]}"
    if engine == "spark":
        url = request.getfixturevalue("spark_url")
        with sqlnb.connect(url) as setup:
            setup.write(f"CREATE DATABASE {namespace}")
        db = sqlnb.connect(url, **options)
        db.write(f"USE {namespace}")
    elif engine == "postgres":  # a database of its own on the test session's server
        url = request.getfixturevalue("pg_url")
        with sqlnb.connect(url) as setup:
            setup.write(f"CREATE DATABASE {namespace}")
        db = sqlnb.connect(pg_database(url, namespace), **options)
    else:
        db = sqlnb.connect(_target(engine, tmp_path), **options)
    try:
        yield db
    finally:
        db.close()
        if engine == "spark":
            with sqlnb.connect(url) as setup:
                setup.write(f"DROP DATABASE IF EXISTS {namespace} CASCADE")
        elif engine == "postgres":
            with sqlnb.connect(url) as setup:
                setup.write(f"DROP DATABASE IF EXISTS {namespace} WITH (FORCE)")
    assert sqlnb_threads() - before == set()


def _target(engine: str, folder) -> object:
    """A new file's target for `engine`: its path, or a URL of the engine's scheme."""
    path = folder / ENGINES[engine]["file"]
    scheme = ENGINES[engine].get("scheme")
    return f"{scheme}:///{path}" if scheme else path


def pg_database(url: str, name: str) -> str:
    """The URL of another database on the same PostgreSQL server."""
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=sorted(ENGINES))
def engine(request):
    return request.param


@pytest.fixture(params=TRANSACTIONAL)
def tx_engine(request):
    return request.param


@pytest.fixture
def sql(engine):
    return ENGINES[engine]


@pytest.fixture
def edb(engine, tmp_path, request):
    """A Database of each engine, with a table t (x BIGINT, s text)."""
    with fresh(engine, tmp_path, request) as database:
        database.write(f"CREATE TABLE t (x BIGINT, s {ENGINES[engine]['text']})")
        yield database


@pytest.fixture
def txdb(tx_engine, tmp_path, request):
    """A Database of each engine with transactions, with a table t (x BIGINT, s VARCHAR)."""
    with fresh(tx_engine, tmp_path, request) as database:
        database.write("CREATE TABLE t (x BIGINT, s VARCHAR)")
        yield database


def _count(db: sqlnb.Database) -> int:
    return int(db.query("SELECT count(*) AS n FROM t")["n"][0])


# -- opening --------------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "engine_name"), [
    (None, "sqlite"), ("sqlite://", "sqlite"), ("sqlite:///{dir}/a.db", "sqlite"),
    ("{dir}/a.db", "sqlite"), ("duckdb://", "duckdb"), ("duckdb:///:memory:", "duckdb"),
    ("duckdb:///{dir}/a.duckdb", "duckdb"), ("{dir}/a.duckdb", "duckdb"), ("{dir}/a.ddb", "duckdb"),
])
def test_the_target_picks_the_engine(tmp_path, target, engine_name):
    if target is not None:
        target = target.format(dir=tmp_path)
    with sqlnb.connect(target) as db:
        assert db.engine == engine_name
        assert db.query("SELECT 6 * 7 AS x")["x"][0] == 42


def test_a_pathlib_path_ending_duckdb_is_duckdb(tmp_path):
    with sqlnb.connect(tmp_path / "x.duckdb") as db:
        assert db.engine == "duckdb"


@pytest.mark.parametrize("target", ["mysql://root:s3cret@localhost/x",
                                    "oracle://analyst:s3cret@db.example.com/shop"])
def test_a_target_no_engine_opens_says_which_forms_work(target):
    """The registry's error names the scheme, and what each engine it knows opens."""
    with pytest.raises(sqlnb.UsageError) as error:
        sqlnb.connect(target)
    text = str(error.value)
    assert f"no {target.split(':')[0]}:// databases" in text
    assert "sqlite:///" in text and "duckdb:///" in text and "sc://" in text
    assert "s3cret" not in text and "analyst" not in text and "example.com" not in text


def test_duckdb_missing_says_how_to_install_it(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.modules["duckdb"] = None
        import sqlnb
        try:
            sqlnb.connect({str(tmp_path / "x.duckdb")!r})
        except sqlnb.UsageError as error:
            print(error)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert "pip install 'sqlnb[duckdb]'" in out.stdout, out.stderr


# -- reading and writing --------------------------------------------------------------------

def test_rows_come_back_as_typed_frames(edb):
    edb.write_many("INSERT INTO t VALUES (?, ?)", [(1, "a"), (2, None), (3, "c")])
    df = edb.query("SELECT x, s, x * 1.5 AS f, CASE WHEN x = 2 THEN NULL ELSE x END AS n "
                   "FROM t ORDER BY x")
    assert df["x"].dtype == "int64"
    assert str(df["s"].dtype) == "str"
    assert df["f"].dtype == "float64"
    assert df["n"].dtype == pd.Int64Dtype() and df["n"].isna().tolist() == [False, True, False]
    assert df["x"].tolist() == [1, 2, 3] and df["s"].tolist()[0] == "a"


def test_a_result_and_its_rowcount(txdb):
    assert txdb.write("INSERT INTO t VALUES (1, 'a'), (2, 'b')").rowcount == 2
    assert txdb.write_many("INSERT INTO t VALUES (?, ?)", [(3, "c"), (4, "d")]).rowcount == 2
    result = txdb.submit("SELECT x, s FROM t ORDER BY x").result()
    assert result.columns == ["x", "s"]
    assert result.rows[0] == (1, "a") and len(result) == 4
    assert txdb.write("UPDATE t SET s = 'z' WHERE x > 2").rowcount == 2


def test_named_parameters_bind_values_never_text(edb):
    edb.write("INSERT INTO t VALUES (:x, :s)", {"x": 1, "s": "x'); DROP TABLE t; --"})
    df = edb.query("SELECT s FROM t WHERE x = :x", {"x": 1})
    assert df["s"][0] == "x'); DROP TABLE t; --"


def test_a_script_runs_in_one_transaction(txdb):
    with pytest.raises(txdb.error_types):
        txdb.write_script("INSERT INTO t VALUES (1, 'a'); INSERT INTO nowhere VALUES (2);")
    assert _count(txdb) == 0
    txdb.write_script("INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (2, 'b');")
    assert _count(txdb) == 2


def test_bad_input_gets_a_usage_error(edb):
    with pytest.raises(sqlnb.UsageError, match="empty"):
        edb.query("  -- nothing")
    with pytest.raises(sqlnb.UsageError, match="one statement"):
        edb.query("SELECT 1; SELECT 2")
    with pytest.raises(sqlnb.UsageError, match="not used"):
        edb.query("SELECT :a AS a", {"a": 1, "b": 2})


def test_an_engine_error_keeps_its_type_and_names_the_sql(edb):
    with pytest.raises(edb.error_types) as error:
        edb.query("SELECT * FROM no_such_table")
    assert "no_such_table" in str(error.value)
    assert error.value.sql == "SELECT * FROM no_such_table"
    assert edb.query("SELECT 1 AS one")["one"][0] == 1


def test_completion_reads_a_cell_by_the_engines_rules(edb, engine):
    """Issue 20: completion lexes a cell as the Database's engine does (Database.tokens), so a
    `$$it's$$` or `E'it\\'s'` (PostgreSQL, DuckDB) or `'it\\'s'` (Spark) is one string, and the
    cursor after it is in SQL, not in a string that never closed."""
    completer = Completer(lambda name: edb)
    for string in ENGINES[engine]["strings"]:
        cell = f"%%sql\nSELECT {string} AS quoted, x FROM t WHERE x"
        found = _completed(completer, cell)
        assert found is not None, f"{string}: taken for a string that never closed"
        assert ("x", "column") in found.choices, string


def _completed(completer: Completer, cell: str) -> object:
    """What Tab at the end of `cell` offers once the catalog is read: None at once inside a
    string; else no names until the catalog comes (a Tab waits half a second for it, and Spark
    takes longer), then the names."""
    def settled() -> tuple[object] | None:
        found = completer.complete(cell, len(cell))
        return (found,) if found is None or found.choices else None

    return wait_for(settled, "the catalog read")[0]


def test_names_are_quoted_the_engines_way(edb, engine):
    """Issue 20: Database.quote_identifier is the engine's rule (Spark's is a backtick)."""
    quote = ENGINES[engine].get("quote", '"')
    assert edb.quote_identifier('odd "name` x') == quote + 'odd "name` x'.replace(
        quote, quote * 2) + quote
    name = 'my "odd` col'
    assert edb.query(f"SELECT 1 AS {edb.quote_identifier(name)}").columns.tolist() == [name]


def test_the_magics_bind_a_notebook_value_as_the_engine_binds_it(shell, edb, engine):
    """Issue 20: a `:name` of the notebook is bound as the engine's client binds the value
    (Backend.adapt_parameter): a date is a DATE on DuckDB and Spark, and SQLite's ISO text."""
    shell.user_ns["db"] = edb
    shell.run_line_magic("sqlnb", "use db")
    shell.user_ns["d"] = datetime.date(2024, 3, 1)
    value = shell.run_line_magic("sql", "SELECT :d AS d")["d"][0]
    if ENGINES[engine].get("dates_as_text"):  # SQLite's rule (and Tiny's, over sqlite3)
        assert value == "2024-03-01"
    else:
        assert not isinstance(value, str) and pd.Timestamp(value) == pd.Timestamp("2024-03-01")
    shell.user_ns["n"] = __import__("numpy").int64(7)  # a numpy scalar: its Python value
    assert shell.run_line_magic("sql", "SELECT :n + 1 AS n")["n"][0] == 8


# -- time limits, cancel, progress ----------------------------------------------------------

def test_the_time_limit_stops_a_read(edb, sql):
    with pytest.raises(sqlnb.QueryTimeout):
        edb.query(sql["forever"], time_limit=0.3)
    assert edb.query("SELECT 2 AS two")["two"][0] == 2


def test_sqlnb_errors_are_sqlite3_errors_on_sqlite_only(edb, engine, sql):
    """Issue 20: the error tree is engine-neutral. On SQLite a stopped query is also a
    sqlite3.OperationalError (and a closed Database a ProgrammingError), so code written
    against the sqlite3 module keeps catching them; on the other engines it is not."""
    on_sqlite = engine == "sqlite"
    with pytest.raises(sqlnb.QueryTimeout) as stopped:
        edb.query(sql["forever"], time_limit=0.3)
    assert type(stopped.value).__name__ == "QueryTimeout"
    assert isinstance(stopped.value, sqlnb.QueryInterrupted)
    assert isinstance(stopped.value, sqlite3.OperationalError) is on_sqlite
    edb.close()
    with pytest.raises(sqlnb.DatabaseClosed) as closed:
        edb.query("SELECT 1")
    assert isinstance(closed.value, sqlite3.ProgrammingError) is on_sqlite


def test_cancel_stops_a_running_read(edb, sql):
    handle = edb.submit(sql["forever"], time_limit=math.inf)
    wait_running(handle)
    assert handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        handle.result(timeout=WAIT)
    assert handle.cancel() is False  # twice is harmless
    assert edb.query("SELECT 3 AS three")["three"][0] == 3


def test_a_cancelled_write_is_rolled_back_whole(edb, sql):
    edb.write("INSERT INTO t VALUES (1, 'kept')")
    handle = edb.submit(sql["forever_write"], time_limit=math.inf)
    wait_for(lambda: handle.progress.elapsed > 0.2, "the write running a while")
    handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled) as error:
        handle.result(timeout=WAIT)
    assert error.value.is_write
    assert _count(edb) == 1
    edb.write("INSERT INTO t VALUES (2, 'after')")
    assert _count(edb) == 2


def test_cancel_reaches_a_result_being_fetched_in_batches(txdb):
    """DuckDB raises OSError from inside its Arrow reader when interrupted there; sqlnb says
    QueryCancelled for it as for any other stop, and the reader is closed (the link goes on)."""
    endless_rows = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                    "SELECT x, x * 2 AS y FROM c")
    if txdb.engine == "duckdb":  # DuckDB's recursive CTE finishes each step first: a range
        endless_rows = "SELECT range AS x, range * 2 AS y FROM range(1000000000000000)"
    if txdb.engine == "postgres":  # 10^12 rows streamed from two series of 10^6
        endless_rows = ("SELECT a * 1000000 + b AS x, 2 AS y FROM generate_series(1, 1000000) a "
                        "CROSS JOIN generate_series(1, 1000000) b")
    handle = txdb.submit(endless_rows, dataframe=True, time_limit=math.inf)
    wait_for(lambda: handle.progress.rows > 0, "the first rows fetched")
    handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        handle.result(timeout=WAIT)
    assert txdb.query("SELECT 7 AS seven")["seven"][0] == 7


def test_a_keyboard_interrupt_while_waiting_cancels(edb, sql):
    handle = edb.submit(sql["forever"], time_limit=math.inf)
    wait_running(handle)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        handle.result()
    timer.join()
    assert handle.done() and isinstance(handle.exception(), sqlnb.QueryCancelled)


def test_progress_has_the_engines_percent_where_it_has_one(edb, engine, sql):
    handle = edb.submit(sql["forever"], time_limit=math.inf)
    try:
        wait_running(handle)
        if engine == "duckdb":
            percent = wait_for(lambda: handle.progress.percent, "a percent from DuckDB")
            assert 0 < percent <= 100
        else:
            assert handle.progress.percent is None  # SQLite (PostgreSQL) cannot tell
        assert handle.progress.state == "running" and handle.progress.elapsed > 0
    finally:
        handle.cancel()
    assert handle.wait(WAIT)
    assert handle.progress.percent is None  # over: no link to ask


# -- streams ---------------------------------------------------------------------------------

def test_chunks_come_in_their_size_and_an_early_stop_frees_the_reader(engine, tmp_path,
                                                                     request):
    with fresh(engine, tmp_path, request, threads=1) as db:
        query = ENGINES[engine]["rows"]
        sizes = [len(chunk) for chunk in db.iter_chunks(query, chunk_rows=10_000)]
        assert sizes == [10_000, 10_000, 5_000]
        for chunk in db.iter_chunks(query, chunk_rows=1_000):
            assert chunk["x"].iloc[0] == 1
            break  # the only reader must be free again
        assert db.query("SELECT 5 AS five")["five"][0] == 5

        async def total():
            return sum([len(chunk) async for chunk in db.stream(query, chunk_rows=7_000)])

        assert asyncio.run(total()) == 25_000


# -- writes together ------------------------------------------------------------------------

def test_many_concurrent_writes_all_land(edb, engine):
    writes = 12 if engine == "spark" else 300  # a Spark INSERT is a job of its own

    async def main():
        await asyncio.gather(*[edb.execute_write("INSERT INTO t VALUES (:x, :s)",
                                                 {"x": i, "s": str(i)}) for i in range(writes)])

    asyncio.run(main())
    assert _count(edb) == writes


def test_a_failing_write_fails_alone(txdb):
    txdb.write("CREATE TABLE u (id INTEGER PRIMARY KEY)")

    async def main():
        return await asyncio.gather(  # the fourth repeats the first's key
            *[txdb.execute_write("INSERT INTO u VALUES (?)", (i if i != 3 else 0,))
              for i in range(8)], return_exceptions=True)

    outcomes = asyncio.run(main())
    failed = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, Exception)]
    assert failed == [3]
    assert isinstance(outcomes[3], txdb.error_types)
    assert txdb.query("SELECT id FROM u ORDER BY id")["id"].tolist() == [0, 1, 2, 4, 5, 6, 7]


def test_the_users_transaction_commits_or_rolls_back_whole(txdb):
    txdb.write("BEGIN")
    txdb.write("INSERT INTO t VALUES (1, 'a')")
    txdb.write("INSERT INTO t VALUES (2, 'b')")
    txdb.write("ROLLBACK")
    assert _count(txdb) == 0
    txdb.write("BEGIN")
    txdb.write("INSERT INTO t VALUES (3, 'c')")
    txdb.write("COMMIT")
    assert _count(txdb) == 1


def test_a_write_stopped_inside_the_users_transaction_loses_it_whole(txdb, tx_engine):
    """SQLite and DuckDB give up the whole transaction when a write in it is interrupted: every
    later write is refused, and COMMIT says nothing of it was committed. PostgreSQL undoes the
    stopped write alone (its savepoint), and the transaction goes on."""
    txdb.write("BEGIN")
    txdb.write("INSERT INTO t VALUES (1, 'in the transaction')")
    with pytest.raises(sqlnb.QueryTimeout):
        txdb.write(ENGINES[tx_engine]["forever_write"], time_limit=0.3)
    if tx_engine == "postgres":
        txdb.write("INSERT INTO t VALUES (2, 'kept')")
        txdb.write("COMMIT")
        assert txdb.query("SELECT x FROM t ORDER BY x")["x"].tolist() == [1, 2]
        return
    with pytest.raises(sqlnb.TransactionRolledBack):
        txdb.write("INSERT INTO t VALUES (2, 'refused')")
    with pytest.raises(sqlnb.TransactionRolledBack, match="nothing to commit"):
        txdb.write("COMMIT")
    assert _count(txdb) == 0
    txdb.write("INSERT INTO t VALUES (3, 'after')")
    assert _count(txdb) == 1


def test_a_group_with_a_failing_write_commits_the_others(txdb):
    """The writer held, so the writes queued meanwhile run as one group (SQLite: again in
    savepoints after the failure; DuckDB, which has none: one transaction each)."""
    txdb.write("CREATE TABLE u (id INTEGER PRIMARY KEY)")
    started, release = threading.Event(), threading.Event()

    def hold(conn):
        started.set()
        release.wait(WAIT)

    blocker = asyncio.run(txdb.execute_write_fn(hold, block=False, transaction=False))
    assert started.wait(WAIT)
    handles = [txdb.write("INSERT INTO u VALUES (?)", (i if i != 3 else 0,), block=False)
               for i in range(6)]
    release.set()
    blocker.result(timeout=WAIT)
    errors = [handle.exception(timeout=WAIT) for handle in handles]
    assert [e is None for e in errors] == [True, True, True, False, True, True]
    assert txdb.query("SELECT id FROM u ORDER BY id")["id"].tolist() == [0, 1, 2, 4, 5]
    with pytest.raises(sqlnb.BackgroundWriteError):
        txdb.flush()


def test_write_functions_commit_roll_back_and_may_not_end_the_transaction(txdb):
    def adds(conn):
        conn.execute("INSERT INTO t VALUES (1, 'fn')")
        return "ok"

    def fails(conn):
        conn.execute("INSERT INTO t VALUES (2, 'fn')")
        raise ValueError("boom")

    def commits(conn):
        conn.execute("INSERT INTO t VALUES (3, 'fn')")
        conn.commit()

    assert asyncio.run(txdb.execute_write_fn(adds)) == "ok"
    with pytest.raises(ValueError, match="boom"):
        asyncio.run(txdb.execute_write_fn(fails))
    with pytest.raises(sqlnb.UsageError, match="transaction=False"):
        asyncio.run(txdb.execute_write_fn(commits))
    assert txdb.query("SELECT x FROM t")["x"].tolist() == [1]
    assert asyncio.run(txdb.execute_fn(
        lambda conn: conn.execute("SELECT count(*) FROM t").fetchall()[0][0])) == 1


def test_with_conn_in_a_write_function_is_one_whole_transaction(txdb, tx_engine):
    """Issue 19 #22: with transaction=False, `with conn:` is BEGIN ... COMMIT, or ROLLBACK of the
    whole block, DDL included, on each engine (on DuckDB it closed the writer's cursor, and the
    Database with it); the Database goes on either way."""
    def half(conn):
        with conn:
            conn.execute("CREATE TABLE made (x INTEGER)")
            conn.execute("INSERT INTO t VALUES (7, 'half')")
            raise ValueError("boom")

    def whole(conn):
        with conn:
            conn.execute("CREATE TABLE made (x INTEGER)")
            conn.execute("INSERT INTO t VALUES (8, 'whole')")
        return "ok"

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(txdb.execute_write_fn(half, transaction=False))
    assert _count(txdb) == 0 and "made" not in txdb.tables()["name"].tolist()
    assert asyncio.run(txdb.execute_write_fn(whole, transaction=False)) == "ok"
    assert txdb.query("SELECT x FROM t")["x"].tolist() == [8]
    assert "made" in txdb.tables()["name"].tolist()
    txdb.write("INSERT INTO t VALUES (9, 'after')")  # the writer goes on
    assert _count(txdb) == 2
    if tx_engine == "duckdb":  # no savepoints: inside sqlnb's transaction a block cannot be
        with pytest.raises(sqlnb.UsageError, match="savepoint"):  # undone alone
            asyncio.run(txdb.execute_write_fn(whole))
        txdb.write("INSERT INTO t VALUES (10, 'after')")
        assert _count(txdb) == 3


def test_temp_tables_and_session_settings_act_as_one_connection(txdb):
    txdb.write("CREATE TEMP TABLE scratch AS SELECT 41 AS a")
    assert txdb.query("SELECT a + 1 AS b FROM scratch")["b"][0] == 42
    assert "scratch" in txdb.tables()["name"].tolist()


# -- exploring and DataFrames in -------------------------------------------------------------

def test_tables_and_schema(edb):
    edb.write("INSERT INTO t VALUES (1, 'a')")
    edb.write("CREATE VIEW v AS SELECT x FROM t")
    tables = edb.tables().set_index("name")
    assert tables.loc["t", "type"] == "table" and tables.loc["v", "type"] == "view"
    if edb.engine == "spark":  # a count is a job on Spark: tables() does not run one
        assert pd.isna(tables.loc["t", "rows"])
    else:
        assert tables.loc["t", "rows"] == 1
    schema = edb.schema("t")
    assert schema["name"].tolist() == ["x", "s"]
    with pytest.raises(sqlnb.UsageError, match="no table"):
        edb.schema("nowhere")


def test_insert_df_round_trips(edb):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "c": [0.5, 1.5, None]})
    assert edb.insert_df(frame, "f") == 3
    back = edb.query("SELECT * FROM f ORDER BY a")
    assert back["a"].tolist() == [1, 2, 3]
    assert back["b"].tolist()[0] == "x" and pd.isna(back["b"][1])
    assert back["c"].tolist()[:2] == [0.5, 1.5]
    with pytest.raises(edb.error_types, match="already exists"):
        edb.insert_df(frame, "f")
    assert edb.insert_df(frame, "f", if_exists="append") == 3
    assert len(edb.query("SELECT * FROM f")) == 6


# -- lifecycle -------------------------------------------------------------------------------

def test_close_stops_a_running_read_and_leaves_no_thread(engine, tmp_path, request):
    with fresh(engine, tmp_path, request) as db:
        handle = db.submit(ENGINES[engine]["forever"], time_limit=math.inf)
        wait_running(handle)
        db.close()
        with pytest.raises(sqlnb.DatabaseClosed):
            handle.result(timeout=WAIT)
        with pytest.raises(sqlnb.DatabaseClosed):
            db.query("SELECT 1")


def test_threads_0_runs_in_the_calling_thread(engine, tmp_path, request):
    with fresh(engine, tmp_path, request, threads=0) as db:
        db.write("CREATE TABLE u (x INTEGER)")
        db.write("INSERT INTO u VALUES (1)")
        assert db.query("SELECT x FROM u")["x"].tolist() == [1]
        with pytest.raises(sqlnb.QueryTimeout):
            db.query(ENGINES[engine]["forever"], time_limit=0.3)


# -- the magics ------------------------------------------------------------------------------

def test_the_magics_open_each_engine_from_its_url(shell, engine, tmp_path, capsys, request):
    namespace = f"sqlnb_{uuid.uuid4().hex[:12]}"
    if engine == "spark":
        shell.run_line_magic("sql", request.getfixturevalue("spark_url"))
        assert "connected: spark (sc://localhost:" in capsys.readouterr().out
        shell.run_cell_magic("sql", "", f"CREATE DATABASE {namespace};\nUSE {namespace}")
    elif engine == "postgres":
        url = request.getfixturevalue("pg_url")
        with sqlnb.connect(url) as setup:
            setup.write(f"CREATE DATABASE {namespace}")
        shell.run_line_magic("sql", pg_database(url, namespace))
        said = capsys.readouterr().out.splitlines()[-1]  # after the note on the password
        assert said.startswith(f"connected: {namespace} (postgresql://sqlnb:***@")
        assert said.endswith(f"/{namespace}) on PostgreSQL")
    else:  # a URL of the engine's scheme ("%sql tiny:///..." for the plug-in)
        scheme = ENGINES[engine].get("scheme", engine)
        shell.run_line_magic("sql", f"{scheme}:///{tmp_path / ENGINES[engine]['file']}")
        title = sqlnb.engine.engine_named(engine).title
        assert f"connected: t ({tmp_path / ENGINES[engine]['file']}) on {title}\n" == (
            capsys.readouterr().out)
    text = ENGINES[engine]["text"]
    double = ENGINES[engine]["double"]
    shell.run_cell_magic("sql", "", f"CREATE TABLE birds (name {text}, kg {double});\n"
                                 "INSERT INTO birds VALUES ('wren', 0.01), ('swan', 11.9)")
    shell.user_ns["heavy"] = 1.0
    frame = shell.run_cell_magic("sql", "big <<", "SELECT name FROM birds WHERE kg > :heavy")
    assert frame["name"].tolist() == ["swan"] and shell.user_ns["big"] is frame
    with pytest.raises(SqlCellError, match="QueryTimeout"):
        shell.run_cell_magic("sql", "--time-limit 0.3", ENGINES[engine]["forever"])
    tables = shell.run_line_magic("sqlnb", "tables")
    assert "birds" in tables["name"].tolist()
    if engine == "spark":
        shell.run_line_magic("sql", f"DROP DATABASE {namespace} CASCADE")
    if engine == "postgres":
        shell.run_line_magic("sqlnb", "close")
        with sqlnb.connect(url) as setup:
            setup.write(f"DROP DATABASE {namespace} WITH (FORCE)")


def test_sqlnb_connect_takes_a_duckdb_path(shell, tmp_path, capsys):
    shell.run_line_magic("sqlnb", f"connect {tmp_path / 'w.duckdb'} --as wh")
    assert "connected: wh" in capsys.readouterr().out
    assert shell.run_line_magic("sql", "SELECT 42 AS answer")["answer"][0] == 42
    listing = shell.run_line_magic("sqlnb", "list")
    assert listing.set_index("name").loc["wh", "path"].endswith("w.duckdb")
    with pytest.raises(IPythonUsageError, match="line of its own"):
        shell.run_cell_magic("sql", "duckdb://", "SELECT 1")


# -- a plug-in: Tiny (tests/tiny_engine.py) -----------------------------------------------------

def test_a_plug_in_engine_is_one_file_written_against_sqlnb_engine(tmp_path):
    """Issue 20: the engine-neutral tests above run on Tiny too; its one file imports nothing
    of sqlnb but sqlnb.engine, registers itself, and is then a target like any other."""
    tree = ast.parse(pathlib.Path(tiny_engine.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m and m.startswith("sqlnb")} == {"sqlnb.engine"}
    assert sqlnb.engine.engine_for("tiny:///x.db") is tiny_engine.TinyBackend
    with pytest.raises(sqlnb.UsageError, match=r"Tiny \(tiny:///path/to/file.db\)"):
        sqlnb.connect("nosuch://x")  # the registered engines, Tiny among them
    with pytest.raises(sqlnb.UsageError, match="wal is an option of SQLite, not of Tiny; Tiny "
                                               "takes: timeout"):
        sqlnb.connect(_target("tiny", tmp_path), wal=False)
    with sqlnb.connect(_target("tiny", tmp_path), timeout="2.5") as db:  # text, as --option
        assert db.engine == "tiny" and db.query("SELECT 42 AS x")["x"][0] == 42


def test_completion_quotes_a_name_the_plug_ins_way(tmp_path):
    """Completion asks the engine how a name is quoted (Tiny: backticks), not its name."""
    with sqlnb.connect(_target("tiny", tmp_path)) as db:
        db.write("CREATE TABLE `my table` (`a b` INTEGER)")
        completer = Completer(lambda name: db)
        found = completer.complete("%%sql\nSELECT * FROM my", len("%%sql\nSELECT * FROM my"))
        assert [text for text, _kind in found.choices] == ["`my table`"]


# -- DuckDB only -----------------------------------------------------------------------------

def test_duckdb_file_held_by_another_process_is_a_clear_error(tmp_path):
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys
            con = duckdb.connect({str(path)!r})
            con.execute("CREATE TABLE x (a INTEGER)")
            print("holding", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(Exception) as error:
            sqlnb.connect(path)
        assert "lock" in str(error.value).lower()
        assert any("another process" in note for note in error.value.__notes__)
    finally:
        holder.stdin.close()
        holder.wait(WAIT)


@pytest.mark.parametrize("first", [False, True], ids=["writable-then-ro", "ro-then-writable"])
def test_a_duckdb_file_open_in_this_process_otherwise_says_what_to_do(tmp_path, first):
    """DuckDB opens a file once per process, with one configuration: opening it read-only while
    a Database has it writable (or the reverse) says to use that Database or close it."""
    path = tmp_path / "open.duckdb"
    sqlnb.connect(path).close()
    with sqlnb.connect(path, read_only=first):
        with pytest.raises(Exception, match="different configuration") as error:
            sqlnb.connect(path, read_only=not first)
        notes = " ".join(getattr(error.value, "__notes__", []))
        assert "already open in this process" in notes and "close" in notes
    with sqlnb.connect(path, read_only=not first) as db:  # once the first is closed, it opens
        assert db.read_only is (not first)


def test_the_magics_name_the_engine_and_say_what_to_do(shell, tmp_path, capsys):
    shell.run_line_magic("sql", "duckdb://")
    assert "connected: memory (:memory:) on DuckDB" in capsys.readouterr().out
    shell.run_line_magic("sql", f"sqlite:///{tmp_path / 'a.db'}")
    assert f"connected: a ({tmp_path / 'a.db'}) on SQLite" in capsys.readouterr().out
    shell.run_line_magic("sqlnb", f"connect {tmp_path / 'w.duckdb'} --as w")
    capsys.readouterr()
    with pytest.raises(SqlCellError, match=r"already open in this process.*close"):
        shell.run_line_magic("sqlnb", f"connect {tmp_path / 'w.duckdb'} --read-only --as r")


def test_duckdb_richer_types_map_as_documented(tmp_path):
    with sqlnb.connect(tmp_path / "types.duckdb") as db:
        df = db.query("SELECT 1.25::DECIMAL(10, 2) AS d, DATE '2024-03-01' AS day, "
                      "TIMESTAMP '2024-03-01 10:00:00' AS ts, [1, 2] AS l, {'k': 1} AS st, "
                      "NULL::BOOLEAN AS b, 2::INTEGER AS i, NULL AS nothing")
        assert df["d"].dtype == "float64" and df["d"][0] == 1.25
        assert str(df["day"].dtype).startswith("datetime64")
        assert str(df["ts"].dtype).startswith("datetime64")
        assert list(df["l"][0]) == [1, 2] and df["st"][0] == {"k": 1}
        assert df["b"].dtype == pd.BooleanDtype()
        assert df["i"].dtype == "int32"  # DuckDB's INTEGER keeps its width
        assert df["nothing"].dtype == object and df["nothing"][0] is None


def test_duckdb_queues_less_of_a_result_unless_the_user_says(tmp_path):
    """Issue 24: sqlnb's cursors queue 4 MB of a result ahead of the frame being built (DuckDB's
    default, 10 MiB, held that much more at the peak of a large read); a user's SET decides."""
    def queued(db: sqlnb.Database) -> str:
        return db.query("SELECT current_setting('streaming_buffer_size') AS s")["s"][0]

    with sqlnb.connect(tmp_path / "queue.duckdb", threads=2) as db:
        before = {queued(db) for _ in range(6)}  # whichever reader runs it
        assert before == {"3.8 MiB"}
        db.write("SET streaming_buffer_size = '16MB'")
        assert {queued(db) for _ in range(6)} == {"15.2 MiB"}


def test_duckdb_splits_its_own_sql(tmp_path):
    """Issue 20: DuckDB's $$ and $tag$ strings, E'...' escapes and nested comments hold `;`
    without ending a statement (SQLite's splitter cut them there)."""
    with sqlnb.connect(tmp_path / "split.duckdb") as db:
        script = ("SELECT $$a;b$$ AS s, $x$ :not_a_parameter; $x$ AS t, E'it\\'s; ok' AS u "
                  "/* a /* nested; */ comment; */; SELECT 2 AS two")
        statements = db.statements(script)
        assert [s.keyword for s in statements] == ["SELECT", "SELECT"]
        assert statements[0].named == ()
        row = db.query(statements[0].text).iloc[0]
        assert (row["s"], row["t"], row["u"]) == ("a;b", " :not_a_parameter; ", "it's; ok")
        db.write("CREATE TABLE notes (body VARCHAR)")
        db.write_script("INSERT INTO notes VALUES ($$one; two$$); INSERT INTO notes VALUES ('x')")
        assert db.query("SELECT body FROM notes ORDER BY body")["body"].tolist() == [
            "one; two", "x"]


def test_any_failure_in_a_duckdb_transaction_loses_it(tmp_path):
    """DuckDB aborts a transaction on any failed statement (SQLite keeps it: that write alone
    is undone), and a COMMIT of an aborted one would roll it back without a word: sqlnb says."""
    with sqlnb.connect(tmp_path / "tx.duckdb") as db:
        db.write("CREATE TABLE u (id INTEGER PRIMARY KEY)")
        db.write("BEGIN")
        db.write("INSERT INTO u VALUES (1)")
        with pytest.raises(db.error_types, match=r"(?i)duplicate|constraint"):
            db.write("INSERT INTO u VALUES (1)")
        with pytest.raises(sqlnb.TransactionRolledBack) as lost:
            db.write("INSERT INTO u VALUES (2)")
        assert not isinstance(lost.value, sqlite3.Error)  # sqlite3's bases are SQLite's only
        with pytest.raises(sqlnb.TransactionRolledBack, match="nothing to commit"):
            db.write("COMMIT")
        assert db.query("SELECT count(*) AS n FROM u")["n"][0] == 0
        db.write("BEGIN")  # a new transaction can begin: the aborted one was rolled back
        db.write("INSERT INTO u VALUES (3)")
        db.write("COMMIT")
        assert db.query("SELECT id FROM u")["id"].tolist() == [3]


def test_duckdb_execute_fn_gets_a_connection_that_only_reads(tmp_path):
    with sqlnb.connect(tmp_path / "ro.duckdb") as db:
        db.write("CREATE TABLE u (id INTEGER)")

        def sneaky(conn):
            conn.execute("INSERT INTO u VALUES (1)")

        with pytest.raises(sqlnb.UsageError, match="execute_write_fn"):
            asyncio.run(db.execute_fn(sneaky))
        assert asyncio.run(db.execute_fn(
            lambda conn: conn.execute("SELECT count(*) FROM u").fetchall()[0][0])) == 0
