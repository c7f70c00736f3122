"""The magics in a real kernel (jupyter_client), as a front end sees them: a cell's output, the
one-line error, `VAR <<` and `:name` binding, and the kernel interrupt (the Stop button) during a
slow query, after which the next cell works."""

from __future__ import annotations

import time

from tests.test_magics import CANCELLED
from tests.test_widget import _collect, _labels

from .helpers import FOREVER


def _interrupt_once_running(kernel, msg_id):
    """Press Stop once the cell shows its query running (the progress widget has updated its
    figures), not after a guess at how long starting takes."""
    _collect(kernel, msg_id, lambda messages: len(_labels(messages)) > 1)
    kernel.manager.interrupt_kernel()


def _result(outputs):
    results = [content for kind, content in outputs if kind == "execute_result"]
    assert len(results) == 1, outputs
    return results[0]["data"]


def _error(outputs):
    errors = [content for kind, content in outputs if kind == "error"]
    assert len(errors) == 1, outputs
    return errors[0]


def test_cell_shows_a_dataframe(kernel):
    status, outputs = kernel.run("%%sql\nCREATE TABLE birds (name TEXT, kg REAL);\n"
                                 "INSERT INTO birds VALUES ('wren', 0.01), ('swan', 11.9);\n"
                                 "SELECT * FROM birds ORDER BY kg")
    assert status == "ok"
    data = _result(outputs)
    assert "<table" in data["text/html"] and "swan" in data["text/html"]
    assert data["text/plain"].splitlines()[0].split() == ["name", "kg"]


def test_writes_show_a_summary(kernel):
    status, outputs = kernel.run("%%sql\nCREATE TABLE w (x);\nINSERT INTO w VALUES (1), (2), (3)")
    assert status == "ok"
    assert _result(outputs)["text/plain"] == "3 rows changed (2 statements)"


def test_error_is_one_short_line(kernel):
    status, outputs = kernel.run("%%sql\nSELECT 1;\nSELECT * FROM no_such_table")
    assert status == "error"
    error = _error(outputs)
    assert error["traceback"] == [error["evalue"]]
    assert error["evalue"] == ("OperationalError: no such table: no_such_table "
                               "(statement 2 of 2: SELECT * FROM no_such_table); "
                               "the statement before it is done")


def test_target_and_binding(kernel):
    status, _ = kernel.run("low = 1\n")
    assert status == "ok"
    status, _ = kernel.run("%%sql heavy <<\nSELECT name FROM birds WHERE kg > :low")
    assert status == "ok"
    status, outputs = kernel.run("print(list(heavy['name']))")
    assert status == "ok"
    assert outputs == [("stream", {"name": "stdout", "text": "['swan']\n"})]


def test_interrupt_cancels_a_slow_query_and_the_kernel_goes_on(kernel):
    msg_id = kernel.start(f"%%sql --time-limit inf\n{FOREVER}")
    _interrupt_once_running(kernel, msg_id)
    status, outputs = kernel.finish(msg_id)
    assert status == "error"
    error = _error(outputs)
    assert error["ename"] == "SqlCellError"
    assert CANCELLED.fullmatch(error["evalue"]), error["evalue"]  # as the Cancel button says it
    status, outputs = kernel.run("%sql SELECT 41 + 1 AS answer")
    assert status == "ok"
    assert "42" in _result(outputs)["text/plain"]


def test_interrupt_rolls_back_a_slow_write(kernel):
    status, _ = kernel.run("%%sql\nCREATE TABLE big (x);\nINSERT INTO big VALUES (0)")
    assert status == "ok"
    msg_id = kernel.start("%%sql --time-limit inf\nINSERT INTO big WITH RECURSIVE c(x) AS "
                          "(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
    _interrupt_once_running(kernel, msg_id)
    status, outputs = kernel.finish(msg_id)
    assert status == "error"
    evalue = _error(outputs)["evalue"]
    assert evalue.startswith("QueryCancelled: cancelled after ")
    assert "; its changes were rolled back (the statement: INSERT INTO big" in evalue
    status, outputs = kernel.run("%sql SELECT count(*) AS n FROM big")
    assert status == "ok"
    assert _result(outputs)["text/plain"].splitlines()[1].split()[-1] == "1"


def test_interrupt_stops_a_spark_query_and_the_kernel_goes_on(kernel, spark_url):
    """The kernel's Stop on a Spark Connect server: the query's tag is interrupted, the cell
    ends in the same one line, and the session goes on."""
    status, _ = kernel.run(f"%sqlnb connect {spark_url} --as cluster")
    assert status == "ok"
    try:
        msg_id = kernel.start("%%sql --time-limit inf\n"
                              "SELECT count(*) FROM range(0, 1000000000000000, 1, 16)")
        _interrupt_once_running(kernel, msg_id)
        status, outputs = kernel.finish(msg_id)
        assert status == "error"
        assert _error(outputs)["evalue"].startswith("QueryCancelled: cancelled after ")
        status, outputs = kernel.run("%sql SELECT 41 + 1 AS answer")
        assert status == "ok" and "42" in _result(outputs)["text/plain"]
    finally:
        kernel.run("%sqlnb close cluster")


def test_stop_during_sqlnb_wait_cancels_the_background_cell_in_one_line(kernel):
    """Stop while `%sqlnb wait` waits: the background query is cancelled and the cell ends in
    the one line a blocking cell's Stop gives, not a KeyboardInterrupt traceback."""
    status, _ = kernel.run(f"%%sql --background --time-limit 120 later <<\n{FOREVER}")
    assert status == "ok"
    msg_id = kernel.start("%sqlnb wait later")
    _collect(kernel, msg_id, lambda messages: any(
        m["msg_type"] == "execute_input" for m in messages))
    time.sleep(0.5)  # margin for the magic to reach its wait (no message marks that moment)
    kernel.manager.interrupt_kernel()
    status, outputs = kernel.finish(msg_id)
    assert status == "error"
    error = _error(outputs)
    assert error["ename"] == "SqlCellError"
    assert error["evalue"].startswith("QueryCancelled: cancelled after ")
    assert "(the background cell of later" in error["evalue"]
    status, outputs = kernel.run("%sql SELECT 42 AS answer")
    assert status == "ok" and "42" in _result(outputs)["text/plain"]
