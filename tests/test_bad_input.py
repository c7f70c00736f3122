"""Bad input: each mistake raises a clear error of a documented type, and nothing is lost.

Every test checks that the error has the documented type (a sqlite3 type for SQLite's own errors,
sqlnb.UsageError for a call sqlnb cannot use, FileNotFoundError, sqlnb.DatabaseClosed), that the
Database keeps working afterwards, and that the rows committed before the error are still there,
both through the Database and through a plain sqlite3 connection to the file. SQLite's errors are
also checked to arrive with their exact type, SQLite's message and `.sql` when they come from a
worker thread, through the sync calls, a handle, and `await db.execute(...)`.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import sqlnb

from .helpers import committed_count, sqlnb_threads

SCHEMA = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"
ROWS = 25
#: Seconds to wait for a result before calling it a hang (never reached when all is well).
WAIT = 60


def assert_healthy(db: sqlnb.Database, path: Path, rows: int = ROWS) -> None:
    """The Database still reads and writes, and the committed rows are all there."""
    assert not db.closed
    assert db.query("SELECT count(*) AS n FROM t")["n"].tolist() == [rows]
    assert db.submit("SELECT max(id) FROM t").result(WAIT).single_value() == rows
    assert asyncio.run(db.execute("SELECT count(*) FROM t")).single_value() == rows
    if not db.read_only:
        before = db.query("SELECT count(*) AS n FROM scratch")["n"][0]
        db.write("INSERT INTO scratch (x) VALUES (?)", (1,))
        assert db.query("SELECT count(*) AS n FROM scratch")["n"][0] == before + 1
    assert committed_count(path) == rows


def fill(path: Path) -> None:
    with sqlnb.connect(path) as setup:
        setup.write(SCHEMA)
        setup.write_many("INSERT INTO t (v) VALUES (?)", [(f"row {i}",) for i in range(ROWS)])
        setup.write("CREATE TABLE scratch (x)")


@pytest.fixture(params=[3, 0], ids=["pool", "threads0"])
def threads(request) -> int:
    return request.param


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "data.db"
    fill(file)
    return file


@pytest.fixture
def db(path: Path, threads: int):
    """A Database on a file holding table t with ROWS rows, and an empty table scratch."""
    before = sqlnb_threads()
    database = sqlnb.connect(path, threads=threads, time_limit=20)
    yield database
    database.close()
    assert sqlnb_threads() - before == set()


@pytest.fixture
def ro(path: Path, threads: int):
    """The same file opened with read_only=True."""
    database = sqlnb.connect(path, read_only=True, threads=threads, time_limit=20)
    yield database
    database.close()


def sqlite_says(sql: str, params: object = None) -> tuple[type[BaseException], str]:
    """The error type and message plain sqlite3 gives for `sql` on the same schema."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(SCHEMA)
        conn.execute("INSERT INTO t (id, v) VALUES (1, 'one')")
        conn.execute(sql, () if params is None else params)
    except sqlite3.Error as error:
        return type(error), str(error)
    finally:
        conn.close()
    raise AssertionError(f"plain sqlite3 accepts {sql!r}")


def call(db: sqlnb.Database, how: str, sql: str, params: object = None, **kwargs: object):
    """Run one statement the way `how` names; every path ends in the same worker machinery."""
    if how == "query":
        return db.query(sql, params, **kwargs)
    if how == "write":
        return db.write(sql, params, **kwargs)
    if how == "submit":
        return db.submit(sql, params, **kwargs).result(WAIT)
    if how == "execute":
        return asyncio.run(db.execute(sql, params, **kwargs))
    if how == "execute_write":
        return asyncio.run(db.execute_write(sql, params, **kwargs))
    raise AssertionError(how)


SYNC = ["query", "write", "submit"]
ALL = [*SYNC, "execute", "execute_write"]


# -- errors SQLite raises on a worker thread ---------------------------------------------------

SQLITE_CASES = [
    pytest.param("SELEC * FROM t", None, sqlite3.OperationalError, id="syntax"),
    pytest.param("SELECT * FROM t WHERE", None, sqlite3.OperationalError, id="incomplete"),
    pytest.param("INSERT INTO t (v) VALUES (", None, sqlite3.OperationalError, id="write-syntax"),
    pytest.param("SELECT * FROM missing", None, sqlite3.OperationalError, id="unknown-table"),
    pytest.param("INSERT INTO missing VALUES (1)", None, sqlite3.OperationalError,
                 id="unknown-table-write"),
    pytest.param("DELETE FROM missing", None, sqlite3.OperationalError, id="unknown-table-delete"),
    pytest.param("SELECT nope FROM t", None, sqlite3.OperationalError, id="unknown-column"),
    pytest.param("SELECT * FROM t WHERE id = :id AND v = :v", {"id": 1},
                 sqlite3.ProgrammingError, id="missing-named"),
    pytest.param("UPDATE t SET v = :v WHERE id = :id", {"v": "x"}, sqlite3.ProgrammingError,
                 id="missing-named-write"),
    pytest.param("SELECT * FROM t WHERE id = ?", (1, 2), sqlite3.ProgrammingError,
                 id="too-many-positional"),
    pytest.param("SELECT * FROM t WHERE id = ? OR id = ?", (1,), sqlite3.ProgrammingError,
                 id="too-few-positional"),
    pytest.param("INSERT INTO t (v) VALUES (?)", (), sqlite3.ProgrammingError,
                 id="no-positional-write"),
    pytest.param("SELECT * FROM t WHERE id = ?", ([1],), sqlite3.ProgrammingError, id="list"),
    pytest.param("SELECT * FROM t WHERE id = :id", {"id": {"a": 1}}, sqlite3.ProgrammingError,
                 id="dict"),
    pytest.param("INSERT INTO t (v) VALUES (?)", ([1, 2],), sqlite3.ProgrammingError,
                 id="list-write"),
    pytest.param("INSERT INTO t (v) VALUES (:v)", {"v": {}}, sqlite3.ProgrammingError,
                 id="dict-write"),
    pytest.param("INSERT INTO t (v) VALUES (?)", (object(),), sqlite3.ProgrammingError,
                 id="object-write"),
    pytest.param("INSERT INTO t (id, v) VALUES (1, 'again')", None, sqlite3.IntegrityError,
                 id="constraint"),
]


@pytest.mark.parametrize("how", ALL)
@pytest.mark.parametrize(("sql", "params", "kind"), SQLITE_CASES)
def test_sqlite_error_keeps_type_message_and_sql(db, path, how, sql, params, kind):
    expected_type, expected_message = sqlite_says(sql, params)
    assert expected_type is kind
    with pytest.raises(sqlite3.Error) as caught:
        call(db, how, sql, params)
    error = caught.value
    assert type(error) is kind  # the sqlite3 type itself, not a wrapper
    assert not isinstance(error, sqlnb.Error)
    assert str(error) == expected_message  # SQLite's own message, untouched
    assert error.sql == sql
    assert f"in SQL: {sql}" in getattr(error, "__notes__", [])
    assert_healthy(db, path)


@pytest.mark.parametrize(("sql", "params", "kind"), SQLITE_CASES)
def test_handle_reports_the_worker_error_without_raising(db, path, sql, params, kind):
    handle = db.submit(sql, params)
    error = handle.exception(WAIT)
    assert type(error) is kind
    assert handle.done()
    assert handle.progress.state == "failed"
    with pytest.raises(kind):
        handle.result(WAIT)
    assert_healthy(db, path)


@pytest.mark.parametrize(
    "rows",
    [[("a",), ("b", "c")], [("a",), ([1],)], [("a",), {"v": 1}], [("a",), (None,)]],
    ids=["too-many", "list", "dict", "not-null"],
)
def test_write_many_with_one_bad_row_commits_none(db, path, rows):
    with pytest.raises(sqlite3.Error) as caught:
        db.write_many("INSERT INTO t (v) VALUES (?)", rows)
    assert type(caught.value) in (sqlite3.ProgrammingError, sqlite3.IntegrityError)
    assert caught.value.sql == "INSERT INTO t (v) VALUES (?)"
    assert_healthy(db, path)


def test_bad_writes_queued_without_waiting_keep_their_types(db, path):
    good = "INSERT INTO scratch (x) VALUES (?)"
    bad = [
        ("INSERT INTO t (v) VALUES (", None, sqlite3.OperationalError),
        ("INSERT INTO missing VALUES (1)", None, sqlite3.OperationalError),
        ("UPDATE t SET v = :v WHERE id = :id", {"v": "x"}, sqlite3.ProgrammingError),
        ("INSERT INTO t (v) VALUES (?)", ([1],), sqlite3.ProgrammingError),
        ("INSERT INTO t (v) VALUES (?)", (1, 2), sqlite3.ProgrammingError),
        ("INSERT INTO t (id, v) VALUES (1, 'x')", None, sqlite3.IntegrityError),
    ]
    handles = []
    for i, (sql, params, _kind) in enumerate(bad):
        db.write(good, (i,), block=False)
        handles.append(db.write(sql, params, block=False))
    db.write(good, (len(bad),), block=False)
    with pytest.raises(sqlnb.BackgroundWriteError) as caught:
        db.flush()
    reported = caught.value.errors
    assert [sql for sql, _error in reported] == [sql for sql, _params, _kind in bad]
    for (sql, _params, kind), (_sql, error), handle in zip(bad, reported, handles):
        assert type(error) is kind, sql
        assert error.sql == sql
        assert type(handle.exception(WAIT)) is kind
    # every good write around the bad ones was committed
    assert db.query("SELECT count(*) AS n FROM scratch")["n"][0] == len(bad) + 1
    db.flush()  # each error is reported once
    assert_healthy(db, path)


def test_syntax_error_names_the_statement(db, path):
    sql = "SELECT id,\n       v\n  FRM t"
    with pytest.raises(sqlite3.OperationalError, match="syntax error") as caught:
        db.query(sql)
    assert str(caught.value) == sqlite_says(sql)[1]
    assert caught.value.sql == sql
    assert_healthy(db, path)


def test_failed_write_in_a_script_commits_nothing(db, path):
    with pytest.raises(sqlite3.OperationalError, match="no such table: missing") as caught:
        db.write_script("INSERT INTO t (v) VALUES ('new'); INSERT INTO missing VALUES (1)")
    assert caught.value.sql == "INSERT INTO missing VALUES (1)"
    assert_healthy(db, path)


# -- errors sqlnb raises in the caller: UsageError ------------------------------------------------

@pytest.mark.parametrize("how", ALL)
def test_extra_named_parameter_is_named(db, path, how):
    with pytest.raises(sqlnb.UsageError, match="'extra'") as caught:
        call(db, how, "SELECT * FROM t WHERE id = :id", {"id": 1, "extra": 2})
    assert type(caught.value) is sqlnb.UsageError
    assert isinstance(caught.value, ValueError)
    with pytest.raises(sqlnb.UsageError, match="'oops'"):
        call(db, how, "INSERT INTO t (v) VALUES (:v)", {"v": "x", "oops": 1})
    assert_healthy(db, path)


@pytest.mark.parametrize("how", ALL)
@pytest.mark.parametrize("params", ["abc", "1", b"1"], ids=["str", "str-digit", "bytes"])
def test_params_as_a_string(db, path, how, params):
    with pytest.raises(sqlnb.UsageError, match="params must be a sequence"):
        call(db, how, "INSERT INTO t (v) VALUES (?)", params)
    assert_healthy(db, path)


EMPTY = ["", "   \n\t ", ";", " ; ; ", "-- only a comment", "/* a block comment */",
         "-- one\n/* two */\n  -- three\n"]


@pytest.mark.parametrize("how", ALL)
@pytest.mark.parametrize("sql", EMPTY)
def test_empty_or_comment_only_statement(db, path, how, sql):
    with pytest.raises(sqlnb.UsageError, match="empty"):
        call(db, how, sql)
    assert_healthy(db, path)


@pytest.mark.parametrize("sql", EMPTY)
def test_empty_script_and_stream(db, path, sql):
    with pytest.raises(sqlnb.UsageError, match="empty"):
        db.write_script(sql)
    with pytest.raises(sqlnb.UsageError, match="empty"):
        db.iter_chunks(sql)
    with pytest.raises(sqlnb.UsageError, match="empty"):
        db.write_many(sql, [(1,)])
    assert_healthy(db, path)


SEVERAL = [
    "INSERT INTO t (v) VALUES ('new'); DELETE FROM t",
    "SELECT 1; SELECT 2",
    "DELETE FROM t;\n-- and then\nSELECT 1;",
]


@pytest.mark.parametrize("how", ALL)
@pytest.mark.parametrize("sql", SEVERAL)
def test_several_statements_where_one_is_expected(db, path, how, sql):
    with pytest.raises(sqlnb.UsageError, match="holds 2"):
        call(db, how, sql)
    with pytest.raises(sqlnb.UsageError, match="holds 2"):
        db.iter_chunks(sql)
    with pytest.raises(sqlnb.UsageError, match="holds 2"):
        db.write_many(sql, [()])
    assert_healthy(db, path)  # neither statement ran


def test_write_script_accepts_several_statements(db, path):
    db.write_script("INSERT INTO scratch (x) VALUES (1);\n"
                    "INSERT INTO scratch (x) VALUES ('a;b'); -- a ; in a comment\n"
                    "UPDATE scratch SET x = x || '!' WHERE x = 1;")
    assert sorted(db.query("SELECT x FROM scratch")["x"].tolist()) == ["1!", "a;b"]
    assert_healthy(db, path)


BAD_LIMITS = [-1, -0.5, 0, 0.0, -math.inf, math.nan, True, False, "10", [5]]
LIMIT_IDS = ["-1", "-0.5", "0", "0.0", "-inf", "nan", "True", "False", "str", "list"]


@pytest.mark.parametrize("limit", BAD_LIMITS, ids=LIMIT_IDS)
def test_bad_time_limit_per_call(db, path, limit):
    insert = "INSERT INTO t (v) VALUES ('new')"
    calls = {
        "query": lambda: db.query(insert, time_limit=limit),
        "write": lambda: db.write(insert, time_limit=limit),
        "write-nowait": lambda: db.write(insert, block=False, time_limit=limit),
        "submit": lambda: db.submit(insert, time_limit=limit),
        "write_many": lambda: db.write_many("INSERT INTO t (v) VALUES (?)", [("a",)],
                                            time_limit=limit),
        "write_script": lambda: db.write_script(insert, time_limit=limit),
        "iter_chunks": lambda: db.iter_chunks("SELECT * FROM t", time_limit=limit),
        "insert_df": lambda: db.insert_df(pd.DataFrame({"v": ["a"]}), "t", if_exists="append",
                                          time_limit=limit),
        "execute": lambda: asyncio.run(db.execute(insert, time_limit=limit)),
        "execute_write": lambda: asyncio.run(db.execute_write(insert, time_limit=limit)),
    }
    for name, bad_call in calls.items():
        with pytest.raises(sqlnb.UsageError, match="time_limit") as caught:
            bad_call()
        assert type(caught.value) is sqlnb.UsageError, name
    db.flush()
    assert_healthy(db, path)  # nothing was written


@pytest.mark.parametrize("limit", BAD_LIMITS, ids=LIMIT_IDS)
def test_bad_time_limit_at_connect(path, limit):
    before = sqlnb_threads()
    with pytest.raises(sqlnb.UsageError, match="time_limit"):
        sqlnb.connect(path, time_limit=limit)
    assert sqlnb_threads() - before == set()
    assert committed_count(path) == ROWS


@pytest.mark.parametrize("limit", BAD_LIMITS, ids=LIMIT_IDS)
def test_bad_time_limit_through_the_setter(db, path, limit):
    assert db.time_limit == 20
    with pytest.raises(sqlnb.UsageError, match="time_limit"):
        db.time_limit = limit
    assert db.time_limit == 20  # unchanged
    db.time_limit = math.inf
    db.time_limit = None
    db.time_limit = 5
    assert db.time_limit == 5
    assert_healthy(db, path)


@pytest.mark.parametrize("bad", [-1, -5, 1.5, "2", True, [3]], ids=str)
def test_bad_thread_count(path, bad):
    before = sqlnb_threads()
    with pytest.raises(sqlnb.UsageError, match="threads"):
        sqlnb.connect(path, threads=bad)
    assert sqlnb_threads() - before == set()
    assert committed_count(path) == ROWS


@pytest.mark.parametrize("bad", [0, -1, 2.5, "100", True], ids=str)
def test_bad_chunk_rows(db, path, bad):
    with pytest.raises(sqlnb.UsageError, match="chunk_rows"):
        db.iter_chunks("SELECT * FROM t", chunk_rows=bad)
    with pytest.raises(sqlnb.UsageError, match="chunk_rows"):
        db.stream("SELECT * FROM t", chunk_rows=bad)
    assert_healthy(db, path)


# -- insert_df ----------------------------------------------------------------------------------

def table_exists(db: sqlnb.Database, name: str) -> bool:
    found = db.query("SELECT count(*) AS n FROM sqlite_master WHERE name = ?", (name,))
    return bool(found["n"][0])


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        pytest.param(pd.DataFrame({"a": [1]}), {"if_exists": "bogus"}, "if_exists", id="bogus"),
        pytest.param(pd.DataFrame({"a": [1]}), {"if_exists": None}, "if_exists", id="none"),
        pytest.param([{"a": 1}], {}, "DataFrame", id="list"),
        pytest.param({"a": [1]}, {}, "DataFrame", id="dict"),
        pytest.param(pd.Series([1, 2], name="a"), {}, "DataFrame", id="series"),
        pytest.param(None, {}, "DataFrame", id="None"),
        pytest.param(pd.DataFrame([[1, 2]], columns=["a", "a"]), {}, "repeat", id="dup"),
        pytest.param(pd.DataFrame([[1, 2]], columns=["a", "A"]), {}, "repeat", id="dup-case"),
        pytest.param(pd.DataFrame(index=[1, 2]), {}, "no columns", id="no-columns"),
    ],
)
def test_insert_df_bad_arguments(db, path, frame, kwargs, match):
    with pytest.raises(sqlnb.UsageError, match=match):
        db.insert_df(frame, "fresh", **kwargs)
    assert not table_exists(db, "fresh")
    assert_healthy(db, path)


def test_insert_df_into_an_existing_table_fails_by_default(db, path):
    before = db.query("SELECT * FROM t ORDER BY id")
    frame = pd.DataFrame({"id": [1000, 1001], "v": ["a", "b"]})
    with pytest.raises(sqlite3.OperationalError, match="already exists") as caught:
        db.insert_df(frame, "t")
    assert type(caught.value) is sqlite3.OperationalError
    pd.testing.assert_frame_equal(db.query("SELECT * FROM t ORDER BY id"), before)
    assert_healthy(db, path)
    assert db.insert_df(frame, "t", if_exists="append") == 2  # the way the note points
    assert committed_count(path) == ROWS + 2


# -- read-only databases ------------------------------------------------------------------------

READONLY_WRITES = [
    ("write", "INSERT INTO t (v) VALUES ('x')"),
    ("query", "INSERT INTO t (v) VALUES ('x')"),
    ("query", "DELETE FROM t"),
    ("query", "WITH n AS (SELECT 'x') INSERT INTO t (v) SELECT * FROM n"),
    ("submit", "UPDATE t SET v = 'changed'"),
    ("write", "CREATE TABLE other (x)"),
    ("execute", "DROP TABLE t"),
    ("execute_write", "DELETE FROM t"),
]


@pytest.mark.parametrize(("how", "sql"), READONLY_WRITES)
def test_write_on_a_read_only_database(ro, path, how, sql):
    data = path.read_bytes()
    assert ro.read_only
    with pytest.raises(sqlite3.OperationalError, match="readonly") as caught:
        call(ro, how, sql)
    assert type(caught.value) is sqlite3.OperationalError
    assert caught.value.sql == sql
    assert any("read-only" in note for note in caught.value.__notes__)
    assert_healthy(ro, path)
    assert path.read_bytes() == data


def test_read_only_database_refuses_every_kind_of_write(ro, path):
    data = path.read_bytes()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.write_script("INSERT INTO t (v) VALUES ('x'); DELETE FROM t")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.write_many("INSERT INTO t (v) VALUES (?)", [("x",), ("y",)])
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.insert_df(pd.DataFrame({"v": ["x"]}), "t", if_exists="append")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.insert_df(pd.DataFrame({"v": ["x"]}), "new_table")
    ro.write("INSERT INTO t (v) VALUES ('x')", block=False)
    with pytest.raises(sqlnb.BackgroundWriteError) as caught:
        ro.flush()
    assert isinstance(caught.value.errors[0][1], sqlite3.OperationalError)
    assert_healthy(ro, path)
    ro.close()
    assert path.read_bytes() == data
    assert committed_count(path) == ROWS


# -- paths --------------------------------------------------------------------------------------

def test_read_only_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "missing.db"
    with pytest.raises(FileNotFoundError, match=r"missing\.db"):
        sqlnb.connect(missing, read_only=True)
    with pytest.raises(FileNotFoundError):
        sqlnb.connect(str(missing), read_only=True)
    assert not missing.exists()  # not created by the attempt


@pytest.mark.parametrize("read_only", [False, True])
def test_path_in_a_missing_folder(tmp_path, read_only):
    target = tmp_path / "no" / "such" / "folder" / "data.db"
    with pytest.raises(FileNotFoundError):
        sqlnb.connect(target, read_only=read_only)
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("read_only", [False, True])
def test_path_that_is_a_folder(tmp_path, read_only):
    with pytest.raises(sqlnb.UsageError, match="folder"):
        sqlnb.connect(tmp_path, read_only=read_only)
    with pytest.raises(sqlnb.UsageError, match="folder"):
        sqlnb.connect(str(tmp_path), read_only=read_only)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [123, b"data.db", ["data.db"]], ids=["int", "bytes", "list"])
def test_path_of_the_wrong_type(bad):
    with pytest.raises(sqlnb.UsageError, match="path"):
        sqlnb.connect(bad)


@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize("threads", [3, 0])
def test_file_that_is_not_sqlite(db, path, tmp_path, read_only, threads):
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"These are my notes, not a database.\n" * 200)
    data = junk.read_bytes()
    before = sqlnb_threads()
    with pytest.raises(sqlite3.DatabaseError, match="not a database") as caught:
        sqlnb.connect(junk, read_only=read_only, threads=threads)
    assert not isinstance(caught.value, sqlnb.Error)
    assert junk.read_bytes() == data
    assert sqlnb_threads() - before == set()
    assert_healthy(db, path)  # another Database is not disturbed


# -- after close --------------------------------------------------------------------------------

def after_close_calls(db: sqlnb.Database) -> dict[str, object]:
    frame = pd.DataFrame({"v": ["x"]})
    return {
        "query": lambda: db.query("SELECT * FROM t"),
        "write": lambda: db.write("INSERT INTO t (v) VALUES ('x')"),
        "write-nowait": lambda: db.write("INSERT INTO t (v) VALUES ('x')", block=False),
        "submit": lambda: db.submit("SELECT * FROM t"),
        "write_many": lambda: db.write_many("INSERT INTO t (v) VALUES (?)", [("x",)]),
        "write_script": lambda: db.write_script("DELETE FROM t"),
        "insert_df": lambda: db.insert_df(frame, "t", if_exists="append"),
        "insert_df-new": lambda: db.insert_df(frame, "new_table"),
        "iter_chunks": lambda: db.iter_chunks("SELECT * FROM t"),
        "flush": db.flush,
        "execute": lambda: asyncio.run(db.execute("SELECT * FROM t")),
        "execute_write": lambda: asyncio.run(db.execute_write("DELETE FROM t")),
        "execute_fn": lambda: asyncio.run(db.execute_fn(lambda conn: 1)),
        "wait_for_writes": lambda: asyncio.run(db.wait_for_writes()),
    }


def test_every_call_after_close_raises_database_closed(path, threads):
    db = sqlnb.connect(path, threads=threads)
    db.query("SELECT 1")
    db.close()
    assert db.closed
    for name, closed_call in after_close_calls(db).items():
        with pytest.raises(sqlnb.DatabaseClosed) as caught:
            closed_call()
        assert isinstance(caught.value, sqlite3.ProgrammingError), name
        assert isinstance(caught.value, sqlnb.Error), name
    assert committed_count(path) == ROWS
    with sqlnb.connect(path, threads=threads) as again:
        assert again.query("SELECT count(*) AS n FROM t")["n"][0] == ROWS


def test_database_closed_is_caught_as_sqlite3_programming_error(path):
    db = sqlnb.connect(path)
    db.close()
    with pytest.raises(sqlite3.ProgrammingError):
        db.query("SELECT 1")
    with pytest.raises(sqlite3.Error):
        asyncio.run(db.execute("SELECT 1"))


# -- errors through await db.execute ------------------------------------------------------------

def test_errors_keep_their_type_through_asyncio(db, path):
    cases = [
        ("SELEC 1", None, sqlite3.OperationalError),
        ("SELECT * FROM missing", None, sqlite3.OperationalError),
        ("SELECT :a, :b", {"a": 1}, sqlite3.ProgrammingError),
        ("SELECT ?", (1, 2), sqlite3.ProgrammingError),
        ("SELECT ?", ([1],), sqlite3.ProgrammingError),
        ("SELECT :a", {"a": {}}, sqlite3.ProgrammingError),
        ("INSERT INTO t (id, v) VALUES (1, 'x')", None, sqlite3.IntegrityError),
        ("SELECT :a", {"a": 1, "b": 2}, sqlnb.UsageError),
        ("SELECT ?", "x", sqlnb.UsageError),
        ("", None, sqlnb.UsageError),
        ("-- nothing", None, sqlnb.UsageError),
        ("SELECT 1; SELECT 2", None, sqlnb.UsageError),
    ]

    async def main() -> list[BaseException]:
        caught = []
        for sql, params, _kind in cases:
            try:
                await db.execute(sql, params)
            except Exception as error:
                caught.append(error)
            else:
                caught.append(AssertionError(f"no error for {sql!r}"))
        try:
            await db.execute("SELECT 1", time_limit=-1)
        except Exception as error:
            caught.append(error)
        # the event loop and the Database both go on working
        caught.append(await db.execute("SELECT count(*) FROM t"))
        return caught

    results = asyncio.run(main())
    for (sql, _params, kind), error in zip(cases, results):
        assert type(error) is kind, (sql, error)
        if issubclass(kind, sqlite3.Error):
            assert error.sql == sql
    assert type(results[-2]) is sqlnb.UsageError
    assert results[-1].single_value() == ROWS
    assert_healthy(db, path)
