"""sqlnb's JupyterLab extension and the result explorer, in JupyterLab 4 and Notebook 7 in
headless Chromium (as tests/test_browser.py drives them), with this checkout's build of the
extension (labextension/src/explorer.ts):

- a saved notebook reopened with a new kernel, and with no kernel, shows each explorer's static
  table (the page that was on screen, with the line saying the grid is live again) where the
  widget's model is gone, never "Error displaying widget: model not found", and opening it
  leaves it unchanged (not dirty);
- the tab reloaded while its kernel still runs shows the live grid, not the copy; once the
  kernel restarts, the copy;
- a `sqlnb-insert-cell` event from inside an output inserts a code cell holding its code below
  that output's cell (made active, not run) and is marked handled (defaultPrevented); from
  outside an output it is left alone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .lab_server import APPS, artifacts, chromium, require_chromium, write_notebook
from .test_browser import _run_cell

CELLS = [
    "%load_ext sqlnb",
    "%%sql\nCREATE TABLE t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 1000) SELECT x AS id, 'name ' || x AS s FROM c",
    "%sqlnb explore t",  # a display (with a display id)
    "%sql SELECT id, s FROM t WHERE id > 500",  # a result of 500 rows: the cell's value
]
GRIDS = {2: "rows 1-100 of 1,000", 3: "rows 1-100 of 500"}  # each grid's footer
LIVE_AGAIN = "the grid is live again after the cell runs"
INSERTED = "%%sql\nSELECT * FROM t WHERE id < 3"
NOTEBOOK = ".jp-NotebookPanel:visible"


def _notebook(path: Path) -> None:
    write_notebook(path, CELLS)


def _wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout} s")


def _open(browser, url: str, kernel: bool = True):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url)
    page.locator(f"{NOTEBOOK} .jp-Cell").first.wait_for(timeout=120_000)
    if kernel:
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(
            timeout=120_000)
    return page


def _cell(page, index: int):
    return page.locator(f"{NOTEBOOK} .jp-Cell").nth(index)


def _no_widget_errors(page) -> None:
    for text in ("Error displaying widget", "model not found", "Model not found"):
        assert page.get_by_text(text).count() == 0, text


def _static_copies_shown(page) -> None:
    """Each grid's cell shows its static copy: the table, its footer, the line."""
    for index, footer in GRIDS.items():
        _cell(page, index).scroll_into_view_if_needed()
        copy = _cell(page, index).locator(".sqlnb-explorer-static-copy")
        copy.wait_for(state="attached", timeout=60_000)
        text = copy.text_content()
        assert footer in text and LIVE_AGAIN in text, text
        assert copy.locator("table tbody tr").count() == 100
    _no_widget_errors(page)


def _live_grids_shown(page) -> None:
    """Each grid's cell shows the live widget (its footer, not the static copy's line)."""
    for index, footer in GRIDS.items():
        _cell(page, index).scroll_into_view_if_needed()
        output = _cell(page, index).locator(".jp-OutputArea-output", has_text=footer)
        output.first.wait_for(state="attached", timeout=60_000)
        assert LIVE_AGAIN not in _cell(page, index).locator(".jp-OutputArea").text_content()
        assert _cell(page, index).locator(".sqlnb-explorer-static-copy").count() == 0
    _no_widget_errors(page)


def _saved(path: Path) -> bool:
    """The file holds both grids' outputs, marked as the explorer's, with their copies."""
    try:
        cells = json.loads(path.read_text())["cells"]
    except json.JSONDecodeError:  # being written
        return False
    for index, footer in GRIDS.items():
        marked = [o for o in cells[index].get("outputs", [])
                  if o.get("metadata", {}).get("sqlnb", {}).get("explorer") is True
                  and "application/vnd.jupyter.widget-view+json" in o.get("data", {})
                  and footer in "".join(o["data"].get("text/html", ""))]
        if len(marked) != 1:
            return False
    return True


def _dispatch(page, index: int, code: str, inside: str) -> bool:
    """Dispatch `sqlnb-insert-cell` from the element `inside` of cell `index`: handled?"""
    return _cell(page, index).locator(inside).first.evaluate("""(target, code) => {
        const event = new CustomEvent('sqlnb-insert-cell',
                                      {bubbles: true, cancelable: true, detail: {code}});
        target.dispatchEvent(event);
        return event.defaultPrevented;
    }""", code)


def _sources(page) -> list[str]:
    cells = page.locator(f"{NOTEBOOK} .jp-Cell")
    return [cells.nth(i).locator(".cm-content").inner_text() for i in range(cells.count())]


def _dirty(page) -> bool:
    """Whether the notebook has unsaved changes (its document model is dirty)."""
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("app", sorted(APPS))
def test_a_saved_explorer_reopened_shows_its_static_table(app, jupyter):
    require_chromium()
    served, folder = jupyter(app)
    path = folder / "saved.ipynb"
    _notebook(path)
    url = served.url(path)
    artifacts_folder = artifacts()
    with chromium() as browser:
        page = _open(browser, url)
        for index in range(len(CELLS)):
            _run_cell(page, index)
            _cell(page, index).locator(".jp-InputPrompt", has_text=f"[{index + 1}]"
                                       ).wait_for(timeout=120_000)
        _live_grids_shown(page)
        page.keyboard.press("Control+s")
        _wait_for(lambda: _saved(path), "the notebook saved with both grids")

        # the tab reloaded, its kernel still running: the grids are live
        page.reload()
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(
            timeout=120_000)
        _live_grids_shown(page)
        # the kernel restarted: its widgets are gone, the copies show
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext"
                      ".restartKernel()")
        _static_copies_shown(page)
        page.close()

        # reopened with a new kernel: the static copies, and the notebook unchanged
        served.end_sessions()
        page = _open(browser, url)
        _static_copies_shown(page)
        _cell(page, 2).screenshot(path=str(artifacts_folder / f"explorer-reopened-{app}.png"))
        time.sleep(1)  # anything that would mark it changed has had its chance
        assert not _dirty(page)  # opening it changed nothing
        page.close()

        # reopened with no kernel (its kernel unknown here: "No Kernel" chosen)
        served.end_sessions()
        notebook = json.loads(path.read_text())
        notebook["metadata"]["kernelspec"] = {"name": "no-such-kernel",
                                              "display_name": "gone", "language": "gone"}
        notebook["metadata"].pop("language_info", None)
        # signed as the server would, so that it stays trusted (an untrusted notebook's
        # widget outputs show their text/html anyway: JupyterLab renders no widget there)
        from nbformat import from_dict
        from nbformat.sign import NotebookNotary

        NotebookNotary(data_dir=str(served.home / "data")).sign(from_dict(notebook))
        path.write_text(json.dumps(notebook))
        page = _open(browser, url, kernel=False)
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=60_000)
        dialog.locator("button", has_text="No Kernel").click()
        _static_copies_shown(page)
        assert not served.api("/api/kernels")

        # "copy the SQL as a new cell": from inside an output, a cell below it
        before = _sources(page)
        assert not _dispatch(page, 0, "x = 1", ".jp-InputArea-editor")  # not an output
        assert _sources(page) == before
        assert _dispatch(page, 2, INSERTED, ".jp-OutputArea-output table td")
        _wait_for(lambda: len(_sources(page)) == len(before) + 1, "a cell inserted", 30)
        assert _sources(page) == [*before[:3], INSERTED, *before[3:]]
        inserted = _cell(page, 3)
        assert "jp-mod-active" in inserted.get_attribute("class")
        assert inserted.locator(".jp-OutputArea-output").count() == 0  # not run
        assert inserted.locator(".jp-InputPrompt").inner_text().strip() in ("[ ]:", "[ ]")
        assert _dirty(page)  # a change, unsaved
        page.close()
