"""Hostile input, property-based: random SQL-ish text, random parameter values of every Python type,
and arbitrary DataFrames never crash the process, never leave a transaction open on the writer or
an extra thread behind, and never execute text from a bound value.

Through the API (db.query, db.write, db.write_script, db.write_many, db.submit, db.iter_chunks,
await db.execute) and through `%sql` / `%%sql` in an IPython InteractiveShell, each call either
works or raises an exception of a documented kind (sqlite3.Error, sqlnb.Error, ValueError,
TypeError, OverflowError; in the magics IPython's UsageError or the one-line SqlCellError). After
each example the writer is out of any transaction, only sqlnb's own threads are alive, and the
sentinel table (never named by the generated SQL) still holds its rows. A value such as
"x'); DROP TABLE t; --" bound as a parameter is stored and compared as text, never run. Arbitrary
DataFrames (unicode, NULL, NaN, integers beyond int64 in object columns, bytes, mixed objects)
either round-trip through insert_df and query or fail with sqlnb.UsageError, sqlite3.Error or
OverflowError, and a failed insert_df leaves no table and no rows behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import itertools
import math
import re
import sqlite3
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.interactiveshell import InteractiveShell

import sqlnb
from sqlnb.ipython.magics import SqlCellError

#: Seconds to wait for anything before calling it a hang (never reached when all is well).
WAIT = 30
SENTINEL = "sentinel_kept"
SENTINEL_ROWS = 3
INJECTIONS = [
    "x'); DROP TABLE sentinel_kept; --",
    "'; DELETE FROM sentinel_kept; --",
    "\"; DROP TABLE sentinel_kept; --",
    "1; DROP TABLE sentinel_kept",
    "*/ DROP TABLE sentinel_kept; /*",
    ":p; DROP TABLE sentinel_kept",
]
ALLOWED_THREADS = {"sqlnb-read-0", "sqlnb-read-1", "sqlnb-read-2", "sqlnb-writer", "sqlnb-timer"}
#: What a call through the API may raise: documented kinds, never anything else.
API_ERRORS = (sqlite3.Error, sqlnb.Error, ValueError, TypeError, OverflowError)
SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

# -- strategies ------------------------------------------------------------------------------------

#: SQL pieces. No BEGIN or SAVEPOINT (an explicit transaction left open across calls is a
#: feature), nothing that names the sentinel table, no file names (ATTACH only ':memory:').
TOKENS = [
    "SELECT", "SELECT *", "SELECT x", "INSERT INTO a VALUES", "INSERT INTO a (x) VALUES",
    "INSERT OR REPLACE INTO b", "UPDATE a SET x =", "DELETE FROM a", "DELETE FROM b", "FROM",
    "WHERE", "a", "b", "v", "x", "y", "(", ")", ",", ";", ";", "'", '"', "`", "[", "]", "--",
    "/*", "*/", "?", "?1", "?2", "?999", ":p", ":q", "@p", "$q", ":r", "1", "-1", "0.5", "1e999",
    "9223372036854775808", "0x7FFFFFFFFFFFFFFF", "NULL", "x'00ff'", "'text'", "'it''s'",
    "CREATE TABLE", "CREATE TABLE IF NOT EXISTS c (z)", "CREATE TEMP TABLE", "CREATE TEMP VIEW",
    "CREATE VIEW v AS", "CREATE INDEX i ON a (x)", "CREATE TRIGGER tr AFTER INSERT ON a BEGIN",
    "END", "DROP TABLE IF EXISTS", "DROP VIEW IF EXISTS v", "WITH w AS (SELECT 1)", "AS",
    "UNION ALL", "ORDER BY", "LIMIT", "GROUP BY", "PRAGMA user_version", "PRAGMA user_version =",
    "PRAGMA table_info(a)", "PRAGMA foreign_keys = ON", "PRAGMA cache_size = 50",
    "PRAGMA integrity_check", "ATTACH ':memory:' AS m", "DETACH m", "m.c", "temp.a", "COMMIT",
    "ROLLBACK", "RELEASE sqlnb_task", "ROLLBACK TO sqlnb_task", "VACUUM", "EXPLAIN",
    "EXPLAIN QUERY PLAN", "ANALYZE", "REINDEX", "CASE WHEN", "THEN", "ELSE", "randomblob(100)",
    "zeroblob(1000000000000)", "length(", "abs(-9223372036854775808)", "char(0)", "'\x00'",
    "\x00", "\u2028", "é", "𝄞", "\ud800", "RAISE(ROLLBACK, 'no')", "sum(", "typeof(",
    "json('[1')", "printf('%s', ?)",
]
#: Valid statements that take parameters, so binding is exercised, not only parsing.
TEMPLATES = [
    "SELECT ?", "SELECT ?, ?", "SELECT :p", "SELECT :p, :q", "SELECT typeof(:p), length(:p)",
    "INSERT INTO a (x) VALUES (?)", "INSERT INTO a (x) VALUES (:p)",
    "INSERT INTO b (v) VALUES (?)", "SELECT * FROM a WHERE x = ?", "SELECT * FROM b WHERE v = :q",
    "UPDATE a SET x = ? WHERE x IS ?", "DELETE FROM a WHERE x = :p", "SELECT ?1, ?1, ?2",
    "SELECT @p, $q", "INSERT INTO a (x) SELECT ? UNION ALL SELECT ?", "SELECT 1",
    "SELECT count(*) FROM a", "PRAGMA user_version = 7", "CREATE TEMP TABLE IF NOT EXISTS tt (z)",
    "INSERT INTO tt (z) VALUES (?)", "SELECT * FROM tt", "DROP TABLE IF EXISTS tt",
]
SURROGATES = ["\ud800", "a\udfffb"]


class Opaque:
    """An object SQLite cannot bind, with a repr that tries to look like SQL."""

    def __repr__(self) -> str:
        return "'); DROP TABLE sentinel_kept; --"


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Zs", "Lo", "So"]), max_size=10),
    st.sampled_from(SURROGATES + INJECTIONS + ["", "\x00", "a\x00b"]),
    st.binary(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.integers()),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sets(st.integers(), max_size=2),
    st.builds(Opaque),
    st.builds(object),
    st.sampled_from([1 + 2j, decimal.Decimal("1.5"), datetime.date(2024, 1, 2),
                     datetime.datetime(2024, 1, 2, 3, 4), bytearray(b"ba"), memoryview(b"mv"),
                     np.int64(5), np.float32(1.5), np.bool_(True), np.str_("ns"), pd.NA, pd.NaT,
                     math.nan, Ellipsis, type, print]),
)

params = st.one_of(
    st.none(),
    st.lists(values, max_size=4),
    st.lists(values, max_size=4).map(tuple),
    st.dictionaries(st.sampled_from(["p", "q", "r", "1", "", "p q", "x"]), values, max_size=4),
    values,  # not a parameter set at all
)

#: The characters SQLite's tokenizer and Python's str -> UTF-8 step like least, close together.
nasty = st.lists(st.sampled_from(["SELECT 1", "SELECT :p", "'\x00'", "\x00", "\ud800", ";", "'",
                                  "--", "/*", "x"]), min_size=1, max_size=6).map(" ".join)

sql_text = st.one_of(
    st.sampled_from(TEMPLATES),
    nasty,
    st.lists(st.sampled_from(TOKENS) | st.text(max_size=6), min_size=1, max_size=12).map(" ".join),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=10).map(" ".join),
    st.text(max_size=30),
)



@st.composite
def matched(draw: st.DrawFn) -> tuple[str, object]:
    """A valid template with as many values as it has parameters, so the values get bound."""
    from sqlnb.engines import sqltext as _sqltext

    sql = draw(st.sampled_from(TEMPLATES))
    statement = _sqltext.single(sql)
    if statement.named:
        return sql, {name: draw(values) for name in statement.named}
    return sql, [draw(values) for _ in range(statement.positional)]


statements = st.one_of(st.tuples(sql_text, params), matched(), matched())

CALLS = ["query", "write", "write_script", "write_many", "submit", "submit_frame", "chunks",
         "execute", "write_nowait"]


# -- helpers ---------------------------------------------------------------------------------------

def sqlnb_thread_names() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("sqlnb-")}


def opens_transaction(sql: str) -> bool:
    """Text that may legitimately leave a user's transaction open (BEGIN / SAVEPOINT)."""
    return re.search(r"begin|savepoint", sql, re.IGNORECASE) is not None


def make_db(tmp_path) -> sqlnb.Database:
    db = sqlnb.connect(tmp_path / "hostile.db", time_limit=10)
    db.write_script(f"""
        CREATE TABLE {SENTINEL} (id INTEGER PRIMARY KEY, v TEXT);
        INSERT INTO {SENTINEL} (v) VALUES ('one'), ('two'), ('three');
        CREATE TABLE a (x);
        CREATE TABLE b (v TEXT);
    """)
    return db


def check_unharmed(db: sqlnb.Database, sql: str = "") -> None:
    """No transaction left open, only sqlnb's threads, the sentinel intact, the engine serving."""
    with contextlib.suppress(sqlnb.BackgroundWriteError):
        db.flush()
    conn = db._dispatch.writer_link.conn
    if opens_transaction(sql) and conn.in_transaction:  # the user's own BEGIN: end it
        db.write("ROLLBACK")
    assert not conn.in_transaction, f"a transaction was left open by {sql!r}"
    names = sqlnb_thread_names()
    assert names <= ALLOWED_THREADS, names
    count = db.submit(f"SELECT count(*) FROM main.{SENTINEL}").result(WAIT).single_value()
    assert count == SENTINEL_ROWS, f"the sentinel table changed after {sql!r}"


def run_api(db: sqlnb.Database, how: str, sql: object, args: object) -> object:
    if how == "query":
        return db.query(sql, args)
    if how == "write":
        return db.write(sql, args)
    if how == "write_nowait":
        return db.write(sql, args, block=False).exception(WAIT)
    if how == "write_script":
        return db.write_script(sql)
    if how == "write_many":
        return db.write_many(sql, [args, args] if not isinstance(args, list) else args)
    if how == "submit":
        return db.submit(sql, args).result(WAIT)
    if how == "submit_frame":
        return db.submit(sql, args, dataframe=True).result(WAIT)
    if how == "chunks":
        return sum(len(c) for c in db.iter_chunks(sql, args, chunk_rows=2))
    if how == "execute":
        return asyncio.run(db.execute(sql, args))
    raise AssertionError(how)


# -- the API ---------------------------------------------------------------------------------------

def test_random_sql_and_values_through_the_api(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever the text does, it does it here
    db = make_db(tmp_path)
    unexpected: list[tuple[str, object, object, BaseException]] = []

    @SETTINGS
    @given(how=st.sampled_from(CALLS), statement=statements)
    def check(how: str, statement: tuple[str, object]) -> None:
        sql, args = statement
        try:
            run_api(db, how, sql, args)
        except API_ERRORS:
            pass
        except BaseException as error:  # anything else escapes the documented tree
            unexpected.append((how, sql, args, error))
        check_unharmed(db, sql)

    try:
        check()
        assert unexpected == [], unexpected[:3]
        assert not db.closed
    finally:
        db.close()
    assert sqlnb_thread_names() == set()


def test_sql_that_is_not_a_str_is_a_usage_error(tmp_path):
    db = make_db(tmp_path)
    try:
        for sql in [None, b"SELECT 1", 1, ["SELECT 1"], Opaque(), bytearray(b"SELECT 1")]:
            for how in CALLS:
                with pytest.raises((sqlnb.UsageError, TypeError)):
                    run_api(db, how, sql, None)
            check_unharmed(db)
    finally:
        db.close()


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.sampled_from(INJECTIONS) | st.text(max_size=40),
       how=st.sampled_from(["write", "submit", "execute", "write_many", "magic"]))
def test_a_bound_value_is_never_run_as_sql(tmp_path_factory, payload, how):
    db = make_db(tmp_path_factory.mktemp("inject"))
    shell = InteractiveShell.instance()
    try:
        if how == "write":
            db.write(f"INSERT INTO {SENTINEL} (v) VALUES (?)", (payload,))
        elif how == "submit":
            db.submit(f"INSERT INTO {SENTINEL} (v) VALUES (:p)", {"p": payload}).result(WAIT)
        elif how == "execute":
            asyncio.run(db.execute_write(f"INSERT INTO {SENTINEL} (v) VALUES (?)", [payload]))
        elif how == "write_many":
            db.write_many(f"INSERT INTO {SENTINEL} (v) VALUES (?)", [(payload,)])
        else:
            sqlnb.load_ipython_extension(shell)
            shell.run_line_magic("config", "SqlNB.show_progress = False")
            shell.user_ns.update(injected_db=db, payload=payload)
            shell.run_line_magic("sqlnb", "use injected_db")
            shell.run_cell_magic("sql", "", f"INSERT INTO {SENTINEL} (v) VALUES (:payload)")
        back = db.query(f"SELECT v FROM {SENTINEL} WHERE v = ?", (payload,))["v"].tolist()
        assert back == [payload]
        names = db.query("SELECT name FROM sqlite_master")["name"].tolist()
        assert SENTINEL in names
        assert db.query(f"SELECT count(*) AS n FROM {SENTINEL}")["n"].tolist() == [
            SENTINEL_ROWS + 1]
        assert not db._dispatch.writer_link.in_transaction
    finally:
        shell.user_ns.pop("payload", None)
        shell.user_ns.pop("injected_db", None)
        db.close()


# -- the magics ------------------------------------------------------------------------------------

def test_random_sql_and_values_through_the_sql_magic(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    sqlnb.load_ipython_extension(shell)
    shell.run_line_magic("config", "SqlNB.show_progress = False")
    db = make_db(tmp_path)
    namespace = set(shell.user_ns)
    shell.user_ns["hostile_db"] = db
    shell.run_line_magic("sqlnb", "use hostile_db")
    unexpected: list[tuple[str, str, BaseException]] = []

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(form=st.sampled_from(["cell", "line", "line with target"]), sql=sql_text | nasty,
           p=values, q=values, r=values)
    def check(form: str, sql: str, p: object, q: object, r: object) -> None:
        assume(not sql.lstrip().startswith(("sqlite:", "-")))  # opening files; --background
        shell.user_ns.update(p=p, q=q, r=r)
        try:
            if form == "cell":
                shell.run_cell_magic("sql", "", sql)
            elif form == "line":
                shell.run_line_magic("sql", sql)
            else:
                shell.run_line_magic("sql", f"result << {sql}")
        except (IPythonUsageError, SqlCellError):
            pass
        except BaseException as error:  # a traceback instead of a one-line error
            unexpected.append((form, sql, error))
        check_unharmed(db, sql)

    try:
        check()
        assert unexpected == [], unexpected[:3]
    finally:
        sqlnb.unload_ipython_extension(shell)
        db.close()
        for name in set(shell.user_ns) - namespace:
            del shell.user_ns[name]
    assert sqlnb_thread_names() == set()


@pytest.mark.parametrize("text", ["SELECT '\x00';", "\x00;", "SELECT '\ud800';",
                                  "SELECT 1; SELECT '\ud800'"])
@pytest.mark.parametrize("form", ["cell", "line"])
def test_the_sql_magic_gives_one_line_errors_for_text_sqlite_cannot_take(tmp_path, form, text):
    """A NUL or a lone surrogate in a cell is bad input like any other: the magic says so in
    one line (IPython's UsageError or SqlCellError), not with a traceback through sqlnb."""
    shell = InteractiveShell.instance()
    sqlnb.load_ipython_extension(shell)
    shell.run_line_magic("config", "SqlNB.show_progress = False")
    db = make_db(tmp_path)
    shell.user_ns["hostile_db"] = db
    try:
        shell.run_line_magic("sqlnb", "use hostile_db")
        with pytest.raises((IPythonUsageError, SqlCellError)):
            if form == "cell":
                shell.run_cell_magic("sql", "", text)
            else:
                shell.run_line_magic("sql", text)
        check_unharmed(db)
    finally:
        sqlnb.unload_ipython_extension(shell)
        shell.user_ns.pop("hostile_db", None)
        db.close()


# -- DataFrames ------------------------------------------------------------------------------------

_tables = itertools.count()

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.binary(max_size=8),
)
columns = st.one_of(
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=6)
    .map(lambda xs: pd.Series(xs, dtype="int64")),
    st.lists(st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1,
             max_size=6).map(lambda xs: pd.Series(pd.array(xs, dtype="Int64"))),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=6)
    .map(lambda xs: pd.Series(xs, dtype="float64")),
    st.lists(st.none() | st.text(max_size=8), min_size=1, max_size=6)
    .map(lambda xs: pd.Series(xs, dtype="str")),
    st.lists(st.none() | st.text(max_size=8) | st.sampled_from(["\x00", "a\x00", "𝄞", "\u2028"]),
             min_size=1, max_size=6).map(lambda xs: pd.Series(xs, dtype=object)),
    st.lists(st.none() | st.binary(max_size=8), min_size=1, max_size=6)
    .map(lambda xs: pd.Series(xs, dtype=object)),
    st.lists(st.none() | st.integers(min_value=-(2**70), max_value=2**70), min_size=1,
             max_size=6).map(lambda xs: pd.Series(xs, dtype=object)),
    st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=6)
    .map(lambda xs: pd.Series(xs, dtype="uint64")),
    st.lists(st.none() | st.booleans(), min_size=1, max_size=6)
    .map(lambda xs: pd.Series(xs, dtype=object)),
    st.lists(scalars | st.just(math.nan), min_size=1, max_size=6)
    .map(lambda xs: pd.Series(xs, dtype=object)),
    st.lists(scalars | st.sampled_from([[1], {"k": 1}, Opaque(), 1 + 2j, *SURROGATES]),
             min_size=1, max_size=6).map(lambda xs: pd.Series(xs, dtype=object)),
)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    picked = draw(st.lists(columns, min_size=1, max_size=4))
    n = min(len(c) for c in picked)
    name = st.text(max_size=6) | st.sampled_from(["x", "X", "id", "rowid", 'a"b', "a b", "", "𝄞",
                                                  "\x00", "; DROP TABLE sentinel_kept"])
    unique = draw(st.integers(0, 4)) > 0  # mostly distinct names; now and then a clash
    names = draw(st.lists(name, min_size=len(picked), max_size=len(picked),
                          unique_by=(lambda n: n.lower()) if unique else None))
    df = pd.concat([c.iloc[:n].reset_index(drop=True) for c in picked], axis=1)
    df.columns = names
    return df


def normal(value: object) -> object:
    """A value as comparable: every kind of missing is None, numpy scalars are Python's."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return None
    item = getattr(value, "item", None)
    if isinstance(value, np.generic) and item is not None:
        return normal(item())
    if isinstance(value, bool):
        return int(value)
    return value


def same(sent: object, got: object) -> bool:
    """Equal, and of the same kind; an integer may come back as a float (a REAL column, or a
    result column mixing integers and reals is float64: results.py's dtype policy)."""
    sent, got = normal(sent), normal(got)
    if isinstance(sent, int) and isinstance(got, float):
        sent = float(sent)
    return sent == got and type(sent) is type(got)


def test_random_dataframes_round_trip_or_fail_cleanly(tmp_path):
    db = make_db(tmp_path)
    failures: dict[str, int] = {}

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(df=frames())
    def check(df: pd.DataFrame) -> None:
        table = f"df_{next(_tables)}"
        before = {row[0] for row in db.submit("SELECT name FROM sqlite_master").result().rows}
        try:
            written = db.insert_df(df, table)
        except (sqlnb.UsageError, sqlite3.Error, OverflowError) as error:
            failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1
            after = {row[0] for row in db.submit("SELECT name FROM sqlite_master").result().rows}
            assert after == before, f"a failed insert_df left {after - before}"
            assert_no_rows_left_by_append(db, df, table, type(error))
        else:
            assert written == len(df)
            back = db.query(f'SELECT * FROM "{table}"')
            assert list(back.columns) == [str(c) for c in df.columns]
            assert len(back) == len(df)
            for i, name in enumerate(back.columns):
                pairs = list(zip(df.iloc[:, i].tolist(), back.iloc[:, i].tolist()))
                assert all(same(sent, got) for sent, got in pairs), (name, pairs)
        check_unharmed(db)

    try:
        check()
    finally:
        db.close()
    assert sqlnb_thread_names() == set()


def assert_no_rows_left_by_append(db: sqlnb.Database, df: pd.DataFrame, table: str,
                                  kind: type[BaseException]) -> None:
    """The same frame appended to an existing (empty) table fails too, and adds no row."""
    try:
        db.insert_df(df.iloc[:0], table)  # the table, from the same dtypes and names
    except (sqlnb.UsageError, sqlite3.Error):
        return  # the names themselves are the problem; nothing was created (checked above)
    with pytest.raises((sqlnb.UsageError, sqlite3.Error, OverflowError)):
        db.insert_df(df, table, if_exists="append")
    count = db.submit(f'SELECT count(*) FROM "{table}"').result(WAIT).single_value()
    assert count == 0, f"a failed append ({kind.__name__}) left {count} rows"
    db.write(f'DROP TABLE "{table}"')


@pytest.mark.parametrize("table", ["", " ", "sqlite_master", "sqlite_x", 'q"uote', "a b",
                                   "\x00", "𝄞", "main.t", "x" * 300, SENTINEL])
def test_hostile_table_names_for_insert_df(tmp_path, table):
    db = make_db(tmp_path)
    try:
        df = pd.DataFrame({"v": ["x'); DROP TABLE sentinel_kept; --"]})
        before = db.query("SELECT name FROM sqlite_master")["name"].tolist()
        try:
            written = db.insert_df(df, table)
        except (sqlnb.UsageError, sqlite3.Error, OverflowError):
            assert db.query("SELECT name FROM sqlite_master")["name"].tolist() == before
        else:
            assert written == 1
            back = db.submit('SELECT v FROM "{}"'.format(table.replace('"', '""'))).result()
            assert back.rows == [("x'); DROP TABLE sentinel_kept; --",)]
        check_unharmed(db)
    finally:
        db.close()


@pytest.mark.parametrize("column", [
    [0, "", b"\x80"],
    [1.5, "é", b"\xff\xfe"],
    [None, 7, "seven", b"\x00\x80", 7.5],
    [2**62, "x", b"\x80"],
    [b"\x80", 1, "a"],
])
def test_a_column_mixing_numbers_text_and_blobs_reads_back(tmp_path, column):
    """An untyped column may hold any mix of kinds; every read path returns them as they are."""
    db = make_db(tmp_path)
    try:
        db.write("CREATE TABLE mixed (v)")
        db.write_many("INSERT INTO mixed (v) VALUES (?)", [(v,) for v in column])
        sql = "SELECT v FROM mixed ORDER BY rowid"
        assert [v for (v,) in db.submit(sql).result(WAIT).rows] == column
        frames = [db.query(sql), db.submit(sql, dataframe=True).result(WAIT),
                  pd.concat(list(db.iter_chunks(sql)))]
        for frame in frames:
            assert [normal(v) for v in frame["v"].tolist()] == column
        check_unharmed(db)
    finally:
        db.close()


@pytest.mark.parametrize("value", ["\ud800", "ok \udfff"])
def test_insert_df_of_text_sqlite_cannot_encode_fails_cleanly(tmp_path, value):
    """A lone surrogate cannot become UTF-8: insert_df says so like any value SQLite cannot
    store (a documented error type naming the column), and leaves no table behind."""
    db = make_db(tmp_path)
    try:
        df = pd.DataFrame({"fine": [1, 2], "bad": pd.Series(["a", value], dtype=object)})
        with pytest.raises((sqlnb.UsageError, sqlite3.Error, OverflowError)) as caught:
            db.insert_df(df, "surrogates")
        explained = "\n".join([str(caught.value), *getattr(caught.value, "__notes__", [])])
        assert "bad" in explained, explained
        names = db.query("SELECT name FROM sqlite_master")["name"].tolist()
        assert "surrogates" not in names
        check_unharmed(db)
    finally:
        db.close()
