"""[limiter] What the time limiter costs, and how fast it and cancel() stop a query.

(a) busy main thread: a full-scan aggregate on the read pool (time limit active) while this
    thread spins in a pure-Python loop until it is done, vs the same query on a plain thread with
    a raw sqlite3 connection and no progress handler (baseline). Target <= 1.2x.
(b) idle limiter: the scan through db.query with time_limit=60 vs time_limit=math.inf, and vs raw
    sqlite3 on a worker thread. Target <= 1.03x against each.
(c) overshoot: a sort-heavy query (`... ORDER BY c`) under a 200 ms limit; time from the deadline
    to QueryTimeout reaching the caller, median of several tries. Target <= 15 ms.
(d) cancel: a running query, handle.cancel(), then handle.result() raising QueryCancelled;
    median time from cancel() to the error. Target <= 20 ms.
In a --quick run the scans and the sort read t repeated to a million rows, so they last as long.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import sqlite3
import threading
import time

import sqlnb

from ..context import Context
from ..data import scaled_label, scaled_source
from ..report import CaseResult, Table, Target, compare
from ..runner import Contender, Series, round_robin, seconds

ID = "limiter"
TITLE = "the time limiter: its cost and how fast it stops a query"
SCAN = "SELECT sum(b), avg(a), count(d), max(c) FROM {source}"
SORT = "SELECT * FROM {source} ORDER BY c"
SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
LIMIT = 0.2
POOL, PLAIN = "sqlnb read pool, time limit on", "plain thread, raw sqlite3"
LIMITED, UNLIMITED, WORKER = ("db.query, time_limit=60", "db.query, time_limit=inf",
                              "raw sqlite3, worker thread")


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    source, label = scaled_source(ctx.rows), scaled_label(ctx.rows)
    scan = SCAN.format(source=source)
    with contextlib.ExitStack() as stack:
        raw = sqlite3.connect(ctx.table, check_same_thread=False)
        stack.callback(raw.close)
        db = sqlnb.connect(ctx.table, threads=2, time_limit=60)
        stack.callback(db.close)
        busy = _busy_main_thread(db, raw, scan, ctx.pick(9, 5))
        idle = _idle_limiter(db, raw, scan, ctx.pick(11, 7))
        overshoot = _overshoot(db, SORT.format(source=source), ctx.pick(7, 5))
        cancel = _cancel(db, ctx.pick(9, 5))
    for table in (busy, idle, overshoot):
        table.title = table.title.replace(source, label)
    result.tables += [busy, idle, overshoot, cancel]
    result.targets += [
        compare("(a) pool / plain thread, main thread busy", busy.ratio(POOL), "<=", 1.2),
        compare("(b) time_limit=60 / time_limit=inf", idle.ratio(LIMITED, UNLIMITED), "<=", 1.03),
        compare("(b) time_limit=60 / raw worker thread", idle.ratio(LIMITED), "<=", 1.03),
        _median_target("(c) overshoot past a 200 ms limit", overshoot, 15),
        _median_target("(d) cancel() to QueryCancelled", cancel, 20),
    ]
    return result


def _busy_main_thread(db: sqlnb.Database, raw: sqlite3.Connection, sql: str,
                      repeats: int) -> Table:
    def pool() -> float:
        start = time.perf_counter()
        handle = db.submit(sql)
        spins = 0
        while not handle.done():
            spins += 1
        handle.result()
        return time.perf_counter() - start

    def plain() -> float:
        start = time.perf_counter()
        done = threading.Event()

        def work() -> None:
            raw.execute(sql).fetchall()
            done.set()

        threading.Thread(target=work).start()
        spins = 0
        while not done.is_set():
            spins += 1
        return time.perf_counter() - start

    contenders = [Contender(PLAIN, plain, "baseline"), Contender(POOL, pool)]
    return Table(f"(a) {sql}, while the main thread spins in Python; {repeats} samples", "s",
                 round_robin(contenders, repeats), baseline=PLAIN)


def _idle_limiter(db: sqlnb.Database, raw: sqlite3.Connection, sql: str, repeats: int) -> Table:
    worker = concurrent.futures.ThreadPoolExecutor(1)
    try:
        contenders = [
            Contender(WORKER, lambda: seconds(
                lambda: worker.submit(lambda: raw.execute(sql).fetchall()).result()), "baseline"),
            Contender(LIMITED, lambda: seconds(lambda: db.query(sql, time_limit=60))),
            Contender(UNLIMITED, lambda: seconds(lambda: db.query(sql, time_limit=math.inf))),
        ]
        return Table(f"(b) {sql}, limiter idle; {repeats} samples", "s",
                     round_robin(contenders, repeats), baseline=WORKER)
    finally:
        worker.shutdown()


def _overshoot(db: sqlnb.Database, sql: str, tries: int) -> Table:
    series = Series("db.query, time_limit=0.2")
    for _ in range(tries):
        start = time.perf_counter()
        try:
            db.query(sql, time_limit=LIMIT)
        except sqlnb.QueryTimeout:
            series.samples.append((time.perf_counter() - start - LIMIT) * 1000)
        except Exception as error:
            series.error = f"{type(error).__name__}: {error}"
            break
        else:
            series.error = f"the query finished in {time.perf_counter() - start:.3f} s, " \
                           "before the limit"
            break
    return Table(f"(c) {sql} under a {LIMIT * 1000:.0f} ms limit: from the deadline to "
                 f"QueryTimeout in the caller; {tries} tries", "ms", [series])


def _cancel(db: sqlnb.Database, tries: int) -> Table:
    series = Series("handle.cancel() -> QueryCancelled")
    for _ in range(tries):
        handle = db.submit(SLOW, time_limit=60)
        while handle.progress.state == "queued":
            time.sleep(0.001)
        time.sleep(0.05)
        start = time.perf_counter()
        handle.cancel()
        try:
            handle.result(timeout=30)
        except sqlnb.QueryCancelled:
            series.samples.append((time.perf_counter() - start) * 1000)
        except Exception as error:
            series.error = f"{type(error).__name__}: {error}"
            break
        else:
            series.error = "the query was not cancelled"
            break
    return Table(f"(d) cancel() of a running query until result() raises; {tries} tries", "ms",
                 [series])


def _median_target(label: str, table: Table, limit_ms: float) -> Target:
    series = table.series[0]
    return compare(label, series.median, "<=", limit_ms, unit="ms",
                   detail=f"max {series.max:.1f} ms" if series.samples else "",
                   why_missing=series.error or "not measured")
