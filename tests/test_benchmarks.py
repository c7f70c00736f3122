"""The benchmark suite's data builders work on a machine that has never built them (a fresh clone:
no benchmarks/.data/), with the DuckDB this project installs. `.ci/run` also runs the whole
suite with --quick as a smoke test; these are the quick, precise half of that."""

from __future__ import annotations

import sqlite3

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
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (1000, 1000)
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
