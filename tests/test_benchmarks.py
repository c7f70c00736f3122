"""The benchmark suite's data builders work on a machine that has never built them (a fresh clone:
no benchmarks/.data/), with the DuckDB this project installs. `.ci/run` also runs the whole
suite with --quick as a smoke test; these are the quick, precise half of that."""

from __future__ import annotations

import sqlite3
import types

import duckdb
import pytest

from benchmarks import data


@pytest.fixture
def fresh_data_dir(tmp_path, monkeypatch):
    """benchmarks/.data/ as on a fresh clone: a folder that does not exist yet."""
    folder = tmp_path / "data"
    monkeypatch.setattr(data, "DATA_DIR", folder)
    return folder


def test_duckdb_file_builds_on_a_fresh_clone(fresh_data_dir, capsys):
    path = data.duckdb_file(1000)
    assert path.parent == fresh_data_dir
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT id), count(a) FROM t").fetchone() == (
            1000, 1000, 900)  # a tenth of `a` is NULL
        kinds = [kind.id for kind in con.sql("SELECT * FROM t").types]
    finally:
        con.close()
    assert kinds == ["bigint", "bigint", "ubigint", "double", "varchar"]
    assert "built" in capsys.readouterr().out
    # the file is reused, not built again
    built = path.stat().st_mtime_ns
    assert data.duckdb_file(1000) == path
    assert path.stat().st_mtime_ns == built
    assert "building" not in capsys.readouterr().out


@pytest.mark.parametrize("contender", ["duckdb db.query", "duckdb stream"])
def test_the_memory_child_reads_every_row(fresh_data_dir, contender):
    """The DuckDB peaks come with DuckDB's cache after the read; `stream` (DuckDB's stream of
    the result alone, each batch dropped) reads every row too, so its peak is a whole read's."""
    from benchmarks.subproc import run_once

    path = data.duckdb_file(100_000)
    reply = run_once("benchmarks.children.memory", contender, str(path), "SELECT * FROM t")
    assert reply["rows"] == 100_000
    assert reply["engine_mb"] > 0  # the table's blocks, in DuckDB's cache after the read
    assert reply["peak_mb"] >= reply["start_mb"]
    assert ("frame_mb" in reply) == (contender == "duckdb db.query")


def test_sqlite_file_builds_on_a_fresh_clone(fresh_data_dir):
    path = data.table_file(500)
    assert path.parent == fresh_data_dir
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*), sum(d IS NULL) > 0 FROM t").fetchone() == (500, 1)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert data.table_file(500) == path


def test_flights_file_builds_on_a_fresh_clone(fresh_data_dir):
    """The explorer benchmark's flights table: nycflights13's columns, NULLs where the original
    has them, the same rows on every machine."""
    path = data.flights_file(2000)
    assert path.parent == fresh_data_dir
    conn = sqlite3.connect(path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(flights)")]
        counts = conn.execute("SELECT count(*), count(dep_time) < count(*), "
                              "count(tailnum) < count(*), count(DISTINCT origin) "
                              "FROM flights").fetchone()
        first = conn.execute("SELECT * FROM flights LIMIT 1").fetchone()
    finally:
        conn.close()
    assert len(columns) == 19 and columns[:3] == ["year", "month", "day"]
    assert columns[-1] == "time_hour" and counts == (2000, 1, 1, 3)
    assert data.flights_file(2000) == path
    assert next(data._flights(1)) == first  # seeded: built alike everywhere


def test_the_browser_benchmark_says_so_without_chromium(monkeypatch):
    """Without a browser the explorer's browser section measures nothing and says why."""
    from benchmarks import explorer

    from . import lab_server

    monkeypatch.setattr(lab_server, "CHROMIUM", "/nonexistent/chromium")
    case = explorer.browser_memory(1)
    assert not case.tables and not case.targets
    assert any("no chromium" in note for note in case.notes)


def _case(name: str, run):
    """A stand-in benchmark case module."""
    return types.SimpleNamespace(ID=name, TITLE=f"the {name} case", run=run)


def _measured(contenders):
    from benchmarks.report import CaseResult, Table
    from benchmarks.runner import round_robin

    result = CaseResult("fake", "the fake case")
    result.tables.append(Table("figures", "s", round_robin(contenders, 1, warmup=0)))
    return result


@pytest.mark.parametrize("how", ["the case raises", "a contender raises"])
def test_the_suite_fails_when_a_case_or_contender_breaks(fresh_data_dir, monkeypatch, capsys,
                                                         how):
    """`.ci/run` runs `python -m benchmarks --quick` as a smoke test: a case that crashes, or a
    contender of it that raises (sqlnb failing under load, say), must fail it; a target missed
    or a peer not installed must not."""
    from benchmarks import __main__ as suite
    from benchmarks.report import compare
    from benchmarks.runner import Contender

    def broken() -> float:
        raise RuntimeError("boom")

    def run(ctx):
        if how == "the case raises":
            raise RuntimeError("boom")
        return _measured([Contender("fine", lambda: 1.0), Contender("broken", broken)])

    def slow(ctx):
        result = _measured([Contender("fine", lambda: 2.0, "baseline")])
        result.targets.append(compare("fine / fine", 2.0, "<=", 1))  # a MISS
        return result

    monkeypatch.setattr(suite, "CASES", {"fake": _case("fake", run), "slow": _case("slow", slow)})
    assert suite.main(["--quick", "--only", "slow"]) == 0  # a MISS alone fails nothing
    assert suite.main(["--quick", "--only", "fake", "slow"]) == 1
    out = capsys.readouterr().out
    assert "boom" in out
    assert ("cases that crashed: fake" if how == "the case raises"
            else "contenders that raised: fake: broken") in out


def test_the_postgres_case_says_so_without_a_server(fresh_data_dir, monkeypatch):
    """Without PostgreSQL's server programs the postgres case measures nothing and says why;
    it neither crashes nor fails the suite (CI installs them, so there it runs)."""
    from benchmarks import __main__ as suite
    from benchmarks.cases import postgres
    from tests import pg_server

    monkeypatch.setattr(pg_server, "find_bindir", lambda: None)
    ctx = suite.Context(quick=True, rows=10, table=fresh_data_dir / "t.db",
                        scratch=fresh_data_dir)
    result = suite.run_case("postgres", ctx)
    assert result.error is None and not result.tables and not result.targets
    assert any("no PostgreSQL server programs" in note for note in result.notes)
    assert postgres.ID in suite.CASES
