"""Spark SQL through Spark Connect: what is Spark's own (the shared behaviours are in
test_engines.py). A real Spark Connect server (local[2], a JVM) serves these tests: the test
session's one (`spark_url`), and servers sqlnb starts itself for `spark:local[N]`.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

import sqlnb
from sqlnb import redact

from .helpers import WAIT, sqlnb_threads, wait_for, wait_running

SLOW = "SELECT count(*) FROM range(0, 1000000000000000, 1, 16)"


def _javas() -> set[int]:
    """The Java processes below this one."""
    me = psutil.Process()
    return {p.pid for p in me.children(recursive=True) if "java" in p.name()}


def test_a_server_nobody_answers_at_is_a_clear_error_at_once():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free: nothing listens there
    started = time.monotonic()
    with pytest.raises(sqlnb.UsageError, match=f"cannot reach the Spark Connect server at "
                                               f"localhost:{port}"):
        sqlnb.connect(f"sc://localhost:{port}/;token=s3cret-token")
    assert time.monotonic() - started < 30  # not the client's ten minutes of retries
    assert sqlnb_threads() == set()


def test_a_wrong_token_is_refused_without_echoing_it(spark_url):
    url = spark_url.rsplit("token=", 1)[0] + "token=wrong-s3cret"
    with pytest.raises(sqlnb.UsageError) as error:
        sqlnb.connect(url)
    assert "refused" in str(error.value) and "wrong-s3cret" not in str(error.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("sc://host:15002", "sc://host:15002"),
    ("sc://host:15002/;token=abc123;use_ssl=true", "sc://host:15002/;token=***;use_ssl=true"),
    ("sc://me:pw@host:443/;user_id=me;token=abc123", "sc://me:***@host:443/;user_id=me;token=***"),
])
def test_labels_never_hold_the_token(url, shown):
    assert redact(url) == shown


def test_read_only_is_refused_with_the_reason(spark_url):
    with pytest.raises(sqlnb.UsageError, match="read-only"):
        sqlnb.connect(spark_url, read_only=True)


def test_pyspark_missing_says_how_to_install_it():
    code = textwrap.dedent("""
        import sys
        sys.modules["pyspark"] = None
        import sqlnb
        try:
            sqlnb.connect("sc://localhost:15002")
        except sqlnb.UsageError as error:
            print(error)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert "pip install 'sqlnb[spark]'" in out.stdout, out.stderr


def test_progress_names_the_stage_and_rises(sdb):
    """Spark's percent is per stage (a new stage starts again): the phase names the stage."""
    handle = sdb.submit("SELECT k, count(*) FROM (SELECT id % 100 AS k FROM "
                        "range(0, 400000000, 1, 32)) GROUP BY k", time_limit=math.inf)
    seen: list[tuple[str, float]] = []

    def rising() -> bool:
        p = handle.progress
        if p.phase is not None and p.percent is not None:
            seen.append((p.phase.split(":")[0], p.percent))
        same_stage = [pc for ph, pc in seen if seen and ph == seen[-1][0]]
        return handle.done() or (len(set(same_stage)) >= 2 and same_stage[-1] > same_stage[0])

    wait_for(rising, "the percent rising within a stage")
    handle.cancel()
    handle.wait(WAIT)
    assert seen and seen[0][0].startswith("stage ")
    assert all(0 <= percent <= 100 for _phase, percent in seen)


def test_a_cancel_stops_only_its_own_query(sdb):
    one = sdb.submit(SLOW, time_limit=math.inf)
    two = sdb.submit(SLOW, time_limit=math.inf)
    wait_running(one)
    wait_running(two)  # the two reads run at once, each on its reader
    one.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        one.result(timeout=WAIT)
    assert not two.done()  # its tag was not interrupted
    two.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        two.result(timeout=WAIT)
    assert sdb.query("SELECT 1 AS one")["one"][0] == 1


def test_concurrent_reads_from_several_tasks(sdb):
    async def main():
        return await asyncio.gather(*[sdb.execute(f"SELECT {i} * 2 AS v") for i in range(6)])

    results = asyncio.run(main())
    assert [r.single_value() for r in results] == [0, 2, 4, 6, 8, 10]


def test_writes_are_serialised(sdb):
    sdb.write("CREATE TABLE w (x BIGINT) USING parquet")
    first = sdb.submit("INSERT INTO w SELECT id FROM range(0, 1000000000000000, 1, 16)",
                       time_limit=math.inf)
    wait_running(first)
    second = sdb.submit("INSERT INTO w VALUES (1)")
    assert second.progress.state == "queued"  # the one writer is busy with the first
    first.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        first.result(timeout=WAIT)
    second.result(timeout=WAIT)
    assert sdb.query("SELECT x FROM w")["x"].tolist() == [1]


def test_temp_views_and_settings_belong_to_the_session(sdb):
    sdb.write("CREATE TEMP VIEW answer AS SELECT 42 AS a")
    assert sdb.query("SELECT a FROM answer")["a"][0] == 42  # on a reader
    sdb.write("SET spark.sql.shuffle.partitions = 3")
    assert sdb.query("SET spark.sql.shuffle.partitions")["value"][0] == "3"
    assert "answer" in sdb.tables()["name"].tolist()


def test_a_string_with_an_escaped_quote_and_a_semicolon_is_one_statement(sdb):
    """Issue 20: Spark's strings take backslash escapes (and "..." is a string there), so the
    splitter reads them as Spark does: `'it\\'s; fine'` does not end the statement."""
    script = "SELECT 'it\\'s; fine' AS s, \"a \\\" ; b\" AS t; SELECT 2 AS two"
    statements = sdb.statements(script)
    assert len(statements) == 2
    frame = sdb.query(statements[0].text)
    assert frame["s"][0] == "it's; fine" and frame["t"][0] == 'a " ; b'


def test_a_write_reports_no_rowcount(sdb):
    sdb.write("CREATE TABLE r (x BIGINT) USING parquet")
    assert sdb.write("INSERT INTO r VALUES (1), (2)").rowcount == -1  # Spark does not say


def test_a_sqlite_table_copies_into_spark_in_chunks_with_its_values(sdb, tmp_path):
    """The documented way up: iter_chunks from SQLite, insert_df into Spark. Spark's JDBC reader
    reads SQLite's INTEGER as 32-bit unless told (2**40 came back as 0); this way keeps it."""
    path = tmp_path / "small.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE big (id INTEGER, v INTEGER, s TEXT)")
        conn.executemany("INSERT INTO big VALUES (?, ?, ?)",
                         [(i, 2**40 + i, f"row {i}") for i in range(2500)])
    with sqlnb.connect(path) as source:
        for chunk in source.iter_chunks("SELECT * FROM big ORDER BY id", chunk_rows=1000):
            sdb.insert_df(chunk, "big", if_exists="append")
    copied = sdb.query("SELECT count(*) AS n, max(v) AS top, min(v) AS low FROM big")
    assert copied["n"][0] == 2500
    assert copied["top"][0] == 2**40 + 2499 and copied["low"][0] == 2**40
    assert sdb.schema("big").set_index("name").loc["v", "type"] == "bigint"


def test_close_leaves_the_servers_session_count_as_it_was(spark_url):
    """close() stops the session's queries (no job runs on afterwards)."""
    db = sqlnb.connect(spark_url)
    handle = db.submit(SLOW, time_limit=math.inf)
    wait_running(handle)
    db.close()
    with pytest.raises(sqlnb.DatabaseClosed):
        handle.result(timeout=WAIT)
    with sqlnb.connect(spark_url) as other:  # the server still serves
        assert other.query("SELECT 7 AS seven")["seven"][0] == 7


def test_a_local_server_that_cannot_start_says_why(monkeypatch):
    """Spark's launcher runs $JAVA_HOME/bin/java: with none there, the server stops as it
    starts, and the error says so, with the end of its log and what Spark needs."""
    monkeypatch.setenv("JAVA_HOME", "/nonexistent-java")
    with pytest.raises(sqlnb.UsageError, match=r"stopped as it started.*Java 17"):
        sqlnb.connect("spark:local[1]")
    assert sqlnb_threads() == set()


def test_a_local_server_from_the_magics_is_sqlnbs_own_and_leaves_nothing_behind(capsys):
    """`%sql spark:local[1]` starts a JVM of sqlnb's own (one test: each start costs ~30 s);
    its token is never shown; `%sqlnb close` stops it and leaves no thread."""
    from IPython.core.interactiveshell import InteractiveShell

    before = _javas()
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sqlnb")
    try:
        shell.run_line_magic("sql", "spark:local[1]")
        shown = capsys.readouterr().out
        assert "connected: spark (spark:local[1] (sc://localhost:" in shown
        assert "token" not in shown
        started = _javas() - before
        assert started, "a JVM runs the local server"
        shell.run_line_magic("sql", "CREATE TABLE local_birds (name STRING) USING parquet")
        shell.run_line_magic("sql", "INSERT INTO local_birds VALUES ('wren')")
        assert shell.run_line_magic("sql", "SELECT name FROM local_birds")["name"].tolist() == [
            "wren"]
        assert shell.run_line_magic("sql", "SELECT 6 * 7 AS answer")["answer"][0] == 42
        shell.run_line_magic("sqlnb", "close spark")
        assert not any(psutil.pid_exists(pid) for pid in started), "closing stopped its JVM"
    finally:
        shell.run_line_magic("unload_ext", "sqlnb")
        InteractiveShell.clear_instance()
    assert sqlnb_threads() == set()
