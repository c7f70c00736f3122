"""Issue 22: DataFrames in FROM. A pandas DataFrame is joined with a table by one statement on
every engine: Database.query(frames=...) in Python, and in a cell a DataFrame variable named in
FROM or JOIN is found by parsing the SQL (sqlglot, in the engine's dialect); a table of the same
name wins, and the cell's line says so; a statement the parser cannot read runs as it is."""

from __future__ import annotations

import pandas as pd
import pytest

import sqlnb

from .test_engines import ENGINES, fresh
from .test_magics import cell, fails, ip  # noqa: F401 (the ip fixture)

BUILT_IN = ["duckdb", "postgres", "spark", "sqlite"]


@pytest.fixture(params=BUILT_IN)
def any_engine(request):
    return request.param


def _people(db, text):
    db.write(f"CREATE TABLE people (id INT, name {text})")
    db.write("INSERT INTO people VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')")


def test_a_dataframe_joined_with_a_table_on_every_engine(any_engine, tmp_path, request, ip,  # noqa: F811
                                                         capsys):
    with fresh(any_engine, tmp_path, request) as db:
        _people(db, ENGINES[any_engine]["text"])
        scores = pd.DataFrame({"id": [1, 3, 4], "score": [9.5, 7.0, 1.0]})
        got = db.query("SELECT p.name, s.score FROM people p JOIN scores s ON p.id = s.id "
                       "ORDER BY p.name", frames={"scores": scores})
        assert list(got["name"]) == ["ann", "cy"] and list(got["score"]) == [9.5, 7.0]
        # gone after the statement: nothing is left in the database or its session
        with pytest.raises(db.error_types):
            db.query("SELECT * FROM scores")
        assert "scores" not in {t.lower() for t in db.catalog().tables}
        # a write can read one too
        db.write("CREATE TABLE best (id INT, score DOUBLE PRECISION)"
                 if any_engine == "postgres" else "CREATE TABLE best (id INT, score DOUBLE)")
        db.submit("INSERT INTO best SELECT id, score FROM scores WHERE score > 5",
                  frames={"scores": scores}).result()
        assert sorted(db.query("SELECT id FROM best")["id"]) == [1, 3]
        # a failing statement takes its frames away too
        with pytest.raises(db.error_types):
            db.query("SELECT nope FROM scores", frames={"scores": scores})
        assert db.query("SELECT count(*) AS n FROM scores",
                        frames={"scores": scores})["n"][0] == 3

        # in a cell: the variable is found in FROM/JOIN without importing it
        ip.user_ns["chain_db"] = db
        ip.run_line_magic("sqlnb", "use chain_db")
        ip.user_ns["extra"] = pd.DataFrame({"id": [2, 3], "city": ["rome", "oslo"]})
        joined = cell(ip, "SELECT name, city FROM people JOIN extra USING (id) ORDER BY name")
        assert list(joined["city"]) == ["rome", "oslo"]
        # a named result that reads a DataFrame keeps its rows (a view could not read it)
        message = fails(ip, capsys, "%%sql --save cities\nSELECT name, city FROM people "
                                    "JOIN extra USING (id)")
        assert "must keep its rows" in message and "--materialize" in message
        cell(ip, "SELECT name, city FROM people JOIN extra USING (id)",
             line="--save cities --materialize")
        del ip.user_ns["extra"]
        assert sorted(cell(ip, "SELECT city FROM cities")["city"]) == ["oslo", "rome"]
        with pytest.raises(db.error_types):
            db.query("SELECT * FROM extra")
        # a name that is a table and a variable: the table wins, and the line says so
        ip.user_ns["people"] = pd.DataFrame({"id": [99]})
        capsys.readouterr()
        both = cell(ip, "SELECT count(*) AS n FROM people")
        assert both["n"][0] == 3
        said = capsys.readouterr()
        assert "people is a table and a DataFrame variable: the table was read" in \
            said.out + said.err
        ip.run_line_magic("sqlnb", "close chain_db")


def test_python_api_checks_its_frames(db):
    with pytest.raises(sqlnb.UsageError, match="not a pandas DataFrame"):
        db.query("SELECT * FROM x", frames={"x": [1, 2]})
    with pytest.raises(sqlnb.UsageError, match="a name in frames"):
        db.query("SELECT 1", frames={"": pd.DataFrame()})


def test_a_statement_the_parser_cannot_read_runs_as_it_is(ip, tmp_path):  # noqa: F811
    ip.user_ns["frame_db"] = sqlnb.connect(tmp_path / "p.db")
    ip.run_line_magic("sqlnb", "use frame_db")
    ip.user_ns["t"] = pd.DataFrame({"x": [1]})
    cell(ip, "CREATE TABLE u (x INTEGER)")
    # PRAGMA is outside sqlglot's grammar: it runs as written (no frame is looked for)
    assert list(cell(ip, "PRAGMA table_info(u)")["name"]) == ["x"]
    ip.run_line_magic("sqlnb", "close frame_db")
