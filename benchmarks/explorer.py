"""The result explorer's clicks, timed: `python -m benchmarks.explorer [--rows N]`.

Each figure is the median of 5 runs (min and max beside it), all in one process and one run:
- DuckDB, a table of N rows (10M by default) x 4 columns: the explorer opening on it (the
  first page, no count), its row count, a sort click (a DOUBLE column, descending: the first
  page of the sorted view), a filter click (a range, with the count) and the last page;
- SQLite, a table of N/10 rows (1M) x 4 columns: the same sort click;
- DuckDB, a query of 100M rows (`range()`): the kernel's resident memory after the explorer
  opened on it and after a sort click, against before (the rows never come to the kernel).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlnb


def _timed(call: Callable[[], object], repeats: int = 5) -> str:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return (f"median {statistics.median(times):.3f} s (min {min(times):.3f}, "
            f"max {max(times):.3f})")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explorer")
    parser.add_argument("--rows", type=int, default=10_000_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as folder:
        with sqlnb.connect(Path(folder) / "t.duckdb") as db:
            db.write(f"CREATE TABLE t AS SELECT range AS id, hash(range) % 1000 AS k, "
                     f"(hash(range) % 100000) / 7.0 AS fare, 'carrier ' || (range % 97) AS s "
                     f"FROM range({rows})")
            print(f"DuckDB, {rows:,} rows")
            print("  open (first page):", _timed(lambda: db.explore("t").page()))
            view = db.explore("t")
            print("  count:            ", _timed(lambda: db.explore("t").count()))
            view.sort(("fare", True))
            print("  sort click:       ", _timed(lambda: view.page()))
            view.sort()
            view.filter("fare", low=10, high=20)
            print("  filter + count:   ", _timed(lambda: (view.page(), view.submit_count()
                                                          .result())))
            view.clear_filters()
            total = view.count()
            print("  last page:        ", _timed(lambda: view.page(total - 100)))
        with sqlnb.connect(Path(folder) / "t.db") as db:
            small = rows // 10
            db.write(f"CREATE TABLE t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     f"FROM c WHERE x < {small}) SELECT x AS id, (x * 7919) % 1000 AS k, "
                     f"((x * 104729) % 100000) / 7.0 AS fare, 'carrier ' || (x % 97) AS s FROM c")
            view = db.explore("t").sort(("fare", True))
            print(f"SQLite, {small:,} rows")
            print("  sort click:       ", _timed(lambda: view.page()))
        with sqlnb.connect("duckdb:///:memory:") as db:
            before = _rss_mb()
            view = db.explore("SELECT range AS id, hash(range) AS h FROM range(100000000)")
            view.page()
            opened = _rss_mb()
            view.sort(("h", True)).page()
            sorted_ = _rss_mb()
            print("DuckDB, a 100M-row query")
            print(f"  kernel memory: +{opened - before:.0f} MB after the first page, "
                  f"+{sorted_ - before:.0f} MB after a sort click")


if __name__ == "__main__":
    main()
