"""[bulk] `SELECT * FROM t` (every row, 5 columns) into a DataFrame: time and peak memory.

Time, interleaved in this process: cursor.fetchall() alone (floor, rows not a DataFrame),
pandas.read_sql_query (baseline), db.query, adbc-driver-sqlite fetch_arrow_table().to_pandas()
(reported). Peak memory over the start: each contender in a fresh process per sample
(children/memory.py), also interleaved. Then three checks: a mixed-type column comes back as its
Python values; the time limit stops this fetch (QueryTimeout); cancel() stops it (QueryCancelled).
Targets: db.query <= 0.8x read_sql_query's time; db.query's peak <= 0.4x read_sql_query's.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time

import pandas as pd

import sqlnb

from ..context import Context
from ..data import scaled_source
from ..env import optional
from ..report import CaseResult, Table, Target, check, compare, guarded
from ..runner import Contender, round_robin, seconds
from ..subproc import run_once

ID = "bulk"
TITLE = "SELECT * FROM t into a DataFrame"
SQL = "SELECT * FROM t"
FETCHALL, PANDAS, QUERY, ADBC = "fetchall", "read_sql_query", "db.query", "adbc"
MIXED = [1, "three", 4.5]


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    adbc = optional("adbc_driver_sqlite.dbapi", "adbc-driver-sqlite", result.notes)
    timing = _timing(ctx, adbc, ctx.pick(5, 5))
    memory = _memory(ctx, adbc is not None, ctx.pick(3, 2))
    result.tables += [timing, memory]
    result.targets += [
        compare("db.query / read_sql_query, time", timing.ratio(QUERY), "<=", 0.8),
        compare("db.query / read_sql_query, peak memory", memory.ratio(QUERY), "<=", 0.4),
        *guarded("mixed-type column", lambda: [_mixed_types()]),
        *guarded("time limit and cancel() stop the bulk fetch", lambda: _stops(ctx)),
    ]
    if adbc is not None:
        result.notes.append(_adbc_mixed(ctx, adbc))
    return result


def _timing(ctx: Context, adbc: object, repeats: int) -> Table:
    with contextlib.ExitStack() as stack:
        raw = sqlite3.connect(ctx.table)
        stack.callback(raw.close)
        db = sqlnb.connect(ctx.table)
        stack.callback(db.close)
        contenders = [
            Contender(FETCHALL, lambda: seconds(lambda: raw.execute(SQL).fetchall()), "floor"),
            Contender(PANDAS, lambda: seconds(lambda: pd.read_sql_query(SQL, raw)), "baseline"),
            Contender(QUERY, lambda: seconds(lambda: db.query(SQL))),
        ]
        if adbc is not None:
            conn = adbc.connect(str(ctx.table))  # type: ignore[attr-defined]
            stack.callback(conn.close)

            def arrow() -> object:
                with conn.cursor() as cursor:
                    cursor.execute(SQL)
                    return cursor.fetch_arrow_table().to_pandas()

            contenders.append(Contender(ADBC, lambda: seconds(arrow)))
        return Table(f"time, {ctx.rows:,} rows, {repeats} samples", "s",
                     round_robin(contenders, repeats), baseline=PANDAS)


def _memory(ctx: Context, with_adbc: bool, repeats: int) -> Table:
    names = [FETCHALL, PANDAS, QUERY, *([ADBC] if with_adbc else [])]
    methods: set[str] = set()

    def in_child(name: str) -> float:
        reply = run_once("benchmarks.children.memory", name, str(ctx.table), SQL)
        if reply["rows"] != ctx.rows:
            raise RuntimeError(f"{name} returned {reply['rows']} rows, not {ctx.rows}")
        methods.add(reply["method"])
        return float(reply["delta_mb"])

    contenders = [Contender(n, lambda n=n: in_child(n),
                            {FETCHALL: "floor", PANDAS: "baseline"}.get(n, "")) for n in names]
    table = Table(f"peak memory over the start, a fresh process per sample, {repeats} samples",
                  "MB", round_robin(contenders, repeats, warmup=0), baseline=PANDAS)
    table.notes.append(f"peak measured as: {', '.join(sorted(methods)) or '-'}")
    return table


def _mixed_types() -> Target:
    label = "mixed-type column (1, 'three', 4.5) comes back as those Python values"
    with sqlnb.connect() as db:
        db.write("CREATE TABLE m (x)")
        db.write_many("INSERT INTO m VALUES (?)", [(v,) for v in MIXED])
        values = list(db.query("SELECT x FROM m ORDER BY rowid")["x"])
    same = [(type(v), v) for v in values] == [(type(v), v) for v in MIXED]
    return check(label, same, "got " + ", ".join(f"{v!r} ({type(v).__name__})" for v in values))


def _stops(ctx: Context) -> list[Target]:
    """The time limit and cancel() each stop a fetch of (at least) a million rows."""
    sql = f"SELECT * FROM {scaled_source(ctx.rows)}"
    limit = 0.2
    with sqlnb.connect(ctx.table) as db:
        start = time.perf_counter()
        try:
            db.query(sql, time_limit=limit)
            timed_out, outcome = False, "the query finished"
        except sqlnb.QueryTimeout:
            timed_out, outcome = True, "QueryTimeout"
        took = time.perf_counter() - start
        handle = db.submit(sql, dataframe=True, time_limit=60)
        time.sleep(0.1)
        start = time.perf_counter()
        handle.cancel()
        try:
            handle.result()
            cancelled, how = False, "the query finished"
        except sqlnb.QueryCancelled:
            cancelled, how = True, "QueryCancelled"
        after = time.perf_counter() - start
    return [
        check(f"time_limit={limit} stops the bulk fetch (QueryTimeout)", timed_out,
              f"{outcome} after {took * 1000:.0f} ms"),
        check("submit(...).cancel() stops the bulk fetch (QueryCancelled)", cancelled,
              f"{how} {after * 1000:.1f} ms after cancel(), 100 ms in"),
    ]


def _adbc_mixed(ctx: Context, adbc: object) -> str:
    """What adbc-driver-sqlite makes of the mixed-type column (reported, no target)."""
    path = ctx.scratch / "mixed.db"
    path.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE m (x)")
        conn.executemany("INSERT INTO m VALUES (?)", [(v,) for v in MIXED])
        conn.commit()
    conn = adbc.connect(str(path))  # type: ignore[attr-defined]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT x FROM m ORDER BY rowid")
            values = cursor.fetch_arrow_table().column("x").to_pylist()
    except Exception as error:
        values = [f"{type(error).__name__}: {error}"]
    finally:
        conn.close()
    path.unlink(missing_ok=True)
    return f"for reference, adbc-driver-sqlite reads the mixed-type column as {values!r}"
