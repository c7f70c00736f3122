"""The user docs (the README, and docs/chaining.md for cells that build on cells) document every
public name, every Database call, every magic option, every %sqlnb command and every setting
(so the docs cannot fall behind the code unnoticed)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import sqlnb
from sqlnb.ipython.magics import SqlNB

ROOT = Path(__file__).resolve().parents[1]
#: the README and the user docs' pages beside it
README = "\n".join((ROOT / name).read_text() for name in ("README.md", "docs/chaining.md"))


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
                                     "wait", "history", "saved", "expand", "cache", "format"])
def test_sqlnb_command_in_readme_and_help(command):
    assert f"%sqlnb {command}" in README
    assert f"%sqlnb {command}" in SqlNB.sqlnb.__doc__


@pytest.mark.parametrize("setting", sorted(SqlNB.class_own_traits(config=True)))
def test_setting_in_readme(setting):
    assert f"`{setting}`" in README, setting
    assert SqlNB.class_traits()[setting].help
