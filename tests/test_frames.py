"""DataFrames in and out: insert_df() -> query() round trips, the dtype policy of results.py,
the tables insert_df() creates (declared types, if_exists, index, bad values, quoting), and the
`Result` object's API.

An all-NULL column comes back as an object column of None (results.py: SQLite gives no type
for NULL), and integers without NULL come back int64, not Int64; so the round-trip property keeps
at least one value in each nullable column and at least one NA in the Int64 one, and the all-NULL
case is pinned by its own test.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sqlnb
from sqlnb.results import Result, rechunk, rows_to_dataframe

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
STR = pd.StringDtype(na_value=np.nan)  # pandas 3's default "str" dtype

_names = itertools.count()


def columns_of(db: sqlnb.Database, table: str) -> dict[str, str]:
    """Column name -> declared type, from PRAGMA table_info."""
    info = db.submit(f"PRAGMA table_info({quoted(table)})").result()
    return {row[1]: row[2] for row in info}


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def count(db: sqlnb.Database, table: str) -> int:
    return db.submit(f"SELECT count(*) FROM {quoted(table)}").result().single_value()


def table_exists(db: sqlnb.Database, table: str) -> bool:
    sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
    return db.submit(sql, [table]).result().single_value() == 1


# -- the round trip ---------------------------------------------------------------------------

@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=2, max_value=25))
    ints = draw(st.lists(INT64, min_size=n, max_size=n))
    # Int64 needs an NA to stay Int64 (without one it comes back int64) and a value not to be
    # all-NULL: one of each at drawn places, the rest free.
    nullable: list[int | None] = draw(st.lists(st.none() | INT64, min_size=n, max_size=n))
    missing, present = draw(st.permutations(range(n)))[:2]
    nullable[missing] = None
    if nullable[present] is None:
        nullable[present] = draw(INT64)
    floats = draw(st.lists(st.none() | st.floats(allow_nan=False), min_size=n, max_size=n)
                  .filter(lambda xs: any(x is not None for x in xs)))
    texts = draw(st.lists(st.none() | TEXT, min_size=n, max_size=n)
                 .filter(lambda xs: any(x is not None for x in xs)))
    return pd.DataFrame({
        "i": pd.Series(ints, dtype="int64"),
        "n": pd.Series(pd.array(nullable, dtype="Int64")),
        "f": pd.Series([math.nan if x is None else x for x in floats], dtype="float64"),
        "s": pd.Series(texts, dtype="str"),
    })


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=frames())
def test_round_trip_keeps_values_and_dtypes(db, df):
    table = f"rt_{next(_names)}"
    assert df.dtypes.tolist() == [np.dtype("int64"), pd.Int64Dtype(), np.dtype("float64"), STR]
    assert db.insert_df(df, table) == len(df)
    back = db.query(f"SELECT * FROM {table}")
    pd.testing.assert_frame_equal(back, df)


def test_all_null_column_comes_back_as_object_of_none(db):
    df = pd.DataFrame({"k": [1, 2, 3],
                       "n": pd.array([None, None, None], dtype="Int64"),
                       "f": [math.nan] * 3,
                       "s": pd.Series([None] * 3, dtype="str")})
    db.insert_df(df, "nulls")
    back = db.query("SELECT * FROM nulls")
    assert back["k"].dtype == np.dtype("int64")
    for name in ("n", "f", "s"):
        assert back[name].dtype == object
        assert back[name].tolist() == [None, None, None]


# -- the dtype policy -------------------------------------------------------------------------

def test_integers_give_int64():
    df = rows_to_dataframe([(1,), (2**62,), (-(2**63),)], ["a"])
    assert df["a"].dtype == np.dtype("int64")
    assert df["a"].tolist() == [1, 2**62, -(2**63)]


def test_integers_with_null_give_nullable_int64():
    df = rows_to_dataframe([(1,), (None,), (3,)], ["a"])
    assert df["a"].dtype == pd.Int64Dtype()
    assert df["a"].iloc[0] == 1 and df["a"].iloc[2] == 3
    assert df["a"].iloc[1] is pd.NA


def test_reals_give_float64_with_nan_for_null():
    df = rows_to_dataframe([(1.5,), (None,), (2,)], ["a"])
    assert df["a"].dtype == np.dtype("float64")
    assert df["a"].iloc[0] == 1.5 and df["a"].iloc[2] == 2.0
    assert math.isnan(df["a"].iloc[1])


BIG = 2**53 + 1  # the smallest positive integer a float64 cannot hold


@pytest.mark.parametrize("sql", [
    f"SELECT {BIG} AS v UNION ALL SELECT 2.5",
    f"SELECT CASE WHEN n = 1 THEN {BIG} ELSE 2.5 END AS v FROM (SELECT 1 AS n UNION ALL SELECT 2)",
    f"SELECT COALESCE(NULL, {BIG}) AS v UNION ALL SELECT 2.5 UNION ALL SELECT NULL",
    f"SELECT 2.5 AS v UNION ALL SELECT {-BIG}",
])
def test_integers_beside_reals_keep_their_exact_values(db, sql):
    """Finding 4: a column mixing INTEGER and REAL became float64, so 2**53 + 1 next to 2.5 came
    back as 9007199254740992.0. An integer a float64 cannot hold keeps the column as objects."""
    for df in (db.query(sql), db.submit(sql).result().to_dataframe(),
               next(iter(db.iter_chunks(sql)))):
        values = df["v"].tolist()
        exact = [v for v in values if isinstance(v, int) and abs(v) == BIG]
        assert exact, values
        assert df["v"].dtype == object
        assert 2.5 in values


def test_an_untyped_column_of_big_integers_and_reals_keeps_them_exact(db):
    db.write("CREATE TABLE u (v)")
    db.write_many("INSERT INTO u VALUES (?)", [(BIG,), (0.5,), (None,), (7,)])
    values = db.query("SELECT v FROM u ORDER BY rowid")["v"].tolist()
    assert values[0] == BIG and type(values[0]) is int
    assert values[1] == 0.5 and values[3] == 7


def test_big_integers_in_one_batch_and_reals_in_another_keep_their_values(db):
    """Across the batches a large result is built in (8,192 rows each)."""
    db.write("CREATE TABLE u (v)")
    db.write_many("INSERT INTO u VALUES (?)",
                  [(BIG + i,) for i in range(10_000)] + [(0.5,)] * 10_000)
    column = db.query("SELECT v FROM u ORDER BY rowid")["v"]
    assert column.dtype == object
    assert column.iloc[0] == BIG and column.iloc[9_999] == BIG + 9_999
    assert column.iloc[-1] == 0.5


def test_integers_a_float_holds_beside_reals_give_float64(db):
    """The rule's other side: every integer exactly representable, so float64 loses nothing."""
    df = db.query(f"SELECT {2**53} AS v UNION ALL SELECT 2.5 UNION ALL SELECT -3")
    assert df["v"].dtype == np.dtype("float64")
    assert sorted(df["v"].tolist()) == [-3.0, 2.5, float(2**53)]


def test_text_gives_str_dtype():
    df = rows_to_dataframe([("x",), (None,), ("ü€𝄞",)], ["a"])
    assert df["a"].dtype == STR
    assert df["a"].iloc[0] == "x" and df["a"].iloc[2] == "ü€𝄞"
    assert pd.isna(df["a"].iloc[1])


def test_mixed_column_keeps_python_values(db):
    db.write("CREATE TABLE m (x)")
    db.write_many("INSERT INTO m VALUES (?)", [(1,), ("three",), (4.5,)])
    for df in (db.query("SELECT x FROM m ORDER BY rowid"),
               rows_to_dataframe([(1,), ("three",), (4.5,)], ["x"])):
        assert df["x"].dtype == object
        values = df["x"].tolist()
        assert values == [1, "three", 4.5]
        assert [type(v) for v in values] == [int, str, float]


def test_blobs_give_bytes_in_object_column(db):
    db.write("CREATE TABLE b (x BLOB)")
    db.write_many("INSERT INTO b VALUES (?)", [(b"\x00\x01",), (None,), (b"",)])
    df = db.query("SELECT x FROM b ORDER BY rowid")
    assert df["x"].dtype == object
    assert df["x"].tolist() == [b"\x00\x01", None, b""]
    assert type(df["x"].iloc[0]) is bytes


def test_empty_result_keeps_column_names(db):
    db.write("CREATE TABLE e (a INTEGER, b TEXT, c REAL)")
    df = db.query("SELECT * FROM e")
    assert list(df.columns) == ["a", "b", "c"]
    assert len(df) == 0
    direct = rows_to_dataframe([], ["x", "y"])
    assert list(direct.columns) == ["x", "y"] and direct.shape == (0, 2)


def test_duplicate_column_names_are_kept(db):
    df = db.query("SELECT 1 AS a, 2 AS a")
    assert list(df.columns) == ["a", "a"]
    assert df.iloc[0].tolist() == [1, 2]
    frame = db.submit("SELECT 1 AS a, 'x' AS a").result().to_dataframe()
    assert list(frame.columns) == ["a", "a"]
    assert frame.iloc[0, 0] == 1 and frame.iloc[0, 1] == "x"


def test_query_of_a_write_gives_empty_frame_with_rowcount(db):
    db.write("CREATE TABLE w (x)")
    df = db.query("INSERT INTO w VALUES (1), (2)")
    assert df.shape == (0, 0)
    assert df.attrs["rowcount"] == 2


# -- insert_df: the table it makes ------------------------------------------------------------

def test_declared_column_types(db):
    df = pd.DataFrame({
        "i": [1, 2],
        "f": [1.5, 2.0],
        "b": [True, False],
        "s": pd.Series(["x", "y"], dtype="str"),
        "o": pd.Series(["p", "q"], dtype=object),
        "by": pd.Series([b"a", b"\x00"], dtype=object),
        "dt": pd.to_datetime(["2024-01-02 00:00:00", "2024-03-04 05:06:07"]),
        "m": pd.Series([1, "a"], dtype=object),
    })
    db.insert_df(df, "types")
    assert columns_of(db, "types") == {
        "i": "INTEGER", "f": "REAL", "b": "INTEGER", "s": "TEXT", "o": "TEXT",
        "by": "BLOB", "dt": "TEXT", "m": "",
    }
    rows = db.submit("SELECT * FROM types ORDER BY rowid").result().rows
    assert rows == [
        (1, 1.5, 1, "x", "p", b"a", "2024-01-02T00:00:00", 1),
        (2, 2.0, 0, "y", "q", b"\x00", "2024-03-04T05:06:07", "a"),
    ]


def test_datetime_stored_as_iso_text_and_nat_as_null(db):
    df = pd.DataFrame({"dt": pd.to_datetime(["2024-01-02 03:04:05.123456", None])})
    db.insert_df(df, "dates")
    rows = db.submit("SELECT dt, typeof(dt) FROM dates ORDER BY rowid").result().rows
    assert rows == [("2024-01-02T03:04:05.123456", "text"), (None, "null")]


def test_if_exists_fail_is_the_default(db):
    df = pd.DataFrame({"a": [1, 2]})
    db.insert_df(df, "t")
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        db.insert_df(pd.DataFrame({"a": [3]}), "t")
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        db.insert_df(pd.DataFrame({"a": [3]}), "t", if_exists="fail")
    assert db.submit("SELECT a FROM t ORDER BY rowid").result().rows == [(1,), (2,)]


def test_if_exists_append_adds_rows(db):
    db.insert_df(pd.DataFrame({"a": [1, 2]}), "t")
    assert db.insert_df(pd.DataFrame({"a": [3]}), "t", if_exists="append") == 1
    assert db.submit("SELECT a FROM t ORDER BY rowid").result().rows == [(1,), (2,), (3,)]
    # append also creates the table when it is missing
    assert db.insert_df(pd.DataFrame({"a": [9]}), "new", if_exists="append") == 1
    assert count(db, "new") == 1


def test_if_exists_replace_drops_the_old_table(db):
    db.insert_df(pd.DataFrame({"a": [1, 2]}), "t")
    db.insert_df(pd.DataFrame({"b": ["x"], "c": [0.5]}), "t", if_exists="replace")
    assert columns_of(db, "t") == {"b": "TEXT", "c": "REAL"}
    assert db.submit("SELECT * FROM t").result().rows == [("x", 0.5)]


def test_if_exists_bad_value_is_a_usage_error(db):
    with pytest.raises(sqlnb.UsageError, match="if_exists"):
        db.insert_df(pd.DataFrame({"a": [1]}), "t", if_exists="truncate")  # type: ignore[arg-type]
    assert not table_exists(db, "t")


def test_index_true_writes_the_index(db):
    df = pd.DataFrame({"a": [10, 20]}, index=[5, 7])
    db.insert_df(df, "plain", index=True)
    assert db.submit('SELECT "index", a FROM plain ORDER BY rowid').result().rows == [
        (5, 10), (7, 20)]
    named = pd.DataFrame({"a": [1.5]}, index=pd.Index(["k1"], name="key"))
    db.insert_df(named, "named", index=True)
    assert columns_of(db, "named") == {"key": "TEXT", "a": "REAL"}
    assert db.submit("SELECT key, a FROM named").result().rows == [("k1", 1.5)]
    db.insert_df(df, "noindex")
    assert list(columns_of(db, "noindex")) == ["a"]


def test_numpy_scalars_in_object_columns_are_stored(db):
    df = pd.DataFrame({
        "i": pd.Series([np.int64(3), np.int32(-4)], dtype=object),
        "f": pd.Series([np.float64(2.5), np.float32(0.5)], dtype=object),
        "b": pd.Series([np.bool_(True), np.bool_(False)], dtype=object),
        "s": pd.Series([np.str_("x"), np.str_("y")], dtype=object),
        "m": pd.Series([np.int64(7), "seven"], dtype=object),
    })
    assert db.insert_df(df, "np") == 2
    sql = ("SELECT i, typeof(i), f, typeof(f), b, typeof(b), s, typeof(s), m, typeof(m) "
           "FROM np ORDER BY rowid")
    assert db.submit(sql).result().rows == [
        (3, "integer", 2.5, "real", 1, "integer", "x", "text", 7, "integer"),
        (-4, "integer", 0.5, "real", 0, "integer", "y", "text", "seven", "text"),
    ]


def test_numpy_datetime64_in_object_column_is_stored_as_iso_text(db):
    # the same ISO text a datetime64 column gives, whatever the scalar's unit
    df = pd.DataFrame({"d": pd.Series([np.datetime64("2024-01-02T03:04:05", "s"),
                                       np.datetime64("2024-01-02T03:04:05", "ns")],
                                      dtype=object)})
    db.insert_df(df, "npdates")
    rows = db.submit("SELECT d, typeof(d) FROM npdates ORDER BY rowid").result().rows
    assert rows == [("2024-01-02T03:04:05", "text"), ("2024-01-02T03:04:05", "text")]


def test_list_values_fail_and_nothing_is_written(db):
    df = pd.DataFrame({"a": [1, 2], "l": [[1], [2]]})
    with pytest.raises(sqlite3.ProgrammingError):
        db.insert_df(df, "lists")
    assert not table_exists(db, "lists")  # CREATE TABLE was rolled back with the rows

    db.insert_df(pd.DataFrame({"a": [0], "l": ["ok"]}), "kept")
    with pytest.raises(sqlite3.ProgrammingError):
        db.insert_df(df, "kept", if_exists="append")
    assert db.submit("SELECT * FROM kept").result().rows == [(0, "ok")]


def test_bad_value_in_a_late_chunk_rolls_back_the_earlier_chunks(db):
    n = 25_000  # three executemany() chunks; the bad value is in the last one
    values: list[object] = list(range(n))
    values[-1] = {"not": "storable"}
    df = pd.DataFrame({"k": range(n), "v": pd.Series(values, dtype=object)})
    with pytest.raises(sqlite3.ProgrammingError):
        db.insert_df(df, "late")
    assert not table_exists(db, "late")
    db.insert_df(pd.DataFrame({"k": [1], "v": [1]}), "late2")
    with pytest.raises(sqlite3.ProgrammingError):
        db.insert_df(df, "late2", if_exists="append")
    assert count(db, "late2") == 1


def test_unstorable_value_note_names_the_column(db):
    df = pd.DataFrame({"a": [1, 2], "l": [[1], [2]]})
    with pytest.raises(sqlite3.ProgrammingError) as caught:
        db.insert_df(df, "lists")
    notes = " ".join(getattr(caught.value, "__notes__", []))
    assert "column 'l'" in notes


def test_big_frame_round_trips(db):
    n = 50_000
    rng = np.random.default_rng(7)
    df = pd.DataFrame({
        "i": np.arange(n, dtype="int64") * 3 - 7,
        "f": rng.standard_normal(n),
        "s": pd.Series([f"row {k} ✓" for k in range(n)], dtype="str"),
    })
    df.loc[::97, "f"] = np.nan
    df.loc[::89, "s"] = np.nan
    assert db.insert_df(df, "big") == n
    back = db.query("SELECT * FROM big ORDER BY rowid")
    pd.testing.assert_frame_equal(back, df)


@pytest.mark.parametrize("table", ["my table", 'we"ird', 'a "q" b', "select", "ü t"])
def test_table_names_needing_quotes(db, table):
    df = pd.DataFrame({"col one": [1, 2], 'c"2': ["x", "y"]})
    assert db.insert_df(df, table) == 2
    back = db.query(f"SELECT * FROM {quoted(table)} ORDER BY rowid")
    pd.testing.assert_frame_equal(back, df.astype({'c"2': "str"}))
    db.insert_df(df, table, if_exists="append")
    db.insert_df(df, table, if_exists="replace")
    assert count(db, table) == 2


# -- Result -----------------------------------------------------------------------------------

def test_result_of_a_select(db):
    db.write("CREATE TABLE r (id INTEGER PRIMARY KEY, name TEXT)")
    db.write_many("INSERT INTO r (name) VALUES (?)", [("a",), ("b",), ("c",)])
    result = db.submit("SELECT id, name FROM r ORDER BY id").result()
    assert isinstance(result, Result)
    assert result.columns == ["id", "name"]
    assert result.rows == [(1, "a"), (2, "b"), (3, "c")]
    assert len(result) == 3
    assert list(result) == result.rows
    assert result[1] == (2, "b")
    assert result.first() == (1, "a")
    assert result.dicts() == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"},
                              {"id": 3, "name": "c"}]
    assert repr(result) == "<Result 3 rows x 2 columns>"
    assert result.truncated is False
    assert result.sql == "SELECT id, name FROM r ORDER BY id"
    frame = result.to_dataframe()
    assert frame["id"].tolist() == [1, 2, 3] and list(frame.columns) == ["id", "name"]


def test_result_single_value_and_first(db):
    assert db.submit("SELECT 42").result().single_value() == 42
    assert db.submit("SELECT NULL").result().single_value() is None
    empty = db.submit("SELECT 1 WHERE 0").result()
    assert empty.first() is None
    assert len(empty) == 0 and list(empty) == [] and empty.dicts() == []
    for sql in ("SELECT 1 WHERE 0", "SELECT 1, 2", "SELECT 1 UNION ALL SELECT 2"):
        with pytest.raises(sqlnb.UsageError, match="single_value"):
            db.submit(sql).result().single_value()


def test_result_of_writes(db):
    created = db.write("CREATE TABLE w (id INTEGER PRIMARY KEY, v INTEGER)")
    assert created.columns == [] and created.rows == []
    inserted = db.write("INSERT INTO w (id, v) VALUES (41, 1)")
    assert inserted.rowcount == 1
    assert inserted.lastrowid == 41
    assert repr(inserted) == "<Result 1 rows changed>"
    again = db.write("INSERT INTO w (v) VALUES (?)", [2])
    assert again.lastrowid == 42
    db.write_many("INSERT INTO w (v) VALUES (?)", [(3,), (4,)])
    updated = db.write("UPDATE w SET v = v + 1 WHERE v >= 2")
    assert updated.rowcount == 3
    assert repr(updated) == "<Result 3 rows changed>"
    deleted = db.write("DELETE FROM w WHERE v > 100")
    assert deleted.rowcount == 0
    assert len(deleted) == 0 and deleted.first() is None


def test_result_built_directly():
    result = Result(["a"], [(1,), (2,)], rowcount=-1)
    assert len(result) == 2 and result.first() == (1,)
    assert repr(result) == "<Result 2 rows x 1 columns>"
    changed = Result([], [], rowcount=5)
    assert repr(changed) == "<Result 5 rows changed>"
    assert changed.to_dataframe().attrs["rowcount"] == 5


def test_renaming_one_frames_index_leaves_the_next_frame_alone(db):
    # sqlnb reuses the Index objects of small frames; each frame must get its own
    first = db.query("SELECT 1 AS x, 2 AS y")
    first.columns.name = "renamed"
    first.index.name = "rows"
    second = db.query("SELECT 3 AS x, 4 AS y")
    assert second.columns.name is None and second.index.name is None
    assert list(second.columns) == ["x", "y"] and list(second.index) == [0]


@pytest.mark.parametrize("rows", [0, 1, 255, 256, 257, 8191, 8192, 8193, 20000])
def test_small_and_large_results_give_the_same_frame(db, rows):
    # a result of up to 256 rows is built in the caller's thread in one pass, a larger one on
    # the reader batch by batch (8,192 rows a batch): the frames must not differ
    db.write("CREATE TABLE t (i INTEGER, r REAL, s TEXT, n INTEGER, m)")
    db.write_many("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                  [(i, i / 4, f"s{i}", None if i % 3 else i, (i, str(i), None)[i % 3])
                   for i in range(rows)])
    sql = "SELECT * FROM t ORDER BY i"
    frame = db.query(sql)
    expected = rows_to_dataframe(db.submit(sql).result().rows, ["i", "r", "s", "n", "m"])
    pd.testing.assert_frame_equal(frame, expected)
    assert len(frame) == rows
    if rows:
        assert frame["i"].dtype == "int64" and frame["r"].dtype == "float64"
        assert frame["n"].dtype == ("Int64" if rows > 1 else "int64")  # NULL from row 2 on
        assert frame["m"].dtype == (object if rows > 1 else "int64")  # mixed from row 2 on


def test_a_handle_gives_the_same_frame_every_time(db):
    handle = db.submit("SELECT 1 AS x, 'a' AS y", dataframe=True)
    first = handle.result()
    assert isinstance(first, pd.DataFrame)
    assert handle.result() is first
    assert asyncio.run(_await(handle)) is first


async def _await(handle):
    return await handle


# -- frames from Arrow batches (DuckDB) ----------------------------------------------------------

def test_arrow_batches_give_the_dtypes_sqlite_rows_give():
    import pyarrow as pa

    from sqlnb.results import ArrowFrameBuilder

    schema = pa.schema([("i", pa.int64()), ("n", pa.int64()), ("f", pa.float64()),
                        ("b", pa.bool_()), ("s", pa.string())])
    first = pa.record_batch([pa.array([1, 2]), pa.array([10, 20]), pa.array([0.5, None]),
                             pa.array([True, False]), pa.array(["a", None])], schema=schema)
    second = pa.record_batch([pa.array([3]), pa.array([None], pa.int64()), pa.array([1.5]),
                              pa.array([None], pa.bool_()), pa.array(["c"])], schema=schema)
    builder = ArrowFrameBuilder(["i", "n", "f", "b", "s"])
    builder.add(first)
    builder.add(second)  # the first NULL of n and b comes in the second batch
    df = builder.frame()
    assert df["i"].dtype == np.dtype("int64") and df["i"].tolist() == [1, 2, 3]
    assert df["n"].dtype == pd.Int64Dtype() and df["n"].tolist()[:2] == [10, 20]
    assert df["n"][2] is pd.NA
    assert df["f"].dtype == np.dtype("float64") and math.isnan(df["f"][1])
    assert df["b"].dtype == pd.BooleanDtype() and df["b"][2] is pd.NA
    assert df["s"].dtype == STR and df["s"][0] == "a" and pd.isna(df["s"][1])


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "+05:30"])
def test_a_short_zoned_timestamp_column_is_what_pyarrow_makes_of_it(unit, zone):
    """A column of at most SHORT values takes a faster way than pyarrow's to_pandas (for a
    one-row PostgreSQL lookup): the same dtype and values, NULLs, DST changes, chunks and all."""
    import datetime

    import pyarrow as pa

    from sqlnb._arrow_types import SHORT, column_array

    kind = pa.timestamp(unit, tz=zone)
    moments = [datetime.datetime(2024, 3, 31, 0, 30, tzinfo=datetime.timezone.utc)
               + datetime.timedelta(minutes=45 * i) for i in range(SHORT - 3)]
    column = pa.chunked_array([pa.array(moments[:10], kind), pa.array([None], kind),
                               pa.array(moments[10:], kind)])
    assert len(column) <= SHORT
    mine = pd.Series(column_array(column))
    theirs = column.to_pandas()
    assert mine.dtype == theirs.dtype
    assert mine.isna().tolist() == theirs.isna().tolist()
    assert mine.dropna().tolist() == theirs.dropna().tolist()
    empty = pa.chunked_array([], type=kind)
    assert pd.Series(column_array(empty)).dtype == empty.to_pandas().dtype


def test_first_rows_kept_aside_are_made_when_looked_at():
    """An engine may keep a result's first rows as a call (Control.keep_preview): nothing is
    converted until `preview` is read, then the rows are made once."""
    from sqlnb._control import Control, Timer

    timer = Timer()
    try:
        control = Control(None, timer)
        calls = []
        assert control.preview is None and not control.has_preview
        control.keep_preview(["x"], lambda: calls.append(1) or [(1,), (2,)])
        assert control.has_preview and calls == []
        assert control.preview == (["x"], [(1,), (2,)])
        assert control.preview == (["x"], [(1,), (2,)]) and calls == [1]
    finally:
        timer.close()


def test_arrow_integers_beyond_a_float_stay_exact():
    import pyarrow as pa

    from sqlnb.results import arrow_to_dataframe

    big = 2**53 + 1
    batch = pa.record_batch([pa.array([big, None], pa.int64())], names=["v"])
    assert arrow_to_dataframe(["v"], [batch])["v"][0] == big  # not float64's 2**53


def _overlaps(start: int, size: int, ranges: list[tuple[int, int]]) -> bool:
    return any(start < end and first < start + size for first, end in ranges)


def test_a_large_arrow_result_keeps_none_of_its_batches():
    """An engine may export a whole batch as one allocation, which one kept column would keep
    alive with every number in it (measured: 2.5x the frame): past the first VIEW_ROWS rows no
    column of the frame, text included, may point into a batch's memory."""
    import duckdb
    import pyarrow as pa

    from sqlnb.results import VIEW_ROWS, ArrowFrameBuilder

    con = duckdb.connect()
    try:
        reader = con.sql(f"SELECT range AS x, 'text ' || range AS s, range / 2 AS f "
                         f"FROM range({2 * VIEW_ROWS})").to_arrow_reader(50_000)
        batches = list(reader)
    finally:
        con.close()
    ranges = [(b.address, b.address + b.size) for batch in batches
              for column in batch.columns for b in column.buffers() if b]
    builder = ArrowFrameBuilder(["x", "s", "f"])
    for batch in batches:
        builder.add(batch)
    frame = builder.frame()
    for name in ("x", "f"):
        values = frame[name].to_numpy()
        assert not _overlaps(values.__array_interface__["data"][0], values.nbytes, ranges)
    text = pa.chunked_array(frame["s"].array._pa_array)
    assert not any(_overlaps(b.address, b.size, ranges)
                   for chunk in text.chunks for b in chunk.buffers() if b)
    assert frame["s"].tolist() == [f"text {i}" for i in range(2 * VIEW_ROWS)]
    assert frame["x"].tolist() == list(range(2 * VIEW_ROWS))


def test_a_duckdb_text_column_whose_last_batch_is_small_comes_back_whole():
    """A batch of at most 1,024 rows after a large one: the large one's text was copied as
    large_string and the small one kept as string, and joining them failed (ArrowTypeError)."""
    from sqlnb.engines.duckdb import BATCH_ROWS

    with sqlnb.connect("duckdb://") as duck:
        frame = duck.query(f"SELECT 'x' || range AS s FROM range({BATCH_ROWS + 100})")
    assert frame["s"].dtype == STR
    assert frame["s"].tolist() == [f"x{i}" for i in range(BATCH_ROWS + 100)]


def _big_batches(rows: int, per_batch: int) -> tuple[list, dict[str, list]]:
    """Arrow batches of `rows` rows in all, each a slice of a larger batch (an offset in every
    buffer), with numbers, booleans, text of every width, a DECIMAL, and NULLs that first come
    late; and the values each column must give."""
    import decimal

    import pyarrow as pa

    late = rows * 3 // 4  # the first NULL of `n`, `b` and `t`
    expected: dict[str, list] = {
        "i": list(range(rows)),
        "n": [None if i >= late and i % 7 == 0 else -i for i in range(rows)],
        "u": [2**64 - 1 - i for i in range(rows)],
        "f": [None if i % 5 == 0 else i / 4 for i in range(rows)],
        "b": [None if i >= late and i % 3 == 0 else i % 2 == 0 for i in range(rows)],
        "t": [None if i >= late and i % 11 == 0 else "" if i % 13 == 0 else f"\u00e9t\u00e9 {i}"
              for i in range(rows)],
        "w": [f"{i:x}" * (i % 4) for i in range(rows)],
        "d": [None if i % 17 == 0 else decimal.Decimal(i) / 100 for i in range(rows)],
    }
    types = {"i": pa.int64(), "n": pa.int64(), "u": pa.uint64(), "f": pa.float64(),
             "b": pa.bool_(), "t": pa.string(), "w": pa.large_string(),
             "d": pa.decimal128(12, 2)}
    batches = []
    for start in range(0, rows, per_batch):
        end = min(start + per_batch, rows)
        padded = {name: [values[start], *values[start:end]]
                  for name, values in expected.items()}
        whole = pa.record_batch([pa.array(padded[name], types[name]) for name in expected],
                                names=list(expected))
        batches.append(whole.slice(1))
    return batches, expected


@pytest.mark.parametrize("how", ["in place", "by copy", "refused populate"])
def test_a_large_arrow_result_keeps_every_value_as_its_columns_grow(monkeypatch, how):
    """Past VIEW_ROWS the columns grow as batches come (in place where the OS can remap memory,
    else by copying; each region backed before it is written, where the kernel can): every
    value, NULL and dtype must come through either way."""
    from sqlnb import results

    if how == "by copy":
        monkeypatch.setattr(results, "_GROWS_IN_PLACE", False)
    if how == "refused populate":  # as an older kernel refuses MADV_POPULATE_WRITE
        monkeypatch.setattr(results, "_POPULATE_WRITE", 9999)
    rows = results.VIEW_ROWS * 3 + 12_345
    batches, expected = _big_batches(rows, 40_000)
    builder = results.ArrowFrameBuilder(list(expected))
    for batch in batches:
        builder.add(batch)
    del batches
    frame = builder.frame()
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        "i": "int64", "n": "Int64", "u": "uint64", "f": "float64", "b": "boolean",
        "t": "str", "w": "str", "d": "float64"}
    assert frame["i"].tolist() == expected["i"]
    assert frame["n"].tolist() == [pd.NA if v is None else v for v in expected["n"]]
    assert frame["u"].tolist() == expected["u"]
    assert [None if math.isnan(v) else v for v in frame["f"].tolist()] == expected["f"]
    assert frame["b"].tolist() == [pd.NA if v is None else v for v in expected["b"]]
    assert [None if isinstance(v, float) else v for v in frame["t"].tolist()] == expected["t"]
    assert frame["w"].tolist() == expected["w"]
    assert [None if math.isnan(v) else v for v in frame["d"].tolist()] == [
        None if v is None else float(v) for v in expected["d"]]
    # the frame's numbers can be changed, as any DataFrame's
    frame.loc[0, "i"] = -1
    assert frame["i"][0] == -1
    if how == "refused populate":
        assert results._POPULATE_WRITE is None  # not asked again


@given(sizes=st.lists(st.integers(0, 9), max_size=12), rows=st.integers(1, 7))
def test_rechunk_gives_chunks_of_exactly_the_rows_asked_and_keeps_the_order(sizes, rows):
    """Link.chunks regroups an engine's Arrow batches: every chunk but the last holds exactly
    `rows` rows, the last at most that, and the values come out whole and in order."""
    import pyarrow as pa
    values = iter(range(sum(sizes)))
    batches = [pa.record_batch({"v": [next(values) for _ in range(n)]}) for n in sizes]
    chunks = list(rechunk(iter(batches), rows))
    counts = [sum(batch.num_rows for batch in chunk) for chunk in chunks]
    assert all(count == rows for count in counts[:-1])
    assert not counts or 0 < counts[-1] <= rows
    out = [v for chunk in chunks for batch in chunk for v in batch.column(0).to_pylist()]
    assert out == list(range(sum(sizes)))
