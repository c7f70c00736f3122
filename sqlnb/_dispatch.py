"""Where a task runs: the dispatcher under `Database`, engine-free.

A read goes to the read pool (`_readers.py`), a write to the writer (`_writer.py`); with
`threads=0` both run in the calling thread, one at a time. A read the engine says belongs on the
writer (a write SQLite refused on its read-only connection, a read of the writer's TEMP tables)
moves there. The engine itself is behind its `Backend` and `Link`s (engines/base.py).

Threads (all daemons, all joined by `close()`): `sqlnb-read-N` (up to N readers, started as
reads arrive), `sqlnb-writer` (the only writing link), `sqlnb-timer` (interrupts queries at
their deadline, see _control.py).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._control import Control, Timer
from ._readers import ReadPool
from ._task import (
    NotStarted,
    Stopped,
    Task,
    answer_stopped_read,
    keyboard_cancels,
    running,
    settle,
    settle_if_stopped,
)
from ._writer import Writer, WriteRunner
from .errors import DatabaseClosed, flavoured

if TYPE_CHECKING:
    from .engines.base import Backend, Link

_END = object()
#: First keywords of statements that read, unless a word of _WRITING_WORDS is in them too.
_READING = frozenset({"SELECT", "VALUES", "TABLE", "WITH", "SHOW", "DESCRIBE", "EXPLAIN"})
#: Words that may make a reading statement write (SELECT ... INTO, WITH ... INSERT): such a
#: statement counts as a write (a word in a string counts too: a cache miss too many, never
#: a stale result).
_WRITING_WORDS = frozenset({"into", "insert", "update", "delete", "merge", "create", "drop",
                            "alter", "replace", "truncate", "copy", "call", "set", "nextval",
                            "setval"})


def _only_reads(task: Task) -> bool:
    """True for a task that cannot change the data: a read (`task.reads`), or one statement
    whose first keyword reads and that names no word that could make it write."""
    if task.reads:
        return True
    statement = task.statement
    if statement is None or statement.keyword not in _READING:
        return False
    words = "".join(c if c.isalnum() or c == "_" else " " for c in statement.text.lower())
    return _WRITING_WORDS.isdisjoint(words.split())


class Dispatch:
    """Everything a Database runs on; threads hold this, never the Database itself."""

    def __init__(self, backend: Backend, *, threads: int) -> None:
        self.backend = backend
        #: the engine's bases for sqlnb's errors, given to every task this dispatch takes
        self.error_bases = backend.error_bases
        self.timer = Timer()
        self._closed = False
        self._closed_done = False
        self._lock = threading.Lock()
        self._close_lock = threading.Lock()
        #: writes given to the writer plus writes ended: the result cache compares it (a write
        #: queued, running or done since a result was kept makes it old)
        self.writes = 0
        self._writes_lock = threading.Lock()
        self.writer_link = backend.open_writer()
        runner = WriteRunner(self.writer_link, backend.open_isolated)
        self.threaded = threads > 0
        if self.threaded:
            self.pool: ReadPool | None = ReadPool(self, threads)
            self.writer: Writer | None = Writer(runner)
        else:
            self.pool = self.writer = None
            self._inline_lock = threading.RLock()
            self._inline_depth = 0  # how deep the thread in inline work is in it
            self._inline_thread: int | None = None  # which thread that is
            self._inline_reader: Link | None = None
            self._inline_runner = runner

    @property
    def closed(self) -> bool:
        return self._closed

    # -- submitting --------------------------------------------------------------------------
    def check_open(self) -> None:
        if self._closed:
            raise flavoured(DatabaseClosed("the database is closed: open it again with "
                                           "sqlnb.connect()"), self.error_bases)

    def in_worker(self) -> bool:
        """True when called from this Database's own work: one of its threads, or (threads=0)
        a function it is running in the caller. close() there would wait for itself."""
        current = threading.current_thread()
        if self.pool is not None and self.pool.runs_in(current):
            return True
        if self.writer is not None and self.writer.runs_in(current):
            return True
        return not self.threaded and self._inline_thread == threading.get_ident()

    @contextlib.contextmanager
    def _inline(self, control: Control) -> Iterator[None]:
        """threads=0: run work in the calling thread, one piece at a time; Ctrl-C cancels it."""
        with self._inline_lock, keyboard_cancels(control):
            self._inline_depth += 1
            self._inline_thread = threading.get_ident()
            try:
                yield
            finally:
                self._inline_depth -= 1
                if not self._inline_depth:
                    self._inline_thread = None

    def _reader(self) -> Link:
        """threads=0: the one reader link, opened on first use."""
        if self._inline_reader is None:
            self._inline_reader = self.backend.open_reader()
        return self._inline_reader

    def submit_read(self, task: Task) -> None:
        self.check_open()
        task.error_bases = self.error_bases
        if self.pool is not None:
            self.pool.submit(task)
        else:
            with self._inline(task.control):
                outcome = self.run_read(self._reader(), task)
                if outcome is not None:
                    settle(task, *outcome)

    def _count_write(self, task: Task) -> None:
        """A write is given to the writer, and once more when it ends. A task that only reads
        is not counted (a read of TEMP objects runs on the writer, and must not make every
        cached result old): see _only_reads."""
        if _only_reads(task):
            return
        with self._writes_lock:
            self.writes += 1
        if not task.done():
            task.add_done_callback(self._write_ended)

    def _write_ended(self, _task: object) -> None:
        with self._writes_lock:
            self.writes += 1

    def submit_write(self, task: Task) -> None:
        self.check_open()
        task.error_bases = self.error_bases
        task.control.is_write = True
        self._count_write(task)
        if self.writer is not None:
            self.writer.submit(task)
        else:
            with self._inline(task.control):
                self._inline_runner.run([task])

    def submit(self, task: Task, write: bool) -> None:
        """Hand a task to the writer (`write`) or to the readers."""
        if write:
            self.submit_write(task)
        else:
            self.submit_read(task)

    # -- readers -----------------------------------------------------------------------------
    def run_read(self, link: Link, task: Task) -> tuple[Any, BaseException | None] | None:
        """Run a read on a reader; move it to the writer when the engine says it belongs there.

        Returns (value, error) for the caller to settle once its own bookkeeping is done (so
        the waiting thread, once woken, does not wait again for this one), or None when the
        task was stopped before it began or moved to the writer.
        """
        control = task.control
        # a read has nothing to undo: once the engine has its stop, its caller need not wait
        # for the engine to wind it down (Control.stop_reached)
        control.early = functools.partial(answer_stopped_read, task)
        self.backend.prepare_reader(link)
        try:
            with running(link, control):
                value = task.run(link, control)
        except NotStarted:
            settle_if_stopped(task)
            return None
        except BaseException as error:
            if (task.reroutable and control.reason is None
                    and self.backend.reroute(link, task, error)):
                control.early = None  # on the writer it may write: answered once it is over
                self._send_to_writer(task)
                return None
            return None, link.translate(error, task)
        return value, None

    def _send_to_writer(self, task: Task) -> None:
        self._count_write(task)
        if self.writer is not None:
            self.writer.submit(task)
        else:
            self._inline_runner.run([task])

    # -- streams -----------------------------------------------------------------------------
    def inline_stream(self, task: Task, produce: Callable[[Link, Control], Iterator[Any]]
                      ) -> Iterator[Any]:
        """threads=0: run a chunked read in the caller, yielding as it goes.

        The stream keeps the inline reader until it ends, but Ctrl-C cancels the query only
        while a chunk is being read: between chunks the user's own code runs, and there Ctrl-C
        is the user's KeyboardInterrupt.
        """
        control = task.control
        with self._inline_lock:
            with self._inline(control):
                link = self._reader()
                self.backend.prepare_reader(link)
                if not control.begin(link):
                    settle_if_stopped(task)
                    task.result()
                link.control = control
            chunks = produce(link, control)
            closed = False
            try:
                while True:
                    with self._inline(control):
                        chunk = next(chunks, _END)
                    if chunk is _END:
                        break
                    yield chunk
            except GeneratorExit:  # the caller closed the iterator: that cancels the query
                control.cancel()
                closed = True
                error: BaseException = Stopped()
            except BaseException as failure:
                error = link.translate(failure, task)
            else:
                link.control = None
                control.release()
                settle(task, None)
                return
            finally:
                chunks.close()
            link.control = None
            control.release()
            settle(task, error=error)
            if closed:
                return
            if control.keyboard:  # Ctrl-C reached the engine while it read a chunk
                raise KeyboardInterrupt from task.exception(0)
            task.result()

    # -- closing -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop reads, finish queued writes, join every thread, close every link.

        A second call, from any thread, returns once the first has finished.
        """
        with self._close_lock:
            if self._closed_done:
                return
            with self._lock:
                self._closed = True
            self._close()
            self._closed_done = True

    def _close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.writer is not None:
            self.writer.close()
        else:
            with self._inline_lock:
                if self._inline_reader is not None:
                    self._inline_reader.close()
                self.writer_link.close()
        self.timer.close()
        self.backend.close()
