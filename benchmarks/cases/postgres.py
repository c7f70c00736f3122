"""[postgres] sqlnb on PostgreSQL against ADBC's own calls, pandas.read_sql and JupySQL, in one run.

On a throwaway PostgreSQL server started for the case (tests/pg_server.py: Debian's server
programs, a cluster in a temporary folder, gone at the end), the table of
`benchmarks/postgres_paths.py`, `t` of 1M rows x 5 columns (100,000 under --quick; int,
numeric(12,2), text, timestamptz, int with NULL in a tenth of the rows):
- bulk: `SELECT * FROM t` into a DataFrame: ADBC's `cur.fetch_arrow_table().to_pandas()` (the
  baseline), `db.query`, and `pandas.read_sql` on a SQLAlchemy engine over psycopg2 (psycopg 3
  where psycopg2 is missing): what JupySQL users get. Interleaved, in this process.
- magic: a one-row lookup (`WHERE id = 4242`): ADBC's `cur.fetch_df()` (the bare client,
  baseline), `db.query`, sqlnb's `%sql` on that Database, and JupySQL's `%sql` (autopandas, on
  the SQLAlchemy URL of read_sql) in a child process, sampled in turn.
- stop: from `cancel()` to QueryCancelled in the caller, for a long aggregate (a nested loop
  PostgreSQL runs with two parallel workers on the 1M-row table) and for a bulk SELECT being
  fetched, 0.2 s in; the aggregate again on a Database whose sessions plan no parallel
  workers (a diagnosis: the server's time to stop its workers, apart); and from a SIGINT
  (the kernel's Stop) to the end of sqlnb's `%sql` (its one-line "cancelled" error, in this
  process) and of JupySQL's (its KeyboardInterrupt, in a child process; on psycopg2 and on
  psycopg 3), on the same long aggregate. A query JupySQL's Stop leaves running (psycopg2
  waits in libpq, deaf to the signal) is cancelled by the child 5 s after the signal (2 s
  under --quick), and the table says how often that happened.
Targets: db.query <= 1.1x the Arrow path's time and <= 0.3x read_sql's; the magic <= 1.3x the
bare client; cancel median <= 50 ms (the slower kind). JupySQL's figures are reported.
Without PostgreSQL's server programs (or ADBC's driver) the case says so and measures nothing.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import sys
import threading
import time
from typing import Any

import sqlnb

from ..context import Context
from ..env import optional
from ..postgres_paths import BULK, LONG, STREAMING, build_table
from ..report import CaseResult, Table, compare
from ..runner import Contender, cancel_ms, per_call_us, round_robin, seconds
from ..subproc import ROOT, Child, ChildError

ID = "postgres"
TITLE = "PostgreSQL: bulk into a DataFrame, the magic, cancel and Stop"
LOOKUP = "SELECT * FROM t WHERE id = 4242"
SERIAL = "cancel(), the aggregate without parallel workers"
ARROW, QUERY = "fetch_arrow_table().to_pandas()", "db.query"
BARE, MAGIC = "cur.fetch_df()", "sqlnb %sql"
#: the environment variable holding the throwaway server's password for sqlnb (password_env)
PASSWORD_ENV = "SQLNB_BENCH_PG_PASSWORD"
#: seconds into a query when it is cancelled or stopped
AFTER = 0.2


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    if optional("adbc_driver_postgresql.dbapi", "adbc-driver-postgresql", result.notes) is None:
        return result
    if str(ROOT) not in sys.path:  # python -m benchmarks runs from the root; be sure
        sys.path.insert(0, str(ROOT))
    from tests.pg_server import PostgresServer, find_bindir

    if find_bindir() is None:
        result.notes.append("no PostgreSQL server programs (initdb, pg_ctl) were found: the case "
                            "is skipped (apt-get install postgresql, or set SQLNB_PG_BINDIR)")
        return result
    rows = ctx.pick(1_000_000, 100_000)
    with contextlib.ExitStack() as stack:
        server = PostgresServer()
        stack.callback(server.stop)
        build_table(server.url, rows)
        os.environ[PASSWORD_ENV] = server.password
        stack.callback(os.environ.pop, PASSWORD_ENV, None)
        target = f"postgresql://{server.user}@{server.host}:{server.port}/{server.database}"
        db = sqlnb.connect(target, password_env=PASSWORD_ENV, time_limit=600)
        stack.callback(db.close)
        import adbc_driver_postgresql.dbapi as adbc

        con = adbc.connect(server.url)
        stack.callback(con.close)
        engine = _sqlalchemy(server, result.notes)
        if engine is not None:
            stack.callback(engine.dispose)
        # JupySQL on each driver: psycopg2 (SQLAlchemy's postgresql://) and psycopg 3
        jupysqls = {}
        for driver in ("psycopg2", "psycopg"):
            child = _jupysql(server, driver, result.notes)
            if child is not None:
                jupysqls[driver] = stack.enter_context(child)
        bulk = _bulk(db, con, engine, rows, ctx.pick(5, 3))
        jupysql_name = f"JupySQL %sql on {_driver(engine)} (fresh session)"
        magic = _magic(db, con, jupysqls.get(_driver(engine)), jupysql_name, ctx)
        # the same aggregate without PostgreSQL's parallel workers (libpq's `options`), to
        # tell the cancel's own cost from the time the server takes to stop its workers
        serial = sqlnb.connect(f"{target}?options=-c%20max_parallel_workers_per_gather%3D0",
                               password_env=PASSWORD_ENV, time_limit=600)
        stack.callback(serial.close)
        stops = _stops(db, serial, jupysqls, ctx.pick(7, 3), ctx.pick(5.0, 2.0))
    result.tables += [bulk, magic, stops]
    slowest = max((stops.median(n) or math.inf) for n in ("cancel(), an aggregate",
                                                         "cancel(), a bulk fetch"))
    result.targets += [
        compare("db.query / Arrow path, time", bulk.ratio(QUERY), "<=", 1.1),
        compare("db.query / read_sql (SQLAlchemy), time", bulk.ratio(QUERY, _read_sql_name(
            engine)), "<=", 0.3, why_missing="no read_sql figure"),
        compare("sqlnb %sql / bare client", magic.ratio(MAGIC), "<=", 1.3),
        compare("cancel -> QueryCancelled, median (the slower kind)", slowest, "<=", 50,
                unit="ms"),
    ]
    jupysql_lookup = magic.ratio(jupysql_name, MAGIC)
    if jupysql_lookup is not None:
        result.notes.append(f"JupySQL's %sql takes {jupysql_lookup:.2f}x sqlnb's %sql on the "
                            "one-row lookup (reported, no target)")
    return result


def _driver(engine: Any) -> str:
    """The DB-API driver under the SQLAlchemy engine (psycopg2 or psycopg)."""
    return engine.dialect.driver if engine is not None else "psycopg2"


def _read_sql_name(engine: Any) -> str:
    return f"read_sql (SQLAlchemy + {_driver(engine)})"


def _sqlalchemy(server: Any, notes: list[str]) -> Any:
    """A SQLAlchemy engine on psycopg2 (what `postgresql://` means to SQLAlchemy, so what
    JupySQL users get), on psycopg 3 where psycopg2 is missing; None with a note."""
    if optional("sqlalchemy", "SQLAlchemy", notes) is None:
        return None
    import sqlalchemy

    for driver in ("psycopg2", "psycopg"):
        try:
            __import__(driver)
        except ImportError:
            continue
        return sqlalchemy.create_engine(_sqlalchemy_url(server, driver))
    notes.append("neither psycopg2 nor psycopg is installed: read_sql and JupySQL are skipped "
                 "(pip install -e '.[bench]')")
    return None


def _sqlalchemy_url(server: Any, driver: str) -> str:
    return server.url.replace("postgresql://", f"postgresql+{driver}://", 1)


def _jupysql(server: Any, driver: str, notes: list[str]) -> Child | None:
    """A fresh JupySQL session on the server through `driver` in a child process, or None
    with a note."""
    try:
        import sql  # noqa: F401  (JupySQL's package)
        import sqlalchemy  # noqa: F401
        __import__(driver)
    except ImportError as error:
        notes.append(f"JupySQL, SQLAlchemy or {driver} is not installed ({error}): JupySQL on "
                     f"{driver} is skipped (pip install -e '.[bench]')")
        return None
    child = Child("benchmarks.children.jupysql", _sqlalchemy_url(server, driver), LOOKUP)
    try:
        child.request({"calls": 1})
    except ChildError as error:
        child.close()
        notes.append(f"JupySQL on {driver} did not start, its contenders are skipped: {error}")
        return None
    return child


def _bulk(db: sqlnb.Database, con: Any, engine: Any, rows: int, repeats: int) -> Table:
    def arrow() -> None:
        with con.cursor() as cur:
            cur.execute(BULK)
            cur.fetch_arrow_table().to_pandas()

    contenders = [Contender(ARROW, lambda: seconds(arrow), "baseline"),
                  Contender(QUERY, lambda: seconds(lambda: db.query(BULK)))]
    if engine is not None:
        import pandas

        def read_sql() -> None:
            with engine.connect() as conn:
                pandas.read_sql(BULK, conn)

        contenders.append(Contender(_read_sql_name(engine), lambda: seconds(read_sql)))
    return Table(f"SELECT * of {rows:,} rows x 5 columns into a DataFrame, {repeats} samples",
                 "s", round_robin(contenders, repeats), baseline=ARROW)


def _magic(db: sqlnb.Database, con: Any, jupysql: Child | None, jupysql_name: str,
           ctx: Context) -> Table:
    from IPython.core.interactiveshell import InteractiveShell

    calls, repeats = ctx.pick(200, 50), ctx.pick(9, 3)
    jupysql_calls = ctx.pick(50, 20)
    shell = InteractiveShell.instance()
    sqlnb.load_ipython_extension(shell)
    try:
        shell.user_ns["bench_pg"] = db
        shell.run_line_magic("sqlnb", "use bench_pg")
        cur = con.cursor()

        def bare(_i: int) -> None:
            cur.execute(LOOKUP)
            cur.fetch_df()

        contenders = [
            Contender(BARE, lambda: per_call_us(bare, calls), "baseline"),
            Contender(QUERY, lambda: per_call_us(lambda _i: db.query(LOOKUP), calls)),
            Contender(MAGIC, lambda: per_call_us(
                lambda _i: shell.run_line_magic("sql", LOOKUP), calls)),
        ]
        if jupysql is not None:
            contenders.append(Contender(jupysql_name, lambda: float(
                jupysql.request({"calls": jupysql_calls})["us_per_call"])))
        table = Table(f"{LOOKUP}, {calls} calls per sample ({jupysql_calls} for JupySQL), "
                      f"{repeats} samples", "us/call", round_robin(contenders, repeats),
                      baseline=BARE)
        cur.close()
        return table
    finally:
        sqlnb.unload_ipython_extension(shell)


def _stops(db: sqlnb.Database, serial: sqlnb.Database, jupysqls: dict[str, Child],
           repeats: int, give_up: float) -> Table:
    """Milliseconds from a cancel() or a Stop (SIGINT), AFTER s into a query, to its error; a
    query JupySQL's Stop leaves running is cancelled `give_up` s after the SIGINT."""
    from IPython.core.interactiveshell import InteractiveShell

    def cancelled(sql: str, frame: bool, on: sqlnb.Database = db) -> float:
        return cancel_ms(on.submit(sql, dataframe=frame, time_limit=math.inf), AFTER)

    shell = InteractiveShell.instance()
    sqlnb.load_ipython_extension(shell)
    try:
        shell.user_ns["bench_pg"] = db
        shell.run_line_magic("sqlnb", "use bench_pg")
        contenders = [
            Contender("cancel(), an aggregate", lambda: cancelled(LONG, False)),
            Contender("cancel(), a bulk fetch", lambda: cancelled(STREAMING, True)),
            Contender(SERIAL, lambda: cancelled(LONG, False, serial)),
            Contender("Stop, sqlnb %sql", lambda: _stop_magic(shell, db)),
        ]
        outcomes: dict[str, list[bool]] = {}
        for driver, child in jupysqls.items():
            name = f"Stop, JupySQL %sql on {driver}"
            outcomes[name] = []
            contenders.append(Contender(name, functools.partial(
                _stop_jupysql, child, outcomes[name], give_up)))
        table = Table(f"cancel() -> QueryCancelled and Stop (SIGINT) -> KeyboardInterrupt, "
                      f"{AFTER:g} s in, {repeats} samples", "ms",
                      round_robin(contenders, repeats, warmup=0))
    finally:
        sqlnb.unload_ipython_extension(shell)
    for name, ended in outcomes.items():
        if ended:
            rest = (f"; in the others the query ran on until a cancel request sent {give_up:g} s "
                    "after the SIGINT ended it" if not all(ended) else "")
            table.notes.append(f"{name}: the Stop ended the query in {sum(ended)} of "
                               f"{len(ended)} samples{rest}")
    left = _still_running(db)
    table.notes.append(f"queries of t still active on the server afterwards: {left}")
    return table


def _stop_magic(shell: Any, db: sqlnb.Database) -> float:
    """sqlnb's `%sql LONG` stopped by a SIGINT to this process, as the kernel's Stop does."""
    from sqlnb.ipython.magics import SqlCellError

    sent: list[float] = []

    def interrupt() -> None:
        time.sleep(AFTER)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        shell.run_line_magic("sql", f"--time-limit inf {LONG}")
    except (KeyboardInterrupt, SqlCellError) as error:  # the cell's one line: "cancelled after"
        ended = time.perf_counter()
        if "cancel" not in str(error) and not isinstance(error, KeyboardInterrupt):
            raise
    else:
        thread.join()
        raise RuntimeError("%sql ended without being stopped")
    thread.join()
    db.query("SELECT 1")  # the Database works on
    return (ended - sent[0]) * 1000


def _stop_jupysql(child: Child, outcomes: list[bool], give_up: float) -> float:
    """JupySQL's `%sql LONG` stopped by a SIGINT in its child; a query the Stop leaves running
    is cancelled `give_up` s after the SIGINT by the child (the figure is then that wait, and
    `outcomes` says so)."""
    reply = child.request({"stop": LONG, "after": AFTER, "give_up": give_up})
    if not reply.get("next_ok"):
        raise RuntimeError("JupySQL's next %sql failed after the Stop")
    outcomes.append(bool(reply["by_stop"]))
    return float(reply["ms"])

def _still_running(db: sqlnb.Database) -> int:
    """Queries of `t` (other than this one) still active on the server, a moment after."""
    time.sleep(0.5)
    found = db.query("SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' "
                     "AND query LIKE '%FROM t %' AND pid <> pg_backend_pid()")
    return int(found["n"][0])
