"""The %sql / %%sql and %sqlnb magics in IPython's InteractiveShell: results, binding, targets,
connections, exploring, settings, and one-line errors for bad input."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import sqlnb
from sqlnb.ipython.magics import SqlCellError, SqlNB

from .helpers import FOREVER


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    sqlnb.load_ipython_extension(shell)
    shell.run_line_magic("config", "SqlNB.show_progress = False")  # the tests below that
    names = set(shell.user_ns)  # are about progress turn it on
    yield shell
    sqlnb.unload_ipython_extension(shell)
    for name in set(shell.user_ns) - names:
        del shell.user_ns[name]


def cell(ip, body, line=""):
    return ip.run_cell_magic("sql", line, body)


def fails(ip, capsys, code):
    """Run a cell that must fail; return its one-line message (and check it is one line)."""
    capsys.readouterr()
    result = ip.run_cell(code)
    assert result.error_in_exec is not None or result.error_before_exec is not None
    captured = capsys.readouterr()
    text = (captured.out + captured.err).strip()
    assert "Traceback" not in text, text
    assert len(text.splitlines()) == 1, text
    return text


def test_a_cell_with_no_connect_step(ip):
    frame = cell(ip, """
        CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
        INSERT INTO t (name) VALUES ('a'), ('b');
        SELECT * FROM t
    """)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["name"]) == ["a", "b"]


def test_line_magic_returns_a_dataframe(ip):
    cell(ip, "CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3)")
    ip.run_cell("df = %sql SELECT x FROM t WHERE x >= 2")
    assert list(ip.user_ns["df"]["x"]) == [2, 3]


def test_a_cell_of_writes_shows_a_summary(ip):
    cell(ip, "CREATE TABLE t (x)")
    summary = cell(ip, "INSERT INTO t VALUES (1), (2); UPDATE t SET x = x + 1 WHERE x = 1")
    assert repr(summary) == "3 rows changed (2 statements)"
    assert repr(cell(ip, "DELETE FROM t WHERE x = 2")) == "2 rows changed"


def test_statements_that_count_no_rows_say_done_not_0_rows_changed(ip):
    """A CREATE (or, on Spark, any write: it reports no counts) changed no counted rows; "0 rows
    changed" would say it did nothing."""
    assert repr(cell(ip, "CREATE TABLE t (x)")) == "done"
    assert repr(cell(ip, "CREATE TABLE u (x); CREATE INDEX ux ON u (x)")) == "done (2 statements)"
    assert repr(cell(ip, "DELETE FROM t")) == "0 rows changed"  # counted: none matched


def test_target_variable(ip):
    cell(ip, "CREATE TABLE t (x); INSERT INTO t VALUES (7)")
    returned = cell(ip, "SELECT x FROM t", line="result <<")
    assert ip.user_ns["result"] is returned
    ip.run_cell("%sql --time-limit 5 other << SELECT x * 2 AS y FROM t")
    assert ip.user_ns["other"]["y"][0] == 14


def test_binding_python_variables(ip):
    cell(ip, "CREATE TABLE t (name TEXT)")
    ip.user_ns["who"] = "Robert'); DROP TABLE t; --"
    cell(ip, "INSERT INTO t VALUES (:who)")
    assert cell(ip, "SELECT name FROM t")["name"][0] == "Robert'); DROP TABLE t; --"
    ip.user_ns["n"] = 1
    assert cell(ip, "SELECT :n + 1 AS two, ':n' AS text")["text"][0] == ":n"


def test_numpy_and_date_values_bind(ip):
    import datetime

    import numpy as np

    ip.user_ns["k"] = np.int64(5)
    ip.user_ns["day"] = datetime.date(2024, 5, 1)
    frame = cell(ip, "SELECT :k * 2 AS k, :day AS day")
    assert frame["k"][0] == 10 and frame["day"][0] == "2024-05-01"


def test_connections(ip, tmp_path, capsys):
    path = tmp_path / "birds.db"
    ip.run_line_magic("sql", f"sqlite:///{path}")
    cell(ip, "CREATE TABLE b (n); INSERT INTO b VALUES ('wren')")
    ip.run_line_magic("sqlnb", f"connect {tmp_path / 'other.db'} --as other")
    listing = ip.run_line_magic("sqlnb", "list")
    assert set(listing["name"]) >= {"birds", "other"}
    assert listing.set_index("name")["current"]["other"]
    assert cell(ip, "SELECT n FROM b", line="--db birds")["n"][0] == "wren"
    ip.run_line_magic("sqlnb", "use birds")
    assert cell(ip, "SELECT count(*) AS c FROM b")["c"][0] == 1
    ip.run_line_magic("sqlnb", "close other")
    assert "other" not in set(ip.run_line_magic("sqlnb", "list")["name"])
    with sqlnb.connect(tmp_path / "mine.db") as mine:
        mine.write("CREATE TABLE m (v)")
        ip.user_ns["mine"] = mine
        ip.run_line_magic("sqlnb", "use mine")
        assert list(cell(ip, "SELECT name FROM sqlite_master")["name"]) == ["m"]
    ip.run_line_magic("sqlnb", f"connect {path} --as ro --read-only")
    text = fails(ip, capsys, "%%sql\nINSERT INTO b VALUES ('heron')")
    assert "readonly" in text
    assert cell(ip, "SELECT count(*) AS c FROM b")["c"][0] == 1


def test_tables_and_schema(ip):
    cell(ip, """
        CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x');
        CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent(id));
        INSERT INTO parent (name) VALUES ('a'), ('b');
        CREATE VIEW v AS SELECT * FROM parent;
    """)
    tables = ip.run_line_magic("sqlnb", "tables").set_index("name")
    assert tables["rows"]["parent"] == 2 and tables["type"]["v"] == "view"
    schema = ip.run_line_magic("sqlnb", "schema child").set_index("name")
    assert schema["references"]["pid"] == "parent(id)"
    assert schema["primary_key"]["id"] == 1
    parent = ip.run_line_magic("sqlnb", "schema parent").set_index("name")
    assert bool(parent["not_null"]["name"]) and parent["default"]["name"] == "'x'"


def test_time_limit_option_and_setting(ip, capsys):
    text = fails(ip, capsys, f"%%sql --time-limit 0.2\n{FOREVER}")
    assert text.startswith("QueryTimeout: stopped at the 0.2 s time limit")
    assert "--time-limit" in text and "%config SqlNB.time_limit" in text
    ip.run_line_magic("config", "SqlNB.time_limit = 0.3")
    text = fails(ip, capsys, f"%%sql\n{FOREVER}")
    assert "0.3 s time limit" in text
    ip.run_line_magic("config", "SqlNB.time_limit = None")


def test_display_limit_setting(ip):
    frame = cell(ip, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 500) "
                     "SELECT x FROM c")
    assert len(frame) == 500  # the frame keeps every row
    ip.run_line_magic("config", "SqlNB.display_limit = 6")
    frame = cell(ip, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 500) "
                     "SELECT x FROM c")
    data, _metadata = ip.display_formatter.format(frame)
    assert data["text/html"].count("<tr>") <= 6 + 2
    assert "500 rows" in data["text/plain"]
    plain = pd.DataFrame({"x": range(500)})  # other frames keep pandas' own display
    other, _ = ip.display_formatter.format(plain)
    assert other["text/html"] == plain._repr_html_()


def test_short_errors_name_the_statement_and_keep_earlier_ones(ip, capsys):
    cell(ip, "CREATE TABLE t (x UNIQUE)")
    text = fails(ip, capsys, "%%sql\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1);\n"
                             "INSERT INTO t VALUES (2)")
    assert text.startswith("IntegrityError: UNIQUE constraint failed: t.x (statement 2 of 3")
    assert "the statement before it is done" in text
    assert list(cell(ip, "SELECT x FROM t")["x"]) == [1]


def test_full_traceback_setting(ip, capsys):
    ip.run_line_magic("config", "SqlNB.short_errors = False")
    try:
        result = ip.run_cell("%%sql\nSELECT * FROM nowhere")
        assert "no such table" in str(result.error_in_exec)
        assert "Traceback" in capsys.readouterr().out
    finally:
        ip.run_line_magic("config", "SqlNB.short_errors = True")


@pytest.mark.parametrize(("code", "expected"), [
    ("%%sql\n", "cell body is empty"),
    ("%%sql\n-- only a comment\n/* and another */", "no SQL"),
    ("%%sql --nope\nSELECT 1", "unrecognized arguments: --nope"),
    ("%%sql --db nowhere\nSELECT 1", "no database named 'nowhere'"),
    ("%%sql 1abc <<\nSELECT 1", "not a valid Python variable name"),
    ("%%sql for <<\nSELECT 1", "not a valid Python variable name"),
    ("%sqlnb connect /no/such/folder/x.db", "does not exist"),
    ("%sqlnb use nothing", "no database named 'nothing'"),
    ("%sqlnb frobnicate", "unknown %sqlnb command"),
    ("%sqlnb tables extra", "%sqlnb tables takes nothing after it (not 'extra')"),
    ("%sqlnb list all", "%sqlnb list takes nothing after it (not 'all')"),
    ("%sqlnb schema missing_table", "no table or view named 'missing_table'"),
    ("%%sql\nSELECT :undefined_variable_xyz", ":undefined_variable_xyz"),
    ("a_list = [1, 2]\n%sql SELECT :a_list", ":a_list is a list"),
    ("a_dict = {'k': 1}\n%sql SELECT :a_dict", ":a_dict is a dict"),
    ("%%sql\nSELECT ?", "bind Python variables by name"),
    ("%%sql\nSELEC 1", "syntax error"),
    ("%%sql --time-limit -1\nSELECT 1", "more than 0 seconds"),
])
def test_bad_input_gets_one_line_and_the_next_cell_works(ip, capsys, code, expected):
    cell(ip, "CREATE TABLE IF NOT EXISTS keep (x); INSERT INTO keep VALUES (1)")
    text = fails(ip, capsys, code)
    assert expected in text
    assert cell(ip, "SELECT count(*) AS n FROM keep")["n"][0] == 1


def test_defaults_without_options_match_the_declared_ones(ip):
    from IPython.core.magic_arguments import parse_argstring

    from sqlnb.ipython import magics

    declared = parse_argstring(magics.SqlNB.sql, "")
    assert vars(declared) == vars(magics._NO_OPTIONS)


def test_ipython_does_not_expand_dollar_or_braces_in_the_line(ip):
    ip.user_ns["v"] = "injected"
    ip.run_cell("r = %sql SELECT '{v}' AS braces, '$v' AS dollar, :v AS bound")
    row = ip.user_ns["r"].iloc[0]
    assert (row["braces"], row["dollar"], row["bound"]) == ("{v}", "$v", "injected")
    ip.run_cell("r2 = %sql SELECT $v AS bound_with_dollar")
    assert ip.user_ns["r2"]["bound_with_dollar"][0] == "injected"


def on_screen(text):
    """What a terminal shows of `text`: each line as its last carriage return left it."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n")).strip()


#: The one line a cancelled single-statement cell ends with, whichever control cancelled it.
CANCELLED = re.compile(r"QueryCancelled: cancelled after \d+\.\d+ s \(the statement: "
                       + re.escape("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                                   "F...)"))


def test_terminal_shows_a_text_progress_line(ip, capsys):
    ip.run_line_magic("config", "SqlNB.show_progress = True")
    capsys.readouterr()
    ip.run_cell(f"%%sql --time-limit 0.8\n{FOREVER}")
    captured = capsys.readouterr()
    assert any(" of 0.8 s · " in line for line in captured.err.split("\r"))
    # one message for the event: the error line; the progress line is wiped, not left to
    # say "stopped at the limit" a second time
    assert on_screen(captured.err) == ""
    assert captured.out.strip().startswith("QueryTimeout: stopped at the 0.8 s time limit")
    ip.run_cell(f"%%sql --time-limit 0.8 --no-progress\n{FOREVER}")
    assert capsys.readouterr().err == ""


def test_terminal_progress_line_ends_in_the_summary(ip, capsys):
    ip.run_line_magic("config", "SqlNB.show_progress = True")
    capsys.readouterr()
    frame = cell(ip, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                     "WHERE x < 5000000) SELECT count(*) AS n FROM c")
    assert frame["n"][0] == 5000000
    assert re.fullmatch(r"1 row in \d+\.\d+ s", on_screen(capsys.readouterr().err))


def test_ctrl_c_cancels_in_a_terminal(ip, capsys):
    import signal
    import threading

    ip.run_line_magic("config", "SqlNB.show_progress = True")
    timer = threading.Timer(0.6, signal.pthread_kill, (threading.main_thread().ident,
                                                       signal.SIGINT))
    timer.start()
    capsys.readouterr()
    result = ip.run_cell(f"%%sql --time-limit inf\n{FOREVER}")
    captured = capsys.readouterr()
    assert CANCELLED.fullmatch(captured.out.strip()), captured.out
    assert on_screen(captured.err) == ""
    assert result.error_in_exec is not None
    assert cell(ip, "SELECT 1 AS one")["one"][0] == 1


def test_cancel_from_python_and_ctrl_c_say_the_same(ip, capsys):
    """One wording per event: a cancel (the widget's Cancel button calls the same cancel() as
    a background cell's handle) and Ctrl-C / the kernel's Stop end in the same line."""
    ip.run_cell(f"%%sql --background --time-limit inf bg <<\n{FOREVER}")
    handle = ip.user_ns["bg"]
    assert not handle.done()
    handle.cancel()
    with pytest.raises(SqlCellError) as caught:
        handle.result(60)
    assert CANCELLED.fullmatch(str(caught.value)), caught.value


def test_background_cell_in_a_terminal(ip):
    ip.run_cell(f"%%sql --background late <<\n{FOREVER.replace('FROM c)', 'FROM c LIMIT 100000)')}")
    handle = ip.user_ns["late"]
    assert handle.result(30).iloc[0, 0] == 100000
    for _ in range(100):
        if isinstance(ip.user_ns["late"], pd.DataFrame):
            break
        import time

        time.sleep(0.01)
    assert isinstance(ip.user_ns["late"], pd.DataFrame)


def test_background_target_is_never_left_holding_a_finished_handle(ip):
    import time

    for _ in range(50):
        ip.run_cell_magic("sql", "--background fast <<", "SELECT 1 AS one")
        result = ip.run_line_magic("sqlnb", "wait fast")
        assert result["one"][0] == 1
        for _ in range(100):
            if isinstance(ip.user_ns["fast"], pd.DataFrame):
                break
            time.sleep(0.005)
        assert isinstance(ip.user_ns["fast"], pd.DataFrame)
    assert ip.run_line_magic("sqlnb", "wait fast")["one"][0] == 1  # after the end, too


@pytest.mark.parametrize("code", [
    "%sql oracle://analyst:s3cret-pw@db.example.com:1521/shop",
    "%sql mysql+pymysql://root:s3cret-pw@localhost/shop",
    "%sql snowflake://analyst:s3cret-pw@account/warehouse",
    "%%sql mssql://analyst:s3cret-pw@db.example.com/shop\nSELECT 1",
    "%sqlnb connect oracle://analyst:s3cret-pw@db.example.com/shop",
])
def test_a_url_of_another_database_says_which_urls_sqlnb_opens(ip, capsys, code):
    text = fails(ip, capsys, code)
    assert all(f"{title} (" in text  # the registry's
               for title in ("SQLite", "DuckDB", "Spark", "PostgreSQL"))
    assert "sqlite:///" in text and "duckdb:///" in text and "sc://" in text
    assert "postgresql://" in text and "%sqlnb connect PATH" in text
    assert re.search(r"\b(oracle|mysql|snowflake|mssql)", text)  # names what it was given
    assert "s3cret-pw" not in text and "analyst" not in text  # never echoes a credential


def test_a_postgresql_url_with_sql_after_it_says_to_open_it_alone(ip, capsys):
    text = fails(ip, capsys, "%%sql postgresql://analyst:s3cret-pw@db.example.com/shop\n"
                             "SELECT 1")
    assert "line of its own" in text and "s3cret-pw" not in text


@pytest.mark.parametrize("code", [
    "%sqlnb connect shop.db postgresql://analyst:s3cret-pw@db.example.com/shop",
    "%%sql --db postgresql://analyst:s3cret-pw@db.example.com/shop\nSELECT 1",
    "%sqlnb use postgresql://analyst:s3cret-pw@db.example.com/shop",
    "%sqlnb close postgresql://analyst:s3cret-pw@db.example.com/shop",
])
def test_no_message_echoes_a_password(ip, capsys, code):
    text = fails(ip, capsys, code)
    assert "s3cret-pw" not in text, text
    assert "db.example.com" in text  # the rest of what was given is still named


@pytest.mark.parametrize("sql", ["SELECT * FROM {table}", "SELECT * FROM {{table}}",
                                 "SELECT {column} FROM t"])
def test_braces_say_that_sqlnb_does_not_template(ip, capsys, sql):
    ip.user_ns["table"] = "t"
    text = fails(ip, capsys, f"%%sql\n{sql}")
    assert text.startswith('OperationalError: unrecognized token: "{"')
    assert "sqlnb does not fill in {...}" in text
    assert ":name binds a value" in text
    assert "SELECT * FROM IDENTIFIER(:table)" in text


def test_help_of_sql_shows_every_option(ip):
    options = [o for action in SqlNB.sql.parser._actions for o in action.option_strings
               if o.startswith("--") and o != "--help"]
    lines = [line.strip() for line in SqlNB.sql.__doc__.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("%%sql ["))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("%sql ["))
    cell_form = " ".join(lines[start:end])  # (it goes on over lines of its own)
    for option in options:
        assert option in cell_form, option


def test_a_failing_statement_is_named_without_its_semicolon(ip, capsys):
    text = fails(ip, capsys, "%%sql\nSELECT 1;\nSELECT * FROM nope;\nSELECT 2;")
    assert "(statement 2 of 3: SELECT * FROM nope); the statement before it is done" in text


def test_an_empty_result_says_0_rows(ip):
    cell(ip, "CREATE TABLE t (a INTEGER, b TEXT)")
    frame = cell(ip, "SELECT * FROM t")
    data, _metadata = ip.display_formatter.format(frame)
    assert "0 rows" in data["text/plain"]
    assert "0 rows" in data["text/html"] and "<th>a</th>" in data["text/html"]


def test_display_limit_does_not_leak_into_frames_built_from_a_result(ip):
    ip.run_line_magic("config", "SqlNB.display_limit = 6")
    try:
        frame = cell(ip, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                         "LIMIT 500) SELECT x FROM c")
        shown, _ = ip.display_formatter.format(frame)
        assert shown["text/html"].count("<tr>") <= 6 + 2
        for built in (frame.head(100), frame[frame["x"] > 250], pd.concat([frame, frame]),
                      frame.copy(), frame.assign(y=1)):
            data, _ = ip.display_formatter.format(built)
            assert data["text/html"] == built._repr_html_()  # pandas' own display
            assert data["text/plain"] == repr(built)
    finally:
        ip.run_line_magic("config", "SqlNB.display_limit = 20")


def test_loading_after_another_sql_extension_says_so_and_unloading_gives_it_back(capsys):
    """JupySQL and ipython-sql own %sql too; loading sqlnb after them takes %sql and %%sql
    over with one line that says so, and %unload_ext sqlnb gives theirs back."""
    shell = InteractiveShell.instance()
    registry = shell.magics_manager.magics
    before = {kind: registry[kind].get("sql") for kind in ("line", "cell")}

    def other_sql(line, cell=None):
        return "the other extension ran"

    other_sql.__module__ = "sql.magic"  # where JupySQL and ipython-sql define theirs
    shell.register_magic_function(other_sql, "line_cell", "sql")
    try:
        capsys.readouterr()
        sqlnb.load_ipython_extension(shell)
        captured = capsys.readouterr()
        said = (captured.out + captured.err).strip()
        assert len(said.splitlines()) == 1, said
        assert "%sql" in said and "sql.magic" in said and "%unload_ext sqlnb" in said
        shell.run_line_magic("config", "SqlNB.show_progress = False")
        assert shell.run_line_magic("sql", "SELECT 1 AS one")["one"][0] == 1
        sqlnb.unload_ipython_extension(shell)
        assert shell.run_line_magic("sql", "SELECT 1") == "the other extension ran"
        assert shell.run_cell_magic("sql", "", "SELECT 1") == "the other extension ran"
        capsys.readouterr()
        sqlnb.load_ipython_extension(shell)  # a second load says it again, once
        said = capsys.readouterr()
        assert "sql.magic" in said.out + said.err
        sqlnb.unload_ipython_extension(shell)
    finally:
        for kind, magic in before.items():
            if magic is None:
                registry[kind].pop("sql", None)
            else:
                registry[kind]["sql"] = magic


def test_loading_twice_in_a_row_says_nothing(capsys):
    shell = InteractiveShell.instance()
    registry = shell.magics_manager.magics
    before = {kind: registry[kind].get("sql") for kind in ("line", "cell")}
    try:
        sqlnb.load_ipython_extension(shell)
        capsys.readouterr()
        sqlnb.load_ipython_extension(shell)
        captured = capsys.readouterr()
        assert captured.out + captured.err == ""
        sqlnb.unload_ipython_extension(shell)
    finally:
        for kind, magic in before.items():
            if magic is None:
                registry[kind].pop("sql", None)
            else:
                registry[kind]["sql"] = magic
