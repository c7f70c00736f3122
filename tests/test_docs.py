"""The documentation (the README and the site's pages in docs/) names every public name, every
Database call, every magic option, every %sqlnb command and every setting, in its hand-written
pages, so that the docs cannot fall behind the code unnoticed (the site's generated reference
lists them all anyway: tests/test_site.py)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import sqlnb
from sqlnb.ipython.magics import SqlNB

ROOT = Path(__file__).resolve().parents[1]
#: the README and every page of the site, as one text
README = "\n".join(path.read_text() for path in [ROOT / "README.md",
                                                   *sorted((ROOT / "docs").rglob("*.md"))]
                   if "tutorials" not in path.parts)


@pytest.mark.parametrize("name", [n for n in sqlnb.__all__ if not n.startswith("__")])
def test_public_name_in_readme(name):
    assert re.search(rf"\b{re.escape(name)}\b", README), name


@pytest.mark.parametrize("name", [n for n, m in inspect.getmembers(sqlnb.Database)
                                  if not n.startswith("_")
                                  and (callable(m) or isinstance(m, property))])
def test_database_call_in_readme(name):
    assert f"db.{name}" in README or f".{name}(" in README or f"`{name}`" in README, name


def _sql_options():
    parser = SqlNB.sql.parser
    return [o for action in parser._actions for o in action.option_strings if o.startswith("--")
            and o != "--help"]


@pytest.mark.parametrize("option", _sql_options())
def test_magic_option_in_readme(option):
    assert option in README, option


@pytest.mark.parametrize("command", ["connect", "list", "use", "close", "tables", "schema",
                                     "wait"])
def test_sqlnb_command_in_readme_and_help(command):
    assert f"%sqlnb {command}" in README
    assert f"%sqlnb {command}" in SqlNB.sqlnb.__doc__


@pytest.mark.parametrize("setting", sorted(SqlNB.class_own_traits(config=True)))
def test_setting_in_readme(setting):
    assert f"`{setting}`" in README, setting
    assert SqlNB.class_traits()[setting].help


def test_lab_extra_brings_what_the_tutorials_use():
    """`pip install -e '.[lab]'` (the README's command for the tutorials) installs every module
    a tutorial imports and every engine client it connects with."""
    import json
    import sys
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement

    try:
        import tomllib
    except ImportError:  # Python 3.10: pytest's own dependency
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lab = {Requirement(text).name.lower() for text in
           project["dependencies"] + project["optional-dependencies"]["lab"]}
    needed = {}
    distributions = packages_distributions()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        for module in re.findall(r"^\s*(?:import|from)\s+(\w+)", code, re.M):
            if module not in sys.stdlib_module_names and module != "sqlnb":
                for name in distributions.get(module, [module]):
                    needed[name.lower()] = notebook.name
        for target, client in (("duckdb:", "duckdb"), ("spark:", "pyspark"),
                               ("sc://", "pyspark"),
                               ("postgresql://", "adbc-driver-postgresql")):
            if target in code:
                needed[client] = notebook.name
    assert needed, "the tutorials import something"
    missing = {name: where for name, where in needed.items() if name not in lab}
    assert not missing, f"not in the lab extra (pyproject.toml): {missing}"


def test_test_extra_builds_the_site():
    """The test extra (what CI installs) has every package of the docs extra, since
    tests/test_site.py builds the site."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: pytest's own dependency
        import tomli as tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert extras["docs"] and set(extras["docs"]) <= set(extras["test"])


def test_readme_set_up_commands():
    """The README's set-up commands, which a newcomer copies and .ci/run repeats: the demo, the
    tutorials in JupyterLab (the lab extra), and the tests (CI's own command)."""
    readme = (ROOT / "README.md").read_text()
    venv = "python3 -m venv .venv && . .venv/bin/activate && "
    assert f"{venv}pip install -e . && python -m sqlnb\n" in readme
    assert (f"{venv}pip install -e '.[lab]' && jupyter lab notebooks/01-quick-start.ipynb\n"
            in readme)
    assert f"{venv}pip install -e '.[test]' && python -m pytest\n" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install --quiet -e '.[test]'" in ci and "\npython -m pytest\n" in ci
    assert "pip install -e '.[docs]' && mkdocs serve" in readme  # how to preview the site
