"""Issue 22: named results. `%%sql --save NAME` makes a cell's last query a table later cells
read, on every engine; saving again replaces it, a real table is never shadowed, the chain is
written as one query with CTEs, and Tab offers the names and their columns."""

from __future__ import annotations

import pytest

import sqlnb
from sqlnb.ipython.completion import Completer

from .test_engines import ENGINES, fresh
from .test_magics import cell, fails, ip  # noqa: F401 (the ip fixture)

#: The built-in engines (Tiny, the test plug-in, shares no session between its connections, so
#: a TEMP view its writer makes is not seen by its readers: docs/ENGINES.md)
BUILT_IN = ["duckdb", "postgres", "spark", "sqlite"]


@pytest.fixture(params=BUILT_IN)
def any_engine(request):
    return request.param


def _use(ip, db):  # noqa: F811
    ip.user_ns["chain_db"] = db
    ip.run_line_magic("sqlnb", "use chain_db")


def test_a_chain_of_named_results_on_every_engine(any_engine, tmp_path, request, ip,  # noqa: F811
                                                  capsys):
    with fresh(any_engine, tmp_path, request) as db:
        _use(ip, db)
        text = ENGINES[any_engine]["text"]
        cell(ip, f"CREATE TABLE sales (id INT, region {text}, amount INT)")
        cell(ip, "INSERT INTO sales VALUES (1, 'north', 10), (2, 'south', 20), "
                 "(3, 'north', 30), (4, 'east', 5)")
        big = cell(ip, "SELECT * FROM sales WHERE amount >= 10", line="--save big")
        assert sorted(big["id"]) == [1, 2, 3]  # the cell shows the saved rows
        cell(ip, "SELECT region, sum(amount) AS total FROM big GROUP BY region",
             line="--save by_region")
        top = cell(ip, "SELECT region FROM by_region ORDER BY total DESC LIMIT 1")
        assert list(top["region"]) == ["north"]
        # the chain is live: a view reads the table as it is now
        cell(ip, "INSERT INTO sales VALUES (5, 'south', 100)")
        assert list(cell(ip, "SELECT region FROM by_region ORDER BY total DESC LIMIT 1")
                    ["region"]) == ["south"]
        # saving again replaces it (and the results that read it follow)
        cell(ip, "SELECT * FROM sales WHERE amount >= 30", line="--save big")
        assert sorted(cell(ip, "SELECT region FROM by_region")["region"]) == ["north", "south"]
        # materialized: the rows as they were when saved
        cell(ip, "SELECT count(*) AS n FROM sales", line="--save counted --materialize")
        cell(ip, "INSERT INTO sales VALUES (6, 'west', 1)")
        assert cell(ip, "SELECT n FROM counted")["n"][0] == 5
        # Tab offers the saved names and their columns, as tables
        completer = Completer(lambda name: db)
        db.catalog()  # (read now: Spark reads it in more than a Tab's wait)
        text = "%%sql\nSELECT * FROM by_r"
        assert ("by_region", "table") in completer.complete(text, len(text)).choices
        text = "%%sql\nSELECT by_region.tot"
        assert [c for c, _kind in completer.complete(text, len(text)).choices] == ["total"]
        saved = ip.run_line_magic("sqlnb", "saved")
        assert list(saved["name"]) == ["big", "by_region", "counted"]
        assert list(saved["kind"]) == ["view", "view", "table"]
        assert saved["depends_on"][1] == "big" and saved["reads"][0] == "sales"
        # the whole chain as one query, in the engine's dialect, gives the same rows
        capsys.readouterr()
        ip.run_line_magic("sqlnb", "expand by_region")
        expanded = capsys.readouterr().out
        assert expanded.lstrip().upper().startswith("WITH")
        assert "big AS (" in expanded.replace("`", "").replace('"', "")
        alone = db.query(f"SELECT * FROM ({expanded}) AS x ORDER BY region")
        chained = db.query("SELECT * FROM by_region ORDER BY region")
        assert alone.astype(str).values.tolist() == chained.astype(str).values.tolist()
        # a real table is never shadowed; parameters need --materialize
        message = fails(ip, capsys, "%%sql --save sales\nSELECT 1 AS one")
        assert "'sales' is a table or view of the database already" in message
        ip.user_ns["least"] = 20
        message = fails(ip, capsys, "%%sql --save rich\nSELECT * FROM sales WHERE amount > "
                                    ":least")
        assert "a view holds no parameters" in message and "--materialize" in message
        rich = cell(ip, "SELECT id FROM sales WHERE amount > :least",
                    line="--save rich --materialize")
        assert sorted(rich["id"]) == [3, 5]
        message = fails(ip, capsys, "%%sql --save w\nINSERT INTO sales VALUES (9, 'x', 1)")
        assert "this statement is not a query" in message
        assert "no named result 'nope'" in fails(ip, capsys, "%sqlnb expand nope")
        ip.run_line_magic("sqlnb", "close chain_db")


def test_completion_offers_saved_names_and_their_columns(tmp_path):
    with sqlnb.connect(tmp_path / "c.db") as db:
        db.write("CREATE TABLE base (id INTEGER, name TEXT)")
        db.save_result("named_one", "SELECT id AS ident, name AS label FROM base")
        completer = Completer(lambda name: db)
        text = "%%sql\nSELECT * FROM name"
        found = completer.complete(text, len(text))
        assert ("named_one", "table") in found.choices
        text = "%%sql\nSELECT named_one.l"
        found = completer.complete(text, len(text))
        assert [c for c, _kind in found.choices] == ["label"]


def test_save_result_in_python_and_bad_names(db):
    db.write("CREATE TABLE t (x INTEGER)")
    db.write("INSERT INTO t VALUES (1), (2), (3)")
    db.save_result("odd", "SELECT x FROM t WHERE x % 2 = 1;")
    assert list(db.query("SELECT x FROM odd")["x"]) == [1, 3]
    with pytest.raises(sqlnb.UsageError, match="named result must be"):
        db.save_result("", "SELECT 1")
    with pytest.raises(sqlnb.UsageError, match="this call runs one statement"):
        db.save_result("two", "SELECT 1; SELECT 2")
    handle = db.save_result("later", "SELECT x * 10 AS y FROM odd", block=False)
    handle.result()
    assert list(db.query("SELECT y FROM later")["y"]) == [10, 30]
    assert "odd AS (" in db.expand("later")
