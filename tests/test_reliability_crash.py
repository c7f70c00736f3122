"""Crash durability: a write sqlnb acknowledged survives the process being killed with SIGKILL.

A child process writes through sqlnb as fast as it can from many concurrent asyncio tasks (so the
writer groups them: group commit), single-row writes and multi-row `execute_write_many` batches,
and appends a line to a log after each `await` returns (the write's acknowledgement). The parent
kills it with SIGKILL at seeded random moments, four times on the same file. After each kill a
plain sqlite3 connection opens the file (recovering the WAL) and finds: `PRAGMA integrity_check`
is "ok", every acknowledged id is there, and every batch is whole (all its rows or none). sqlnb
then reopens the file and goes on. This is what WAL with `synchronous=NORMAL` promises for a
process crash; a power cut is not tested here.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import sqlnb

#: Rows per execute_write_many batch in the child.
BATCH = 5
#: Concurrent asyncio tasks writing in the child.
TASKS = 32
#: Kill points (one child each, on the same file).
RUNS = 4
#: Seconds to wait for anything before calling it a hang (never reached when all is well).
WAIT = 30

CHILD = textwrap.dedent("""
    import asyncio, itertools, math, sys, time
    import sqlnb

    path, log_path, run, tasks, batch = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    db = sqlnb.connect(path, time_limit=math.inf)
    db.write("CREATE TABLE IF NOT EXISTS single (id INTEGER PRIMARY KEY, payload TEXT)")
    db.write("CREATE TABLE IF NOT EXISTS batch (key INTEGER, part INTEGER, "
             "PRIMARY KEY (key, part))")
    log = open(log_path, "a", buffering=1)
    stop_at = time.monotonic() + 30  # never reached: the parent kills this process first

    async def writer(task):
        for n in range(1_000_000):
            if time.monotonic() > stop_at:
                return
            key = (run * 1000 + task) * 1_000_000 + n
            if n % 3 == 2:
                await db.execute_write_many("INSERT INTO batch (key, part) VALUES (?, ?)",
                                            [(key, part) for part in range(batch)])
                log.write(f"b {key}\\n")
            else:
                await db.execute_write("INSERT INTO single (id, payload) VALUES (?, ?)",
                                       (key, "x" * (n % 300)))
                log.write(f"s {key}\\n")
            log.flush()

    async def main():
        await asyncio.gather(*(writer(task) for task in range(tasks)))

    asyncio.run(main())
""")


def acknowledged(log: Path) -> tuple[set[int], set[int]]:
    """The single-row ids and batch keys the child logged as acknowledged (whole lines only)."""
    singles: set[int] = set()
    batches: set[int] = set()
    text = log.read_text() if log.exists() else ""
    for line in text.split("\n")[:-1]:  # the piece after the last newline is not a whole line
        kind, key = line.split()
        (singles if kind == "s" else batches).add(int(key))
    return singles, batches


def wait_for_acks(log: Path, child: subprocess.Popen) -> None:
    """Wait until the child has logged its first acknowledgements (bounded)."""
    for _ in range(WAIT * 200):
        if child.poll() is not None:
            raise AssertionError(f"the child exited early: {child.communicate()[1]}")
        if log.exists() and log.stat().st_size > 200:
            return
        time.sleep(0.005)
    raise AssertionError("the child logged no acknowledged write")


def check_file(path: Path, singles: set[int], batches: set[int]) -> tuple[int, int]:
    """Integrity, every acknowledged write present, every batch whole; returns the row counts."""
    conn = sqlite3.connect(path)  # a plain connection: it recovers the WAL the child left
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        present = {row[0] for row in conn.execute("SELECT id FROM single")}
        missing = singles - present
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
        parts = dict(conn.execute("SELECT key, count(*) FROM batch GROUP BY key").fetchall())
        torn = {key: n for key, n in parts.items() if n != BATCH}
        assert not torn, f"batches not whole after the crash: {torn}"
        lost = batches - set(parts)
        assert not lost, f"{len(lost)} acknowledged batches lost, e.g. {sorted(lost)[:5]}"
        return len(present), len(parts)
    finally:
        conn.close()


@pytest.mark.timeout(120)
def test_acknowledged_writes_survive_sigkill(tmp_path):
    rng = random.Random(8_675_309)
    path = tmp_path / "crash.db"
    delays = [rng.uniform(0.0, 0.4) for _ in range(RUNS)]
    acked_singles: set[int] = set()
    acked_batches: set[int] = set()
    for run, delay in enumerate(delays):
        log = tmp_path / f"acks-{run}.log"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(log), str(run), str(TASKS), str(BATCH)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_acks(log, child)
            time.sleep(delay)  # a random moment while the tasks write flat out
            child.send_signal(signal.SIGKILL)
            _out, err = child.communicate(timeout=WAIT)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        assert child.returncode == -signal.SIGKILL, f"run {run}: the child ended early: {err}"
        singles, batches = acknowledged(log)
        assert singles and batches, f"run {run}: no acknowledged write before the kill"
        acked_singles |= singles
        acked_batches |= batches
        rows, keys = check_file(path, acked_singles, acked_batches)
        assert rows >= len(acked_singles) and keys >= len(acked_batches)

    # sqlnb opens the crashed file again and goes on writing and reading
    with sqlnb.connect(path) as db:
        db.write("INSERT INTO single (id, payload) VALUES (?, 'after')", (-1,))
        assert db.query("SELECT payload FROM single WHERE id = -1")["payload"].tolist() == [
            "after"]
        assert db.query("PRAGMA integrity_check").iloc[0, 0] == "ok"
    check_file(path, acked_singles | {-1}, acked_batches)
