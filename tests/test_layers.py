"""The layers call each other through public (or documented package-internal) names.

ARCHITECTURE.md draws the layers: the notebook front calls `Database` and `QueryHandle`; the
Database facade builds tasks for the engine; a task's reply and a query's control keep their
own state. These tests read the source and fail when one layer reaches into another's private
attributes, as the front once did with `handle._task` and the engine with `control._timer`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sqlnb
from sqlnb._reply import Reply

PACKAGE = Path(sqlnb.__file__).parent


def _private_attributes(path: Path) -> list[tuple[int, str, str]]:
    """(line, object, attribute) for every `x._name` in the file (dunders aside)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            found.append((node.lineno, ast.unparse(node.value), node.attr))
    return found


def _modules(*exclude: str) -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.name not in exclude]


@pytest.mark.parametrize("path", _modules("_reply.py"), ids=lambda p: p.name)
def test_only_the_reply_touches_its_own_state(path):
    """A Task subclasses Reply but sets its fields through Reply.__init__, and waits through
    done()/wait(), never `task._done`."""
    fields = set(Reply.__slots__)
    touched = [(line, obj, attr) for line, obj, attr in _private_attributes(path)
               if attr in fields - {"_lock"} or (attr == "_lock" and "task" in obj)]
    assert touched == [], f"{path.name} reaches into a Reply: {touched}"


@pytest.mark.parametrize("path", _modules("_control.py"), ids=lambda p: p.name)
def test_only_the_control_touches_its_own_state(path):
    touched = [(line, obj, attr) for line, obj, attr in _private_attributes(path)
               if attr in ("_conn", "_timer") or (attr == "_lock" and "control" in obj)]
    assert touched == [], f"{path.name} reaches into a Control: {touched}"


def test_the_reply_is_initialised_by_its_own_init():
    source = (PACKAGE / "_engine.py").read_text()
    task = next(node for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ClassDef) and node.name == "Task")
    init = next(node for node in task.body
                if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    assert "Reply.__init__(self)" in ast.unparse(init)
