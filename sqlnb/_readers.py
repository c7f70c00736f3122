"""The read pool: up to N reader threads (`sqlnb-read-N`), each with a link of its own,
started as reads arrive. Engine-free: a reader asks the dispatcher to run each read.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

from ._control import CLOSED
from ._task import Task, settle
from .errors import DatabaseClosed

if TYPE_CHECKING:
    from ._dispatch import Dispatch
    from .engines.base import Link

log = logging.getLogger("sqlnb")

_STOP = object()


class ReadPool:
    """Up to `size` reader threads, each with its own connection, started as reads arrive."""

    def __init__(self, dispatch: Dispatch, size: int) -> None:
        self._dispatch = dispatch
        self._size = size
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = 0  # readers waiting for a task
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._taken: set[Task] = set()
        self._closed = False

    def submit(self, task: Task) -> None:
        with self._lock:
            if self._closed:
                settle(task, error=DatabaseClosed("the database is closed"))
                return
            self._queue.put(task)
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._size:
                thread = threading.Thread(target=self._run, name=f"sqlnb-read-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()

    def runs_in(self, thread: threading.Thread) -> bool:
        """True when `thread` is one of this pool's readers."""
        with self._lock:
            return thread in self._threads

    def _run(self) -> None:
        link: Link | None = None
        try:
            while True:
                task = self._queue.get()
                if task is _STOP:
                    return
                with self._lock:  # close() stops every task taken before it, none after
                    if self._closed:
                        settle(task, error=DatabaseClosed("the database was closed before "
                                                          "this query ran"))
                        continue
                    self._taken.add(task)
                try:
                    if link is None:
                        link = self._dispatch.backend.open_reader()
                    outcome = self._dispatch.run_read(link, task)
                except BaseException as error:
                    outcome = (None, error)
                with self._lock:
                    self._taken.discard(task)
                    self._idle += 1
                if outcome is not None:
                    try:  # last, so the woken caller finds this thread asleep
                        settle(task, *outcome)
                    except BaseException:  # a reader survives whatever a callback raises
                        log.exception("sqlnb: finishing a read failed")
                del task, outcome  # an idle reader must not keep the last task (and caller) alive
        finally:
            if link is not None:
                link.close()

    def close(self) -> None:
        """Fail the queued reads, stop the running ones, and join every reader."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            running = [task.control for task in self._taken]
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                break
            if task is not _STOP:
                settle(task, error=DatabaseClosed("the database was closed before this query ran"))
        for control in running:
            control.cancel(CLOSED)
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
