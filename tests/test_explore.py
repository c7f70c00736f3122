"""Exploring: the catalog every engine gives, and Tab completion inside SQL (the pure rules, the
cache a DDL statement refreshes, a busy pool that must not hold Tab, and a real kernel's
complete_request on each engine)."""

from __future__ import annotations

import keyword

import pandas as pd
import pytest

import sqlnb
from sqlnb.ipython.completion import Completer, find_sql, suggest
from sqlnb.results import Catalog

from .conftest import Kernel
from .helpers import wait_for
from .test_engines import ENGINES, fresh

CATALOG = Catalog(
    {"flights": ("origin", "dest", "dep_delay"), "airports": ("faa", "name"),
     "my table": ("a b",)},
    ("avg", "count", "date", "max"),
    ("AND", "FROM", "JOIN", "SELECT", "WHERE", "DESC"),
)


def texts(sql: str, offset: int | None = None, quote: str = '"') -> list[str]:
    found = suggest(sql, len(sql) if offset is None else offset, CATALOG, quote)
    assert found is not None
    return [text for text, _kind in found.choices]


# -- the rules ------------------------------------------------------------------------------------
def test_after_from_and_join_only_tables_are_offered():
    assert texts("SELECT * FROM ") == ["flights", "airports", '"my table"']
    assert texts("SELECT * FROM flights f JOIN air") == ["airports"]
    assert texts("SELECT * FROM flights, a") == ["airports"]
    assert texts("INSERT INTO f") == ["flights"]
    assert texts("UPDATE ") == ["flights", "airports", '"my table"']


def test_columns_of_the_named_tables_come_first():
    found = texts("SELECT d FROM flights", len("SELECT d"))
    assert found[:2] == ["dest", "dep_delay"]
    assert "date" in found and "desc" in found  # functions and keywords follow
    assert "faa" not in texts("SELECT f FROM flights", len("SELECT f"))  # not airports'


def test_after_an_alias_or_table_and_a_dot_only_its_columns():
    sql = "SELECT f. FROM flights AS f JOIN airports a ON a.faa = f.origin"
    assert texts(sql, len("SELECT f.")) == ["origin", "dest", "dep_delay"]
    assert texts("SELECT a.n FROM flights JOIN airports a", len("SELECT a.n")) == ["name"]
    assert texts("SELECT airports. FROM airports", len("SELECT airports.")) == ["faa", "name"]
    assert texts('SELECT "my table". FROM "my table"', len('SELECT "my table".')) == ['"a b"']


def test_keywords_follow_the_case_of_what_is_typed():
    assert texts("SELECT * FROM flights wh") == ["where"]
    assert texts("SELECT * FROM flights WH") == ["WHERE"]


def test_names_that_need_quotes_get_the_engines_quote():
    assert texts("SELECT * FROM my", quote="`") == ["`my table`"]
    assert texts('SELECT * FROM "my') == ['"my table"']


def test_only_the_statement_at_the_cursor_counts():
    sql = "SELECT * FROM airports; SELECT n FROM flights"
    assert "name" not in texts(sql, len("SELECT * FROM airports; SELECT n"))
    assert texts(sql, len("SELECT * FROM airports; SELECT n")) == []


def test_nothing_is_offered_in_a_string_or_a_comment():
    assert suggest("SELECT 'fl", 10, CATALOG) is None
    assert suggest("SELECT 1 -- fl", 14, CATALOG) is None
    assert suggest("SELECT 'x' ", 11, CATALOG) is not None


@pytest.mark.parametrize(("cell", "expected"), [
    ("%%sql\nSELECT 1", ("SELECT 1", 8, None)),
    ("%%sql --db other --time-limit 5 x <<\nSELECT", ("SELECT", 6, "other")),
    ("%%sql SELECT", ("SELECT", 6, None)),
    ("df = %sql SELECT", ("SELECT", 6, None)),
    ("x = 1\n%sql --db a SELECT", ("SELECT", 6, "a")),
])
def test_the_sql_of_a_magic_is_found(cell, expected):
    spot = find_sql(cell, len(cell))
    assert spot is not None
    assert (spot.sql[: spot.offset], spot.offset, spot.db) == expected


@pytest.mark.parametrize("cell", ["SELECT x FROM t", "%sqlnb tables", "%%sql --db",
                                  "%%sql\n", "x = 1  # %sqlx"])
def test_python_and_other_magics_are_not_sql(cell):
    spot = find_sql(cell, len(cell))
    assert spot is None or spot.sql == ""


# -- the catalog, on each engine ---------------------------------------------------------------
@pytest.fixture(params=sorted(ENGINES))
def edb(request, tmp_path):
    with fresh(request.param, tmp_path, request) as database:
        database.write(f"CREATE TABLE flights (origin {ENGINES[request.param]['text']}, "
                       "dep_delay DOUBLE)")
        database.write("CREATE VIEW late AS SELECT origin FROM flights WHERE dep_delay > 60")
        yield database


def test_the_catalog_lists_tables_views_columns_functions_and_keywords(edb):
    catalog = edb.catalog()
    assert catalog.tables["flights"] == ("origin", "dep_delay")
    assert catalog.tables["late"] == ("origin",)
    assert {"count", "max", "lower"} <= set(catalog.functions)
    assert {"SELECT", "FROM", "WHERE"} <= set(catalog.keywords)
    assert all(name.isidentifier() for name in catalog.functions)


def test_the_catalog_is_kept_until_ddl_through_sqlnb_changes_it(edb):
    first = edb.catalog()
    assert edb.catalog() is first
    edb.query("SELECT * FROM flights")
    edb.write("INSERT INTO flights VALUES ('JFK', 1.0)")
    assert edb.catalog() is first  # no name changed
    edb.write(f"CREATE TABLE airports (faa {ENGINES[edb.engine]['text']})")
    assert "airports" in edb.catalog().tables
    edb.insert_df(pd.DataFrame({"a": [1]}), "loaded")
    assert edb.catalog().tables["loaded"] == ("a",)
    edb.write_script("DROP VIEW late; DROP TABLE airports")
    assert set(edb.catalog().tables) == {"flights", "loaded"}


def test_a_write_function_refreshes_the_catalog(tmp_path):
    with sqlnb.connect(tmp_path / "t.db") as db:
        assert db.catalog().tables == {}
        db.write("CREATE TABLE a (x)")
        assert set(db.catalog().tables) == {"a"}

        import asyncio

        asyncio.run(db.execute_write_fn(lambda conn: conn.execute("CREATE TABLE b (y)")))
        assert set(db.catalog().tables) == {"a", "b"}


def test_temp_tables_are_in_the_catalog(tmp_path):
    for target in (tmp_path / "t.db", tmp_path / "t.duckdb"):
        with sqlnb.connect(target) as db:
            db.write("CREATE TEMP TABLE scratch (x INTEGER)")
            assert db.catalog().tables["scratch"] == ("x",)


def test_a_view_that_no_longer_works_leaves_the_rest_listed(tmp_path):
    with sqlnb.connect(tmp_path / "t.db") as db:
        db.write_script("CREATE TABLE a (x); CREATE VIEW v AS SELECT x FROM a; "
                        "CREATE TABLE b (y); DROP TABLE a")
        assert db.catalog().tables == {"b": ("y",)}


CELL = "%%sql\nSELECT * FROM fl"


@pytest.mark.parametrize("target", ["t.db", "t.duckdb"])
def test_tab_never_waits_on_a_busy_pool(tmp_path, target):
    """With its one reader and the writer busy, Tab completes from the last catalog it had,
    not after the queries (the catalog may be read on either)."""
    engine = "duckdb" if target.endswith("duckdb") else "sqlite"
    with sqlnb.connect(tmp_path / target, threads=1, time_limit=120) as db:
        db.write_script("CREATE TABLE flights (origin VARCHAR); CREATE TABLE t (x BIGINT)")
        completer = Completer(lambda name: db)
        assert completer.complete(CELL, len(CELL)).choices == (
            ("flights", "table"),)
        db.write("CREATE TABLE flags (x INTEGER)")
        busy = [db.submit(ENGINES[engine]["forever"]),
                db.submit(ENGINES[engine]["forever_write"])]
        try:
            found = completer.complete(CELL, len(CELL))
            assert found.choices == (("flights", "table"),)  # the last catalog it had
        finally:
            for handle in busy:
                handle.cancel()
        for handle in busy:
            with pytest.raises(sqlnb.QueryCancelled):
                handle.result()
        db.catalog()  # the read Tab started (now on the free reader) fills the cache
        found = completer.complete(CELL, len(CELL))
        assert found.choices == (("flags", "table"), ("flights", "table"))


# -- a real kernel -----------------------------------------------------------------------------
def _complete(kernel: Kernel, code: str, cursor: int | None = None) -> dict:
    msg_id = kernel.client.complete(code, len(code) if cursor is None else cursor)
    while True:
        reply = kernel.client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


@pytest.fixture(scope="module")
def kernel():
    k = Kernel()
    assert k.run("%load_ext sqlnb")[0] == "ok"
    yield k
    k.close()


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_complete_request_in_a_real_kernel(kernel, engine, tmp_path, request):
    if engine == "spark":
        target = request.getfixturevalue("spark_url")
        setup = [f"%sqlnb connect {target} --as e_spark",
                 "%sql CREATE OR REPLACE TEMP VIEW flights AS "
                 "SELECT 'JFK' AS origin, 1.5 AS dep_delay"]
    else:
        path = tmp_path / ENGINES[engine]["file"]
        setup = [f"%sqlnb connect {path} --as e_{engine}",
                 "%sql CREATE TABLE flights (origin VARCHAR, dep_delay DOUBLE)"]
    for line in setup:
        status, outputs = kernel.run(line)
        assert status == "ok", outputs
    # a Tab waits half a second for the catalog the DDL made stale, then completes from the
    # last one (Spark takes longer than that to read it) and the next Tab has the table
    reply = wait_for(lambda: (r := _complete(kernel, "%%sql\nSELECT * FROM fli"))["matches"]
                     == ["flights"] and r, "flights offered after FROM fli")
    assert reply["status"] == "ok"
    assert reply["cursor_start"] == len("%%sql\nSELECT * FROM ")

    code = "%%sql\nSELECT f. FROM flights AS f"
    reply = _complete(kernel, code, len("%%sql\nSELECT f."))
    assert reply["matches"] == ["origin", "dep_delay"]
    types = reply["metadata"]["_jupyter_types_experimental"]
    assert {t["type"] for t in types} == {"column"}

    reply = _complete(kernel, "df = %sql SELECT de FROM flights", len("df = %sql SELECT de"))
    assert reply["matches"][0] == "dep_delay"
    assert "DESC" not in reply["matches"] and "desc" in reply["matches"]

    reply = _complete(kernel, "%%sql\nSELECT * FROM flights WHERE origin = 'x' AN")
    assert "AND" in reply["matches"]

    for code in ("%%sql\nSELECT yie", "%%sql\nSELECT 1 %%ti"):  # no Python inside SQL
        reply = _complete(kernel, code)
        assert not {m for m in reply["matches"] if keyword.iskeyword(m) or "%" in m}
    reply = _complete(kernel, "impo")  # and stay in Python
    assert "import" in reply["matches"]
    assert kernel.run(f"%sqlnb close e_{engine}")[0] == "ok"
