"""Query results: `Result` (rows as SQLite gave them) and their conversion to pandas DataFrames.

pandas is imported when a DataFrame is first built, not when sqlnb is imported.

A column's dtype follows the values SQLite returned, since SQLite's types belong to values, not
columns: integers give int64 (Int64 when some are NULL), numbers give float64 (NULL as NaN),
text gives pandas' string dtype, and a column that mixes kinds (1, 'three', 4.5) or holds BLOBs
keeps each value as it is, in an object column. A column that is NULL throughout is object.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Result", "rows_to_dataframe"]


class Result:
    """The rows and columns of one statement, plus what a write changed.

    Iterating gives the rows (tuples); `to_dataframe()` gives a pandas DataFrame. The names of
    Datasette's `Results` (`rows`, `columns`, `first()`, `single_value()`, `dicts()`) work too.
    """

    __slots__ = ("columns", "elapsed", "lastrowid", "rowcount", "rows", "sql")

    def __init__(self, columns: list[str], rows: list[tuple], *, rowcount: int = -1,
                 lastrowid: int | None = None, sql: str = "", elapsed: float = 0.0) -> None:
        #: column names, in order ([] for a statement that returns no rows)
        self.columns = columns
        #: the rows, each a tuple of Python values (int, float, str, bytes or None)
        self.rows = rows
        #: rows changed by a write (-1 when SQLite does not say, as for a SELECT)
        self.rowcount = rowcount
        #: rowid of the last row inserted, when the statement inserted one
        self.lastrowid = lastrowid
        #: the statement that gave this result
        self.sql = sql
        #: seconds the statement ran
        self.elapsed = elapsed

    @property
    def truncated(self) -> bool:
        """Always False: sqlnb returns every row (kept for Datasette's `Results` users)."""
        return False

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple:
        return self.rows[index]

    def first(self) -> tuple | None:
        """The first row, or None when there are none."""
        return self.rows[0] if self.rows else None

    def single_value(self) -> Any:
        """The value of a result with exactly one row and one column."""
        if len(self.rows) == 1 and len(self.columns) == 1:
            return self.rows[0][0]
        from .errors import UsageError

        raise UsageError(
            f"single_value() needs one row and one column; this result has {len(self.rows)} "
            f"rows and {len(self.columns)} columns"
        )

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row)) for row in self.rows]

    def to_dataframe(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame (see the module docstring for the dtypes)."""
        frame = rows_to_dataframe(self.rows, self.columns)
        if not self.columns:
            frame.attrs["rowcount"] = self.rowcount
        return frame

    def __repr__(self) -> str:
        if self.columns:
            return f"<Result {len(self.rows)} rows x {len(self.columns)} columns>"
        return f"<Result {self.rowcount} rows changed>"


def rows_to_dataframe(rows: Sequence[tuple], columns: Sequence[str]) -> pd.DataFrame:
    """Build a DataFrame from SQLite rows, one column at a time, with dtypes from the values."""
    import numpy as np
    import pandas as pd

    arrays = []
    for values in zip(*rows) if rows else [() for _ in columns]:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        arrays.append(_column(array, pd))
    index = pd.RangeIndex(len(rows))
    names = list(columns)
    if len(set(names)) == len(names):
        return pd.DataFrame(dict(zip(names, arrays)), index=index, copy=False)
    frame = pd.DataFrame(dict(enumerate(arrays)), index=index, copy=False)
    frame.columns = names  # a SELECT may repeat a name
    return frame


def _column(values: Any, pd: Any) -> Any:
    import numpy as np

    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "integer":
        if pd.isna(values).any():
            return pd.array(values, dtype="Int64")
        return values.astype("int64")
    if kind in ("floating", "mixed-integer-float"):
        values[pd.isna(values)] = np.nan
        return values.astype("float64")
    if kind == "boolean" and not pd.isna(values).any():
        return values.astype("bool")
    if kind == "string":
        return pd.array(values, dtype=_STRING_DTYPE or _string_dtype(pd))
    return values


_STRING_DTYPE = None


def _string_dtype(pd: Any) -> Any:
    # pandas 3 has a default string dtype ("str"); pandas 2 keeps text in object columns.
    global _STRING_DTYPE
    try:
        _STRING_DTYPE = pd.StringDtype(na_value=float("nan"))
    except TypeError:
        _STRING_DTYPE = object
    return _STRING_DTYPE
