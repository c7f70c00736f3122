"""What is PostgreSQL's own (the engine-neutral suite in test_engines.py runs on it too), on a
real PostgreSQL server started once for the test session (tests/pg_server.py), watched through a
client of its own (psycopg: pg_stat_activity): targets and a bounded connect; reads on
read-only sessions, a write sent to a reader moved to the writer; SET and TEMP tables as one
connection; Cancel, Stop and the time limit leave nothing running on the server; the backstop
statement_timeout; secrets; a server that goes away and comes back; its types against psycopg's
values; the kernel's Stop and the widget's Cancel."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import ipaddress
import math
import socket
import subprocess
import sys
import textwrap
import threading
import urllib.parse
import uuid
import warnings

import pandas as pd
import pytest
from hypothesis import given, settings

import sqlnb
from sqlnb.engines import postgres

from .helpers import WAIT, sqlnb_threads, wait_for, wait_running
from .test_engines import ENGINES, pg_database
from .test_secrets import SECRETS

psycopg = pytest.importorskip("psycopg")

#: A read that never ends on its own (10^12 rows counted), and one whose rows stream forever.
FOREVER = ENGINES["postgres"]["forever"]
FOREVER_ROWS = ("SELECT a * 1000000 + b AS x FROM generate_series(1, 1000000) a "
                "CROSS JOIN generate_series(1, 1000000) b")


@pytest.fixture
def pg_db_url(pg_url):
    """The URL of a new database of its own on the test session's server (dropped after)."""
    name = f"sqlnb_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_database(pg_url, name)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pdb(pg_db_url):
    before = sqlnb_threads()
    db = sqlnb.connect(pg_db_url)
    yield db
    db.close()
    assert sqlnb_threads() - before == set()


@pytest.fixture
def observer(pg_db_url):
    """psycopg on the same database: what the server itself says."""
    with psycopg.connect(pg_db_url, autocommit=True) as conn:
        yield conn


def active(observer, marker: str = "generate_series") -> list[tuple]:
    """The statements of sqlnb's sessions (named sqlnb) running on the server now whose text
    holds `marker` (not the ones sqlnb runs as a connection opens)."""
    return observer.execute(
        "SELECT pid, query FROM pg_stat_activity WHERE application_name = 'sqlnb' "
        "AND state = 'active' AND datname = current_database() AND strpos(query, %s) > 0",
        (marker,)).fetchall()


def nothing_running(observer, marker: str = "generate_series") -> None:
    """Nothing of sqlnb's runs on the server (the queries stopped never end on their own, so a
    stop that did not reach the server keeps them running past the hang guard)."""
    wait_for(lambda: not active(observer, marker), "no sqlnb statement left active")


# -- targets and connecting ------------------------------------------------------------------

def test_both_schemes_open_postgresql_and_the_label_hides_the_password(pg_db_url, pg_server):
    for url in (pg_db_url, "postgres://" + pg_db_url.split("://", 1)[1]):
        with sqlnb.connect(url) as db:
            assert db.engine == "postgres"
            assert pg_server.password not in db.path and pg_server.password not in repr(db)
            assert db.path.startswith(url.split("://")[0] + "://sqlnb:***@")
            assert db.query("SELECT current_setting('application_name') AS a")["a"][0] == "sqlnb"


def test_a_target_gets_a_bounded_connect_and_keepalives_unless_it_says_otherwise():
    uri = postgres.client_uri("postgresql://u@h/db?sslmode=require")
    parts = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(uri).query))
    assert parts["sslmode"] == "require" and parts["connect_timeout"] == "10"
    assert parts["keepalives_idle"] == "30" and parts["application_name"] == "sqlnb"
    own = postgres.client_uri("postgres://h/db?connect_timeout=3&application_name=mine")
    parts = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(own).query))
    assert parts["connect_timeout"] == "3" and parts["application_name"] == "mine"


def test_a_port_that_never_answers_fails_within_the_connect_timeout(pg_server, monkeypatch):
    """libpq waits without end for a server that accepts and says nothing: sqlnb's default
    connect_timeout ends it, with an error naming the server and not the password. (The
    default, 10 s, is shortened to 2 s here; the test above checks the real one.)"""
    monkeypatch.setattr(postgres, "DEFAULTS", tuple(
        (name, "2" if name == "connect_timeout" else value) for name, value in postgres.DEFAULTS))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts (the kernel does) and never answers
        port = silent.getsockname()[1]
        failed = {}

        def attempt():
            try:
                sqlnb.connect(f"postgresql://sqlnb:{pg_server.password}@127.0.0.1:{port}/x")
            except Exception as error:  # the test looks at it
                failed["error"] = error

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(WAIT)
        assert not worker.is_alive(), "connect() still waits on a server that never answers"
    text = str(failed["error"])
    assert f"127.0.0.1:{port}" in text and "timeout" in text and pg_server.password not in text


def test_a_wrong_password_or_a_closed_port_is_one_clear_line(pg_server):
    wrong = f"postgresql://sqlnb:Wr0ngPassw0rd@127.0.0.1:{pg_server.port}/sqlnb"
    with pytest.raises(Exception, match="password authentication failed") as error:
        sqlnb.connect(wrong)
    assert "Wr0ngPassw0rd" not in str(error.value) and "\n" not in str(error.value)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Exception, match=rf"127\.0\.0\.1:{port}.*refused"):
        sqlnb.connect(f"postgresql://sqlnb:Wr0ngPassw0rd@127.0.0.1:{port}/sqlnb")
    assert sqlnb_threads() == set()


def test_the_driver_missing_says_how_to_install_it():
    code = textwrap.dedent("""
        import sys
        sys.modules["adbc_driver_postgresql"] = None
        import sqlnb
        try:
            sqlnb.connect("postgresql://someone@localhost/db")
        except sqlnb.UsageError as error:
            print(error)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert "pip install 'sqlnb[postgres]'" in out.stdout, out.stderr


def test_a_target_is_read_as_libpq_reads_it(pg_db_url):
    """The engine's side of a target (issue 20's seam): SQLAlchemy's form opens too, a
    connection's short name is its database's, a password from the environment becomes libpq's
    `password` parameter, and what holds a password is kept as a Secret."""
    backend = sqlnb.engine.engine_named("postgres")
    assert backend is sqlnb.engine.engine_for("postgres://h/db")
    assert backend.parse_target("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"
    held = backend.parse_target(sqlnb.engine.Secret("postgresql+psycopg2://u:pw@h/db"))
    assert isinstance(held, sqlnb.engine.Secret) and held.reveal() == "postgresql://u:pw@h/db"
    assert backend.short_name("postgresql://u:***@h:5432/shop") == "shop"
    assert backend.short_name("postgresql://h?dbname=sales") == "sales"
    assert backend.short_name("postgres://") == "postgres"
    assert backend.with_secret("postgresql://u@h/db?sslmode=require", "p w/x").reveal() == (
        "postgresql://u@h/db?sslmode=require&password=p%20w%2Fx")
    assert backend.with_secret("postgresql://u@h/db", "x").reveal().endswith("/db?password=x")
    with pytest.raises(sqlnb.UsageError, match="password already"):
        backend.with_secret(sqlnb.engine.Secret("postgresql://u:pw@h/db"), "x")
    assert backend.holds_secret("postgresql://u@h/db?password=x")
    assert not backend.holds_secret("postgresql://u@h/db?sslmode=require")
    with sqlnb.connect(pg_db_url.replace("postgresql://", "postgresql+psycopg://")) as db:
        assert db.engine == "postgres" and db.query("SELECT 1 AS one")["one"][0] == 1


# -- the SQL text ------------------------------------------------------------------------------

def test_statements_are_cut_by_postgresqls_rules():
    sql = textwrap.dedent("""
        CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
        SELECT E'it\\'s; here', 'a;b' /* a /* nested; */ comment */;
        CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;
        SELECT '{"a": 1}'::jsonb ? 'a', (ARRAY[1, 2, 3])[1:2];
        SET search_path = public
    """)
    statements = postgres.split(sql)
    assert [s.keyword for s in statements] == ["CREATE", "SELECT", "CREATE", "SELECT", "SET"]
    assert statements[0].text.endswith("LANGUAGE sql;")
    assert statements[3].named == () and statements[3].positional == 1  # ? is jsonb's here
    assert statements[4].runs_alone  # SET joins no transaction (a rollback would undo it)


def test_parameters_bind_by_name_and_by_position_and_never_as_text(pdb):
    frame = pdb.query("SELECT :a::int + :a::int AS v, :b AS b", {"a": 2, "b": "x"})
    assert frame.iloc[0].tolist() == [4, "x"]
    assert pdb.query("SELECT ?::int AS v, ? AS w", (5, "y")).iloc[0].tolist() == [5, "y"]
    assert pdb.query("SELECT '{\"k\": 1}'::jsonb ? 'k' AS has")["has"][0]  # no params: jsonb's
    frame = pdb.query("SELECT (ARRAY[1, 2, 3])[2:3] AS s, :lo AS lo", {"lo": 1})
    assert frame["s"][0] == [2, 3] and frame["lo"][0] == 1
    with pytest.raises(sqlnb.UsageError, match=":missing"):
        pdb.query("SELECT :missing AS m", {})
    with pytest.raises(sqlnb.UsageError, match=r"json\.dumps"):
        pdb.query("SELECT :d AS d", {"d": {"a": 1}})


def test_a_notebook_variable_binds_as_its_type(shell, pg_db_url):
    """`:name` in %sql binds the variable through the engine (Database.adapt_parameter): a date
    is a date on PostgreSQL (not SQLite's ISO text), a numpy number a number."""
    import numpy as np

    shell.run_line_magic("sqlnb", f"connect {pg_db_url} --as typed")
    shell.user_ns.update(d=datetime.date(2024, 2, 29), n=np.int64(41))
    frame = shell.run_line_magic("sql", "SELECT pg_typeof(:d)::text AS t, :d + 1 AS next, "
                                        ":n + 1 AS m")
    assert frame.iloc[0].tolist() == ["date", pd.Timestamp("2024-03-01"), 42]
    shell.user_ns["bad"] = {"a": 1}
    with pytest.raises(Exception, match=r":bad is a dict.*json\.dumps"):
        shell.run_line_magic("sql", "SELECT :bad AS b")
    shell.run_line_magic("sqlnb", "close typed")


# -- reads, writes and the session --------------------------------------------------------------

def test_a_write_sent_to_a_reader_moves_to_the_writer(pdb):
    """Readers are read-only sessions: PostgreSQL refuses a write there (25006) and it runs on
    the writer, whatever its first word says."""
    pdb.write("CREATE TABLE t (x int)")
    pdb.write("CREATE SEQUENCE s")
    pdb.write("INSERT INTO t VALUES (1), (2), (3)")
    assert pdb.query("SELECT nextval('s') AS n")["n"][0] == 1
    assert pdb.query("WITH d AS (DELETE FROM t WHERE x = 1 RETURNING x) "
                     "SELECT count(*) AS n FROM d")["n"][0] == 1
    assert pdb.query("SELECT x FROM t ORDER BY x")["x"].tolist() == [2, 3]
    pdb.query("SELECT x INTO u FROM t")
    assert pdb.query("SELECT count(*) AS n FROM u")["n"][0] == 2
    shown = asyncio.run(pdb.execute_fn(lambda conn: conn.execute(
        "SHOW default_transaction_read_only").fetchall()))
    assert shown == [("on",)]


def test_execute_fn_gets_a_read_only_session_it_cannot_leave(pdb):
    pdb.write("CREATE TABLE t (x int)")
    with pytest.raises(pdb.error_types, match="read-only transaction") as error:
        asyncio.run(pdb.execute_fn(lambda conn: conn.execute("INSERT INTO t VALUES (1)")))
    assert any("execute_write_fn" in n for n in error.value.__notes__)
    for escape in ("SET default_transaction_read_only = off", "BEGIN READ WRITE",
                   "SELECT set_config('default_transaction_read_only', 'off', false)"):
        with pytest.raises(sqlnb.UsageError, match="read-only connection"):
            asyncio.run(pdb.execute_fn(lambda conn, sql=escape: conn.execute(sql)))
    assert pdb.query("SELECT count(*) AS n FROM t")["n"][0] == 0


def test_set_reaches_every_reader_and_one_rolled_back_does_not(pg_db_url):
    with sqlnb.connect(pg_db_url, threads=2) as db:
        db.write("CREATE SCHEMA other")
        db.write("CREATE TABLE other.only_here (x int)")
        db.write("SET search_path = other, public")
        db.write("SET work_mem = '7MB'")
        for _ in range(6):  # both readers
            assert db.query("SELECT count(*) AS n FROM only_here")["n"][0] == 0
            assert db.query("SHOW work_mem")["work_mem"][0] == "7MB"
        db.write("BEGIN")
        db.write("SET work_mem = '9MB'")  # transactional in PostgreSQL
        db.write("ROLLBACK")
        db.write("SET statement_timeout = '4s'")  # the user's own: sqlnb leaves it so
        for _ in range(6):
            assert db.query("SHOW work_mem")["work_mem"][0] == "7MB"
            assert db.query("SHOW statement_timeout")["statement_timeout"][0] == "4s"
        assert db.write("SHOW work_mem").rows == [("7MB",)]  # the writer agrees


def test_a_set_queued_among_failing_writes_is_not_undone_with_them(pdb):
    """SET runs alone on the writer, outside the group transaction: a group that is rolled
    back (a write in it failed) does not undo it."""
    pdb.write("CREATE TABLE u (id int PRIMARY KEY)")
    started, release = threading.Event(), threading.Event()

    def hold(conn):
        started.set()
        release.wait(WAIT)

    blocker = asyncio.run(pdb.execute_write_fn(hold, block=False, transaction=False))
    assert started.wait(WAIT)
    handles = [pdb.write("INSERT INTO u VALUES (1)", block=False),
               pdb.write("SET work_mem = '11MB'", block=False),
               pdb.write("INSERT INTO u VALUES (1)", block=False),  # fails: the same key
               pdb.write("INSERT INTO u VALUES (2)", block=False)]
    release.set()
    blocker.result(timeout=WAIT)
    errors = [handle.exception(timeout=WAIT) for handle in handles]
    assert [e is None for e in errors] == [True, True, False, True]
    assert pdb.write("SHOW work_mem").rows == [("11MB",)]
    assert pdb.query("SHOW work_mem")["work_mem"][0] == "11MB"
    assert pdb.query("SELECT id FROM u ORDER BY id")["id"].tolist() == [1, 2]
    with pytest.raises(sqlnb.BackgroundWriteError):
        pdb.flush()


def test_a_temp_table_is_read_on_the_writer_also_where_it_shadows_another(pdb):
    pdb.write("CREATE TABLE t AS SELECT 1 AS x")
    pdb.write("CREATE TEMP TABLE t AS SELECT 2 AS x UNION ALL SELECT 3")
    for _ in range(4):  # never the permanent table a reader would find
        assert pdb.query("SELECT count(*) AS n FROM t")["n"][0] == 2
    assert set(pdb.tables()["schema"]) == {"public", "temp"}
    pdb.write("DROP TABLE t")  # the TEMP one
    assert pdb.query("SELECT count(*) AS n FROM t")["n"][0] == 1


def test_a_read_only_database_refuses_writes_and_ways_out_of_read_only(pg_db_url):
    with sqlnb.connect(pg_db_url) as setup:
        setup.write("CREATE TABLE t (x int)")
    with sqlnb.connect(pg_db_url, read_only=True) as db:
        assert db.read_only
        with pytest.raises(db.error_types, match="read-only transaction") as error:
            db.write("INSERT INTO t VALUES (1)")
        assert any("read_only=True" in n for n in error.value.__notes__)
        for escape in ("SET default_transaction_read_only = off", "BEGIN READ WRITE",
                       "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "RESET ALL"):
            with pytest.raises(sqlnb.UsageError, match="read-only"):
                db.write(escape)
        assert db.query("SELECT count(*) AS n FROM t")["n"][0] == 0


# -- the driver's reader of results --------------------------------------------------------------

def test_the_drivers_own_reader_of_results_is_there():
    """Results are read with the driver manager's own AdbcRecordBatchReader, a private name
    (no public call hands it out), for the SQLSTATE of a stream that fails. This test fails
    when a new driver manager drops the name: the engine then falls back (the next test), and
    the comment at its import should be looked at again."""
    assert postgres._AdbcReader is not None


def _fetching(pdb: sqlnb.Database) -> sqlnb.QueryHandle:
    """An endless stream of rows, once its first rows are in."""
    handle = pdb.submit(FOREVER_ROWS, dataframe=True, time_limit=math.inf)
    wait_for(lambda: handle.first_rows is not None, "the first rows")
    return handle


def test_without_the_drivers_reader_results_errors_and_cancel_still_work(pdb, observer,
                                                                          monkeypatch):
    monkeypatch.setattr(postgres, "_AdbcReader", None)  # pyarrow's reader, as the fallback
    assert pdb.query("SELECT x FROM generate_series(1, 3) x")["x"].tolist() == [1, 2, 3]
    with pytest.raises(pdb.error_types, match="division by zero"):  # fails part-way
        pdb.query("SELECT 1 / (x - 900000) AS y FROM generate_series(1, 1000000) x")
    handle = _fetching(pdb)
    handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        handle.result(timeout=WAIT)
    nothing_running(observer)
    assert pdb.query("SELECT 2 AS two")["two"][0] == 2


# -- stopping a query: nothing left running on the server ------------------------------------

def test_a_cancelled_read_leaves_nothing_running_and_the_connection_serves(pdb, observer):
    handle = pdb.submit(FOREVER, time_limit=math.inf)
    wait_for(lambda: active(observer), "the query running on the server")
    handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        handle.result(timeout=WAIT)
    nothing_running(observer)
    assert pdb.query("SELECT 1 AS one")["one"][0] == 1


def test_a_parallel_query_cancelled_on_the_only_reader_ends_and_the_reader_serves_again(
        pg_db_url, observer):
    """The caller hears QueryCancelled once the server has the cancel (Control.stop_reached),
    while the leader still ends its parallel workers; the one reader takes the next read once
    the server is done with the first, and nothing is left running."""
    with sqlnb.connect(pg_db_url, threads=1) as db:
        db.write("CREATE TABLE big AS SELECT g AS d FROM generate_series(1, 200000) g")
        for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0",
                        "min_parallel_table_scan_size = 0", "max_parallel_workers_per_gather = 2"):
            db.write(f"SET {setting}")
        query = "SELECT count(*) FROM big a CROSS JOIN big b WHERE a.d + b.d = -1"
        assert "Gather" in db.explain(query)
        handle = db.submit(query, time_limit=math.inf)
        wait_for(lambda: active(observer, "CROSS JOIN big"), "the query running on the server")
        handle.cancel()
        with pytest.raises(sqlnb.QueryCancelled):
            handle.result(timeout=WAIT)
        assert db.query("SELECT 3 AS three")["three"][0] == 3
        nothing_running(observer, "CROSS JOIN big")


def test_the_time_limit_leaves_nothing_running(pdb, observer):
    with pytest.raises(sqlnb.QueryTimeout):
        pdb.query(FOREVER, time_limit=0.5)
    nothing_running(observer)
    with pytest.raises(sqlnb.QueryTimeout):  # a write too: its rows are rolled back
        pdb.write("CREATE TABLE w AS SELECT g FROM generate_series(1, 1000) g UNION ALL "
                  "SELECT 0 FROM pg_sleep(100000)", time_limit=0.5)
    nothing_running(observer)
    assert "w" not in pdb.tables()["name"].tolist()


def test_a_stream_cancelled_part_way_leaves_nothing_running(pdb, observer):
    handle = _fetching(pdb)
    assert handle.first_rows["x"].tolist()[:2] == [1000001, 1000002]
    handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        handle.result(timeout=WAIT)
    nothing_running(observer)
    for chunk in pdb.iter_chunks(FOREVER_ROWS, chunk_rows=1000):  # left after one chunk
        assert len(chunk) == 1000
        break
    nothing_running(observer)
    assert pdb.query("SELECT 2 AS two")["two"][0] == 2


def test_a_stream_stopped_part_way_ends_at_the_next_batch(pdb, observer, monkeypatch):
    """Once a query is stopped, its stream ends at the next batch, without waiting for the
    server's answer to the cancel request (the batches already on their way would be built into
    a frame nobody gets): here that request is never sent, and the stream's own end cancels the
    statement on the server."""
    monkeypatch.setattr(postgres.PostgresLink, "cancel", lambda self, serial: None)
    handle = _fetching(pdb)
    handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        handle.result(timeout=WAIT)
    nothing_running(observer)
    assert pdb.query("SELECT 2 AS two")["two"][0] == 2


def test_cancel_from_another_thread_stops_only_its_query(pdb, observer):
    first = pdb.submit(FOREVER, time_limit=math.inf)
    second = pdb.submit(FOREVER.replace("count(*)", "count(*) + 1"), time_limit=math.inf)
    wait_for(lambda: len(active(observer)) == 2, "both queries running on the server")
    stopper = threading.Thread(target=first.cancel)
    stopper.start()
    stopper.join(WAIT)
    with pytest.raises(sqlnb.QueryCancelled):
        first.result(timeout=WAIT)
    wait_for(lambda: len(active(observer)) == 1, "one query left")
    assert not second.done() and "+ 1" in active(observer)[0][1]
    second.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        second.result(timeout=WAIT)
    nothing_running(observer)


def test_the_server_side_backstop_follows_the_limit_and_never_loosens_the_servers(pg_db_url):
    name = urllib.parse.urlsplit(pg_db_url).path.strip("/")
    with sqlnb.connect(pg_db_url) as db:
        assert db.query("SHOW statement_timeout", time_limit=5)["statement_timeout"][0] == "15s"
        assert db.query("SHOW statement_timeout",
                        time_limit=math.inf)["statement_timeout"][0] == "0"
        db.write(f"ALTER DATABASE {name} SET statement_timeout = '12s'")
    with sqlnb.connect(pg_db_url) as db:  # the database's own limit is never loosened
        assert db.query("SHOW statement_timeout",
                        time_limit=math.inf)["statement_timeout"][0] == "12s"
        assert db.query("SHOW statement_timeout", time_limit=1)["statement_timeout"][0] == "11s"


def test_concurrent_reads_run_at_once_and_writes_one_at_a_time(pdb, observer):
    pdb.write("CREATE TABLE t (x int)")
    reads = [pdb.submit("SELECT pg_sleep(30)", time_limit=math.inf) for _ in range(3)]
    wait_for(lambda: len(active(observer, "pg_sleep")) == 3, "three reads at once")
    writes = [pdb.submit("INSERT INTO t SELECT 1 FROM pg_sleep(30)", time_limit=math.inf)
              for _ in range(2)]
    wait_running(writes[0])
    wait_for(lambda: len(active(observer, "pg_sleep")) == 4, "one write running")
    # the second write waits its turn
    assert not writes[1].done() and len(active(observer, "pg_sleep")) == 4
    for handle in reads + writes:
        handle.cancel()
    for handle in reads + writes:
        with pytest.raises(sqlnb.QueryCancelled):
            handle.result(timeout=WAIT)
    nothing_running(observer, "pg_sleep")


# -- the server goes away, and comes back ---------------------------------------------------------

@pytest.fixture
def own_server(pg_bindir):
    """A server of the test's own, to stop and start."""
    from .pg_server import PostgresServer

    server = PostgresServer(pg_bindir)
    yield server
    server.stop()


def test_a_server_that_goes_away_mid_query_fails_it_and_the_database_recovers(own_server):
    with sqlnb.connect(own_server.url, threads=1) as db:
        db.write("CREATE TABLE t (x int)")
        db.write("CHECKPOINT")  # (the test server commits asynchronously: a crash loses that)
        handle = db.submit(FOREVER, time_limit=math.inf)
        wait_running(handle)
        own_server.stop_server("immediate")
        error = handle.exception(timeout=WAIT)
        assert isinstance(error, db.error_types) and "lost" in str(error)
        assert own_server.password not in str(error)
        with pytest.raises(db.error_types, match="refused") as down:
            db.query("SELECT 1 AS one")
        assert own_server.password not in str(down.value)
        with pytest.raises(db.error_types):
            db.write("INSERT INTO t VALUES (1)")
        own_server.start_server()
        assert db.query("SELECT 1 AS one")["one"][0] == 1  # the reader connects again
        db.write("INSERT INTO t VALUES (2)")  # and the writer
        assert db.query("SELECT x FROM t")["x"].tolist() == [2]


def test_a_killed_backend_costs_its_statement_only(pdb, observer):
    handle = pdb.submit(FOREVER, time_limit=math.inf)
    wait_for(lambda: active(observer), "the query running")
    (pid, _query), = active(observer)
    observer.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert "lost" in str(handle.exception(timeout=WAIT))
    assert pdb.query("SELECT 3 AS three")["three"][0] == 3


def test_a_users_transaction_lost_with_its_connection_is_said(pdb, observer):
    pdb.write("CREATE TABLE t (x int)")
    pdb.write("BEGIN")
    pdb.write("INSERT INTO t VALUES (1)")
    (pid,), = observer.execute("SELECT pid FROM pg_stat_activity WHERE application_name = "
                               "'sqlnb' AND state LIKE 'idle in transaction%'").fetchall()
    observer.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_for(lambda: not observer.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                          (pid,)).fetchall(), "the backend gone")
    with pytest.raises((sqlnb.TransactionRolledBack, *pdb.error_types)):
        pdb.write("INSERT INTO t VALUES (2)")
    pdb.write("ROLLBACK")
    pdb.write("INSERT INTO t VALUES (3)")
    assert pdb.query("SELECT x FROM t")["x"].tolist() == [3]


# -- secrets -----------------------------------------------------------------------------------

def test_a_typed_password_works_is_said_once_and_shown_nowhere(shell, capsys, pg_db_url,
                                                               pg_server):
    password = pg_server.password
    shell.run_line_magic("sqlnb", f"connect {pg_db_url} --as pg")
    first = capsys.readouterr().out
    shell.run_line_magic("sqlnb", f"connect {pg_db_url} --as pg2")
    second = capsys.readouterr().out
    listing = shell.run_line_magic("sqlnb", "list")
    frame = shell.run_line_magic("sql", "SELECT 42 AS answer")
    assert "holds a secret" in first and "--secret-env NAME" in first  # the neutral flag,
    assert "password_env=NAME" in first  # and the engine's own option for the Python API
    assert "holds a secret" not in second
    assert frame["answer"][0] == 42
    for produced in (first, second, listing.to_string()):
        assert password not in produced
    assert "sqlnb:***@" in listing.to_string()
    shell.run_line_magic("sqlnb", "close pg")
    shell.run_line_magic("sqlnb", "close pg2")


def test_the_password_comes_from_the_environment(shell, capsys, pg_db_url, pg_server,
                                                 monkeypatch):
    bare = pg_db_url.replace(f":{urllib.parse.quote(pg_server.password, safe='')}@", "@")
    assert pg_server.password not in bare
    monkeypatch.setenv("SQLNB_PG_PASSWORD", pg_server.password)
    for flag in ("--secret-env", "--password-env"):  # the neutral name, and PostgreSQL's
        shell.run_line_magic("sqlnb", f"connect {bare} {flag} SQLNB_PG_PASSWORD --as pg")
        out = capsys.readouterr().out
        assert "holds a secret" not in out and pg_server.password not in out
        assert shell.run_line_magic("sql", "SELECT 1 AS one")["one"][0] == 1
        shell.run_line_magic("sqlnb", "close pg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: nothing secret was typed
        with sqlnb.connect(bare, password_env="SQLNB_PG_PASSWORD") as db:
            assert db.query("SELECT 2 AS two")["two"][0] == 2
            assert pg_server.password not in db.path and pg_server.password not in repr(db)
        monkeypatch.setenv("PGPASSWORD", pg_server.password)  # libpq's own, unnamed
        with sqlnb.connect(bare) as db:
            assert db.query("SELECT 3 AS three")["three"][0] == 3


def test_password_env_names_what_is_wrong(monkeypatch, pg_db_url):
    monkeypatch.delenv("SQLNB_NO_SUCH_VARIABLE", raising=False)
    with pytest.raises(sqlnb.UsageError, match="SQLNB_NO_SUCH_VARIABLE is not set"):
        sqlnb.connect("postgresql://u@localhost/db", password_env="SQLNB_NO_SUCH_VARIABLE")
    with pytest.raises(sqlnb.UsageError, match="PostgreSQL"):
        sqlnb.connect("data.db", password_env="HOME")
    with pytest.raises(sqlnb.UsageError, match="password already"):
        sqlnb.connect(pg_db_url, password_env="HOME")


def test_a_wrong_password_from_the_environment_stays_out_of_a_verbose_traceback(
        shell, capsys, monkeypatch, pg_server):
    from .test_secrets import _clean, _verbose

    secret = "Wr0ng-password-from-the-env"
    monkeypatch.setenv("SQLNB_TEST_SECRET", secret)
    shell.run_cell("import sqlnb")
    bare = f"postgresql://sqlnb@127.0.0.1:{pg_server.port}/sqlnb"
    text = _verbose(shell, capsys, f"sqlnb.connect({bare!r}, password_env='SQLNB_TEST_SECRET')")
    assert "password authentication failed" in text
    _clean(text, secret)
    _clean(text, pg_server.password)


@settings(max_examples=15, deadline=None)
@given(secret=SECRETS)
def test_a_password_is_never_echoed_by_a_failing_connect(secret):
    """Random passwords (some URL-escaped) in targets that fail: a closed port, and the test
    server refusing them; neither the error, nor its notes, nor a warning, nor a log record
    holds the password."""
    from .test_secrets import _Records

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for target in (f"postgresql://analyst:{secret}@127.0.0.1:{port}/shop",
                   f"postgres://127.0.0.1:{port}/shop?user=analyst&password={secret}"):
        with (_Records() as records, pytest.raises(Exception) as error,
              pytest.warns(UserWarning, match="holds a secret.*password_env") as warned):
            sqlnb.connect(target)
        for form in (secret, urllib.parse.unquote(secret)):
            assert form not in str(error.value) and form not in repr(error.value.args)
            assert form not in " ".join(getattr(error.value, "__notes__", []))
            assert not any(form in str(w.message) for w in warned)
            assert not any(form in text for text in records.texts)
    assert sqlnb_threads() == set()


# -- exploring -----------------------------------------------------------------------------------

def test_the_catalog_knows_schemas_the_search_path_functions_and_keywords(pdb):
    pdb.write("CREATE SCHEMA other")
    pdb.write("CREATE TABLE other.far (a int)")
    pdb.write("CREATE TABLE near (b int)")
    catalog = pdb.catalog()
    assert catalog.tables["near"] == ("b",) and catalog.tables["far"] == ("a",)
    assert {"generate_series", "percentile_cont", "now"} <= set(catalog.functions)
    assert "int4pl" not in catalog.functions  # an operator's implementation is no function
    assert "SELECT" in catalog.keywords and "USER" in catalog.reserved
    assert pdb.schema("other.far")["name"].tolist() == ["a"]


def test_explain_is_a_tree_and_runs_nothing(pdb):
    pdb.write("CREATE TABLE t (x int PRIMARY KEY, y int)")
    plan = pdb.explain("SELECT * FROM t a JOIN t b ON a.x = b.y WHERE a.y = :v", {"v": 1})
    lines = plan.splitlines()
    assert "Join" in lines[0] and any(line.startswith("  ") and " on t" in line
                                      for line in lines[1:])
    pdb.explain("INSERT INTO t VALUES (1, 1)")
    assert pdb.query("SELECT count(*) AS n FROM t")["n"][0] == 0


def test_schema_names_keys_and_references(pdb):
    pdb.write("CREATE TABLE a (id int PRIMARY KEY, code text NOT NULL DEFAULT 'x')")
    pdb.write("CREATE TABLE b (id int, a_id int REFERENCES a(id), PRIMARY KEY (id))")
    schema = pdb.schema("b").set_index("name")
    assert schema.loc["id", "primary_key"] == 1 and schema.loc["a_id", "references"] == "a(id)"
    a = pdb.schema("A").set_index("name")  # as PostgreSQL folds an unquoted name
    assert a.loc["code", "not_null"] and a.loc["code", "default"] == "'x'::text"
    assert a.loc["code", "type"] == "text"


def test_a_profile_survives_types_without_min_or_equality(pdb):
    pdb.write("CREATE TABLE p (flag boolean, doc json, n numeric)")
    pdb.write("INSERT INTO p VALUES (true, '{}', 1.5), (false, '[]', 2.5), (NULL, NULL, NULL)")
    profile = pdb.profile("p").set_index("column")
    assert profile.loc["n", "max"] == decimal.Decimal("2.5") and profile.loc["n", "mean"] == 2.0
    assert profile.loc["flag", "count"] == 2 and profile.loc["doc", "nulls"] == 1


def test_insert_df_and_an_import_go_through_copy_in_one_transaction(pdb, tmp_path):
    frame = pd.DataFrame({"a": range(200_000), "b": ["x"] * 200_000})
    assert pdb.insert_df(frame, "big") == 200_000
    assert pdb.query("SELECT count(*) AS n, max(a) AS m FROM big").iloc[0].tolist() == [
        200_000, 199_999]
    path = tmp_path / "rows.csv"
    path.write_text("k,v\n" + "".join(f"{i},{i / 2}\n" for i in range(50_000)))
    handle = pdb.import_file(path, "imported", block=False)
    assert handle.result(timeout=WAIT) == 50_000
    assert handle.progress.rows == 50_000
    assert pdb.schema("imported")["type"].tolist() == ["bigint", "double precision"]
    with pytest.raises(pdb.error_types, match="already exists"):
        pdb.insert_df(frame, "big")


# -- types: against psycopg ---------------------------------------------------------------------

from .test_types_differential import Case, assert_agrees, same  # noqa: E402


def _money(text: str) -> decimal.Decimal:
    return decimal.Decimal(text.replace("$", "").replace(",", ""))


def _nearest_each(values: list) -> list:
    return [None if v is None else float(v) for v in values]


def _uuid_text(value: uuid.UUID) -> str:
    return str(value)


def _frame_money(text: str) -> float:
    return float(_money(text))


def _timestamp(value: object) -> pd.Timestamp:
    return pd.Timestamp(value)


def _frame_decimal(value: decimal.Decimal) -> float:
    return float(value)


#: PostgreSQL's types: psycopg's value (or, with raw_as, PostgreSQL's own text of the value)
#: mapped as the PostgreSQL type table of docs/engines/postgresql.md says.
POSTGRES_CASES = [
    Case("smallint", ["1::smallint", "(-32768)::smallint"], "int16"),
    Case("integer_with_null", ["1", "NULL", "(-2147483648)::int"], "Int32"),
    Case("bigint", ["9007199254740993::bigint", "(-9223372036854775808)::bigint"], "int64"),
    Case("integer_all_null", ["NULL::int", "NULL::int"], "Int32"),
    Case("numeric", ["12345.67::numeric(12,2)", "NULL", "0.1", "-999.9::numeric(4,1)"],
         "float64", frame=_frame_decimal),
    Case("numeric_wide", ["123456789012345678901234567890.123456789::numeric",
                          "1e-30::numeric"], "float64", frame=_frame_decimal),
    Case("sum_of_bigints", ["(SELECT sum(x) FROM (VALUES (9007199254740993::bigint), (0)) s(x))"],
         "float64", frame=_frame_decimal),
    Case("money", ["'12.50'::money", "'-0.01'::money", "NULL"], "float64", row=_money,
         frame=_frame_money),
    Case("real", ["2.5::real", "NULL"], "float32"),
    Case("double", ["2.5::float8", "'NaN'::float8", "'-Infinity'::float8"], "float64"),
    Case("boolean", ["true", "NULL", "false"], "boolean"),
    Case("text", ["'é'", "NULL", "''", "'x'::char(3)"], "str"),
    Case("bytea", ["'\\x00ff'::bytea", "NULL", "''::bytea"], "object"),
    Case("uuid", ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "NULL"], "str",
         row=_uuid_text, frame=_uuid_text),
    Case("json", ["'{\"a\": [1, 2]}'::json", "NULL", "'[]'::json"], "str", raw_as="text"),
    Case("jsonb", ["'{\"b\": 1,  \"a\": null}'::jsonb", "NULL"], "str", raw_as="text"),
    Case("inet", ["'192.168.0.1/24'::inet", "'10.0.0.1'::inet", "'::ffff:1.2.3.4'::inet",
                  "'2001:db8::1/64'::inet", "NULL"], "str"),  # (psycopg reads their text,
    Case("cidr", ["'10.0.0.0/8'::cidr", "'2001:db8::/32'::cidr"], "str"),  # see `typed`)
    Case("macaddr", ["'08:00:2b:01:02:03'::macaddr", "NULL"], "str", raw_as="text"),
    Case("macaddr8", ["'08:00:2b:01:02:03:04:05'::macaddr8"], "str", raw_as="text"),
    Case("timetz", ["'10:00:00+02'::timetz", "'23:59:59.5-05:30'::timetz", "NULL"], "str",
         raw_as="text"),
    Case("bit", ["B'101'::bit(3)", "B'1'::varbit", "NULL"], "str", raw_as="text"),
    Case("xml", ["'<a>é</a>'::xml", "NULL"], "str", raw_as="text"),
    Case("date", ["'2024-02-29'::date", "NULL", "'0001-01-01'::date", "'9999-12-31'::date"],
         "datetime64[ms]", frame=_timestamp),
    Case("timestamp", ["'2024-02-29 12:34:56.123456'::timestamp", "NULL"], "datetime64[us]",
         frame=_timestamp),
    Case("timestamptz", ["'2024-01-01 10:00:00+02'::timestamptz", "NULL"],
         "datetime64[us, UTC]", frame=_timestamp),
    Case("time", ["'12:34:56.789'::time", "NULL"], "object"),
    Case("interval_without_months", ["interval '90 minutes'", "NULL",
                                     "interval '2 days 3 microseconds'"], "timedelta64[us]",
         frame=pd.Timedelta),
    Case("int_array_with_null", ["ARRAY[1, 2, NULL]", "NULL", "'{}'::int[]",
                                 "ARRAY[9007199254740993::bigint]"], "object"),
    Case("text_array", ["ARRAY['x', NULL, 'y']"], "object"),
    Case("numeric_array", ["ARRAY[1.5, NULL, 0.1]::numeric[]"], "object",
         frame=_nearest_each),
    Case("enum", ["'happy'::mood", "NULL", "'sad'::mood"], "str"),
    Case("null", ["NULL", "NULL"], "str"),  # (PostgreSQL types a bare NULL as text)
]


@pytest.fixture(scope="module")
def typed(pg_url):
    """sqlnb and psycopg on a database of their own, with an enum made after sqlnb connected
    (the driver knows only the types there were when it connected)."""
    name = f"sqlnb_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_database(pg_url, name)
    db = sqlnb.connect(url)
    db.query("SELECT 1")  # the readers connect before the type is made
    db.write("CREATE TYPE mood AS ENUM ('sad', 'happy')")
    raw = psycopg.connect(url, autocommit=True)
    from psycopg.types.string import TextLoader  # inet and cidr as PostgreSQL writes them
    for name in ("inet", "cidr"):  # (their cast to text adds /32 to a single address)
        raw.adapters.register_loader(name, TextLoader)
    yield db, raw
    raw.close()
    db.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.parametrize("case", POSTGRES_CASES, ids=lambda case: case.name)
def test_postgres_values_agree_with_psycopg(typed, case):
    db, raw = typed
    assert_agrees(db, raw, case)
    empty = db.query(f"SELECT * FROM ({case.sql()}) q WHERE false")  # no rows: the same dtype
    if case.dtype not in ("object", "Int32", "boolean"):  # (those are for columns with NULLs)
        assert str(empty["v"].dtype) == case.dtype


def test_postgres_values_psycopg_cannot_take(typed):
    """NaN numerics, infinities and intervals with months, which psycopg refuses or changes
    (a month is 30 days there): sqlnb's documented values."""
    db, _raw = typed
    row = db.submit("SELECT 'NaN'::numeric AS n, 'infinity'::timestamp AS t, "
                    "'-infinity'::date AS d, 'infinity'::timestamptz AS z, "
                    "interval '1 year 2 mons 3 days 04:05:06.789' AS i").result().rows[0]
    assert row[0].is_nan() and row[1] == datetime.datetime.max and row[2] == datetime.date.min
    assert row[3] == datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)
    assert row[4] == pd.DateOffset(months=14, days=3, seconds=14706, microseconds=789000)
    assert pd.Timestamp("2024-01-31") + row[4] == pd.Timestamp("2025-04-03 04:05:06.789")
    frame = db.query("SELECT 'NaN'::numeric AS n, 'Infinity'::numeric AS p, "
                     "'infinity'::date AS d")
    assert math.isnan(frame["n"][0]) and frame["p"][0] == math.inf
    assert frame["d"].dtype == object and frame["d"][0] == datetime.date.max


def test_a_multidimensional_array_comes_flattened(typed):
    """The driver's Arrow has no dimensions for a PostgreSQL array (documented)."""
    db, raw = typed
    assert raw.execute("SELECT ARRAY[[1, 2], [3, 4]]").fetchall() == [([[1, 2], [3, 4]],)]
    assert db.submit("SELECT ARRAY[[1, 2], [3, 4]] AS a").result().rows == [([1, 2, 3, 4],)]


def test_a_type_without_a_decoding_comes_as_its_binary_form(typed):
    db, raw = typed
    (value,), = db.submit("SELECT int4range(1, 5) AS r").result().rows
    assert isinstance(value, bytes)
    assert db.query("SELECT int4range(1, 5)::text AS r")["r"][0] == "[1,5)"  # as documented
    assert same(db.query("SELECT '1.1.1.1'::inet AS ip")["ip"][0], "1.1.1.1")
    assert ipaddress.ip_address(db.query("SELECT '1.1.1.1'::inet AS ip")["ip"][0])
    assert raw is not None


# -- the kernel: Stop and the widget's Cancel ------------------------------------------------------

def test_stop_in_a_real_kernel_cancels_and_leaves_nothing_running(kernel, pg_db_url, observer):
    from .test_kernel import _error, _interrupt_once_running

    assert kernel.run(f"%sqlnb connect {pg_db_url} --as stop_pg")[0] == "ok"
    try:
        msg_id = kernel.start(f"%%sql --time-limit inf\n{FOREVER}")
        _interrupt_once_running(kernel, msg_id)
        status, outputs = kernel.finish(msg_id)
        assert status == "error"
        assert _error(outputs)["evalue"].startswith("QueryCancelled: cancelled after ")
        nothing_running(observer)
        status, outputs = kernel.run("%sql SELECT 6 * 7 AS answer")
        assert status == "ok" and "42" in str(outputs)
    finally:
        kernel.run("%sqlnb close stop_pg")


def test_the_widgets_cancel_stops_a_query_on_the_server(kernel, pg_db_url, observer):
    from .test_widget import _buttons, _click, _collect, _idle, _on_display

    assert kernel.run(f"%sqlnb connect {pg_db_url} --as cancel_pg")[0] == "ok"
    try:
        msg_id = kernel.start(f"%%sql --time-limit inf\n{FOREVER}")
        messages = _collect(kernel, msg_id, _on_display)
        wait_for(lambda: active(observer), "the query running on the server")
        _click(kernel, _buttons(messages)[0])
        messages += _collect(kernel, msg_id, _idle)
        kernel.client.get_shell_msg(timeout=30)
        errors = [m["content"] for m in messages if m["msg_type"] == "error"]
        assert len(errors) == 1 and errors[0]["evalue"].startswith("QueryCancelled: cancelled")
        nothing_running(observer)
    finally:
        kernel.run("%sqlnb close cancel_pg")
