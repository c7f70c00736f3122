"""End to end in a real browser: JupyterLab 4 and Notebook 7 served on loopback, headless
Chromium driven by Playwright. A slow %%sql cell shows the progress widget, a click on its
Cancel button stops the query while the cell runs, the widget ends in its summary, and the next
cell runs.

A screenshot of the widget mid-query is saved to test-artifacts/ (or $SQLNB_ARTIFACTS).
Needs Debian's chromium (/usr/bin/chromium), jupyterlab, notebook and playwright; .ci/run
installs them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _notebook(path: Path) -> None:
    cells = ["%load_ext sqlnb", f"%%sql --time-limit 120\n{SLOW}", "%sql SELECT 6 * 7 AS answer"]
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [],
                   "execution_count": None} for s in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


APPS = {  # the server's module, and the page that opens the notebook
    "jupyterlab": ("jupyterlab", "/lab/tree/slow.ipynb?reset&token={token}"),
    "notebook7": ("notebook", "/notebooks/slow.ipynb?token={token}"),
}


@pytest.fixture(scope="module", params=sorted(APPS))
def server(request, tmp_path_factory):
    module, page = APPS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    home = root / "home"
    home.mkdir()
    _notebook(root / "slow.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               IPYTHONDIR=str(home / "ipython"))
    server = subprocess.Popen(
        [sys.executable, "-m", module, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", "--allow-root", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"{module} did not start")
        yield request.param, base + page.format(token=token)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _run_cell(page, index: int) -> None:
    """Run cell `index` with Shift+Enter; retry, since the first key press can be lost."""
    cell = page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(10):
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Escape")
        page.keyboard.press("Shift+Enter")
        for _ in range(20):
            text = prompt.inner_text()
            if "[*]" in text or any(ch.isdigit() for ch in text):
                return
            time.sleep(0.1)
    pytest.fail(f"cell {index} did not start")


def test_cancel_button_in_the_browser(server):
    if not Path(CHROMIUM).exists():
        if os.environ.get("SQLNB_REQUIRE_BROWSER"):
            pytest.fail(f"no browser at {CHROMIUM}: apt-get install chromium")
        pytest.skip("no chromium: apt-get install chromium (CI always runs this test)")
    from playwright import sync_api as playwright

    app, url = server
    artifacts = Path(os.environ.get("SQLNB_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(url)
            cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
            cells.first.wait_for(timeout=120_000)
            time.sleep(1.0)  # let the kernel connect
            _run_cell(page, 0)
            cells.first.locator(".jp-InputPrompt", has_text="[1]").wait_for(timeout=120_000)
            _run_cell(page, 1)
            button = cells.nth(1).locator(".jp-OutputArea-output button", has_text="Cancel")
            button.wait_for(state="visible", timeout=60_000)
            time.sleep(1.0)  # let the bar and the figures move
            cells.nth(1).screenshot(path=str(artifacts / f"widget-{app}.png"))
            assert "rows" in cells.nth(1).locator(".jp-OutputArea-output").inner_text()
            button.click()
            summary = cells.nth(1).locator(".jp-OutputArea-output", has_text="cancelled after")
            summary.first.wait_for(timeout=30_000)
            error = cells.nth(1).locator(".jp-OutputArea-output", has_text="QueryCancelled")
            error.first.wait_for(timeout=30_000)
            _run_cell(page, 2)
            answer = cells.nth(2).locator(".jp-OutputArea-output", has_text="42")
            answer.first.wait_for(timeout=60_000)
            cells.nth(1).screenshot(path=str(artifacts / f"widget-{app}-cancelled.png"))
        finally:
            browser.close()
