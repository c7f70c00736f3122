"""The result explorer's grid (sqlnb/ipython/explorer.py) through its Python model: a header's
click sorts (Shift+click adds a key), a filter line filters and the footer's count follows,
pages go to the end, a slow sort is cancelled by the next click or by Cancel; the grid widget's
state (the page as rows of strings, the columns with their types and summaries, the sort keys,
the new cell's code) and the messages its front end sends; the new cell runs as it is, hostile
values included; `%sqlnb explore` on a table, a query and a DataFrame; a large %%sql result
displays as the explorer (and a saved notebook keeps a static table), a small one as the plain
table. (The front end itself is driven in a browser by tests/test_explorer_browser.py.)"""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import sqlnb
from sqlnb.ipython.explorer import LIVE_AGAIN, OUTPUT_METADATA, Explorer, parse_filter

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def flights(db):
    db.write("CREATE TABLE flights (id INTEGER, carrier TEXT, fare REAL, day TEXT)")
    db.write_many("INSERT INTO flights VALUES (?, ?, ?, ?)",
                  [(i, ["AA", "UA", "Delta", None][i % 4], None if i % 7 == 0 else i * 1.5,
                    f"2024-01-{i % 28 + 1:02d}") for i in range(1, 251)])
    return db


def _grid(db, source="flights", **kwargs) -> Explorer:
    grid = Explorer(db.explore(source), **kwargs)
    grid.wait()
    return grid


def test_a_header_click_sorts_and_the_footer_says_so(flights):
    grid = _grid(flights)
    assert grid.describe() == "rows 1-100 of 250"
    assert list(grid.frame.index[:2]) == [1, 2]  # rows numbered from 1
    grid.click_header("fare")
    grid.wait()
    fares = grid.frame["fare"].tolist()
    assert fares[:3] == [1.5, 3.0, 4.5]
    assert grid.grid.sorts == [{"column": "fare", "descending": False}]
    assert grid.grid.rows[0][2] == "1.5"
    grid.click_header("fare")
    grid.wait()
    assert grid.frame["fare"].iloc[0] == 375.0
    assert grid.describe() == "rows 1-100 of 250 · sorted by fare desc"
    grid.click_header("carrier", add=True)  # a second key, as Shift+click adds it
    grid.wait()
    assert [s.column for s in grid.view.sorts] == ["fare", "carrier"]
    assert grid.grid.sorts == [{"column": "fare", "descending": True},
                               {"column": "carrier", "descending": False}]
    grid.click_header("carrier", add=True)  # Shift+click again: that key descends
    grid.wait()
    assert grid.grid.sorts[1] == {"column": "carrier", "descending": True}
    grid.click_header("fare")  # third click on fare: no longer a key
    grid.wait()
    assert [s.column for s in grid.view.sorts] == ["carrier"]
    grid.click_header("id")  # a plain click on another column: the only key
    grid.wait()
    assert grid.grid.sorts == [{"column": "id", "descending": False}]


def test_the_grid_widget_holds_the_page_as_rows_of_strings(flights):
    grid = _grid(flights, page_rows=10)
    assert grid.grid.first_row == 1 and len(grid.grid.rows) == 10
    assert grid.grid.rows[1] == ["2", "Delta", "3.0", "2024-01-03"]
    assert grid.grid.rows[2][1] is None  # NULL travels as null
    assert grid.grid.rows[6][2] is None  # (and a float column's NaN too)
    columns = {c["name"]: c for c in grid.grid.columns}
    assert columns["fare"]["kind"] == "number" and columns["fare"]["dtype"] == "float64"
    assert columns["carrier"]["kind"] == "text" and columns["carrier"]["sortable"]
    grid.go(20)
    grid.wait()
    assert grid.grid.first_row == 21 and grid.grid.rows[0][0] == "21"
    json.dumps(grid.grid.get_state())  # what travels is plain JSON
    assert grid.grid.get_state()["rows"] == grid.grid.rows


def test_messages_from_the_front_end(flights):
    grid = _grid(flights)
    send = grid._message  # what the widget calls with each message of its front end
    send(grid.grid, {"type": "sort", "column": "carrier", "add": False}, [])
    grid.wait()
    send(grid.grid, {"type": "sort", "column": "id", "add": True}, [])
    grid.wait()
    assert grid.describe() == "rows 1-100 of 250 · sorted by carrier, id"
    assert grid.grid.rows[0][:2] == ["4", "AA"] and grid.grid.rows[-1][1] == "Delta"
    send(grid.grid, {"type": "page", "where": "last"}, [])
    grid.wait()
    assert grid.describe() == "rows 201-250 of 250 · sorted by carrier, id"
    assert grid.grid.rows[-1][1] is None  # NULLs last
    send(grid.grid, {"type": "page", "where": "previous"}, [])
    grid.wait()
    assert grid.grid.first_row == 101
    send(grid.grid, {"type": "sort", "column": "nope"}, [])  # said in the grid
    assert "no column 'nope'" in grid.status.value
    for junk in ("x", {"type": "page", "where": 3}, {"type": "sort", "column": 1}, {}):
        send(grid.grid, junk, [])  # ignored
    assert grid.grid.first_row == 101


HOSTILE = ["it's'; DROP TABLE flights; --", "back\\slash \\' and \"dq\"", "50% _off!",
           "multi\nline\ttab", "中文 é"]


def _run_code(ip, code: str):
    line, _, body = code.partition("\n")
    assert line.startswith("%%sql")
    return ip.run_cell_magic("sql", line[len("%%sql"):].strip(), body)


def test_the_new_cells_code_runs_as_it_is_with_hostile_values(ip):
    magics = ip.magics_manager.registry["SqlNB"]
    db = magics.database(None)
    db.write("CREATE TABLE t (s TEXT, n REAL, d TEXT)")
    rows = [(v, i * 1.5, f"2024-01-0{i + 1}") for i, v in enumerate(HOSTILE)]
    db.write_many("INSERT INTO t VALUES (?, ?, ?)", [*rows, ("plain", None, None)])
    grid = Explorer(db.explore("t"), database_name=magics._name_of(db))
    grid.wait()
    name = magics._name_of(db)
    assert grid.grid.cell_code.startswith(f"%%sql --db {name}\nSELECT * FROM")
    for value in HOSTILE:
        grid.clear_filters()
        grid.set_filter("s", "= " + value)
        grid.wait()
        assert grid.frame["s"].tolist() == [value], value
        assert grid.cell_code() == grid.grid.cell_code
        ran = _run_code(ip, grid.grid.cell_code)
        assert ran["s"].tolist() == [value] and db.query("SELECT count(*) FROM t").iloc[0, 0] == 6
        grid.clear_filters()
        grid.search(value[2:6])
        grid.wait()
        assert _run_code(ip, grid.cell_code())["s"].tolist() == grid.to_df()["s"].tolist()
    grid.clear_filters()
    grid.click_header("n")
    grid.click_header("n")
    grid.set_filter("n", "1..5")
    grid.set_filter("d", "<= 2024-01-03")
    grid.wait()
    ran = _run_code(ip, grid.cell_code())
    assert ran["s"].tolist() == grid.to_df()["s"].tolist() == [HOSTILE[2], HOSTILE[1]]
    grid.view.filter("n", high=float("nan"))  # from Python: a value with no literal
    code = grid.cell_code()
    assert "-- nan has no literal in SQL" in code and "-- :n_high = nan" in code
    assert code.endswith(grid.view.sql) and ":n_high" in code
    grid.close()


def test_a_filter_line_changes_the_footers_count(flights):
    grid = _grid(flights)
    grid.set_filter("carrier", "= AA, UA")
    grid.wait()
    assert grid.describe() == "rows 1-100 of 125 · 1 filter"
    assert set(grid.frame["carrier"]) == {"AA", "UA"}
    grid.set_filter("fare", "10..20")
    grid.wait()
    assert grid.view.count() == len(grid.frame)
    assert grid.frame["fare"].between(10, 20).all()
    grid.set_filter("carrier", "null")
    grid.wait()
    assert grid.frame["carrier"].isna().all()
    grid.search("delt")
    grid.wait()
    assert grid.describe() == "no rows · 2 filters · search 'delt'"  # null AND Delta
    assert grid.frame.empty
    assert grid.to_df().empty and ":search" in grid.sql and grid.params["search"] == "%delt%"
    grid.sql_button.value = True  # the SQL button shows the view's SQL and its values
    shown = grid.sql_text.value
    assert shown.startswith(grid.sql) and "-- :search = '%delt%'" in shown
    grid.clear_filters()
    grid.wait()
    assert grid.describe() == "rows 1-100 of 250"
    grid.set_filter("fare", "cheap")  # not a number: said in the grid, nothing runs
    assert "holds numbers, and 'cheap' is not one" in grid.status.value


def test_each_header_summarizes_its_column_from_the_engine(flights):
    grid = _grid(flights)
    grid._summary.result(30)
    deadline = time.monotonic() + 30  # (the tooltips are set by the handle's callback)
    while len(grid.summary) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert grid.summary["carrier"] == "188 values, 62 NULL · AA .. UA"
    assert grid.summary["fare"] == "215 values, 35 NULL · 1.5 .. 375.0"
    columns = {c["name"]: c for c in grid.grid.columns}  # each header shows its summary
    assert columns["fare"]["summary"] == "215 values, 35 NULL · 1.5 .. 375.0"


def test_a_whole_results_summary_is_computed_in_the_kernel_alike(flights):
    whole = flights.query("SELECT * FROM flights")
    grid = Explorer(flights.explore("flights", result=whole), first_page=whole, whole=whole)
    grid.wait()
    assert grid.summary["carrier"] == "188 values, 62 NULL · AA .. UA"
    assert grid.summary["fare"] == "215 values, 35 NULL · 1.5 .. 375.0"
    assert grid.describe() == "rows 1-100 of 250"  # no query ran: the count is the result's


def test_a_whole_results_summary_does_not_hold_up_the_first_page(flights, monkeypatch):
    """The summary of a result already in the kernel takes a while for a large one (0.4 s for
    the 336,776-row flights table: most of its grid's time to the first page, benchmarks/
    explorer.py): the grid shows its first page without waiting for it; wait() waits."""
    import threading

    whole = flights.query("SELECT * FROM flights")
    release = threading.Event()
    summary_of = Explorer._summary_of
    monkeypatch.setattr(Explorer, "_summary_of",
                        lambda self, frame: release.wait(30) and summary_of(self, frame))
    grid = Explorer(flights.explore("flights", result=whole), first_page=whole, whole=whole)
    try:
        assert grid.describe() == "rows 1-100 of 250" and grid.summary == {}
        assert "rows 1-100 of 250" in grid.static_html()
    finally:
        release.set()
    grid.wait()
    assert grid.summary["carrier"] == "188 values, 62 NULL · AA .. UA"
    grid.close()


def test_closing_a_grid_stops_its_summary_query(db):
    """The columns' summary is a query of the whole result: a grid closed (its cell run again,
    its output cleared) stops it, rather than leave it to hold a reader for nothing."""
    slow = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 100000000) SELECT x FROM c")
    grid = Explorer(db.explore(slow), first_page=pd.DataFrame({"x": [1]}))
    summary = grid._summary
    assert summary is not None and not summary.done()
    grid.close()
    with pytest.raises(sqlnb.QueryCancelled):
        summary.result(timeout=30)


def test_pages_reach_the_last_one(flights):
    grid = _grid(flights)
    grid.go("last")
    grid.wait()
    assert grid.describe() == "rows 201-250 of 250"
    assert grid.frame.index[-1] == 250
    grid.go("next")  # no page after the last
    grid.wait()
    assert grid.describe() == "rows 201-250 of 250"
    grid.go("previous")
    grid.wait()
    assert grid.describe() == "rows 101-200 of 250"
    assert "rows 101-200 of 250" in grid.footer.value


def test_parse_filter():
    class C:  # a column, as far as parse_filter asks
        def __init__(self, kind):
            self.kind = kind

    assert parse_filter(C("number"), "1..5") == {"low": "1", "high": "5"}
    assert parse_filter(C("number"), "..5") == {"low": None, "high": "5"}
    assert parse_filter(C("date"), ">= 2024-01-02") == {"low": "2024-01-02"}
    assert parse_filter(C("text"), "= a, b") == {"one_of": ["a", "b"]}
    assert parse_filter(C("text"), "a..b") == {"contains": "a..b"}
    assert parse_filter(C("number"), "7") == {"one_of": ["7"]}
    assert parse_filter(C("text"), "NOT NULL") == {"null": False}
    assert parse_filter(C("text"), "  ") == {}
    with pytest.raises(sqlnb.UsageError, match="at least one end"):
        parse_filter(C("number"), "..")


def test_a_new_click_cancels_the_slow_sort_and_cancel_stops_one(tmp_path):
    with sqlnb.connect(tmp_path / "t.duckdb") as db:
        grid = _grid(db, "SELECT range AS x, hash(range) AS h FROM range(3000000000)")
        grid.click_header("h")  # a sort of 3e9 rows: long
        slow = grid._page
        assert not slow.wait(0.3)
        assert grid.status.value == "running"
        assert grid.cancel_button.layout.display is None  # Cancel shows while it runs
        grid.click_header("h")  # the next click cancels it
        with pytest.raises(sqlnb.QueryCancelled):
            slow.result(30)
        again = grid._page
        grid.cancel()
        with pytest.raises(sqlnb.QueryCancelled):
            again.result(30)
        grid.wait()
        assert grid.frame is not None and len(grid.frame) == 100  # the page stays


def test_static_html_for_a_saved_notebook(flights):
    grid = _grid(flights, page_rows=5)
    bundle = grid._repr_mimebundle_()
    assert WIDGET in bundle
    assert "rows 1-5 of 250" in bundle["text/html"] and LIVE_AGAIN in bundle["text/html"]
    assert bundle["text/html"].count("<tr>") == 6  # the header and five rows
    assert grid.frame["carrier"].tolist()[2] is None or pd.isna(grid.frame["carrier"][3])
    assert '<td class="null">NULL</td>' in grid.static_html()  # row 3's carrier


# -- the magics ---------------------------------------------------------------------------------
@pytest.fixture
def ip(tmp_path):
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sqlnb")
    shell.run_line_magic("sqlnb", f"connect {tmp_path / 'f.db'}")
    shell.user_ns["path"] = tmp_path / "f.db"
    yield shell
    shell.run_line_magic("unload_ext", "sqlnb")
    InteractiveShell.clear_instance()


def test_sqlnb_explore_a_table_a_query_and_a_dataframe_without_widgets(ip):
    """In a terminal (no widgets) %sqlnb explore gives the View itself."""
    ip.run_cell_magic("sql", "", "CREATE TABLE t AS SELECT 1 AS x UNION ALL SELECT 2")
    view = ip.run_line_magic("sqlnb", "explore t")
    assert isinstance(view, sqlnb.View) and view.count() == 2
    ip.user_ns["least"] = 2
    view = ip.run_line_magic("sqlnb", "explore SELECT x FROM t WHERE x >= :least")
    assert view.page()["x"].tolist() == [2] and view.params == {"least": 2}
    ip.user_ns["frame"] = pd.DataFrame({"a": [3, 1, 2]})
    view = ip.run_line_magic("sqlnb", "explore --rows 2 frame")
    assert view.sort("a").page()["a"].tolist() == [1, 2, 3]
    ip.magics_manager.registry["SqlNB"].close_all()  # (what %unload_ext sqlnb does)
    assert view.database.closed
    ip.run_line_magic("sqlnb", f"connect {ip.user_ns['path']}")
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="runs a query"):
        ip.run_line_magic("sqlnb", "explore DELETE FROM t")
    with pytest.raises(UsageError, match="needs a table's name"):
        ip.run_line_magic("sqlnb", "explore")
    with pytest.raises(UsageError, match="--rows takes a number"):
        ip.run_line_magic("sqlnb", "explore --rows x t")


def test_a_large_result_displays_as_the_explorer_and_a_small_one_plain(ip):
    ip.kernel = object()  # a kernel that draws widgets, as far as the magics ask
    try:
        big = ip.run_cell_magic("sql", "", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                           "SELECT x + 1 FROM c WHERE x < 500) SELECT x FROM c")
        small = ip.run_cell_magic("sql", "", "SELECT 1 AS x")
        formats, _ = ip.display_formatter.format(big)
        assert WIDGET in formats and LIVE_AGAIN in formats["text/html"]
        assert "rows 1-100 of 500" in formats["text/html"]
        # its text is the grid's line, not the whole frame's text (pandas' repr of a large
        # result took a sixth of a second, for no one to see)
        assert formats["text/plain"].startswith("rows 1-100 of 500") and LIVE_AGAIN in \
            formats["text/plain"]
        formats, _ = ip.display_formatter.format(small)
        assert WIDGET not in formats and "sqlnb-shape" in formats["text/html"]
        ip.run_line_magic("config", "SqlNB.explorer = -1")
        formats, _ = ip.display_formatter.format(big)
        assert WIDGET not in formats
        ip.run_line_magic("config", "SqlNB.explorer = 20")
        derived = big.head(100)  # a frame built from a result is not a result
        assert WIDGET not in ip.display_formatter.format(derived)[0]
    finally:
        del ip.kernel


def test_in_a_real_kernel_the_result_is_a_live_widget_with_a_static_copy(kernel):
    status, _ = kernel.run("%sqlnb connect :memory: --as grid")
    assert status == "ok"
    status, outputs = kernel.run("%%sql\nWITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
                                 "x + 1 FROM c WHERE x < 300) SELECT x, 'v' || x AS s FROM c")
    assert status == "ok"
    (result,) = [content for kind, content in outputs if kind == "execute_result"]
    data = result["data"]
    assert WIDGET in data and "rows 1-100 of 300" in data["text/html"]
    # marked as the explorer's, for sqlnb's JupyterLab extension (its static copy when reopened)
    assert result["metadata"] == OUTPUT_METADATA == {"sqlnb": {"explorer": True}}
    status, outputs = kernel.run("import json\nprint(json.dumps(sorted(_.columns)))")
    assert status == "ok" and json.loads(outputs[-1][1]["text"]) == ["s", "x"]  # a DataFrame
    # %sqlnb explore shows its grid under a display id, which each page shown updates
    kernel.run("%sql CREATE TABLE t AS SELECT 1 AS x UNION ALL SELECT 2")
    status, outputs = kernel.run("g = %sqlnb explore t\ng")
    assert status == "ok"
    (shown,) = [content for kind, content in outputs if kind == "display_data"]
    assert WIDGET in shown["data"] and shown["transient"]["display_id"]
    assert "rows 1-2" in shown["data"]["text/html"]  # the first page (its count may follow)
    assert shown["metadata"] == OUTPUT_METADATA
    msg_id = kernel.start("g.click_header('x'); g.click_header('x'); g.wait()")
    updates = []
    while True:
        msg = kernel.client.get_iopub_msg(timeout=60)
        if msg["msg_type"] == "update_display_data":
            updates.append(msg["content"])
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"):
            break
    assert any("sorted by x desc" in u["data"]["text/html"] for u in updates), updates
    assert all(u["metadata"] == OUTPUT_METADATA for u in updates), updates  # kept on updates


# -- the fetch limit ---------------------------------------------------------------------------
@pytest.fixture(params=["duckdb", "postgres", "sqlite"])
def capped_shell(request, tmp_path):
    """A shell whose current database is a fresh one of each engine that counts the rows it
    fetches as they come (Spark sends a result whole: see docs/explorer.md)."""
    from .test_engines import fresh

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sqlnb")
    with fresh(request.param, tmp_path, request) as db:
        shell.user_ns["capdb"] = db
        shell.run_line_magic("sqlnb", "use capdb")
        yield request.param, shell
        shell.run_line_magic("unload_ext", "sqlnb")
    InteractiveShell.clear_instance()


BIG = {  # 200,000 rows, in order
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) "
              "SELECT x FROM c",
    "duckdb": "SELECT range + 1 AS x FROM range(200000) ORDER BY x",
    "postgres": "SELECT x FROM generate_series(1, 200000) AS x",
}


def test_a_result_over_the_fetch_limit_holds_its_first_rows_and_says_so(capped_shell, capsys):
    engine, ip = capped_shell
    ip.run_line_magic("config", "SqlNB.fetch_limit = 1000")
    ip.run_cell_magic("sql", "big <<", BIG[engine])
    said = capsys.readouterr().out
    big = ip.user_ns["big"]
    assert big["x"].tolist() == list(range(1, 1001))
    assert "the first 1,000 rows of 200,000" in said and "--all" in said
    formats, _ = ip.display_formatter.format(big)
    assert "the first 1,000 rows of 200,000" in formats["text/plain"]
    whole = ip.run_cell_magic("sql", "--all", BIG[engine])
    assert len(whole) == 200_000
    small = ip.run_cell_magic("sql", "", "SELECT 1 AS x")  # under the limit: as before
    assert len(small) == 1 and "first" not in capsys.readouterr().out
    ip.run_line_magic("config", "SqlNB.fetch_limit = 0")
    assert len(ip.run_cell_magic("sql", "", BIG[engine])) == 200_000
    ip.run_line_magic("config", "SqlNB.fetch_limit = 1000000")


def test_a_long_fetch_over_the_limit_is_stopped_not_finished(ip, monkeypatch):
    """A result still arriving when its rows pass the limit is cancelled, and its first rows
    fetched again with a LIMIT: the kernel never holds the whole."""
    from sqlnb.ipython.magics import SqlNB

    stopped = []
    first_rows = SqlNB._first_rows
    monkeypatch.setattr(SqlNB, "_first_rows", lambda self, *args: stopped.append(args) or
                        first_rows(self, *args))
    ip.run_line_magic("config", "SqlNB.fetch_limit = 1000")
    try:
        frame = ip.run_cell_magic("sql", "", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                             "SELECT x + 1 FROM c WHERE x < 5000000) "
                                             "SELECT x, 'row ' || x AS s FROM c")
    finally:
        ip.run_line_magic("config", "SqlNB.fetch_limit = 1000000")
    assert len(stopped) == 1 and len(frame) == 1000 and frame["x"].iloc[-1] == 1000


def test_a_cell_run_again_closes_the_grids_of_its_last_run(ip):
    class Kernel:  # what the magics ask a kernel: the request of the cell running now
        def get_parent(self):
            return {"metadata": {"cellId": "cell-1"}}

    ip.kernel = Kernel()
    magics = ip.magics_manager.registry["SqlNB"]
    try:
        ip.run_cell_magic("sql", "", "CREATE TABLE t AS WITH RECURSIVE c(x) AS (SELECT 1 "
                                     "UNION ALL SELECT x + 1 FROM c WHERE x < 100) SELECT x FROM c")
        ip.execution_count = 7
        first = ip.run_line_magic("sqlnb", "explore t")
        second = ip.run_line_magic("sqlnb", "explore t")  # the same run: both stay
        assert first.widget.comm is not None and second.widget.comm is not None
        ip.execution_count = 8  # the cell run again
        third = ip.run_line_magic("sqlnb", "explore t")
        assert first.widget.comm is None and second.widget.comm is None  # closed
        assert third.widget.comm is not None
        magics.close_grids()
        assert third.widget.comm is None
    finally:
        del ip.kernel


def test_static_grids_show_the_static_table_only_for_a_headless_run(ip, monkeypatch):
    """`SqlNB.static_grids` (default: the environment's SQLNB_STATIC_GRIDS=1), for a notebook
    run headless (nbconvert --execute, papermill, nbval): no front end will draw a widget
    there, and a stored widget says "model not found" once the notebook is opened, so grids
    show their static table (with the whole first page and its count) and no widget; from
    Python the grid is the same."""
    ip.kernel = object()  # a kernel that draws widgets, as far as the magics ask
    magics = ip.magics_manager.registry["SqlNB"]
    monkeypatch.setenv("SQLNB_STATIC_GRIDS", "1")
    assert type(magics)(shell=ip).static_grids is True
    monkeypatch.setenv("SQLNB_STATIC_GRIDS", "0")
    assert type(magics)(shell=ip).static_grids is False
    try:
        assert magics.static_grids is False
        ip.run_line_magic("config", "SqlNB.static_grids = True")
        big = ip.run_cell_magic("sql", "", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                           "SELECT x + 1 FROM c WHERE x < 500) SELECT x FROM c")
        formats, _ = ip.display_formatter.format(big)
        assert WIDGET not in formats and "rows 1-100 of 500" in formats["text/html"]
        ip.run_cell_magic("sql", "", "CREATE TABLE t AS SELECT * FROM (VALUES (3), (1), (2))")
        grid = ip.run_line_magic("sqlnb", "explore SELECT column1 AS x FROM t")
        formats, _ = ip.display_formatter.format(grid)
        assert WIDGET not in formats
        assert "rows 1-3 of 3" in formats["text/html"] and "rows 1-3 of 3" in formats[
            "text/plain"]
        grid.click_header("x")
        grid.wait()
        assert grid.view.page()["x"].tolist() == [1, 2, 3] and "ORDER BY" in grid.sql
        ip.run_line_magic("config", "SqlNB.static_grids = False")
        live = ip.run_line_magic("sqlnb", "explore t")
        assert isinstance(live, Explorer) and WIDGET in live._repr_mimebundle_()
    finally:
        del ip.kernel


def test_the_new_cell_of_a_tables_and_a_dataframes_grid(ip):
    """`%sqlnb explore t`: the new cell names the grid's database (--db); `%sqlnb explore df`:
    it reads the DataFrame variable itself, not the grid's private copy of it."""
    ip.kernel = object()  # a kernel that draws widgets, as far as the magics ask
    try:
        ip.run_cell_magic("sql", "", "CREATE TABLE t AS SELECT 'it''s' AS s UNION ALL "
                                     "SELECT 'b' UNION ALL SELECT NULL")
        grid = ip.run_line_magic("sqlnb", "explore t")
        grid.set_filter("s", "= it's")
        grid.wait()
        assert grid.cell_code().startswith("%%sql --db f\n")
        assert _run_code(ip, grid.cell_code())["s"].tolist() == ["it's"]
        ip.user_ns["frame"] = pd.DataFrame({"a": [3, 1, 2], "s": ["x'", "y", None]})
        grid = ip.run_line_magic("sqlnb", "explore frame")
        grid.click_header("a", add=True)
        grid.set_filter("s", "not null")
        grid.wait()
        code = grid.cell_code()
        assert code.startswith("%%sql\nSELECT * FROM (SELECT * FROM frame\n)")
        assert _run_code(ip, code)["a"].tolist() == [1, 3]
        grid.close()
    finally:
        del ip.kernel
