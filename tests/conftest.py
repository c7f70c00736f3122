"""Shared fixtures: a fresh Database on a real file, and one on the shared in-memory default."""

from __future__ import annotations

import threading

import pytest

import sqlnb


def sqlnb_threads() -> list[str]:
    """Names of sqlnb's threads alive now."""
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("sqlnb-"))


@pytest.fixture
def db(tmp_path):
    """A Database on a new file, closed after the test (which must leave no thread behind)."""
    database = sqlnb.connect(tmp_path / "test.db")
    yield database
    database.close()
    assert sqlnb_threads() == []


@pytest.fixture
def memdb():
    """A Database on the embedded in-memory default."""
    database = sqlnb.connect()
    yield database
    database.close()
    assert sqlnb_threads() == []
