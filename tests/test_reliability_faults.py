"""Faults: close() under load, the process exiting or terminated, cancels and time limits at random
moments, bad files and folders, a big table, a full disk.

- close() while reads and writes run or wait, called from another thread or from inside a running
  asyncio event loop: nothing hangs, every caller gets its result or sqlnb.DatabaseClosed, and
  every acknowledged write is in the file.
- A process that queued writes with block=False and exits (sys.exit, or a SIGTERM handler that
  exits, as a kernel shuts down) commits them all, promptly, even with a read running forever; one
  killed by SIGTERM's default action leaves only whole writes (a write_many's rows all or none).
- Cancel, task cancellation and the time limit, at seeded random moments, of a big INSERT ...
  SELECT, of a multi-statement write_script, and of a chunked read: the file is always in the
  state before or after the whole write (after exactly when the call succeeded), no transaction
  is left open, and the Database goes on serving.
- A file of random bytes, a text file, a database with corrupt pages, a path in a missing folder,
  a read-only folder (as root, where the folder's mode does not stop writes, what holds instead:
  writes there work, and read_only=True still refuses them), a table far bigger than the memory
  a chunked read uses, and a file size limit (PRAGMA max_page_count) that fills up: each gives a
  clear error of a documented type, loses nothing committed, and leaves the Database serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import sqlnb

from .helpers import FOREVER, WAIT, committed, sqlnb_threads, wait_for

#: The names sqlnb's threads may have while a Database with 3 readers is open.
SQLNB_NAMES = {"sqlnb-read-0", "sqlnb-read-1", "sqlnb-read-2", "sqlnb-writer", "sqlnb-timer"}



def assert_serving(db: sqlnb.Database) -> None:
    """No transaction left open on the writer, and the Database still reads and writes."""
    with contextlib.suppress(sqlnb.BackgroundWriteError):
        db.flush()
    assert not db._dispatch.writer_link.in_transaction
    before = db.query("SELECT count(*) AS n FROM probe")["n"][0]
    db.write("INSERT INTO probe (x) VALUES (1)")
    assert db.submit("SELECT count(*) FROM probe").result(WAIT).single_value() == before + 1
    assert asyncio.run(db.execute("SELECT count(*) FROM probe")).single_value() == before + 1
    assert {t.name for t in sqlnb_threads()} <= SQLNB_NAMES


@pytest.fixture
def baseline():
    before = sqlnb_threads()
    yield
    assert {t.name for t in sqlnb_threads() - before} == set()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "faults.db"
    with sqlnb.connect(file) as setup:
        setup.write("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)")
        setup.write("CREATE TABLE batch (key INTEGER, part INTEGER)")
        setup.write("CREATE TABLE probe (x)")
    return file


# -- close() under load -------------------------------------------------------------------------

class Load:
    """Threads calling every kind of read and write until the Database is closed under them."""

    BATCH = 4

    def __init__(self, db: sqlnb.Database) -> None:
        self.db = db
        self.lock = threading.Lock()
        self.acked: set[int] = set()  # ids of writes whose call returned
        self.refused: set[int] = set()  # ids of writes that raised DatabaseClosed
        self.batches: set[int] = set()
        self.refused_batches: set[int] = set()
        self.handles: list[tuple[int, sqlnb.QueryHandle]] = []
        self.unexpected: list[BaseException] = []
        self.closed_seen = 0
        self.results = 0

    def run(self, worker: int, kind: str) -> None:
        db = self.db
        for key in range(worker * 100_000, worker * 100_000 + 5000):
            try:
                if kind == "write":
                    db.write("INSERT INTO t (id, who) VALUES (?, 'write')", (key,))
                    with self.lock:
                        self.acked.add(key)
                elif kind == "write_many":
                    db.write_many("INSERT INTO batch (key, part) VALUES (?, ?)",
                                  [(key, p) for p in range(self.BATCH)])
                    with self.lock:
                        self.batches.add(key)
                elif kind == "nowait":
                    handle = db.write("INSERT INTO t (id, who) VALUES (?, 'nowait')", (key,),
                                      block=False)
                    with self.lock:
                        self.handles.append((key, handle))
                    if key % 20 == 19:
                        handle.exception(WAIT)  # keep pace with the writer
                elif kind == "query":
                    db.query("SELECT count(*) AS n FROM t")
                elif kind == "forever":
                    db.submit(FOREVER, time_limit=math.inf).result(WAIT * 2)
                    raise AssertionError("a read that never ends ended")
                elif kind == "chunks":
                    for _chunk in db.iter_chunks(
                            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                            "LIMIT 20000) SELECT x FROM c", chunk_rows=500):
                        pass
                with self.lock:
                    self.results += 1
            except sqlnb.DatabaseClosed:
                with self.lock:
                    self.closed_seen += 1
                    if kind == "write":
                        self.refused.add(key)
                    elif kind == "write_many":
                        self.refused_batches.add(key)
                return
            except BaseException as error:
                with self.lock:
                    self.unexpected.append(error)
                return

    def check(self, path: Path) -> None:
        assert self.unexpected == [], self.unexpected
        ids = dict(committed(path, "SELECT id, who FROM t"))
        lost = self.acked - set(ids)
        assert not lost, f"acknowledged writes lost: {sorted(lost)[:5]}"
        assert not self.refused & set(ids), "a write that raised DatabaseClosed was applied"
        parts = dict(committed(path, "SELECT key, count(*) FROM batch GROUP BY key"))
        assert all(n == self.BATCH for n in parts.values()), "a write_many was cut in two"
        assert self.batches <= set(parts)
        assert not self.refused_batches & set(parts)
        for key, handle in self.handles:
            assert handle.done(), f"a queued write never finished: {handle!r}"
            error = handle.exception(0)
            if error is None:
                assert ids.get(key) == "nowait"
            else:
                assert isinstance(error, sqlnb.DatabaseClosed), repr(error)
                assert key not in ids


KINDS = ["write", "write", "write_many", "nowait", "query", "forever", "chunks", "query"]


def test_close_from_another_thread_while_reads_and_writes_run(path, baseline):
    db = sqlnb.connect(path, time_limit=WAIT * 2)
    load = Load(db)
    workers = [threading.Thread(target=load.run, args=(w, kind)) for w, kind in enumerate(KINDS)]
    for worker in workers:
        worker.start()
    wait_for(lambda: len(load.acked) > 50 and len(load.batches) > 10 and load.handles,
               "writes under way")
    closer = threading.Thread(target=db.close)
    closer.start()
    closer.join(WAIT)
    for worker in workers:
        worker.join(WAIT)
    assert not closer.is_alive(), "close() hung under load"
    assert [w for w in workers if w.is_alive()] == [], "a caller hung after close()"
    assert load.closed_seen == len(KINDS)  # every worker ended on DatabaseClosed
    load.check(path)
    assert committed(path, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("how", ["awaited in the loop", "called from a task", "to_thread"])
def test_close_inside_a_running_event_loop(path, baseline, how):
    db = sqlnb.connect(path, time_limit=WAIT * 2)
    acked: set[int] = set()
    batches: set[int] = set()
    outcomes: list[object] = []

    async def writer(worker: int) -> None:
        for key in range(worker * 100_000, worker * 100_000 + 5000):
            if key % 5 == 4:
                await db.execute_write_many("INSERT INTO batch (key, part) VALUES (?, ?)",
                                            [(key, p) for p in range(3)])
                batches.add(key)
            else:
                await db.execute_write("INSERT INTO t (id, who) VALUES (?, 'async')", (key,))
                acked.add(key)

    async def reader() -> None:
        for _ in range(5000):
            await db.execute("SELECT count(*) FROM t")

    async def streamer() -> None:
        for _ in range(100):
            async for _chunk in db.stream(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                    "LIMIT 20000) SELECT x FROM c", chunk_rows=1000):
                pass

    async def forever() -> None:
        await db.submit(FOREVER, time_limit=math.inf)

    async def main() -> None:
        tasks = [asyncio.ensure_future(writer(w)) for w in range(8)]
        tasks += [asyncio.ensure_future(c) for c in (reader(), reader(), streamer(), forever())]
        for _ in range(WAIT * 1000):
            if len(acked) > 100 and batches:
                break
            await asyncio.sleep(0.001)
        if how == "awaited in the loop":
            db.close()  # blocks the loop thread while the writer finishes the queued writes
        elif how == "called from a task":
            asyncio.get_running_loop().call_soon(db.close)
        else:
            await asyncio.to_thread(db.close)
        outcomes.extend(await asyncio.gather(*tasks, return_exceptions=True))

    asyncio.run(asyncio.wait_for(main(), WAIT))
    assert db.closed
    assert [o for o in outcomes if not isinstance(o, sqlnb.DatabaseClosed)] == [], outcomes
    assert not acked - {i for (i,) in committed(path, "SELECT id FROM t")}
    parts = dict(committed(path, "SELECT key, count(*) FROM batch GROUP BY key"))
    assert all(n == 3 for n in parts.values()) and batches <= set(parts)


# -- the process ends ---------------------------------------------------------------------------

EXIT_CHILD = textwrap.dedent("""
    import math, signal, sys, time
    import sqlnb

    path, mode, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = sqlnb.connect(path, time_limit=math.inf)
    db.write("CREATE TABLE IF NOT EXISTS single (id INTEGER PRIMARY KEY)")
    db.write("CREATE TABLE IF NOT EXISTS batch (key INTEGER, part INTEGER)")
    if mode == "sigterm handler exits":  # what a kernel's shutdown amounts to
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    read = db.submit(FOREVER, time_limit=math.inf)  # a read that never ends on its own
    stop_at = time.monotonic() + 30
    for i in range(1_000_000 if mode.startswith("sigterm") else 3000):
        db.write("INSERT INTO single (id) VALUES (?)", (i,), block=False)
        if i % 10 == 0:
            db.write_many("INSERT INTO batch (key, part) VALUES (?, ?)",
                          [(i, part) for part in range(size)], block=False)
        if i == 2999:
            print("queued", flush=True)
        if i % 100 == 99:
            time.sleep(0.001)  # a producer that breathes: the writer commits as it goes
        if time.monotonic() > stop_at:
            break
    sys.exit(3)
""").replace("FOREVER", repr(FOREVER))


def check_whole(path: Path, size: int) -> tuple[int, int]:
    """Only whole writes in the file, and a prefix of the queue: the writer commits in order, so
    the singles are 0..n-1 and the batches those queued among them; returns the counts."""
    assert committed(path, "PRAGMA integrity_check") == [("ok",)]
    singles = [i for (i,) in committed(path, "SELECT id FROM single ORDER BY id")]
    parts = dict(committed(path, "SELECT key, count(*) FROM batch GROUP BY key"))
    assert all(n == size for n in parts.values()), {k: n for k, n in parts.items() if n != size}
    n = len(singles)
    assert singles == list(range(n)), "a later write committed while an earlier one was lost"
    queued_among = set(range(0, n, 10))
    assert set(parts) in (queued_among, queued_among - {n - 1}), "batches out of order"
    return n, len(parts)


def test_sys_exit_with_queued_writes_commits_them_all(tmp_path):
    path = tmp_path / "exit.db"
    result = subprocess.run([sys.executable, "-c", EXIT_CHILD, str(path), "exit", "7"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert result.stdout.split() == ["queued"]
    assert check_whole(path, 7) == (3000, 300)
    assert committed(path, "SELECT count(*) FROM batch") == [(2100,)]


@pytest.mark.parametrize("mode", ["sigterm", "sigterm handler exits"])
def test_sigterm_with_queued_writes_leaves_only_whole_writes(tmp_path, mode):
    path = tmp_path / "term.db"
    rng = random.Random(mode)
    child = subprocess.Popen([sys.executable, "-c", EXIT_CHILD, str(path), mode, "7"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "queued"
        time.sleep(rng.uniform(0.05, 0.3))
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=60)  # prompt: far within this
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    singles, _batches = check_whole(path, 7)
    if mode == "sigterm":
        assert child.returncode == -signal.SIGTERM, err
    else:  # the handler's sys.exit closes the Database: every write queued before it commits
        assert child.returncode == 0, err
        assert singles >= 3000


# -- cancel and time limit at random moments ------------------------------------------------------

BIG_INSERT = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) "
              "INSERT INTO dst (x, tag) SELECT x, :tag FROM c")


def tags(path: Path) -> dict[int, int]:
    return dict(committed(path, "SELECT tag, count(*) FROM dst GROUP BY tag"))


def stop_at_random(handle: sqlnb.QueryHandle, how: str, delay: float) -> BaseException | None:
    """Cancel the handle after `delay` seconds (or let its time limit act); its outcome."""
    if how == "cancel":
        time.sleep(delay)
        handle.cancel()
    return handle.exception(WAIT)


def test_big_insert_stopped_at_random_moments_is_all_or_nothing(path, baseline):
    rng = random.Random(1234)
    with sqlnb.connect(path, time_limit=WAIT) as db:
        db.write("CREATE TABLE dst (x INTEGER, tag INTEGER)")
        started = time.monotonic()
        db.write(BIG_INSERT, {"tag": 0})
        took = time.monotonic() - started
        db.write("DELETE FROM dst")
        outcomes = {"done": 0, "stopped": 0}
        trials = [("cancel", 0.0)] + [("cancel", rng.uniform(0, took * 1.5)) for _ in range(7)]
        trials += [("time limit", rng.uniform(0.001, took * 1.5)) for _ in range(8)]
        trials += [("task", rng.uniform(0, took * 1.5)) for _ in range(5)]
        for tag, (how, moment) in enumerate(trials, start=1):
            before = tags(path)
            if how == "task":
                async def cancelled_task(tag: int = tag, moment: float = moment) -> None:
                    task = asyncio.ensure_future(db.execute_write(BIG_INSERT, {"tag": tag}))
                    await asyncio.sleep(moment)
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

                asyncio.run(cancelled_task())
                with contextlib.suppress(sqlnb.BackgroundWriteError):
                    db.flush()
                after = tags(path)
                assert after in (before, {**before, tag: 100_000}), (how, moment, after)
            else:
                limit = moment if how == "time limit" else math.inf
                handle = db.submit(BIG_INSERT, {"tag": tag}, time_limit=limit)
                error = stop_at_random(handle, how, moment)
                after = tags(path)
                if error is None:
                    outcomes["done"] += 1
                    assert after == {**before, tag: 100_000}, (how, moment)
                else:
                    outcomes["stopped"] += 1
                    expected = sqlnb.QueryTimeout if how == "time limit" else sqlnb.QueryCancelled
                    assert isinstance(error, expected), (how, moment, repr(error))
                    assert after == before, (how, moment, "a stopped write left rows")
            assert_serving(db)
            db.write("DELETE FROM dst")
        assert outcomes["stopped"] >= 1


SCRIPT = """
    DELETE FROM a;
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 60000)
        INSERT INTO a (x, tag) SELECT x, {tag} FROM c;
    UPDATE a SET x = x * 2;
    CREATE INDEX IF NOT EXISTS a_x ON a (x);
    DELETE FROM a WHERE x % 6 = 0;
    INSERT INTO b (tag) VALUES ({tag});
"""


def script_state(path: Path) -> tuple:
    return (committed(path, "SELECT count(*), total(x), group_concat(DISTINCT tag) FROM a")[0],
            [t for (t,) in committed(path, "SELECT tag FROM b ORDER BY rowid")],
            committed(path, "SELECT count(*) FROM sqlite_master WHERE name = 'a_x'")[0][0])


def test_write_script_stopped_at_random_moments_is_all_or_nothing(path, baseline):
    rng = random.Random(99)
    with sqlnb.connect(path, time_limit=WAIT) as db:
        db.write_script("CREATE TABLE a (x INTEGER, tag INTEGER); CREATE TABLE b (tag INTEGER)")
        db.write_script(SCRIPT.format(tag=0))
        started = time.monotonic()
        db.write_script(SCRIPT.format(tag=0))  # as long as the trials take: the index exists
        took = time.monotonic() - started
        expected_a = script_state(path)[0][:2]
        trials = [("cancel", rng.uniform(0, took * 2)) for _ in range(7)]
        trials += [("time limit", rng.uniform(0.001, took * 2)) for _ in range(7)]
        stopped = 0
        for tag, (how, moment) in enumerate(trials, start=1):
            before = script_state(path)
            limit = moment if how == "time limit" else math.inf
            handle = db.write_script(SCRIPT.format(tag=tag), block=False, time_limit=limit)
            error = stop_at_random(handle, how, moment)
            after = script_state(path)
            if error is None:
                assert after == ((*expected_a, str(tag)), [*before[1], tag], 1), (how, moment)
            else:
                stopped += 1
                assert isinstance(error, sqlnb.QueryInterrupted), (how, moment, repr(error))
                assert after == before, (how, moment, "a stopped script left a part done")
            assert_serving(db)
        assert stopped >= 1


def test_chunked_read_stopped_at_random_moments_leaves_the_engine_serving(path, baseline):
    rng = random.Random(7)
    n = 100_000
    with sqlnb.connect(path, time_limit=WAIT) as db:
        db.write("CREATE TABLE nums (x INTEGER PRIMARY KEY, pad TEXT)")
        db.write("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?) "
                 "INSERT INTO nums SELECT x, 'pad' FROM c", (n,))
        started = time.monotonic()
        assert sum(len(c) for c in db.iter_chunks("SELECT * FROM nums", chunk_rows=1000)) == n
        took = time.monotonic() - started
        stopped = 0
        for trial in range(12):
            how = ["close", "time limit", "task"][trial % 3]
            got = 0
            if how == "close":
                chunks = db.iter_chunks("SELECT x FROM nums ORDER BY x", chunk_rows=1000)
                for chunk in chunks:
                    assert chunk["x"].tolist() == list(range(got + 1, got + len(chunk) + 1))
                    got += len(chunk)
                    if rng.random() < 0.05:
                        chunks.close()  # leaving the loop early cancels the query
                        stopped += 1
                        break
            elif how == "time limit":
                limit = rng.uniform(0.001, took * 1.5)
                try:
                    for chunk in db.iter_chunks("SELECT x FROM nums ORDER BY x",
                                                chunk_rows=1000, time_limit=limit):
                        assert chunk["x"].iloc[0] == got + 1
                        got += len(chunk)
                except sqlnb.QueryTimeout:
                    stopped += 1
                else:
                    assert got == n
            else:
                async def streamed(moment: float) -> int:
                    seen = 0

                    async def consume() -> None:
                        nonlocal seen
                        async for chunk in db.stream("SELECT x FROM nums", chunk_rows=1000):
                            seen += len(chunk)

                    task = asyncio.ensure_future(consume())
                    await asyncio.sleep(moment)
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return seen

                got = asyncio.run(streamed(rng.uniform(0, took * 1.5)))
                assert 0 <= got <= n
            # every reader is free again: three reads at once all finish
            handles = [db.submit("SELECT count(*) FROM nums") for _ in range(3)]
            assert [h.result(WAIT).single_value() for h in handles] == [n] * 3
            assert_serving(db)
        assert stopped >= 1
    assert committed(path, "SELECT count(*) FROM nums") == [(n,)]


# -- bad files and folders ------------------------------------------------------------------------

def test_a_file_of_random_bytes_is_refused_and_left_alone(tmp_path, baseline):
    for name, content in [
        ("random.db", random.Random(5).randbytes(8192)),
        ("notes.db", b"id,name\n1,wren\n2,swan\n" * 100),
        ("short.db", b"SQLite format 3\x00garbage"),
    ]:
        file = tmp_path / name
        file.write_bytes(content)
        for read_only in (False, True):
            with pytest.raises(sqlite3.DatabaseError) as caught:
                sqlnb.connect(file, read_only=read_only)
            assert "not a database" in str(caught.value) or "malformed" in str(caught.value)
        assert file.read_bytes() == content, f"{name} was changed"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(name)) == [name]
    assert sqlnb_threads() == set()


def test_a_database_with_corrupt_pages_fails_clearly_and_keeps_serving(tmp_path, baseline):
    file = tmp_path / "corrupt.db"
    with sqlnb.connect(file, wal=False) as setup:
        setup.write("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        setup.write("CREATE TABLE probe (x)")
        setup.write_many("INSERT INTO t (v) VALUES (?)", [("x" * 200,) for _ in range(2000)])
    data = bytearray(file.read_bytes())
    page = 4096
    noise = random.Random(11).randbytes(len(data) - 3 * page)
    data[3 * page:] = noise  # the schema (page 1) and the probe table survive
    file.write_bytes(bytes(data))
    with sqlnb.connect(file, wal=False, time_limit=WAIT) as db:
        with pytest.raises(sqlite3.DatabaseError) as caught:
            db.query("SELECT sum(length(v)) FROM t")
        assert "malformed" in str(caught.value) or "corrupt" in str(caught.value)
        assert getattr(caught.value, "sql", None) == "SELECT sum(length(v)) FROM t"
        check = db.query("PRAGMA integrity_check")
        assert check.iloc[0, 0] != "ok"
        assert db.query("SELECT 1 AS one")["one"].tolist() == [1]
        with pytest.raises(sqlite3.DatabaseError):
            db.write("UPDATE t SET v = 'y'")
        assert not db._dispatch.writer_link.in_transaction
        assert db.submit("SELECT count(*) FROM probe").result(WAIT).single_value() == 0


def test_a_path_in_a_missing_folder_is_a_clear_error(tmp_path, baseline):
    missing = tmp_path / "no" / "such" / "folder" / "x.db"
    for read_only in (False, True):
        with pytest.raises(FileNotFoundError) as caught:
            sqlnb.connect(missing, read_only=read_only)
        assert "folder" in str(caught.value) or "no database" in str(caught.value)
    with pytest.raises((FileNotFoundError, sqlite3.OperationalError)):  # SQLite's own words
        sqlnb.connect(f"file:{missing}")
    assert not (tmp_path / "no").exists()
    assert sqlnb_threads() == set()


def can_create_in(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except PermissionError:
        return False
    probe.unlink()
    return True


def test_a_read_only_folder(tmp_path, baseline):
    folder = tmp_path / "locked"
    folder.mkdir()
    existing = folder / "old.db"
    with sqlnb.connect(existing) as setup:  # a WAL database, as sqlnb leaves it
        setup.write("CREATE TABLE t (x)")
        setup.write_many("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    folder.chmod(0o555)
    try:
        if can_create_in(folder):
            # running as root: the folder's mode does not stop writes, so sqlnb must just work,
            # and read_only=True is what refuses writes (with a hint) while reads go on
            with sqlnb.connect(folder / "new.db") as db:
                db.write("CREATE TABLE t (x)")
                db.write("INSERT INTO t VALUES (1)")
            assert committed(folder / "new.db", "SELECT x FROM t") == [(1,)]
            with sqlnb.connect(existing) as db:
                db.write("INSERT INTO t VALUES (10)")
            with sqlnb.connect(existing, read_only=True) as db:
                with pytest.raises(sqlite3.OperationalError) as caught:
                    db.write("INSERT INTO t VALUES (99)")
                notes = "\n".join(getattr(caught.value, "__notes__", []))
                assert "read-only" in notes, notes
                assert db.query("SELECT count(*) AS n FROM t")["n"].tolist() == [11]
                assert not db._dispatch.writer_link.in_transaction
            assert committed(existing, "SELECT count(*) FROM t") == [(11,)]
            return
        # the folder's mode holds: a new file cannot be made, and nothing is left half-made
        with pytest.raises((sqlite3.OperationalError, PermissionError)), \
                sqlnb.connect(folder / "new.db") as db:
            db.write("CREATE TABLE t (x)")
        assert not (folder / "new.db").exists()
        # the existing file refuses writes with an error of SQLite's, and keeps its rows
        try:
            db = sqlnb.connect(existing)
        except sqlite3.OperationalError:
            pass
        else:
            with db, pytest.raises(sqlite3.OperationalError):
                db.write("INSERT INTO t VALUES (10)")
        assert sqlnb_threads() == set()
        # read_only=True reads it, or says why it cannot: the folder
        try:
            db = sqlnb.connect(existing, read_only=True)
        except sqlite3.OperationalError as error:
            explained = "\n".join([str(error), *getattr(error, "__notes__", [])])
            assert "folder" in explained or "directory" in explained, explained
        else:
            with db:
                assert db.query("SELECT count(*) AS n FROM t")["n"].tolist() == [10]
    finally:
        folder.chmod(0o755)
    assert committed(existing, "SELECT count(*) FROM t") == [(10,)]


# -- a big table, a full disk ----------------------------------------------------------------------

def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_table_bigger_than_a_chunked_read_holds_is_read_in_bounded_memory(tmp_path, baseline):
    file = tmp_path / "big.db"
    n = 200_000
    with sqlnb.connect(file, time_limit=WAIT) as db:
        db.write("CREATE TABLE big (id INTEGER PRIMARY KEY, payload TEXT)")
        db.write("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?) "
                 "INSERT INTO big SELECT x, hex(randomblob(100)) FROM c", (n,))
        size = file.stat().st_size + (tmp_path / "big.db-wal").stat().st_size
        text_bytes = db.query("SELECT sum(length(payload)) AS b FROM big")["b"][0]
        assert text_bytes == 200 * n
        for chunk in db.iter_chunks("SELECT * FROM big LIMIT 20000", chunk_rows=2000):
            del chunk  # warm up: pandas, pyarrow and the allocator's arenas
        base = peak = rss()
        seen = 0
        for chunk in db.iter_chunks("SELECT * FROM big", chunk_rows=2000):
            assert chunk["id"].iloc[0] == seen + 1
            seen += len(chunk)
            peak = max(peak, rss())
        assert seen == n
        growth = peak - base
        assert growth < text_bytes / 4, (
            f"a chunked read of a {size / 1e6:.0f} MB table grew the process by "
            f"{growth / 1e6:.1f} MB")
        assert db.query("SELECT count(*) AS n FROM big")["n"].tolist() == [n]


def test_a_full_disk_is_a_clear_error_and_loses_nothing_committed(path, baseline):
    with sqlnb.connect(path, time_limit=WAIT) as db:
        db.write("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)")
        db.write_many("INSERT INTO blobs (id, b) VALUES (?, randomblob(1000))",
                      [(i,) for i in range(20)])
        pages = db.query("PRAGMA page_count").iloc[0, 0]
        db.write(f"PRAGMA max_page_count = {pages + 20}")  # a disk with 20 pages left
        acked = set(range(20))
        error = None
        for i in range(20, 1000):
            try:
                db.write("INSERT INTO blobs (id, b) VALUES (?, randomblob(2000))", (i,))
            except sqlite3.OperationalError as caught:
                error = caught
                break
            acked.add(i)
        assert error is not None, "the size limit never filled"
        assert "full" in str(error), str(error)
        assert getattr(error, "sql", None) is not None
        assert not isinstance(error, sqlnb.QueryInterrupted)
        assert {i for (i,) in committed(path, "SELECT id FROM blobs")} == acked
        assert not db._dispatch.writer_link.in_transaction
        assert db.query("SELECT count(*) AS n FROM blobs")["n"].tolist() == [len(acked)]

        # a big write that does not fit is rolled back whole
        with pytest.raises(sqlite3.OperationalError, match="full"):
            db.write("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 500) "
                     "INSERT INTO blobs (id, b) SELECT 10000 + x, randomblob(500) FROM c")
        assert {i for (i,) in committed(path, "SELECT id FROM blobs")} == acked

        # writes grouped in one transaction near the limit: each commits or fails alone
        db.write("DELETE FROM blobs WHERE id < 15")  # room for some of the next writes
        acked -= set(range(15))
        handles = [(2000 + k, db.write("INSERT INTO blobs (id, b) VALUES (?, randomblob(1200))",
                                       (2000 + k,), block=False)) for k in range(30)]
        with pytest.raises(sqlnb.BackgroundWriteError) as background:
            db.flush()
        assert all("full" in str(e) for _sql, e in background.value.errors)
        present = {i for (i,) in committed(path, "SELECT id FROM blobs")}
        for key, handle in handles:
            assert (handle.exception(0) is None) == (key in present), key
            if key in present:
                acked.add(key)
        assert present == acked
        fitted = sum(handle.exception(0) is None for _key, handle in handles)
        assert 0 < fitted < len(handles)  # the group mixed writes that fit and writes that did not
        assert not db._dispatch.writer_link.in_transaction

        # room again: the Database goes on
        db.write("PRAGMA max_page_count = 1000000")
        db.write("INSERT INTO blobs (id, b) VALUES (-1, randomblob(5000))")
        assert db.query("SELECT count(*) AS n FROM blobs")["n"].tolist() == [len(acked) + 1]
        assert db.query("PRAGMA integrity_check").iloc[0, 0] == "ok"
    assert committed(path, "PRAGMA integrity_check") == [("ok",)]


def _without_root_override(code: str, cwd) -> subprocess.CompletedProcess:
    """Run `code` in a Python whose root (if any) cannot bypass file modes, as a user would."""
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) drops root's file-mode override"
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search",
                   "--inh-caps=-dac_override,-dac_read_search", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=str(Path(sqlnb.__file__).parents[1])))


def test_a_wal_file_in_a_read_only_folder_opens_read_only(tmp_path):
    folder = tmp_path / "shelf"
    folder.mkdir()
    with sqlnb.connect(folder / "kept.db") as setup:  # WAL, as sqlnb leaves a file
        setup.write("CREATE TABLE t (x)")
        setup.write_many("INSERT INTO t VALUES (?)", [(i,) for i in range(5)])
    for leftover in folder.glob("kept.db-*"):
        leftover.unlink()
    folder.chmod(0o555)
    try:
        out = _without_root_override(textwrap.dedent("""
            import sqlite3, sqlnb
            try:
                sqlnb.connect("shelf/kept.db")
            except sqlite3.OperationalError as error:
                print("writable refused:", " ".join(getattr(error, "__notes__", [])))
            with sqlnb.connect("shelf/kept.db", read_only=True) as db:
                print("rows:", db.query("SELECT count(*) AS n FROM t")["n"][0])
        """), cwd=tmp_path)
    finally:
        folder.chmod(0o755)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "writable refused: the folder" in out.stdout and "read_only=True" in out.stdout
    assert "rows: 5" in out.stdout
