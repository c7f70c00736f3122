"""[parallel] Eight queries at once on sqlnb's read pool vs the same eight one after another.

sqlnb: `connect(threads=2, time_limit=60)` (the limiter active), eight `db.submit(...)` at once,
then every result waited for. Baseline: the same eight in a row on one raw sqlite3 connection in
this thread. Two queries: a full-scan aggregate over t (target: speedup >= 1.85x on 2 cores) and
an allocation-heavy recursive CTE of a few million rows, aggregated (reported, no target). Under
--quick the scan reads t repeated to a million rows: on this machine a 10 ms scan does not
scale even on a plain ThreadPoolExecutor, so a short scan would measure something else.
"""

from __future__ import annotations

import contextlib
import sqlite3

import sqlnb

from ..context import Context
from ..data import scaled_label, scaled_source
from ..report import CaseResult, Table, compare
from ..runner import Contender, round_robin, seconds

ID = "parallel"
TITLE = "8 queries on the read pool (threads=2) vs one after another"
SCAN = "SELECT sum(b), avg(a), count(d) FROM {source}"
CTE = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) "
       "SELECT sum(x), count(*) FROM c")
QUERIES, THREADS = 8, 2
POOL, SERIAL = f"sqlnb pool, threads={THREADS}", "raw sqlite3, one thread"


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    cte_rows = ctx.pick(2_000_000, 300_000)
    with contextlib.ExitStack() as stack:
        raw = sqlite3.connect(ctx.table)
        stack.callback(raw.close)
        db = sqlnb.connect(ctx.table, threads=THREADS, time_limit=60)
        stack.callback(db.close)
        scan = _compare(db, raw, SCAN.format(source=scaled_source(ctx.rows)),
                        f"full-scan aggregate: {SCAN.format(source=scaled_label(ctx.rows))}",
                        ctx.pick(7, 5))
        cte = _compare(db, raw, CTE.format(n=cte_rows),
                       f"recursive CTE of {cte_rows:,} rows, aggregated", ctx.pick(3, 3))
    result.tables += [scan, cte]
    result.targets.append(compare("speedup, full-scan aggregate", _speedup(scan), ">=", 1.85))
    cte_speedup = _speedup(cte)
    if cte_speedup is not None:
        result.notes.append(f"speedup on the recursive CTE: {cte_speedup:.2f}x (no target)")
    return result


def _compare(db: sqlnb.Database, raw: sqlite3.Connection, sql: str, title: str,
             repeats: int) -> Table:
    def pool() -> None:
        handles = [db.submit(sql) for _ in range(QUERIES)]
        for handle in handles:
            handle.result()

    def serial() -> None:
        for _ in range(QUERIES):
            raw.execute(sql).fetchall()

    contenders = [Contender(SERIAL, lambda: seconds(serial), "baseline"),
                  Contender(POOL, lambda: seconds(pool))]
    return Table(f"{title}; {QUERIES} runs per sample, {repeats} samples", "s",
                 round_robin(contenders, repeats), baseline=SERIAL)


def _speedup(table: Table) -> float | None:
    ratio = table.ratio(POOL)
    return None if not ratio else 1 / ratio
