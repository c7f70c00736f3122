"""The registry of engines: which engine a target opens, and opening it.

Each engine is a `Backend` class that describes itself (engines/base.py): its name and title,
the URL schemes and file suffixes of its targets, its client's pip extra and its connect
options. The built-in engines are entries here, imported only when a target needs one (an
engine you do not use is never imported); a plug-in, or a test's engine, is added with
`register(MyBackend)` (public as `sqlnb.engine.register`).

A target picks its engine by its scheme (`duckdb:///x`, `sc://host`, `spark:local[2]`; SQLAlchemy's
`sqlite+driver:` counts as `sqlite:`), then by its suffix (a path ending `.duckdb`), else it is
SQLite's, the default (None, ":memory:", any other path, a `file:` URI). A URL (`scheme://`) of
a scheme no engine has is a UsageError naming only its scheme (the rest may hold a password).
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._redact import Secret
from ..errors import UsageError

if TYPE_CHECKING:
    from .base import Backend

__all__ = ["engine_for", "engine_named", "open_backend", "register", "scheme_of", "unregister"]


@dataclass(frozen=True)
class Entry:
    """A built-in engine, described without importing it (its class says the same, which a
    test checks): the name, title, schemes, suffixes, example, extra and option names of its
    `Backend` class, and where that class is ("module:Class")."""

    name: str
    title: str
    schemes: tuple[str, ...]
    suffixes: tuple[str, ...]
    example: str
    where: str
    extra: str | None = None
    options: tuple[str, ...] = ()


#: The engines that come with sqlnb (SQLite, the default, first).
BUILT_IN = (
    Entry("sqlite", "SQLite", ("sqlite", "file"), (),
          "sqlite:///path/to/file.db, sqlite:// for memory, a file: URI or a path",
          "sqlnb.engines.sqlite:SQLiteBackend", None, ("busy_timeout", "wal")),
    Entry("duckdb", "DuckDB", ("duckdb",), (".duckdb", ".ddb"),
          "duckdb:///path/to/file.duckdb, duckdb:// for memory, or a path ending .duckdb",
          "sqlnb.engines.duckdb:DuckDBBackend", "duckdb"),
    Entry("spark", "Spark", ("sc", "spark"), (),
          "sc://host:15002 for Spark Connect, or spark:local[2] for a local server",
          "sqlnb.engines.spark:SparkBackend", "spark", ("token_env",)),
    Entry("postgres", "PostgreSQL", ("postgresql", "postgres"), (),
          "postgresql://user@host:5432/db or postgres://...",
          "sqlnb.engines.postgres:PostgresBackend", "postgres", ("password_env",)),
)
#: The engine of a target that has no scheme or suffix of another's.
DEFAULT = "sqlite"
#: In-memory targets to query a DataFrame that belongs to no Database in (the explorer of a
#: DataFrame variable), best first: DuckDB reads a frame's columns in place; SQLite is always
#: there.
FRAME_TARGETS = ("duckdb:///:memory:", ":memory:")

#: A scheme, then ":" (two characters at least: `C:\\data.db` is a path).
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")

_lock = threading.Lock()
#: name -> the engine's Entry, or its class once imported or registered
_engines: dict[str, Entry | type[Backend]] = {entry.name: entry for entry in BUILT_IN}


def _all() -> list[Entry | type[Backend]]:
    with _lock:
        return list(_engines.values())


def register(backend: type[Backend]) -> type[Backend]:
    """Add an engine: its schemes and suffixes open it from now on (`sqlnb.connect`, `%sql`).
    Usable as a class decorator. A name, scheme or suffix another engine has is a UsageError
    naming its owner; registering the same class again changes nothing."""
    from .base import Backend

    if not (isinstance(backend, type) and issubclass(backend, Backend)):
        raise UsageError(f"register() takes a Backend subclass, not {backend!r}")
    name = getattr(backend, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise UsageError(f"{backend.__name__}.name must be the engine's short name (a word "
                         f"such as 'duckdb'), not {name!r}")
    for scheme in backend.schemes:
        if _SCHEME.fullmatch(f"{scheme}:") is None or scheme != scheme.lower():
            raise UsageError(f"{backend.__name__}.schemes holds {scheme!r}: a scheme is lower "
                             "case letters, digits, + . or -, two characters or more, no ':'")
    for suffix in backend.suffixes:
        if not suffix.startswith(".") or suffix != suffix.lower():
            raise UsageError(f"{backend.__name__}.suffixes holds {suffix!r}: a suffix is lower "
                             "case and starts with '.'")
    with _lock:
        if _engines.get(name) is backend:
            return backend
        for other in _engines.values():
            if other.name == name:
                raise UsageError(f"an engine named {name!r} is registered already "
                                 f"({other.title}): give this one another name")
            taken = sorted({f"the scheme {s}:" for s in set(backend.schemes) & set(other.schemes)}
                           | {f"the suffix {s}" for s in set(backend.suffixes)
                              & set(other.suffixes)})
            if taken:
                raise UsageError(f"{' and '.join(taken)} {'is' if len(taken) == 1 else 'are'} "
                                 f"{other.title}'s already: {backend.__name__} cannot have "
                                 f"{'it' if len(taken) == 1 else 'them'} too")
        _engines[name] = backend
    return backend


def unregister(name: str) -> None:
    """Remove an engine `register` added (a test's, say); a built-in engine stays."""
    with _lock:
        if any(entry.name == name for entry in BUILT_IN):
            raise UsageError(f"{name} is one of sqlnb's own engines: it cannot be removed")
        if _engines.pop(name, None) is None:
            raise UsageError(f"no engine named {name!r} is registered")


def _load(found: Entry | type[Backend]) -> type[Backend]:
    """The engine's class, importing a built-in one at its first use (a clear error when its
    client is not installed)."""
    if not isinstance(found, Entry):
        return found
    module, _, attribute = found.where.partition(":")
    try:
        backend: type[Backend] = getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as error:
        if (error.name or "sqlnb").split(".")[0] == "sqlnb":
            raise
        install = f": pip install 'sqlnb[{found.extra}]'" if found.extra else ""
        raise UsageError(f"this target is for {found.title}, and its client ({error.name}) is "
                         f"not installed{install}") from None
    with _lock:
        if _engines.get(found.name) is found:
            _engines[found.name] = backend
    return backend


def scheme_of(target: str) -> str | None:
    """The scheme of a target that is a URL (`scheme://...`, any scheme) or starts with the
    scheme of an engine (`spark:local[2]`, `file:data.db`), lower case; None for a path."""
    match = _SCHEME.match(target)
    if match is None:
        return None
    scheme = match.group(1).lower()
    if target[match.end():].startswith("//") or _by_scheme(scheme) is not None:
        return scheme
    return None


def _by_scheme(scheme: str) -> Entry | type[Backend] | None:
    engines = _all()
    for wanted in (scheme, scheme.split("+", 1)[0]):
        for found in engines:
            if wanted in found.schemes:
                return found
    return None


def _unknown(scheme: str) -> UsageError:
    """The error for a URL of a scheme no engine has: its scheme, never the rest of the URL."""
    forms = [f"{found.title} ({found.example or ', '.join(f'{s}:' for s in found.schemes)})"
             for found in _all()]
    opens = forms[0] if len(forms) == 1 else f"{', '.join(forms[:-1])} and {forms[-1]}"
    return UsageError(f"sqlnb opens no {scheme}:// databases: it opens {opens}")


def engine_for(target: object) -> type[Backend]:
    """The engine class `target` opens (imported now if it is a built-in one): by its scheme,
    then its suffix, else the default (SQLite). A URL of an unknown scheme is a UsageError."""
    if isinstance(target, Secret):
        target = str(target)  # its redacted text keeps its scheme
    if isinstance(target, os.PathLike):
        target = os.fspath(target)
        if not isinstance(target, str):
            return engine_named(DEFAULT)  # bytes: the default engine says what it takes
        scheme = None
    elif isinstance(target, str):
        scheme = scheme_of(target)
    else:
        return engine_named(DEFAULT)
    if scheme is not None:
        found = _by_scheme(scheme)
        if found is None:
            raise _unknown(scheme)
        return _load(found)
    lowered = target.lower()
    for found in _all():
        if found.suffixes and lowered.endswith(found.suffixes):
            return _load(found)
    return engine_named(DEFAULT)


def engine_named(name: str) -> type[Backend]:
    """The engine class called `name` ("duckdb"), imported now if it is a built-in one."""
    with _lock:
        found = _engines.get(name)
    if found is None:
        known = ", ".join(sorted(_engines))
        raise UsageError(f"no engine is called {name!r}; the engines are {known}")
    return _load(found)


def frame_targets() -> tuple[str, ...]:
    """In-memory targets to query a DataFrame of no Database in, best first (one whose client
    is not installed fails to connect with a UsageError: try the next)."""
    return FRAME_TARGETS


def option_owners(name: str) -> list[str]:
    """The titles of the engines that take the connect option `name`."""
    owners = []
    for found in _all():
        names = found.options if isinstance(found, Entry) else [o.name for o in found.options]
        if name in names:
            owners.append(found.title)
    return owners


def checked_options(backend: type[Backend], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of `backend` as its constructor takes it: the value given (checked by its
    `Option`), else its default. One it does not take is a UsageError saying whose it is and
    which it takes."""
    declared = {option.name: option for option in backend.options}
    for name in given:
        if name not in declared:
            owners = [t for t in option_owners(name) if t != backend.title]
            takes = ", ".join(declared) or "(none)"
            whose = f"{name} is an option of {' and '.join(owners)}, not of {backend.title}" \
                if owners else f"{backend.title} has no option {name}"
            raise UsageError(f"{whose}; {backend.title} takes: {takes}")
    return {name: option.value(given[name]) if given.get(name) is not None else option.default
            for name, option in declared.items()}


def secret_from_env(variable: object, option: str) -> str:
    """The secret in the environment variable `variable` (named by the connect option
    `option`), or a UsageError saying what is missing."""
    if not isinstance(variable, str) or not variable:
        raise UsageError(f"{option} must name an environment variable, not {variable!r}")
    value = os.environ.get(variable)
    if not value:
        raise UsageError(f"the environment variable {variable} is not set: set it to the secret "
                         "(outside the notebook) before connecting")
    return value


def open_backend(target: Any, *, read_only: bool, options: Mapping[str, Any]) -> Backend:
    """The backend of the engine `target` picks, opened with `options` (its own connect
    options: checked here), a secret read from the environment where its option says."""
    backend = engine_for(target)
    if isinstance(target, str) and backend.holds_secret(target):  # shown nowhere from now on
        target = Secret(target)
    values = checked_options(backend, options)
    where = backend.parse_target(target)
    secret_option = backend.secret_env_option
    if secret_option is not None:
        variable = values.pop(secret_option, None)
        if variable is not None:
            where = backend.with_secret(where, secret_from_env(variable, secret_option))
    return backend(where, read_only=read_only, **values)
