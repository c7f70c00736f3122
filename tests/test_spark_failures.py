"""Spark's failure paths: what a write that was stopped left behind, an import's replace, and a
local server whose owner dies.

Spark SQL has no transactions, so a stopped write is said to be done, not run, or maybe applied,
never "rolled back".
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import socket
import subprocess
import sys
import textwrap
import time

import pandas as pd
import psutil
import pytest

import sqlnb
from sqlnb.engines.spark import SparkLink
from sqlnb.ipython.magics import SqlCellError

from .helpers import WAIT, wait_for, wait_running

SLOW = "SELECT count(*) FROM range(0, 1000000000000000, 1, 16)"
SLOW_WRITE = "INSERT INTO w SELECT id FROM range(0, 1000000000000000, 1, 16)"


def _job_runs(handle: sqlnb.QueryHandle) -> None:
    wait_for(lambda: handle.progress.percent is not None, "the query's first job running")


# -- a write that was stopped: done, not run, or maybe applied ------------------------------

def test_a_cancelled_spark_write_may_have_been_applied(sdb):
    """Spark writes files and commits them at the end of the job: a cancel may land after that,
    so the rows may be in the table. The error says so, and never says "rolled back"."""
    sdb.write("CREATE TABLE w (x BIGINT) USING parquet")
    handle = sdb.submit(SLOW_WRITE, time_limit=math.inf)
    _job_runs(handle)
    handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled) as error:
        handle.result(timeout=WAIT)
    assert error.value.is_write and error.value.applied is None
    assert "may have been applied" in str(error.value)
    assert "rolled back" not in str(error.value)


def test_a_spark_write_cancelled_before_it_ran_was_not_run(sdb):
    sdb.write("CREATE TABLE w (x BIGINT) USING parquet")
    first = sdb.submit(SLOW_WRITE, time_limit=math.inf)
    wait_running(first)
    queued = sdb.submit("INSERT INTO w VALUES (1)")  # waits for the one writer
    queued.cancel()
    first.cancel()
    with pytest.raises(sqlnb.QueryCancelled) as error:
        queued.result(timeout=WAIT)
    assert error.value.applied is False
    assert "the write was not run" in str(error.value)
    with pytest.raises(sqlnb.QueryCancelled):
        first.result(timeout=WAIT)
    assert sdb.query("SELECT count(*) AS n FROM w WHERE x = 1")["n"][0] == 0


def test_a_spark_write_that_ended_before_its_cancel_is_done(sdb, monkeypatch):
    """A cancel that lands once the statement has run stops nothing on an engine without
    transactions: the write is done, and the call says so by returning (it said "rolled back"
    while its rows were in the table, and a retry doubled them)."""
    sdb.write("CREATE TABLE w (x BIGINT) USING parquet")
    run = SparkLink.run

    def run_then_cancel(self, statement, params, control, frame):
        value = run(self, statement, params, control, frame)
        if statement.keyword == "INSERT":
            control.cancel()  # the Cancel click that comes a moment too late
        return value

    monkeypatch.setattr(SparkLink, "run", run_then_cancel)
    sdb.write("INSERT INTO w VALUES (1)")
    monkeypatch.undo()
    assert sdb.query("SELECT count(*) AS n FROM w")["n"][0] == 1


def test_the_magics_say_a_stopped_spark_write_may_have_been_applied(shell, spark_url):
    namespace = f"sqlnb_{secrets.token_hex(6)}"
    shell.run_line_magic("sqlnb", f"connect {spark_url} --as maybe")
    try:
        shell.run_cell_magic("sql", "", f"CREATE DATABASE {namespace};\nUSE {namespace};\n"
                                         "CREATE TABLE w (x BIGINT) USING parquet")
        with pytest.raises(SqlCellError) as error:
            shell.run_cell_magic("sql", "--time-limit 3", SLOW_WRITE)
        line = str(error.value)
        assert line.startswith("QueryTimeout: stopped at the 3 s time limit; it may have been "
                               "applied"), line
        assert "rolled back" not in line
    finally:
        shell.run_line_magic("sql", f"DROP DATABASE IF EXISTS {namespace} CASCADE")
        shell.run_line_magic("sqlnb", "close maybe")


# -- an import's replace ----------------------------------------------------------------------

def _fail_renames_to(monkeypatch, target: str, staged_only: bool) -> list[str]:
    """Make Spark refuse every rename into `target` (only the staging table's, with
    `staged_only`): a fault at the seam, as a full disk or a lost lock would give."""
    from pyspark.errors import PySparkException

    run = SparkLink.run
    refused: list[str] = []

    def run_or_fail(self, statement, params, control, frame):
        text = statement.text
        if text.endswith(f"RENAME TO `{target}`") and (
                not staged_only or "__sqlnb_import_" in text):
            refused.append(text)
            raise PySparkException(message="injected: the rename failed")
        return run(self, statement, params, control, frame)

    monkeypatch.setattr(SparkLink, "run", run_or_fail)
    return refused


def _birds(db: sqlnb.Database, table: str = "birds") -> list[str]:
    return sorted(db.query(f"SELECT name FROM {table}")["name"])


def test_a_replace_whose_rename_fails_keeps_the_old_table(sdb, monkeypatch):
    """Finding 6: the old table was dropped before the new one was renamed in, and the error
    path dropped the new rows too: both were gone."""
    sdb.write("CREATE TABLE birds (name STRING) USING parquet")
    sdb.write("INSERT INTO birds VALUES ('wren'), ('swan')")
    refused = _fail_renames_to(monkeypatch, "birds", staged_only=True)
    with pytest.raises(Exception, match="injected") as error:
        sdb.import_file(pd.DataFrame({"name": ["kite"]}), "birds", if_exists="replace")
    monkeypatch.undo()
    assert refused  # the fault was met
    assert any("birds is as it was" in n for n in getattr(error.value, "__notes__", ()))
    assert _birds(sdb) == ["swan", "wren"]
    assert not [n for n in sdb.tables()["name"] if "__sqlnb_" in n]  # nothing left over


def test_a_replace_that_cannot_put_either_table_back_keeps_both_and_names_them(
        sdb, monkeypatch):
    sdb.write("CREATE TABLE birds (name STRING) USING parquet")
    sdb.write("INSERT INTO birds VALUES ('wren')")
    _fail_renames_to(monkeypatch, "birds", staged_only=False)
    with pytest.raises(Exception, match="injected") as error:
        sdb.import_file(pd.DataFrame({"name": ["kite"]}), "birds", if_exists="replace")
    monkeypatch.undo()
    notes = " ".join(getattr(error.value, "__notes__", ()))
    kept = {n for n in sdb.tables()["name"] if "__sqlnb_" in n}
    old = next(n for n in kept if "__sqlnb_replaced_" in n)
    new = next(n for n in kept if "__sqlnb_import_" in n)
    assert old in notes and new in notes  # the note tells the user where each one is
    assert _birds(sdb, old) == ["wren"] and _birds(sdb, new) == ["kite"]


def test_a_replace_cancelled_while_making_the_table_is_done(sdb, monkeypatch):
    """A Cancel that lands while the new table is being put in place does not stop the swap
    half way: the import is done, and says so by returning its rows (it said "rolled back"
    after the table had been replaced)."""
    sdb.write("CREATE TABLE birds (name STRING) USING parquet")
    sdb.write("INSERT INTO birds VALUES ('wren')")
    handles: list[sqlnb.QueryHandle] = []
    run = SparkLink.run

    def cancel_at_the_swap(self, statement, params, control, frame):
        if "RENAME TO" in statement.text and handles:
            handles[0].cancel()
        return run(self, statement, params, control, frame)

    monkeypatch.setattr(SparkLink, "run", cancel_at_the_swap)
    handles.append(sdb.import_file(pd.DataFrame({"name": ["kite", "owl"]}), "birds",
                                   if_exists="replace", block=False))
    assert handles[0].result(timeout=WAIT) == 2
    monkeypatch.undo()
    assert _birds(sdb) == ["kite", "owl"]


# -- a local server ends with its owner -------------------------------------------------------

@pytest.mark.timeout(300)
def test_a_local_server_ends_when_the_process_that_started_it_is_killed():
    """Finding 10: the JVM of `spark:local[N]` outlived its owner (0.5-1.5 GB, its port open,
    its folder kept). Now its owner's SIGKILL ends it, closes the port and removes the
    folder."""
    code = textwrap.dedent("""
        import sys, time
        import sqlnb
        db = sqlnb.connect("spark:local[1]")
        print(db.path, flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=os.getcwd()))
    jvm = None
    try:
        label = owner.stdout.readline()
        assert "sc://localhost:" in label, label
        port = int(label.rsplit(":", 1)[1].rstrip(")\n"))
        jvm = next(p for p in psutil.Process(owner.pid).children(recursive=True)
                   if "java" in p.name())
        folder = jvm.cwd()
        assert os.path.isdir(folder)
        owner.kill()
        owner.wait(WAIT)

        def ended() -> bool:
            try:
                alive = jvm.status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                alive = False
            with socket.socket() as probe:
                listening = probe.connect_ex(("127.0.0.1", port)) == 0
            return not alive and not listening and not os.path.exists(folder)

        deadline = time.monotonic() + WAIT
        while not ended() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ended(), "the JVM, its port or its folder outlived the process that started it"
    finally:
        if owner.poll() is None:
            owner.kill()
        if jvm is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                jvm.kill()
