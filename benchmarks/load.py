"""A load run (not a test): many mixed reads and writes from many concurrent tasks.

    python -m benchmarks.load [--ops 100000] [--tasks 200] [--write-share 0.3]

Every task loops over its share of the operations, each a read (a point lookup, or a small
aggregate) or a write (an INSERT whose id the task records once acknowledged). It prints the
throughput, any error, the process's memory sampled every second (start, peak, end), and checks at
the end that every acknowledged write is in the database and that the file is sound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import time
from array import array

import psutil

import sqlnb


async def _task(db: sqlnb.Database, k: int, ops: int, write_share: float, acked: array,
                errors: list[str]) -> None:
    rng = random.Random(k)
    for n in range(ops):
        try:
            if rng.random() < write_share:
                key = k * 10_000_000 + n
                await db.execute_write("INSERT INTO t (id, who, v) VALUES (?, ?, ?)",
                                       (key, k, rng.random()))
                acked.append(key)
            elif rng.random() < 0.8:
                await db.execute("SELECT * FROM t WHERE id = ?", (rng.choice(acked or [0]),))
            else:
                await db.execute("SELECT count(*), avg(v) FROM t WHERE who = ?", (k,))
        except Exception as error:  # counted, reported: a load run must show every failure
            errors.append(f"{type(error).__name__}: {error}")


async def _sample(rss: list[float], stop: asyncio.Event) -> None:
    process = psutil.Process()
    while not stop.is_set():
        rss.append(process.memory_info().rss / 1e6)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def run(ops: int, tasks: int, write_share: float) -> int:
    folder = tempfile.mkdtemp(prefix="sqlnb-load-")
    path = os.path.join(folder, "load.db")
    acked = array("q")  # 8 bytes an id, so the run's own bookkeeping barely moves the memory
    errors: list[str] = []
    rss: list[float] = []
    with sqlnb.connect(path) as db:
        db.write("CREATE TABLE t (id INTEGER PRIMARY KEY, who INTEGER, v REAL)")
        db.write("CREATE INDEX t_who ON t (who)")
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample(rss, stop))
        started = time.perf_counter()
        await asyncio.gather(*(_task(db, k, ops // tasks, write_share, acked, errors)
                               for k in range(tasks)))
        elapsed = time.perf_counter() - started
        stop.set()
        await sampler
        present = db.query("SELECT count(*) AS n FROM t")["n"][0]
        missing = len(set(acked)) - db.query(
            "SELECT count(*) AS n FROM t WHERE id >= 0")["n"][0]
        sound = db.query("PRAGMA integrity_check").iloc[0, 0]
    done = ops // tasks * tasks
    print(f"{done:,} operations from {tasks} tasks in {elapsed:.1f} s "
          f"({done / elapsed:,.0f} ops/s); {len(acked):,} writes acknowledged, "
          f"{present:,} rows present, {max(missing, 0):,} missing; integrity_check: {sound}")
    print(f"memory (RSS, MB): start {rss[0]:.0f}, peak {max(rss):.0f}, end {rss[-1]:.0f}; "
          f"first third's mean {_mean(rss[: len(rss) // 3]):.0f}, "
          f"last third's {_mean(rss[-(len(rss) // 3):]):.0f}")
    print(f"errors: {len(errors)}" + "".join(f"\n  {e}" for e in errors[:10]))
    return 0 if not errors and missing <= 0 and sound == "ok" else 1


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def main() -> int:
    """Parse the options and run the load."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--write-share", type=float, default=0.3)
    args = parser.parse_args()
    return asyncio.run(run(args.ops, args.tasks, args.write_share))


if __name__ == "__main__":
    raise SystemExit(main())
