"""SQL highlighting in a real browser: JupyterLab 4 and Notebook 7 on loopback, headless
Chromium driven by Playwright, sqlnb's extension (labextension/) loaded as installed.

In a `%%sql` cell and after `%sql` on a line, SQL keywords are drawn with the editor's keyword
style, the very class that Python's `for` gets in a Python cell; the same SQL words in a Python
cell without the magic are not keywords, and the Python cell keeps its Python highlighting.
Highlighting happens in the page: no cell is run. jupysql-plugin (bench extra), which has its
own %%sql mode, is disabled so that what is seen is sqlnb's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest

from .lab_server import APPS, CHROMIUM, artifacts, chromium, write_notebook

CELLS = ["%%sql\nSELECT name FROM t WHERE x = 1",
         "x = [i for i in range(3)]  # python\nSELECT name FROM t WHERE x",
         "%sql SELECT 1"]


def _browser_or_skip() -> None:
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"no browser at {CHROMIUM}: apt-get install chromium"
    elif importlib.util.find_spec("playwright") is None:
        reason = "no playwright: pip install -e '.[test]'"
    if reason:
        if os.environ.get("SQLNB_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(f"{reason} (CI always runs this test)")


def _notebook(path: Path) -> None:
    write_notebook(path, CELLS, language_info={"name": "python", "codemirror_mode": {
        "name": "ipython", "version": 3}})


@pytest.fixture(params=sorted(APPS))
def server(request, jupyter):
    """The app's name and the URL of the notebook of CELLS, served by the session's JupyterLab
    or Notebook 7 (which have jupysql-plugin disabled)."""
    _browser_or_skip()
    served, folder = jupyter(request.param)
    _notebook(folder / "highlight.ipynb")
    return request.param, served.url(folder / "highlight.ipynb")


def _tokens(page) -> list[list[tuple[str, str]]]:
    """Each cell's highlighted tokens: (text, class) of the spans in its editor's lines."""
    return page.evaluate("""() => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')].map(cell =>
        [...cell.querySelectorAll('.cm-content .cm-line span')].map(
            span => [span.textContent, span.className]))""")


def _classes(tokens: list[tuple[str, str]], word: str) -> set[str]:
    return {cls for text, cls in tokens if text == word}


def test_sql_keywords_are_highlighted_in_sql_magics(server):
    app, url = server
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(url)
        config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
        assert "sqlnb-highlight" in [e["name"] for e in config["federated_extensions"]]
        page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(len(CELLS) - 1).wait_for(
            timeout=60_000)
        # the SQL language is put in place asynchronously: wait for the SQL cells' spans
        for _ in range(300):
            cells = _tokens(page)
            if (len(cells) == len(CELLS) and _classes(cells[0], "WHERE")
                    and _classes(cells[2], "SELECT") and _classes(cells[1], "for")):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"no SQL highlighting appeared: {_tokens(page)}")
        sql_cell, python_cell, line_cell = cells
        keyword = _classes(python_cell, "for")
        assert len(keyword) == 1 and keyword == _classes(python_cell, "in"), python_cell
        # SQL keywords get Python's keyword style, in the cell and after %sql on a line
        for word in ("SELECT", "FROM", "WHERE"):
            assert _classes(sql_cell, word) == keyword, sql_cell
        assert _classes(line_cell, "SELECT") == keyword, line_cell
        assert _classes(sql_cell, "1") and _classes(sql_cell, "1") != keyword
        # the same words in a Python cell are not keywords; the Python stays Python
        for word in ("SELECT", "FROM", "WHERE"):
            assert not _classes(python_cell, word) & keyword, python_cell
        assert _classes(python_cell, "range") == {"cm-builtin"}, python_cell
        comment = _classes(python_cell, "# python")
        assert comment and comment != keyword, python_cell
        page.locator(".jp-NotebookPanel:visible .jp-Cell").first.screenshot(
            path=str(artifacts() / f"highlight-{app}.png"))


