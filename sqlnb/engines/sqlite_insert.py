"""DataFrame into a table: the column types to declare and the values SQLite can bind.

The work runs on the writer thread, a chunk of rows at a time, so the caller's thread stays free
and the row counter moves while a large frame is written.
"""

from __future__ import annotations

import datetime
import decimal
import sqlite3
from collections.abc import Callable
from typing import Any

from ..engine import Control, UsageError

#: Rows converted and inserted per executemany() call.
INSERT_CHUNK = 10_000


def quote(name: str) -> str:
    """A SQL identifier, double-quoted, with its quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def insert_work(df: Any, table: str, *, if_exists: str, temp: bool = False
                ) -> Callable[[sqlite3.Connection, Control], int]:
    """The work for the writer (the caller checked the arguments; SQLite's own limits are
    checked here, in the caller too). `temp`: a TEMP table of the connection (a DataFrame
    named in FROM, for one statement)."""
    names = [str(c) for c in df.columns]
    if len(set(n.lower() for n in names)) != len(names):
        raise UsageError("the DataFrame's column names repeat (SQLite ignores case): "
                         "rename them first, e.g. df.columns = [...]")
    types = [_sql_type(df.iloc[:, i]) for i in range(len(names))]
    target = quote(table)
    declared = ", ".join(f"{quote(n)} {t}".rstrip() for n, t in zip(names, types))
    create = f"CREATE {'TEMP ' if temp else ''}TABLE {target} ({declared})"
    marks = ", ".join("?" * len(names))
    insert = f"INSERT INTO {target} ({', '.join(map(quote, names))}) VALUES ({marks})"

    def work(conn: sqlite3.Connection, control: Control) -> int:
        if if_exists == "replace":
            conn.execute(f"DROP TABLE IF EXISTS {target}")
        try:
            conn.execute(create)
        except sqlite3.OperationalError as error:
            if if_exists != "append" or "already exists" not in str(error):
                if "already exists" in str(error) and hasattr(error, "add_note"):
                    error.add_note("pass if_exists='append' to add rows, or 'replace'")
                raise
        control.rows = 0
        for start in range(0, len(df), INSERT_CHUNK):
            part = df.iloc[start:start + INSERT_CHUNK]
            columns = [_values(part.iloc[:, i]) for i in range(len(names))]
            rows = list(zip(*columns))
            try:
                conn.executemany(insert, rows)
            except (sqlite3.ProgrammingError, OverflowError) as error:
                if hasattr(error, "add_note"):
                    error.add_note(_which_value(error, names))
                raise
            except UnicodeEncodeError as error:
                column = next((n for n, values in zip(names, columns) if _bad_text(values)), "?")
                raise UsageError(
                    f"column {column!r} holds text that is not valid Unicode ({error.reason}): "
                    "clean it first, e.g. with .str.encode('utf-8', 'replace').str.decode()"
                ) from None
            control.rows += len(rows)
        return len(df)

    return work


def _sql_type(column: Any) -> str:
    import pandas as pd

    types = pd.api.types
    dtype = column.dtype
    if types.is_bool_dtype(dtype) or types.is_integer_dtype(dtype):
        return "INTEGER"
    if types.is_float_dtype(dtype):
        return "REAL"
    if types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "TEXT"
    if types.is_string_dtype(dtype) and dtype.kind != "O":
        return "TEXT"
    kind = types.infer_dtype(column, skipna=True)
    return {
        "string": "TEXT", "bytes": "BLOB", "integer": "INTEGER", "boolean": "INTEGER",
        "floating": "REAL", "mixed-integer-float": "REAL", "datetime": "TEXT", "date": "TEXT",
    }.get(kind, "")


def _values(column: Any) -> list[Any]:
    """The column's values as Python objects SQLite can bind; missing values as None."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return [None if v is pd.NaT else v.isoformat() for v in column]
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    values = column.to_numpy(dtype=object, na_value=None)
    if column.dtype == object:  # anything may hide here: numpy scalars, dates, decimals
        return [_adapt(v) for v in values]
    return values.tolist()


def _adapt(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, str, bytes)):
        return value
    if isinstance(value, (datetime.date, datetime.time)):  # pandas Timestamps too
        return value.isoformat()
    if type(value).__name__ == "datetime64":  # numpy's: as ISO text, like a datetime64 column
        import pandas as pd

        stamp = pd.Timestamp(value)
        return None if stamp is pd.NaT else stamp.isoformat()
    item = getattr(value, "item", None)  # other numpy scalars
    if item is not None and not isinstance(value, (list, tuple, dict)):
        try:
            return item()
        except (TypeError, ValueError):
            return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def _bad_text(values: list[Any]) -> bool:
    for value in values:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _which_value(error: BaseException, names: list[str]) -> str:
    text = str(error)
    for word in text.replace(":", " ").split():
        if word.isdigit() and 1 <= int(word) <= len(names):
            return (f"column {names[int(word) - 1]!r} holds a value SQLite cannot store: "
                    "convert it first (to text, a number or bytes)")
    return ("a column holds a value SQLite cannot store: "
            "convert it first (to text, a number or bytes)")
