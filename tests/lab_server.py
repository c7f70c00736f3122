"""JupyterLab or Notebook 7 on loopback, and Debian's chromium, for the browser tests and the
explorer's browser benchmark (as tests/pg_server.py serves PostgreSQL to both).

`serve(module, root, home, *options)` starts the server with its HOME and Jupyter folders under
`home`, serving `root`, with this checkout's build of sqlnb's JupyterLab extension first on
JUPYTER_PATH (the browser tests test this build, not the copy `pip install` made);
`require_chromium()` skips a test where chromium is missing (fails it where
SQLNB_REQUIRE_BROWSER is set, as in CI); `chromium()` is the browser for a `with` block, and
`artifacts()` the folder for screenshots.

`Servers` keeps one JupyterLab and one Notebook 7 server for a whole test session (each start
costs seconds of a 2-core machine's time, ten starts a minute): the `jupyter` fixture of
tests/conftest.py hands each browser test its own folder on the app's server (`Served`), and ends
the test's kernels afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

#: Debian's chromium (playwright drives it; no browser is ever downloaded).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: How it is launched: headless, and quiet on the network.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BUILT_EXTENSION = Path(__file__).resolve().parent.parent / "sqlnb" / "labextension"
EXTENSION_NAME = "sqlnb-highlight"


def require_chromium() -> None:
    """Skip the calling test without chromium (fail it where SQLNB_REQUIRE_BROWSER is set)."""
    import pytest

    if not Path(CHROMIUM).exists():
        if os.environ.get("SQLNB_REQUIRE_BROWSER"):
            pytest.fail(f"no browser at {CHROMIUM}: apt-get install chromium")
        pytest.skip("no chromium: apt-get install chromium (CI always runs this test)")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Headless chromium driven by playwright, closed after the block (the calling test is
    skipped without chromium, as `require_chromium` says)."""
    require_chromium()
    from playwright import sync_api

    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def artifacts() -> Path:
    """The folder the browser tests leave their screenshots in (SQLNB_ARTIFACTS)."""
    folder = Path(os.environ.get("SQLNB_ARTIFACTS", "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(module: str, root: Path, home: Path, *options: str) -> Iterator[tuple[str, str]]:
    """A JupyterLab (`module` "jupyterlab") or Notebook 7 ("notebook") server on loopback with
    its HOME and Jupyter folders under `home`, serving `root`, with this checkout's build of
    sqlnb's extension and any further command-line `options`: (its base URL, its token),
    stopped afterwards. A RuntimeError if it does not answer within 120 s."""
    port, token = free_port(), secrets.token_hex(16)
    first = home / "jupyter-path"
    shutil.copytree(BUILT_EXTENSION, first / "labextensions" / EXTENSION_NAME,
                    dirs_exist_ok=True)
    jupyter_path = os.pathsep.join(filter(None, [str(first), os.environ.get("JUPYTER_PATH")]))
    env = dict(os.environ, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               IPYTHONDIR=str(home / "ipython"), JUPYTER_PATH=jupyter_path)
    server = subprocess.Popen(
        [sys.executable, "-m", module, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", "--allow-root", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", *options],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{module} did not start within 120 s")
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


#: The apps the browser tests run in: the server's module, the page that opens a notebook
#: (`{path}` relative to the server's root).
APPS = {
    "jupyterlab": ("jupyterlab", "/lab/tree/{path}?reset&token={token}"),
    "notebook7": ("notebook", "/notebooks/{path}?token={token}"),
}
#: Options of the shared servers: window.jupyterapp in the page (to read whether a notebook has
#: unsaved changes, or restart its kernel, as a user would from the menu).
EXPOSE_APP = ("--LabApp.expose_app_in_browser=True",
              "--JupyterNotebookApp.expose_app_in_browser=True")


def _api(base: str, token: str, path: str, method: str = "GET", body: Any = None) -> Any:
    """A call of the server's REST API: its JSON answer (None for an empty one)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}?token={token}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = response.read()
    return json.loads(answer) if answer else None


class Served:
    """A running server of the test session: its app, base URL, token, root and HOME."""

    def __init__(self, app: str, base: str, token: str, root: Path, home: Path) -> None:
        self.app, self.base, self.token, self.root, self.home = app, base, token, root, home

    def folder(self, name: str) -> Path:
        """A new folder of the server's root for one test (its name made URL-safe)."""
        folder = self.root / re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")
        folder.mkdir()
        return folder

    def url(self, notebook: Path) -> str:
        """The page that opens `notebook` (a file under the root) in this app."""
        path = notebook.relative_to(self.root).as_posix()
        return self.base + APPS[self.app][1].format(path=path, token=self.token)

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        return _api(self.base, self.token, path, method, body)

    def end_sessions(self, timeout: float = 30) -> None:
        """Shut every kernel down, as closing the notebook and its kernel would."""
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", "DELETE")
        deadline = time.monotonic() + timeout
        while self.api("/api/kernels"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"kernels still running {timeout} s after their sessions "
                                   "ended")
            time.sleep(0.1)


class Servers:
    """One server per app for a test session, started when a test first asks for it (with
    jupysql-plugin disabled, so that what a test sees is sqlnb's extension, no "get notified
    about news?" prompt, and EXPOSE_APP), all stopped by `close()`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: dict[str, Served] = {}
        self.stack = contextlib.ExitStack()

    def __call__(self, app: str) -> Served:
        if app not in self.running:
            root, home = self.folder / app, self.folder / f"{app}-home"
            root.mkdir()
            (home / "config" / "labconfig").mkdir(parents=True)
            (home / "config" / "labconfig" / "page_config.json").write_text(
                json.dumps({"disabledExtensions": {"jupysql-plugin": True}}))
            settings = home / "config/lab/user-settings/@jupyterlab/apputils-extension"
            settings.mkdir(parents=True)
            (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
            base, token = self.stack.enter_context(
                serve(APPS[app][0], root, home, *EXPOSE_APP))
            self.running[app] = Served(app, base, token, root, home)
        return self.running[app]

    def close(self) -> None:
        self.stack.close()


def write_notebook(path: Path, cells: Sequence[str], **metadata: Any) -> None:
    """A notebook of these code cells (not run), on the python3 kernel; `metadata` adds to
    the notebook's metadata (language_info, say)."""
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                   "execution_count": None} for source in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}, **metadata},
        "nbformat": 4, "nbformat_minor": 5,
    }))


def run_cell(page: Any, index: int, *, to_end: bool = False) -> None:
    """Run cell `index` of the notebook on `page` (playwright) with Shift+Enter, and see it
    start (`to_end`: and end, within 300 s); retried, since the first key press can be lost.
    A RuntimeError naming what is in the way (a dialog) when it cannot be clicked or does not
    start."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cell = page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(10):
        try:
            cell.locator(".jp-InputArea-editor").click(timeout=30_000)
        except PlaywrightTimeout:
            dialogs = page.locator(".jp-Dialog")
            raise RuntimeError(
                f"cell {index} cannot be clicked; dialogs: "
                f"{[dialogs.nth(i).inner_text() for i in range(dialogs.count())]}") from None
        page.keyboard.press("Escape")
        page.keyboard.press("Shift+Enter")
        for _ in range(30):
            text = prompt.inner_text()
            if "[*]" in text or any(ch.isdigit() for ch in text):
                break
            time.sleep(0.1)
        else:
            continue
        break
    else:
        raise RuntimeError(f"cell {index} did not start")
    deadline = time.monotonic() + 300
    while to_end and ("[*]" in prompt.inner_text()
                      or not any(ch.isdigit() for ch in prompt.inner_text())):
        if time.monotonic() > deadline:
            raise RuntimeError(f"cell {index} did not finish within 300 s")
        time.sleep(0.1)
