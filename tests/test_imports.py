"""Imports, plots and the profile as a user sees them (issue 19's findings 14-18 and 23): a box
plot's outliers, an import's percent, its time limit, a CSV's encoding, a profile's display, and
a file wider than the engine can hold."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

import sqlnb

from .helpers import WAIT, wait_for
from .test_engines import ENGINES, fresh

FRAME = pd.DataFrame({"id": range(1, 2501), "name": [f"n{i}" for i in range(2500)],
                      "score": [i / 4 for i in range(2500)]})



# -- 14: a box plot draws the extremes, and says how many outliers it left out -------------------
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_box_plot_draws_the_extreme_outliers_at_both_ends(engine, tmp_path, request,
                                                            monkeypatch):
    """The outliers drawn were the first ones in storage order (a LIMIT with no ORDER BY), so
    the largest could be missing."""
    from matplotlib.figure import Figure

    from sqlnb import plot

    monkeypatch.setattr("sqlnb._explore.FLIERS", 5)  # drawn at each end
    values = ([float(x) for x in range(1, 101)]  # the box: 1..100
              + [1000.0 + i for i in range(30)]  # stored nearest the whisker first
              + [-1000.0 - i for i in range(30)])
    with fresh(engine, tmp_path, request) as db:
        db.insert_df(pd.DataFrame({"y": values}), "m")
        box = db.quartiles("m", "y")
        assert box["outliers"].iloc[0] == 60
        assert box.attrs["fliers"] == [-1029.0, -1028.0, -1027.0, -1026.0, -1025.0,
                                       1025.0, 1026.0, 1027.0, 1028.0, 1029.0]
        assert box.attrs["fliers_left_out"] == 50

        ax = plot.draw("box", box, "m", "y", Figure().add_subplot())
        drawn = sorted(x for line in ax.lines for x in line.get_xdata()
                       if abs(x) >= 1000)
        assert drawn == box.attrs["fliers"]
        assert "50 outliers nearer the whiskers not drawn" in ax.get_xlabel()
        assert "60 beyond the whiskers" in ax.get_title()

        db.insert_df(pd.DataFrame({"y": [5000.0]}), "m", if_exists="append")
        box = db.quartiles("m", "y")
        assert box.attrs["fliers"][-1] == 5000.0 and box.attrs["fliers_left_out"] == 51
        monkeypatch.setattr("sqlnb._explore.FLIERS", 100)  # all of them fit
        few = db.quartiles("m", "y")
        assert len(few.attrs["fliers"]) == 61 and few.attrs["fliers_left_out"] == 0
        ax = plot.draw("box", few, "m", "y", Figure().add_subplot())
        assert "not drawn" not in ax.get_xlabel()


# -- 15: an import's percent is of what is written ------------------------------------------------
@pytest.mark.parametrize("kind", ["csv", "parquet", "dataframe"])
def test_an_imports_percent_is_of_the_rows_written(tmp_path, monkeypatch, kind):
    """The percent was the CSV reader's position in the file, which runs far ahead of the rows
    written: 100% "of 80.7 of 80.7 MB" while 90,000 of 2,000,000 rows were in."""
    import sqlnb._import as importing

    monkeypatch.setattr(importing, "CSV_BLOCK", 16 << 10)
    monkeypatch.setattr(importing, "CHUNK_ROWS", 1000)
    frame = pd.concat([FRAME] * 40, ignore_index=True)  # 100,000 rows, 2 MB of CSV
    source: object = frame
    if kind != "dataframe":
        source = tmp_path / f"people.{kind}"
        getattr(frame, f"to_{kind}")(source, index=False)
    real = importing._chunks
    held, go = threading.Event(), threading.Event()

    def holding(source, format, control):
        for i, chunk in enumerate(real(source, format, control)):
            if i == 10:  # ten chunks are written
                held.set()
                go.wait(WAIT)
            yield chunk

    monkeypatch.setattr(importing, "_chunks", holding)
    with sqlnb.connect(tmp_path / "t.db") as db:
        handle = db.import_file(source, "people", block=False)
        try:
            assert held.wait(WAIT)
            progress = handle.progress
        finally:
            go.set()
        assert handle.result() == 100_000
    assert 5 < progress.rows < 20_000  # ten chunks, and no more
    assert progress.percent == pytest.approx(100 * progress.rows / 100_000, abs=1)
    if kind == "csv":
        size = source.stat().st_size / 1e6
        assert progress.phase == f"people.csv ({size:,.1f} MB) written"
    else:
        assert progress.phase == {"parquet": "people.parquet (100,000 rows) written",
                                  "dataframe": "a DataFrame (100,000 rows) written"}[kind]


# -- 16: an import has no time limit unless it is given one ---------------------------------------
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_an_import_has_no_time_limit_unless_given_one(engine, tmp_path, request, monkeypatch):
    """Imports ran under the query time limit (30 s by default): a file a little larger than
    2M rows failed with nothing written."""
    import sqlnb._import as importing

    limit = 0.05
    slow: list[object] = []

    def chunks(source, format, control):
        yield FRAME.iloc[:1000]
        slow.append(control)
        if control.time_limit is None:  # run on past the Database's limit
            past = threading.Event()
            threading.Timer(4 * limit, past.set).start()
            wait_for(past.is_set, "the Database's time limit passed")
        else:  # an explicit limit: wait until it stops the import
            wait_for(lambda: control.reason is not None, "the time limit")
        yield FRAME.iloc[1000:]

    monkeypatch.setattr(importing, "_chunks", chunks)
    with fresh(engine, tmp_path, request) as db:
        db.time_limit = limit  # the Database's default limit
        handle = db.import_file(FRAME, "people", block=False)
        assert handle.result() == 2500
        assert handle.progress.time_limit is None
        assert slow[0].time_limit is None  # it ran on past the Database's limit
        with pytest.raises(sqlnb.QueryTimeout):  # (on Spark, maybe in its first chunk)
            db.import_file(FRAME, "other", time_limit=limit)
        db.time_limit = None
        names = set(db.tables()["name"])
        assert "other" not in names and not any("sqlnb_import" in n for n in names)
        assert db.query("SELECT count(*) AS n FROM people")["n"][0] == 2500


def test_the_import_magic_takes_no_cell_limit_but_its_own(shell, monkeypatch):
    import sqlnb._import as importing

    def chunks(source, format, control):
        yield FRAME.iloc[:1000]
        if control.time_limit is None:
            past = threading.Event()
            threading.Timer(0.2, past.set).start()
            wait_for(past.is_set, "the cell's time limit passed")
        else:
            wait_for(lambda: control.reason is not None, "the time limit")
        yield FRAME.iloc[1000:]

    monkeypatch.setattr(importing, "_chunks", chunks)
    shell.magics_manager.registry["SqlNB"].time_limit = 0.05  # %config SqlNB.time_limit
    shell.user_ns["frame"] = FRAME
    shell.run_line_magic("sqlnb", "import frame people")
    with pytest.raises(Exception, match=r"QueryTimeout: import of frame \(a variable\) stopped "
                                        r"at the 0\.05 s time limit; nothing of it was "
                                        r"written -- raise it with --time-limit SECONDS"):
        shell.run_line_magic("sqlnb", "import frame other --time-limit 0.05")
    frame = shell.run_line_magic("sql", "SELECT count(*) AS n FROM people")
    assert frame["n"][0] == 2500
    usage = shell.find_line_magic("sqlnb").__doc__.split("%sqlnb import")[1].split("%sqlnb")[0]
    assert "[--time-limit SECONDS]" in usage and "[--encoding NAME]" in usage
    assert "no time limit unless --time-limit gives one" in " ".join(usage.split())


# -- 17: a CSV's encoding --------------------------------------------------------------------------
LATIN = "name,city\nJosé,München\nAnn,Paris\n"


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_csv_not_in_utf8_is_refused_naming_the_encoding_option(engine, tmp_path, request,
                                                                 monkeypatch):
    """A latin-1 file was imported as BLOB columns, with no word."""
    monkeypatch.setattr("sqlnb._import.CSV_BLOCK", 16 << 10)
    path = tmp_path / "people.csv"
    path.write_bytes(LATIN.encode("latin-1"))
    late = tmp_path / "late.csv"  # UTF-8 in the first block (the types), latin-1 after it
    late.write_bytes(("name,city\n" + "Ann,Paris\n" * 3000 + "José,München\n").encode("latin-1"))
    with fresh(engine, tmp_path, request) as db:
        with pytest.raises(sqlnb.UsageError,
                           match=r"^people\.csv, line 2: column 'name' is not UTF-8 text: give "
                                 r"the file's encoding, e\.g\. encoding='latin-1' "
                                 r"\(--encoding latin-1 in %sqlnb import\)"):
            db.import_file(path, "people")
        with pytest.raises(sqlnb.UsageError,
                           match=r"^late\.csv, line 3002: column 'name' is not UTF-8 text: give "
                                 r"the file's encoding"):
            db.import_file(late, "late")
        header = tmp_path / "header.csv"  # only the names are latin-1
        header.write_bytes("prénom,city\nAnn,Paris\n".encode("latin-1"))
        with pytest.raises(sqlnb.UsageError, match=r"^header\.csv, line 1: the header is not "
                                                   r"UTF-8 text: give the file's encoding"):
            db.import_file(header, "header")
        names = set(db.tables()["name"])
        assert not {"people", "late", "header"} & names
        assert not any("sqlnb_import" in n for n in names)

        assert db.import_file(path, "people", encoding="latin-1") == 2
        back = db.query("SELECT name, city FROM people ORDER BY name")
        assert back.values.tolist() == [["Ann", "Paris"], ["José", "München"]]
        assert db.import_file(late, "late", encoding="latin-1") == 3001

        with pytest.raises(sqlnb.UsageError, match=r"unknown encoding 'nope'"):
            db.import_file(path, "t", encoding="nope")
        with pytest.raises(sqlnb.UsageError, match=r"encoding= is for CSV files"):
            db.import_file(FRAME, "t", encoding="latin-1")


def test_the_import_magic_takes_an_encoding(shell, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(LATIN.encode("latin-1"))
    with pytest.raises(Exception, match=r"not UTF-8 text.*--encoding latin-1") as error:
        shell.run_line_magic("sqlnb", f"import {path} people")
    assert not isinstance(error.value, UnicodeError)
    shell.run_line_magic("sqlnb", f"import {path} people --encoding latin-1")
    frame = shell.run_line_magic("sql", "SELECT city FROM people ORDER BY city")
    assert frame["city"].tolist() == ["München", "Paris"]


# -- 18: the profile's display ---------------------------------------------------------------------
def test_the_profile_magic_shows_clean_counts_blanks_and_whole_tops(shell):
    """Counts had no thousands separators (while `top` had), a text column showed <NA> as its
    mean, and `top` was cut ("...") and wrapped."""
    shell.user_ns["frame"] = pd.DataFrame({
        "n": range(12345),
        "name": [f"a rather long name number {i % 7}" for i in range(12345)],
        "none": [None] * 12345})
    shell.run_line_magic("sqlnb", "import frame people")
    frame = shell.run_line_magic("sqlnb", "profile people")
    assert str(frame["count"].dtype) == "Int64"  # the data itself stays numbers
    data, _metadata = shell.display_formatter.format(frame)
    text, markup = data["text/plain"], data["text/html"]
    top = frame.set_index("column")["top"]["name"]
    assert top.startswith("'a rather long name number 0' (1,764), ")
    for shown in (text, markup):
        assert "12,345" in shown and "12345" not in shown
        assert top in shown  # whole, not cut
        for noise in ("<NA>", "&lt;NA&gt;", "NaN", "None"):
            assert noise not in shown
    lines = text.splitlines()
    assert len(lines) == 1 + len(frame)  # a header and a line per column: nothing wrapped
    assert lines[0].split() == ["column", "type", "count", "nulls", "distinct", "min", "max",
                                "mean", "top"]
    assert "white-space: nowrap" in markup


# -- 23: a file wider than the engine can hold -----------------------------------------------------
def _wide_csv(path, columns: int) -> None:
    with open(path, "w") as file:
        file.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        file.write(",".join(str(i) for i in range(columns)) + "\n")


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_file_wider_than_the_engine_holds_is_refused_before_it_is_read(
        engine, tmp_path, request, monkeypatch):
    """A CSV of 100,000 columns cost 1 GB of memory before SQLite refused it (after 9 s), or
    DuckDB took it (69 s)."""
    import pyarrow.csv

    most = ENGINES[engine].get("columns", 10_000)  # the engine's limit (Link.column_limit),
    # else sqlnb's cap
    path = tmp_path / "wide.csv"
    _wide_csv(path, most + 1)

    def never(*args, **kwargs):
        raise AssertionError("the file was read")

    with fresh(engine, tmp_path, request) as db:
        with monkeypatch.context() as patch:
            patch.setattr(pyarrow.csv, "open_csv", never)
            with pytest.raises(sqlnb.UsageError,
                               match=rf"^wide\.csv has {most + 1:,} columns, and .* at most "
                                     rf"{most:,}"):
                db.import_file(path, "wide")
        assert "wide" not in set(db.tables()["name"])
        _wide_csv(path, 3)
        assert db.import_file(path, "narrow") == 1


def test_a_dataframe_wider_than_sqlite_holds_is_refused_clearly(db):
    wide = pd.DataFrame([list(range(2001))], columns=[f"c{i}" for i in range(2001)])
    with pytest.raises(sqlnb.UsageError,
                       match=r"^the DataFrame has 2,001 columns, and a table of this "
                             r"database holds at most 2,000"):
        db.import_file(wide, "wide")


def test_wide_rows_come_in_smaller_chunks(tmp_path, monkeypatch):
    """Rows per chunk shrink as the rows widen, so that a chunk's cells stay bounded."""
    import sqlnb._import as importing

    monkeypatch.setattr(importing, "CHUNK_CELLS", 1000, raising=False)
    frame = pd.DataFrame({f"c{i}": range(300) for i in range(50)})  # 20 rows a chunk
    path = tmp_path / "wide.parquet"
    frame.to_parquet(path)
    real = importing._chunks
    sizes: list[int] = []

    def counting(source, format, control):
        for chunk in real(source, format, control):
            sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(importing, "_chunks", counting)
    with sqlnb.connect(tmp_path / "t.db") as db:
        assert db.import_file(path, "w") == 300
        assert db.import_file(frame, "f") == 300
    assert sizes == [20] * 30
