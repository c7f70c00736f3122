"""Issue 22: names from variables, safely. IDENTIFIER(:name) takes a table's or column's name
from a parameter (a notebook variable in a cell) and writes it as one quoted name of the
engine: a hostile value stays a name, never SQL, on every engine."""

from __future__ import annotations

import pytest

import sqlnb

from .test_engines import ENGINES, fresh
from .test_magics import cell, fails, ip  # noqa: F401 (the ip fixture)

BUILT_IN = ["duckdb", "postgres", "spark", "sqlite"]


@pytest.fixture(params=BUILT_IN)
def any_engine(request):
    return request.param


def test_identifier_quotes_hostile_names_on_every_engine(any_engine, tmp_path, request,
                                                         ip, capsys):  # noqa: F811
    with fresh(any_engine, tmp_path, request) as db:
        db.write(f"CREATE TABLE people (id INT, name {ENGINES[any_engine]['text']})")
        db.write("INSERT INTO people VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')")
        # a name holding both quote characters and a space is one name (Spark's catalog
        # takes letters, digits and _ alone: a keyword, which must be quoted to be a name)
        weird = "select" if any_engine == "spark" else 'odd "name` here'
        db.write("CREATE TABLE IDENTIFIER(:t) (x INT)", {"t": weird})
        db.write("INSERT INTO IDENTIFIER(:t) VALUES (:v)", {"t": weird, "v": 5})
        assert list(db.query("SELECT x FROM IDENTIFIER(:t)", {"t": weird})["x"]) == [5]
        assert weird in list(db.tables()["name"])
        # a column's name too, and the same parameter twice
        got = db.query("SELECT IDENTIFIER(:c) FROM people WHERE IDENTIFIER(:c) > :least "
                       "ORDER BY 1", {"c": "id", "least": 1})
        assert list(got.iloc[:, 0]) == [2, 3]
        # an attempt to inject SQL is a name no table has: an error, and nothing is dropped
        for hostile in ["people; DROP TABLE people; --", 'people" ; DROP TABLE people; --',
                        "people` ; DROP TABLE people; --", "people'; DROP TABLE people; --"]:
            with pytest.raises(db.error_types):
                db.query("SELECT * FROM IDENTIFIER(:t)", {"t": hostile})
            with pytest.raises(db.error_types):
                db.write("DELETE FROM IDENTIFIER(:t)", {"t": hostile})
        assert db.query("SELECT count(*) AS n FROM people")["n"][0] == 3
        # only a name is taken
        for bad in [42, "", None, ["people"]]:
            with pytest.raises(sqlnb.UsageError, match=r"IDENTIFIER\(:t\) takes a table's"):
                db.query("SELECT * FROM IDENTIFIER(:t)", {"t": bad})

        # in a cell, the variable gives the name; a {template} points to IDENTIFIER
        ip.user_ns["ident_db"] = db
        ip.run_line_magic("sqlnb", "use ident_db")
        ip.user_ns["table"] = "people"
        assert cell(ip, "SELECT count(*) AS n FROM IDENTIFIER(:table)")["n"][0] == 3
        ip.user_ns["table"] = "people; DROP TABLE people"
        message = fails(ip, capsys, "%%sql\nSELECT * FROM IDENTIFIER(:table)")
        assert "DROP TABLE people" in message  # the engine's error names the odd name
        assert cell(ip, "SELECT count(*) AS n FROM people")["n"][0] == 3
        ip.run_line_magic("sqlnb", "close ident_db")


def test_identifier_with_named_results_and_text_that_only_looks_like_it(db):
    db.write("CREATE TABLE t (x INTEGER)")
    db.write("INSERT INTO t VALUES (1), (2)")
    db.save_result("picked", "SELECT x FROM IDENTIFIER(:src)", {"src": "t"})
    assert list(db.query("SELECT x FROM picked ORDER BY x")["x"]) == [1, 2]
    # in a string or a comment it is text, and a positional parameter is left alone
    got = db.query("SELECT 'IDENTIFIER(:t)' AS s /* IDENTIFIER(:t) */ FROM t WHERE x = :x",
                   {"x": 1})
    assert list(got["s"]) == ["IDENTIFIER(:t)"]
