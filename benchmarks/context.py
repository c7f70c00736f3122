"""What every case gets: the run's scale (full or --quick), the data file and a scratch folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: Rows of the table `t` in a full run and in a --quick run.
FULL_ROWS = 1_000_000
QUICK_ROWS = 100_000


@dataclass(frozen=True)
class Context:
    """The run's settings, handed to each case's `run()`."""

    quick: bool
    #: rows in the table `t`
    rows: int
    #: the SQLite file holding `t` (WAL, built once and cached)
    table: Path
    #: a folder for files a case creates and deletes (on the same disk as the data)
    scratch: Path

    def pick(self, full: T, quick: T) -> T:
        """`full` in a full run, `quick` under --quick."""
        return quick if self.quick else full
