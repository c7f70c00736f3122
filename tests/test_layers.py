"""The layers call each other through public (or documented package-internal) names.

ARCHITECTURE.md draws the layers: the notebook front calls `Database` and `QueryHandle`; the
Database facade builds tasks for the engine; a task's reply and a query's control keep their
own state. These tests read the source and fail when one layer reaches into another's private
attributes, as the front once did with `handle._task` and the engine with `control._timer`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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
    source = (PACKAGE / "_task.py").read_text()
    task = next(node for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ClassDef) and node.name == "Task")
    init = next(node for node in task.body
                if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    assert "Reply.__init__(self)" in ast.unparse(init)


FRONT = PACKAGE / "ipython"
#: Private names the front may use on objects it does not own: IPython's display protocol, and
#: the kernel's comm routing method that the Cancel button's hook wraps (progress.py says why).
FOREIGN_HOOKS = {"_repr_html_", "_repr_mimebundle_", "_reply_subshell_for"}
#: Package-internal modules the front may use (none: it splits a cell with db.statements()).
INTERNAL_MODULES: set[str] = set()


def _own_private_names() -> set[str]:
    """Private attributes and methods of the front's own classes (`self._x = ...`, `def _x`)."""
    own = set()
    for path in FRONT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                    and ast.unparse(node.value) == "self"):
                own.add(node.attr)
            elif isinstance(node, ast.ClassDef):
                own |= {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
    return own


@pytest.mark.parametrize("path", sorted(FRONT.glob("*.py")), ids=lambda p: p.name)
def test_the_front_calls_the_engine_through_public_names(path):
    """The magics and the widget use `Database` and `QueryHandle` as any user could (once they
    waited on `handle._task` and imported `sqlnb._reply`)."""
    allowed = _own_private_names() | FOREIGN_HOOKS
    reaches = [(line, obj, attr) for line, obj, attr in _private_attributes(path)
               if obj != "self" and attr not in allowed]
    assert reaches == [], f"{path.name} reaches into another layer: {reaches}"
    imported = _sqlnb_imports(path.read_text(), path)
    private = {m for m in imported if any(part.startswith("_") for part in m.split("."))}
    assert private <= INTERNAL_MODULES, f"{path.name} imports {private - INTERNAL_MODULES}"


def _module_of(path: Path) -> str:
    """The dotted name of a module of the package (`sqlnb.ipython.completion`)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sqlnb_imports(source: str, path: Path) -> set[str]:
    """Every sqlnb module `source` (the text of the module at `path`) imports, relative imports
    resolved (`from .._dispatch import Dispatch` in sqlnb/ipython/ is sqlnb._dispatch); for
    `from package import name` also package.name where that is a module of its own."""
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "sqlnb"}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module.split(".")[0] != "sqlnb":
                continue
            found.add(module)
            for alias in node.names:
                sub = PACKAGE.parent.joinpath(*f"{module}.{alias.name}".split("."))
                if sub.with_suffix(".py").exists() or (sub / "__init__.py").exists():
                    found.add(f"{module}.{alias.name}")
    return found


def test_the_import_check_sees_relative_imports():
    """Issue 20: a relative import of a private module was invisible to the check above."""
    front = FRONT / "completion.py"
    assert "sqlnb._dispatch" in _sqlnb_imports("from .._dispatch import Dispatch\n", front)
    assert "sqlnb.engines.sqltext" in _sqlnb_imports("from ..engines import sqltext\n", front)
    assert _sqlnb_imports("from . import progress\n", front) == {"sqlnb.ipython",
                                                                 "sqlnb.ipython.progress"}


#: The seam itself: the registry, the interface, the lexer (the public module re-exports them).
SEAM = {"__init__.py", "base.py", "sqltext.py"}
ENGINE_MODULES = sorted(p for p in (PACKAGE / "engines").glob("*.py") if p.name not in SEAM)


@pytest.mark.parametrize("path", ENGINE_MODULES, ids=lambda p: p.name)
def test_an_engine_imports_only_the_public_engine_module(path):
    """Issue 20: a built-in engine is written as a plug-in would be: of sqlnb it imports only
    `sqlnb.engine` (everything an engine author needs), `sqlnb.errors` and its own modules,
    never the control plane's private modules (`sqlnb._task`, `sqlnb._control` ...)."""
    own = {f"sqlnb.engines.{p.stem}" for p in ENGINE_MODULES}
    allowed = {"sqlnb.engine", "sqlnb.errors"} | own
    imported = _sqlnb_imports(path.read_text(), path)
    assert imported <= allowed, f"{path.name} imports {sorted(imported - allowed)}"


#: The control plane: every module that knows no engine (the engines live in sqlnb/engines/).
CONTROL_PLANE = sorted(p for p in PACKAGE.rglob("*.py") if "engines" not in p.parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", CONTROL_PLANE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_control_plane_imports_no_engine(path):
    """Only sqlnb/engines/ talks to sqlite3, duckdb or pyspark; errors.py too is neutral (an
    engine gives sqlnb's errors its own bases: Backend.error_bases)."""
    engines = _imports(path) & {"sqlite3", "duckdb", "pyspark"}
    engines -= OWN_FILES.get(path.name, set())
    assert engines == set(), f"{path.name} imports {engines}"


#: Modules that keep a file of sqlnb's own in a format an engine also reads: not a database of
#: the user's (the query history's file is SQLite, as issue 22 asks, written with sqlite3)
OWN_FILES = {"history.py": {"sqlite3"}}


def test_an_engine_not_used_is_never_imported():
    """`import sqlnb` and a SQLite Database never import DuckDB (blocked here: it would fail)."""
    code = (
        "import sys\n"
        "sys.modules['duckdb'] = None\n"
        "sys.modules['pyarrow'] = None\n"
        "import sqlnb\n"
        "assert not any(m.startswith('sqlnb.engines.sqlite') for m in sys.modules)\n"
        "with sqlnb.connect() as db:\n"
        "    print(db.engine, db.query('SELECT 6 * 7 AS x')['x'][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["sqlite", "42"]
