"""JupyterLab or Notebook 7 on loopback, and Debian's chromium, for the browser tests and the
explorer's browser benchmark (as tests/pg_server.py serves PostgreSQL to both).

`serve(module, root, home, *options)` starts the server with its HOME and Jupyter folders under
`home`, serving `root`, with this checkout's build of sqlnb's JupyterLab extension first on
JUPYTER_PATH (the browser tests test this build, not the copy `pip install` made);
`require_chromium()` skips a test where chromium is missing (fails it where
SQLNB_REQUIRE_BROWSER is set, as in CI)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

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
