"""The JupyterLab extension's "Format SQL" command in a real browser (headless Chromium through
Playwright, JupyterLab on loopback, sqlnb's extension as installed): Alt+Shift+F in a `%%sql`
cell rewrites its SQL, formatted by the kernel in the database's dialect; the first line (the
magic and its options) and comments stay, a statement that does not parse is left as it is,
and a Python cell is not touched."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .lab_server import chromium, write_notebook
from .test_browser import _run_cell
from .test_highlight_browser import _browser_or_skip

CELLS = ["%load_ext sqlnb",
         "%%sql --no-progress\nselect a, b from t -- keep me\nwhere a > 1; select from where",
         "x = 1  # python, select a from t"]
FORMATTED = ("%%sql --no-progress\nSELECT\n  a,\n  b\nFROM t /* keep me */\nWHERE\n  a > 1;\n\n"
             "select from where;")


def _notebook(path: Path) -> None:
    write_notebook(path, CELLS, language_info={"name": "python"})


@pytest.fixture
def lab(jupyter):
    """The URL of the notebook of CELLS in the session's JupyterLab (which has jupysql-plugin
    disabled)."""
    _browser_or_skip()
    served, folder = jupyter("jupyterlab")
    _notebook(folder / "format.ipynb")
    return served.url(folder / "format.ipynb")


def _source(page, index: int) -> str:
    return page.evaluate("""(index) => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')][index].querySelector(
        '.cm-content').cmView.view.state.doc.toString()""", index)


def test_format_sql_command(lab):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(lab)
        cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
        cells.nth(len(CELLS) - 1).wait_for(timeout=60_000)
        _run_cell(page, 0)  # %load_ext sqlnb
        for _ in range(600):
            if any(ch.isdigit() for ch in cells.nth(0).locator(".jp-InputPrompt")
                   .inner_text()):
                break
            time.sleep(0.1)
        for index in (1, 2):
            cells.nth(index).locator(".jp-InputArea-editor").click()
            page.keyboard.press("Alt+Shift+F")
        for _ in range(300):
            if _source(page, 1) == FORMATTED:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the cell was not formatted: {_source(page, 1)!r}; notes: "
                        f"{page.locator('.Toastify__toast').all_inner_texts()}")
        notes = page.locator(".Toastify__toast")
        notes.first.wait_for(timeout=30_000)
        assert "statement 2 of 2: cannot format 'select from where'" in \
            " ".join(notes.all_inner_texts())
        assert _source(page, 2) == CELLS[2]
