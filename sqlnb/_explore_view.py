"""A view over a query's result: sorted, filtered, searched and paged in the engine.

`View` is the engine-neutral core of the result explorer (the grid of `sqlnb.ipython.explorer`
draws one). It never holds the result: each page, count and summary is one query through the
`Database` (a read on the pool, under the time limit, stoppable by Cancel), built as

    SELECT * FROM (<the query>) AS sqlnb_q WHERE <filters> ORDER BY <keys> LIMIT n OFFSET m

so the result stays where it is, in the engine, however many rows it has. That choice (the
query run again for each page, rather than kept in a TEMP table or in the kernel) is measured
and explained in docs/ARCHITECTURE.md ("The result explorer"): it holds nothing between two
clicks, so there is nothing to free, and it works alike on every engine and on a read-only
Database. Its cost: an expensive query is run again for each page, and a query whose order is
not fixed (a GROUP BY without ORDER BY on a parallel engine, `random()`) may give its rows in
another order from one page to the next; a sort makes the order total (below).

The rules every engine follows here, as the engines themselves say them:
- a sort puts NULLs last in either direction (`NULLS LAST`), and NaN, where an engine has it
  (DuckDB, Spark, PostgreSQL; SQLite stores NaN as NULL), above every number; rows that tie on
  the sort keys are ordered by the other columns, in order, so that pages neither repeat nor
  skip a row;
- a range filter is `column >= low AND column <= high` (either end may be left open): NULLs
  are never in range, NaN is above every bound; text compares as the engine's collation does
  (SQLite's ISO dates, which are text, filter by range too);
- `contains` and the search box match text case-insensitively as far as the engine's `lower()`
  goes (SQLite's folds ASCII letters only; PostgreSQL's as the database's LC_CTYPE says, ASCII
  only under the C locale) and take `%`, `_` and `!` literally;
- `one of` is `column IN (values)`; `null` and `not null` are `IS NULL` / `IS NOT NULL`.

Values typed into a filter are never written into the SQL: each is a `:name` parameter
(`:fare_low`, `:carrier_1`, `:search`), adapted by the engine's own rules
(`Database.adapt_parameter`) and bound by its client as the query's own parameters are; names
are quoted by `Database.quote_identifier`. So `.sql` with `.params` is exactly what ran:
`db.query(view.sql, view.params)` runs it again, and in a `%%sql` cell it runs once those
names are notebook variables.
"""

from __future__ import annotations

import datetime
import decimal
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from .engines.sqltext import split_name
from .errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from .database import Database, QueryHandle

__all__ = ["Column", "Filter", "Sort", "View", "column_kind"]

#: The first keywords of a statement the explorer can wrap as a subquery (a query's).
QUERY_KEYWORDS = frozenset({"SELECT", "WITH", "VALUES", "FROM", "TABLE"})
#: Rows a page holds unless the call says otherwise.
PAGE_ROWS = 100
#: The alias of the wrapped query (a name no user's query is likely to need at this level).
ALIAS = "sqlnb_q"
#: The escape character of LIKE patterns: not a backslash, which Spark's strings escape.
ESCAPE = "!"

Kind = Literal["number", "date", "text", "bool", "other"]
#: Kinds a range filter and a sort apply to (bool and nested values are compared too by the
#: engines, but a range over them means nothing; sorting by bool is allowed below).
ORDERED: frozenset[str] = frozenset({"number", "date", "text", "bool"})


@dataclass(frozen=True)
class Column:
    """A column of the view: its name, its kind (number, date, text, bool, other: what the
    filters offer), its dtype as pandas names it, and whether it can be sorted and filtered
    by name (False for a name the result holds twice: the query must alias one)."""

    name: str
    kind: Kind
    dtype: str
    unique: bool = True

    @property
    def sortable(self) -> bool:
        """True when the view can order by this column (by its name, of a kind the engines
        compare)."""
        return self.unique and self.kind in ORDERED


@dataclass(frozen=True)
class Sort:
    """One sort key: a column, ascending unless `descending`."""

    column: str
    descending: bool = False


@dataclass(frozen=True)
class Filter:
    """One column's filter. `kind` is "range" (`low`/`high`, either None for open), "contains"
    (`text`), "one_of" (`values`), "null" or "not_null"."""

    column: str
    kind: Literal["range", "contains", "one_of", "null", "not_null"]
    low: Any = None
    high: Any = None
    text: str = ""
    values: tuple[Any, ...] = ()

    def describe(self) -> str:
        """The filter in words, as the footer and a header's tooltip say it."""
        if self.kind == "range":
            low = "" if self.low is None else f"{_shown(self.low)} ≤ "
            high = "" if self.high is None else f" ≤ {_shown(self.high)}"
            return f"{low}{self.column}{high}"
        if self.kind == "contains":
            return f"{self.column} contains {self.text!r}"
        if self.kind == "one_of":
            return f"{self.column} in ({', '.join(_shown(v) for v in self.values)})"
        return f"{self.column} is {'null' if self.kind == 'null' else 'not null'}"


@dataclass(frozen=True)
class State:
    """What the view shows: its sort keys, one filter per column, and the search text."""

    sorts: tuple[Sort, ...] = ()
    filters: tuple[Filter, ...] = ()
    search: str = ""


def column_kind(dtype: Any, values: Iterable[Any] = ()) -> Kind:
    """The kind of a result's column from its pandas dtype, or, for an object column, from
    its first values that are not missing (SQLite gives object columns of mixed values)."""
    import pandas as pd

    api = pd.api.types
    if api.is_bool_dtype(dtype):
        return "bool"
    if api.is_numeric_dtype(dtype):
        return "number"
    if api.is_datetime64_any_dtype(dtype):
        return "date"
    if api.is_string_dtype(dtype) and not api.is_object_dtype(dtype):
        return "text"
    seen: set[str] = set()
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            continue
        if isinstance(value, bool):
            seen.add("bool")
        elif isinstance(value, (numbers.Number, decimal.Decimal)):
            seen.add("number")
        elif isinstance(value, (datetime.date, datetime.datetime, pd.Timestamp)):
            seen.add("date")
        elif isinstance(value, str):
            seen.add("text")
        else:
            seen.add("other")
        if len(seen) > 1 or "other" in seen:
            break
    if len(seen) == 1:
        return seen.pop()  # type: ignore[return-value]
    if not seen:  # no value to look at: text is what every engine can compare
        return "text"
    return "other"


def columns_of(frame: pd.DataFrame) -> list[Column]:
    """The columns of a result (a page of it is enough), with their kinds."""
    names = [str(name) for name in frame.columns]
    counts = {name: names.count(name) for name in names}
    found = []
    for position, name in enumerate(names):
        series = frame.iloc[:, position]
        kind = column_kind(series.dtype, series.head(200))
        found.append(Column(name, kind, str(series.dtype), counts[name] == 1))
    return found


class View:
    """The result of one query, sorted, filtered, searched and paged in the engine.

    Made by `Database.explore(sql_or_table)`. Change what it shows with `sort()`, `filter()`,
    `clear_filters()` and `search()`; read it with `page()`, `count()` and `to_df()`, or start
    those without waiting (`submit_page()`, `submit_count()`: QueryHandles to cancel). `sql`
    is the SQL of the whole view as it stands.
    """

    #: Rows a page holds unless a call says otherwise.
    PAGE_ROWS = PAGE_ROWS

    def __init__(self, db: Database, sql: str, params: Mapping[str, Any] | None = None, *,
                 columns: Sequence[Column] | pd.DataFrame | None = None,
                 time_limit: float | None = None) -> None:
        if params is not None and not isinstance(params, Mapping):
            raise UsageError("the explorer binds parameters by name: give a dict for the "
                             ":name parameters of the query, not a "
                             f"{type(params).__name__}")
        self._db = db
        self._source = _source_text(db, sql)
        self._params = dict(params or {})
        self.time_limit = time_limit
        self._state = State()
        self._counts: dict[tuple[Any, ...], int] = {}
        if columns is not None and hasattr(columns, "dtypes"):  # a page of the result
            columns = columns_of(columns)
        self._columns: list[Column] = list(columns) if columns is not None else []
        if not self._columns:
            self._columns = columns_of(self._run(self._select(self._source, limit=PAGE_ROWS)))

    # -- what it is ---------------------------------------------------------------------------
    @property
    def database(self) -> Database:
        """The Database whose engine runs the view's queries."""
        return self._db

    @property
    def source(self) -> str:
        """The query the view is over, as given (a table's name became SELECT * FROM it)."""
        return self._source

    @property
    def params(self) -> dict[str, Any]:
        """The values `.sql` binds, by name: the query's own :name parameters and those of
        the filters and the search (`db.query(view.sql, view.params)` is `view.to_df()`)."""
        return {**self._params, **self._bound()[1]}

    @property
    def columns(self) -> list[Column]:
        """The result's columns with their kinds (what each can be filtered by)."""
        return list(self._columns)

    @property
    def sorts(self) -> tuple[Sort, ...]:
        """The sort keys, first key first."""
        return self._state.sorts

    @property
    def filters(self) -> tuple[Filter, ...]:
        """The filters, one per column at most."""
        return self._state.filters

    @property
    def search_text(self) -> str:
        """The text the search box looks for in every text column ("" for none)."""
        return self._state.search

    @property
    def sql(self) -> str:
        """The SQL of the whole view (sorted, filtered, searched, not paged): what `to_df()`
        runs; a page adds LIMIT and OFFSET."""
        return self._select(self._source, order=True)

    def literal_sql(self, source: str | None = None) -> str:
        """The SQL of the whole view with the values of its filters and its search written in
        as literals of the engine's dialect (sqlglot writes them: quotes doubled, Spark's
        backslashes escaped, a date as a typed DATE), as the engine binds them: SQL a cell
        runs as it is (the grid's "new cell" button). The query's own `:name` parameters stay
        as they are: in a notebook they name its variables, which a `%%sql` cell binds again.
        `source` stands for the query the view is over (a DataFrame grid's cell reads the
        notebook's variable). A UsageError names a value no literal can stand for."""
        where, _ = self._bound(literal=True)
        sql = f"SELECT * FROM ({source or self._source}\n) AS {ALIAS}{where}"
        if self._state.sorts:
            sql += "\nORDER BY " + ", ".join(self._order())
        return sql

    def __repr__(self) -> str:
        return f"<sqlnb.View {self.describe()}>"

    # -- changing it --------------------------------------------------------------------------
    def sort(self, *keys: str | tuple[str, bool] | Sort) -> View:
        """Sort by these keys, first key first: a column's name (ascending), `(name, True)`
        or `Sort(name, descending=True)`; none: the engine's own order. Returns the view."""
        sorts = []
        for key in keys:
            if isinstance(key, Sort):
                sort = key
            elif isinstance(key, str):
                sort = Sort(key)
            elif isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str):
                sort = Sort(key[0], bool(key[1]))
            else:
                raise UsageError(f"a sort key is a column's name or (name, descending), not "
                                 f"{key!r}")
            column = self._column(sort.column)
            if not column.sortable:
                raise UsageError(_unsortable(column))
            sorts.append(Sort(column.name, sort.descending))
        if len({s.column for s in sorts}) < len(sorts):
            raise UsageError("each column sorts once: give it once among the keys")
        self._state = replace(self._state, sorts=tuple(sorts))
        return self

    def filter(self, column: str, *, low: Any = None, high: Any = None,
               contains: str | None = None, one_of: Iterable[Any] | None = None,
               null: bool | None = None) -> View:
        """Filter one column (its earlier filter is replaced): `low`/`high` for a range (either
        may be None), `contains` for text, `one_of` for a list of values, `null=True` for
        NULLs only and `null=False` for values only. No argument clears the column's filter.
        Text typed into a range of a number or date column is read as one. Returns the view."""
        found = self._column(column)
        given = [low is not None or high is not None, contains is not None,
                 one_of is not None, null is not None]
        if sum(given) > 1:
            raise UsageError("a column has one filter at a time: a range (low/high), contains, "
                             "one_of or null")
        if not found.unique:
            raise UsageError(_unsortable(found))
        rest = tuple(f for f in self._state.filters if f.column != found.name)
        if not any(given):
            self._state = replace(self._state, filters=rest)
            return self
        if given[0]:
            if found.kind not in ORDERED:
                raise UsageError(f"{found.name!r} holds {found.kind} values, which have no "
                                 "range: filter it by null or not null")
            new = Filter(found.name, "range", low=_value(found, low), high=_value(found, high))
        elif given[1]:
            if not isinstance(contains, str):
                raise UsageError(f"contains takes text, not {type(contains).__name__}")
            if found.kind != "text":
                raise UsageError(f"{found.name!r} holds {found.kind} values: contains looks "
                                 "in text columns; use a range or one_of")
            new = Filter(found.name, "contains", text=contains)
        elif given[2]:
            if isinstance(one_of, (str, bytes)) or not isinstance(one_of, Iterable):
                raise UsageError("one_of takes a list of values")
            values = tuple(_value(found, v) for v in one_of)
            if not values:
                raise UsageError("one_of needs at least one value")
            new = Filter(found.name, "one_of", values=values)
        else:
            new = Filter(found.name, "null" if null else "not_null")
        self._state = replace(self._state, filters=(*rest, new))
        return self

    def clear_filters(self) -> View:
        """Drop every filter and the search. Returns the view."""
        self._state = replace(self._state, filters=(), search="")
        return self

    def search(self, text: str) -> View:
        """Keep the rows where any text column contains `text` ("" for all). Returns the view."""
        if not isinstance(text, str):
            raise UsageError(f"search takes text, not {type(text).__name__}")
        self._state = replace(self._state, search=text)
        return self

    # -- reading it ---------------------------------------------------------------------------
    def page_sql(self, offset: int = 0, limit: int = PAGE_ROWS) -> str:
        """The SQL of one page: `limit` rows from row `offset` (0-based) of the view."""
        _check_count(offset, "offset", 0)
        _check_count(limit, "limit", 1)
        return self._select(self._source, order=True, limit=limit, offset=offset)

    def count_sql(self) -> str:
        """The SQL that counts the view's rows (filters and search applied)."""
        return f"SELECT count(*) AS n FROM ({self._source}\n) AS {ALIAS}{self._where()}"

    def submit_page(self, offset: int = 0, limit: int = PAGE_ROWS) -> QueryHandle:
        """Start fetching one page; its handle (value: a DataFrame) to wait on or cancel."""
        return self._submit(self.page_sql(offset, limit))

    def page(self, offset: int = 0, limit: int = PAGE_ROWS) -> pd.DataFrame:
        """One page of the view as a DataFrame, its index the rows' positions in the view."""
        frame = self.submit_page(offset, limit).result()
        frame.index = range(offset, offset + len(frame))
        return frame

    def summary_sql(self) -> str:
        """The SQL of each column's summary over the whole result (filters not applied): its
        count of values, and the least and the greatest of a number, date or text column.
        One row: `n`, then `count_i`, `min_i`, `max_i` for the i-th column (from 0)."""
        terms = ["count(*) AS n"]
        for i, column in enumerate(self._columns):
            if not column.unique:
                continue
            q = self._q(column.name)
            terms.append(f"count({q}) AS count_{i}")
            if column.kind in ("number", "date", "text"):
                terms += [f"min({q}) AS min_{i}", f"max({q}) AS max_{i}"]
        return f"SELECT {', '.join(terms)} FROM ({self._source}\n) AS {ALIAS}"

    def submit_summary(self) -> QueryHandle:
        """Start the columns' summary (`summary_sql`); its handle (value: a one-row frame)."""
        return self._submit(self.summary_sql())

    def submit_count(self) -> QueryHandle:
        """Start counting the view's rows; its handle (value: a one-row DataFrame, column n)."""
        key = self._count_key()
        handle = self._submit(self.count_sql())

        def keep(done: Any) -> None:
            if done.exception() is None:
                self._counts[key] = int(done.result().iloc[0, 0])

        handle.add_done_callback(keep)
        return handle

    def count(self) -> int:
        """The number of rows in the view (filters and search applied), counted in the engine
        (and kept until the filters or the search change)."""
        known = self.known_count
        if known is not None:
            return known
        return int(self.submit_count().result().iloc[0, 0])

    @property
    def known_count(self) -> int | None:
        """The view's row count if it was counted for the filters and search as they are."""
        return self._counts.get(self._count_key())

    def remember_count(self, rows: int) -> None:
        """Record the row count of the view as it stands (the magics know a whole result's)."""
        self._counts[self._count_key()] = rows

    def to_df(self, *, limit: int | None = 1_000_000) -> pd.DataFrame:
        """The whole view as a DataFrame, fetched from the engine. A view of more than `limit`
        rows is refused, naming its size: pass `limit=None` to fetch it all anyway."""
        if limit is not None:
            _check_count(limit, "limit", 1)
            known = self.known_count
            if known is not None and known > limit:
                raise UsageError(_too_big(known, limit))
            frame = self._run(self._select(self._source, order=True, limit=limit + 1))
            if len(frame) > limit:
                raise UsageError(_too_big(None, limit))
            return frame
        return self._run(self.sql)

    def describe(self, start: int | None = None, stop: int | None = None,
                 total: int | None = None) -> str:
        """What is on screen in words (the grid's footer): `rows 101-200 of 12,400,000 ·
        sorted by fare desc · 2 filters · search 'x'`, rows numbered from 1."""
        total = self.known_count if total is None else total
        parts = []
        of = f" of {total:,}" if total is not None else ""
        if start is not None and stop is not None:
            parts.append(f"rows {start + 1:,}-{stop:,}{of}" if stop > start
                         else "no rows" if total == 0 else f"rows{of}")
        elif total is not None:
            parts.append(f"{total:,} rows")
        if self._state.sorts:
            parts.append("sorted by " + ", ".join(
                s.column + (" desc" if s.descending else "") for s in self._state.sorts))
        n = len(self._state.filters)
        if n:
            parts.append("1 filter" if n == 1 else f"{n} filters")
        if self._state.search:
            parts.append(f"search {self._state.search!r}")
        return " · ".join(parts) if parts else "all rows"

    # -- building the SQL ---------------------------------------------------------------------
    def _column(self, name: str) -> Column:
        for column in self._columns:
            if column.name == name:
                return column
        names = ", ".join(c.name for c in self._columns)
        raise UsageError(f"the result has no column {name!r}; its columns: {names}")

    def _count_key(self) -> tuple[Any, ...]:
        return (self._state.filters, self._state.search)

    def _q(self, name: str) -> str:
        return self._db.quote_identifier(name)

    def _select(self, source: str, *, order: bool = False, limit: int | None = None,
                offset: int = 0) -> str:
        sql = f"SELECT * FROM ({source}\n) AS {ALIAS}{self._where()}"
        if order and self._state.sorts:
            sql += "\nORDER BY " + ", ".join(self._order())
        if limit is not None:  # whole numbers checked by the caller: no value of a user's
            sql += f"\nLIMIT {int(limit)}"
            if offset:
                sql += f" OFFSET {int(offset)}"
        return sql

    def _order(self) -> list[str]:
        """The ORDER BY terms: the keys, then every other column that can be compared, so
        the order is total (rows that tie on the keys keep one order from page to page)."""
        keys = [f"{self._q(s.column)} {'DESC' if s.descending else 'ASC'} NULLS LAST"
                for s in self._state.sorts]
        named = {s.column for s in self._state.sorts}
        keys += [f"{self._q(c.name)} ASC NULLS LAST" for c in self._columns
                 if c.sortable and c.name not in named]
        return keys

    @property
    def filter_params(self) -> dict[str, Any]:
        """The values the filters and the search bind, by the `:name` the view's SQL gives
        them (`fare_low`, `carrier_1`, `search`...), as the engine binds them."""
        return dict(self._bound()[1])

    def _bound(self, literal: bool = False) -> tuple[str, dict[str, Any]]:
        """The WHERE clause of the filters and the search, and the values it binds. Each value
        is a `:name` parameter adapted by the engine's own rules (`Database.adapt_parameter`),
        never text written into the SQL; names are the column's (ASCII letters, digits and _)
        with what the value is, made unique against the query's own parameters. With
        `literal`, each adapted value is written as a literal instead (`literal_sql`)."""
        taken = {name.lower() for name in self._params}
        params: dict[str, Any] = {}

        def bind(base: str, value: Any) -> str:
            stem = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_") or "value"
            if not stem[0].isalpha():
                stem = "c_" + stem
            name, n = stem, 1
            while name.lower() in taken:
                n += 1
                name = f"{stem}_{n}"
            taken.add(name.lower())
            params[name] = self._db.adapt_parameter(value, name)
            return _literal(params[name], self._db.dialect) if literal else f":{name}"

        terms = [self._condition(f, bind) for f in self._state.filters]
        if self._state.search:
            texts = [c for c in self._columns if c.kind == "text" and c.unique]
            if texts:
                pattern = bind("search", _pattern(self._state.search))
                terms.append("(" + " OR ".join(
                    f"lower({self._q(c.name)}) LIKE lower({pattern}) ESCAPE '{ESCAPE}'"
                    for c in texts) + ")")
            else:
                terms.append("1 = 0")  # nothing to search in: no row matches
        return ("\nWHERE " + "\n  AND ".join(terms) if terms else ""), params

    def _where(self) -> str:
        return self._bound()[0]

    def _condition(self, f: Filter, bind: Any) -> str:
        c = self._q(f.column)
        if f.kind == "range":
            parts = []
            if f.low is not None:
                parts.append(f"{c} >= {bind(f.column + '_low', f.low)}")
            if f.high is not None:
                parts.append(f"{c} <= {bind(f.column + '_high', f.high)}")
            return " AND ".join(parts) or f"{c} IS NOT NULL"
        if f.kind == "contains":
            pattern = bind(f.column + "_contains", _pattern(f.text))
            return f"lower({c}) LIKE lower({pattern}) ESCAPE '{ESCAPE}'"
        if f.kind == "one_of":
            names = [bind(f"{f.column}_{i}", v) for i, v in enumerate(f.values, 1)]
            return f"{c} IN ({', '.join(names)})"
        return f"{c} IS NULL" if f.kind == "null" else f"{c} IS NOT NULL"

    def _all_params(self, sql: str) -> dict[str, Any] | None:
        """The values `sql` binds: the query's own and the filters', those it names."""
        named = set(self._db.statements(sql)[0].named)
        values = {**self._params, **self._bound()[1]}
        used = {k: v for k, v in values.items() if k in named}
        return used or None

    def _run(self, sql: str) -> pd.DataFrame:
        return self._submit(sql).result()

    def _submit(self, sql: str) -> QueryHandle:
        return self._db.submit(sql, self._all_params(sql), time_limit=self.time_limit,
                               dataframe=True)


def _source_text(db: Database, sql: str) -> str:
    """The query a view wraps: a table's name as SELECT * FROM it, or one query (a statement
    whose first keyword is a query's), its `;` taken off. A UsageError for anything else."""
    if not isinstance(sql, str) or not sql.strip():
        raise UsageError(f"explore takes a table's name or a query, not {sql!r}")
    text = sql.strip()
    if _is_name(text):
        return f"SELECT * FROM {'.'.join(db.quote_identifier(p) for p in split_name(text))}"
    statements = db.statements(text)
    if len(statements) != 1:
        raise UsageError(f"explore takes one query, and the SQL holds {len(statements)} "
                         "statements")
    (statement,) = statements
    if statement.keyword not in QUERY_KEYWORDS or statement.writes:
        raise UsageError(f"explore runs a query (SELECT, WITH, VALUES), not a "
                         f"{statement.keyword or 'statement'}: the explorer runs it again "
                         "for each page, so it must only read")
    return statement.text.rstrip().rstrip(";").rstrip()


def _literal(value: Any, dialect: str) -> str:
    """`value` as a literal of the SQL `dialect` (sqlglot's names), written by sqlglot."""
    from sqlglot import exp

    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{value!r} has no literal in SQL: filter by a finite number")
    try:
        return exp.convert(value).sql(dialect=dialect or None)
    except ValueError:
        raise UsageError(f"a {type(value).__name__} value of the view's filters has no SQL "
                         "literal: bind it as a :name parameter (view.sql, view.params)"
                         ) from None


def _pattern(text: str) -> str:
    """A LIKE pattern that finds `text` anywhere, its `%`, `_` and `!` taken literally."""
    return "%" + re.sub(r"([%_!])", ESCAPE + r"\1", text) + "%"


def _is_name(text: str) -> bool:
    """True for a table's name (`flights`, `main.flights`, `"my table"`), not a query."""
    parts = split_name(text)
    if len(parts) > 1:
        return True
    return bool(re.fullmatch(r'[\w$]+|"([^"]|"")*"|`([^`]|``)*`|\[[^\]]*\]', text)) and (
        text.upper() not in QUERY_KEYWORDS)


def _value(column: Column, value: Any) -> Any:
    """A filter's value for `column`: text typed for a number or a date read as one."""
    if value is None or not isinstance(value, str):
        return value
    text = value.strip()
    if column.kind == "number":
        try:
            number = float(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise UsageError(f"{column.name!r} holds numbers, and {value!r} is not one") from None
        if not math.isfinite(number):
            raise UsageError(f"{value!r} is not a finite number: leave that end open instead")
        return int(number) if number.is_integer() and abs(number) < 2 ** 53 and re.fullmatch(
            r"[+-]?[\d,_]+", text) else number
    if column.kind == "date":
        import pandas as pd

        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError):
            raise UsageError(f"{column.name!r} holds dates, and {value!r} is not one (write "
                             "2024-01-31 or 2024-01-31 12:00)") from None
        if stamp is pd.NaT:
            raise UsageError(f"{value!r} is not a date")
        if stamp == stamp.normalize() and len(text) <= 10:
            return stamp.date()
        return stamp.to_pydatetime()
    return value


def _check_count(value: object, what: str, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"{what} must be a whole number, {least} or more, not {value!r}")


def _unsortable(column: Column) -> str:
    if not column.unique:
        return (f"the result has more than one column named {column.name!r}: give them "
                "names of their own in the query (AS ...) to sort or filter by them")
    return (f"{column.name!r} holds {column.kind} values, which the engines do not all "
            "compare: filter it by null or not null")


def _too_big(rows: int | None, limit: int) -> str:
    size = f"{rows:,} rows" if rows is not None else f"more than {limit:,} rows"
    return (f"the view holds {size}, more than limit={limit:,}: to_df(limit=None) fetches "
            "them all (or filter the view first)")


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
