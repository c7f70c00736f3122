"""The result explorer end to end in JupyterLab 4 and Notebook 7, in headless Chromium (as
tests/test_browser.py drives them): a click on a header sorts the rows, a filter line changes
the footer's count, the last page is reached, Cancel stops a slow sort, and the saved notebook
holds a static table of the page that was on screen, with its footer and the line saying the
grid is live again.

A screenshot of the grid is saved to test-artifacts/ (or $SQLNB_ARTIFACTS).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from .test_browser import APPS, ARGS, CHROMIUM, _open, _run_cell, serve

SLOW = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000000) "
        "SELECT x, (x * 7919) % 1000003 AS h FROM c")
CELLS = [
    "%load_ext sqlnb",
    "%%sql\nCREATE TABLE t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 1000) SELECT x AS id, (x * 37) % 101 AS k, 'name ' || x AS s FROM c",
    "%sqlnb explore t",
    f"%sqlnb explore --time-limit 300 {SLOW}",
]


def _notebook(path: Path) -> None:
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [],
                   "execution_count": None} for s in CELLS],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }))


def _first_cells(cell) -> list[str]:
    """The first row's cells of the grid's page (its row number first)."""
    row = cell.locator("table.sqlnb-page tbody tr").first
    return [row.locator("th").inner_text(), *row.locator("td").all_inner_texts()]


def _wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout} s")


@pytest.mark.parametrize("app", sorted(APPS))
def test_the_explorer_in_the_browser(app, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("SQLNB_REQUIRE_BROWSER"):
            pytest.fail(f"no browser at {CHROMIUM}: apt-get install chromium")
        pytest.skip("no chromium: apt-get install chromium (CI always runs this test)")
    from playwright import sync_api as playwright

    home = tmp_path / "home"
    home.mkdir()
    path = tmp_path / "grid.ipynb"
    _notebook(path)
    artifacts = Path(os.environ.get("SQLNB_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    module, url = APPS[app]
    with serve(module, tmp_path, home) as (base, token), playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = _open(browser, base + url.replace("slow.ipynb", "grid.ipynb").format(
                token=token))
            cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
            for index in (0, 1):
                _run_cell(page, index)
                cells.nth(index).locator(".jp-InputPrompt", has_text=f"[{index + 1}]"
                                         ).wait_for(timeout=120_000)
            _run_cell(page, 2)
            grid = cells.nth(2)
            footer = grid.locator(".jupyter-widgets", has_text="rows 1-100 of 1,000").last
            footer.wait_for(timeout=60_000)
            assert _first_cells(grid)[:2] == ["1", "1"]
            # a click on the header k sorts by k: the first row holds k = 0 (id 101)
            grid.locator("button", has_text="k").first.click()
            _wait_for(lambda: _first_cells(grid)[1:3] == ["101", "0"], "the rows sorted by k")
            grid.locator(".jupyter-widgets", has_text="sorted by k").last.wait_for()
            # a filter line: id ..250
            grid.locator("select").first.select_option("id")
            box = grid.locator("input[placeholder^='10..20']")
            box.fill("..250")
            box.press("Enter")
            grid.locator(".jupyter-widgets", has_text="of 250 · sorted by k · 1 filter"
                         ).last.wait_for(timeout=60_000)
            grid.locator("button[title='last page']").click()
            grid.locator(".jupyter-widgets", has_text="rows 201-250 of 250").last.wait_for(
                timeout=60_000)
            grid.screenshot(path=str(artifacts / f"explorer-{app}.png"))
            # a slow sort, cancelled from the grid
            _run_cell(page, 3)
            slow = cells.nth(3)
            slow.locator(".jupyter-widgets", has_text="rows 1-100").last.wait_for(
                timeout=120_000)
            slow.locator("button", has_text="h").first.click()
            cancel = slow.locator("button", has_text="Cancel")
            cancel.wait_for(state="visible", timeout=30_000)
            slow.locator(".jupyter-widgets", has_text="running").last.wait_for()
            cancel.click()
            slow.locator(".jupyter-widgets", has_text="cancelled").last.wait_for(
                timeout=30_000)
            cancel.wait_for(state="hidden", timeout=30_000)
            page.keyboard.press("Control+s")

            def saved() -> bool:
                outputs = json.loads(path.read_text())["cells"][2].get("outputs", [])
                html = "".join("".join(o.get("data", {}).get("text/html", ""))
                               for o in outputs)
                return "rows 201-250 of 250" in html and "live again" in html
            _wait_for(saved, "the saved notebook holds the page on screen as a static table")
            page.close()
        finally:
            browser.close()
