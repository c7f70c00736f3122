"""Large results in chunks: iter_chunks() and `async for ... in stream()`, with back-pressure,
cancel on leaving the loop, and one time limit for the whole stream."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

import sqlnb
from sqlnb.database import CHUNKS_AHEAD

from .helpers import wait_for


@pytest.fixture
def big(tmp_path):
    database = sqlnb.connect(tmp_path / "big.db", threads=1)
    database.write("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    database.write_many("INSERT INTO t VALUES (?, ?)", ((i, f"v{i}") for i in range(25_000)))
    yield database
    database.close()


def _reader_control(database):
    """The control of the query the only reader runs now (engine internals: a test's view)."""
    taken = list(database._dispatch.pool._taken)
    return taken[0].control if taken else None


def test_iter_chunks_gives_every_row_in_chunks(big):
    chunks = list(big.iter_chunks("SELECT * FROM t ORDER BY id", chunk_rows=10_000))
    assert [len(c) for c in chunks] == [10_000, 10_000, 5_000]
    assert list(chunks[0].columns) == ["id", "v"]
    assert chunks[2]["id"].iloc[-1] == 24_999
    assert str(chunks[0]["id"].dtype) == "int64"


def test_worker_runs_only_a_few_chunks_ahead(big):
    """With `taken` chunks taken, the reader has handed over CHUNKS_AHEAD more and read one it
    waits to hand over. At each step the test waits until the reader reaches that bound (no
    sleep), then checks it went no further; a reader without back-pressure would read past it."""
    chunks = big.iter_chunks("SELECT * FROM t", chunk_rows=1_000)
    next(chunks)
    control = wait_for(lambda: _reader_control(big), "the read starting")
    for taken in range(1, 25):
        bound = min((taken + CHUNKS_AHEAD + 1) * 1_000, 25_000)
        wait_for(lambda bound=bound: control.rows >= bound, f"the reader reaching {bound} rows")
        assert control.rows == bound
        next(chunks)
    chunks.close()


def test_leaving_the_loop_cancels_and_frees_the_reader(big):
    for chunk in big.iter_chunks("SELECT * FROM t", chunk_rows=100):
        assert len(chunk) == 100
        break
    # the only reader thread is free again: this would wait forever otherwise
    assert big.query("SELECT count(*) FROM t").iloc[0, 0] == 25_000


def test_time_limit_covers_the_whole_stream(big):
    with pytest.raises(sqlnb.QueryTimeout):
        for _chunk in big.iter_chunks("SELECT * FROM t", chunk_rows=1_000, time_limit=0.3):
            time.sleep(0.1)
    assert big.query("SELECT 1 AS one")["one"][0] == 1


def test_errors_surface_from_the_iterator(big):
    with pytest.raises(sqlnb.UsageError):
        big.iter_chunks("")
    with pytest.raises(sqlnb.UsageError):
        big.iter_chunks("SELECT 1", chunk_rows=0)
    with pytest.raises(Exception, match="no such table"):
        list(big.iter_chunks("SELECT * FROM missing"))


def test_async_stream(big):
    async def main():
        sizes = [len(chunk) async for chunk in big.stream("SELECT * FROM t", chunk_rows=7_000)]
        assert sizes == [7_000, 7_000, 7_000, 4_000]
        async for _chunk in big.stream("SELECT * FROM t", chunk_rows=10):
            break
        result = await big.execute("SELECT count(*) FROM t")
        assert result.single_value() == 25_000
        with pytest.raises(sqlnb.QueryTimeout):
            async for _chunk in big.stream("SELECT * FROM t", chunk_rows=500, time_limit=0.2):
                await asyncio.sleep(0.05)

    asyncio.run(main())


def test_async_stream_cancelled_with_its_task(big):
    async def main():
        async def consume():
            async for _chunk in big.stream("SELECT * FROM t", chunk_rows=10,
                                           time_limit=math.inf):
                await asyncio.sleep(10)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return (await big.execute("SELECT 7")).single_value()

    assert asyncio.run(main()) == 7


def test_stream_of_a_temp_table_runs_on_the_writer(big):
    big.write("CREATE TEMP TABLE tt AS SELECT id FROM t WHERE id < 2500")
    chunks = list(big.iter_chunks("SELECT * FROM tt", chunk_rows=1_000))
    assert sum(len(c) for c in chunks) == 2_500
