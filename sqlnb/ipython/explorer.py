"""The result explorer's grid: a `sqlnb.View` drawn as one widget of sqlnb's and a few of
ipywidgets' stock controls.

Each sort, filter, search or page is a query of the view (`sqlnb/_explore_view.py`) through the
`Database`: a read on the pool, under the time limit, with a line of progress and a Cancel button
in the grid; a new click cancels the query still running. Only the page on screen reaches the
browser (at most `page_rows` rows, as compact JSON), so a result of any size never freezes the
kernel or the browser.

The page, its headers and the sort are one widget (`explorer_grid.Grid`, built on anywidget);
the search box, the filter line, the pager, the footer, progress with Cancel and the SQL
toggle are ipywidgets' stock controls. Why anywidget for the grid: what a user does with a
table of results (a Shift+click adding a second sort key, a cell cursor moved by the arrow
keys, a selection copied as tab-separated text, the view's SQL inserted as a new cell, a
header showing the column's type and summary) needs JavaScript of its own, which stock
buttons and an HTML table cannot give. anywidget runs one hand-written ES module
(`explorer_grid.js`, shipped as it is in the package, no build step, so installing sqlnb needs
no Node.js) in JupyterLab 4, Notebook 7 and VS Code alike, with no front-end extension to
install and keep in step with three hosts; its colours come from each host's theme
(JupyterLab's --jp-* variables, then VS Code's --vscode-*), dark ones included. What stays
stock is what stock controls already do well (text boxes, buttons, a label). No grid library:
a page is at most a few hundred rows, which a table draws at once, and the libraries that
virtualize rows bring a build step and megabytes for nothing here.

The "new cell" button dispatches a bubbling `sqlnb-insert-cell` DOM event with `{code}`
(`cell_code()`: a `%%sql` cell of `View.literal_sql()`, the filters' values written in as the
engine's literals); sqlnb's JupyterLab extension takes it and inserts the cell below; where no
listener takes it (VS Code), the grid copies the code and says so.

A filter is typed as a line per column (`parse_filter`): `10..20`, `>= 5`, `<= 2024-01-31`,
`= a, b` (one of), `null`, `not null`, or text a text column must contain.

Saved with the notebook: the output holds, beside the widget, a static HTML table of the page on
screen with its footer and a line saying the grid is live again once the cell runs (the grid is
displayed under a display id, updated with each page shown); GitHub and nbviewer show that
table.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlnb
from sqlnb import View

__all__ = ["Explorer", "parse_filter"]

#: The line a saved notebook shows under the static table.
LIVE_AGAIN = "a static copy of the page on screen: the grid is live again after the cell runs"
#: The explorer's output metadata, given with each display and update: sqlnb's JupyterLab
#: extension shows the static copy (text/html) of an output so marked whose widget model is
#: gone (a reopened notebook), where JupyterLab would say "Error displaying widget".
OUTPUT_METADATA = {"sqlnb": {"explorer": True}}


def parse_filter(column: Any, text: str) -> dict[str, Any]:
    """The arguments of `View.filter` a line typed into a column's filter box stands for:
    `a..b` (either end may be left out), `>= a`, `<= b`: a range; `= a, b`: one of these
    values; `null`, `not null`; any other text: a text column contains it, another column
    equals it. "" clears the filter. A UsageError for a form the column cannot take."""
    line = text.strip()
    if not line:
        return {}
    lowered = line.lower()
    if lowered in ("null", "is null"):
        return {"null": True}
    if lowered in ("not null", "is not null"):
        return {"null": False}
    if line.startswith(">="):
        return {"low": line[2:].strip()}
    if line.startswith("<="):
        return {"high": line[2:].strip()}
    if line.startswith("="):
        values = [v.strip() for v in line[1:].split(",")]
        return {"one_of": [v for v in values if v]}
    if ".." in line and column.kind in ("number", "date"):
        low, high = (part.strip() for part in line.split("..", 1))
        if not low and not high:
            raise sqlnb.UsageError("a range needs at least one end: 10..20, 10.. or ..20")
        return {"low": low or None, "high": high or None}
    if column.kind == "text":
        return {"contains": line}
    return {"one_of": [line]}


class Explorer:
    """The grid over one `View`: headers that sort, a filter line per column, a search box,
    pages, a footer saying what is on screen, progress with Cancel, and the view's SQL.

    `first_page`: rows already in the kernel shown as the first page (no query); `whole`: the
    whole result, already in the kernel, whose columns' summary is computed from it rather
    than by a query in the engine (a %%sql result's grid does not scan a cluster's table on
    display); `on_close`: what to free with the grid; `database_name`: the magics' name of
    the view's Database, for the new cell's `--db`; `cell_source`: the query the new cell
    reads instead of the view's (see `cell_code`).

    `explorer.view` is the `View` (its `.sql`, `.params`, `.to_df()`); `wait()` waits for the
    queries a click started (what a test or a script does between two clicks)."""

    def __init__(self, view: View, *, page_rows: int = View.PAGE_ROWS,
                 first_page: Any = None, whole: Any = None,
                 on_close: Callable[[], None] | None = None,
                 database_name: str | None = None, cell_source: str | None = None) -> None:
        import ipywidgets as w

        from .explorer_grid import Grid

        self.view = view
        #: the magics' name of the view's Database: the new cell runs there (%%sql --db NAME)
        self.database_name = database_name
        #: the query the new cell reads instead of the view's own (a DataFrame grid's cell
        #: reads the notebook's variable, not the grid's private copy of it)
        self.cell_source = cell_source
        self.page_rows = page_rows
        self.offset = 0
        self.frame: Any = None  # the page on screen
        self.error: str | None = None
        self._handles: list[sqlnb.QueryHandle] = []
        self._lock = threading.Lock()
        #: callbacks still to run for the last click's queries (wait() waits for none)
        self._pending = 0
        self._settled = threading.Condition(self._lock)
        self._serial = 0
        self._page: sqlnb.QueryHandle | None = None
        self._on_close = on_close
        self.summary: dict[str, str] = {}
        #: the page, its headers and the sort: one widget of sqlnb's (explorer_grid.js)
        self.grid = Grid()
        self.grid.on_msg(self._message)
        self._update_headers()
        names = [c.name for c in view.columns if c.unique]
        self.filter_column = w.Dropdown(options=names, description="filter",
                                        layout=w.Layout(width="16em"))
        self.filter_text = w.Text(placeholder="10..20, >= 5, = a, b, null, not null, or text",
                                  continuous_update=False, layout=w.Layout(width="22em"))
        self.filter_text.observe(lambda change: self.set_filter(
            self.filter_column.value, change["new"]), names="value")
        self.filter_column.observe(lambda _c: self._show_filter_text(), names="value")
        self.clear = w.Button(description="clear filters",
                               layout=w.Layout(width="auto", flex="0 0 auto"))
        self.clear.on_click(lambda _b: self.clear_filters())
        self.search_box = w.Text(placeholder="search the text columns",
                                 continuous_update=False, layout=w.Layout(width="16em"))
        self.search_box.observe(lambda change: self.search(change["new"]), names="value")
        self.pager = {name: w.Button(icon=icon, layout=w.Layout(width="3.5em"), tooltip=tip)
                      for name, icon, tip in (("first", "angle-double-left", "first page"),
                                              ("previous", "angle-left", "previous page"),
                                              ("next", "angle-right", "next page"),
                                              ("last", "angle-double-right", "last page"))}
        for name, button in self.pager.items():
            button.on_click(lambda _b, name=name: self.go(name))
        self.footer = w.HTML(value="")
        self.status = w.Label(value="")
        self.cancel_button = w.Button(description="Cancel", icon="stop",
                                      button_style="warning", layout=w.Layout(width="8em",
                                                                              display="none"))
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.sql_button = w.ToggleButton(description="SQL", value=False,
                                         tooltip="show the SQL of this view and its values")
        self.sql_text = w.Textarea(value="", layout=w.Layout(width="100%", height="8em",
                                                             display="none"))
        self.sql_button.observe(lambda _c: self._show_sql(), names="value")
        self.widget = w.VBox([
            w.HBox([self.search_box, self.filter_column, self.filter_text, self.clear]),
            self.grid,
            w.HBox([*self.pager.values(), self.footer, self.status, self.cancel_button,
                    self.sql_button]),
            self.sql_text,
        ], layout=w.Layout(width="100%"))
        self.widget.add_class("sqlnb-explorer")
        self._display: Any = None  # the display the grid is shown in (its static copy kept)
        if first_page is not None:  # the result's first rows, already in the kernel
            self._show(first_page.head(page_rows), self._serial)
        else:
            self.refresh()
        self._summary: sqlnb.QueryHandle | None = None  # the summary's query in the engine
        self._summary_thread: threading.Thread | None = None
        if whole is not None:  # the whole result is here: its summary costs no query, yet
            # a large one's takes a while (0.4 s for the flights table's 336,776 rows): made
            # beside, so that the first page shows at once (benchmarks/explorer.py, flights)
            self._summary_thread = threading.Thread(
                target=self._summary_quietly, args=(whole,), name="sqlnb-explorer-summary",
                daemon=True)
            self._summary_thread.start()
        else:
            self._summarize()

    # -- the view on screen, from Python -------------------------------------------------------
    @property
    def sql(self) -> str:
        """The SQL of the view on screen (sorted, filtered, searched; not paged)."""
        return self.view.sql

    @property
    def params(self) -> dict[str, Any]:
        """The values its SQL binds, by name."""
        return self.view.params

    def to_df(self, *, limit: int | None = 1_000_000) -> Any:
        """The view on screen as a DataFrame, fetched from the engine (see View.to_df: more
        than `limit` rows is refused, naming the size; limit=None fetches them all)."""
        return self.view.to_df(limit=limit)

    # -- what a user does ---------------------------------------------------------------------
    def click_header(self, name: str, add: bool = False) -> None:
        """A click on a header: sort by it; again: descending; again: not by it. With `add`
        (a Shift+click) a column not yet a key is added after the other keys instead of
        replacing them."""
        sorts = list(self.view.sorts)
        current = next((s for s in sorts if s.column == name), None)
        if current is None:
            new = (name, False)
            keys = [*((s.column, s.descending) for s in sorts), new] if add else [new]
        elif not current.descending:
            keys = [(s.column, s.column == name or s.descending) for s in sorts]
        else:
            keys = [(s.column, s.descending) for s in sorts if s.column != name]
        self._apply(lambda: self.view.sort(*keys))

    def set_filter(self, column: str, text: str) -> None:
        """Filter `column` by a line typed into its box (see `parse_filter`)."""
        found = next(c for c in self.view.columns if c.name == column)
        self._apply(lambda: self.view.filter(column, **parse_filter(found, text)))

    def clear_filters(self) -> None:
        """Drop every filter and the search."""
        self.search_box.value = ""
        self.filter_text.value = ""
        self._apply(self.view.clear_filters)

    def search(self, text: str) -> None:
        """Keep the rows where a text column contains `text`."""
        self._apply(lambda: self.view.search(text))

    def go(self, where: str | int) -> None:
        """Show another page: "first", "previous", "next", "last", or a row's 0-based offset."""
        total = self.view.known_count
        if where == "first":
            offset = 0
        elif where == "previous":
            offset = max(self.offset - self.page_rows, 0)
        elif where == "next":
            offset = self.offset + self.page_rows
            if total is not None:
                offset = min(offset, self._last(total))
        elif where == "last":
            if total is None:
                total = self.view.count()
            offset = self._last(total)
        elif isinstance(where, int) and not isinstance(where, bool) and where >= 0:
            offset = where
        else:
            raise sqlnb.UsageError(f"go() takes first, previous, next, last or a row, not "
                                   f"{where!r}")
        self.offset = offset
        self.refresh(count=False)

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """A message from the grid's front end: a header's click or a page key."""
        if not isinstance(content, dict):
            return
        try:
            if content.get("type") == "sort" and isinstance(content.get("column"), str):
                self.click_header(content["column"], add=bool(content.get("add")))
            elif content.get("type") == "page" and content.get("where") in (
                    "first", "previous", "next", "last"):
                self.go(content["where"])
        except sqlnb.Error as error:  # (a count for the last page that failed ...)
            self._say_error(f"{type(error).__name__}: {str(error).splitlines()[0]}")

    def cancel(self) -> None:
        """Cancel the queries still running (the page stays as it was)."""
        with self._lock:
            handles, self._handles = self._handles, []
        for handle in handles:
            handle.cancel()

    def settle(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the last click's queries; True if they are over."""
        with self._settled:
            return self._settled.wait_for(lambda: self._pending == 0, timeout)

    def wait(self, timeout: float = 60.0) -> None:
        """Wait until the queries the last click started have ended and the grid shows what
        they gave, its columns' summary from a result in the kernel too (a TimeoutError after
        `timeout` s)."""
        ends = time.monotonic() + timeout
        with self._settled:
            if not self._settled.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError(f"the explorer's queries still run after {timeout} s")
        if self._summary_thread is not None:
            self._summary_thread.join(max(ends - time.monotonic(), 0))
            if self._summary_thread.is_alive():
                raise TimeoutError(f"the explorer's summary is still being made after "
                                   f"{timeout} s")

    def close(self) -> None:
        """Cancel what runs and close the widgets (and what the explorer opened for itself)."""
        self.cancel()
        if self._summary is not None:  # the summary's query in the engine: for no one now
            self._summary.cancel()
        if self._summary_thread is not None:  # a summary in the kernel: a moment's work
            self._summary_thread.join()
        for child in self._widgets():
            child.close()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    # -- queries --------------------------------------------------------------------------------
    def _summarize(self) -> None:
        """Start the columns' summary (one query, in the engine); each header says it when it
        is in."""
        try:
            handle = self.view.submit_summary()
        except sqlnb.UsageError:
            return
        self._summary = handle
        handle.add_done_callback(self._summarized)

    def _summarized(self, handle: sqlnb.QueryHandle) -> None:
        if handle.exception() is not None:
            return  # (a summary is a help: its failure shows nowhere)
        self._show_summary(handle.result().iloc[0])

    def _summary_quietly(self, frame: Any) -> None:
        try:
            self._summary_of(frame)
        except Exception:  # (a summary is a help: its failure shows nowhere)
            return

    def _summary_of(self, frame: Any) -> None:
        """The columns' summary from the whole result, already in the kernel (a %%sql
        result under the fetch limit): no query."""
        import pandas as pd

        row: dict[str, Any] = {"n": len(frame)}
        for i, column in enumerate(self.view.columns):
            if not column.unique:
                continue
            series = frame.iloc[:, i]
            row[f"count_{i}"] = int(series.count())
            if column.kind in ("number", "date", "text"):
                values = series.dropna()
                try:
                    row[f"min_{i}"], row[f"max_{i}"] = values.min(), values.max()
                except TypeError:  # values of mixed types (SQLite): no order in Python
                    continue
        self._show_summary(pd.Series(row))

    def _show_summary(self, row: Any) -> None:
        total = int(row["n"])
        for i, column in enumerate(self.view.columns):
            if f"count_{i}" not in row:
                continue
            values = int(row[f"count_{i}"])
            text = f"{values:,} values, {total - values:,} NULL"
            if f"min_{i}" in row and values:
                text += f" · {_short(row[f'min_{i}'])} .. {_short(row[f'max_{i}'])}"
            self.summary[column.name] = text
        self._update_headers()

    def _apply(self, change: Callable[[], Any]) -> None:
        try:
            change()
        except sqlnb.UsageError as error:
            self._say_error(str(error))
            return
        self.offset = 0
        self.refresh()

    def refresh(self, count: bool = True) -> None:
        """Fetch the page at `offset` (and the count when the filters changed), cancelling
        the queries of an earlier click."""
        self.cancel()
        with self._lock:
            self._serial += 1
            self._pending = 0
            serial = self._serial
        self.error = None
        self.status.value = "running"
        self.cancel_button.layout.display = None
        self._update_headers()
        offset = self.offset
        try:
            page = self.view.submit_page(offset, self.page_rows)
        except sqlnb.UsageError as error:
            self._say_error(str(error))
            return
        self._page = page
        handles = [page]
        if count and self.view.known_count is None:
            handles.append(self.view.submit_count())
        with self._lock:
            self._handles = handles
            self._pending = len(handles)
        for handle in handles:
            handle.add_done_callback(lambda done, serial=serial, offset=offset:
                                     self._ended(done, serial, offset))

    def _ended(self, handle: sqlnb.QueryHandle, serial: int, offset: int) -> None:
        """A query of a click ended (on a worker's thread): show its page, or its error."""
        try:
            self._show_ended(handle, serial)
        finally:
            with self._settled:
                if serial == self._serial:
                    self._pending -= 1
                self._settled.notify_all()

    def _show_ended(self, handle: sqlnb.QueryHandle, serial: int) -> None:
        if serial != self._serial:
            return  # a later click's queries replace it
        error = handle.exception()
        if isinstance(error, sqlnb.QueryCancelled):
            self._finish(serial, "cancelled")
            return
        if error is not None:
            self._say_error(f"{type(error).__name__}: {str(error).splitlines()[0]}")
            return
        if handle is not self._page:  # the count: the view keeps it
            self._update_footer()
            self._finish(serial, "")
            self._update_static()
            return
        self._show(handle.result(), serial)

    def _finish(self, serial: int, status: str) -> None:
        with self._lock:
            running = [h for h in self._handles if not h.done()]
        if serial == self._serial and not running:
            self.status.value = status
            self.cancel_button.layout.display = "none"

    def _show(self, frame: Any, serial: int) -> None:
        frame = frame.copy(deep=False)
        frame.index = range(self.offset + 1, self.offset + 1 + len(frame))  # rows from 1
        self.frame = frame
        with self.grid.hold_sync():  # one message: the page, its first row's number
            self.grid.rows = page_cells(frame)
            self.grid.first_row = self.offset + 1
        self._update_footer()
        self._update_headers()
        self._finish(serial, "")
        if self.sql_button.value:  # the SQL shown follows the view
            self._show_sql()
        self._update_static()

    def _update_static(self) -> None:
        if self._display is not None:  # the saved notebook's static copy: the page shown
            self._display.update(self._repr_mimebundle_(), raw=True, metadata=OUTPUT_METADATA)

    def _say_error(self, message: str) -> None:
        self.error = message
        self.status.value = message
        self.cancel_button.layout.display = "none"

    def _update_footer(self) -> None:
        shown = 0 if self.frame is None else len(self.frame)
        self.footer.value = html.escape(self.describe(shown))

    def describe(self, shown: int | None = None) -> str:
        """The footer: which rows are on screen, of how many, sorted and filtered how."""
        if self.frame is None:
            return "running the first page"
        shown = len(self.frame) if shown is None and self.frame is not None else shown or 0
        return self.view.describe(self.offset, self.offset + shown)

    def _update_headers(self) -> None:
        """The grid's headers (names, types, summaries), sort keys and new cell's code."""
        with self.grid.hold_sync():
            self.grid.columns = [
                {"name": c.name, "dtype": c.dtype, "kind": c.kind, "sortable": c.sortable,
                 "summary": self.summary.get(c.name, "")} for c in self.view.columns]
            self.grid.sorts = [{"column": s.column, "descending": s.descending}
                               for s in self.view.sorts]
            self.grid.cell_code = self.cell_code()

    def cell_code(self) -> str:
        """The `%%sql` cell of the view's SQL (sorted, filtered, searched) that the grid's
        "new cell" button inserts: the filters' values written in as literals of the
        engine's dialect (`View.literal_sql`), so the cell runs as it is. A value no literal
        can stand for leaves its `:name`, with a comment saying what it must be bound to."""
        head = "%%sql" + (f" --db {self.database_name}" if self.database_name else "")
        try:
            return f"{head}\n{self.view.literal_sql(self.cell_source)}"
        except sqlnb.UsageError as error:
            values = "".join(f"\n-- :{k} = {v!r}" for k, v in self.view.filter_params.items())
            return f"{head}\n-- {error}{values}\n{self.view.sql}"

    def _show_filter_text(self) -> None:
        column = self.filter_column.value
        current = next((f for f in self.view.filters if f.column == column), None)
        self.filter_text.unobserve_all("value")
        self.filter_text.value = _filter_line(current) if current is not None else ""
        self.filter_text.observe(lambda change: self.set_filter(
            self.filter_column.value, change["new"]), names="value")

    def _show_sql(self) -> None:
        if self.sql_button.value:
            params = self.view.params
            values = "".join(f"\n-- :{k} = {v!r}" for k, v in params.items())
            self.sql_text.value = self.view.sql + ("\n" + values if values else "")
            self.sql_text.layout.display = None
        else:
            self.sql_text.layout.display = "none"

    def _widgets(self) -> list[Any]:
        """Every widget of the grid, the box last."""
        found: list[Any] = []

        def walk(widget: Any) -> None:
            for child in getattr(widget, "children", ()):
                walk(child)
            found.append(widget)

        walk(self.widget)
        return found

    def _last(self, total: int) -> int:
        return max((total - 1) // self.page_rows * self.page_rows, 0)

    # -- display --------------------------------------------------------------------------------
    def static_html(self) -> str:
        """The page on screen as a plain HTML table with its footer, and the line that says the
        grid is live again after the cell runs: what a saved notebook shows without a kernel."""
        table = page_html(self.frame) if self.frame is not None else ""
        return (f'<div class="sqlnb-explorer-static">{table}'
                f'<div class="sqlnb-shape">{html.escape(self.describe())}</div>'
                f'<div class="sqlnb-shape"><i>{html.escape(LIVE_AGAIN)}</i></div></div>')

    def _ipython_display_(self) -> None:
        """Show the grid under a display id, so that each page shown also becomes the static
        copy a saved notebook keeps (the display is updated with it), marked with
        OUTPUT_METADATA so that sqlnb's JupyterLab extension shows that copy once the grid's
        widget model is gone."""
        from IPython.display import display

        self._display = display(self._repr_mimebundle_(), raw=True, display_id=True,
                                metadata=OUTPUT_METADATA)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = f"{self.describe()}\n({LIVE_AGAIN})"
        return bundle

    def __repr__(self) -> str:
        return f"<sqlnb explorer: {self.describe()}>"


#: The page's look: compact rows, a header that stays in view, the notebook theme's colours
#: (dark themes included), numbers aligned right.
PAGE_STYLE = """<style>
.sqlnb-page { border-collapse: collapse; font-family: var(--jp-code-font-family, monospace);
  font-size: var(--jp-code-font-size, 13px); color: var(--jp-content-font-color1, inherit); }
.sqlnb-page th, .sqlnb-page td { padding: 1px 8px; line-height: 1.5; white-space: nowrap;
  text-align: left; border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.sqlnb-page td.n { text-align: right; }
.sqlnb-page thead th { position: sticky; top: 0; background: var(--jp-layout-color1, #fff);
  border-bottom: 2px solid var(--jp-border-color1, #bdbdbd); }
.sqlnb-page tbody th { color: var(--jp-ui-font-color2, #757575); font-weight: normal;
  text-align: right; }
.sqlnb-page tbody tr:hover { background: var(--jp-layout-color2, #eee); }
.sqlnb-page .null { color: var(--jp-ui-font-color3, #9e9e9e); }
</style>"""


def page_html(frame: Any) -> str:
    """A page as an HTML table: its values escaped, its row numbers (from 1) on the left,
    numbers aligned right, NULLs shown as a grey "NULL", colours from the notebook's theme."""
    import pandas as pd

    numeric = [pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
               for dtype in frame.dtypes]
    cells = []
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    cells.append(f"<thead><tr><th></th>{head}</tr></thead><tbody>")
    for number, row in zip(frame.index, frame.itertuples(index=False)):
        tds = "".join(_cell(v, n) for v, n in zip(row, numeric))
        cells.append(f"<tr><th>{number:,}</th>{tds}</tr>")
    cells.append("</tbody>")
    return (f'{PAGE_STYLE}<div style="max-height: 32em; overflow: auto">'
            f'<table class="sqlnb-page">{"".join(cells)}</table></div>')


def page_cells(frame: Any) -> list[list[str | None]]:
    """A page as the grid's front end takes it: rows of display strings (as the static table
    shows them), None for NULL."""
    return [[None if _missing(v) else str(v) for v in row]
            for row in frame.itertuples(index=False)]


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return not isinstance(value, (str, bytes)) and bool(pd.isna(value))
    except (TypeError, ValueError):  # a list, an array: a value
        return False


def _cell(value: Any, numeric: bool = False) -> str:
    if _missing(value):  # (a float column's NaN and NULL are alike in a DataFrame)
        return '<td class="null">NULL</td>'
    opening = '<td class="n">' if numeric else "<td>"
    return f"{opening}{html.escape(str(value))}</td>"


def _short(value: Any) -> str:
    text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def _filter_line(f: Any) -> str:
    if f.kind == "range":
        low = "" if f.low is None else str(f.low)
        high = "" if f.high is None else str(f.high)
        return f"{low}..{high}"
    if f.kind == "contains":
        return f.text
    if f.kind == "one_of":
        return "= " + ", ".join(str(v) for v in f.values)
    return "null" if f.kind == "null" else "not null"
