"""Query results: `Result` (rows as SQLite gave them) and their conversion to pandas DataFrames.

pandas is imported when a DataFrame is first built, not when sqlnb is imported.

A column's dtype follows the values SQLite returned, since SQLite's types belong to values, not
columns: integers give int64 (Int64 when some are NULL), numbers give float64 (NULL as NaN),
text gives pandas' string dtype, and a column that mixes kinds (1, 'three', 4.5) or holds BLOBs
keeps each value as it is, in an object column. A column that is NULL throughout is object.

Integers beside reals (a UNION, CASE or COALESCE, an untyped column) give float64 only when a
float64 holds every one of those integers exactly (|n| <= 2**53); otherwise the column keeps each
value as it is, in an object column, so no value changes silently.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ArrowFrameBuilder", "Result", "arrow_to_dataframe", "rows_to_dataframe"]


class Result:
    """The rows and columns of one statement, plus what a write changed.

    Iterating gives the rows (tuples); `to_dataframe()` gives a pandas DataFrame. The names of
    Datasette's `Results` (`rows`, `columns`, `first()`, `single_value()`, `dicts()`) work too.
    """

    __slots__ = ("columns", "elapsed", "lastrowid", "rowcount", "rows", "sql")

    def __init__(self, columns: list[str], rows: list[tuple], rowcount: int = -1,
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
    if not rows or len(rows) > 256:
        builder = FrameBuilder(columns)
        if rows:
            builder.add(rows)
        return builder.frame()
    # a few rows (a lookup, a count): one pass, no batches
    arrays = [_convert(list(values)) for values in zip(*rows)]
    return _frame(arrays, len(rows), columns)


def arrow_to_dataframe(columns: Sequence[str], batches: list[Any]) -> pd.DataFrame:
    """Build a DataFrame from Arrow record batches (see ArrowFrameBuilder for the dtypes)."""
    builder = ArrowFrameBuilder(columns)
    for batch in batches:
        builder.add(batch)
    return builder.frame()


class ArrowFrameBuilder:
    """Turns Arrow record batches (an engine that speaks Arrow: DuckDB) into a DataFrame as they
    arrive, so that the batches of a large result never all exist beside the frame.

    Dtypes follow SQLite's rules where they apply: integers (and booleans) with NULLs become
    pandas' nullable dtypes (Int64, boolean) rather than float64, which could round a large
    integer; text is pandas' string dtype. Richer types map as DuckDB's own `df()` maps them:
    DECIMAL is float64, TIMESTAMP and DATE are datetime64 (with the time zone, if any), LIST and
    STRUCT are lists and dicts, a column NULL throughout is object.

    Numbers are copied batch by batch into one growing numpy array per column (grown in place
    by realloc, so the pages of a large column are touched once); text keeps its Arrow buffers
    (pandas' string dtype is Arrow-backed: no copy at all); other types keep their batches and
    are converted at the end.
    """

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.rows = 0
        self._kinds: list[str] | None = None  # per column: "number", "text" or "other"
        self._values: list[Any] = []  # a growing numpy array, or a list of Arrow arrays
        self._masks: list[Any] = []  # for numbers: a growing bool array of NULLs, or None

    def add(self, batch: Any) -> None:
        """Take one record batch's rows (the batch itself is not kept for numbers)."""
        import numpy as np

        if self._kinds is None:
            self._start(batch.schema)
        count, start = batch.num_rows, self.rows
        for j, kind in enumerate(self._kinds):  # type: ignore[arg-type]
            column = batch.column(j)
            if kind != "number":
                # a copy: an engine may hand the whole batch over as one allocation, which one
                # kept column would keep alive (its numbers too: 2.5x the frame, measured); a
                # small batch holds too little to matter, and skips the copy's cost
                self._values[j].append(_own_copy(column, kind) if count > SMALL_BATCH
                                       else column)
                continue
            values = self._values[j] = _grow(self._values[j], start + count)
            floats = values.dtype.kind == "f"  # a NULL of a float is NaN: no mask needed
            nulls = column.null_count
            source = column.fill_null(False if values.dtype == bool else 0) if (
                nulls and not floats) else column
            values[start:start + count] = source.to_numpy(zero_copy_only=False)
            mask = self._masks[j]
            if nulls and mask is None and not floats:  # the first NULL: a mask from here on
                mask = self._masks[j] = np.zeros(len(values), dtype=bool)
            if mask is not None:
                mask = self._masks[j] = _grow(mask, start + count)
                mask[start:start + count] = (column.is_null().to_numpy(zero_copy_only=False)
                                             if nulls else False)
        self.rows += count

    def _start(self, schema: Any) -> None:
        import numpy as np
        import pyarrow as pa

        self._kinds = []
        for field_ in schema:
            kind = field_.type
            if (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                    or pa.types.is_boolean(kind)):
                self._kinds.append("number")
                self._values.append(np.empty(0, dtype=kind.to_pandas_dtype()))
            elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                self._kinds.append("text")
                self._values.append([])
            else:
                self._kinds.append("other")
                self._values.append([])
            self._masks.append(None)

    def frame(self) -> pd.DataFrame:
        """The DataFrame of every batch added so far."""
        import pandas as pd
        import pyarrow as pa

        if self._kinds is None:  # no batch at all: an empty frame of object columns
            return rows_to_dataframe([], self.columns)
        arrays = []
        for j, kind in enumerate(self._kinds):
            values, self._values[j] = self._values[j], None
            if kind == "number":
                values.resize(self.rows, refcheck=False)
                mask = self._masks[j]
                if mask is not None:
                    mask.resize(self.rows, refcheck=False)
                    values = (pd.arrays.BooleanArray(values, mask) if values.dtype == bool
                              else pd.arrays.IntegerArray(values, mask))
                arrays.append(values)
            else:
                arrays.append(_arrow_column(pa.chunked_array(values)))
        return _frame(arrays, self.rows, self.columns)


#: A batch of at most this many rows keeps its text columns as they came (see add()).
SMALL_BATCH = 1024


def _own_copy(column: Any, kind: str) -> Any:
    """An Arrow array with buffers of its own, made by a concatenation (a cast alone may share
    the characters' buffer); text as large_string, the type pandas' Arrow-backed strings hold."""
    import pyarrow as pa

    if kind == "text":
        column = column.cast(pa.large_string())
    return pa.concat_arrays([column, pa.array([], type=column.type)])


def _grow(values: Any, size: int) -> Any:
    """`values` with room for `size` items, resized in place (realloc: on Linux a large array
    is moved by remapping its pages, no copy), an eighth more at a time: the spare room is
    zero-filled, so it counts in memory (10M int64 grown by 122,880 rows: peak 76 MB exact,
    107 MB by half again)."""
    if len(values) < size:
        values.resize(max(size, len(values) * 9 // 8), refcheck=False)
    return values


def _arrow_column(column: Any) -> Any:
    """One Arrow column of text or a richer type as a DataFrame column's array (see
    ArrowFrameBuilder)."""
    import pandas as pd
    import pyarrow as pa

    kind = column.type
    if pa.types.is_null(kind):  # NULL throughout: an object column of None, as for SQLite
        import numpy as np

        return np.full(len(column), None, dtype=object)
    if pa.types.is_decimal(kind):
        column = column.cast(pa.float64())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _string_dtype().__from_arrow__(column)  # what to_pandas does, minus a Series
    series = column.to_pandas(date_as_object=False)
    values = series.array
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        return values.to_numpy()
    return values


def _frame(arrays: list[Any], rows: int, columns: Sequence[str]) -> pd.DataFrame:
    """The DataFrame of typed columns."""
    import pandas as pd

    # cached indexes are handed out as views: a frame's index can be renamed in place
    index = _range_index(rows).view() if rows < 64 else pd.RangeIndex(rows)
    return (_assemble or _pick_assembler())(arrays, index,
                                            _column_index(tuple(columns)).view())


class FrameBuilder:
    """Turns rows into typed columns a batch at a time, so the row tuples of a large result
    never all exist at once (peak memory is the typed columns plus one batch)."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self._getters = [itemgetter(j) for j in range(len(self.columns))]
        self._parts: list[list[Any]] = [[] for _ in self.columns]
        self.rows = 0

    def add(self, rows: list[tuple]) -> None:
        """Convert one batch of rows (column by column) and keep the typed arrays."""
        for get, parts in zip(self._getters, self._parts):
            parts.append(_convert(list(map(get, rows))))
        self.rows += len(rows)

    def frame(self) -> pd.DataFrame:
        """The DataFrame of every batch added so far."""
        return _frame([_join(parts) for parts in self._parts], self.rows, self.columns)


_assemble: Any = None  # (arrays, index, columns) -> DataFrame, picked on first use


def _pick_assembler() -> Any:
    """The fastest way this pandas offers to make a frame of arrays already built and typed.

    pandas >= 3 has `pandas.api.internals.create_dataframe_from_blocks` for libraries that
    build columns themselves (pyarrow's `to_pandas` uses it): each column becomes its own block,
    with no copy and no checks; a 1-row frame takes half the time of `_from_arrays`.
    """
    global _assemble
    import numpy as np
    import pandas as pd

    try:
        from pandas.api.internals import create_dataframe_from_blocks
    except ImportError:
        create_dataframe_from_blocks = None

    if create_dataframe_from_blocks is not None:
        def assemble(arrays: list[Any], index: Any, columns: Any) -> pd.DataFrame:
            blocks = [(array.reshape(1, -1) if isinstance(array, np.ndarray) else array,
                       np.array([j], dtype=np.intp)) for j, array in enumerate(arrays)]
            return create_dataframe_from_blocks(blocks, index=index, columns=columns)
    else:
        def assemble(arrays: list[Any], index: Any, columns: Any) -> pd.DataFrame:
            try:  # skips pandas' checks, the arrays are typed already
                return pd.DataFrame._from_arrays(arrays, columns=columns, index=index,
                                                 verify_integrity=False)
            except (AttributeError, TypeError):  # a pandas without it
                frame = pd.DataFrame(dict(enumerate(arrays)), index=index, copy=False)
                frame.columns = columns
                return frame

    _assemble = assemble
    return assemble


@lru_cache(maxsize=64)
def _range_index(rows: int) -> Any:
    """The row index of a small frame (its values are immutable; frames get views of it)."""
    import pandas as pd

    return pd.RangeIndex(rows)


@lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...]) -> Any:
    """The columns' Index (its values are immutable; frames get views of it)."""
    import pandas as pd

    return pd.Index(list(names))


def _convert(values: list[Any]) -> Any:
    """One batch of one column as a typed array: numpy's C fast path when the values allow."""
    import numpy as np

    first = None
    for first in values:
        if first is not None:
            break
    if first is None:  # NULL throughout: an object column of None
        objects = np.empty(len(values), dtype=object)
        return objects
    if type(first) in (int, float):
        try:
            array = np.array(values)
        except (ValueError, TypeError, UnicodeError):  # numbers mixed with bytes or text
            array = None
        if array is not None and array.dtype.kind in "if":  # all numbers (ints, floats)
            if array.dtype.kind == "i" or not _lost_integers(values, array):
                return array
            return _objects(values)  # an integer the floats would round
    return _column(_objects(values))


#: Integers of at most this size are exact as float64 (a 53-bit significand).
EXACT_IN_FLOAT = 2**53


def _lost_integers(values: list[Any], floats: Any) -> bool:
    """True when `floats` (numpy's float64 of `values`) rounded one of the integers in `values`.

    Only a value of magnitude 2**53 or more can have been rounded, so in a large batch the
    Python-level look is confined to those (none, in almost every column of reals). A batch of a
    few values is looked at in Python: numpy's calls cost a one-row frame 17 us (96 against 79
    us here), the loop under 1.
    """
    candidates: Any = values
    if len(values) > 64:
        import numpy as np

        candidates = [values[i] for i in np.flatnonzero(np.abs(floats) >= EXACT_IN_FLOAT)]
    return any(type(v) is int and not -EXACT_IN_FLOAT <= v <= EXACT_IN_FLOAT for v in candidates)


def _objects(values: Any) -> Any:
    """The values as a numpy object array, each kept as it is."""
    import numpy as np

    objects = np.empty(len(values), dtype=object)
    objects[:] = values
    return objects


def _join(parts: list[Any]) -> Any:
    """One column from its batches, in a dtype that holds every batch's values."""
    import numpy as np
    import pandas as pd

    if not parts:
        return np.empty(0, dtype=object)
    if len(parts) == 1:
        return parts[0]
    kinds = {_kind(part) for part in parts}
    if kinds <= {"i", "f"}:
        if kinds == {"i", "f"} and any(
                _kind(p) == "i" and ((p > EXACT_IN_FLOAT) | (p < -EXACT_IN_FLOAT)).any()
                for p in parts):  # integers the floats would round: keep every value as it is
            return np.concatenate([part.astype(object) for part in parts])
        return np.concatenate(parts)
    if kinds <= {"i", "Int64"}:
        parts = [pd.array(p, dtype="Int64") if _kind(p) == "i" else p for p in parts]
        return type(parts[0])._concat_same_type(parts)
    if len(kinds) == 1 and kinds != {"O"} and not isinstance(parts[0], np.ndarray):
        return type(parts[0])._concat_same_type(parts)
    objects = np.concatenate([np.asarray(part, dtype=object) for part in parts])
    return _column(objects)  # mixed batches: look at the whole column again


def _kind(part: Any) -> str:
    """"i" or "f" for numpy numbers, "O" for a numpy object array, else the dtype's name."""
    import numpy as np

    if isinstance(part, np.ndarray):
        return part.dtype.kind if part.dtype.kind in "if" else "O"
    return str(part.dtype)


def _column(values: Any) -> Any:
    """An object array as the dtype its values call for (see the module docstring)."""
    import numpy as np
    import pandas as pd

    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "integer":
        missing = pd.isna(values)
        if missing.any():
            values[missing] = 0
            return pd.arrays.IntegerArray(values.astype("int64"), missing)
        return values.astype("int64")
    if kind == "mixed-integer-float" and any(
            type(v) is int and not -EXACT_IN_FLOAT <= v <= EXACT_IN_FLOAT for v in values):
        return values  # integers a float64 would round: every value kept as it is
    if kind in ("floating", "mixed-integer-float"):
        values[pd.isna(values)] = np.nan
        return values.astype("float64")
    if kind == "boolean" and not pd.isna(values).any():
        return values.astype("bool")
    if kind == "string":
        return _text(values)
    return values


_strings: Any = None  # object array of str -> the text column (made on first use)


@lru_cache(maxsize=1)
def _string_dtype() -> Any:
    """pandas' default string dtype (pandas 3: Arrow-backed, NaN for NULL)."""
    import pandas as pd

    try:
        return pd.StringDtype(na_value=float("nan"))
    except TypeError:  # pandas 2
        return pd.StringDtype("pyarrow")


def _text(values: Any) -> Any:
    """A text column: pandas 3's default string dtype (NaN for NULL); object on pandas 2."""
    global _strings
    if _strings is None:
        import pandas as pd

        try:
            dtype = pd.StringDtype(na_value=float("nan"))
        except TypeError:  # pandas 2 keeps text in object columns
            _strings = functools.partial(pd.array, dtype=object)
        else:  # what pd.array does for this dtype, minus its dispatch (half the time)
            _strings = functools.partial(dtype.construct_array_type()._from_sequence,
                                         dtype=dtype)
    return _strings(values)
