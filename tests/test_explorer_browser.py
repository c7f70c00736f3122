"""The result explorer end to end in JupyterLab 4 and Notebook 7, in headless Chromium (as
tests/test_browser.py drives them): a click on a header sorts the rows and a Shift+click adds a
second key, the arrow keys move the cell cursor (and not JupyterLab's active cell), Shift+arrows
select and Ctrl+C copies the selection as tab-separated text, the "new cell" button copies the
cell's code where no listener takes its event and hands it to one that does, a filter line
changes the footer's count, the last page is reached, Cancel stops a slow sort, and the saved
notebook holds a static table of the page that was on screen, with its footer and the line
saying the grid is live again. In JupyterLab's dark theme the grid's text is light on dark.

A screenshot of the grid is saved to test-artifacts/ (or $SQLNB_ARTIFACTS).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .lab_server import APPS, artifacts, chromium, require_chromium, write_notebook
from .test_browser import _open, _run_cell

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
    write_notebook(path, CELLS)


def _first_cells(cell) -> list[str]:
    """The first row's cells of the grid's page (its row number first)."""
    row = cell.locator("table.sqlnb-grid-table tbody tr").first
    return [row.locator("th").inner_text(), *row.locator("td").all_inner_texts()]


def _wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout} s")


#: Records the text each copy event puts on the clipboard (read after the grid's handler set it).
RECORD_COPIES = """() => { window.sqlnbCopied = [];
  window.addEventListener('copy', (e) => window.sqlnbCopied.push(
      e.clipboardData.getData('text/plain'))); }"""


def _copied(page) -> list[str]:
    return page.evaluate("window.sqlnbCopied")


def _keys_and_copy(page, grid) -> None:
    """A click on a cell gives the grid the focus; arrows move the cursor, Shift+arrows select,
    Ctrl+C copies (the notebook's active cell stays put: the keys stop at the grid)."""
    page.evaluate(RECORD_COPIES)
    root = grid.locator(".sqlnb-grid")
    grid.locator("table.sqlnb-grid-table tbody td").first.click()  # row 1, column id
    assert root.evaluate("(el) => el === document.activeElement")
    assert root.get_attribute("data-cursor") == "0,0"
    active = page.locator(".jp-NotebookPanel:visible .jp-Cell.jp-mod-active")
    before = active.get_attribute("class")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    assert root.get_attribute("data-cursor") == "1,1"
    assert "jp-mod-active" in (grid.get_attribute("class") or "")  # still the grid's cell
    assert active.get_attribute("class") == before
    page.keyboard.press("Control+c")  # one cell: its value alone
    _wait_for(lambda: _copied(page) == ["0"], "one cell copied")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowRight")
    assert root.get_attribute("data-cursor") == "2,2"
    assert grid.locator("td.selected").count() == 4
    page.keyboard.press("Control+c")  # a selection: a table with its columns' names
    _wait_for(lambda: _copied(page)[-1:] == ["k\ts\n0\tname 808\n0\tname 707"],
              "the selection copied as TSV")
    # without the focus the grid takes no key: ArrowUp is JupyterLab's again
    grid.locator(".jp-InputPrompt").click()
    assert not root.evaluate("(el) => el === document.activeElement")
    page.keyboard.press("ArrowUp")
    _wait_for(lambda: "jp-mod-active" not in (grid.get_attribute("class") or ""),
              "ArrowUp moving JupyterLab's active cell")
    assert root.get_attribute("data-cursor") == "2,2"
    grid.locator("td.selected").first.click(modifiers=["Shift"])  # the focus back
    assert root.get_attribute("data-cursor") == "1,1"
    assert grid.locator("td.selected").count() == 1  # from the anchor (1,1) to (1,1)
    page.keyboard.press("Escape")
    assert grid.locator("td.selected").count() == 0


def _new_cell(page, grid) -> None:
    """The new cell button: with no listener taking its event (VS Code ...) the code goes to
    the clipboard and the grid says so; a listener that takes it (sqlnb's extension) gets the
    code in `detail.code`. (Each listener here stops the event at the window, before any
    extension's, so the test does not depend on one.)"""
    page.evaluate("""() => { window.sqlnbEvents = [];
      window.sqlnbTake = false;
      window.addEventListener('sqlnb-insert-cell', (e) => {
        window.sqlnbEvents.push(e.detail.code);
        if (window.sqlnbTake) e.preventDefault();
        e.stopPropagation(); }, {capture: true}); }""")
    button = grid.locator("button.sqlnb-grid-button", has_text="new cell")
    button.click()
    grid.locator(".sqlnb-grid-said", has_text="copied: paste it into a new cell").wait_for()
    (code,) = page.evaluate("window.sqlnbEvents")
    assert code.startswith("%%sql --db default\nSELECT * FROM") and code.endswith(
        'ORDER BY "k" ASC NULLS LAST, "id" DESC NULLS LAST, "s" ASC NULLS LAST')
    _wait_for(lambda: _copied(page)[-1:] == [code], "the code copied")
    page.evaluate("window.sqlnbTake = true")
    button.click()
    grid.locator(".sqlnb-grid-said", has_text="inserted below").wait_for()
    assert page.evaluate("window.sqlnbEvents") == [code, code]
    assert _copied(page)[-1:] == [code] and len(_copied(page)) == 3  # nothing copied again


def _run_to_the_grid(page) -> tuple:
    """Run the notebook's first three cells: (its cells, the grid's cell once its first page
    is on screen)."""
    cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
    for index in (0, 1):
        _run_cell(page, index)
        cells.nth(index).locator(".jp-InputPrompt", has_text=f"[{index + 1}]"
                                 ).wait_for(timeout=120_000)
    _run_cell(page, 2)
    grid = cells.nth(2)
    grid.locator(".jupyter-widgets", has_text="rows 1-100 of 1,000").last.wait_for(
        timeout=60_000)
    return cells, grid


@pytest.mark.parametrize("app", sorted(APPS))
def test_the_explorer_in_the_browser(app, jupyter):
    require_chromium()
    # (the shared servers' settings say no "get notified about news?" over the screenshot)
    served, folder = jupyter(app)
    path = folder / "grid.ipynb"
    _notebook(path)
    artifacts_folder = artifacts()
    with chromium() as browser:
        page = _open(browser, served.url(path))
        cells, grid = _run_to_the_grid(page)
        assert _first_cells(grid)[:2] == ["1", "1"]
        # a click on the header k sorts by k: the first row holds k = 0 (id 101)
        grid.locator('th[data-column="k"]').click()
        _wait_for(lambda: _first_cells(grid)[1:3] == ["101", "0"], "the rows sorted by k")
        grid.locator(".jupyter-widgets", has_text="sorted by k").last.wait_for()
        # Shift+click on id, twice: a second key, descending; k = 0 rows from id 909 down
        header = grid.locator('th[data-column="id"]')
        header.click(modifiers=["Shift"])
        grid.locator(".jupyter-widgets", has_text="sorted by k, id").last.wait_for()
        header.click(modifiers=["Shift"])
        grid.locator(".jupyter-widgets", has_text="sorted by k, id desc").last.wait_for()
        _wait_for(lambda: _first_cells(grid)[1:3] == ["909", "0"], "the rows by k, id desc")
        assert "▼2" in header.inner_text() and "▲1" in grid.locator(
            'th[data-column="k"]').inner_text()
        assert "number" in header.inner_text()  # its type, and its summary
        _wait_for(lambda: "1,000 values, 0 NULL" in header.inner_text(), "the summary")
        _keys_and_copy(page, grid)
        _new_cell(page, grid)
        # a filter line: id ..250
        grid.locator("select").first.select_option("id")
        box = grid.locator("input[placeholder^='10..20']")
        box.fill("..250")
        box.press("Enter")
        grid.locator(".jupyter-widgets", has_text="of 250 · sorted by k, id desc · 1 filter"
                     ).last.wait_for(timeout=60_000)
        grid.locator("button[title='last page']").click()
        grid.locator(".jupyter-widgets", has_text="rows 201-250 of 250").last.wait_for(
            timeout=60_000)
        grid.screenshot(path=str(artifacts_folder / f"explorer-{app}.png"))
        # a slow sort, cancelled from the grid
        _run_cell(page, 3)
        slow = cells.nth(3)
        slow.locator(".jupyter-widgets", has_text="rows 1-100").last.wait_for(
            timeout=120_000)
        slow.locator('th[data-column="h"]').click()
        cancel = slow.locator("button", has_text="Cancel")
        cancel.wait_for(state="visible", timeout=30_000)
        slow.locator(".jupyter-widgets", has_text="running").last.wait_for()
        cancel.click()
        slow.locator(".jupyter-widgets", has_text="cancelled").last.wait_for(
            timeout=30_000)
        cancel.wait_for(state="hidden", timeout=30_000)
        page.keyboard.press("Control+s")

        def saved() -> bool:
            try:
                notebook = json.loads(path.read_text())
            except json.JSONDecodeError:  # read while the server writes it
                return False
            outputs = notebook["cells"][2].get("outputs", [])
            html = "".join("".join(o.get("data", {}).get("text/html", ""))
                           for o in outputs)
            return "rows 201-250 of 250" in html and "live again" in html
        _wait_for(saved, "the saved notebook holds the page on screen as a static table")
        page.close()


def _luminance(css: str) -> float:
    """The relative luminance (0 black .. 1 white) of a computed `rgb(...)`/`rgba(...)`."""
    r, g, b = (int(float(v)) / 255 for v in css[css.index("(") + 1:-1].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


#: The user setting of JupyterLab's theme (the settings API's id of its plugin).
THEMES = "/lab/api/settings/@jupyterlab/apputils-extension:themes"


def test_the_grid_is_readable_in_jupyterlabs_dark_theme(jupyter):
    require_chromium()
    served, folder = jupyter("jupyterlab")
    path = folder / "grid.ipynb"
    _notebook(path)
    # the user's setting, as the Settings menu saves it (the server is the session's: the
    # theme is put back afterwards)
    served.api(THEMES, "PUT", {"raw": '{"theme": "JupyterLab Dark"}'})
    try:
        with chromium() as browser:
            page = _open(browser, served.url(path))
            page.locator('body[data-jp-theme-light="false"]').wait_for(state="attached",
                                                                       timeout=60_000)
            _cells, grid = _run_to_the_grid(page)
            root = grid.locator(".sqlnb-grid")
            background = root.evaluate("(el) => getComputedStyle(el).backgroundColor")
            for part in ("tbody td", "thead th .sqlnb-grid-name", "thead th .sqlnb-grid-type",
                         "tbody th", ".sqlnb-grid-button"):
                color = grid.locator(f".sqlnb-grid {part}").first.evaluate(
                    "(el) => getComputedStyle(el).color")
                assert _luminance(background) < 0.3 < _luminance(color), (part, color,
                                                                          background)
            page.close()
    finally:
        served.api(THEMES, "PUT", {"raw": "{}"})
