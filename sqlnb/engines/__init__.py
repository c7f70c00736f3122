"""The engines sqlnb runs SQL on, each behind the interface of `base.py`, and which one a target
picks. An engine's module (and its package) is imported only when a target needs it.

- SQLite (the default): None, ":memory:", a path, `file:...`, `sqlite:///path`, `sqlite://`.
- DuckDB: `duckdb:///path.duckdb`, `duckdb:///:memory:`, `duckdb://`, a path ending in .duckdb
  or .ddb.
- Spark SQL, through Spark Connect: `sc://host:port` (with Spark Connect's own `/;name=value`
  options), or `spark:local[N]` for a local server that sqlnb starts and stops.
- PostgreSQL: `postgresql://user@host:port/db?sslmode=...` or `postgres://...` (libpq's URIs).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from .._redact import Secret
from ..errors import UsageError

if TYPE_CHECKING:
    from .base import Backend

#: The forms of target sqlnb accepts, for error messages.
ACCEPTED = ("a file path or sqlite:///path (SQLite; sqlite:// or None for memory), "
            "duckdb:///path.duckdb or a path ending .duckdb/.ddb (DuckDB; duckdb:// for memory), "
            "sc://host:port (Spark Connect) or spark:local[N] (a local Spark server), "
            "postgresql://user@host:port/db (PostgreSQL)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def engine_of(target: object) -> tuple[str, str | os.PathLike[str] | Secret | None]:
    """Which engine a target is for, and the target as that engine takes it.

    A URL of a database sqlnb does not open is a UsageError naming only its scheme (a URL may
    hold a password, which must not be echoed). A Spark or PostgreSQL target holding a secret
    stays a `Secret`; SQLite and DuckDB take no secrets, so theirs is their text.
    """
    if isinstance(target, Secret):
        name, _where = engine_of(str(target))  # its redacted text names the engine
        return (name, target) if name in ("spark", "postgres") else engine_of(target.reveal())
    if isinstance(target, os.PathLike) and isinstance(os.fspath(target), str):
        suffix = os.fspath(target).lower()
        return ("duckdb" if suffix.endswith((".duckdb", ".ddb")) else "sqlite"), target
    if target is None or not isinstance(target, str):
        return "sqlite", target  # type: ignore[return-value]  # SQLite checks the rest
    if target.startswith("spark:") and not target.startswith("spark://"):
        return "spark", target
    match = _SCHEME.match(target)
    if match is not None:
        scheme = match.group(1).lower()
        rest = target[match.end():]
        if scheme == "sqlite" or scheme.startswith("sqlite+"):
            path = rest[1:] if rest.startswith("/") else rest
            return "sqlite", path or None
        if scheme == "duckdb":
            path = rest[1:] if rest.startswith("/") else rest
            return "duckdb", path or ":memory:"
        if scheme == "sc":
            return "spark", target
        if scheme in ("postgresql", "postgres"):
            return "postgres", target
        raise UsageError(f"sqlnb does not open {scheme}:// databases; it opens {ACCEPTED}")
    if target.lower().endswith((".duckdb", ".ddb")):
        return "duckdb", target
    return "sqlite", target


def open_backend(target: str | os.PathLike[str] | None, *, read_only: bool,
                 busy_timeout: float, wal: bool) -> Backend:
    """The backend of the engine `target` picks, opened (a clear error if it cannot be)."""
    name, where = engine_of(target)
    if name == "duckdb":
        try:
            from .duckdb import DuckDBBackend
        except ModuleNotFoundError as error:
            if error.name != "duckdb":
                raise
            raise UsageError("this target is a DuckDB database, and DuckDB is not installed: "
                             "pip install 'sqlnb[duckdb]'") from None
        return DuckDBBackend(where, read_only=read_only)
    if name == "spark":
        try:
            from .spark import SparkBackend
        except ModuleNotFoundError as error:
            if not (error.name or "").startswith(("pyspark", "grpc", "google")):
                raise
            raise UsageError("this target is a Spark Connect server, and pyspark (with its "
                             "Connect client) is not installed: pip install 'sqlnb[spark]'"
                             ) from None
        return SparkBackend(where if isinstance(where, Secret) else str(where),
                            read_only=read_only)
    if name == "postgres":
        try:
            from .postgres import PostgresBackend
        except ModuleNotFoundError as error:
            if not (error.name or "").startswith(("adbc_driver", "pyarrow")):
                raise
            raise UsageError("this target is a PostgreSQL server, and ADBC's PostgreSQL driver "
                             "is not installed: pip install 'sqlnb[postgres]'") from None
        return PostgresBackend(where if isinstance(where, Secret) else str(where),
                               read_only=read_only)
    from .sqlite import SQLiteBackend

    return SQLiteBackend(where, read_only=read_only, busy_timeout=busy_timeout, wal=wal)
