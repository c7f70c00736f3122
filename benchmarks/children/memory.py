"""Peak memory of one way of reading a whole result, in a fresh process.

    python -m benchmarks.children.memory CONTENDER DB_PATH SQL

CONTENDER is one of `fetchall`, `read_sql_query`, `db.query`, `adbc` (a SQLite file), or
`duckdb fetch_df`, `duckdb arrow`, `duckdb db.query`, `duckdb stream` (a DuckDB file; `stream`
reads the Arrow batches sqlnb reads, of its size and with its queue's size, and drops each: what
DuckDB's streaming of the result costs before anyone keeps a byte of it). The child opens the
database, runs the query once on 5 rows (imports done, threads started), then measures: the
resident set size at the start, and its peak while the query runs and its result is held. On
Linux the kernel's high-water mark is reset first (/proc/self/clear_refs), so the peak is this
query's; elsewhere it is ru_maxrss, which can only overstate the start. Prints one JSON line;
for DuckDB it also gives the engine's own memory at the end (`engine_mb`, DuckDB's buffer
cache: the table's blocks it read, the same in every contender) and, where the frame holds no
Python objects, the frame's own bytes (`frame_mb`).
"""

from __future__ import annotations

import gc
import json
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")


def _opener(contender: str, path: str) -> Callable[[str], Any]:
    """A function running SQL the contender's way and returning its result (for DuckDB, the
    connection it runs on: `engine_memory` asks it what DuckDB holds)."""
    if contender == "fetchall":
        import sqlite3

        conn = sqlite3.connect(path)
        return lambda sql: conn.execute(sql).fetchall()
    if contender == "read_sql_query":
        import sqlite3

        import pandas as pd

        conn = sqlite3.connect(path)
        return lambda sql: pd.read_sql_query(sql, conn)
    if contender == "db.query":
        import sqlnb

        db = sqlnb.connect(path)
        return lambda sql: db.query(sql, time_limit=600)
    if contender == "adbc":
        import adbc_driver_sqlite.dbapi

        conn = adbc_driver_sqlite.dbapi.connect(path)

        def run(sql: str) -> Any:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetch_arrow_table().to_pandas()

        return run
    if contender.startswith("duckdb "):
        import duckdb

        if contender == "duckdb db.query":
            import sqlnb

            db = sqlnb.connect(path)
            _engine_memory.append(lambda sql: db.query(sql).iat[0, 0])
            return lambda sql: db.query(sql, time_limit=600)
        con = duckdb.connect(path)
        _engine_memory.append(lambda sql: con.execute(sql).fetchone()[0])
        if contender == "duckdb fetch_df":
            return lambda sql: con.execute(sql).fetch_df()
        if contender == "duckdb arrow":
            return lambda sql: con.sql(sql).to_arrow_table().to_pandas()
        if contender == "duckdb stream":
            from sqlnb.engines.duckdb import STREAMING_BUFFER

            con.execute(f"SET streaming_buffer_size = '{STREAMING_BUFFER}'")
            return lambda sql: _dropped(con.sql(sql))
    raise SystemExit(f"unknown contender {contender!r}")


class _Rows:
    """The number of rows of a result read and dropped (len() is all main() asks of it)."""

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return self.rows


def _dropped(relation: Any) -> _Rows:
    """Read a relation as sqlnb's DuckDB engine does (Arrow batches of its size), keeping none."""
    from sqlnb.engines.duckdb import BATCH_ROWS

    reader = relation.to_arrow_reader(BATCH_ROWS)
    rows = 0
    try:
        for batch in reader:
            rows += batch.num_rows
            del batch
    finally:
        reader.close()
    return _Rows(rows)


#: For a DuckDB contender: a function giving the first value of a query's first row.
_engine_memory: list[Callable[[str], Any]] = []


def _extras(result: Any) -> dict[str, float]:
    """DuckDB's own memory now, and the frame's own bytes (not for object columns, whose
    Python values memory_usage would have to visit one by one)."""
    extras: dict[str, float] = {}
    if _engine_memory:
        used = _engine_memory[0]("SELECT sum(memory_usage_bytes) FROM duckdb_memory()")
        extras["engine_mb"] = int(used) / 2**20
    dtypes = getattr(result, "dtypes", None)
    if dtypes is not None and not any(str(dtype) == "object" or getattr(dtype, "storage", "")
                                      == "python" for dtype in dtypes):
        extras["frame_mb"] = int(result.memory_usage(index=False).sum()) / 2**20
    return extras


def _kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"no {field} in {STATUS}")
    return int(match.group(1))


def _reset_peak() -> str:
    """Reset the peak RSS if the OS allows it; name the method used."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        _kib("VmHWM")
        return "VmHWM after clear_refs"
    except OSError:
        return "ru_maxrss"


def _peak_kib(method: str) -> int:
    if method == "ru_maxrss":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return _kib("VmHWM")


def _rss_kib() -> int:
    try:
        return _kib("VmRSS")
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss // 1024


def main(contender: str, path: str, sql: str) -> None:
    run = _opener(contender, path)
    run(f"SELECT * FROM ({sql}) LIMIT 5")
    gc.collect()
    method = _reset_peak()
    start_kib = _rss_kib()
    began = time.perf_counter()
    result = run(sql)
    seconds = time.perf_counter() - began
    peak_kib = _peak_kib(method)
    print(json.dumps({
        "contender": contender, "rows": len(result), "seconds": seconds, "method": method,
        "start_mb": start_kib / 1024, "peak_mb": peak_kib / 1024,
        "delta_mb": (peak_kib - start_kib) / 1024, **_extras(result),
    }), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
