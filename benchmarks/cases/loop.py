"""[loop] Event-loop health while long queries run through `await db.execute`.

Ten scans that each take about 2 seconds (0.5 s under --quick; the length is calibrated on this
machine) are awaited at once on a Database with threads=2, so most of them queue. Meanwhile a
ticker task on the same loop sleeps 1 ms again and again and records how late it wakes. The
baseline is the same ticker on an idle loop (what the loop's timer granularity alone costs).
The table shows each sample's worst lag; the lines below give p50/p99/max over every tick.
Target: the worst lag with sqlnb busy < 20 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import statistics
import time
from collections.abc import Awaitable

import sqlnb

from ..context import Context
from ..data import scaled_label, scaled_source
from ..report import CaseResult, Table, compare
from ..runner import Contender, round_robin

ID = "loop"
TITLE = "event-loop lag while ten long queries run through await db.execute"
SCAN = "SELECT sum(b), avg(a), count(d) FROM {source}"
QUERIES, THREADS, TICK, SAMPLES = 10, 2, 0.001, 2
IDLE, BUSY = "idle loop", f"sqlnb, {QUERIES} queries, threads={THREADS}"


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    seconds_each = ctx.pick(2.0, 0.5)
    rows = _rows_for(ctx, seconds_each)
    sql = SCAN.format(source=scaled_source(ctx.rows, rows))
    shown = SCAN.format(source=scaled_label(ctx.rows, rows))
    lags: dict[str, list[float]] = {IDLE: [], BUSY: []}
    loop = asyncio.new_event_loop()
    with contextlib.closing(loop), sqlnb.connect(ctx.table, threads=THREADS) as db:
        async def queries() -> None:
            await asyncio.gather(*(db.execute(sql, time_limit=600) for _ in range(QUERIES)))

        def sample(name: str, work: Awaitable[object] | None = None) -> float:
            ticks = loop.run_until_complete(_tick_during(queries() if work is None else work))
            lags[name] += ticks
            return max(ticks)

        idle = Contender(IDLE, lambda: sample(IDLE, asyncio.sleep(1.0)), "baseline")
        busy = Contender(BUSY, lambda: sample(BUSY))
        table = Table(f"worst lag of a 1 ms ticker per sample; {QUERIES} x {shown}, about "
                      f"{seconds_each:g} s each; {SAMPLES} samples",
                      "ms", round_robin([idle, busy], SAMPLES, warmup=0), baseline=IDLE)
    for name, values in lags.items():
        if values:
            table.notes.append(f"{name}: {len(values):,} ticks, lag p50 "
                               f"{_pct(values, 50):.2f} ms, p99 {_pct(values, 99):.2f} ms, max "
                               f"{max(values):.2f} ms")
    result.tables.append(table)
    worst = max(lags[BUSY]) if lags[BUSY] else None
    result.targets.append(compare("worst lag while the queries run", worst, "<", 20, unit="ms"))
    return result


async def _tick_during(work: Awaitable[object]) -> list[float]:
    """Run `work` while ticking every TICK seconds; each tick's lateness in ms."""
    task = asyncio.ensure_future(work)
    lags = []
    clock = time.monotonic
    while not task.done():
        before = clock()
        await asyncio.sleep(TICK)
        lags.append((clock() - before - TICK) * 1000)
    await task
    return lags


def _rows_for(ctx: Context, seconds: float) -> int:
    """How many rows the scan must read to last `seconds` here (timed on a raw connection)."""
    with contextlib.closing(sqlite3.connect(ctx.table)) as conn:
        sql = SCAN.format(source=scaled_source(ctx.rows, 1_000_000))
        conn.execute(sql).fetchall()
        start = time.perf_counter()
        conn.execute(sql).fetchall()
        took = time.perf_counter() - start
    rows_read = max(ctx.rows, 1_000_000)
    return int(rows_read * seconds / took)


def _pct(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]
