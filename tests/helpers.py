"""Small helpers several test modules share: sqlnb's live threads, what is committed on disk
(read through a plain sqlite3 connection), waiting for a query to start."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import sqlnb

#: The longest a test waits for something that should take milliseconds (seconds).
WAIT = 60

#: A read that never ends on its own (one row: its count, never reached).
FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
#: A read that never ends on its own and yields rows as it goes.
FOREVER_ROWS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"


def sqlnb_threads() -> set[threading.Thread]:
    """sqlnb's threads alive now."""
    return {t for t in threading.enumerate() if t.name.startswith("sqlnb-")}


def committed(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows read through a plain read-only sqlite3 connection (what is committed on disk)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=WAIT)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def committed_count(path: Path, table: str = "t") -> int:
    """Rows in `table` that are committed on disk."""
    return committed(path, f"SELECT count(*) FROM {table}")[0][0]


def wait_for(condition: Callable[[], object], what: str) -> object:
    """Wait until `condition()` is true (its value), or fail naming `what` after WAIT seconds."""
    pause = threading.Event()
    for _ in range(WAIT * 1000):
        value = condition()
        if value:
            return value
        pause.wait(0.001)
    raise AssertionError(f"{what} never happened")


def wait_running(handle: sqlnb.QueryHandle) -> None:
    """Wait until the query runs on a worker (its control has its connection)."""
    pause = threading.Event()
    for _ in range(WAIT * 1000):
        if handle.progress.state == "running":
            return
        pause.wait(0.001)
    raise AssertionError(f"the query never started: {handle!r}")
