"""read_only=True means the Database writes nothing, anywhere (issue 19, findings 12 and 13).

SQLite: a `file:` URI's own `mode=` cannot make a read-only Database writable, and no statement
writes another file: an ATTACH opens a file read-only only, VACUUM INTO is refused; TEMP tables,
the session's scratch, still work. DuckDB: the file and every file attached to it are opened
read-only by DuckDB, and sqlnb refuses what would write a file all the same (COPY ... TO, EXPORT
DATABASE, an ATTACH ... (READ_WRITE), settings that send logs or profiles to a file, a secret
stored on disk). Each statement is tried on every path it can reach the engine by, and the
folder is compared file by file before and after.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from IPython.core.error import UsageError as IPythonUsageError

import sqlnb
from sqlnb.ipython.magics import SqlCellError


def files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (names relative to it) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.db"
    with sqlnb.connect(path, wal=False) as setup:
        setup.write("CREATE TABLE t (x INTEGER)")
        setup.write("INSERT INTO t VALUES (1), (2)")
    return path


# -- 12: a URI's own mode -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["rw", "rwc"])
def test_a_uri_that_asks_to_write_is_refused_with_read_only(sqlite_file, mode):
    folder = sqlite_file.parent
    before = files(folder)
    for target in (f"file:{sqlite_file}?mode={mode}", f"file:{folder / 'new.db'}?mode={mode}",
                   f"file:{sqlite_file}?cache=private&mode={mode}"):
        with pytest.raises(sqlnb.UsageError, match=f"mode={mode}.*read_only=True"):
            sqlnb.connect(target, read_only=True)
    assert files(folder) == before  # nothing written, new.db not created


def test_a_uri_for_memory_cannot_be_read_only():
    with pytest.raises(sqlnb.UsageError, match=r"mode=memory.*read_only=True"):
        sqlnb.connect("file:scratch?mode=memory&cache=shared", read_only=True)


def test_a_uri_with_mode_ro_is_a_read_only_database(sqlite_file):
    data = sqlite_file.read_bytes()
    with sqlnb.connect(f"file:{sqlite_file}?mode=ro") as db:
        assert db.read_only
        assert db.query("SELECT count(*) AS n FROM t")["n"][0] == 2
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.write("INSERT INTO t VALUES (3)")
        with pytest.raises(sqlnb.UsageError, match="read-only"):
            db.write(f"VACUUM INTO '{sqlite_file.parent / 'copy.db'}'")
    assert sqlite_file.read_bytes() == data
    assert not (sqlite_file.parent / "copy.db").exists()


def test_the_magic_refuses_a_uri_that_would_create_the_file(shell, tmp_path):
    target = f"file:{tmp_path / 'new.db'}?mode=rwc"
    with pytest.raises((SqlCellError, IPythonUsageError), match="read"):
        shell.run_line_magic("sqlnb", f"connect {target} --read-only")
    assert list(tmp_path.iterdir()) == []


# -- 13: SQLite writes no other file ------------------------------------------------------------
def _sqlite_paths(db: sqlnb.Database, sql: str) -> list:
    """Every way one statement reaches the engine: the Database's calls and write functions."""
    return [
        lambda: db.write(sql),
        lambda: db.query(sql),
        lambda: db.write_script(sql),
        lambda: asyncio.run(db.execute(sql)),
        lambda: asyncio.run(db.execute_write_fn(lambda conn: conn.execute(sql))),
        lambda: asyncio.run(db.execute_write_fn(lambda conn: conn.execute(sql),
                                                transaction=False)),
        lambda: asyncio.run(db.execute_write_fn(lambda conn: conn.execute(sql),
                                                isolated_connection=True)),
        lambda: asyncio.run(db.execute_fn(lambda conn: conn.execute(sql).fetchall())),
    ]


@pytest.mark.parametrize("threads", [2, 0])
@pytest.mark.parametrize("statement", [
    "ATTACH '{folder}/new.db' AS n",
    "ATTACH 'file:{folder}/new.db?mode=rwc' AS n",
    "ATTACH 'file:{folder}/new.db?mode=ro&mode=rwc' AS n",
    "ATTACH '{folder}/other.db' AS n",  # an existing file: it would be opened writable
    "ATTACH '{folder}/' || 'new.db' AS n",  # a name SQLite computes: not checkable, refused
    "VACUUM INTO '{folder}/copy.db'",
    "VACUUM main INTO '{folder}/copy.db'",
])
def test_sqlite_read_only_writes_no_other_file(sqlite_file, statement, threads):
    folder = sqlite_file.parent
    (folder / "other.db").write_bytes(b"")  # an existing file, empty
    sql = statement.format(folder=folder)
    before = files(folder)
    with sqlnb.connect(sqlite_file, read_only=True, threads=threads) as db:
        for attempt in _sqlite_paths(db, sql):
            with pytest.raises((sqlnb.UsageError, sqlite3.DatabaseError)) as caught:
                attempt()
            # sqlnb's refusal, or SQLite's own (no VACUUM inside execute_write_fn's transaction)
            assert "read-only" in str(caught.value) or "within a transaction" in str(
                caught.value)
            assert files(folder) == before, sql
        # a statement refused says why, and what to do instead
        with pytest.raises(sqlnb.UsageError) as caught:
            db.write(sql)
        message = str(caught.value)
        assert "read-only" in message
        assert ("mode=ro" in message) if "ATTACH" in sql else ("copy" in message)
        assert db.query("SELECT count(*) AS n FROM t")["n"][0] == 2  # and it goes on
        assert "n" not in set(db.query("PRAGMA database_list")["name"])
    assert files(folder) == before


def test_sqlite_read_only_attaches_read_only_and_keeps_temp_tables(sqlite_file):
    folder = sqlite_file.parent
    with sqlnb.connect(folder / "other.db", wal=False) as other:
        other.write("CREATE TABLE o (y)")
        other.write("INSERT INTO o VALUES ('kept')")
    before = files(folder)
    with sqlnb.connect(sqlite_file, read_only=True) as db:
        db.write(f"ATTACH 'file:{folder / 'other.db'}?mode=ro' AS o")
        assert db.query("SELECT y FROM o.o")["y"].tolist() == ["kept"]  # a reader sees it
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.write("INSERT INTO o.o VALUES ('no')")
        db.write("ATTACH ':memory:' AS scratch")  # memory: no file
        db.write("CREATE TABLE scratch.s (z)")
        db.write("CREATE TEMP TABLE notes (n)")
        db.write("INSERT INTO notes VALUES (1)")
        assert db.query("SELECT count(*) AS n FROM notes")["n"][0] == 1
        db.write("DETACH o")
    assert files(folder) == before


def test_a_writable_sqlite_database_still_attaches_and_copies(sqlite_file):
    folder = sqlite_file.parent
    with sqlnb.connect(sqlite_file) as db:
        db.write(f"ATTACH '{folder / 'new.db'}' AS n")
        db.write("CREATE TABLE n.z (x)")
        db.write(f"VACUUM INTO '{folder / 'copy.db'}'")
    assert (folder / "new.db").stat().st_size > 0
    assert (folder / "copy.db").stat().st_size > 0


# -- 13: DuckDB writes no file ------------------------------------------------------------------
duckdb = pytest.importorskip("duckdb")


@pytest.fixture
def duckdb_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.duckdb"
    with sqlnb.connect(path) as setup:
        setup.write("CREATE TABLE t AS SELECT range AS x FROM range(2)")
    with sqlnb.connect(tmp_path / "other.duckdb") as other:
        other.write("CREATE TABLE o AS SELECT 'kept' AS y")
    return path


DUCKDB_REFUSED = [
    "COPY t TO '{folder}/out.csv'",
    "COPY (SELECT 1) TO '{folder}/out.parquet' (FORMAT parquet)",
    "COPY t FROM '{folder}/in.csv'",
    "EXPORT DATABASE '{folder}/exported'",
    "ATTACH '{folder}/other.duckdb' AS o (READ_WRITE)",
    "ATTACH '{folder}/other.duckdb' AS o (READ_ONLY false)",
    "SET log_query_path = '{folder}/queries.log'",
    "SET profiling_output = '{folder}/profile.json'",
    "PRAGMA profiling_output = '{folder}/profile.json'",
    "CALL enable_logging(storage = 'file', storage_path = '{folder}/logs')",
    "SELECT * FROM enable_logging(storage = 'file', storage_path = '{folder}/logs')",
    "SET default_secret_storage = 'local_file'",
    "CREATE PERSISTENT SECRET sqlnb_test_secret (TYPE http, BEARER_TOKEN 'x')",
    "CREATE OR REPLACE PERSISTENT SECRET sqlnb_test_secret (TYPE http, BEARER_TOKEN 'x')",
    "CREATE SECRET sqlnb_test_secret IN local_file (TYPE http, BEARER_TOKEN 'x')",
]


def _duckdb_paths(db: sqlnb.Database, sql: str) -> list:
    return [
        lambda: db.write(sql),
        lambda: db.query(sql),
        lambda: db.write_script(f"SELECT 1; {sql}"),
        lambda: db.submit(sql).result(),
        lambda: asyncio.run(db.execute(sql)),
        lambda: asyncio.run(db.execute_write_fn(lambda conn: conn.execute(sql))),
        lambda: asyncio.run(db.execute_write_fn(lambda conn: conn.execute(sql),
                                                transaction=False)),
        lambda: asyncio.run(db.execute_write_fn(lambda conn: conn.sql(sql), transaction=False)),
        lambda: asyncio.run(db.execute_fn(lambda conn: conn.execute(sql).fetchall())),
    ]


@pytest.mark.parametrize("statement", DUCKDB_REFUSED)
def test_duckdb_read_only_writes_no_file(duckdb_file, statement):
    folder = duckdb_file.parent
    (folder / "in.csv").write_text("x\n5\n")
    secrets = Path.home() / ".duckdb" / "stored_secrets"
    stored = sorted(secrets.glob("*")) if secrets.exists() else []
    sql = statement.format(folder=folder)
    before = files(folder)
    try:
        with sqlnb.connect(duckdb_file, read_only=True) as db:
            for attempt in _duckdb_paths(db, sql):
                with pytest.raises(sqlnb.UsageError, match="read-only"):
                    attempt()
            with pytest.raises(sqlnb.UsageError) as caught:
                db.write(sql)
            assert "read_only=True" in str(caught.value)
            assert db.query("SELECT count(*) AS n FROM t")["n"][0] == 2
        assert files(folder) == before
        assert (sorted(secrets.glob("*")) if secrets.exists() else []) == stored
    finally:  # a secret this test made, if it was not refused, goes
        for made in secrets.glob("sqlnb_test_secret*") if secrets.exists() else []:
            made.unlink()


def test_duckdb_read_only_still_reads_files_and_attaches_read_only(duckdb_file):
    folder = duckdb_file.parent
    (folder / "in.csv").write_text("x\n5\n")
    before = files(folder)
    with sqlnb.connect(duckdb_file, read_only=True) as db:
        assert db.query(f"SELECT x FROM read_csv('{folder / 'in.csv'}')")["x"].tolist() == [5]
        db.write(f"ATTACH '{folder / 'other.duckdb'}' AS o")
        assert db.query("SELECT y FROM o.o")["y"].tolist() == ["kept"]
        with pytest.raises(duckdb.Error, match=r"read-only|read only"):
            db.write("INSERT INTO o.o VALUES ('no')")
        with pytest.raises(duckdb.Error):
            db.write(f"ATTACH '{folder / 'new.duckdb'}' AS n")
        db.write("CREATE TEMP TABLE notes AS SELECT 1 AS n")
        assert db.query("SELECT count(*) AS c FROM notes")["c"][0] == 1
        db.write("SET threads = 2")
        # a column that happens to share a setting's name is just a column
        assert db.query("SELECT 1 AS profiling_output, 2 AS storage_path").shape == (1, 2)
    assert files(folder) == before


def test_a_writable_duckdb_database_still_copies(duckdb_file):
    folder = duckdb_file.parent
    with sqlnb.connect(duckdb_file) as db:
        db.write(f"COPY t TO '{folder / 'out.csv'}'")
        db.write(f"EXPORT DATABASE '{folder / 'exported'}'")
    assert (folder / "out.csv").read_text().split() == ["x", "0", "1"]
    assert (folder / "exported").is_dir()


def test_the_magic_says_why_a_read_only_duckdb_refuses(shell, duckdb_file):
    shell.run_line_magic("sqlnb", f"connect {duckdb_file} --read-only --as ro")
    try:
        with pytest.raises((SqlCellError, IPythonUsageError), match="read-only"):
            shell.run_cell_magic("sql", "", f"COPY t TO '{duckdb_file.parent / 'out.csv'}'")
        assert not (duckdb_file.parent / "out.csv").exists()
    finally:
        shell.run_line_magic("sqlnb", "close ro")
