"""[writes] Single-row INSERT requests, each acknowledged after its commit: requests per second.

Concurrent: 20,000 requests from 100 asyncio tasks, each awaiting its own write: sqlnb
`await db.execute_write(...)`, Datasette `execute_write`, and raw sqlite3 doing all 20,000 in one
transaction (floor). Sequential: one request at a time, awaited: sqlnb vs Datasette. Every sample
gets a fresh file with the same PRAGMAs (WAL, and synchronous at sqlnb's setting, applied to the
peers' write connections too); the rows are counted afterwards.
Targets: sqlnb >= 15x Datasette (concurrent); floor / sqlnb <= 5; sqlnb >= 1.3x Datasette
(sequential).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlnb

from ..context import Context
from ..env import optional
from ..peers import datasette_database
from ..report import CaseResult, Table, compare
from ..runner import Contender, round_robin

ID = "writes"
TITLE = "single-row INSERTs, each acknowledged after commit"
CREATE = "CREATE TABLE w (id INTEGER PRIMARY KEY, a INTEGER, c TEXT)"
INSERT = "INSERT INTO w (a, c) VALUES (?, ?)"
SQLNB, DATASETTE, RAW = "sqlnb execute_write", "Datasette execute_write", "raw, one transaction"
BARE = "bare hand-off (reference)"
TASKS = 100

#: A write function: (sql, params) -> awaitable acknowledged after commit.
Write = Callable[[str, tuple[Any, ...]], Awaitable[object]]
#: The requests of one sample, made through a Write.
Workload = Callable[[Write], Awaitable[None]]


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    requests = 20_000
    sequential = ctx.pick(2000, 1000)
    repeats = ctx.pick(5, 3)
    app = optional("datasette.app", "datasette", result.notes)
    loop = asyncio.new_event_loop()
    files = _Files(ctx.scratch)
    with contextlib.closing(loop):
        sync_level = loop.run_until_complete(_sqlnb_synchronous(files.fresh()))
        result.notes.append(f"PRAGMA synchronous = {sync_level} (sqlnb's setting) on every "
                            "contender's write connection, journal_mode = WAL")

        def with_sqlnb(workload: Workload, count: int) -> Callable[[], float]:
            async def sample() -> float:
                path = files.fresh()
                async with sqlnb.connect(path) as db:
                    await db.execute_write(f"PRAGMA synchronous = {sync_level}")
                    elapsed = await _timed(workload, db.execute_write)
                return _rate(path, elapsed, count)
            return lambda: loop.run_until_complete(sample())

        def with_datasette(workload: Workload, count: int) -> Callable[[], float]:
            async def sample() -> float:
                path = files.fresh()
                peer = datasette_database(app, path)
                try:
                    await peer.execute_write_fn(
                        lambda conn: conn.execute(f"PRAGMA synchronous = {sync_level}"))
                    elapsed = await _timed(workload, peer.execute_write)
                finally:
                    peer.close()
                return _rate(path, elapsed, count)
            return lambda: loop.run_until_complete(sample())

        def floor() -> float:
            path = files.fresh()
            return _rate(path, _raw_one_transaction(path, requests, sync_level), requests)

        def concurrent(write: Write) -> Awaitable[None]:
            return _concurrent(write, requests)

        def one_by_one(write: Write) -> Awaitable[None]:
            return _sequential(write, sequential)

        def bare() -> float:
            async def sample() -> float:
                path = files.fresh()
                writer = _BareWriter(path, sync_level)
                try:
                    elapsed = await _timed(concurrent, writer.write)
                finally:
                    writer.close()
                return _rate(path, elapsed, requests)
            return loop.run_until_complete(sample())

        many = [Contender(SQLNB, with_sqlnb(concurrent, requests)),
                Contender(BARE, bare),
                Contender(RAW, floor, "floor")]
        single = [Contender(SQLNB, with_sqlnb(one_by_one, sequential))]
        if app is not None:
            many.insert(1, Contender(DATASETTE, with_datasette(concurrent, requests), "baseline"))
            single.append(Contender(DATASETTE, with_datasette(one_by_one, sequential),
                                    "baseline"))
        base = DATASETTE if app is not None else None
        many_table = Table(f"{requests:,} requests from {TASKS} concurrent tasks, {repeats} "
                           "samples", "req/s", round_robin(many, repeats), baseline=base)
        single_table = Table(f"{sequential:,} sequential requests, {repeats} samples", "req/s",
                             round_robin(single, repeats), baseline=base)
    files.clear()
    result.tables += [many_table, single_table]
    sqlnb_rate = many_table.median(SQLNB)
    floor_rate = many_table.median(RAW)
    bare_rate = many_table.median(BARE)
    if bare_rate and floor_rate and sqlnb_rate:
        result.notes.append(
            f"the bare hand-off (an asyncio future per request, one writer thread, group commit, "
            f"and nothing else: no time limit, cancel, error isolation or result) is "
            f"{floor_rate / bare_rate:.1f}x slower than the floor; sqlnb is "
            f"{bare_rate / sqlnb_rate:.2f}x slower than the bare hand-off")
    result.targets += [
        compare("sqlnb / Datasette, concurrent", many_table.ratio(SQLNB, DATASETTE), ">=", 15,
                why_missing="no Datasette figure"),
        compare("floor / sqlnb, concurrent", floor_rate / sqlnb_rate
                if floor_rate and sqlnb_rate else None, "<=", 5),
        compare("sqlnb / Datasette, sequential", single_table.ratio(SQLNB, DATASETTE), ">=",
                1.3, why_missing="no Datasette figure"),
    ]
    return result


class _Files:
    """Fresh database files with the table `w`, each deleted when the next is made."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.last: Path | None = None

    def fresh(self) -> Path:
        self.clear()
        self.count += 1
        path = self.folder / f"writes-{self.count}.db"
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(CREATE)
            conn.commit()
        self.last = path
        return path

    def clear(self) -> None:
        if self.last is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.last}{suffix}").unlink(missing_ok=True)
            self.last = None


async def _sqlnb_synchronous(path: Path) -> int:
    """The synchronous level of sqlnb's write connection, as sqlnb sets it up."""
    async with sqlnb.connect(path) as db:
        return await db.execute_write_fn(
            lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0], transaction=False)


async def _timed(workload: Workload, write: Write) -> float:
    await write(INSERT, (0, "warm"))  # the writer thread and its connection exist first
    start = time.perf_counter()
    await workload(write)
    return time.perf_counter() - start


async def _concurrent(write: Write, requests: int) -> None:
    per_task = requests // TASKS

    async def task(number: int) -> None:
        for i in range(per_task):
            await write(INSERT, (number * per_task + i, "text value"))

    await asyncio.gather(*(task(n) for n in range(TASKS)))


async def _sequential(write: Write, requests: int) -> None:
    for i in range(requests):
        await write(INSERT, (i, "text value"))


def _raw_one_transaction(path: Path, requests: int, sync_level: int) -> float:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA synchronous = {sync_level}")
        conn.execute(INSERT, (0, "warm"))
        start = time.perf_counter()
        conn.execute("BEGIN")
        for i in range(requests):
            conn.execute(INSERT, (i, "text value"))
        conn.execute("COMMIT")
        return time.perf_counter() - start


def _rate(path: Path, elapsed: float, expected: int) -> float:
    """Requests per second, after checking every request's row is in the file."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        written = conn.execute("SELECT count(*) FROM w").fetchone()[0] - 1  # minus the warm-up
    if written != expected:
        raise RuntimeError(f"{written} rows written for {expected} requests")
    return expected / elapsed


class _BareWriter:
    """The least an asyncio program can do to hand writes to one writer thread with group
    commit: a future per request, a queue, one transaction per burst, one
    `call_soon_threadsafe` per burst. A reference for what limits sqlnb, not a usable writer:
    no time limit, no cancel, no isolation of a failing write, no result."""

    def __init__(self, path: Path, sync_level: int) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA synchronous = {sync_level}")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="bare-writer")
        self._thread.start()

    async def write(self, sql: str, params: tuple[Any, ...]) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put((loop, done, sql, params))
        await done

    def _run(self) -> None:
        conn = self._conn
        while (item := self._queue.get()) is not None:
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1000:
                    batch.append(self._queue.get_nowait())
            stop = batch[-1] is None
            if stop:
                batch.pop()
            conn.execute("BEGIN IMMEDIATE")
            for _loop, _done, sql, params in batch:
                conn.execute(sql, params)
            conn.execute("COMMIT")
            if batch:
                batch[0][0].call_soon_threadsafe(_resolve, [done for _l, done, _s, _p in batch])
            if stop:
                return

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._conn.close()


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        future.set_result(None)
