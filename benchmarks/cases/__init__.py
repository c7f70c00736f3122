"""The cases, in the order they run; each module has ID, TITLE and run(ctx) -> CaseResult."""

from __future__ import annotations

from types import ModuleType

from . import (
    bulk,
    duckdb,
    first_rows,
    limiter,
    lookup,
    loop,
    magic,
    parallel,
    postgres,
    spark,
    writes,
)

MODULES: list[ModuleType] = [lookup, magic, bulk, first_rows, writes, parallel, limiter, loop,
                             duckdb, spark, postgres]
CASES: dict[str, ModuleType] = {module.ID: module for module in MODULES}
