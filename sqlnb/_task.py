"""A unit of work and its outcome: `Task` (its own reply), running it on a link, settling it.

Engine-free: a task runs on whatever `Link` its worker holds (engines/base.py), and the engine's
errors reach `settle()` already translated at the seam (`Link.translate`): the engine's
interrupt of a query its control stopped arrives as `Stopped`, which becomes QueryCancelled,
QueryTimeout or DatabaseClosed here, from the control's reason.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._control import CLOSED, DONE, TIMEOUT, Control
from ._reply import Reply
from .errors import (
    DatabaseClosed,
    Error,
    ErrorBases,
    QueryCancelled,
    QueryTimeout,
    annotate,
    flavoured,
)
from .results import rows_to_dataframe

if TYPE_CHECKING:
    from .engines.base import Link
    from .engines.sqltext import Statement


class Stopped(Exception):
    """Raised inside sqlnb where a query's control says stop; settle() turns it into the error.

    `applied` says what is known of a stopped write: False, nothing of it is in the database
    (rolled back, or stopped before it changed anything); None, it may be there, whole or in
    part (an engine without transactions stopped it while it ran: `Link.translate` says so).
    """

    def __init__(self, applied: bool | None = False) -> None:
        super().__init__()
        self.applied = applied


class NotStarted(Stopped):
    """Raised by `running` for a query stopped before it began: nothing of it ran."""


class Task(Reply):
    """One unit of work for a reader or the writer, with its control; it is its own reply.

    The work is `work(link, control)`, or, when `work` is None, the one `statement` with its
    `params` (a DataFrame when `frame` is set): the common case, run with no wrapper call.
    """

    __slots__ = (
        "control",
        "error_bases",
        "frame",
        "groupable",
        "isolated",
        "params",
        "reads",
        "reroutable",
        "sql",
        "statement",
        "transaction",
        "work",
    )

    def __init__(self, work: Callable[[Link, Control], Any] | None, control: Control, sql: str,
                 statement: Statement | None = None, params: Any = None,
                 frame: bool = False, groupable: bool = True, transaction: bool = True,
                 isolated: bool = False, reroutable: bool = False, reads: bool = False) -> None:
        Reply.__init__(self)
        self.work = work
        self.control = control
        self.sql = sql
        self.statement = statement
        self.params = params
        self.frame = frame
        self.groupable = groupable and transaction and not isolated
        self.transaction = transaction
        self.isolated = isolated
        #: a read that may move to the writer when the engine says it belongs there
        self.reroutable = reroutable
        #: the work only reads: on the writer it runs with writes refused, and it runs even
        #: while a rolled-back transaction of the user's waits to be ended
        self.reads = reads
        #: the engine's bases for sqlnb's errors (Backend.error_bases), set by the Dispatch
        #: that takes the task: settle() raises its errors with them (errors.flavour)
        self.error_bases: ErrorBases | None = None

    def result(self, timeout: float | None = None) -> Any:
        """The value (a DataFrame for a SmallFrame, built here once), or raise the error."""
        value = Reply.result(self, timeout)
        if type(value) is SmallFrame:
            value = self._swap_value(value, value.frame())  # one frame, however many ask
        return value

    def run(self, link: Link, control: Control) -> Any:
        """Do the work on `link` (on the worker thread)."""
        if self.work is None:
            return link.run(self.statement, self.params, control, self.frame)  # type: ignore[arg-type]
        return self.work(link, control)


class SmallFrame:
    """A small, complete result for a DataFrame, which the caller's thread builds.

    Building a frame of a few rows costs less than the thread hop around it, and on this kind
    of machine it runs faster in the thread that was just woken to take it than in the worker
    that woke it. A larger result is built batch by batch on the worker, where the time limit
    and cancel reach the build and its row tuples never all exist at once.
    """

    __slots__ = ("columns", "rows")

    def __init__(self, columns: list[str], rows: list[tuple]) -> None:
        self.columns = columns
        self.rows = rows

    def frame(self) -> Any:
        return rows_to_dataframe(self.rows, self.columns)


class running:
    """The query of `control` runs on `link` for the block: attached on entry, so a cancel or
    the timer interrupts that link, and let go on exit, so no interrupt reaches the next query.

    Raises `NotStarted` on entry if the query was stopped before it began. `watched`: the caller
    has asked the timer to look at the query already (the writer does, once per group).
    """

    __slots__ = ("control", "link", "watched")

    def __init__(self, link: Link, control: Control, watched: bool = False) -> None:
        self.link = link
        self.control = control
        self.watched = watched

    def __enter__(self) -> None:
        if not self.control.begin(self.link, self.watched):
            raise NotStarted()
        self.link.control = self.control

    def __exit__(self, *_exc: object) -> None:
        self.link.control = None
        self.control.release()


@contextlib.contextmanager
def keyboard_cancels(control: Control) -> Iterator[None]:
    """threads=0 runs the engine in the caller's thread: there, Ctrl-C cancels the query.

    Python runs a signal handler only between bytecodes, which an engine's progress callback
    gives it while a statement runs; the KeyboardInterrupt is raised once the engine stopped.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def on_sigint(_signum: int, _frame: object) -> None:
        control.keyboard = True
        # The handler may run while this very thread holds the controls' lock (between two
        # bytecodes of Control.begin, say): cancel from another thread, which waits for it.
        threading.Thread(target=control.cancel, name="sqlnb-cancel", daemon=True).start()

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# -- outcomes -------------------------------------------------------------------------------

def _fate(control: Control, applied: bool | None) -> str:
    """What became of a stopped write, as the end of its error's message."""
    if not control.is_write:
        return ""
    if control.started is None:
        return "; the write was not run"
    if applied is None:
        return ("; it may have been applied, whole or in part (the engine has no "
                "transactions): look at the data before running it again")
    return "; the write was rolled back"


def stopped_error(task: Task, stopped: Stopped | None = None) -> BaseException:
    """The error for a query its control stopped (cancel, time limit, close); `stopped` says
    what is known of a write (see Stopped.applied)."""
    control = task.control
    applied = False if stopped is None or control.started is None else stopped.applied
    kwargs = {"sql": task.sql, "elapsed": control.elapsed, "is_write": control.is_write,
              "applied": applied}
    undone = _fate(control, applied)
    if control.reason == TIMEOUT:
        return QueryTimeout(
            f"query stopped at the {control.time_limit:g} s time limit{undone}: raise it with "
            "time_limit=SECONDS (this call), connect(time_limit=) or sqlnb.options.time_limit "
            "(math.inf for none)", time_limit=control.time_limit, **kwargs)
    if control.reason == CLOSED:
        error = DatabaseClosed(f"the database was closed while this query ran{undone}")
        error.sql = task.sql
        error.applied = applied
        return error
    return QueryCancelled(f"query cancelled after {control.elapsed:.2f} s{undone}", **kwargs)


def settle(task: Task, value: Any = None, error: BaseException | None = None) -> None:
    """Finish a task: set its control's outcome and its reply (once), with errors made clear.

    An engine's errors come here through `Link.translate` (named and noted there)."""
    control = task.control
    if task.done():  # settled already (cancelled while queued, say): the first outcome stands
        if control.state != DONE:  # a stopped read answered early: its worker let go now
            control.finish(control.outcome)
        return
    if error is not None:
        error, outcome = _final(task, error)
        if control.finish(outcome):  # else a stopped read's caller is being answered early
            task.set_exception(error)
    elif control.finish("done"):
        task.set_result(value)


def _final(task: Task, error: BaseException) -> tuple[BaseException, str]:
    """The error as the caller gets it, and the control's outcome for it."""
    if isinstance(error, Stopped):
        error = stopped_error(task, error) if task.control.reason is not None else error
    elif isinstance(error, Error):
        annotate(error, task.sql)
        error.__traceback__ = None  # the frames are sqlnb's internals, not the user's
    if task.error_bases:  # as the engine raises it (SQLite's are sqlite3's errors too)
        flavoured(error, task.error_bases)
    if isinstance(error, QueryTimeout):
        return error, "timed out"
    if isinstance(error, QueryCancelled):
        return error, "cancelled"
    return error, "failed"


def answer_stopped_read(task: Task) -> None:
    """A read whose stop the engine has (`Control.stop_reached`): its caller gets the stop's
    error now; the worker's own settle, when the engine lets go, only ends the control."""
    error, outcome = _final(task, Stopped())
    if task.control.answer_early(outcome):
        task.set_exception(error)


def settle_done(done: list[tuple[Task, Any]]) -> None:
    """Settle tasks that succeeded together (a committed group): one clock read, one unwatch."""
    if not done:
        return
    Control.finish_all([task.control for task, _value in done], time.monotonic())
    Reply.set_results(done)  # type: ignore[arg-type]


def settle_if_stopped(task: Task) -> None:
    """For a task that will not run because it was stopped: make sure its caller hears of it."""
    if not task.done() and task.control.reason is not None:
        settle(task, error=Stopped())


def note(error: BaseException, text: str) -> None:
    """Add a note once (one error can settle a whole group of writes)."""
    if hasattr(error, "add_note") and text not in getattr(error, "__notes__", ()):
        error.add_note(text)
