"""Setting up the peers the cases compare with; each is optional (see env.optional)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any


def datasette_database(app: ModuleType, path: Path, name: str = "bench") -> Any:
    """A Datasette `Database` on `path` (mutable: read connections use mode=ro), registered on a
    fresh `Datasette()` with its default settings (3 SQL threads, 1 s time limit)."""
    from datasette.database import Database

    ds = app.Datasette()
    return ds.add_database(Database(ds, path=str(path), is_mutable=True), name=name)
