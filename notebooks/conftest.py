"""The tutorials are tests too (nbval). The Spark tutorial starts a local Spark Connect server,
which needs Java: without it (and unless CI says it must run) its cells are skipped with a note,
as the Spark tests are."""

from __future__ import annotations

import os
import shutil

import pytest

NEEDS_JAVA = "07-a-cluster-spark-sql.ipynb"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which("java") or os.environ.get("JAVA_HOME") or os.environ.get(
            "SQLNB_REQUIRE_SPARK"):
        return
    skip = pytest.mark.skip(reason="no Java: apt-get install openjdk-17-jre-headless "
                                   "(CI always runs this tutorial)")
    for item in items:
        if item.path.name == NEEDS_JAVA:
            item.add_marker(skip)
