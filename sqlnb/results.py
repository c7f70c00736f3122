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
import mmap
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
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


def rechunk(batches: Iterable[Any], rows: int) -> Iterator[list[Any]]:
    """Arrow record batches regrouped into lists of exactly `rows` rows (the last list may hold
    fewer), slicing a batch where a chunk ends: what `Link.stream` yields, one DataFrame a list."""
    pending: list[Any] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            chunk, need = [], rows
            while need:
                first = pending[0]
                if first.num_rows <= need:
                    chunk.append(pending.pop(0))
                    need -= first.num_rows
                else:
                    chunk.append(first.slice(0, need))
                    pending[0] = first.slice(need)
                    need = 0
            held -= rows
            yield chunk
    if held:
        yield pending


class ArrowFrameBuilder:
    """Turns Arrow record batches (an engine that speaks Arrow: DuckDB, Spark) into a DataFrame
    as they arrive, so that the batches of a large result never all exist beside the frame.

    Dtypes follow SQLite's rules where they apply: integers (and booleans) with NULLs become
    pandas' nullable dtypes (Int64, boolean) rather than float64, which could round a large
    integer; text is pandas' string dtype. A DECIMAL is the nearest float64; DATE and TIMESTAMP
    are datetime64 (with the time zone, if any); LIST, STRUCT and MAP are lists and dicts; the
    rest, and what no pandas dtype holds, as _arrow_types maps it (docs/engines/' type tables).

    `schema` (the result's Arrow schema) types the columns of a result without rows; `whole` are
    the positions of columns that hold integers Arrow carries as DECIMAL(38, 0) or as text
    (DuckDB's HUGEINT, UHUGEINT, BIGNUM): int64 when every value fits, else Python ints.

    Numbers go into a numpy array per column (see _Numbers), DECIMALs too, as floats; text into
    one Arrow large_string array per column (see _Text: pandas' string dtype is Arrow-backed);
    other types keep their batches' arrays (copied out of a large batch) and are converted at
    the end.
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
            if kind in ("number", "text"):
                self._values[j].add(column)
            elif kind == "decimal":
                self._values[j].add(decimal_floats(column))
            else:
                # a copy: an engine may hand the whole batch over as one allocation, which one
                # kept column would keep alive (its numbers too: 2.5x the frame, measured); a
                # small batch holds too little to matter, and skips the copy's cost
                self._values[j].append(_own_copy(column) if count > SMALL_BATCH else column)
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
            elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                self._kinds.append("text")
                self._values.append(_Text(kind))
            else:
                self._kinds.append("other")
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
            if kind in ("number", "decimal", "text"):
                arrays.append(values.array())
            else:
                chunks = pa.chunked_array(values, type=self._types[j])
                arrays.append(_arrow_column(chunks, j in self._whole))
        return _frame(arrays, self.rows, self.columns)


class _Numbers:
    """One column of numbers (and which of them are NULL) from Arrow batches.

    Up to VIEW_ROWS rows the batches' own arrays are kept as they come (no copy) and joined at
    the end, which spares a small result the growing. Past that the column moves into a
    _Growing array of its own and each batch is copied in as it comes, so a large result's
    batches are let go one by one (10M rows x 5 columns peaked at 680 MB against 1,005 MB with
    every batch kept for the end, as `to_arrow_table().to_pandas()` keeps them).
    """

    __slots__ = ("dtype", "mask", "masks", "parts", "rows", "values")

    def __init__(self, dtype: Any) -> None:
        import numpy as np

        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.parts: list[Any] = []  # the batches' arrays, until the column has its own
        self.masks: list[Any] = []  # their NULLs (None for a batch without)
        self.values: _Growing | None = None  # the column's own array, once it has one
        self.mask: _Growing | None = None  # its NULLs, from the first batch that has one

    def add(self, column: Any) -> None:
        """Take one batch's column: an Arrow array, or a numpy array (no NULLs, or NaN)."""
        import numpy as np

        if isinstance(column, np.ndarray):  # converted already (a DECIMAL's floats)
            self._take(column, None)
        elif not column.null_count or self.dtype.kind == "f":  # a float's NULL is NaN
            self._take(column.to_numpy(zero_copy_only=False), None)
        elif self.dtype == bool:  # (packed bits: unpacked by numpy's conversion)
            self._take(column.fill_null(False).to_numpy(zero_copy_only=False),
                       column.is_null().to_numpy(zero_copy_only=False))
        else:  # the values buffer as it is; what it holds under a NULL is zeroed in _take
            self._take(np.frombuffer(column.buffers()[1], dtype=self.dtype, count=len(column),
                                     offset=column.offset * self.dtype.itemsize),
                       column.is_null().to_numpy(zero_copy_only=False))

    def _take(self, array: Any, isnull: Any) -> None:
        count = len(array)
        if self.values is None:
            self.parts.append(array)
            self.masks.append(isnull)
            self.rows += count
            if self.rows > VIEW_ROWS:
                self._own()
            return
        values = self.values.extend(count)
        values[:] = array
        if isnull is not None:
            values[isnull] = 0
        del values  # a view of the growing array: let go before it grows
        self.mask = _add_nulls(self.mask, isnull, self.rows, count)
        self.rows += count

    def _own(self) -> None:
        """Move the batches' arrays into an array of the column's own, with room to grow."""
        parts, masks, rows = self.parts, self.masks, self.rows
        self.parts, self.masks, self.rows = [], [], 0
        self.values = _Growing(self.dtype, 2 * rows)
        for part, isnull in zip(parts, masks):
            self._take(part, isnull)

    def array(self) -> Any:
        """The column: a numpy array, or pandas' nullable array where there are NULLs."""
        import numpy as np
        import pandas as pd

        if self.values is None:  # joined (a copy: an Arrow view is read-only)
            values = np.concatenate(self.parts) if self.parts else np.empty(0, self.dtype)
            mask = None
            if any(m is not None for m in self.masks):
                mask = np.concatenate([np.zeros(len(p), dtype=bool) if m is None else m
                                       for p, m in zip(self.parts, self.masks)])
                values[mask] = 0
        else:
            values = self.values.array()
            mask = None if self.mask is None else self.mask.array()
        if mask is None:
            return values
        if values.dtype == bool:
            return pd.arrays.BooleanArray(values, mask)
        return pd.arrays.IntegerArray(values, mask)


class _Text:
    """One column of text from Arrow batches (string or large_string), for pandas' string dtype,
    which holds one large_string array.

    Up to VIEW_ROWS rows the batches' arrays are kept as they come. Past that the characters and
    the offsets are copied into _Growing arrays of the column's own as batches come: no batch is
    kept (an engine may export a whole batch as one allocation, which one kept column keeps
    alive with every number in it: 2.5x the frame, measured), and the column ends as one array
    rather than a chunk per batch.
    """

    __slots__ = ("chars", "mask", "offsets", "parts", "rows", "type")

    def __init__(self, kind: Any) -> None:
        self.type = kind
        self.rows = 0
        self.parts: list[Any] = []  # the batches' arrays, until the column has its own
        self.offsets: _Growing | None = None  # where each value ends in chars (int64)
        self.chars: _Growing | None = None  # the values' UTF-8 bytes, one after another
        self.mask: _Growing | None = None  # which values are NULL, from the first NULL on

    def add(self, column: Any) -> None:
        """Take one batch's column (an Arrow string or large_string array)."""
        if self.offsets is None:
            self.parts.append(column)
            self.rows += len(column)
            if self.rows > VIEW_ROWS:
                self._own()
            return
        self._copy(column)

    def _own(self) -> None:
        import numpy as np

        parts, rows = self.parts, self.rows
        self.parts, self.rows = [], 0
        self.offsets = _Growing(np.int64, 2 * rows + 1)
        self.offsets.append(np.zeros(1, dtype=np.int64))
        self.chars = _Growing(np.uint8, 2 * sum(last - first
                                                for first, last in map(_text_bounds, parts)))
        for part in parts:
            self._copy(part)

    def _copy(self, column: Any) -> None:
        """Append one batch's values: its characters, and its offsets shifted to where they
        land in the column's own characters."""
        import numpy as np

        assert self.offsets is not None and self.chars is not None
        count = len(column)
        first, last = _text_bounds(column)
        if last > first:
            self.chars.append(np.frombuffer(column.buffers()[2], dtype=np.uint8,
                                            count=last - first, offset=first))
        shift = self.chars.size - (last - first) - first  # where the batch's characters went
        # (an int64 loop: the shift of a late batch may not fit the batch's int32 offsets)
        np.add(_text_offsets(column)[1:], shift, out=self.offsets.extend(count), dtype=np.int64)
        isnull = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else None
        self.mask = _add_nulls(self.mask, isnull, self.rows, count)
        self.rows += count

    def array(self) -> Any:
        """The column in pandas' string dtype."""
        import numpy as np
        import pyarrow as pa

        if self.offsets is None or self.chars is None:
            text = pa.chunked_array(self.parts, type=self.type)
        else:
            validity, nulls = None, 0
            if self.mask is not None:
                isnull = self.mask.array()
                nulls = int(np.count_nonzero(isnull))
                validity = pa.py_buffer(np.packbits(~isnull, bitorder="little"))
            text = pa.LargeStringArray.from_buffers(
                self.rows, pa.py_buffer(self.offsets.array()), pa.py_buffer(self.chars.array()),
                validity, nulls)
        return _string_dtype().__from_arrow__(text)


def _text_offsets(column: Any) -> Any:
    """The offsets of a string or large_string array's values (numpy, a view of its buffer)."""
    import numpy as np
    import pyarrow as pa

    width = np.int64 if pa.types.is_large_string(column.type) else np.int32
    return np.frombuffer(column.buffers()[1], dtype=width, count=len(column) + 1,
                         offset=column.offset * np.dtype(width).itemsize)


def _text_bounds(column: Any) -> tuple[int, int]:
    """Where a string array's characters start and end in its data buffer."""
    offsets = _text_offsets(column)
    return int(offsets[0]), int(offsets[-1])


def _add_nulls(mask: _Growing | None, isnull: Any, rows: int, count: int) -> _Growing | None:
    """A column's NULL mask after a batch of `count` rows (its NULLs `isnull`, or None for
    none) joins its first `rows`: no mask until a first NULL (then False for the rows before)."""
    import numpy as np

    if isnull is None:
        if mask is not None:
            mask.zeros(count)
        return mask
    if mask is None:
        mask = _Growing(np.bool_, 2 * (rows + count))
        mask.zeros(rows)
    mask.append(isnull)
    return mask


class _Growing:
    """An array of one dtype that grows at its end, for a column whose length is known only
    once its last batch has come.

    It lives in an anonymous memory map: memory the OS hands out zeroed, and only where it is
    first written, so room reserved ahead costs nothing (the map doubles when full). On Linux
    the map grows in place (mremap: no copy, whatever its size) and each region is backed just
    before it is written (_populate); elsewhere a full map is copied into one twice its size.
    What this replaced, numpy arrays grown by doubling and past 64 MB by `ndarray.resize` (which
    zero-fills what it adds), copied a column up to twice more and touched its slack
    (benchmarks/RESULTS.md, issue 24). Huge pages (madvise) halved the cost of writing into
    fresh memory on a quiet machine but tripled it after a large free (this virtual machine
    backs a huge page slowly): not asked for.

    The arrays it gives (`extend`, `array`) are views of the map: a view from `extend` must be
    let go before the next call, or the map cannot grow (BufferError, never a dangling view).
    """

    __slots__ = ("_map", "dtype", "size")

    def __init__(self, dtype: Any, capacity: int) -> None:
        import numpy as np

        self.dtype = np.dtype(dtype)
        self.size = 0  # items written so far
        self._map = _anonymous_map(capacity * self.dtype.itemsize)

    def extend(self, count: int) -> Any:
        """The next `count` items (zeros until written), as a writable numpy view."""
        import numpy as np

        self._make_room(count)
        start = self.size * self.dtype.itemsize
        _populate(self._map, start, count * self.dtype.itemsize)
        view = np.frombuffer(self._map, dtype=self.dtype, count=count, offset=start)
        self.size += count
        return view

    def append(self, values: Any) -> None:
        """Copy `values` (an array of this dtype) to the end."""
        self.extend(len(values))[:] = values

    def zeros(self, count: int) -> None:
        """Add `count` zeros: the map's memory is zero until written, so none is written."""
        self._make_room(count)
        self.size += count

    def array(self) -> Any:
        """The items, as a numpy array on the map (which it keeps alive); the end of growing."""
        import numpy as np

        nbytes = self.size * self.dtype.itemsize
        if not nbytes:
            return np.empty(0, dtype=self.dtype)
        if _GROWS_IN_PLACE:  # the room left over back to the OS (address space only)
            self._map.resize(nbytes)
        return np.frombuffer(self._map, dtype=self.dtype, count=self.size)

    def _make_room(self, count: int) -> None:
        import numpy as np

        needed = (self.size + count) * self.dtype.itemsize
        if needed <= len(self._map):
            return
        size = max(needed, 2 * len(self._map))
        if _GROWS_IN_PLACE:
            self._map.resize(size)
            return
        bigger = _anonymous_map(size)
        used = self.size * self.dtype.itemsize
        if used:
            np.frombuffer(bigger, dtype=np.uint8, count=used)[:] = np.frombuffer(
                self._map, dtype=np.uint8, count=used)
        self._map.close()
        self._map = bigger


#: The OS can grow a memory map in place (Linux's mremap), see _Growing.
_GROWS_IN_PLACE = sys.platform.startswith("linux")


#: Linux's madvise(MADV_POPULATE_WRITE) (kernel 5.14 on; Python's mmap module has no name for it),
#: or None: not Linux, or the kernel has refused it.
_POPULATE_WRITE: int | None = getattr(mmap, "MADV_POPULATE_WRITE", 23) if _GROWS_IN_PLACE else None
#: Below this many bytes a region is left to fault in page by page.
POPULATE_BYTES = 64 << 10


def _populate(memory: mmap.mmap, start: int, nbytes: int) -> None:
    """Have the OS back a region about to be written, in one call rather than a page fault per
    page: the 115,000 faults of a 10M-row frame cost more than writing it (measured: db.query
    of 10M x 5 took 0.62 s with this against 0.74 s without, the Arrow path 0.68 s)."""
    global _POPULATE_WRITE
    if _POPULATE_WRITE is None or nbytes < POPULATE_BYTES:
        return
    first = start - start % mmap.PAGESIZE
    try:
        memory.madvise(_POPULATE_WRITE, first, start + nbytes - first)
    except OSError:  # an older kernel: page faults, as anywhere else
        _POPULATE_WRITE = None


def _anonymous_map(nbytes: int) -> mmap.mmap:
    """Zeroed memory of this process alone, for at least `nbytes` (and a page). Private where
    the OS has the choice: a shared anonymous map grown in place (Python 3.11 on Linux) is not
    backed beyond its first size, and a write there is a bus error (seen here)."""
    size = max(nbytes, mmap.PAGESIZE)
    if hasattr(mmap, "MAP_PRIVATE"):
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return mmap.mmap(-1, size)  # Windows: an unnamed map is the process's own


#: A batch of at most this many rows keeps its columns of other types as they came (see add()).
SMALL_BATCH = 1024
#: A column of numbers or text keeps its batches' arrays up to this many rows (see _Numbers).
VIEW_ROWS = 1 << 18


def _own_copy(column: Any) -> Any:
    """An Arrow array with buffers of its own, made by a concatenation (a cast alone may share
    the batch's buffers). A type Arrow cannot concatenate (a union) is kept as it came."""
    import pyarrow as pa

    try:
        return pa.concat_arrays([column, pa.array([], type=column.type)])
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return column


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
