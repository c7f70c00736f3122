"""The benchmark data: a table `t` built once into a cached SQLite file under benchmarks/.data/.

    t (id INTEGER PRIMARY KEY, a INTEGER indexed, b REAL, c TEXT of 8-12 letters, d INTEGER,
       NULL in about 10% of rows)

The file is in WAL mode and carries `PRAGMA user_version = VERSION`; a file with another version
or row count is rebuilt. The rows come from a seeded generator, so every machine builds the same
data.
"""

from __future__ import annotations

import math
import random
import shutil
import sqlite3
import string
import time
from collections.abc import Iterator
from pathlib import Path

#: Where the cached files live (gitignored).
DATA_DIR = Path(__file__).resolve().parent / ".data"
#: Bump when the table's definition or contents change, so cached files get rebuilt.
VERSION = 1
SEED = 20_251_125

SCHEMA = """
CREATE TABLE t (
    id INTEGER PRIMARY KEY,
    a INTEGER NOT NULL,
    b REAL NOT NULL,
    c TEXT NOT NULL,
    d INTEGER
)
"""


def table_file(rows: int) -> Path:
    """The cached file with `rows` rows in `t`, built first if it is missing or stale."""
    DATA_DIR.mkdir(exist_ok=True)
    path = DATA_DIR / f"t-{rows}.db"
    if _is_current(path, rows):
        return path
    started = time.perf_counter()
    print(f"building {path.name}: table t with {rows:,} rows ...", flush=True)
    building = path.with_name(path.name + ".building")
    _remove(building)
    _build(building, rows)
    _remove(path)
    building.rename(path)
    print(f"built {path.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return path


def scratch_dir() -> Path:
    """An empty folder for files a case creates (on the data's disk, so fsync costs the same)."""
    path = DATA_DIR / "scratch"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def scaled_source(table_rows: int, want: int = 1_000_000) -> str:
    """A FROM source with at least `want` rows of t's columns: `t` itself when it is that big,
    else t repeated (cross-joined with a counter), for the cases that need a query of a given
    length in a --quick run too."""
    copies = math.ceil(want / table_rows)
    if copies <= 1:
        return "t"
    counter = f"WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < {copies})"
    return f"(SELECT t.* FROM ({counter} SELECT n FROM k) AS k CROSS JOIN t)"


def scaled_label(table_rows: int, want: int = 1_000_000) -> str:
    """How scaled_source() reads, for titles: "t", or "t x10" when t is repeated ten times."""
    copies = math.ceil(want / table_rows)
    return "t" if copies <= 1 else f"t x{copies}"


def _rows(count: int) -> Iterator[tuple[int, int, float, str, int | None]]:
    rng = random.Random(SEED)
    letters = string.ascii_lowercase
    for i in range(1, count + 1):
        text = "".join(rng.choices(letters, k=rng.randint(8, 12)))
        d = None if rng.random() < 0.1 else rng.randrange(1_000_000)
        yield i, rng.randrange(100_000), round(rng.uniform(0, 1000), 3), text, d


def _build(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN")
        conn.execute(SCHEMA)
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", _rows(rows))
        conn.execute("CREATE INDEX t_a ON t (a)")
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _is_current(path: Path, rows: int) -> bool:
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            count = conn.execute("SELECT max(id) FROM t").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return version == VERSION and mode == "wal" and count == rows


def _remove(path: Path) -> None:
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        (path.parent / name).unlink(missing_ok=True)



#: The DuckDB table's columns (10M rows in a full run): BIGINT, BIGINT with NULL in a tenth of
#: the rows (as SQLite's `d`: sqlnb gives it pandas' Int64), UBIGINT, DOUBLE, VARCHAR.
DUCKDB_TABLE = (
    "CREATE TABLE t AS SELECT range AS id, "
    "CASE WHEN range % 10 <> 3 THEN (range * 7919) % 1000003 END AS a, hash(range) AS h, "
    "range / 3.0 AS b, 'v' || (range % 100000)::VARCHAR AS c FROM range({rows})"
)
#: Bump when DUCKDB_TABLE changes: the file's name carries it, so an older file is not reused.
DUCKDB_VERSION = 2


def duckdb_file(rows: int) -> Path:
    """A cached DuckDB file with `rows` rows in `t` (see DUCKDB_TABLE), built first if needed."""
    import duckdb

    DATA_DIR.mkdir(exist_ok=True)
    path = DATA_DIR / f"t-{rows}.v{DUCKDB_VERSION}.duckdb"
    if path.exists():
        try:
            con = duckdb.connect(str(path), read_only=True)
            try:
                current = con.execute("SELECT count(*) FROM t").fetchone()[0] == rows
            finally:
                con.close()
        except duckdb.Error:
            current = False
        if current:
            return path
        path.unlink()
    started = time.perf_counter()
    print(f"building {path.name}: table t with {rows:,} rows ...", flush=True)
    building = path.with_name(path.name + ".building")
    building.unlink(missing_ok=True)
    # (a plain connect, then SET: DuckDB 2 refuses this setting in connect()'s config, where it
    # would be global)
    con = duckdb.connect(str(building))
    try:
        con.execute("SET enable_progress_bar_print = false")
        con.execute(DUCKDB_TABLE.format(rows=rows))
    finally:
        con.close()
    building.rename(path)
    print(f"built {path.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return path


#: The flights table's size and columns: those of nycflights13's `flights` (the flights that
#: left New York City's airports in 2013), a table every SQL-in-notebooks tool demonstrates on.
#: The values are made up by a seeded generator, so every machine builds the same table without
#: a download; the types and the share of NULLs follow the original.
FLIGHTS_ROWS = 336_776
FLIGHTS_VERSION = 1
FLIGHTS_SCHEMA = """
CREATE TABLE flights (
    year INTEGER, month INTEGER, day INTEGER, dep_time INTEGER, sched_dep_time INTEGER,
    dep_delay REAL, arr_time INTEGER, sched_arr_time INTEGER, arr_delay REAL, carrier TEXT,
    flight INTEGER, tailnum TEXT, origin TEXT, dest TEXT, air_time REAL, distance REAL,
    hour INTEGER, minute INTEGER, time_hour TEXT
)
"""


def flights_file(rows: int = FLIGHTS_ROWS) -> Path:
    """A cached SQLite file with the table `flights` (FLIGHTS_ROWS rows unless told), built
    first if needed (about 5 s)."""
    DATA_DIR.mkdir(exist_ok=True)
    name = "flights" if rows == FLIGHTS_ROWS else f"flights-{rows}"
    path = DATA_DIR / f"{name}.v{FLIGHTS_VERSION}.db"
    if path.exists():
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                current = conn.execute("SELECT count(*) FROM flights").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error:
            current = None
        if current == rows:
            return path
        _remove(path)
    started = time.perf_counter()
    print(f"building {path.name}: table flights with {rows:,} rows ...", flush=True)
    building = path.with_name(path.name + ".building")
    _remove(building)
    conn = sqlite3.connect(building, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute(FLIGHTS_SCHEMA)
        conn.executemany(f"INSERT INTO flights VALUES ({', '.join(['?'] * 19)})",
                         _flights(rows))
        conn.execute("COMMIT")
    finally:
        conn.close()
    building.rename(path)
    print(f"built {path.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return path


def _flights(count: int) -> Iterator[tuple[object, ...]]:
    import datetime

    rng = random.Random(SEED + 13)
    carriers = ["UA", "B6", "EV", "DL", "AA", "MQ", "US", "9E", "WN", "VX", "FL", "AS", "F9",
                "YV", "HA", "OO"]
    weights = [58665, 54635, 54173, 48110, 32729, 26397, 20536, 18460, 12275, 5162, 3260, 714,
               685, 601, 342, 32]
    origins = ["EWR", "JFK", "LGA"]
    dests = [f"{a}{b}{c}" for a, b, c in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 5,
                                             "AEIOUYAEIOUYAEIOUYAEIOUYAEIOUY" * 4,
                                             "XLMNPRSTDKXLMNPRSTDKXLMNPRSTDK" * 4)][:105]
    tails = [f"N{rng.randrange(100, 999)}{rng.choice(string.ascii_uppercase)}"
             f"{rng.choice(string.ascii_uppercase)}" for _ in range(4043)]
    start = datetime.date(2013, 1, 1)
    for i in range(count):
        day = start + datetime.timedelta(days=i * 365 // count)
        sched = rng.randrange(5, 24) * 100 + rng.choice(range(0, 60, 5))
        hour, minute = divmod(sched, 100)
        cancelled = rng.random() < 0.0245
        delay = None if cancelled else float(max(-20, int(rng.expovariate(1 / 15)) - 8))
        dep = None if cancelled else (hour * 60 + minute + int(delay or 0)) % 1440
        air = None if cancelled or rng.random() < 0.004 else float(rng.randrange(20, 695))
        arr_delay = None if air is None else float(int(delay or 0) + rng.randrange(-30, 30))
        sched_arr = (hour * 60 + minute + int(air or 150) + 20) % 1440
        arr = None if air is None else (sched_arr + int(arr_delay or 0)) % 1440
        yield (2013, day.month, day.day,
               None if dep is None else dep // 60 * 100 + dep % 60, sched, delay,
               None if arr is None else arr // 60 * 100 + arr % 60,
               sched_arr // 60 * 100 + sched_arr % 60, arr_delay,
               rng.choices(carriers, weights)[0], rng.randrange(1, 8500),
               None if rng.random() < 0.0075 else rng.choice(tails), rng.choice(origins),
               rng.choice(dests), air, float(rng.randrange(17, 4983)), hour, minute,
               f"{day.isoformat()} {hour:02d}:00:00")
