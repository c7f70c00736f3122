"""End to end in a real browser: JupyterLab 4 and Notebook 7 served on loopback, headless
Chromium driven by Playwright. A slow %%sql cell shows the progress widget, a click on its
Cancel button stops the query while the cell runs and the cell ends in one error line, the next
cell runs; a query that finishes (blocking, and in the background) leaves its summary as plain
output, which the saved notebook keeps: reopened, it shows the summaries and no widget error.

A screenshot of the widget mid-query is saved to test-artifacts/ (or $SQLNB_ARTIFACTS).
Needs Debian's chromium (/usr/bin/chromium), jupyterlab, notebook and playwright; .ci/run
installs them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from .helpers import FOREVER
from .lab_server import APPS, artifacts, chromium, require_chromium, write_notebook
from .lab_server import run_cell as _run_cell  # (the other browser tests import it here)

FINISHES = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) "
            "SELECT count(*) AS n FROM c")


def _notebook(path: Path) -> None:
    write_notebook(path, ["%load_ext sqlnb", f"%%sql --time-limit 120\n{FOREVER}",
                          "%sql SELECT 6 * 7 AS answer", f"%%sql\n{FINISHES}",
                          f"%%sql --background later <<\n{FINISHES}"])


@pytest.mark.parametrize("app", sorted(APPS))
def test_cancel_button_in_the_browser(app, jupyter):
    require_chromium()
    served, folder = jupyter(app)
    path = folder / "slow.ipynb"
    _notebook(path)
    url = served.url(path)
    artifacts_folder = artifacts()
    with chromium() as browser:
        page = _open(browser, url)
        cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
        _run_cell(page, 0)
        cells.first.locator(".jp-InputPrompt", has_text="[1]").wait_for(timeout=120_000)
        _run_cell(page, 1)
        button = cells.nth(1).locator(".jp-OutputArea-output button", has_text="Cancel")
        button.wait_for(state="visible", timeout=60_000)
        # the figures have moved on from "starting"
        cells.nth(1).locator(".jp-OutputArea-output", has_text=" rows").wait_for()
        cells.nth(1).screenshot(path=str(artifacts_folder / f"widget-{app}.png"))
        button.click()
        error = cells.nth(1).locator(".jp-OutputArea-output",
                                     has_text="QueryCancelled: cancelled after")
        error.first.wait_for(timeout=30_000)
        _run_cell(page, 2)
        answer = cells.nth(2).locator(".jp-OutputArea-output", has_text="42")
        answer.first.wait_for(timeout=60_000)
        cells.nth(1).screenshot(path=str(artifacts_folder / f"widget-{app}-cancelled.png"))
        # one message for the cancel: the widget left no second line
        assert cells.nth(1).locator(".jp-OutputArea-output").inner_text().count(
            "cancelled after") == 1
        assert cells.nth(1).locator(".jupyter-widgets").count() == 0
        for index in (3, 4):
            _run_cell(page, index)
            _summary(cells.nth(index)).wait_for(timeout=60_000)
            assert cells.nth(index).locator(".jupyter-widgets").count() == 0
        page.keyboard.press("Control+s")
        _wait_saved(path)
        page.close()
        page = _open(browser, url)  # the saved notebook, opened again
        cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
        for index in (3, 4):
            _summary(cells.nth(index)).wait_for(timeout=60_000)
        cells.nth(1).locator(".jp-OutputArea-output",
                             has_text="QueryCancelled: cancelled after").wait_for()
        assert page.get_by_text("Error displaying widget").count() == 0
        cells.nth(4).screenshot(path=str(artifacts_folder / f"widget-{app}-reopened.png"))


def _open(browser, url: str):
    """A new page with the notebook open and its kernel idle."""
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto(url)
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=120_000)
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(
        timeout=120_000)
    return page


def _summary(cell):
    """A query's summary line as plain output (text, not a widget's)."""
    return cell.locator(".jp-OutputArea-output:not(.jupyter-widgets)", has_text=re.compile(
        r"^\s*1 row in \d+\.\d+ s\s*$")).first


def _wait_saved(path: Path) -> None:
    """Wait until the notebook on disk holds both summaries and no widget output."""
    for _ in range(600):
        outputs = [o for cell in json.loads(path.read_text())["cells"]
                   for o in cell.get("outputs", [])]
        summaries = [o for o in outputs
                     if re.fullmatch(r"1 row in \d+\.\d+ s", "".join(
                         o.get("data", {}).get("text/plain", "")))]
        widgets = [o for o in outputs if o.get("data", {}).get(
            "application/vnd.jupyter.widget-view+json", {}).get("model_id")]
        if len(summaries) == 2 and not widgets:
            return
        time.sleep(0.1)
    pytest.fail(f"the saved notebook lacks the summaries: {outputs}")
