"""A running cell's progress: a widget in a notebook, a text line in a terminal.

The cell's thread waits for each statement, first for `SHOW_AFTER` (0.3 s: a query that ends by
then shows nothing), then in slices of 0.02 s for the first `TICK` (so the figures appear at
once) and of `TICK` (0.1 s) after that, updating the display between slices from the query's
control (elapsed against the limit, rows so far): no extra thread, no polling of the kernel.

What a query leaves behind, so that a saved notebook shows it: the widget's model lives only as
long as the kernel (a reopened notebook would say "Error displaying widget: model not found"), so
the widget is displayed under a display id, with no text/plain of its own, and is closed when the
query is over. A blocking cell then empties that display and displays the summary ("1 row in
2.30 s") as a new plain output (text/plain and text/html). nbval records display messages as they
come and ignores display updates, so it sees the same outputs a saved notebook holds: an output
with nothing to compare, then the summary. A failed cell leaves nothing in place of the widget:
its error line is the one message. A background cell's display is updated in place instead (its
summary, or its error line, since the cell has returned and nothing else shows it), from the
`sqlnb-cell` thread; `%sqlnb wait` repeats that update from its own cell, because nbconvert keeps
only the messages of the cell it is running.

First rows: the engine keeps aside the first rows of a large result as soon as its first batch
is in (`QueryHandle.first_rows`). A query that has them after `FIRST_ROWS_AFTER` (0.05 s) and is
still fetching is shown at once, not after SHOW_AFTER, and the widget shows those rows under its
bar while the rest arrives (its line counts the rows so far); the full result then replaces the
widget as usual.

The Cancel button: a click is a comm message on the kernel's shell channel, which the kernel
handles only after the busy cell ends. ipykernel 7.4 and later route each comm message through
the comm's `_reply_subshell_for(data, default)` on their shell-channel thread, a thread of its
own; sqlnb wraps that method on the button's comm to spot the click there and cancel at once (a
tiny, thread-safe call). Where the kernel has no such thread (before 7.4, the in-process kernel)
or the method is not the one sqlnb knows, the button is disabled while the cell blocks and says
to use the Stop button; if the method surprises sqlnb later (it raises), the message goes the
kernel's default way and the button turns into "use Stop" at the next update. In background mode
the kernel is idle, so the click arrives through `on_click` as usual.
"""

from __future__ import annotations

import html
import inspect
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, TextIO

import sqlnb

from .explorer import page_html

#: A query that ends within this many seconds shows no progress at all.
SHOW_AFTER = 0.3
#: A query still fetching after this many seconds, with its first rows in, shows them at once.
FIRST_ROWS_AFTER = 0.05
#: Seconds between two updates of the display.
TICK = 0.1
#: The mime type of a widget's output.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _status(handle: sqlnb.QueryHandle, where: str) -> tuple[float | None, str]:
    """The bar's fill (0 to 1, or None) and the line of figures: the engine's own percent where
    it has one (DuckDB), else the share of the time limit used; the time stays in the line."""
    p = handle.progress
    limit = f" of {p.time_limit:g} s" if p.time_limit else ""
    text = f"{where}{_seconds(p.elapsed)}{limit} · {p.rows:,} rows"
    if p.percent is not None:
        phase = f" of {p.phase}" if p.phase else ""
        return p.percent / 100, f"{where}{p.percent:.0f}%{phase} · {text[len(where):]}"
    return p.fraction, text


def line_output(line: str, *, error: bool = False) -> dict[str, str]:
    """One line as a plain output (text/plain and text/html), which a saved notebook keeps."""
    color = "var(--jp-error-color1, #d32f2f)" if error else "var(--jp-ui-font-color2, #616161)"
    return {"text/plain": line,
            "text/html": f'<div class="sqlnb-summary" style="color: {color}">'
                         f"{html.escape(line)}</div>"}


class TextView:
    """A progress line on a terminal (stderr), redrawn in place with a carriage return."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._width = 0

    def update(self, handle: sqlnb.QueryHandle, where: str) -> None:
        fraction, text = _status(handle, where)
        if fraction is not None:
            filled = round(fraction * 20)
            text = f"[{'#' * filled}{'.' * (20 - filled)}] {text}"
        self._write(text)

    def finish(self, line: str) -> None:
        """Leave the summary line."""
        self._write(line)
        self._stream.write("\n")
        self._stream.flush()

    def fail(self, line: str) -> None:
        """Wipe the progress line: the cell's error line says what happened."""
        self._stream.write("\r" + " " * self._width + "\r")
        self._stream.flush()
        self._width = 0

    def _write(self, text: str) -> None:
        pad = max(self._width - len(text), 0)
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()
        self._width = len(text)


class WidgetView:
    """The progress widget: a bar of the time limit used, a line of figures, a Cancel button."""

    def __init__(self, blocking: bool, cancel: Callable[[], None], kernel: Any = None) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                   layout=w.Layout(width="14em"))
        self.label = w.Label(value="starting")
        self.button = w.Button(description="Cancel", icon="stop", button_style="warning",
                               tooltip="stop this query (its error says what became of a write)",
                               layout=w.Layout(width="8em"))
        self.line = w.HBox([self.bar, self.label, self.button])
        self.rows = w.HTML(value="")  # the result's first rows, once the engine has them
        self.box = w.VBox([self.line, self.rows])
        self._rows_of: object = None  # the statement whose first rows are shown
        self._blocking = blocking
        self._display_id = uuid.uuid4().hex
        self._final: dict[str, str] | None = None
        self.button.on_click(lambda _button: cancel())
        self._clicks = _watch_clicks(self.button, cancel, kernel)
        if self._clicks is None and blocking:
            self._use_stop()
        # the widget's view only: a fixed text/plain would be all a saved notebook shows
        view = self.box._repr_mimebundle_()[WIDGET_VIEW]
        display({WIDGET_VIEW: view}, raw=True, display_id=self._display_id)

    def update(self, handle: sqlnb.QueryHandle, where: str) -> None:
        if self._clicks is not None and self._clicks.failed and self._blocking and (
                not self.button.disabled):
            self._use_stop()
        fraction, text = _status(handle, where)
        self.bar.value = fraction if fraction is not None else 0.0
        self.label.value = text
        if self._rows_of is not handle:  # a cell's next statement: its own rows, or none
            first = handle.first_rows
            if first is None and self.rows.value:
                self.rows.value = ""
            if first is not None:
                self._rows_of = handle
                first = first.copy(deep=False)
                first.index = range(1, len(first) + 1)  # as the explorer's first page shows it
                self.rows.value = (
                    f'<div class="sqlnb-first-rows"><div style="color: var(--jp-ui-font-color2, '
                    f'#616161)">the first {len(first)} rows, while the rest arrives:</div>'
                    f"{page_html(first)}</div>")

    def finish(self, line: str) -> None:
        """The query is over: `line` (its summary) takes the widget's place."""
        from IPython.display import display, update_display

        if self._blocking:
            update_display({}, raw=True, display_id=self._display_id)
            display(line_output(line), raw=True)
        else:
            self._final = line_output(line)
            update_display(self._final, raw=True, display_id=self._display_id)
        self._close()

    def fail(self, line: str) -> None:
        """The cell failed with the error `line`. A blocking cell's error is the one message, so
        the widget leaves nothing; a background cell shows the line in the widget's place."""
        from IPython.display import update_display

        if self._blocking:
            update_display({}, raw=True, display_id=self._display_id)
        else:
            self._final = line_output(line, error=True)
            update_display(self._final, raw=True, display_id=self._display_id)
        self._close()

    def refresh(self) -> None:
        """Send a background cell's last update again (from the cell running now)."""
        from IPython.display import update_display

        if self._final is not None:
            update_display(self._final, raw=True, display_id=self._display_id)

    def _use_stop(self) -> None:
        self.button.disabled = True
        self.button.description = "use Stop"
        self.button.tooltip = ("this kernel cannot see a click while the cell runs: "
                               "use the kernel's Stop button (interrupt) to cancel")

    def _close(self) -> None:
        """Close the widgets (their layouts and styles are widgets too), so none lingers."""
        for widget in (self.box, self.line, self.rows, self.bar, self.label, self.button):
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None),
                         widget):
                if hasattr(part, "close"):
                    part.close()


class _ClickHook:
    """Stands in for the button comm's `_reply_subshell_for`: spots a click, cancels at once.

    The kernel calls it on its shell-channel thread for every message of the comm, so it stays
    tiny and never raises: anything unexpected (a call of another shape, the kernel's method
    raising) sets `failed` and leaves the message to the kernel's default route.
    """

    def __init__(self, route: Callable[..., Any], cancel: Callable[[], None]) -> None:
        self._route = route
        self._cancel = cancel
        #: True once something unexpected happened; the button then says to use Stop.
        self.failed = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            if len(args) != 2 or kwargs:
                self.failed = True
            elif _is_click(args[0]):
                self._cancel()
        except Exception:
            self.failed = True
        try:
            return self._route(*args, **kwargs)
        except Exception:
            self.failed = True
            return args[1] if len(args) > 1 else kwargs.get("default")


def _is_click(data: Any) -> bool:
    """True for ipywidgets 8's click message: {"method": "custom", "content": {"event": ...}}."""
    if not isinstance(data, dict) or data.get("method") != "custom":
        return False
    content = data.get("content")
    return isinstance(content, dict) and content.get("event") == "click"


def _watch_clicks(button: Any, cancel: Callable[[], None], kernel: Any) -> _ClickHook | None:
    """Make a click cancel at once even while the cell blocks; None where it cannot.

    It can where the kernel routes the button's comm messages through the comm's
    `_reply_subshell_for(data, default)` on a thread of its own (ipykernel 7.4+ in its own
    process): ipykernel does so when it has a shell-channel thread (its test for subshell
    support is `shell_channel_thread is not None`; the in-process kernel has none) and its comm
    manager holds the comm.
    """
    comm = getattr(button, "comm", None)
    route = getattr(comm, "_reply_subshell_for", None)
    if route is None or not _routes_on_own_thread(kernel, comm) or not _takes_two(route):
        return None
    hook = _ClickHook(route, cancel)
    try:
        comm._reply_subshell_for = hook
    except Exception:
        return None
    return hook


def _routes_on_own_thread(kernel: Any, comm: Any) -> bool:
    try:
        thread = getattr(kernel, "shell_channel_thread", None)
        if thread is None or not thread.is_alive():
            return False
        manager = getattr(kernel, "comm_manager", None)
        return manager is not None and manager.get_comm(comm.comm_id) is comm
    except Exception:
        return False


def _takes_two(route: Callable[..., Any]) -> bool:
    """True if `route` takes (data, default), as ipykernel 7.4 calls it."""
    try:
        inspect.signature(route).bind(None, None)
    except (TypeError, ValueError):
        return False
    return True


def widgets_available(shell: Any) -> bool:
    """True in a Jupyter kernel that can show widgets (not in a terminal IPython)."""
    if getattr(shell, "kernel", None) is None:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class CellProgress:
    """The progress of one cell's statements, shown once any of them runs long enough."""

    def __init__(self, *, enabled: bool, widgets: bool, blocking: bool = True,
                 show_after: float = SHOW_AFTER, kernel: Any = None) -> None:
        self._enabled = enabled
        self._widgets = widgets
        self._blocking = blocking
        self._show_after = show_after
        self._kernel = kernel
        self._view: TextView | WidgetView | None = None
        self._current: sqlnb.QueryHandle | None = None
        self._cancelled = False
        self._watch: Callable[[sqlnb.QueryHandle], object] | None = None

    def cancel(self) -> None:
        """Stop the cell: the statement running now, and none after it (any thread, twice)."""
        self._cancelled = True
        handle = self._current
        if handle is not None:
            handle.cancel()

    def show(self) -> None:
        """Display the progress now (a background cell shows it before the cell returns)."""
        if self._enabled and self._view is None:
            self._view = self._new_view()

    def wait(self, handle: sqlnb.QueryHandle, where: str = "",
             watch: Callable[[sqlnb.QueryHandle], object] | None = None) -> Any:
        """Wait for one statement (showing progress if it runs long); its value or its error.
        `watch(handle)` is called every few hundredths of a second while it runs (the magics'
        fetch limit looks at the rows so far).

        A KeyboardInterrupt cancels the statement, waits for it to stop, and is raised again.
        """
        self._current = handle
        self._watch = watch
        if self._cancelled:  # a click that came before this statement began
            handle.cancel()
        try:
            if self._enabled and not self._wait_to_show(handle):
                if self._view is None:
                    self._view = self._new_view()
                self._view.update(handle, where)  # the figures (and first rows) at once
                started = time.monotonic()
                while not handle.wait(TICK if time.monotonic() - started > TICK else 0.02):
                    self._view.update(handle, where)
                    self._watched(handle)
                self._view.update(handle, where)
            elif not self._enabled and watch is not None:
                while not handle.wait(0.02):
                    watch(handle)
            return handle.result()
        except KeyboardInterrupt:
            handle.cancel()
            handle.wait(10)
            raise

    def _wait_to_show(self, handle: sqlnb.QueryHandle) -> bool:
        """Wait until the query is over (True), or until it is to be shown (False): it outlasted
        show_after, or its first rows are in while the rest is fetched."""
        started = time.monotonic()
        if handle.wait(min(FIRST_ROWS_AFTER, self._show_after)):
            return True
        while True:
            self._watched(handle)
            left = self._show_after - (time.monotonic() - started)
            if left <= 0 or handle.first_rows is not None:
                return False
            if handle.wait(min(0.02, left)):
                return True

    def _watched(self, handle: sqlnb.QueryHandle) -> None:
        if self._watch is not None:
            self._watch(handle)

    def finish(self, line: str) -> None:
        """The cell is done: leave its one-line summary (if the progress was shown)."""
        if self._view is not None:
            self._view.finish(line)

    def fail(self, line: str) -> None:
        """The cell failed with the error `line`: end the display without a second wording."""
        if self._view is not None:
            self._view.fail(line)

    def refresh(self) -> None:
        """Repeat a background cell's last display update (see the module's docstring)."""
        if isinstance(self._view, WidgetView):
            self._view.refresh()

    def _new_view(self) -> TextView | WidgetView:
        if self._widgets:
            return WidgetView(self._blocking, self.cancel, self._kernel)
        return TextView()
