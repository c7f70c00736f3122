"""The public names are the ones meant, each documented, and the engine stands without IPython."""

from __future__ import annotations

import inspect
import subprocess
import sys

import sqlnb

EXPECTED = {
    "BackgroundWriteError", "Database", "DatabaseClosed", "Error", "Options", "Progress",
    "QueryCancelled", "QueryHandle", "QueryInterrupted", "QueryTimeout", "Result",
    "TransactionRolledBack", "UsageError", "View",
    "__version__", "connect", "options", "redact",
}


def test_exports_are_the_ones_meant():
    assert set(sqlnb.__all__) == EXPECTED
    for name in sqlnb.__all__:
        assert hasattr(sqlnb, name), name


def _public_members(obj):
    for name, member in inspect.getmembers(obj):
        if not name.startswith("_"):
            yield name, member


def test_every_public_call_has_a_docstring_and_type_hints():
    missing = []
    for name in sqlnb.__all__:
        obj = getattr(sqlnb, name)
        if name.startswith("__") or not (inspect.isclass(obj) or callable(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for member_name, member in _public_members(obj):
                if inspect.isfunction(member) or isinstance(member, property):
                    if not inspect.getdoc(member):
                        missing.append(f"{name}.{member_name}")
                    if inspect.isfunction(member):
                        hints = inspect.signature(member)
                        if hints.return_annotation is inspect.Signature.empty:
                            missing.append(f"{name}.{member_name} (return type)")
    assert missing == []


def test_the_error_tree():
    """Issue 20: the tree is engine-neutral; SQLite's flavour of it is also sqlite3's."""
    import sqlite3

    from sqlnb.engines.sqlite import SQLiteBackend
    from sqlnb.errors import flavour

    assert issubclass(sqlnb.QueryTimeout, sqlnb.QueryInterrupted)
    assert issubclass(sqlnb.QueryCancelled, sqlnb.QueryInterrupted)
    assert not issubclass(sqlnb.QueryInterrupted, sqlite3.Error)
    assert not issubclass(sqlnb.DatabaseClosed, sqlite3.Error)
    assert issubclass(sqlnb.UsageError, ValueError)
    for error in (sqlnb.QueryInterrupted, sqlnb.DatabaseClosed, sqlnb.UsageError,
                  sqlnb.BackgroundWriteError, sqlnb.TransactionRolledBack):
        assert issubclass(error, sqlnb.Error)
    on_sqlite = flavour(sqlnb.QueryTimeout, SQLiteBackend.error_bases)
    assert on_sqlite.__name__ == "QueryTimeout" and flavour(on_sqlite, {}) is sqlnb.QueryTimeout
    assert issubclass(on_sqlite, sqlnb.QueryTimeout)
    assert issubclass(on_sqlite, sqlite3.OperationalError)
    assert on_sqlite is flavour(sqlnb.QueryTimeout, SQLiteBackend.error_bases)  # made once
    assert issubclass(flavour(sqlnb.DatabaseClosed, SQLiteBackend.error_bases),
                      sqlite3.ProgrammingError)
    assert flavour(sqlnb.UsageError, SQLiteBackend.error_bases) is sqlnb.UsageError


def test_the_engine_module_holds_what_an_engine_author_needs():
    """Issue 20: sqlnb.engine is the one public module for engine authors: each name it
    exports is there and documented."""
    import sqlnb.engine as engine

    for name in ("Backend", "Link", "Stopped", "note", "SmallFrame", "PREVIEW_ROWS", "Catalog",
                 "Result", "rows_to_dataframe", "ArrowFrameBuilder", "Control", "UsageError",
                 "annotate", "split", "Statement", "Secret", "redact"):
        assert name in engine.__all__, name
    for name in engine.__all__:
        value = getattr(engine, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name


def test_engine_imports_and_runs_without_ipython_or_widgets():
    code = (
        "import sys\n"
        "for name in ('IPython', 'ipywidgets', 'ipykernel', 'traitlets'):\n"
        "    sys.modules[name] = None\n"
        "import sqlnb\n"
        "assert 'pandas' not in sys.modules, 'pandas is imported only when a frame is built'\n"
        "with sqlnb.connect() as db:\n"
        "    db.write('CREATE TABLE t (x)')\n"
        "    db.write('INSERT INTO t VALUES (1)')\n"
        "    print(db.query('SELECT x FROM t')['x'][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
