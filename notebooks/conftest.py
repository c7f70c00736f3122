"""The tutorials are tests too (nbval). The Spark tutorial starts a local Spark Connect server,
which needs Java: without it (and unless CI says it must run) its cells are skipped with a note,
as the Spark tests are. The PostgreSQL tutorial reads its server from the environment
(tutorial_postgres.py): a throwaway server is started for it before its first cell, and stopped
at the end of the session; without PostgreSQL's server programs (and unless CI says it must run)
its cells are skipped with a note, as the PostgreSQL tests are.

Each tutorial's kernel runs with SQLNB_STATIC_GRIDS=1, as the stored outputs were made (`jupyter
nbconvert --execute`, see notebooks/README.md): a result explorer shows as its static table,
which nbval compares, and no widget is stored."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest
import tutorial_postgres

NEEDS_JAVA = "07-a-cluster-spark-sql.ipynb"
NEEDS_POSTGRES = "09-postgresql.ipynb"
_servers: list[Any] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")
            or os.environ.get("SQLNB_REQUIRE_SPARK")):
        skip = pytest.mark.skip(reason="no Java: apt-get install openjdk-17-jre-headless "
                                       "(CI always runs this tutorial)")
        for item in items:
            if item.path.name == NEEDS_JAVA:
                item.add_marker(skip)
    if not (tutorial_postgres.have_server_programs()
            or os.environ.get("SQLNB_REQUIRE_POSTGRES")):
        skip = pytest.mark.skip(reason="no PostgreSQL server: apt-get install postgresql "
                                       "(CI always runs this tutorial)")
        for item in items:
            if item.path.name == NEEDS_POSTGRES:
                item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    """A tutorial's kernel starts in its first cell's setup. It inherits SQLNB_STATIC_GRIDS=1,
    which this process does not keep (the tests in tests/ show live grids). Before the
    PostgreSQL tutorial's kernel starts, a server for it, named in this process's environment,
    which the kernel inherits."""
    if (item.path.name == NEEDS_POSTGRES and not _servers
            and not any(mark.name == "skip" for mark in item.iter_markers())):
        server, variables = tutorial_postgres.start()
        _servers.append(server)
        os.environ.update(variables)
    previous = os.environ.get("SQLNB_STATIC_GRIDS")
    os.environ["SQLNB_STATIC_GRIDS"] = "1"
    try:
        return (yield)
    finally:
        if previous is None:
            del os.environ["SQLNB_STATIC_GRIDS"]
        else:
            os.environ["SQLNB_STATIC_GRIDS"] = previous


def pytest_sessionfinish(session: pytest.Session) -> None:
    for server in _servers:
        server.stop()
    _servers.clear()
