"""A query's control (deadline, cancel flag, counters) and the timer that enforces it.

The engine is stopped through the link the query runs on (`Link.interrupt()`: SQLite's
`Connection.interrupt()`, DuckDB's cursor interrupt), called by whoever cancels and, at the
deadline, by one timer thread per Database. Nothing runs in Python on the engine's hot path, so
the limit holds however busy the main thread is. An interrupt that lands between two statements
may be lost (SQLite clears the flag when a statement starts on an idle connection), so once a
query is cancelled or out of time the timer repeats the interrupt every few milliseconds until
the worker lets go of the link.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from .engines.base import Link

QUEUED, RUNNING, DONE = "queued", "running", "done"
CANCELLED, TIMEOUT, CLOSED = "cancelled", "timeout", "closed"

#: How often an interrupt is repeated once a query must stop, until it has stopped (seconds).
REPEAT_INTERRUPT = 0.005


@dataclass(frozen=True)
class Progress:
    """A snapshot of a query's progress, for a progress bar or a log line."""

    #: "queued", "running", "done", "failed", "cancelled" or "timed out"
    state: str
    #: seconds since the query started running (0 while queued)
    elapsed: float
    #: the query's time limit in seconds, or None for no limit
    time_limit: float | None
    #: rows fetched so far (rows written, for a bulk write)
    rows: int
    #: SQLite virtual-machine steps so far, counted in blocks (0 for a short query)
    steps: int
    #: how far the engine says it got, 0 to 100, or None where it cannot tell (SQLite)
    percent: float | None = None
    #: what the engine says it is doing, where it says ("stage 3: 40/64 tasks" on Spark)
    phase: str | None = None

    @property
    def fraction(self) -> float | None:
        """Share of the time limit used, from 0 to 1, or None without a limit."""
        if not self.time_limit:
            return None
        return min(1.0, self.elapsed / self.time_limit)


#: Rows of a large result that the engine keeps aside as soon as they arrive (Control.preview).
PREVIEW_ROWS = 10


class Control:
    """The state of one query, shared by the caller, its worker thread and the timer.

    Every method is safe from any thread; `cancel()` may be called at any moment, twice.
    """

    __slots__ = (
        "_answered",
        "_link",
        "_lock",
        "_preview",
        "_preview_rows",
        "deadline",
        "early",
        "finished",
        "is_write",
        "keyboard",
        "outcome",
        "reason",
        "rows",
        "stage",
        "started",
        "state",
        "steps",
        "time_limit",
        "timer",
    )

    def __init__(self, time_limit: float | None, timer: Timer, *, is_write: bool = False) -> None:
        self._lock = timer.controls_lock
        #: the timer of this query's Database (which enforces its deadline)
        self.timer = timer
        self._link: Link | None = None
        self.state = QUEUED
        self.reason: str | None = None
        self.time_limit = time_limit
        self.is_write = is_write
        self.started: float | None = None
        self.finished: float | None = None
        self.deadline = math.inf
        self.rows = 0
        self.steps = 0
        self.outcome = QUEUED
        self.keyboard = False
        #: (percent or None, what it does): set by work that runs several queries or reads a
        #: file (a profile, an import); shown instead of the engine's percent of one query
        self.stage: tuple[float | None, str] | None = None
        self._preview: tuple[list[str], list[tuple]] | None = None
        self._preview_rows: tuple[list[str], Callable[[], list[tuple]]] | None = None
        #: how a read's caller is answered once the engine has its stop (set by the dispatcher
        #: for a read, called at most once by `stop_reached`; a write has none)
        self.early: Callable[[], None] | None = None
        self._answered = False  # the caller has its answer; the worker has not let go yet

    @property
    def preview(self) -> tuple[list[str], list[tuple]] | None:
        """(columns, the first PREVIEW_ROWS rows) of a result, set by the engine once its
        first batch is in, so the front can show them while the rest arrives; None before."""
        pending = self._preview_rows
        if pending is not None and self._preview is None:
            names, rows = pending
            self._preview = (names, rows())  # two readers at once both convert: same rows
        return self._preview

    @preview.setter
    def preview(self, value: tuple[list[str], list[tuple]] | None) -> None:
        self._preview = value

    @property
    def has_preview(self) -> bool:
        """True once the engine has kept first rows aside (without converting them)."""
        return self._preview is not None or self._preview_rows is not None

    def keep_preview(self, names: list[str], rows: Callable[[], list[tuple]]) -> None:
        """Keep first rows aside as a call that makes them, run only when someone looks: a
        result that arrives whole at once is seldom looked at before it ends, and converting
        its first rows to Python values costs a one-row PostgreSQL lookup a tenth of its time
        (benchmarks, the postgres case). The call must hold only what is cheap to keep."""
        self._preview_rows = (names, rows)

    # -- the worker's side ------------------------------------------------------------------
    def begin(self, link: Link, watched: bool = False) -> bool:
        """Attach the link that runs the query; False if it was stopped before it began.

        `watched`: the caller has already asked the timer to look at this query no later than
        its deadline can be (the writer does that once for a whole group).
        """
        with self._lock:
            if self.reason is not None or self.state == DONE:
                return False
            self._link = link
            if self.started is None:
                self.state = RUNNING
                self.outcome = RUNNING
                self.started = time.monotonic()
                if self.time_limit is not None:
                    self.deadline = self.started + self.time_limit
                    if not watched:
                        self.timer.watch(self, self.deadline)
            return True

    def release(self) -> None:
        """Let go of the link (the query may go on elsewhere, as when a read is rerouted)."""
        with self._lock:
            self._link = None

    def finish(self, outcome: str) -> bool:
        """The query is over: "done", "failed", "cancelled" or "timed out". False when its
        caller was answered already (`answer_early`): that answer and its outcome stand."""
        with self._lock:
            self._link = None
            self.state = DONE
            self.early = None
            owner = not self._answered
            if owner:
                self.outcome = outcome
                self.finished = time.monotonic()
        self.timer.unwatch(self)
        return owner

    def answer_early(self, outcome: str) -> bool:
        """Claim the answer to a stopped read's caller before its worker lets go (see
        `stop_reached`); False if the query is over or answered already. The query stays
        running for the timer, which goes on interrupting it until the worker lets go."""
        with self._lock:
            if self.state != RUNNING or self._answered or self.reason is None:
                return False
            self._answered = True
            self.outcome = outcome
            self.finished = time.monotonic()
            return True

    def stop_reached(self) -> None:
        """Called by an engine, from any thread, once the engine has the request to stop this
        query (a server has acknowledged the cancel) but may take a while to wind it down:
        PostgreSQL ends a query's parallel workers before it reports, tens of ms. A read's
        caller gets its QueryCancelled or QueryTimeout now, since a read has nothing to undo
        and its result would be dropped; its worker still waits for the engine and takes no
        other query meanwhile. A write's caller is answered only once it is rolled back."""
        with self._lock:
            early, self.early = self.early, None
        if early is not None:
            early()

    @staticmethod
    def finish_all(controls: list[Control], now: float) -> None:
        """Many queries of one Database are done at once (a committed group of writes)."""
        if not controls:
            return
        timer = controls[0].timer
        with timer.controls_lock:
            for control in controls:
                control._link = None
                control.state = DONE
                control.outcome = "done"
                control.finished = now
        timer.unwatch_all(controls)

    # -- anyone's side ----------------------------------------------------------------------
    def cancel(self, reason: str = CANCELLED) -> str | None:
        """Stop the query; returns the state it was in ("queued", "running"), or None if over."""
        with self._lock:
            if self.state == DONE or self.reason is not None:
                return None
            self.reason = reason
            prior = self.state
            self._interrupt()
        if prior == RUNNING:
            self.timer.watch(self, time.monotonic() + REPEAT_INTERRUPT)
        return prior

    def on_timer(self, now: float) -> float:
        """Called by the timer: enforce the deadline; returns when to be called next."""
        with self._lock:
            if self.state != RUNNING:
                if self.state == QUEUED and self.time_limit is not None:
                    return now + self.time_limit  # watched early: it cannot time out before
                return math.inf
            if self.reason is None and now >= self.deadline:
                self.reason = TIMEOUT
            if self.reason is None:
                return self.deadline
            self._interrupt()
            return now + REPEAT_INTERRUPT

    def _interrupt(self) -> None:
        if self._link is not None:
            self._link.interrupt()

    @property
    def elapsed(self) -> float:
        """Seconds the query has run (until it finished)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def progress(self) -> Progress:
        """A snapshot of the counters (and of the engine's percent while the query runs)."""
        link, stage = self._link, self.stage
        if stage is not None:
            percent, phase = stage
        elif link is None:
            percent = phase = None
        else:
            percent, phase = link.percent(), link.phase()
        return Progress(self.outcome, self.elapsed, self.time_limit, self.rows, self.steps,
                        percent, phase)


class Timer:
    """One thread (`sqlnb-timer`) that calls `Control.on_timer` when each deadline comes.

    It sleeps until the earliest deadline of the queries it watches and is woken only when a
    query with an earlier deadline arrives, so a stream of quick queries costs it nothing.
    """

    def __init__(self, name: str = "sqlnb-timer") -> None:
        self._name = name
        self._lock = threading.Lock()  # taken directly on the hot path (a C-level `with`)
        self._cond = threading.Condition(self._lock)
        #: guards the state of every Control of this timer's Database: one lock for all spares
        #: each query a lock of its own. Held only briefly; under it the timer's own lock may be
        #: taken (Control.begin watches its deadline), never the other way round: the timer
        #: calls on_timer without its lock, so the two cannot deadlock.
        self.controls_lock = threading.Lock()
        self._due: dict[Control, float] = {}
        self._ticking: set[Control] = set()  # called now, outside the lock (see _run)
        self._wake_at = math.inf
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, control: Control, when: float) -> None:
        """Call `control.on_timer` at `when` (monotonic seconds)."""
        with self._lock:
            if self._closed:
                return
            due = self._due
            if when < due.get(control, math.inf):
                due[control] = when
            if when < self._wake_at:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name,
                                                    daemon=True)
                    self._thread.start()
                self._cond.notify()

    def watch_all(self, due: list[tuple[Control, float]]) -> None:
        """Call each control's `on_timer` at its time or before (one lock for many queries)."""
        if not due:
            return
        with self._lock:
            if self._closed:
                return
            known = self._due
            earliest = math.inf
            for control, when in due:
                if when < known.get(control, math.inf):
                    known[control] = when
                earliest = min(earliest, when)
            if earliest < self._wake_at:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name,
                                                    daemon=True)
                    self._thread.start()
                self._cond.notify()

    def unwatch(self, control: Control) -> None:
        """Forget a query that is over (the thread is not woken)."""
        with self._lock:
            self._due.pop(control, None)
            self._ticking.discard(control)

    def unwatch_all(self, controls: list[Control]) -> None:
        """Forget queries that are over (one lock for a group)."""
        with self._lock:
            pop, discard = self._due.pop, self._ticking.discard
            for control in controls:
                pop(control, None)
                discard(control)

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                due = [c for c, when in self._due.items() if when <= now]
                if due:
                    # The due queries leave the table while on_timer runs (outside the lock):
                    # a watch() meanwhile (a cancel asking for repeated interrupts) books its
                    # own time, and the sooner of the two wins; an unwatch() (the query is
                    # over) drops it from _ticking, so it is not booked again.
                    for control in due:
                        del self._due[control]
                    self._ticking.update(due)
                    self._cond.release()
                    try:
                        nexts = [(c, c.on_timer(now)) for c in due]
                    finally:
                        self._cond.acquire()
                    for control, when in nexts:
                        if control in self._ticking:
                            when = min(when, self._due.get(control, math.inf))
                            if when == math.inf:
                                self._due.pop(control, None)
                            else:
                                self._due[control] = when
                    self._ticking.clear()
                    continue
                self._wake_at = min(self._due.values(), default=math.inf)
                timeout = None if self._wake_at == math.inf else self._wake_at - now
                self._cond.wait(timeout)
                self._wake_at = -math.inf  # awake: every watch() may notify harmlessly

    def close(self) -> None:
        """Stop the thread and wait for it."""
        with self._cond:
            self._closed = True
            self._due.clear()
            self._ticking.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
