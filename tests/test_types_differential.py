"""Each engine's values against its own Python client (issue 19's differential checks).

Edge values (NULLs, DECIMAL of several precisions and scales, HUGEINT, UBIGINT, dates and
timestamps with infinity and time zones, intervals, lists with NULLs, structs, maps, unions,
enums, blobs, 0-row results) go through sqlnb and through the engine's own client: duckdb's
`fetchall()` (and `df()` where it is right), pyspark's `collect()` and `toPandas()`, sqlite3's
`fetchall()`. Each pair must agree under the mapping the type tables of docs/engines/ document: a
`Result`'s rows are the client's Python values, a DataFrame's columns take the documented dtype,
and where sqlnb decided otherwise than the client (a DECIMAL is the nearest float, an interval
with months is a DateOffset, ...) the test says so in the case's mapping.

Comparisons are exact: an int is never equal to a rounded float, a list is a list (not a numpy
array), a date is a date (not a Timestamp).
"""

from __future__ import annotations

import datetime
import decimal
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import sqlnb
from sqlnb.results import ArrowFrameBuilder

duckdb = pytest.importorskip("duckdb")

#: The session time zone the tests set on both sides (not UTC, so a zone that is lost shows).
ZONE = "America/New_York"


def same(got: Any, expected: Any) -> bool:
    """Exact equality: NULL matches only a missing value, numbers compare by value within their
    family (an int never equals a rounded float), containers and other values by type too."""
    if expected is None or expected is pd.NaT:
        return got is None or (not isinstance(got, (list, dict, tuple, np.ndarray))
                               and bool(pd.isna(got)))
    if isinstance(expected, bool):
        return isinstance(got, (bool, np.bool_)) and bool(got) == expected
    if isinstance(expected, int):
        return (isinstance(got, (int, np.integer)) and not isinstance(got, bool)
                and int(got) == expected)
    if isinstance(expected, float):
        return isinstance(got, (float, np.floating)) and (
            float(got) == expected or (math.isnan(got) and math.isnan(expected)))
    if isinstance(expected, list):
        return type(got) is list and len(got) == len(expected) and all(
            same(g, e) for g, e in zip(got, expected))
    if isinstance(expected, dict):
        return type(got) is dict and list(got) == list(expected) and all(
            same(got[k], expected[k]) for k in expected)
    return type(got) is type(expected) and got == expected


def assert_same(got: list[Any], expected: list[Any], what: str) -> None:
    assert len(got) == len(expected), f"{what}: {len(got)} values, expected {len(expected)}"
    wrong = [(i, g, e) for i, (g, e) in enumerate(zip(got, expected)) if not same(g, e)]
    assert not wrong, f"{what}: (row, sqlnb, expected) {wrong[:5]}"


def assert_agrees(db: Any, raw: Any, case: Case) -> Any:
    """sqlnb's rows and DataFrame column for `case` against what the engine's own client
    (`raw`, with a DB-API execute) gives; the DataFrame, for more checks."""
    sql = case.sql()
    client = [v for (v,) in raw.execute(case.sql(case.raw_as)).fetchall()]
    rows = [v for (v,) in db.submit(sql).result().rows]
    assert_same(rows, [None if v is None else case.row(v) for v in client], "Result rows")
    frame = db.query(sql)
    assert str(frame["v"].dtype) == case.dtype
    assert_same(frame["v"].tolist(), [None if v is None else case.frame(v) for v in client],
                "DataFrame")
    return frame


def keep(value: Any) -> Any:
    return value


def timestamp(value: Any) -> Any:
    return pd.Timestamp(value)


def nearest(value: decimal.Decimal) -> float:
    return float(value)  # Python's float() of a Decimal is correctly rounded


def pylist(value: Any) -> Any:
    """The duckdb client's fixed-size ARRAY is a tuple; sqlnb gives every list as a list."""
    return list(value)


def decimals(values: list[Any]) -> list[Any]:
    return [None if v is None else decimal.Decimal(v) for v in values]


def text(value: Any) -> str:
    return str(value)


def nanoseconds(value: str) -> Any:
    """A TIMESTAMP_NS value keeps its nanoseconds as a pandas Timestamp (the duckdb client's
    datetime drops them, so the client reads its text); infinity is datetime.max/min."""
    infinite = {"infinity": datetime.datetime.max, "-infinity": datetime.datetime.min}
    return infinite.get(value) or pd.Timestamp(value)


def zoned(value: datetime.datetime) -> datetime.datetime:
    """The duckdb client gives TIMESTAMPTZ's infinities naive; sqlnb keeps the column's zone."""
    from zoneinfo import ZoneInfo

    return value.replace(tzinfo=ZoneInfo(ZONE)) if value.tzinfo is None else value


@dataclass
class Case:
    """Values of one type: `values` are SQL expressions, one per row (NULL among them)."""

    name: str
    values: list[str]
    dtype: str  # the DataFrame column's dtype
    row: Callable[[Any], Any] = keep  # the client's value -> a Result's value
    frame: Callable[[Any], Any] = keep  # the client's value -> the DataFrame's value
    raw_as: str | None = None  # the client cannot fetch the type: it reads it cast to this

    def sql(self, cast: str | None = None) -> str:
        rows = ", ".join(f"({k}, {v})" for k, v in enumerate(self.values))
        column = f"CAST(v AS {cast})" if cast else "v"
        return f"SELECT {column} AS v FROM (VALUES {rows}) t(k, v) ORDER BY k"


def from_text(kind: Callable[[str], Any]) -> Callable[[Any], Any]:
    return lambda value: kind(value)


DUCKDB_CASES = [
    Case("bigint_with_null", ["9007199254740993::BIGINT", "NULL", "(-9223372036854775808)::BIGINT"],
         "Int64"),
    Case("integer", ["1::INTEGER", "(-2147483648)::INTEGER"], "int32"),
    Case("ubigint", ["18446744073709551615::UBIGINT", "0::UBIGINT"], "uint64"),
    Case("ubigint_with_null", ["18446744073709551615::UBIGINT", "NULL"], "UInt64"),
    Case("hugeint_sum", ["(SELECT sum(x) FROM (VALUES (9007199254740992), (1)) s(x))"],
         "int64"),
    Case("hugeint_with_null", ["9223372036854775807::HUGEINT", "NULL", "-1::HUGEINT"], "Int64"),
    Case("hugeint_beyond_int64",
         ["170141183460469231731687303715884105727::HUGEINT", "-5::HUGEINT", "NULL"], "object"),
    Case("uhugeint_beyond_int64",
         ["340282366920938463463374607431768211455::UHUGEINT", "7::UHUGEINT"], "object"),
    Case("decimal", ["2.675", "-999.9", "NULL", "0.1", "1e-3::DECIMAL(4,3)"], "float64",
         frame=nearest),
    Case("decimal_4_1", ["-999.9::DECIMAL(4,1)", "0.3::DECIMAL(4,1)"], "float64",
         frame=nearest),
    Case("decimal_18_2", ["1234567890123456.78::DECIMAL(18,2)", "-0.07::DECIMAL(18,2)"],
         "float64", frame=nearest),
    Case("decimal_38_10", ["1234567890123456789012345678.0123456789::DECIMAL(38,10)",
                           "-0.0000000001::DECIMAL(38,10)", "NULL"], "float64", frame=nearest),
    Case("decimal_38_30", ["0.123456789012345678901234567891::DECIMAL(38,30)",
                           "-9.999999999999999999999999999999::DECIMAL(38,30)"], "float64",
         frame=nearest),
    Case("decimal_18_0", ["999999999999999999::DECIMAL(18,0)", "-1::DECIMAL(18,0)"], "float64",
         frame=nearest),
    Case("double", ["2.5::DOUBLE", "NULL", "'nan'::DOUBLE", "'-inf'::DOUBLE"], "float64"),
    Case("boolean", ["true", "NULL", "false"], "boolean"),
    Case("varchar", ["'é'", "NULL", "''"], "str"),
    Case("blob", ["'\\x00\\xFF'::BLOB", "NULL", "''::BLOB"], "object"),
    Case("enum", ["'b'::ENUM('a', 'b')", "NULL", "'a'::ENUM('a', 'b')"], "category"),
    Case("uuid", ["UUID 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "NULL"], "str", row=text,
         frame=text),
    Case("bit", ["'0101'::BIT", "NULL", "'1'::BIT"], "str"),
    Case("time", ["TIME '12:34:56.789'", "NULL"], "object"),
    Case("timetz", ["TIMETZ '12:00:00+02'", "NULL"], "str", raw_as="VARCHAR"),
    Case("bignum", ["'1267650600228229401496703205376'::BIGNUM", "-7::BIGNUM", "NULL"], "object",
         row=from_text(int), frame=from_text(int), raw_as="VARCHAR"),
    Case("date", ["DATE '2024-02-29'", "NULL", "DATE '0001-01-01'", "DATE '9999-12-31'"],
         "datetime64[ms]", frame=timestamp),
    Case("date_infinity", ["'infinity'::DATE", "'-infinity'::DATE", "DATE '2024-01-01'",
                           "NULL"], "object"),
    Case("timestamp", ["TIMESTAMP '2024-02-29 12:34:56.123456'", "NULL"], "datetime64[us]",
         frame=timestamp),
    Case("timestamp_infinity", ["'infinity'::TIMESTAMP", "'-infinity'::TIMESTAMP",
                                "TIMESTAMP '2024-01-01 10:00:00'", "NULL"], "object"),
    Case("timestamp_ns", ["TIMESTAMP_NS '2024-01-01 10:00:00.123456789'", "NULL"],
         "datetime64[ns]", row=nanoseconds, frame=nanoseconds, raw_as="VARCHAR"),
    Case("timestamp_ns_infinity", ["'infinity'::TIMESTAMP_NS", "'-infinity'::TIMESTAMP_NS",
                                   "TIMESTAMP_NS '2024-01-01 10:00:00.5'"], "object",
         row=nanoseconds, frame=nanoseconds, raw_as="VARCHAR"),
    Case("timestamp_s", ["TIMESTAMP_S '2024-01-01 10:00:00'", "NULL"], "datetime64[s]",
         frame=timestamp),
    Case("timestamptz", ["TIMESTAMPTZ '2024-01-01 10:00:00+02'", "NULL"],
         f"datetime64[us, {ZONE}]", frame=timestamp),
    Case("timestamptz_infinity", ["'infinity'::TIMESTAMPTZ", "'-infinity'::TIMESTAMPTZ",
                                  "TIMESTAMPTZ '2024-01-01 10:00:00+02'"], "object",
         row=zoned, frame=zoned),
    Case("interval", ["INTERVAL 90 MINUTE", "NULL", "INTERVAL '2 days 3 microseconds'"],
         "timedelta64[us]", frame=pd.Timedelta),
    Case("list_with_null", ["[1, 2, NULL]", "NULL", "[]", "[9007199254740993, NULL]"],
         "object"),
    Case("nested_list", ["[[1, NULL], NULL, []]", "[[3]]"], "object"),
    Case("list_of_dates", ["[DATE '2024-01-01', NULL]", "NULL"], "object"),
    Case("array", ["[1, 2]::INTEGER[2]", "NULL", "[NULL, 3]::INTEGER[2]"], "object",
         row=pylist, frame=pylist),
    Case("struct", ["{'a': 1, 'b': [1, NULL], 'c': NULL}", "NULL",
                    "{'a': 9007199254740993, 'b': [], 'c': 'x'}"], "object"),
    Case("map", ["MAP {'a': 1, 'b': NULL}", "NULL", "MAP {}::MAP(VARCHAR, INTEGER)"],
         "object"),
    Case("list_of_maps", ["[MAP {1: 'x'}, NULL]"], "object"),
    Case("nested_infinity", ["['infinity'::DATE, DATE '2024-01-01', NULL]", "NULL",
                             "['-infinity'::DATE]"], "object"),
    Case("struct_infinity", ["{'t': 'infinity'::TIMESTAMP, 'n': 1}", "NULL",
                             "{'t': NULL, 'n': 2}"], "object"),
    Case("map_infinity", ["MAP {'a': 'infinity'::DATE, 'b': NULL}"], "object"),
    # documented: a HUGEINT inside a LIST comes as Arrow carries it, a Decimal
    Case("list_of_hugeint", ["[1::HUGEINT, NULL]"], "object", row=decimals, frame=decimals),
    Case("union", ["union_value(num := 2)::UNION(num INTEGER, str VARCHAR)",
                   "'x'::UNION(num INTEGER, str VARCHAR)", "NULL"], "object"),
    Case("null", ["NULL", "NULL"], "object"),
]


@pytest.fixture(scope="module")
def duck(tmp_path_factory):
    """sqlnb on a DuckDB file and duckdb's own client (in memory), in the same time zone."""
    path = tmp_path_factory.mktemp("types") / "types.duckdb"
    db = sqlnb.connect(path)
    db.write(f"SET TimeZone = '{ZONE}'")
    raw = duckdb.connect()
    raw.execute(f"SET TimeZone = '{ZONE}'")
    yield db, raw
    raw.close()
    db.close()


@pytest.mark.parametrize("case", DUCKDB_CASES, ids=lambda case: case.name)
def test_duckdb_values_agree_with_the_duckdb_client(duck, case):
    db, raw = duck
    assert_agrees(db, raw, case)


@pytest.mark.parametrize("case", [c for c in DUCKDB_CASES if c.dtype != "object"],
                         ids=lambda case: case.name)
def test_a_duckdb_result_without_rows_has_the_dtype_a_result_with_rows_has(duck, case):
    """A 0-row result's columns were object whatever DuckDB said they are (issue 19 #5)."""
    db, _raw = duck
    dtype = {"Int64": "int64", "UInt64": "uint64", "boolean": "bool"}.get(
        case.dtype, case.dtype)  # no NULLs: numpy's own dtypes, as for rows without NULLs
    frame = db.query(f"SELECT * FROM ({case.sql()}) WHERE false")
    assert len(frame) == 0 and str(frame["v"].dtype) == dtype


def test_a_duckdb_interval_with_months_is_a_date_offset(duck):
    """The duckdb client counts a month as 30 days (INTERVAL 1 MONTH -> timedelta(days=30));
    sqlnb keeps the months, as pandas' DateOffset, which adds calendar months to a Timestamp."""
    db, raw = duck
    sql = ("SELECT v FROM (VALUES (1, INTERVAL 1 MONTH), (2, INTERVAL '1 year 2 days 3 seconds'),"
           " (3, INTERVAL 5 MINUTE), (4, NULL)) t(k, v) ORDER BY k")
    expected = [pd.DateOffset(months=1), pd.DateOffset(months=12, days=2, seconds=3),
                datetime.timedelta(minutes=5), None]
    for got in (db.query(sql)["v"].tolist(), [v for (v,) in db.submit(sql).result().rows]):
        assert got[:3] == expected[:3] and got[3] is None
    # the client's own value is the same interval with a month as 30 days
    client = [v for (v,) in raw.execute(sql).fetchall()]
    assert client[:3] == [datetime.timedelta(days=30), datetime.timedelta(days=362, seconds=3),
                          datetime.timedelta(minutes=5)]
    assert pd.Timestamp("2024-01-31") + db.query(sql)["v"][0] == pd.Timestamp("2024-02-29")


@pytest.mark.parametrize("scale", [0, 1, 2, 3, 4, 6, 9, 12, 15, 17, 18])
def test_duckdb_decimal_18_s_is_the_nearest_float(duck, scale):
    """A seeded sweep of DECIMAL(18, s): every value must be the float nearest to it (Arrow's
    cast to double was off by one unit in the last place for 13-36% of them: issue 19 #1)."""
    db, raw = duck
    rng = random.Random(scale)
    unscaled = ([rng.randrange(-10**18 + 1, 10**18) for _ in range(1500)]
                + [rng.randrange(-10**7, 10**7) for _ in range(1500)]
                + [10**18 - 1, -(10**18 - 1), 2**53 + 1, -(2**53 + 1), 0])
    texts = [format(decimal.Decimal(u).scaleb(-scale), "f") for u in unscaled]
    sql = (f"SELECT CAST(v AS DECIMAL(18, {scale})) AS v FROM unnest(:v) WITH ORDINALITY t(v, k) "
           "ORDER BY k")
    frame = db.query(sql, {"v": texts})
    assert frame["v"].dtype == "float64"
    assert_same(frame["v"].tolist(), [u / 10**scale for u in unscaled], "DataFrame")
    client = [v for (v,) in raw.execute(sql.replace(":v", "$v"), {"v": texts}).fetchall()]
    assert [float(v) for v in client] == [u / 10**scale for u in unscaled]


def test_a_large_duckdb_decimal_column_is_exact_in_every_batch(duck):
    """300,000 rows: many Arrow batches, the column grown in place, NULLs among them; beside
    it text, dates and lists, whose batches are copied and joined."""
    db, raw = duck
    sql = ("SELECT CASE WHEN range % 1000 = 7 THEN NULL ELSE CAST(CASE WHEN range % 2 = 0 "
           "THEN '-' ELSE '' END || CAST(u // 10000 AS VARCHAR) || '.' || "
           "lpad(CAST(u % 10000 AS VARCHAR), 4, '0') AS DECIMAL(18, 4)) END AS v, "
           "'row ' || range AS s, DATE '2024-01-01' + CAST(range % 1000 AS INTEGER) AS day, "
           "[range, NULL] AS l "
           "FROM (SELECT range, hash(range) % 1000000000000000000 AS u FROM range(300000)) "
           "ORDER BY range")
    client = raw.execute(sql).fetchall()
    frame = db.query(sql)
    assert_same(frame["v"].tolist(), [None if r[0] is None else float(r[0]) for r in client],
                "DataFrame")
    assert frame["s"].tolist() == [r[1] for r in client]
    assert frame["day"].tolist() == [pd.Timestamp(r[2]) for r in client]
    assert frame["l"].tolist() == [r[3] for r in client]


def test_a_hugeint_column_that_outgrows_int64_in_a_later_batch_keeps_every_value(duck):
    db, raw = duck
    sql = ("SELECT range::HUGEINT * CASE WHEN range = 299999 THEN 100000000000000000000 "
           "ELSE 1 END AS v FROM range(300000) ORDER BY range")
    client = [v for (v,) in raw.execute(sql).fetchall()]
    frame = db.query(sql)
    assert frame["v"].dtype == object
    assert_same(frame["v"].tolist(), client, "DataFrame")
    small = db.query("SELECT sum(range) AS v FROM range(300000) GROUP BY range % 3 ORDER BY 1")
    assert small["v"].dtype == "int64"


def test_duckdb_chunks_map_types_as_query_does(duck):
    db, _raw = duck
    sql = ("SELECT sum(x) AS s, 2.675 AS d, [1, NULL] AS l, 'infinity'::DATE AS day "
           "FROM (VALUES (9007199254740992), (1)) t(x)")
    (chunk,) = list(db.iter_chunks(sql, chunk_rows=10))
    assert chunk["s"].tolist() == [9007199254740993] and chunk["s"].dtype == "int64"
    assert chunk["d"].tolist() == [2.675]
    assert chunk["l"].tolist() == [[1, None]]
    assert chunk["day"].tolist() == [datetime.date.max]


def test_duckdb_first_rows_of_a_result_with_infinity_show(duck):
    """The first rows (the widget's preview) were taken with to_pylist, which raised on an
    infinite date; the query failed with it (issue 19 #4)."""
    db, _raw = duck
    handle = db.submit("SELECT 'infinity'::DATE AS d, range AS r FROM range(300000)",
                       dataframe=True)
    frame = handle.result()
    assert frame["d"].tolist()[:1] == [datetime.date.max]
    assert handle.first_rows is not None and handle.first_rows["d"][0] == datetime.date.max


# -- the Arrow fallback: no column type fails a query -------------------------------------------

def test_an_arrow_type_pandas_cannot_take_becomes_python_values():
    """A type pandas has no block for (a dense union, run-end encoded, list views) is an
    object column of each value as Arrow's to_pylist gives it, never an error."""
    dense = pa.UnionArray.from_dense(pa.array([0, 1, 0], pa.int8()),
                                     pa.array([0, 0, 1], pa.int32()),
                                     [pa.array([1, 2]), pa.array(["x"])], ["n", "s"])
    run_ends = pa.RunEndEncodedArray.from_arrays(pa.array([2, 3], pa.int32()),
                                                 pa.array([5, None]))
    views = pa.ListViewArray.from_arrays(pa.array([0, 1, 0], pa.int32()),
                                         pa.array([1, 2, 0], pa.int32()), pa.array([7, 8, 9]))
    batch = pa.RecordBatch.from_arrays([dense, run_ends, views], names=["u", "r", "v"])
    builder = ArrowFrameBuilder(batch.schema.names)
    builder.add(batch)
    frame = builder.frame()
    assert frame["u"].tolist() == [1, "x", 2]
    assert frame["r"].tolist()[:2] == [5, 5] and pd.isna(frame["r"][2])
    assert frame["v"].tolist() == [[7], [8, 9], []]


def test_an_arrow_schema_without_batches_gives_typed_columns():
    schema = pa.schema([("i", pa.int32()), ("d", pa.decimal128(10, 2)), ("s", pa.string()),
                        ("t", pa.timestamp("us", "UTC")), ("l", pa.list_(pa.int64()))])
    frame = ArrowFrameBuilder(schema.names, schema).frame()
    assert [str(t) for t in frame.dtypes] == ["int32", "float64", "str", "datetime64[us, UTC]",
                                             "object"]


# -- Spark, against pyspark's own client ----------------------------------------------------

SPARK_SQL = (
    "SELECT * FROM VALUES "
    "(1, 2.675BD, CAST(-999.9 AS DECIMAL(4,1)), CAST('12345678901234567890.0123456789' AS "
    "DECIMAL(38,10)), 9007199254740993L, array(1, 2, NULL), array(9007199254740993L, NULL), "
    "map('a', 1, 'b', NULL), named_struct('a', 1, 'b', array(1, NULL)), DATE'2024-02-29', "
    "TIMESTAMP'2024-02-29 12:34:56.123456', TIMESTAMP_NTZ'2024-02-29 12:34:56.123456', "
    "INTERVAL '1 02:03:04.000005' DAY TO SECOND, X'00FF', true), "
    "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) "
    "AS t(k, d, d41, d38, big, l, lbig, m, st, day, ts, ntz, iv, b, flag) ORDER BY k")


@pytest.fixture(scope="module")
def sparks(spark_url):
    """sqlnb on the test session's Spark Connect server, and pyspark's own session there, both
    in the time zone ZONE."""
    from pyspark.sql import SparkSession

    db = sqlnb.connect(spark_url)
    db.write(f"SET TIME ZONE '{ZONE}'")
    raw = SparkSession.builder.remote(spark_url).create()
    raw.conf.set("spark.sql.session.timeZone", ZONE)
    yield db, raw
    raw.stop()
    db.close()


def test_spark_values_agree_with_pyspark(sparks):
    db, raw = sparks
    frame = db.query(SPARK_SQL)
    rows = db.submit(SPARK_SQL).result().rows
    client = [row.asDict(recursive=True) for row in raw.sql(SPARK_SQL).collect()]
    pandas = raw.sql(SPARK_SQL).toPandas()
    assert [str(t) for t in frame.dtypes] == [
        "int32", "float64", "float64", "float64", "Int64", "object", "object", "object",
        "object", "datetime64[ms]", f"datetime64[us, {ZONE}]", "datetime64[us]",
        "timedelta64[us]", "object", "boolean"]
    for name in ("d", "d41", "d38"):  # the nearest float (pyspark keeps the Decimal)
        assert_same(frame[name].tolist(), [None if r[name] is None else nearest(r[name])
                                           for r in client], name)
        assert_same([row[frame.columns.get_loc(name)] for row in rows],
                    [r[name] for r in client], name)
    for name in ("big", "l", "lbig", "m", "st", "b", "flag"):  # the client's values, exactly
        expected = [None if r[name] is None else (bytes(r[name]) if name == "b" else r[name])
                    for r in client]
        assert_same(frame[name].tolist(), expected, name)
        assert_same([row[frame.columns.get_loc(name)] for row in rows], expected, name)
    assert_same(frame["day"].tolist(), [None if r["day"] is None else pd.Timestamp(r["day"])
                                        for r in client], "day")
    assert_same(frame["iv"].tolist(), [None if r["iv"] is None else pd.Timedelta(r["iv"])
                                       for r in client], "iv")
    # TIMESTAMP is an instant: aware, in the session's time zone, the wall time pyspark's
    # toPandas gives (naive); TIMESTAMP_NTZ is that wall time, naive, as pyspark gives it
    assert_same(frame["ts"].dt.tz_localize(None).tolist(), pandas["ts"].tolist(), "ts")
    assert_same(frame["ntz"].tolist(), pandas["ntz"].tolist(), "ntz")
    assert frame["ts"][0] == pd.Timestamp("2024-02-29 12:34:56.123456", tz=ZONE)
    assert rows[0][frame.columns.get_loc("ts")] == frame["ts"][0]


def test_a_spark_result_without_rows_is_typed(sparks):
    db, _raw = sparks
    frame = db.query(f"SELECT * FROM ({SPARK_SQL}) WHERE false")
    assert [str(t) for t in frame.dtypes] == [
        "int32", "float64", "float64", "float64", "int64", "object", "object", "object",
        "object", "datetime64[ms]", f"datetime64[us, {ZONE}]", "datetime64[us]",
        "timedelta64[us]", "object", "bool"]


# -- SQLite, against sqlite3 ------------------------------------------------------------------

SQLITE_SQL = ("SELECT * FROM (VALUES (1, 9007199254740993, 2.5, NULL, x'00ff', 'é', 1), "
              "(2, 1.5, 3, NULL, NULL, NULL, NULL), (3, NULL, -0.0, NULL, x'', '', 2)) "
              "ORDER BY 1")


def test_sqlite_values_agree_with_sqlite3(tmp_path):
    import sqlite3

    raw = sqlite3.connect(":memory:")
    client = raw.execute(SQLITE_SQL).fetchall()
    raw.close()
    with sqlnb.connect(tmp_path / "t.db") as db:
        rows = db.submit(SQLITE_SQL).result().rows
        frame = db.query(SQLITE_SQL)
    assert [tuple(map(type, row)) for row in rows] == [tuple(map(type, r)) for r in client]
    assert rows == client
    assert [str(t) for t in frame.dtypes] == ["int64", "object", "float64", "object", "object",
                                             "str", "Int64"]
    for j in range(len(frame.columns)):
        expected = [r[j] for r in client]
        if j == 2:
            expected = [float(v) for v in expected]  # integers beside reals, exact as floats
        assert_same(frame.iloc[:, j].tolist(), expected, frame.columns[j])
    assert frame.iloc[:, 1].tolist()[0] == 9007199254740993  # not rounded at 2**53


def test_a_sqlite_result_without_rows_is_object():
    """SQLite's types belong to values, not columns: an empty result has none to give."""
    with sqlnb.connect() as db:
        frame = db.query("SELECT 1 AS i, 'x' AS s WHERE 0")
        assert list(frame.dtypes) == [object, object]

