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
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ._arrow_types import column_array, decimal_floats

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ArrowFrameBuilder", "Catalog", "Result", "arrow_to_dataframe", "rows_to_dataframe"]


@dataclass(frozen=True)
class Catalog:
    """The names a Database knows: its tables and views with their columns, and the engine's
    SQL functions and keywords (what completion in a `%%sql` cell offers)."""

    #: each table and view (TEMP ones too) -> its column names, in order
    tables: Mapping[str, tuple[str, ...]]
    #: the engine's SQL functions (scalar, aggregate, window and table functions), lower case
    functions: tuple[str, ...]
    #: the engine's SQL keywords, upper case
    keywords: tuple[str, ...]
    #: the keywords a name must be quoted to be (`order`, `select`), upper case
    reserved: frozenset[str] = frozenset()


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


def arrow_to_dataframe(columns: Sequence[str], batches: list[Any], schema: Any = None,
                       whole: Collection[int] = ()) -> pd.DataFrame:
    """Build a DataFrame from Arrow record batches (see ArrowFrameBuilder for the dtypes and
    the arguments); with a schema, no batch at all still gives typed columns."""
    builder = ArrowFrameBuilder(columns, schema, whole)
    for batch in batches:
        builder.add(batch)
    return builder.frame()


class ArrowFrameBuilder:
    """Turns Arrow record batches (an engine that speaks Arrow: DuckDB, Spark) into a DataFrame
    as they arrive, so that the batches of a large result never all exist beside the frame.

    Dtypes follow SQLite's rules where they apply: integers (and booleans) with NULLs become
    pandas' nullable dtypes (Int64, boolean) rather than float64, which could round a large
    integer; text is pandas' string dtype. A DECIMAL is the nearest float64; DATE and TIMESTAMP
    are datetime64 (with the time zone, if any); LIST, STRUCT and MAP are lists and dicts; the
    rest, and what no pandas dtype holds, as _arrow_types maps it (the README's type tables).

    `schema` (the result's Arrow schema) types the columns of a result without rows; `whole` are
    the positions of columns that hold integers Arrow carries as DECIMAL(38, 0) or as text
    (DuckDB's HUGEINT, UHUGEINT, BIGNUM): int64 when every value fits, else Python ints.

    Numbers go into a numpy array per column (see _Numbers), DECIMALs too, as floats; text keeps
    its Arrow buffers (pandas' string dtype is Arrow-backed), copied out of its batch; other types
    keep their batches and are converted at the end.
    """

    def __init__(self, columns: Sequence[str], schema: Any = None,
                 whole: Collection[int] = ()) -> None:
        self.columns = list(columns)
        self.rows = 0
        self._schema = schema
        self._whole = frozenset(whole)
        # per column: "number", "decimal", "text" or "other"
        self._kinds: list[str] | None = None
        self._types: list[Any] = []  # per column: its Arrow type
        self._values: list[Any] = []  # a _Numbers, or a list of Arrow arrays

    def add(self, batch: Any) -> None:
        """Take one record batch's rows."""
        if self._kinds is None:
            self._start(batch.schema)
        count = batch.num_rows
        for j, kind in enumerate(self._kinds):  # type: ignore[arg-type]
            column = batch.column(j)
            if kind == "number":
                self._values[j].add(column)
            elif kind == "decimal":
                self._values[j].add(decimal_floats(column))
            else:
                # a copy: an engine may hand the whole batch over as one allocation, which one
                # kept column would keep alive (its numbers too: 2.5x the frame, measured); a
                # small batch holds too little to matter, and skips the copy's cost
                self._values[j].append(_own_copy(column, kind) if count > SMALL_BATCH
                                       else column)
        self.rows += count

    def _start(self, schema: Any) -> None:
        import pyarrow as pa

        self._kinds = []
        for j, field_ in enumerate(schema):
            kind = field_.type
            self._types.append(kind)
            if j in self._whole:
                self._kinds.append("other")
                self._values.append([])
            elif (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                    or pa.types.is_boolean(kind)):
                self._kinds.append("number")
                self._values.append(_Numbers(kind.to_pandas_dtype()))
            elif pa.types.is_decimal(kind):
                self._kinds.append("decimal")
                self._values.append(_Numbers("float64"))
            else:
                is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
                self._kinds.append("text" if is_text else "other")
                self._values.append([])

    def frame(self) -> pd.DataFrame:
        """The DataFrame of every batch added so far."""
        import pyarrow as pa

        if self._kinds is None:
            if self._schema is None:  # no batch and no schema: object columns, as SQLite's
                return rows_to_dataframe([], self.columns)
            self._start(self._schema)  # no batch: empty columns of the schema's types
        arrays = []
        for j, kind in enumerate(self._kinds):  # type: ignore[arg-type]
            values, self._values[j] = self._values[j], None
            if kind in ("number", "decimal"):
                arrays.append(values.array())
            else:
                # (the chunks' own type: text was copied as large_string)
                chunks = pa.chunked_array(values) if values else pa.chunked_array(
                    [], type=self._types[j])
                arrays.append(_arrow_column(chunks, j in self._whole))
        return _frame(arrays, self.rows, self.columns)


class _Numbers:
    """One column of numbers (and which of them are NULL) from Arrow batches.

    Up to VIEW_ROWS rows the batches' own arrays are kept as they come (no copy) and joined at
    the end, which spares a small result the growing. Past that the column moves into an array
    of its own, grown as batches come (see _grow), so a large result's batches are let go one
    by one: 10M rows x 5 columns peaked at 680 MB against 1,005 MB with every batch kept for
    the end (as `to_arrow_table().to_pandas()` keeps them), at about 1.3x its time.
    """

    __slots__ = ("dtype", "mask", "masks", "parts", "rows", "values")

    def __init__(self, dtype: Any) -> None:
        import numpy as np

        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.parts: list[Any] = []  # the batches' arrays, until the column has its own
        self.masks: list[Any] = []  # their NULLs (None for a batch without)
        self.values: Any = None  # the column's own array, once it has one
        self.mask: Any = None  # its NULLs, from the first batch that has one

    def add(self, column: Any) -> None:
        """Take one batch's column: an Arrow array, or a numpy array (no NULLs, or NaN)."""
        import numpy as np

        if isinstance(column, np.ndarray):  # converted already (a DECIMAL's floats)
            self._take(column, None)
            return
        nulls = bool(column.null_count) and self.dtype.kind != "f"  # a float's NULL is NaN
        if nulls:
            column, isnull = (column.fill_null(False if self.dtype == bool else 0),
                              column.is_null().to_numpy(zero_copy_only=False))
        self._take(column.to_numpy(zero_copy_only=False), isnull if nulls else None)

    def _take(self, array: Any, isnull: Any) -> None:
        import numpy as np

        nulls = isnull is not None
        start, end = self.rows, self.rows + len(array)
        self.rows = end
        if self.values is None:
            self.parts.append(array)
            self.masks.append(isnull if nulls else None)
            if end > VIEW_ROWS:
                self._own()
            return
        self.values = _grow(self.values, end)
        self.values[start:end] = array
        if nulls and self.mask is None:
            self.mask = np.zeros(len(self.values), dtype=bool)
        if self.mask is not None:
            self.mask = _grow(self.mask, end)
            self.mask[start:end] = isnull if nulls else False

    def _own(self) -> None:
        """Move the batches' arrays into an array of the column's own, with room to grow."""
        import numpy as np

        self.values = np.empty(self.rows * 9 // 8, dtype=self.dtype)
        np.concatenate(self.parts, out=self.values[:self.rows])
        if any(m is not None for m in self.masks):
            self.mask = np.zeros(len(self.values), dtype=bool)
            np.concatenate(self._full_masks(), out=self.mask[:self.rows])
        self.parts, self.masks = [], []

    def _full_masks(self) -> list[Any]:
        import numpy as np

        return [np.zeros(len(p), dtype=bool) if m is None else m
                for p, m in zip(self.parts, self.masks)]

    def array(self) -> Any:
        """The column: a numpy array, or pandas' nullable array where there are NULLs."""
        import numpy as np
        import pandas as pd

        if self.values is None:  # joined (a copy: an Arrow view is read-only)
            values = np.concatenate(self.parts) if self.parts else np.empty(0, self.dtype)
            mask = (np.concatenate(self._full_masks())
                    if any(m is not None for m in self.masks) else None)
        else:
            values, mask = self.values, self.mask
            values.resize(self.rows, refcheck=False)
            if mask is not None:
                mask.resize(self.rows, refcheck=False)
        if mask is None:
            return values
        if values.dtype == bool:
            return pd.arrays.BooleanArray(values, mask)
        return pd.arrays.IntegerArray(values, mask)


#: A batch of at most this many rows keeps its text columns as they came (see add()).
SMALL_BATCH = 1024
#: A column of numbers keeps its batches' arrays up to this many rows (see _Numbers).
VIEW_ROWS = 1 << 18
#: From this size on (bytes) a column grows in place (see _grow); glibc maps blocks this big
#: with mmap, which realloc can grow without a copy.
LARGE_ARRAY = 64 << 20


def _own_copy(column: Any, kind: str) -> Any:
    """An Arrow array with buffers of its own, made by a concatenation (a cast alone may share
    the characters' buffer); text as large_string, the type pandas' Arrow-backed strings hold.
    A type Arrow cannot concatenate (a union) is kept as it came."""
    import pyarrow as pa

    if kind == "text":
        column = column.cast(pa.large_string())
    try:
        return pa.concat_arrays([column, pa.array([], type=column.type)])
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return column


def _grow(values: Any, size: int) -> Any:
    """`values` (a numpy array that owns its memory) with room for `size` items.

    A small array moves to a new one twice its size (numpy's empty memory is not touched until
    written, and copying a few MB is quick). A large one is resized in place, an eighth more at a
    time: realloc moves a large block by remapping its pages, with no copy, and only the spare
    eighth is zero-filled.
    """
    import numpy as np

    if len(values) >= size:
        return values
    if values.nbytes < LARGE_ARRAY:
        grown = np.empty(max(size, 2 * len(values)), dtype=values.dtype)
        grown[:len(values)] = values
        return grown
    values.resize(max(size, len(values) * 9 // 8), refcheck=False)
    return values


def _arrow_column(column: Any, whole: bool = False) -> Any:
    """One Arrow column of text or a richer type as a DataFrame column's array (see
    ArrowFrameBuilder; the richer types in _arrow_types)."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_null(kind):  # NULL throughout: an object column of None, as for SQLite
        import numpy as np

        return np.full(len(column), None, dtype=object)
    if not whole and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return _string_dtype().__from_arrow__(column)  # what to_pandas does, minus a Series
    return column_array(column, whole)


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
