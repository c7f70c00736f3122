"""Which client should sqlnb's PostgreSQL engine use? Every candidate path, side by side in one run.

    python -m benchmarks.postgres_paths [--url URL] [--rows N] [--repeats N] [--only SECTION ...]
                                        [--json PATH]

Without --url it starts a throwaway server (tests/pg_server.py; Debian's PostgreSQL, as in the
tests). Sections (docs/research-postgres.md has the findings of a run):

- `bulk`: `SELECT * FROM t` (N rows x 5 columns: int, numeric(12,2), text, timestamptz, int with
  10% NULLs; 1M by default) into a pandas DataFrame, interleaved, the median of each against
  `pandas.read_sql` on SQLAlchemy + psycopg2 (what JupySQL users get; the baseline): ADBC's
  `fetch_arrow_table().to_pandas()` and its `fetch_record_batch()` stream into sqlnb's own
  ArrowFrameBuilder; psycopg 3 `fetchall()` (text and binary), its chunked `stream(size=)`, a
  server-side (named) cursor's `fetchmany()`, `COPY (query) TO STDOUT` as CSV read by pyarrow
  (whole and streamed), binary COPY through psycopg's `rows()`; `read_sql` on SQLAlchemy +
  psycopg 3. Then, per path, in a fresh process: the peak memory above the start, and the
  seconds to the first rows.
- `cancel`: a cancel from another thread (a) while a long query executes, (b) while its rows
  stream: milliseconds from the cancel call to the error in the query's thread, the error, whether
  the connection answers `SELECT 1` afterwards, and whether pg_stat_activity still shows the query
  `active` (looked at from another connection, 0.5 s later).
- `types`: what each path makes of numeric, timestamptz, interval, json/jsonb, arrays, uuid,
  bytea, inet, enum, money.
- `readonly`: read-only sessions and transactions: what a write gets (SQLSTATE 25006), what
  else is refused, whether the user can undo it, what it costs per query; TEMP tables and SET
  across connections.
- `connect`: the time to fail against a closed port, an unroutable address, a port that accepts
  and says nothing, one that answers HTTP; with and without `connect_timeout`.
- `kill`: a server stopped (`pg_ctl -m immediate`), a backend killed (SIGKILL) and a server frozen
  (SIGSTOP) while a query runs: the error and the time to it, and whether a new connection works
  once the server is back.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .report import CaseResult, Table, as_json, render
from .runner import Contender, Series, round_robin, seconds

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("bulk", "cancel", "types", "readonly", "connect", "kill", "adbc")
BULK = "SELECT * FROM t"
#: a query that runs for hours (a nested loop over t x t), for cancels and kills
LONG = "SELECT count(*) FROM t a CROSS JOIN t b WHERE a.d + b.d = -1"
#: a query whose rows stream for a long time (t repeated to 20M rows; set by main())
STREAMING = "SELECT t.* FROM t CROSS JOIN generate_series(1, 20) g"


# -- the table --------------------------------------------------------------------------------

def build_table(url: str, rows: int) -> None:
    """t (id int, amount numeric(12,2), label text of 8-12 letters, ts timestamptz, d int with
    10% NULLs): deterministic, built once per server (rebuilt if its row count differs)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('t') IS NOT NULL").fetchone()[0]
        if exists and conn.execute("SELECT count(*) FROM t").fetchone()[0] == rows:
            return
        conn.execute("DROP TABLE IF EXISTS t")
        conn.execute(f"""
            CREATE TABLE t AS SELECT
              i AS id,
              ((i::bigint * 7919) % 10000000 / 100.0)::numeric(12,2) AS amount,
              substr(md5(i::text), 1, 8 + i % 5) AS label,
              timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' AS ts,
              CASE WHEN i % 10 = 0 THEN NULL ELSE (i * 31) % 100000 END::int AS d
            FROM generate_series(1, {rows}) i""")
        conn.execute("ALTER TABLE t ADD PRIMARY KEY (id)")
        conn.execute("VACUUM ANALYZE t")


# -- the bulk paths ---------------------------------------------------------------------------
# Each opener connects once (as an open Database would be) and returns `run(sql) -> DataFrame`
# and, for streaming paths, `first(sql) -> seconds to the first rows`.

class _Column:
    """A result column as PostgreSQL describes it: name, type oid, numeric's precision/scale."""

    def __init__(self, name: str, type_code: int, modifier: int) -> None:
        self.name, self.type_code = name, type_code
        numeric = type_code == 1700 and modifier >= 4
        self.precision = ((modifier - 4) >> 16) & 0xFFFF if numeric else None
        self.scale = (modifier - 4) & 0xFFFF if numeric else None


def _arrow_type(column: Any, numeric_as_text: bool = False) -> Any:
    """The Arrow type of a PostgreSQL column (for reading COPY's CSV), exact where it matters:
    numeric(p,s) is decimal128(p,s) (text with `numeric_as_text`, as ADBC gives it), numeric
    without a precision stays text."""
    import pyarrow as pa

    simple = {16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 700: pa.float32(),
              701: pa.float64(), 1082: pa.date32(), 1114: pa.timestamp("us"),
              1184: pa.timestamp("us", tz="UTC")}
    if column.type_code == 1700 and column.precision and not numeric_as_text:
        return pa.decimal128(column.precision, column.scale or 0)
    return simple.get(column.type_code, pa.string())


def _csv_options(description: Any, numeric_as_text: bool = False) -> tuple[Any, Any, Any]:
    import pyarrow.csv as pacsv

    names = [column.name for column in description]
    read = pacsv.ReadOptions(column_names=names, block_size=1 << 22)
    # COPY's CSV: NULL is an empty unquoted field, an empty string is ""
    convert = pacsv.ConvertOptions(
        column_types={c.name: _arrow_type(c, numeric_as_text) for c in description},
        strings_can_be_null=True, quoted_strings_can_be_null=False)
    return read, pacsv.ParseOptions(newlines_in_values=True), convert


def _describe(cur: Any, sql: str) -> list[_Column]:
    """The columns of `sql` without running it (libpq's describe of an unnamed prepared
    statement: one round trip; a `LIMIT 0` wrapper would run a data-modifying WITH)."""
    pgconn = cur.connection.pgconn
    prepared = pgconn.prepare(b"", sql.encode())
    if prepared.status != 1:  # COMMAND_OK
        raise RuntimeError(prepared.error_message.decode())
    result = pgconn.describe_prepared(b"")
    return [_Column(result.fname(i).decode(), result.ftype(i), result.fmod(i))
            for i in range(result.nfields)]


class _CopyFile(io.RawIOBase):
    """A read-only file over psycopg's COPY TO STDOUT chunks, for pyarrow's streaming reader."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            try:
                self._rest = bytes(next(self._chunks))
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


def open_path(name: str, url: str) -> dict[str, Callable[..., Any]]:
    """The path `name` connected to `url`: {"run": sql -> DataFrame, "first": sql -> seconds to
    the first rows (streaming paths only), "close": ...}."""
    import pandas as pd

    if name.startswith("read_sql"):
        import sqlalchemy

        dialect = "psycopg2" if "psycopg2" in name else "psycopg"
        engine = sqlalchemy.create_engine(url.replace("postgresql://",
                                                      f"postgresql+{dialect}://"))
        return {"run": lambda sql: pd.read_sql(sql, engine), "close": engine.dispose}
    if name.startswith("adbc"):
        import adbc_driver_postgresql.dbapi as adbc

        conn = adbc.connect(url)
        if name == "adbc arrow table":
            def run(sql: str) -> Any:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetch_arrow_table().to_pandas()

            return {"run": run, "close": conn.close}

        def stream(sql: str, first_only: bool = False) -> Any:
            from adbc_driver_postgresql import StatementOptions

            from sqlnb.results import ArrowFrameBuilder

            start = time.perf_counter()
            with conn.cursor() as cur:
                if "1 MB" in name:  # the driver's default hint is 16 MB per batch
                    cur.adbc_statement.set_options(
                        **{StatementOptions.BATCH_SIZE_HINT_BYTES.value: str(1 << 20)})
                cur.execute(sql)
                reader = cur.fetch_record_batch()
                builder = ArrowFrameBuilder(reader.schema.names)
                for batch in reader:
                    if first_only:
                        reader.close()
                        return time.perf_counter() - start
                    builder.add(batch)
                return builder.frame()

        return {"run": stream, "first": lambda sql: stream(sql, True), "close": conn.close}
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    close = conn.close
    if name in ("psycopg fetchall text", "psycopg fetchall binary"):
        def fetchall(sql: str) -> Any:
            with conn.cursor(binary=name.endswith("binary")) as cur:
                cur.execute(sql)
                names = [c.name for c in cur.description]
                return pd.DataFrame.from_records(cur.fetchall(), columns=names)

        return {"run": fetchall, "close": close}
    if name == "psycopg stream(size=8192)":
        def chunked(sql: str, first_only: bool = False) -> Any:
            start = time.perf_counter()
            frames, chunk = [], []
            with conn.cursor(binary=True) as cur:
                for row in cur.stream(sql, size=8192):
                    chunk.append(row)
                    if first_only:
                        cur.close()  # psycopg cancels the rest of the result
                        return time.perf_counter() - start
                    if len(chunk) == 65536:
                        frames.append(pd.DataFrame.from_records(chunk, columns=_names(cur)))
                        chunk = []
                if chunk or not frames:
                    frames.append(pd.DataFrame.from_records(chunk, columns=_names(cur)))
            return pd.concat(frames, ignore_index=True)

        return {"run": chunked, "first": lambda sql: chunked(sql, True), "close": close}
    if name == "psycopg named cursor":
        def named(sql: str, first_only: bool = False) -> Any:
            start = time.perf_counter()
            frames = []
            with conn.transaction(), conn.cursor("sqlnb_probe", binary=True) as cur:
                cur.execute(sql)
                while rows := cur.fetchmany(65536 if not first_only else 8192):
                    if first_only:
                        return time.perf_counter() - start
                    frames.append(pd.DataFrame.from_records(rows, columns=_names(cur)))
            return pd.concat(frames, ignore_index=True)

        return {"run": named, "first": lambda sql: named(sql, True), "close": close}
    if name in ("COPY csv -> pyarrow", "COPY csv streamed -> pyarrow"):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO'")
        whole = name == "COPY csv -> pyarrow"

        def copy_csv(sql: str, first_only: bool = False) -> Any:
            start = time.perf_counter()
            with conn.cursor() as cur:
                options = _csv_options(_describe(cur, sql))
                with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
                    if whole:
                        data = b"".join(bytes(chunk) for chunk in copy)
                        return pacsv.read_csv(io.BytesIO(data), *options).to_pandas()
                    # no threads: pyarrow's read-ahead thread would call into the COPY (a
                    # Python object) after it ends, which crashed the process
                    read_options = options[0]
                    read_options.use_threads = False
                    reader = pacsv.open_csv(io.BufferedReader(_CopyFile(iter(copy)), 1 << 20),
                                            read_options, *options[1:])
                    batches = []
                    for batch in reader:
                        if first_only:
                            took = time.perf_counter() - start
                            conn.cancel_safe()  # the rest of the COPY is not wanted
                            return took
                        batches.append(batch)
            return pa.Table.from_batches(batches, reader.schema).to_pandas()

        def guarded_first(sql: str) -> float:
            took = 0.0
            with contextlib.suppress(psycopg.errors.QueryCanceled):
                took = copy_csv(sql, True)
            return took

        out = {"run": copy_csv, "close": close}
        if not whole:
            out["first"] = guarded_first
        return out
    if name == "COPY csv 1 MB blocks -> ArrowFrameBuilder":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO'")

        def blocks(sql: str, first_only: bool = False) -> Any:
            """COPY's CSV cut into blocks of about 1 MB, each read by pyarrow and added to
            sqlnb's builder: PostgreSQL sends one CopyData message per row, so a block of
            messages always holds whole rows (no quoting to look at)."""
            from sqlnb.results import ArrowFrameBuilder

            start = time.perf_counter()
            with conn.cursor() as cur:
                read, parse, convert = _csv_options(_describe(cur, sql), numeric_as_text=True)
                builder = ArrowFrameBuilder(read.column_names)
                pending: list[Any] = []
                size = 0
                try:
                    with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
                        for message in copy:
                            pending.append(message)
                            size += len(message)
                            if size >= 1 << 20:
                                block = pa.py_buffer(b"".join(pending))
                                pending, size = [], 0
                                for batch in pacsv.read_csv(block, read, parse,
                                                            convert).to_batches():
                                    builder.add(batch)
                                if first_only:
                                    took = time.perf_counter() - start
                                    conn.cancel_safe()
                                    return took
                        if pending:
                            block = pa.py_buffer(b"".join(pending))
                            for batch in pacsv.read_csv(block, read, parse,
                                                        convert).to_batches():
                                builder.add(batch)
                except psycopg.errors.QueryCanceled:
                    if first_only:
                        return took
                    raise
            return builder.frame()

        return {"run": blocks, "first": lambda sql: blocks(sql, True), "close": close}
    if name == "COPY binary -> psycopg rows()":
        def copy_binary(sql: str) -> Any:
            with conn.cursor() as cur:
                description = _describe(cur, sql)
                with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as copy:
                    copy.set_types([c.type_code for c in description])
                    rows = list(copy.rows())
            return pd.DataFrame.from_records(rows, columns=[c.name for c in description])

        return {"run": copy_binary, "close": close}
    raise ValueError(f"no path {name!r}")


def _names(cur: Any) -> list[str]:
    return [c.name for c in cur.description]


BASELINE = "read_sql SQLAlchemy+psycopg2"
PATHS = [BASELINE, "read_sql SQLAlchemy+psycopg3", "psycopg fetchall text",
         "psycopg fetchall binary", "psycopg stream(size=8192)", "psycopg named cursor",
         "COPY binary -> psycopg rows()", "COPY csv -> pyarrow", "COPY csv streamed -> pyarrow",
         "COPY csv 1 MB blocks -> ArrowFrameBuilder",
         "adbc arrow table", "adbc record batches -> ArrowFrameBuilder",
         "adbc record batches (1 MB) -> ArrowFrameBuilder"]


def bulk(url: str, rows: int, repeats: int, only: list[str] | None = None) -> list[Table]:
    paths = [n for n in PATHS if n == BASELINE or not only or any(o in n for o in only)]
    opened = {name: open_path(name, url) for name in paths}
    dtypes: dict[str, str] = {}

    def sample(name: str) -> Callable[[], float]:
        def run() -> float:
            frame: Any = None

            def go() -> None:
                nonlocal frame
                frame = opened[name]["run"](BULK)

            took = seconds(go)
            assert len(frame) == rows, (name, len(frame))
            dtypes[name] = ", ".join(str(t) for t in frame.dtypes)
            return took

        return run

    series = round_robin([Contender(n, sample(n), "baseline" if n == BASELINE else "")
                          for n in paths], repeats)
    for path in opened.values():
        path["close"]()
    time_table = Table(f"SELECT * of {rows:,} rows x 5 columns into a DataFrame, "
                       f"{repeats} samples each, interleaved", "s", series, baseline=BASELINE)
    time_table.notes += [f"dtypes of {name}: {dtypes.get(name, '?')}" for name in paths]
    memory = [Series(name, "baseline" if name == BASELINE else "") for name in paths]
    firsts = [Series(name) for name in paths if name in _streaming_paths(url)]
    for _ in range(max(1, repeats // 3)):
        for entry in memory:
            reply = _child(url, "memory", entry.name, rows)
            if "error" in reply:
                entry.error = reply["error"]
            else:
                entry.samples.append(reply["peak_mb"])
    for _ in range(repeats):
        for entry in firsts:
            reply = _child(url, "first", entry.name, rows)
            entry.samples.append(reply["seconds"] * 1000)
    memory_table = Table(f"peak memory above the start while reading {rows:,} rows "
                         "(a fresh process per sample; the frame is held)", "MB", memory,
                         baseline=BASELINE)
    first_table = Table(f"first rows of `{STREAMING}`: from execute to the first batch in the "
                        "client, a fresh process per sample (the other paths give nothing before "
                        "the end)", "ms", firsts)
    return [time_table, memory_table, first_table]


def _streaming_paths(url: str) -> list[str]:
    return ["psycopg stream(size=8192)", "psycopg named cursor", "COPY csv streamed -> pyarrow",
            "COPY csv 1 MB blocks -> ArrowFrameBuilder", "adbc record batches -> ArrowFrameBuilder",
            "adbc record batches (1 MB) -> ArrowFrameBuilder"]


def _child(url: str, what: str, name: str, rows: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "benchmarks.postgres_paths", "--child", what,
                           name, "--url", url, "--rows", str(rows)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    return json.loads(lines[-1])


def child(what: str, name: str, url: str) -> dict[str, Any]:
    """In a fresh process: the peak memory of reading `t` whole, or the time to first rows."""
    path = open_path(name, url)
    if what == "first":
        return {"seconds": path["first"](STREAMING)}
    path["run"]("SELECT * FROM t LIMIT 5")  # imports done, connection warm
    status = Path("/proc/self/status")
    if status.exists():
        Path("/proc/self/clear_refs").write_text("5")
    start = _rss_mb()
    frame = path["run"](BULK)
    peak = _peak_mb()
    del frame
    return {"peak_mb": peak - start}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- cancel -----------------------------------------------------------------------------------

class Probe:
    """What one cancel did: ms to the error, the error, the connection afterwards, the server."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self.errors: set[str] = set()
        self.usable: list[bool] = []
        self.left_active: list[int] = []
        self.rows_before: list[int] = []

    def line(self) -> str:
        ms = f"{statistics.median(self.ms):.1f} ({min(self.ms):.1f}-{max(self.ms):.1f})" \
            if self.ms else "-"
        rows = f"{statistics.median(self.rows_before):,.0f}" if self.rows_before else "-"
        return (f"| {ms} | {'; '.join(sorted(self.errors))} | {sum(self.usable)}/"
                f"{len(self.usable)} | {max(self.left_active, default=0)} | {rows} |")


def _active(monitor: Any, marker: str) -> int:
    """Backends still running a query that holds `marker` (0.5 s after the cancel)."""
    time.sleep(0.5)
    return monitor.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                           "query LIKE %s AND pid <> pg_backend_pid()",
                           (f"%{marker}%",)).fetchone()[0]


def _cancel_once(client: str, url: str, streaming: bool, monitor: Any, probe: Probe,
                 tag: int) -> None:
    """Run LONG (or STREAMING, consuming rows) on `client` in a thread, cancel it 1 s in."""
    marker = f"sqlnb_probe_{os.getpid()}_{tag}"
    sql = f"/* {marker} */ " + (STREAMING if streaming else LONG)
    state: dict[str, Any] = {"rows": 0}
    started = threading.Event()
    conn, cancel, after, cursor_holder = _cancel_client(client, url)

    def worker() -> None:
        try:
            _consume(client, conn, sql, state, started, cursor_holder)
            state["error"] = "finished (no error)"
        except BaseException as error:
            state["at"] = time.perf_counter()
            state["error"] = _error_name(error)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    started.wait(30)
    time.sleep(1.0)
    state["rows_at_cancel"] = state["rows"]
    t0 = time.perf_counter()
    try:
        cancel(cursor_holder)
    except Exception as error:
        probe.errors.add(f"the cancel raised {_error_name(error)}")
    thread.join(60)
    if thread.is_alive():
        probe.errors.add("no error within 60 s")
        return
    if "at" in state:
        probe.ms.append((state["at"] - t0) * 1000)
    probe.errors.add(state["error"])
    probe.rows_before.append(state["rows_at_cancel"])
    probe.usable.append(after(conn))
    probe.left_active.append(_active(monitor, marker))
    with contextlib.suppress(Exception):
        conn.close()


def _error_name(error: BaseException, tail: bool = False) -> str:
    """The error's class, SQLSTATE and message (its first 70 characters, or with `tail` the
    last 90, where libpq says why a connection failed)."""
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    text = " ".join(str(error).split())
    text = ("..." + text[-90:] if len(text) > 90 else text) if tail else text[:70]
    return f"{type(error).__module__.split('.')[0]}.{type(error).__name__}" + \
        (f" [{sqlstate}]" if sqlstate else "") + (f": {text}" if text else "")


def _cancel_client(client: str, url: str) -> tuple[Any, Callable, Callable, dict]:
    """(connection, cancel(holder), usable_afterwards(conn) -> bool, holder)."""
    holder: dict[str, Any] = {}
    if client.startswith("adbc"):
        import adbc_driver_postgresql.dbapi as adbc

        conn = adbc.connect(url, autocommit=True)

        def after(c: Any) -> bool:
            try:
                with c.cursor() as cur:
                    cur.execute("SELECT 1")
                    return cur.fetchone() == (1,)
            except Exception:
                return False

        return conn, lambda h: h["cursor"].adbc_cancel(), after, holder
    if client == "psycopg2":
        import psycopg2

        conn = psycopg2.connect(url)

        def after2(c: Any) -> bool:
            try:
                c.rollback()
                with c.cursor() as cur:
                    cur.execute("SELECT 1")
                    return cur.fetchone() == (1,)
            except Exception:
                return False

        return conn, lambda h: conn.cancel(), after2, holder
    import psycopg

    conn = psycopg.connect(url, autocommit=client != "psycopg named cursor")

    def after3(c: Any) -> bool:
        try:
            if not c.autocommit:
                c.rollback()
            return c.execute("SELECT 1").fetchone() == (1,)
        except Exception:
            return False

    return conn, lambda h: conn.cancel_safe(timeout=10), after3, holder


def _consume(client: str, conn: Any, sql: str, state: dict, started: threading.Event,
             holder: dict) -> None:
    """Run `sql` on `client`'s way and pull every row, counting them in state["rows"]."""
    if client.startswith("adbc"):
        with conn.cursor() as cur:
            holder["cursor"] = cur
            started.set()
            cur.execute(sql)
            if client == "adbc arrow table":
                state["rows"] = cur.fetch_arrow_table().num_rows
                return
            for batch in cur.fetch_record_batch():
                state["rows"] += batch.num_rows
        return
    if client == "psycopg2":
        with conn.cursor() as cur:
            started.set()
            cur.execute(sql)
            state["rows"] = len(cur.fetchall())
        return
    if client == "psycopg fetchall":
        with conn.cursor(binary=True) as cur:
            started.set()
            cur.execute(sql)
            state["rows"] = len(cur.fetchall())
        return
    if client == "psycopg stream(size=8192)":
        with conn.cursor(binary=True) as cur:
            started.set()
            for _ in cur.stream(sql, size=8192):
                state["rows"] += 1
        return
    if client == "psycopg named cursor":
        with conn.cursor("sqlnb_probe", binary=True) as cur:
            started.set()
            cur.execute(sql)
            while rows := cur.fetchmany(8192):
                state["rows"] += len(rows)
        return
    if client == "psycopg COPY csv":
        started.set()  # entering copy() waits for the query's first row
        with conn.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
            for chunk in copy:
                state["rows"] += bytes(chunk).count(b"\n")
        return
    raise ValueError(client)


CANCEL_CLIENTS = ["psycopg fetchall", "psycopg stream(size=8192)", "psycopg named cursor",
                  "psycopg COPY csv", "psycopg2", "adbc arrow table", "adbc record batches"]


def cancel(url: str, repeats: int) -> list[str]:
    import psycopg

    lines = ["| client | phase | ms to the error: median (min-max) | error in the query's thread | "
             "connection usable after | left `active` | rows seen before the cancel |",
             "|---|---|---|---|---|---|---|"]
    with psycopg.connect(url, autocommit=True) as monitor:
        tag = 0
        for client in CANCEL_CLIENTS:
            for streaming in (False, True):
                probe = Probe()
                for _ in range(repeats):
                    tag += 1
                    _cancel_once(client, url, streaming, monitor, probe, tag)
                phase = "rows stream" if streaming else "executes"
                lines.append(f"| {client} | {phase} " + probe.line())
        lines += ["", "A cancel that arrives while a named cursor's transaction is idle "
                  "between two FETCHes reaches no query:"]
        lines.append(_named_cursor_idle(url, monitor))
    return lines


def _named_cursor_idle(url: str, monitor: Any) -> str:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor("idle_probe") as cur:
        cur.execute(STREAMING)
        cur.fetchmany(10)
        conn.cancel_safe(timeout=10)
        try:
            more = len(cur.fetchmany(10))
            outcome = f"the next FETCH still returned {more} rows: the cancel was lost"
        except psycopg.Error as error:
            outcome = f"the next FETCH raised {_error_name(error)}"
        conn.rollback()
    return f"- {outcome}"


# -- types ------------------------------------------------------------------------------------

TYPES_SQL = """SELECT 12345.67::numeric(12,2) AS numeric_12_2,
 123456789012345678901234567890.123456789::numeric AS numeric_big,
 'NaN'::numeric AS numeric_nan,
 timestamptz '2024-03-01 12:34:56.789012+02' AS tstz,
 interval '1 year 2 months 3 days 04:05:06.789' AS iv,
 '{"a": [1, 2.5, null]}'::json AS js, '{"b": {"c": true}}'::jsonb AS jsb,
 ARRAY[1, 2, NULL]::int[] AS int_array, ARRAY['x', 'y']::text[] AS text_array,
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '\\xdeadbeef'::bytea AS by,
 '192.168.0.1/24'::inet AS ip, 'happy'::sqlnb_mood AS mood, 12.5::money AS mo,
 9007199254740993::bigint AS big_int, NULL::int AS null_int"""


def types(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TYPE IF EXISTS sqlnb_mood CASCADE")
        conn.execute("CREATE TYPE sqlnb_mood AS ENUM ('sad', 'ok', 'happy')")
    frames = {}
    for name in ("psycopg fetchall text", "psycopg fetchall binary", "COPY csv -> pyarrow",
                 "adbc arrow table", "adbc record batches -> ArrowFrameBuilder", BASELINE):
        path = open_path(name, url)
        try:
            frames[name] = path["run"](TYPES_SQL)
        except Exception as error:
            frames[name] = error
        path["close"]()
    names = list(frames)
    lines = ["| column | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    columns = next(f.columns for f in frames.values() if not isinstance(f, Exception))
    for column in columns:
        cells = []
        for name in names:
            frame = frames[name]
            if isinstance(frame, Exception):
                cells.append(f"error: {_error_name(frame)}")
                continue
            value = frame[column].iloc[0]
            shown = repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            cells.append(f"`{frame[column].dtype}` {shown}".replace("|", "\\|"))
        lines.append(f"| {column} | " + " | ".join(cells) + " |")
    return lines


# -- read-only sessions, TEMP and SET ---------------------------------------------------------

def readonly(url: str, calls: int) -> list[str]:
    import psycopg

    out = []
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS ro_t; CREATE TABLE ro_t (x int)")
        admin.execute("DROP SEQUENCE IF EXISTS ro_s; CREATE SEQUENCE ro_s")
        admin.execute("CREATE OR REPLACE FUNCTION ro_f() RETURNS int LANGUAGE sql AS "
                      "'INSERT INTO ro_t VALUES (1) RETURNING x'")
    reader = psycopg.connect(url, autocommit=True,
                             options="-c default_transaction_read_only=on")
    tries = ["INSERT INTO ro_t VALUES (1)", "SELECT ro_f()", "SELECT nextval('ro_s')",
             "CREATE TEMP TABLE ro_tmp (x int)", "CREATE TABLE ro_new (x int)",
             "SELECT * FROM ro_t FOR UPDATE", "COPY ro_t FROM STDIN",
             "SET search_path = public", "SELECT pg_advisory_lock(1)",
             "EXPLAIN ANALYZE INSERT INTO ro_t VALUES (1)", "VACUUM ro_t",
             "BEGIN READ WRITE; INSERT INTO ro_t VALUES (2); ROLLBACK",
             "SET default_transaction_read_only = off; INSERT INTO ro_t VALUES (3)",
             "SET default_transaction_read_only = off", "INSERT INTO ro_t VALUES (4)"]
    out.append("Connection opened with `options='-c default_transaction_read_only=on'`, "
               "autocommit:")
    out.append("| statement | result |")
    out.append("|---|---|")
    for sql in tries:
        try:
            if sql.startswith("COPY"):
                with reader.cursor() as cur, cur.copy(sql) as copy:
                    copy.write_row((1,))
            else:
                reader.execute(sql)
            result = "runs"
        except psycopg.Error as error:
            result = _error_name(error)
        out.append(f"| `{sql}` | {result} |")
    reader.close()
    # the cost per query: autocommit on a read-only session, vs BEGIN READ ONLY ... COMMIT
    conn_a = psycopg.connect(url, autocommit=True, options="-c default_transaction_read_only=on")
    conn_b = psycopg.connect(url)
    conn_b.read_only = True

    def session_ro() -> float:
        start = time.perf_counter()
        for i in range(calls):
            conn_a.execute("SELECT * FROM t WHERE id = %s", (i + 1,)).fetchall()
        return (time.perf_counter() - start) / calls * 1e6

    def transaction_ro() -> float:
        start = time.perf_counter()
        for i in range(calls):
            conn_b.execute("SELECT * FROM t WHERE id = %s", (i + 1,)).fetchall()
            conn_b.commit()
        return (time.perf_counter() - start) / calls * 1e6

    import adbc_driver_postgresql.dbapi as adbc
    from adbc_driver_postgresql import StatementOptions

    conn_c = adbc.connect(url + "?options=-c%20default_transaction_read_only%3Don",
                          autocommit=True)

    def adbc_lookup(options: dict[str, str]) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            for i in range(calls):
                with conn_c.cursor() as cur:
                    cur.adbc_statement.set_options(**options)
                    cur.execute("SELECT * FROM t WHERE id = $1", (i + 1,))
                    cur.fetch_arrow_table()
            return (time.perf_counter() - start) / calls * 1e6

        return run

    session = "psycopg: autocommit, default_transaction_read_only=on"
    series = round_robin([
        Contender(session, session_ro, "baseline"),
        Contender("psycopg: BEGIN READ ONLY ... COMMIT (read_only=True)", transaction_ro),
        Contender("ADBC: read-only session, fetch_arrow_table()", adbc_lookup({})),
        Contender("ADBC: the same with use_copy=false", adbc_lookup(
            {StatementOptions.USE_COPY.value: "false"})),
    ], 5)
    conn_c.close()
    table = Table(f"one-row lookup by primary key, {calls} calls per sample", "us/call",
                  series, baseline=session)
    out += ["", *render(CaseResult("readonly", "cost", tables=[table])).splitlines()[1:]]
    conn_a.close()
    conn_b.close()
    # TEMP tables and SET belong to one session (connection)
    writer = psycopg.connect(url, autocommit=True)
    other = psycopg.connect(url, autocommit=True)
    writer.execute("CREATE TEMP TABLE tmp_x (x int)")
    try:
        other.execute("SELECT * FROM tmp_x")
        seen = "visible"
    except psycopg.Error as error:
        seen = _error_name(error)
    out.append("")
    out.append(f"- a TEMP table made on one connection, read on another: {seen}")
    writer.execute("SET search_path = pg_catalog, public")
    out.append("- `SET search_path` on one connection; another shows "
               f"`{other.execute('SHOW search_path').fetchone()[0]}`")
    writer.execute("BEGIN")
    writer.execute("SET work_mem = '77MB'")
    writer.execute("ROLLBACK")
    out.append("- `BEGIN; SET work_mem = '77MB'; ROLLBACK`, then `SHOW work_mem`: "
               f"`{writer.execute('SHOW work_mem').fetchone()[0]}` (SET is transactional)")
    writer.execute("BEGIN")
    writer.execute("SET LOCAL work_mem = '55MB'")
    writer.execute("COMMIT")
    out.append("- `SET LOCAL` inside a transaction, after COMMIT: "
               f"`{writer.execute('SHOW work_mem').fetchone()[0]}`")
    writer.close()
    other.close()
    # several statements in one execute, without and with parameters
    with psycopg.connect(url, autocommit=True) as conn:
        for params in (None, (1,)):
            sql = "SELECT 1; SELECT 2" if params is None else "SELECT %s; SELECT 2"
            try:
                cur = conn.execute(sql, params)
                got = f"runs, {cur.fetchall()} (the last statement's rows; nextset() for others)"
            except psycopg.Error as error:
                got = _error_name(error)
            out.append(f"- psycopg `execute({sql!r}, {params})`: {got}")
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as conn, conn.cursor() as cur:
        try:
            cur.execute("SELECT 1; SELECT 2")
            got = f"runs, {cur.fetchall()}"
        except Exception as error:
            got = _error_name(error)
        out.append(f"- ADBC `execute('SELECT 1; SELECT 2')`: {got}")
    return out


# -- connect ----------------------------------------------------------------------------------

def _listener(talk: bytes | None) -> tuple[int, Callable[[], None]]:
    """A TCP port on 127.0.0.1 that accepts and says nothing (talk None) or says `talk`."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()
    held = []

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            if talk is not None:
                with contextlib.suppress(OSError):
                    conn.recv(1024)
                    conn.sendall(talk)
                    conn.close()

    threading.Thread(target=serve, daemon=True).start()

    def close() -> None:
        stop.set()
        for conn in held:
            conn.close()
        server.close()

    return server.getsockname()[1], close


def _timed_connect(client: str, dsn: str, limit: float) -> str:
    result: dict[str, Any] = {}

    def go() -> None:
        start = time.perf_counter()
        try:
            if client == "psycopg":
                import psycopg

                psycopg.connect(dsn).close()
            elif client == "psycopg2":
                import psycopg2

                psycopg2.connect(dsn).close()
            else:
                import adbc_driver_postgresql.dbapi as adbc

                adbc.connect(dsn).close()
            result["text"] = "connected?!"
        except Exception as error:
            result["text"] = _error_name(error, tail=True)
        result["s"] = time.perf_counter() - start

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        return f"still waiting after {limit:g} s"
    return f"{result['s']:.2f} s: {result['text']}"


def connect_probes(limit: float) -> list[str]:
    silent_port, close_silent = _listener(None)
    http_port, close_http = _listener(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    closed_port = _free_port()
    targets = {"closed port 127.0.0.1": f"127.0.0.1:{closed_port}",
               "unroutable 10.255.255.1": "10.255.255.1:5432",
               "silent listener 127.0.0.1": f"127.0.0.1:{silent_port}",
               "HTTP server 127.0.0.1": f"127.0.0.1:{http_port}"}
    lines = ["| target | connect_timeout | psycopg 3 | psycopg2 | ADBC |", "|---|---|---|---|---|"]
    for label, where in targets.items():
        for timeout in (None, 3):
            dsn = f"postgresql://sqlnb@{where}/sqlnb"
            if timeout:
                dsn += f"?connect_timeout={timeout}"
            cells = [_timed_connect(c, dsn, limit) for c in ("psycopg", "psycopg2", "adbc")]
            lines.append(f"| {label} | {timeout or 'none'} | " + " | ".join(cells) + " |")
    close_silent()
    close_http()
    return lines


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the server goes away mid-query -----------------------------------------------------------

def kill(rows: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.pg_server import PostgresServer

    lines = ["| what happens to the server | client | error in the query's thread | "
             "s to the error | a new connection afterwards |", "|---|---|---|---|---|"]
    for how in ("pg_ctl -m immediate stop", "SIGKILL the backend", "SIGSTOP the server"):
        clients = ["psycopg", "adbc"] + (["adbc connect_timeout=3"] if "SIGSTOP" in how else [])
        for client in clients:
            with PostgresServer() as server:
                build_table(server.url, min(rows, 100_000))
                lines.append(f"| {how} | {client} | " + _kill_once(server, how, client) + " |")
    return lines


def _pg_ctl(server: Any, *args: str) -> None:
    command = [str(server.bindir / "pg_ctl"), "-D", str(server.folder / "data"), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, capture_output=True, check=False)


def _kill_once(server: Any, how: str, client: str) -> str:
    """LONG on `client` in a thread; 1 s in, the server goes away `how`; what the thread gets."""
    state: dict[str, Any] = {}
    conn, backend, run, cancel = _kill_client(server.url, client)

    def worker() -> None:
        try:
            run()
            state["error"] = "finished"
        except BaseException as error:
            state["error"] = _error_name(error)
        state["at"] = time.perf_counter()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    time.sleep(1.0)
    frozen = [server.postmaster_pid, backend]
    t0 = time.perf_counter()
    if how.startswith("pg_ctl"):
        _pg_ctl(server, "-m", "immediate", "stop")
    elif how.startswith("SIGKILL"):
        os.kill(backend, signal.SIGKILL)  # the postmaster restarts every backend (recovery)
    else:
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
    thread.join(20)
    if not thread.is_alive():
        outcome, took = state["error"], f"{state['at'] - t0:.2f}"
    else:
        outcome, took = "no error within 20 s; " + _unfreeze(conn, client, cancel, thread,
                                                             state), "-"
    if how.startswith("SIGSTOP"):
        for pid in frozen:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
    if how.startswith("pg_ctl"):
        _pg_ctl(server, "-l", str(server.folder / "server.log"), "-w", "-o",
                f"-p {server.port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={server.socket_dir}", "start")
    back = time.perf_counter()
    with contextlib.suppress(Exception):
        cancel()
    thread.join(10)
    with contextlib.suppress(Exception):
        conn.close()
    return f"{outcome} | {took} | {_reconnect(server.url, back)}"


def _kill_client(url: str, client: str) -> tuple[Any, int, Callable[[], None],
                                                  Callable[[], None]]:
    """(connection, its backend's pid, run LONG, cancel it) for psycopg or ADBC."""
    if client == "psycopg":
        import psycopg

        conn = psycopg.connect(url, autocommit=True)
        return (conn, conn.info.backend_pid, lambda: conn.execute(LONG),
                lambda: conn.cancel_safe(timeout=3))
    import adbc_driver_postgresql.dbapi as adbc

    conn = adbc.connect(url + ("?connect_timeout=3" if "connect_timeout" in client else ""),
                        autocommit=True)
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    backend = cur.fetchone()[0]

    def run() -> None:
        cur.execute(LONG)
        cur.fetchall()

    return conn, backend, run, cur.adbc_cancel


def _unfreeze(conn: Any, client: str, cancel: Callable[[], None], thread: threading.Thread,
              state: dict[str, Any]) -> str:
    """What gets a query on a frozen server (SIGSTOP) to end: a cancel, then (psycopg) a
    shutdown of the connection's socket from another thread."""
    done: dict[str, str] = {}

    def call_cancel() -> None:
        start = time.perf_counter()
        try:
            cancel()
            done["text"] = f"returned after {time.perf_counter() - start:.1f} s"
        except Exception as error:
            done["text"] = f"{_error_name(error)} after {time.perf_counter() - start:.1f} s"

    helper = threading.Thread(target=call_cancel, daemon=True)
    helper.start()
    helper.join(8)
    notes = [f"the cancel: {done.get('text', 'still waiting after 8 s')}"]
    if client == "psycopg":
        start = time.perf_counter()
        with contextlib.suppress(OSError):  # psycopg waits in Python: this wakes it
            socket.socket(fileno=os.dup(conn.pgconn.socket)).shutdown(socket.SHUT_RDWR)
        thread.join(10)
        notes.append("then shutdown() of its socket: " + (
            f"{state['error']} after {state['at'] - start:.2f} s" if not thread.is_alive()
            else "still blocked"))
    else:
        notes.append("ADBC exposes no socket to shut down")
    return "; ".join(notes)


def _reconnect(url: str, back: float) -> str:
    import psycopg

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=3) as fresh:
                fresh.execute("SELECT 1")
            return f"works {time.perf_counter() - back:.1f} s after the server is back"
        except psycopg.Error:
            time.sleep(0.1)
    return "fails for 30 s"


# -- ADBC's own ways -------------------------------------------------------------------------

def adbc_specifics(url: str, rows: int) -> list[str]:
    """What an engine on ADBC must know: statements its COPY path refuses, its path without
    COPY, a stream abandoned part-way, numeric's conversion, parameter types."""
    import adbc_driver_postgresql.dbapi as adbc
    import psycopg
    import pyarrow as pa
    from adbc_driver_postgresql import StatementOptions

    no_copy = {StatementOptions.USE_COPY.value: "false"}
    small = {StatementOptions.BATCH_SIZE_HINT_BYTES.value: str(1 << 20)}
    out = ["| what | result |", "|---|---|"]
    conn = adbc.connect(url, autocommit=True)

    def run(sql: str, options: dict[str, str] | None = None, params: Any = None) -> str:
        with conn.cursor() as cur:
            if options:
                cur.adbc_statement.set_options(**options)
            try:
                cur.execute(sql, params) if params is not None else cur.execute(sql)
                return f"{cur.fetchall()[:2]}"
            except Exception as error:
                return _error_name(error)

    for sql in ("SHOW work_mem", "EXPLAIN SELECT * FROM t WHERE id = 5",
                "INSERT INTO ro_t VALUES (5) RETURNING x"):
        out.append(f"| `{sql}` (default: COPY) | {run(sql)} |")
        out.append(f"| `{sql}` with use_copy=false | {run(sql, no_copy)} |")

    def timed(options: dict[str, str], first_only: bool) -> float:
        start = time.perf_counter()
        with conn.cursor() as cur:
            cur.adbc_statement.set_options(**options)
            cur.execute(STREAMING if first_only else BULK)
            reader = cur.fetch_record_batch()
            for _batch in reader:
                if first_only:
                    took = time.perf_counter() - start
                    cur.adbc_cancel()  # else the next statement waits for the rest (below)
                    with contextlib.suppress(Exception):
                        reader.close()
                    return took
        return time.perf_counter() - start

    for label, options in (("COPY, 1 MB batches", small), ("use_copy=false", no_copy),
                           ("use_copy=false, 1 MB batches", {**no_copy, **small})):
        whole = statistics.median(timed(options, False) for _ in range(3))
        first = statistics.median(timed(options, True) for _ in range(3))
        out.append(f"| {label}: all {rows:,} rows as batches / first batch of a 20M-row "
                   f"stream | {whole:.2f} s / {first * 1000:.0f} ms |")
    # a stream abandoned after its first batch
    with psycopg.connect(url, autocommit=True) as monitor:
        for label, options, cancel_first in (
                ("COPY", small, False), ("COPY, adbc_cancel() before the close", small, True),
                ("use_copy=false", {**no_copy, **small}, False)):
            with conn.cursor() as cur:
                cur.adbc_statement.set_options(**options)
                cur.execute(f"/* abandon_probe */ {STREAMING}")
                reader = cur.fetch_record_batch()
                next(iter(reader))
                start = time.perf_counter()
                if cancel_first:
                    cur.adbc_cancel()
                with contextlib.suppress(Exception):
                    reader.close()
            closed = time.perf_counter() - start
            answer = run("SELECT 1")
            after = time.perf_counter() - start
            active = _active(monitor, "abandon_probe")
            out.append(f"| a 20M-row stream ({label}) closed after its first batch | close and "
                       f"cursor exit {closed * 1000:.0f} ms; then `SELECT 1` gave {answer} "
                       f"{after * 1000:.0f} ms after the close began; still active: {active} |")
    # numeric(12,2) of the 1M rows: ADBC's text, and what converting it costs
    with conn.cursor() as cur:
        cur.execute("SELECT amount FROM t")
        table = cur.fetch_arrow_table()
    text = table.column(0).cast(pa.string()) if pa.types.is_string(
        table.column(0).type.storage_type) else table.column(0)
    conversions = {
        "as text (str dtype)": lambda: text.to_pandas(),
        "cast to decimal128(12,2), pandas ArrowDtype": lambda: text.cast(
            pa.decimal128(12, 2)).to_pandas(types_mapper=_arrow_dtype),
        "cast to decimal128(12,2), object of Decimal": lambda: text.cast(
            pa.decimal128(12, 2)).to_pandas(),
        "cast to float64 (rounds: for reference)": lambda: text.cast(pa.float64()).to_pandas(),
    }
    for label, convert in conversions.items():
        took = statistics.median(seconds(convert) for _ in range(3))
        out.append(f"| numeric(12,2), {rows:,} values: {label} | {took * 1000:.0f} ms |")
    # parameters: what PostgreSQL receives for each Python value
    import datetime
    import decimal
    import uuid

    values = [7, 2.5, decimal.Decimal("1.10"), "text", b"\x00\x01", True, None,
              datetime.date(2024, 3, 1), datetime.datetime(2024, 3, 1, 12, 0),
              datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.timezone.utc),
              uuid.UUID(int=1), [1, 2]]
    for value in values:
        got = run("SELECT $1 AS v, pg_typeof($1)::text AS t", params=(value,))
        out.append(f"| parameter {value!r} | {got} |")
    conn.close()
    return out


def _arrow_dtype(arrow_type: Any) -> Any:
    import pandas as pd

    return pd.ArrowDtype(arrow_type)


# -- main -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a server to use (default: start a throwaway one)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--paths", nargs="*", metavar="TEXT",
                        help="bulk: only the paths whose names hold one of these (and the "
                             "baseline)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global STREAMING
    STREAMING = ("SELECT t.* FROM t CROSS JOIN generate_series(1, "
                 f"{max(20, 20_000_000 // args.rows)}) g")
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.url)), flush=True)
        # no interpreter shutdown: pyarrow's CSV stream abandoned part-way can still have an IO
        # thread inside the Python file object, which crashed the finalizing interpreter
        os._exit(0)
    with contextlib.ExitStack() as stack:
        url = args.url
        if url is None:
            sys.path.insert(0, str(ROOT))
            from tests.pg_server import PostgresServer

            server = stack.enter_context(PostgresServer())
            url = server.url
        build_table(url, args.rows)
        _header(url)
        report: dict[str, Any] = {}
        if "bulk" in args.only:
            result = CaseResult("bulk", "1M rows into a DataFrame", tables=bulk(
                url, args.rows, args.repeats, args.paths))
            print(render(result), flush=True)
            report["bulk"] = as_json(result)
        sections: list[tuple[str, Callable[[], list[str]]]] = [
            ("cancel", lambda: cancel(url, args.repeats)),
            ("types", lambda: types(url)),
            ("readonly", lambda: readonly(url, 2000)),
            ("connect", lambda: connect_probes(20)),
            ("kill", lambda: kill(args.rows)),
            ("adbc", lambda: adbc_specifics(url, args.rows)),
        ]
        for name, fn in sections:
            if name in args.only:
                print(f"\n## {name}\n", flush=True)
                lines = fn()
                print("\n".join(lines), flush=True)
                report[name] = lines
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


def _header(url: str) -> None:
    import pandas
    import psycopg
    import pyarrow

    versions = {"psycopg": psycopg.__version__, "libpq (psycopg)": psycopg.pq.version()}
    for module in ("adbc_driver_postgresql", "psycopg2", "sqlalchemy"):
        with contextlib.suppress(ImportError):
            versions[module] = __import__(module).__version__
    with psycopg.connect(url) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    print(f"PostgreSQL {server}; Python {sys.version.split()[0]}; pandas {pandas.__version__}; "
          f"pyarrow {pyarrow.__version__}; " + "; ".join(f"{k} {v}" for k, v in versions.items())
          + f"; {os.cpu_count()} CPUs", flush=True)


if __name__ == "__main__":
    sys.exit(main())
