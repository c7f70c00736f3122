"""Issue 22: formatting. %sqlnb format writes the given SQL (or the last %%sql cell's) pretty
in the engine's dialect; comments survive; a statement that does not parse is left as it is
with a one-line note. Database.format_sql is the same in Python."""

from __future__ import annotations

import json

import pytest

import sqlnb

from .test_magics import cell, ip  # noqa: F401 (the ip fixture)


@pytest.mark.parametrize("target, quoted", [(None, '"odd name"'), ("x.duckdb", '"odd name"')])
def test_format_sql_keeps_comments_and_parameters(tmp_path, target, quoted):
    with sqlnb.connect(tmp_path / target if target else None) as db:
        text = db.format_sql("-- the top\nselect a, /* inner */ b from \"odd name\" "
                             "where x = :v -- tail")
        assert text.startswith("/* the top */\nSELECT\n")
        assert "/* inner */" in text and "/* tail */" in text
        assert f"FROM {quoted}" in text and "x = :v" in text
        # several statements: each ends with ;
        assert db.format_sql("select 1; select 2") == "SELECT\n  1;\n\nSELECT\n  2;"
        # not SQL the parser reads: kept, or refused with strict
        assert db.format_sql("select from where") == "select from where"
        with pytest.raises(sqlnb.UsageError, match="left as it is"):
            db.format_sql("select from where", strict=True)


def test_format_in_a_cell(ip, tmp_path, capsys):  # noqa: F811
    ip.user_ns["fmt_db"] = sqlnb.connect(tmp_path / "f.db")
    ip.run_line_magic("sqlnb", "use fmt_db")
    cell(ip, "create table t (x integer);  -- a table\nselect x from t where x > 1")
    capsys.readouterr()
    ip.run_line_magic("sqlnb", "format")
    out = capsys.readouterr().out
    assert out == ("CREATE TABLE t (\n  x INTEGER\n);\n\n/* a table */\nSELECT\n  x\nFROM t\n"
                   "WHERE\n  x > 1;\n")
    ip.run_line_magic("sqlnb", "format select 1 as one; select from where")
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["SELECT", "  1 AS one;"]
    assert out[-1].startswith("note: statement 2 of 2: cannot format 'select from where'")
    ip.run_line_magic("sqlnb", "close fmt_db")


def test_format_cell_for_the_jupyterlab_command(ip):  # noqa: F811
    from sqlnb.ipython.magics import format_cell

    magics = ip.magics_manager.registry["SqlNB"]
    got = magics.format_cell("\n%%sql --no-progress\nselect 1 as one -- why")
    assert got == {"source": "\n%%sql --no-progress\nSELECT\n  1 AS one /* why */", "notes": []}
    assert "not one" in magics.format_cell("x = 1  # select 1")["error"]
    assert magics.format_cell("%%sql\n") == {"source": "%%sql\n", "notes": []}
    assert "no database" in magics.format_cell("%%sql --db nowhere\nselect 1")["error"]
    # what the command reads: JSON as the value's text/plain
    assert json.loads(repr(format_cell("%%sql\nselect 2"))) == {"source": "%%sql\nSELECT\n  2",
                                                                "notes": []}
