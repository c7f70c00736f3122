"""The JupyterLab extension (SQL highlighting in %%sql cells) is built, current and installed.

Its source is labextension/ (TypeScript); its build, sqlnb/labextension/, is committed so that
installing sqlnb needs no Node.js: the wheel puts it in share/jupyter/labextensions/sqlnb-highlight
(pyproject.toml, shared-data). After changing anything in labextension/ (package.json,
package-lock.json, tsconfig.json, src/), rebuild with Node.js 18+ and npm, reinstall, and commit
sqlnb/labextension/:

    .venv/bin/python labextension/build.py      # npm ci (once), tsc, jupyter labextension build
    .venv/bin/pip install -e .

build.py also records a hash of the sources in sqlnb/labextension/source-hash.txt, which the
first test recomputes: a source edit without a rebuild fails here. The browser test is
tests/test_highlight_browser.py.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from jupyter_core.paths import jupyter_path
from jupyterlab_server.config import get_federated_extensions, get_page_config

ROOT = Path(__file__).resolve().parent.parent
BUILT = ROOT / "sqlnb" / "labextension"
NAME = "sqlnb-highlight"
REBUILD = ("run `.venv/bin/python labextension/build.py` (needs Node.js 18+ and npm), then "
           "`.venv/bin/pip install -e .`, and commit sqlnb/labextension/")


def _build_script():
    spec = importlib.util.spec_from_file_location("labextension_build",
                                                  ROOT / "labextension" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_matches_the_source():
    recorded = (BUILT / "source-hash.txt").read_text().strip()
    assert _build_script().source_hash() == recorded, (
        f"labextension/ changed since sqlnb/labextension/ was built: {REBUILD}")


def test_the_build_is_a_prebuilt_extension():
    package = json.loads((BUILT / "package.json").read_text())
    source = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert package["name"] == source["name"] == NAME
    assert (BUILT / package["jupyterlab"]["_build"]["load"]).is_file()
    assert json.loads((BUILT / "install.json").read_text())["packageName"] == "sqlnb"


def test_jupyterlab_finds_it_enabled():
    """As JupyterLab's server finds its extensions (what `jupyter labextension list` shows)."""
    paths = jupyter_path("labextensions")
    found = get_federated_extensions(paths).get(NAME)
    assert found is not None, f"{NAME} is not installed in {paths}: `pip install -e .`"
    assert NAME not in get_page_config(paths)["disabledExtensions"]
    # the installed copy is this build (not one from before a rebuild)
    built = json.loads((BUILT / "package.json").read_text())
    assert found["jupyterlab"]["_build"] == built["jupyterlab"]["_build"], (
        f"{found['ext_path']} is an older build: `.venv/bin/pip install -e .`")
