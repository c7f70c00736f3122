"""Imports, plots and the profile as a user sees them (issue 19's findings 14-18 and 23): a box
plot's outliers, an import's percent, its time limit, a CSV's encoding, a profile's display, and
a file wider than the engine can hold."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from .helpers import WAIT
from .test_engines import ENGINES, fresh

FRAME = pd.DataFrame({"id": range(1, 2501), "name": [f"n{i}" for i in range(2500)],
                      "score": [i / 4 for i in range(2500)]})


def _pause_until(condition, what: str) -> None:
    """Wait (inside an import's chunks) until `condition()`, or fail after WAIT seconds."""
    pause = threading.Event()
    for _ in range(WAIT * 1000):
        if condition():
            return
        pause.wait(0.001)
    raise AssertionError(f"{what} never happened")


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
