"""The writer: one thread, the only writing link, queued writes run in order, several per
transaction (group commit), each acknowledged only once committed.

Engine-free: the transaction steps are the link's (engines/base.py). Where the engine has
savepoints, a group runs with no savepoint per write; when one fails, the transaction is rolled
back, that write fails alone, and the writes before it run again, each in a savepoint. Where it
has none, they run again one transaction each.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._task import (
    NotStarted,
    Stopped,
    Task,
    note,
    running,
    settle,
    settle_done,
    settle_if_stopped,
)
from .errors import DatabaseClosed, Error, QueryCancelled, QueryTimeout, TransactionRolledBack
from .results import Result

if TYPE_CHECKING:
    from .engines.base import Link

log = logging.getLogger("sqlnb")

#: At most this many queued writes share one transaction.
MAX_GROUP = 1000
_STOP = object()


class WriteRunner:
    """Runs write tasks on the writer's link: alone, or several in one transaction.

    A transaction the user opened (BEGIN) is the user's: sqlnb never commits or rolls it back.
    When the engine rolls it back whole (SQLite on a trigger's RAISE(ROLLBACK) or an interrupted
    write), every write made in it fails with TransactionRolledBack, and so does every later
    write until the user ends it: ROLLBACK ends it quietly, COMMIT raises that error once more.
    """

    def __init__(self, link: Link, open_isolated: Callable[[], Link]) -> None:
        self.link = link
        self._open_isolated = open_isolated
        #: the error that made the engine roll back the user's transaction, until it is ended
        self._aborted: BaseException | None = None

    def run(self, batch: list[Task]) -> None:
        if self._aborted is not None:
            batch = self._refuse(batch)
        if len(batch) == 1:  # its own transaction: no savepoint needed
            self._run_alone(batch[0])
        elif batch and not self.link.transactions:  # nothing to group them in (Spark)
            for task in batch:
                self._run_alone(task)
        elif batch:
            self._run_group(batch)

    def _refuse(self, batch: list[Task]) -> list[Task]:
        """While the user's rolled-back transaction waits to be ended: the tasks that may run."""
        cause = self._aborted
        allowed = []
        for task in batch:
            statement = task.statement
            if self._aborted is None or task.reads:
                allowed.append(task)
            elif statement is not None and statement.ends_transaction:
                self._aborted = None
                if self.link.in_transaction:  # DuckDB keeps an aborted one open until then
                    self._undo(self.link, savepoint=False)
                if statement.keyword == "ROLLBACK":  # what the user asked for is done already
                    result = Result([], [], -1, None, statement.text)
                    settle(task, result.to_dataframe() if task.frame else result)
                else:
                    settle(task, error=TransactionRolledBack(
                        f"nothing to commit: {_rolled_back(cause)}; nothing of it is in the "
                        "database"))
            else:
                settle(task, error=TransactionRolledBack(
                    f"this write was not run: {_rolled_back(cause)}; nothing of it is in the "
                    "database. Run ROLLBACK to end it (writes are refused until then), then "
                    "write again"))
        return allowed

    def _user_transaction_lost(self, task: Task) -> None:
        """The engine rolled back the user's whole transaction while `task` ran (now settled)."""
        error = self._aborted = task.exception(0)
        note(error, "the whole transaction you opened (BEGIN) was lost with this write: "
                    "nothing of it is in the database. Run ROLLBACK to end it (writes are "
                    "refused until then)")

    def _run_alone(self, task: Task) -> None:
        try:
            link = self._open_isolated() if task.isolated else self.link
        except BaseException as error:  # the fresh connection could not be opened
            settle(task, error=error)
            return
        control = task.control
        users = link.in_transaction and not task.isolated  # a transaction the user opened
        # inside the user's transaction: a savepoint, or (without them) the write joins it
        nested = task.transaction and link.in_transaction
        steps = task.transaction and (link.savepoints or not nested)
        try:
            try:
                with running(link, control):
                    if steps:
                        if nested:
                            link.savepoint()
                        else:
                            link.begin([control])
                    if task.reads:
                        with link.reading():
                            value = task.run(link, control)
                    else:
                        value = task.run(link, control)
                    # cancel wins until the commit; an engine without transactions has
                    # nothing to undo: the work is done, and a stop that came too late is moot
                    if task.transaction and control.reason is not None and link.transactions:
                        raise Stopped()
                    if steps:
                        if nested:
                            link.release()
                        else:
                            link.commit([control])
            except NotStarted:  # stopped before it began: nothing was done
                settle_if_stopped(task)
            except BaseException as error:
                if steps and link.in_transaction:
                    self._undo(link, nested)
                settle(task, error=link.translate(error, task))
                if users and link.transaction_lost():
                    self._user_transaction_lost(task)
            else:
                settle(task, value)
        finally:
            if task.isolated:
                link.close()

    def _run_group(self, batch: list[Task]) -> None:
        """Run several tasks in one transaction, each acknowledged only after its COMMIT.

        In a transaction of its own the group runs without a savepoint per task (two statements
        fewer per write). When a task fails there, the whole transaction is rolled back, the
        task fails alone, and the tasks before it run again, each in a savepoint now (or, on an
        engine without savepoints, one transaction each), so a task is never half done and the
        others are not lost. Inside a transaction the user opened, every task gets a savepoint
        from the start (that transaction is not sqlnb's to undo); if the engine rolls that
        transaction back whole, every task of the group fails.
        """
        link = self.link
        remaining = batch
        users = link.in_transaction
        savepoints = users and link.savepoints
        # one timer registration for the group: each query is looked at no later than its
        # deadline can be (it starts later than now), and the timer checks the real one
        now = time.monotonic()
        batch[0].control.timer.watch_all([(task.control, now + task.control.time_limit)
                                          for task in batch
                                          if task.control.time_limit is not None])
        while remaining:
            own = not link.in_transaction
            if own:
                try:
                    link.begin([t.control for t in remaining])
                except BaseException as error:
                    for task in remaining:
                        settle(task, error=link.translate(error, task))
                    return
            done: list[tuple[Task, Any]] = []
            restart = False
            for index, task in enumerate(remaining):
                control = task.control
                # `running(link, control)` written out: the hottest loop of sqlnb, one pass per
                # write of a group (the context manager cost 6% of concurrent write throughput)
                if not control.begin(link, True):
                    settle_if_stopped(task)  # stopped before it began: nothing was done
                    continue
                link.control = control
                try:
                    if savepoints:
                        link.savepoint()
                    value = task.run(link, control)
                    if control.reason is not None:
                        raise Stopped()
                    if savepoints:
                        link.release()
                except BaseException as error:
                    link.control = None
                    control.release()
                    if savepoints and link.in_transaction:
                        self._undo(link, savepoint=True)
                        settle(task, error=link.translate(error, task))
                        continue
                    settle(task, error=link.translate(error, task))
                    if users and not link.transaction_lost():
                        continue  # the failed statement changed nothing, the rest goes on
                    if users:  # the engine rolled back the user's transaction: all of it is gone
                        self._user_transaction_lost(task)
                        cause = _rolled_back(self._aborted)
                        for earlier, _value in done:
                            settle(earlier, error=TransactionRolledBack(
                                f"{cause}, so this write, made in it, was undone with it. Run "
                                "ROLLBACK to end it (writes are refused until then)"))
                        self._refuse(remaining[index + 1:])  # none of them can run now
                        return
                    # No savepoint to go back to, or the engine rolled sqlnb's transaction back
                    # (an interrupted or failed write can do that): this task fails, and the
                    # tasks that ran before it run again, in savepoints from now on.
                    if own and link.in_transaction:
                        self._undo(link, savepoint=False)
                    for earlier, _value in done:
                        earlier.control.rows = 0
                    remaining = [t for t, _v in done] + remaining[index + 1:]
                    if not link.savepoints:  # each in a transaction of its own instead
                        for other in remaining:
                            self._run_alone(other)
                        return
                    savepoints = restart = True
                    break
                link.control = None
                control.release()
                done.append((task, value))
            if restart:
                continue
            if own:
                try:
                    link.commit([])
                except BaseException as error:
                    if link.in_transaction:
                        self._undo(link, savepoint=False)
                    for task, _value in done:
                        settle(task, error=link.translate(error, task))
                    return
            settle_done(done)
            return

    @staticmethod
    def _undo(link: Link, savepoint: bool) -> None:
        try:
            if savepoint:
                link.rollback_to()
            else:
                link.rollback()
        except Exception:
            log.exception("sqlnb: could not roll back a failed write")


def _rolled_back(cause: BaseException | None) -> str:
    """Why the user's transaction is gone, for TransactionRolledBack's message."""
    if isinstance(cause, QueryTimeout):
        why = "a write in it reached its time limit"
    elif isinstance(cause, QueryCancelled):
        why = "a write in it was cancelled"
    else:
        first = str(cause).splitlines()[0] if str(cause) else ""
        why = f"a write in it failed ({type(cause).__name__}: {first})"
    return f"the transaction you opened (BEGIN) was rolled back whole when {why}"


class Writer:
    """The `sqlnb-writer` thread: takes write tasks in order and runs them, grouping when it can."""

    def __init__(self, runner: WriteRunner) -> None:
        self._runner = runner
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(self, task: Task) -> None:
        with self._lock:
            if self._stopped:
                settle(task, error=DatabaseClosed("the database is closed"))
                return
            self._queue.put(task)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlnb-writer", daemon=True)
                self._thread.start()

    def runs_in(self, thread: threading.Thread) -> bool:
        """True when `thread` is the writer thread."""
        return thread is self._thread

    def _run(self) -> None:
        held: deque[Any] = deque()
        while True:
            task = held.popleft() if held else self._queue.get()
            if task is _STOP:
                return
            batch = [task]
            if task.groupable:
                take, add = self._queue.get_nowait, batch.append
                while len(batch) < MAX_GROUP:
                    try:
                        following = take()
                    except queue.Empty:
                        break
                    if following is _STOP or not following.groupable:
                        held.append(following)
                        break
                    add(following)
            try:
                self._runner.run(batch)
            except BaseException:  # never let the writer die with callers waiting
                log.exception("sqlnb: the writer failed")
                for task in batch:
                    try:
                        settle(task, error=Error("the writer failed; see the log"))
                    except BaseException:
                        log.exception("sqlnb: could not report the writer's failure")
            del task, batch  # an idle writer must not keep the last tasks (and callers) alive

    def close(self) -> None:
        """Run what is queued, then stop the thread and close the write connection."""
        with self._lock:
            self._stopped = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._runner.link.close()
