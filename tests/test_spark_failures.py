"""Spark's failure paths: what a write that was stopped left behind.

Spark SQL has no transactions, so a stopped write is said to be done, not run, or maybe applied,
never "rolled back".
"""

from __future__ import annotations

import math
import secrets

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
