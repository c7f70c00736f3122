"""A table explored in the engine: its profile, a column's histogram, value counts and quartiles.

Each is the work of one task: a few queries, one after another on one link under one control
(one time limit, one Cancel, its stage shown in the progress widget), so that a table of 100M
rows never leaves the engine, only the few rows of the answer do. The SQL is what every engine
runs alike (count, min, max, avg, CASE, GROUP BY, LIMIT); only the quartiles are each engine's
(`Backend.quartiles_sql`) and names are quoted the engine's way (`Backend.quote`).
"""

from __future__ import annotations

import decimal
import itertools
import math
import numbers
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .results import rows_to_dataframe

if TYPE_CHECKING:
    import pandas as pd

    from ._control import Control
    from .engines.base import Backend, Link

#: Columns per aggregate query of a profile (5 expressions each: SQLite allows 2,000 columns).
PROFILE_BATCH = 100
#: Outliers a box plot's data keeps to draw at each end: the most extreme below the lower
#: whisker and above the upper one (the count says how many there are in all).
FLIERS = 500

_NESTED = re.compile(r"^(ARRAY|MAP|STRUCT|UNION|LIST)|\[\d*\]$|<", re.IGNORECASE)

Work = Callable[["Link", "Control"], Any]


class Explorer:
    """Builds the work of each exploring call for one Database's engine."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def _rows(self, link: Link, control: Control, sql: str) -> list[tuple]:
        (statement,) = self._backend.statements(sql)
        return link.run(statement, None, control, False).rows

    def _columns(self, link: Link, table: str, only: str | None = None) -> list[tuple[str, str]]:
        """(name, type) of the table's columns (a UsageError naming the table if it is none)."""
        schema = link.schema(table)
        columns = list(zip(schema["name"], schema["type"].fillna("")))
        if only is not None:
            match = [c for c in columns if c[0] == only] or [
                c for c in columns if c[0].lower() == only.lower()]
            if not match:
                names = ", ".join(name for name, _type in columns)
                raise UsageError(f"table {table!r} has no column {only!r}; its columns: {names}")
            return match[:1]
        return columns

    def _column(self, link: Link, table: str, column: str) -> tuple[str, str, str]:
        """The column's own name, and the column and table quoted for the engine's SQL."""
        (name, _kind), = self._columns(link, table, column)
        return name, self._backend.quote(name), self._backend.quote(table)

    # -- profile ------------------------------------------------------------------------------
    def profile(self, table: str, top: int) -> Work:
        def work(link: Link, control: Control) -> pd.DataFrame:
            q = self._backend.quote
            columns = self._columns(link, table)
            source = q(table)
            stats: dict[str, tuple] = {}
            total = 0
            for start in range(0, len(columns), PROFILE_BATCH):
                batch = columns[start:start + PROFILE_BATCH]
                control.stage = (100 * start / len(columns), "counting")
                parts = ["count(*)"]
                for name, kind in batch:
                    c = q(name)
                    nested = bool(_NESTED.search(kind)) or not self._backend.orderable(kind)
                    mean = None if nested else self._backend.mean_sql(c, kind)
                    parts += [f"count({c})",
                              "NULL" if nested else f"count(DISTINCT {c})",
                              "NULL" if nested else f"min({c})",
                              "NULL" if nested else f"max({c})",
                              mean or "NULL"]
                (row,) = self._rows(link, control, f"SELECT {', '.join(parts)} FROM {source}")
                total = row[0]
                for i, (name, _kind) in enumerate(batch):
                    stats[name] = row[1 + 5 * i: 6 + 5 * i]
            found = []
            for i, (name, kind) in enumerate(columns):
                count, distinct, low, high, mean = stats[name]
                frequent = None
                if top and distinct is not None and 0 < distinct < count:
                    control.stage = (100 * i / len(columns), f"most frequent in {name}")
                    c = q(name)
                    rows = self._rows(link, control, (
                        f"SELECT {c}, count(*) FROM {source} WHERE {c} IS NOT NULL "
                        f"GROUP BY {c} ORDER BY count(*) DESC, {c} LIMIT {int(top)}"))
                    frequent = ", ".join(f"{_short(v)} ({n:,})" for v, n in rows)
                found.append((name, kind, count, total - count, distinct, low, high, mean,
                              frequent))
            control.stage = None
            frame = rows_to_dataframe(found, ["column", "type", "count", "nulls", "distinct",
                                              "min", "max", "mean", "top"])
            frame = frame.astype({"count": "Int64", "nulls": "Int64", "distinct": "Int64",
                                  "mean": "Float64"})
            frame.attrs["rows"] = total
            return frame

        return work

    # -- a column's shape -----------------------------------------------------------------------
    def histogram(self, table: str, column: str, bins: int) -> Work:
        def work(link: Link, control: Control) -> pd.DataFrame:
            name, c, source = self._column(link, table, column)
            (n, low, high), = self._rows(link, control,
                                         f"SELECT count({c}), min({c}), max({c}) FROM {source}")
            _need_numbers(table, name, low, high)
            low, high = _float(low), _float(high)
            if not n:
                return _histogram_frame([], [])
            if low == high:  # one value: one bin around it
                return _histogram_frame([low - 0.5, high + 0.5], [n])
            step = high / bins - low / bins  # (high - low) / bins overflows near 1.8e308
            # a range of a few floats apart has fewer distinct edges than bins: no empty bins
            edges = sorted({low + i * step for i in range(bins)} | {high})
            counts = [f"count({c})"] + [f"count(CASE WHEN {c} < {edge!r} THEN 1 END)"
                                        for edge in edges[1:-1]]
            row, = self._rows(link, control, f"SELECT {', '.join(counts)} FROM {source}")
            cumulative = [0, *row[1:], row[0]]
            counts = [b - a for a, b in itertools.pairwise(cumulative)]
            return _histogram_frame(edges, counts)

        return work

    def value_counts(self, table: str, column: str, top: int) -> Work:
        def work(link: Link, control: Control) -> pd.DataFrame:
            _name, c, source = self._column(link, table, column)
            rows = self._rows(link, control, (
                f"SELECT {c}, count(*) FROM {source} GROUP BY {c} "
                f"ORDER BY count(*) DESC, {c} LIMIT {int(top)}"))
            (total,), = self._rows(link, control, f"SELECT count(*) FROM {source}")
            frame = rows_to_dataframe(rows, ["value", "count"])
            frame.attrs["total"] = total  # rows in all: the ones not shown are total - sum
            return frame

        return work

    def quartiles(self, table: str, column: str) -> Work:
        def work(link: Link, control: Control) -> pd.DataFrame:
            name, c, source = self._column(link, table, column)
            (low, high), = self._rows(link, control, f"SELECT min({c}), max({c}) FROM {source}")
            _need_numbers(table, name, low, high)  # (before a cast could fail, or give 0)
            row, = self._rows(link, control, self._backend.quartiles_sql(source, c))
            n, low, q1, median, q3, high = (row[0], *(_float(v) for v in row[1:]))
            columns = ["count", "min", "q1", "median", "q3", "max", "whislo", "whishi",
                       "outliers"]
            if not n:
                return rows_to_dataframe([(0, *[None] * 7, 0)], columns)
            # Tukey's whiskers: the furthest values within 1.5 IQR. A fence beyond the data is
            # the data's end (near 1.8e308 the fence is inf, which SQL cannot say)
            reach = 1.5 * (q3 - q1)
            lo, hi = max(q1 - reach, low), min(q3 + reach, high)
            x = self._backend.float_sql(c)
            (whislo, whishi, outliers), = self._rows(link, control, (
                f"SELECT min(CASE WHEN {x} >= {lo!r} THEN {x} END), "
                f"max(CASE WHEN {x} <= {hi!r} THEN {x} END), "
                f"count(CASE WHEN {x} < {lo!r} OR {x} > {hi!r} THEN 1 END) FROM {source}"))
            fliers: list[float] = []
            if outliers:  # the extremes of each end (a LIMIT alone keeps any, in storage order)
                below = self._rows(link, control, (
                    f"SELECT {x} FROM {source} WHERE {x} < {lo!r} ORDER BY {x} "
                    f"LIMIT {int(FLIERS)}"))
                above = self._rows(link, control, (
                    f"SELECT {x} FROM {source} WHERE {x} > {hi!r} ORDER BY {x} DESC "
                    f"LIMIT {int(FLIERS)}"))
                fliers = [v for (v,) in below] + [v for (v,) in reversed(above)]
            frame = rows_to_dataframe(
                [(n, low, q1, median, q3, high, whislo, whishi, outliers)], columns)
            frame.attrs["fliers"] = fliers  # ascending: up to FLIERS at each end, to draw
            frame.attrs["fliers_left_out"] = outliers - len(fliers)  # those nearer the whiskers
            return frame

        return work


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _need_numbers(table: str, column: str, low: object, high: object) -> None:
    for value in (low, high):
        if isinstance(value, decimal.Decimal):
            value = float(value)
        if value is not None and (not isinstance(value, numbers.Real)
                                  or isinstance(value, bool) or not math.isfinite(value)):
            raise UsageError(f"{table}.{column} holds values that are not finite numbers "
                             f"({_short(value)}): a histogram and a box plot need numbers; "
                             "%sqlnb plot bar counts each value instead")


def _histogram_frame(edges: list[float], counts: list[int]) -> pd.DataFrame:
    rows = [(edges[i], edges[i + 1], count) for i, count in enumerate(counts)]
    return rows_to_dataframe(rows, ["bin_start", "bin_end", "count"])


def _short(value: object, width: int = 30) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
