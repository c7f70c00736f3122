"""Issue 22: the query history. Every statement a Database runs is recorded with its outcome,
rows, timing and redacted parameters; `db.history()` and `%sqlnb history` show it; a history
file keeps it across kernels and never holds a secret."""

from __future__ import annotations

import sqlite3

import pytest

import sqlnb
import sqlnb.history

from .helpers import FOREVER, wait_running
from .test_engines import ENGINES, fresh
from .test_magics import cell, fails, ip  # noqa: F401 (the ip fixture)


@pytest.fixture(params=sorted(ENGINES))
def any_engine(request):
    return request.param


def test_every_statement_is_recorded_with_its_outcome(db):
    db.write("CREATE TABLE t (x INTEGER)")
    db.write_many("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
    assert len(db.query("SELECT x FROM t WHERE x > :low", {"low": 1})) == 2
    with pytest.raises(sqlite3.OperationalError):
        db.query("SELECT nope FROM t")
    with pytest.raises(sqlnb.QueryTimeout):
        db.query(FOREVER, time_limit=0.2)
    handle = db.submit(FOREVER, time_limit=60)
    wait_running(handle)
    handle.cancel()
    with pytest.raises(sqlnb.QueryCancelled):
        handle.result()
    history = db.history()
    assert list(history["sql"]) == [
        "CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (?)",
        "SELECT x FROM t WHERE x > :low", "SELECT nope FROM t", FOREVER, FOREVER]
    assert list(history["outcome"]) == ["done", "done", "done", "error", "time limit",
                                        "cancelled"]
    assert list(history["rows"].astype(object).where(history["rows"].notna(), None)) == [
        None, 3, 2, None, None, None]
    assert history["params"][2] == "{low=1}"
    assert history["error"][3] == "OperationalError: no such column: nope"
    assert history["seconds"][4] >= 0.2  # it ran until its limit stopped it
    assert list(history["database"].unique()) == [db.path]
    assert not history["cached"].any()
    assert history["number"].is_monotonic_increasing
    assert list(db.history(failed=True)["outcome"]) == ["error", "time limit", "cancelled"]
    slow = db.history(slow=0.2)
    assert "time limit" in set(slow["outcome"]) and (slow["seconds"] >= 0.2).all()
    assert list(db.history(last=2)["outcome"]) == ["time limit", "cancelled"]


def test_each_database_sees_its_own_history(tmp_path):
    with sqlnb.connect(tmp_path / "a.db") as a, sqlnb.connect(tmp_path / "b.db") as b:
        a.query("SELECT 1 AS a")
        b.query("SELECT 2 AS b")
        assert list(a.history()["sql"]) == ["SELECT 1 AS a"]
        assert list(b.history()["sql"]) == ["SELECT 2 AS b"]
        everyone = sqlnb.history.frame()
        assert {"SELECT 1 AS a", "SELECT 2 AS b"} <= set(everyone["sql"])


def test_secrets_are_redacted(db):
    db.write("CREATE TABLE creds (url TEXT, password TEXT)")
    db.write("INSERT INTO creds VALUES ('sc://host:15002/;token=abc123', :password)",
             {"password": "hunter2"})
    db.write("INSERT INTO creds VALUES ('postgresql://me:pw9@host/db', 'plain')")
    db.write("UPDATE creds SET password = 'hunter3' WHERE url = 'x'")  # names a secret
    history = db.history()
    text = history.to_string()
    for secret in ("abc123", "hunter2", "pw9", "hunter3"):
        assert secret not in text
    assert history["sql"][1] == ("INSERT INTO creds VALUES ('sc://host:15002/;token=***', "
                                 ":password)")
    assert history["sql"][3] == "UPDATE creds SET password = '***' WHERE url = '***'"
    assert history["params"][1] == "{password=***}"
    assert history["sql"][2] == "INSERT INTO creds VALUES ('postgresql://me:***@host/db', 'plain')"


def test_the_history_is_bounded(db, monkeypatch):
    monkeypatch.setattr(sqlnb.options, "history_size", 5)
    for i in range(12):
        db.query(f"SELECT {i} AS i")
    assert list(db.history()["sql"]) == [f"SELECT {i} AS i" for i in range(7, 12)]
    with pytest.raises(sqlnb.UsageError, match="slow must be"):
        db.history(slow=-1)
    with pytest.raises(sqlnb.UsageError, match="last must be"):
        db.history(last=0)


def test_a_history_file_keeps_entries_without_secrets(db, tmp_path):
    path = tmp_path / "hist" / "history.sqlite"
    try:
        sqlnb.history.persist_to(path)
        db.write("CREATE TABLE s (k TEXT)")
        db.write("INSERT INTO s VALUES ('sc://h:1/;token=topsecret')")
        db.write("INSERT INTO s VALUES (:api_key)", {"api_key": "k-777"})
        sqlnb.history.flush()
        raw = path.read_bytes()
        assert b"topsecret" not in raw and b"k-777" not in raw
        rows = sqlite3.connect(path).execute("SELECT sql, params, outcome FROM history "
                                             "ORDER BY id").fetchall()
        assert rows[-2:] == [("INSERT INTO s VALUES ('sc://h:1/;token=***')", None, "done"),
                             ("INSERT INTO s VALUES (:api_key)", "{api_key=***}", "done")]
        # a new process (here: a history forgotten, then the file opened again) reads it back
        sqlnb.history.persist_to(None)
        sqlnb.history.clear()
        sqlnb.history.persist_to(path)
        assert "INSERT INTO s VALUES (:api_key)" in list(sqlnb.history.frame()["sql"])
    finally:
        sqlnb.history.persist_to(None)


def test_history_on_every_engine(any_engine, tmp_path, request):
    """The same record on every engine; a Spark target's token is never in it."""
    with fresh(any_engine, tmp_path, request) as db:
        text = ENGINES[any_engine]["text"]
        db.write(f"CREATE TABLE h (x INT, s {text})")
        db.write("INSERT INTO h VALUES (1, 'a'), (2, 'b')")
        assert len(db.query("SELECT * FROM h WHERE x >= :n", {"n": 1})) == 2
        with pytest.raises(db.error_types):
            db.query("SELECT no_such_column FROM h")
        history = db.history()
        assert list(history["outcome"])[-3:] == ["done", "done", "error"]
        assert list(history["sql"])[-2:] == ["SELECT * FROM h WHERE x >= :n",
                                             "SELECT no_such_column FROM h"]
        assert history["rows"].iloc[-2] == 2
        assert set(history["engine"]) == {db.engine}
        assert set(history["database"]) == {db.path}
        if any_engine == "spark":
            token = request.getfixturevalue("spark_url").rsplit("token=", 1)[1]
            assert token not in history.to_string()


# -- the magics ----------------------------------------------------------------------------------

def test_sqlnb_history_shows_filters_and_reruns(ip, capsys):  # noqa: F811
    cell(ip, "CREATE TABLE r (x); INSERT INTO r VALUES (1), (2)")
    ip.user_ns["low"] = 0
    cell(ip, "SELECT count(*) AS n FROM r WHERE x > :low")
    fails(ip, capsys, "%sql SELECT nope")
    shown = ip.run_line_magic("sqlnb", "history -n 3")
    assert list(shown["sql"]) == ["INSERT INTO r VALUES (1), (2)",
                                  "SELECT count(*) AS n FROM r WHERE x > :low", "SELECT nope"]
    failed = ip.run_line_magic("sqlnb", "history --failed")
    assert list(failed["sql"])[-1] == "SELECT nope"
    assert set(failed["outcome"]) == {"error"}
    number = int(shown.index[1])
    ip.user_ns["low"] = 1  # a rerun binds the variables as they are now
    again = ip.run_line_magic("sqlnb", f"history --rerun {number}")
    assert again["n"][0] == 1
    assert f"rerun of {number} on default: SELECT count(*)" in capsys.readouterr().out
    assert "no history entry 999999" in fails(ip, capsys, "%sqlnb history --rerun 999999")
    assert "-n takes a whole number" in fails(ip, capsys, "%sqlnb history -n 0")


def test_history_file_setting(ip, tmp_path):  # noqa: F811
    path = tmp_path / "h.sqlite"
    try:
        ip.run_line_magic("config", f"SqlNB.history_file = {str(path)!r}")
        cell(ip, "SELECT 'kept' AS k")
        rows = sqlite3.connect(path).execute("SELECT sql FROM history").fetchall()
        assert ("SELECT 'kept' AS k",) in rows
    finally:
        ip.run_line_magic("config", "SqlNB.history_file = ''")
