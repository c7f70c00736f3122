"""The result cache (public: `sqlnb.cache.frame()`, `sqlnb.cache.clear()`): a read's DataFrame
kept for the same SQL with the same parameters on the same Database, given again only while no
write can have changed its answer (off unless asked: `Database.query(cache=True)`,
`%%sql --cache`, `%config SqlNB.cache = True`).

What "no write" means: the Database's dispatcher counts every write it is given and every one
that ends (`Dispatch.writes`: a write queued, running or done since the result was kept makes
it old); and where the engine can see other processes' commits (`Backend.data_version`:
SQLite's `PRAGMA data_version`; DuckDB needs none, its file lock lets no other process write
while sqlnb has the file open) that value must be the same too. An engine that cannot know
(Spark, PostgreSQL: others write to them) caches only with an explicit time to live, and the
line says "may be stale". A statement whose answer can change without a write (`random()`,
`now()`, a file it reads; `_sql.unknowable`) is never kept.

The frames are process-wide, bounded by `sqlnb.options.cache_bytes` (least recently used out
first). Kept and given frames are shallow copies: pandas' copy-on-write keeps the user's
changes to a given frame out of the kept one.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Kept:
    """One kept result: its frame, when it was kept, the state it was read in, its size."""

    frame: pd.DataFrame
    kept: float  # time.monotonic()
    token: tuple[Any, ...]
    nbytes: int
    database: str
    sql: str


@dataclass(frozen=True)
class CacheHit:
    """A result the cache gave: how old it is, and whether sqlnb knows nothing changed since."""

    age: float
    verified: bool

    def line(self) -> str:
        """What the line under the result says: `from cache · 3 min old · no writes since`."""
        since = "no writes since" if self.verified else "may be stale"
        return f"from cache · {_age(self.age)} old · {since}"


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def params_key(params: Any) -> str:
    """The parameters as part of a cache key (their reprs: 1 and '1' differ)."""
    if params is None:
        return ""
    if hasattr(params, "keys"):
        return repr(sorted((str(k), repr(v)) for k, v in params.items()))
    return repr([repr(v) for v in params])


class ResultCache:
    """The process's kept results, least recently used first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], Kept] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> Kept | None:
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None:
                self._entries.move_to_end(key)
            return kept

    def drop(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def put(self, key: tuple[Any, ...], frame: pd.DataFrame, token: tuple[Any, ...],
            database: str, sql: str, budget: int) -> bool:
        """Keep `frame` (a shallow copy) under `key`; the least recently used go until the
        total fits `budget` bytes. False (nothing kept) for a frame larger than the budget."""
        nbytes = int(frame.memory_usage(deep=True, index=True).sum())
        if nbytes > budget:
            self.drop(key)
            return False
        kept = Kept(frame.copy(deep=False), time.monotonic(), token, nbytes, database, sql)
        with self._lock:
            self._entries[key] = kept
            self._entries.move_to_end(key)
            total = sum(k.nbytes for k in self._entries.values())
            while total > budget and self._entries:
                _key, old = self._entries.popitem(last=False)
                total -= old.nbytes
        return True

    def clear(self, serial: int | None = None) -> int:
        """Forget every kept result (of one Database's `serial`); how many were dropped."""
        with self._lock:
            keys = [k for k in self._entries if serial is None or k[0] == serial]
            for key in keys:
                del self._entries[key]
            return len(keys)

    def frame(self) -> pd.DataFrame:
        """One row per kept result, most recently used first: database, sql, rows, bytes, age
        (seconds)."""
        import pandas as pd

        now = time.monotonic()
        with self._lock:
            rows = [(k.database, k.sql, len(k.frame), k.nbytes, round(now - k.kept, 1))
                    for k in reversed(self._entries.values())]
        return pd.DataFrame(rows, columns=["database", "sql", "rows", "bytes", "age"])

    def nbytes(self) -> int:
        with self._lock:
            return sum(k.nbytes for k in self._entries.values())


#: The process's result cache.
CACHE = ResultCache()


def frame() -> pd.DataFrame:
    """The kept results of every Database (public: `sqlnb.cache.frame()`, `%sqlnb cache`)."""
    return CACHE.frame()


def clear() -> int:
    """Forget every kept result; how many there were (`%sqlnb cache clear`)."""
    return CACHE.clear()
