"""[lookup] One-row lookups by primary key, microseconds per call.

Contenders: a raw sqlite3 cursor in the calling thread (floor), pandas.read_sql_query on a raw
connection (baseline), db.query, and in one asyncio loop: `await db.execute` (rows only),
Datasette's Database.execute and aiosqlite's execute_fetchall. Each sample times many calls on
fresh random ids (drawn before the clock starts).
Targets: db.query <= 0.8x read_sql_query; await db.execute <= 1.0x Datasette's execute.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable

import pandas as pd

import sqlnb

from ..context import Context
from ..env import optional
from ..peers import datasette_database
from ..report import CaseResult, Table, compare
from ..runner import Contender, one_cpu, per_call_us, round_robin

ID = "lookup"
TITLE = "one-row lookup: SELECT * FROM t WHERE id = ?"
SQL = "SELECT * FROM t WHERE id = ?"

RAW, PANDAS, QUERY, EXECUTE = ("raw sqlite3 fetchall", "read_sql_query", "db.query",
                               "await db.execute")
DATASETTE, AIOSQLITE = "Datasette execute", "aiosqlite execute_fetchall"


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    calls = ctx.pick(1000, 300)
    repeats = ctx.pick(15, 7)
    rng = random.Random(1)

    def ids() -> list[int]:
        return [rng.randint(1, ctx.rows) for _ in range(calls)]

    def sync(fn: Callable[[int], object]) -> Callable[[], float]:
        def sample() -> float:
            batch = ids()
            return per_call_us(lambda i: fn(batch[i]), calls)
        return sample

    loop = asyncio.new_event_loop()

    def in_loop(fn: Callable[[int], Awaitable[object]]) -> Callable[[], float]:
        async def timed(batch: list[int]) -> float:
            start = time.perf_counter()
            for key in batch:
                await fn(key)
            return (time.perf_counter() - start) / calls * 1e6
        return lambda: loop.run_until_complete(timed(ids()))

    with contextlib.ExitStack() as stack:
        stack.callback(loop.close)
        raw = sqlite3.connect(ctx.table, check_same_thread=False)
        stack.callback(raw.close)
        cursor = raw.cursor()
        db = sqlnb.connect(ctx.table)
        stack.callback(db.close)

        async def execute(key: int) -> object:
            return (await db.execute(SQL, (key,))).rows

        contenders = [
            Contender(RAW, sync(lambda key: cursor.execute(SQL, (key,)).fetchall()), "floor"),
            Contender(PANDAS, sync(lambda key: pd.read_sql_query(SQL, raw, params=(key,))),
                      "baseline"),
            Contender(QUERY, sync(lambda key: db.query(SQL, (key,)))),
            Contender(EXECUTE, in_loop(execute)),
        ]
        app = optional("datasette.app", "datasette", result.notes)
        if app is not None:
            peer = datasette_database(app, ctx.table)
            stack.callback(peer.close)
            contenders.append(Contender(DATASETTE, in_loop(
                lambda key: peer.execute(SQL, (key,)))))
        aiosqlite = optional("aiosqlite", "aiosqlite", result.notes)
        if aiosqlite is not None:
            conn = loop.run_until_complete(aiosqlite.connect(ctx.table))
            stack.callback(lambda: loop.run_until_complete(conn.close()))
            contenders.append(Contender(AIOSQLITE, in_loop(
                lambda key: conn.execute_fetchall(SQL, (key,)))))

        table = Table(f"{calls} calls per sample, {repeats} samples, random ids of "
                      f"{ctx.rows:,} rows", "us/call", round_robin(contenders, repeats),
                      baseline=PANDAS)
        # the diagnosis: the same calls with every thread held to one CPU, where a hop to a
        # reader wakes no idle CPU (no target: the table above is the measure)
        with one_cpu() as pinned:
            if pinned:
                mine = [c for c in contenders if c.name in (RAW, PANDAS, QUERY, EXECUTE)]
                held = Table(f"the same with this process held to one CPU (diagnosis: the hop "
                             f"wakes no idle CPU); {ctx.pick(7, 5)} samples", "us/call",
                             round_robin(mine, ctx.pick(7, 5)), baseline=PANDAS)
    result.tables.append(table)
    if pinned:
        result.tables.append(held)
        result.notes.append(
            f"held to one CPU: db.query {held.ratio(QUERY):.2f}x read_sql_query, against "
            f"{table.ratio(QUERY):.2f}x on two; the difference is the wake-up of an idle CPU "
            "(twice per call: caller -> reader -> caller)")
    result.targets += [
        compare("db.query / read_sql_query", table.ratio(QUERY), "<=", 0.8),
        compare("await db.execute / Datasette execute", table.ratio(EXECUTE, DATASETTE),
                "<=", 1.0, why_missing="no Datasette figure"),
    ]
    return result
