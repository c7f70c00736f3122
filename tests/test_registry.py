"""Issue 20: the registry of engines. A target picks its engine by scheme, then suffix, else
SQLite; each engine describes itself (its class), a built-in one is imported only when a target
needs it, a plug-in registers itself, and each engine checks its own connect options."""

from __future__ import annotations

import pathlib
import sqlite3
import warnings

import pytest
from IPython.core.error import UsageError as IPythonUsageError

import sqlnb
from sqlnb import engine
from sqlnb.engines import BUILT_IN

from .helpers import sqlnb_threads


class _Fake(engine.Backend):
    """An engine that is never opened: its description is all a registry test needs."""

    name = "fake"
    title = "Fake"
    schemes = ("fake",)
    suffixes = (".fake",)
    example = "fake://anything"


def _fake(**description: object) -> type[engine.Backend]:
    return type("Other", (_Fake,), {"__doc__": "another fake", **description})


@pytest.fixture
def fake():
    engine.register(_Fake)
    yield _Fake
    engine.unregister("fake")


def test_each_built_in_entry_says_what_its_class_says():
    """The registry knows a built-in engine without importing it; once imported, its class
    must say the same (a test, so that the two never drift apart)."""
    for entry in BUILT_IN:
        backend = engine.engine_named(entry.name)
        assert (backend.name, backend.title, backend.schemes, backend.suffixes,
                backend.example, backend.extra) == (entry.name, entry.title, entry.schemes,
                                                    entry.suffixes, entry.example, entry.extra)
        assert tuple(option.name for option in backend.options) == entry.options
        assert backend.secret_env_option in (None, *entry.options)


@pytest.mark.parametrize(("target", "name"), [
    (None, "sqlite"), (":memory:", "sqlite"), ("data.db", "sqlite"), ("file:data.db", "sqlite"),
    ("file:///tmp/data.db", "sqlite"), ("sqlite://", "sqlite"), ("SQLite:///data.db", "sqlite"),
    ("sqlite+pysqlite:///data.db", "sqlite"), (pathlib.Path("DATA.DDB"), "duckdb"),
    ("duckdb://", "duckdb"), ("x/data.duckdb", "duckdb"), ("C:\\data\\x.duckdb", "duckdb"),
    ("sc://host:15002", "spark"), ("spark:local[2]", "spark"),
    (engine.Secret("sc://host:15002/;token=abc"), "spark"), ("notes:2024.db", "sqlite"),
    ("postgresql://me@db.example.com/shop", "postgres"), ("POSTGRES://localhost", "postgres"),
    (engine.Secret("postgresql://me:pw@host/db"), "postgres"),
])
def test_a_target_picks_its_engine_by_scheme_then_suffix_else_sqlite(target, name):
    assert engine.engine_for(target).name == name


def test_a_url_no_engine_opens_names_its_scheme_and_the_engines(fake):
    with pytest.raises(sqlnb.UsageError) as error:
        sqlnb.connect("mysql://analyst:s3cret@db.example.com/shop")
    text = str(error.value)
    assert text.startswith("sqlnb opens no mysql:// databases")
    assert "Fake (fake://anything)" in text and "DuckDB (duckdb:///" in text
    assert "s3cret" not in text and "analyst" not in text and "example.com" not in text


def test_a_second_engine_on_a_taken_name_scheme_or_suffix_is_an_error(fake):
    assert engine.register(_Fake) is _Fake  # the same class again: nothing changes
    with pytest.raises(sqlnb.UsageError, match="the scheme duckdb: is DuckDB's already"):
        engine.register(_fake(name="other", schemes=("duckdb",), suffixes=()))
    with pytest.raises(sqlnb.UsageError, match=r"the suffix \.fake is Fake's already"):
        engine.register(_fake(name="other", schemes=("other",)))
    with pytest.raises(sqlnb.UsageError, match="an engine named 'sqlite' is registered"):
        engine.register(_fake(name="sqlite", schemes=("other",), suffixes=()))
    with pytest.raises(sqlnb.UsageError, match="a scheme is lower case"):
        engine.register(_fake(name="other", schemes=("Bad:",), suffixes=()))
    with pytest.raises(sqlnb.UsageError, match="Backend subclass"):
        engine.register(object)  # type: ignore[arg-type]
    with pytest.raises(sqlnb.UsageError, match="one of sqlnb's own engines"):
        engine.unregister("duckdb")
    assert engine.engine_for("x.fake") is _Fake


def test_each_engine_checks_its_own_options(tmp_path):
    with pytest.raises(sqlnb.UsageError) as error:
        sqlnb.connect("duckdb://", wal=False)
    assert str(error.value) == "wal is an option of SQLite, not of DuckDB; DuckDB takes: (none)"
    with pytest.raises(sqlnb.UsageError, match="SQLite has no option wall; SQLite takes: "
                                               "busy_timeout, wal"):
        sqlnb.connect(tmp_path / "a.db", wall=False)
    with pytest.raises(sqlnb.UsageError, match="busy_timeout takes a number, not 'soon'"):
        sqlnb.connect(tmp_path / "a.db", busy_timeout="soon")
    with pytest.raises(sqlnb.UsageError, match="busy_timeout must be more than 0"):
        sqlnb.connect(tmp_path / "a.db", busy_timeout=-1)
    with sqlnb.connect(tmp_path / "b.db", wal="false", busy_timeout="2.5") as db:  # as text
        assert db.query("PRAGMA journal_mode")["journal_mode"][0] != "wal"
    with sqlnb.connect(tmp_path / "c.db") as db:
        assert db.query("PRAGMA journal_mode")["journal_mode"][0] == "wal"
    assert sqlnb_threads() == set()


def test_connect_path_keyword_still_opens_with_a_deprecation_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match="connect\\(target="):
        db = sqlnb.connect(path=tmp_path / "old.db")
    with db:
        assert db.path.endswith("old.db")
    with pytest.raises(sqlnb.UsageError, match="give the target once"):
        sqlnb.connect(tmp_path / "a.db", path=tmp_path / "b.db")


def test_a_file_uri_with_slashes_opens_sqlite(tmp_path):
    with sqlnb.connect(f"file://{tmp_path}/uri.db") as db:
        db.write("CREATE TABLE t (x)")
    with sqlite3.connect(tmp_path / "uri.db") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_sqlnb_connect_passes_an_engines_options(shell, tmp_path, capsys):
    shell.run_line_magic("sqlnb", f"connect {tmp_path / 'o.db'} --option wal=false "
                                  "--option busy_timeout=2")
    assert "connected: o (" in capsys.readouterr().out
    frame = shell.run_line_magic("sql", "PRAGMA journal_mode")
    assert frame["journal_mode"][0] != "wal"
    with pytest.raises(Exception, match="wal is an option of SQLite, not of DuckDB"):
        shell.run_line_magic("sqlnb", f"connect {tmp_path / 'o.duckdb'} --option wal=false")
    with pytest.raises(IPythonUsageError, match="NAME=VALUE"):
        shell.run_line_magic("sqlnb", f"connect {tmp_path / 'p.db'} --option wal")
    for flag in ("--secret-env", "--token-env", "--password-env"):
        with pytest.raises(IPythonUsageError, match="SQLite reads none from the environment"):
            shell.run_line_magic("sqlnb", f"connect {tmp_path / 'p.db'} {flag} HOME")
    with pytest.raises(IPythonUsageError, match="give the variable once"):
        shell.run_line_magic("sqlnb", "connect postgresql://me@h/db --secret-env A "
                                      "--password-env B")


def test_the_magics_name_a_connection_as_its_engine_says(shell, tmp_path, capsys, fake):
    """A URL of a registered engine is a target for %sql too (here one that cannot open)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(IPythonUsageError, match="line of its own"):
            shell.run_cell_magic("sql", "fake://x", "SELECT 1")
    shell.run_line_magic("sql", f"sqlite:///{tmp_path / 'named.db'}")
    assert f"connected: named ({tmp_path / 'named.db'}) on SQLite" in capsys.readouterr().out
