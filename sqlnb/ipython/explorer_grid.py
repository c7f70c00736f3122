"""The explorer's grid as one widget (anywidget): the page on screen, its headers and the sort.

The front end is `explorer_grid.js` and `explorer_grid.css` beside this file, a hand-written ES
module shipped as it is (no build step, so installing sqlnb needs no Node.js): anywidget loads
it in JupyterLab 4, Notebook 7 and VS Code alike.

What travels (only the page on screen ever reaches the browser):
- `columns`: one dict per column: `name`, `dtype` (pandas' name), `kind` (number, date, text,
  bool, other), `sortable`, `summary` (a line about the whole result, "" until it is in);
- `rows`: the page as a list of rows of display strings, None for NULL;
- `first_row`: the number (from 1) of the page's first row in the view;
- `sorts`: the sort keys, first key first, as `{"column": name, "descending": bool}`;
- `cell_code`: the `%%sql` cell the "new cell" button inserts (or copies).

Messages from the front end (`Explorer` handles them): `{"type": "sort", "column": name,
"add": bool}` (a header's click; `add` with Shift) and `{"type": "page", "where": "first" |
"previous" | "next" | "last"}` (PageUp/PageDown, Ctrl+Home/Ctrl+End). The cell cursor, the
selection and copying live in the browser alone.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

HERE = Path(__file__).parent

__all__ = ["Grid"]


class Grid(anywidget.AnyWidget):
    """The page, its headers and the sort keys, drawn by explorer_grid.js."""

    _esm = HERE / "explorer_grid.js"
    _css = HERE / "explorer_grid.css"

    columns = traitlets.List(traitlets.Dict()).tag(sync=True)
    rows = traitlets.List().tag(sync=True)
    first_row = traitlets.Int(1).tag(sync=True)
    sorts = traitlets.List(traitlets.Dict()).tag(sync=True)
    cell_code = traitlets.Unicode("").tag(sync=True)
