"""[spark] sqlnb on Spark SQL through Spark Connect, against the bare Spark Connect client.

A local Spark Connect server (local[2], started for the case), a table of 1M rows x 5 columns
(200,000 under --quick; BIGINT, BIGINT, INT, DOUBLE, STRING, as parquet):
- bulk: `SELECT * FROM t` into a DataFrame: `spark.sql(q).toArrow().to_pandas()` (baseline) and
  `db.query`, interleaved; the query itself runs in both, so the ratio is the cost of the way to
  the DataFrame plus sqlnb's own.
- magic: `SELECT 42 AS answer` through the bare client (`toArrow().to_pandas()`, baseline),
  `db.query`, and sqlnb's `%sql`.
- cancel: from `cancel()` to QueryCancelled in the caller, for a long aggregate 2 s in.
Targets: db.query <= 1.2x the bare client's time on the bulk read; the magic <= 1.2x the bare
call; cancel median <= 500 ms.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import sqlnb

from ..context import Context
from ..env import optional
from ..report import CaseResult, Table, compare
from ..runner import Contender, cancel_ms, per_call_us, round_robin, seconds

ID = "spark"
TITLE = "Spark Connect: bulk into a DataFrame, the magic, cancel"
BULK = "SELECT * FROM t"
SMALL = "SELECT 42 AS answer"
SLOW = "SELECT count(*) FROM range(0, 1000000000000000, 1, 16)"
BARE, QUERY, MAGIC = "toArrow().to_pandas()", "db.query", "sqlnb %sql"


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    if optional("pyspark.sql.connect.session", "pyspark[connect]", result.notes) is None:
        return result
    from sqlnb.engines.spark import LocalServer

    rows = ctx.pick(1_000_000, 200_000)
    with contextlib.ExitStack() as stack:
        server = LocalServer("local[2]")
        stack.callback(server.stop)
        db = sqlnb.connect(server.url, time_limit=600)
        stack.callback(db.close)
        spark = _bare_session(server.url)
        stack.callback(spark.stop)
        db.write("CREATE TABLE t USING parquet AS SELECT id, (id * 7919) % 1000003 AS a, "
                 "CAST(hash(id) AS INT) AS h, id / 3.0 AS b, concat('v', id % 100000) AS c "
                 f"FROM range({rows})")
        bulk = _bulk(db, spark, rows, ctx.pick(7, 3))
        magic = _magic(db, spark, ctx.pick(30, 3), ctx.pick(7, 3))  # ~80 ms a call
        cancels = _cancels(db, ctx.pick(7, 3))
    result.tables += [bulk, magic, cancels]
    result.targets += [
        compare("db.query / bare client, 1M-row read", bulk.ratio(QUERY), "<=", 1.2),
        compare("sqlnb %sql / bare client, small query", magic.ratio(MAGIC), "<=", 1.2),
        compare("cancel -> QueryCancelled, median", cancels.median("a long aggregate"), "<=",
                500, unit="ms"),
    ]
    return result


def _bare_session(url: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pyspark.sql.connect.session import SparkSession

        return SparkSession.builder.remote(url).create()


def _bulk(db: sqlnb.Database, spark: Any, rows: int, repeats: int) -> Table:
    contenders = [
        Contender(BARE, lambda: seconds(lambda: spark.sql(BULK).toArrow().to_pandas()),
                  "baseline"),
        Contender(QUERY, lambda: seconds(lambda: db.query(BULK))),
    ]
    return Table(f"SELECT * of {rows:,} rows x 5 columns into a DataFrame, {repeats} samples",
                 "s", round_robin(contenders, repeats), baseline=BARE)


def _magic(db: sqlnb.Database, spark: Any, calls: int, repeats: int) -> Table:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    sqlnb.load_ipython_extension(shell)
    try:
        shell.user_ns["bench_spark"] = db
        shell.run_line_magic("sqlnb", "use bench_spark")
        contenders = [
            Contender(BARE, lambda: per_call_us(
                lambda _i: spark.sql(SMALL).toArrow().to_pandas(), calls), "baseline"),
            Contender(QUERY, lambda: per_call_us(lambda _i: db.query(SMALL), calls)),
            Contender(MAGIC, lambda: per_call_us(
                lambda _i: shell.run_line_magic("sql", SMALL), calls)),
        ]
        return Table(f"{SMALL}, {calls} calls per sample, {repeats} samples", "us/call",
                     round_robin(contenders, repeats), baseline=BARE)
    finally:
        sqlnb.unload_ipython_extension(shell)


def _cancels(db: sqlnb.Database, repeats: int) -> Table:
    def latency() -> float:
        return cancel_ms(db.submit(SLOW, time_limit=math.inf), 2)

    return Table(f"cancel() -> QueryCancelled, 2 s in, {repeats} samples", "ms",
                 round_robin([Contender("a long aggregate", latency)], repeats, warmup=0))
