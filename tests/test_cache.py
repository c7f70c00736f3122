"""Issue 22: a cache that knows when the data changed. A read's DataFrame is given again for the
same SQL and parameters while no write can have changed it, and every way it must miss misses:
a write through sqlnb, a write by another process (SQLite's data_version), other parameters, a
non-deterministic function; Spark and PostgreSQL cache only with a time to live, "may be stale"."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

import sqlnb
from sqlnb.cache import CACHE

from .test_engines import fresh
from .test_magics import cell, ip  # noqa: F401 (the ip fixture)


@pytest.fixture(autouse=True)
def empty_cache():
    CACHE.clear()
    yield
    CACHE.clear()


def _numbers(db):
    db.write("CREATE TABLE n (x INT)")
    db.write("INSERT INTO n VALUES (1), (2), (3)")


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_hits_and_every_miss_where_sqlnb_knows(engine, tmp_path, request):
    with fresh(engine, tmp_path, request) as db:
        _numbers(db)
        sql = "SELECT sum(x) AS s FROM n WHERE x >= :least"
        first = db.submit(sql, {"least": 1}, dataframe=True, cache=True)
        assert first.result()["s"][0] == 6 and not first.from_cache
        again = db.submit(sql, {"least": 1}, dataframe=True, cache=True)
        assert again.from_cache and again.result()["s"][0] == 6
        assert again.cache_line.startswith("from cache · ")
        assert again.cache_line.endswith(" old · no writes since")
        # a read of a named result (a TEMP view, read on the writer) is kept too
        db.save_result("big", "SELECT x FROM n WHERE x > 1")
        db.query("SELECT count(*) AS c FROM big", cache=True)
        assert db.submit("SELECT count(*) AS c FROM big", dataframe=True, cache=True).from_cache
        # a changed copy does not change what is kept
        got = again.result()
        got.loc[0, "s"] = -1
        assert db.query(sql, {"least": 1}, cache=True)["s"][0] == 6
        # another parameter is another result
        other = db.submit(sql, {"least": 2}, dataframe=True, cache=True)
        assert not other.from_cache and other.result()["s"][0] == 5
        # a write through sqlnb: a miss, and the new answer
        db.write("INSERT INTO n VALUES (10)")
        after = db.submit(sql, {"least": 1}, dataframe=True, cache=True)
        assert not after.from_cache and after.result()["s"][0] == 16
        assert db.submit(sql, {"least": 1}, dataframe=True, cache=True).from_cache
        # non-deterministic SQL is never kept, and the line says why
        for volatile, said in [("SELECT random() AS r", "random() is not deterministic"),
                               ("SELECT date('now') AS t", "date('now') reads the clock")
                               if engine == "sqlite" else
                               ("SELECT now() AS t", "now() is not deterministic")]:
            db.query(volatile, cache=True)
            handle = db.submit(volatile, dataframe=True, cache=True)
            assert not handle.from_cache and said in handle.cache_line
        # without cache= nothing is looked up; history marks the cached ones
        assert not db.submit(sql, {"least": 1}, dataframe=True).from_cache
        history = db.history()
        assert history["cached"].sum() >= 3
        assert db.cache_clear() >= 1
        assert not db.submit(sql, {"least": 1}, dataframe=True, cache=True).from_cache


def test_a_write_by_another_process_is_seen(tmp_path):
    path = tmp_path / "shared.db"
    with sqlnb.connect(path) as db:
        _numbers(db)
        sql = "SELECT count(*) AS c FROM n"
        assert db.query(sql, cache=True)["c"][0] == 3
        assert db.submit(sql, dataframe=True, cache=True).from_cache
        code = ("import sqlite3, sys\n"
                "c = sqlite3.connect(sys.argv[1])\n"
                "c.execute('INSERT INTO n VALUES (4)')\n"
                "c.commit()\n")
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
        handle = db.submit(sql, dataframe=True, cache=True)
        assert not handle.from_cache and handle.result()["c"][0] == 4
        # and by another connection of this process
        other = sqlite3.connect(path)
        other.execute("INSERT INTO n VALUES (5)")
        other.commit()
        other.close()
        assert db.query(sql, cache=True)["c"][0] == 5


@pytest.mark.parametrize("engine", ["postgres", "spark"])
def test_where_sqlnb_cannot_know_only_a_ttl_caches(engine, tmp_path, request):
    with fresh(engine, tmp_path, request) as db:
        _numbers(db)
        sql = "SELECT count(*) AS c FROM n"
        plain = db.submit(sql, dataframe=True, cache=True)
        assert plain.result()["c"][0] == 3 and not plain.from_cache
        assert "cache-ttl" in plain.cache_line
        assert not db.submit(sql, dataframe=True, cache=True).from_cache
        db.query(sql, cache_ttl=600)
        hit = db.submit(sql, dataframe=True, cache_ttl=600)
        assert hit.from_cache and hit.cache_line.endswith("may be stale")
        # its own writes sqlnb still sees
        db.write("INSERT INTO n VALUES (4)")
        assert db.query(sql, cache_ttl=600)["c"][0] == 4
        # and an old result is not given
        db.query(sql, cache_ttl=600)
        time.sleep(0.3)
        assert not db.submit(sql, dataframe=True, cache_ttl=0.1).from_cache


def test_the_budget_drops_the_least_recently_used(db, monkeypatch):
    _numbers(db)
    db.write("CREATE TABLE big (x INT)")
    db.write("INSERT INTO big WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
             "WHERE x < 20000) SELECT x FROM c")
    small = "SELECT x FROM n"
    db.query(small, cache=True)
    size = int(CACHE.frame()["bytes"].sum())
    monkeypatch.setattr(sqlnb.options, "cache_bytes", size + size // 2)
    db.query("SELECT x FROM big", cache=True)  # larger than the budget: not kept
    assert db.submit(small, dataframe=True, cache=True).from_cache
    db.query("SELECT x + 1 AS x FROM n", cache=True)  # as large: pushes out the older one
    assert list(CACHE.frame()["sql"]) == ["SELECT x + 1 AS x FROM n"]
    with pytest.raises(sqlnb.UsageError, match="dataframe=True"):
        db.submit(small, cache=True)


def test_cells_with_cache(ip, tmp_path, capsys):  # noqa: F811
    ip.user_ns["cache_db"] = sqlnb.connect(tmp_path / "c.db")
    ip.run_line_magic("sqlnb", "use cache_db")
    cell(ip, "CREATE TABLE n (x INTEGER); INSERT INTO n VALUES (1), (2)")
    capsys.readouterr()
    cell(ip, "SELECT sum(x) AS s FROM n", line="--cache")
    assert "from cache" not in capsys.readouterr().out
    assert cell(ip, "SELECT sum(x) AS s FROM n", line="--cache")["s"][0] == 3
    assert "from cache · 0 s old · no writes since" in capsys.readouterr().out
    # the setting does the same; a write in the cell makes the read after it run again
    ip.run_line_magic("config", "SqlNB.cache = True")
    try:
        got = cell(ip, "INSERT INTO n VALUES (3); SELECT sum(x) AS s FROM n")
        assert got["s"][0] == 6 and "from cache" not in capsys.readouterr().out
        cell(ip, "SELECT random() AS r")
        assert "not cached: random() is not deterministic" in capsys.readouterr().out
    finally:
        ip.run_line_magic("config", "SqlNB.cache = False")
    kept = ip.run_line_magic("sqlnb", "cache")
    assert "SELECT sum(x) AS s FROM n" in list(kept["sql"])
    assert "of 256 MB" in capsys.readouterr().out
    ip.run_line_magic("sqlnb", "cache clear")
    assert "dropped" in capsys.readouterr().out
    assert len(ip.run_line_magic("sqlnb", "cache")) == 0
    ip.run_line_magic("sqlnb", "close cache_db")


@pytest.mark.parametrize("engine, sql", [
    ("sqlite", "SELECT last_insert_rowid()"), ("sqlite", "SELECT changes()"),
    ("sqlite", "SELECT unixepoch()"), ("sqlite", "SELECT randomblob(4)"),
    ("duckdb", "SELECT get_current_timestamp()"), ("duckdb", "SELECT uuidv7()"),
    ("postgres", "SELECT clock_timestamp()"), ("postgres", "SELECT pg_backend_pid()"),
    ("postgres", "SELECT txid_current()"), ("postgres", "SELECT timeofday()"),
    ("spark", "SELECT monotonically_increasing_id()"), ("spark", "SELECT spark_partition_id()"),
    ("spark", "SELECT input_file_name()"),
])
def test_each_engine_names_its_own_volatile_functions(engine, sql):
    """Functions sqlglot does not know and that change from call to call are named by their
    engine (Backend.volatile_functions), not by the control plane: the shared list alone lets
    them through, the engine's list keeps them out of the cache."""
    from sqlnb import _sql
    from sqlnb.engines import engine_named

    backend = engine_named(engine)
    tree = _sql.parse(sql, backend.sqlglot_dialect)
    assert _sql.unknowable(tree, backend.sqlglot_dialect) is None
    said = _sql.unknowable(tree, backend.sqlglot_dialect, backend.volatile_functions)
    assert said is not None and said.endswith("is not deterministic")
