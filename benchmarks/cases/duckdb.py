"""[duckdb] sqlnb on DuckDB, against DuckDB's own Python calls and JupySQL, in one run.

On one DuckDB file, `t` of 10M rows x 5 columns (1M under --quick; BIGINT, BIGINT with NULL in a
tenth of the rows, UBIGINT, DOUBLE, VARCHAR):
- bulk: `SELECT * FROM t` into a DataFrame: `con.execute(q).fetch_df()`, `con.sql(q)
  .to_arrow_table().to_pandas()` (the time baseline) and `db.query`, interleaved; peak memory
  over the start in a fresh process per sample (children/memory.py, cache cold alike), and the
  peak of DuckDB's stream of that result alone (the batches sqlnb reads, each dropped).
- magic: a one-row lookup (`WHERE id = 4242`): `con.execute(q).df()` (baseline), `db.query`,
  sqlnb's `%sql` on that Database, and JupySQL's `%sql duckdb:///...` (duckdb-engine) in a
  child process, sampled in turn.
- cancel: from `cancel()` to QueryCancelled in the caller, for an aggregate and for a bulk
  SELECT being fetched in Arrow batches.
- limiter: an aggregate over 50M generated rows through `db.query` with a 60 s limit, with
  none, and on a raw DuckDB cursor in a thread.
Targets: db.query <= 1.1x the Arrow path's time and <= 0.3x fetch_df's peak memory; the magic
<= 1.3x `df()`; JupySQL >= 5x the magic's time; cancel median <= 50 ms (both); the limiter
<= 1.03x no limit.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import statistics
import threading
from typing import Any

import sqlnb

from ..context import Context
from ..data import duckdb_file
from ..env import optional
from ..report import CaseResult, Table, compare
from ..runner import Contender, cancel_ms, per_call_us, round_robin, seconds
from ..subproc import Child, ChildError, run_once

ID = "duckdb"
TITLE = "DuckDB: bulk into a DataFrame, the magic, cancel, the limiter"
BULK = "SELECT * FROM t"
LOOKUP = "SELECT * FROM t WHERE id = 4242"
AGGREGATE = "SELECT sum(hash(range)) FROM range({rows})"
FETCH_DF, ARROW, QUERY = "fetch_df()", "to_arrow_table().to_pandas()", "db.query"
STREAM = "to_arrow_reader(), batches dropped"
DF, MAGIC, JUPYSQL = "df()", "sqlnb %sql", "JupySQL %sql duckdb:/// (fresh session)"


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    duckdb = optional("duckdb", "duckdb", result.notes)
    if duckdb is None:
        return result
    rows = ctx.pick(10_000_000, 1_000_000)
    path = duckdb_file(rows)
    timing = _bulk_time(duckdb, path, rows, ctx.pick(5, 3))
    memory = _bulk_memory(path, rows, ctx.pick(3, 2))
    magic = _magic(duckdb, path, ctx, result.notes)
    cancels = _cancels(path, ctx.pick(10, 5))
    limiter = _limiter(duckdb, path, ctx.pick(50_000_000, 20_000_000), ctx.pick(15, 5))
    result.tables += [timing, memory, magic, cancels, limiter]
    slowest = max((cancels.median(n) or math.inf) for n in ("an aggregate", "a bulk fetch"))
    result.targets += [
        compare("db.query / Arrow path, time", timing.ratio(QUERY), "<=", 1.1),
        compare("db.query / fetch_df, peak memory", memory.ratio(QUERY, FETCH_DF), "<=", 0.3),
        compare("sqlnb %sql / df()", magic.ratio(MAGIC), "<=", 1.3),
        compare("JupySQL %sql / sqlnb %sql", magic.ratio(JUPYSQL, MAGIC), ">=", 5,
                why_missing="no JupySQL figure"),
        compare("cancel -> QueryCancelled, median (the slower kind)", slowest, "<=", 50,
                unit="ms"),
        compare("limiter: 60 s limit / no limit", limiter.ratio("time_limit=60"), "<=", 1.03),
    ]
    return result


def _bulk_time(duckdb: Any, path: Any, rows: int, repeats: int) -> Table:
    with contextlib.ExitStack() as stack:
        db = sqlnb.connect(path, time_limit=600)
        stack.callback(db.close)
        # in one process DuckDB hands a second connect() of a file the same database instance
        con = duckdb.connect(str(path))
        stack.callback(con.close)
        contenders = [
            Contender(FETCH_DF, lambda: seconds(lambda: con.execute(BULK).fetch_df())),
            Contender(ARROW, lambda: seconds(lambda: con.sql(BULK).to_arrow_table().to_pandas()),
                      "baseline"),
            Contender(QUERY, lambda: seconds(lambda: db.query(BULK))),
        ]
        return Table(f"bulk time, {rows:,} rows x 5 columns, {repeats} samples", "s",
                     round_robin(contenders, repeats), baseline=ARROW)


def _bulk_memory(path: Any, rows: int, repeats: int) -> Table:
    extras: dict[str, list[dict[str, float]]] = {FETCH_DF: [], ARROW: [], QUERY: [], STREAM: []}

    def in_child(name: str, label: str) -> float:
        reply = run_once("benchmarks.children.memory", f"duckdb {name}", str(path), BULK)
        if reply["rows"] != rows:
            raise RuntimeError(f"{name} returned {reply['rows']} rows, not {rows}")
        extras[label].append(reply)
        return float(reply["delta_mb"])

    contenders = [Contender(FETCH_DF, lambda: in_child("fetch_df", FETCH_DF), "baseline"),
                  Contender(ARROW, lambda: in_child("arrow", ARROW)),
                  Contender(QUERY, lambda: in_child("db.query", QUERY)),
                  Contender(STREAM, lambda: in_child("stream", STREAM))]
    table = Table(f"bulk peak memory over the start, a fresh process per sample (DuckDB's cache "
                  f"cold in each), {repeats} samples", "MB",
                  round_robin(contenders, repeats, warmup=0), baseline=FETCH_DF)
    table.notes += _memory_notes(table, extras)
    return table


def _memory_notes(table: Table, extras: dict[str, list[dict[str, float]]]) -> list[str]:
    """What the peaks are made of: DuckDB's buffer cache (the table's blocks, read in every
    contender alike), each frame's own bytes, and what DuckDB's stream of Arrow batches holds
    while it is read (the batches queued and being made: `STREAM`'s peak over the cache)."""
    def median(label: str, key: str) -> float | None:
        values = [reply[key] for reply in extras[label] if key in reply]
        return statistics.median(values) if values else None

    cache = median(QUERY, "engine_mb")
    frames = {label: median(label, "frame_mb") for label in (FETCH_DF, ARROW, QUERY)}
    if cache is None or any(frame is None for frame in frames.values()):
        return []
    notes = [f"DuckDB's buffer cache after the read: {cache:,.0f} MB (each contender holds "
             "it); the frames: " + ", ".join(f"{label} {frame:,.0f} MB"
                                            for label, frame in frames.items())]
    seconds = {label: median(label, "seconds") for label in extras}
    notes.append("seconds in those fresh processes (every page new to the process): "
                 + ", ".join(f"{label} {value:.2f} s" for label, value in seconds.items()
                             if value is not None))
    ours, theirs, stream = table.median(QUERY), table.median(FETCH_DF), table.median(STREAM)
    if ours is not None and theirs is not None:
        notes.append(f"db.query's peak is its frame + DuckDB's cache + "
                     f"{ours - frames[QUERY] - cache:,.0f} MB; less DuckDB's cache, "
                     f"{(ours - cache) / (theirs - cache):.3f}x fetch_df's")
    if ours is not None and stream is not None:
        notes.append(f"DuckDB's stream alone peaks at its cache + {stream - cache:,.0f} MB "
                     f"(batches queued and being made); db.query's own, over its frame, the rest: "
                     f"{ours - frames[QUERY] - stream:,.0f} MB")
    return notes


def _magic(duckdb: Any, path: Any, ctx: Context, notes: list[str]) -> Table:
    from IPython.core.interactiveshell import InteractiveShell

    calls, repeats = ctx.pick(200, 100), ctx.pick(9, 5)
    jupysql_calls = ctx.pick(20, 10)
    shell = InteractiveShell.instance()
    with contextlib.ExitStack() as stack:
        db = sqlnb.connect(path)
        stack.callback(db.close)
        con = duckdb.connect(str(path))
        stack.callback(con.close)
        sqlnb.load_ipython_extension(shell)
        stack.callback(sqlnb.unload_ipython_extension, shell)
        shell.user_ns["bench_duck"] = db
        shell.run_line_magic("sqlnb", "use bench_duck")
        contenders = [
            Contender(DF, lambda: per_call_us(lambda _i: con.execute(LOOKUP).df(), calls),
                      "baseline"),
            Contender(QUERY, lambda: per_call_us(lambda _i: db.query(LOOKUP), calls)),
            Contender(MAGIC, lambda: per_call_us(
                lambda _i: shell.run_line_magic("sql", LOOKUP), calls)),
        ]
        # another process cannot open a DuckDB file this one has open: JupySQL gets a copy
        copy = ctx.scratch / "jupysql.duckdb"
        shutil.copyfile(path, copy)
        child = _jupysql(copy, notes)
        if child is not None:
            stack.enter_context(child)
            contenders.append(Contender(JUPYSQL, lambda: float(
                child.request({"calls": jupysql_calls})["us_per_call"])))
        return Table(f"one-row lookup, {calls} calls per sample ({jupysql_calls} for JupySQL), "
                     f"{repeats} samples", "us/call", round_robin(contenders, repeats),
                     baseline=DF)


def _jupysql(path: Any, notes: list[str]) -> Child | None:
    """A fresh JupySQL session on the DuckDB file in a child process, or None with a note."""
    try:
        import duckdb_engine  # noqa: F401  (JupySQL reaches DuckDB through it)
        import sql  # noqa: F401  (JupySQL's package)
    except ImportError as error:
        notes.append(f"JupySQL or duckdb-engine is not installed ({error}): its contender is "
                     "skipped (pip install -e '.[bench]')")
        return None
    child = Child("benchmarks.children.jupysql", str(path), LOOKUP)
    try:
        child.request({"calls": 1})
    except ChildError as error:
        child.close()
        notes.append(f"JupySQL did not start, its contender is skipped: {error}")
        return None
    return child


def _cancels(path: Any, repeats: int) -> Table:
    """Milliseconds from cancel() to QueryCancelled in the caller, the query 0.2 s in."""
    with sqlnb.connect(path, time_limit=600) as db:
        def latency(sql: str, frame: bool) -> float:
            return cancel_ms(db.submit(sql, dataframe=frame), 0.2)

        endless = AGGREGATE.format(rows=10**15)
        bulk = "SELECT * FROM t, range(1000)"  # far more rows than 0.2 s fetches
        contenders = [Contender("an aggregate", lambda: latency(endless, False)),
                      Contender("a bulk fetch", lambda: latency(bulk, True))]
        return Table(f"cancel() -> QueryCancelled, {repeats} samples", "ms",
                     round_robin(contenders, repeats))


def _limiter(duckdb: Any, path: Any, rows: int, repeats: int) -> Table:
    sql = AGGREGATE.format(rows=rows)
    with sqlnb.connect(path) as db:
        con = duckdb.connect(str(path))

        def raw() -> float:
            box: dict[str, float] = {}

            def work() -> None:
                box["s"] = seconds(lambda: con.execute(sql).fetchall())

            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
            return box["s"]

        contenders = [
            Contender("no limit", lambda: seconds(lambda: db.query(sql, time_limit=math.inf)),
                      "baseline"),
            Contender("time_limit=60", lambda: seconds(lambda: db.query(sql, time_limit=60))),
            Contender("raw cursor, a thread", raw),
        ]
        table = Table(f"an aggregate over {rows:,} generated rows, {repeats} samples", "s",
                      round_robin(contenders, repeats), baseline="no limit")
        con.close()
    spread = table.get("no limit")
    if spread is not None and spread.samples:
        table.notes.append(f"no limit: {statistics.pstdev(spread.samples):.3f} s spread")
    return table
