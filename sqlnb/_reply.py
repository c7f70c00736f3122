"""A one-shot reply from a worker thread: the lean cousin of `concurrent.futures.Future`.

A query's round trip is two thread wake-ups; everything either thread runs in Python around them
competes for the GIL. A waiting caller here blocks on one C-level lock (released by the worker
when the value is set), with no Condition and no Python on either side of the wake-up; the
lock is made only when a thread blocks, so an awaited reply (woken through its event loop)
never has one. Same method names as `concurrent.futures.Future` for the parts sqlnb uses.
"""

from __future__ import annotations

import _thread
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sqlnb")
_registry = _thread.allocate_lock()  # guards the done flag and the callbacks of every Reply


class Reply:
    """Set once (by whichever thread comes first), waited on by any number of threads."""

    __slots__ = ("_callbacks", "_done", "_error", "_lock", "_value")

    def __init__(self) -> None:
        self._lock: Any = None  # made by the first thread that blocks (an awaited reply has none)
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        # None, one callback, or a list of them
        self._callbacks: Any = None

    def done(self) -> bool:
        """True once a value or an error is set."""
        return self._done

    def _set(self, value: Any, error: BaseException | None) -> bool:
        with _registry:
            if self._done:
                return False
            self._value, self._error = value, error
            self._done = True
            callbacks, self._callbacks = self._callbacks, None
            lock = self._lock
        _wake(self, callbacks, lock)
        return True

    @staticmethod
    def set_results(pairs: list[tuple[Reply, Any]]) -> None:
        """Set the value of many replies (those not set yet) under one lock: a committed group."""
        woken = []
        with _registry:
            for reply, value in pairs:
                if not reply._done:
                    reply._value = value
                    reply._done = True
                    woken.append((reply, reply._callbacks, reply._lock))
                    reply._callbacks = None
        for reply, callbacks, lock in woken:
            _wake(reply, callbacks, lock)

    def set_result(self, value: Any) -> bool:
        """Set the value (False if the reply was already set)."""
        return self._set(value, None)

    def set_exception(self, error: BaseException) -> bool:
        """Set the error (False if the reply was already set)."""
        return self._set(None, error)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set (True) or until `timeout` seconds pass (False)."""
        if self._done:
            return True
        with _registry:
            if self._done:
                return True
            lock = self._lock
            if lock is None:
                lock = self._lock = _thread.allocate_lock()
                lock.acquire()
        if lock.acquire(True, -1 if timeout is None else max(timeout, 0)):
            lock.release()  # let every other waiter through too
            return True
        return self._done

    def result(self, timeout: float | None = None) -> Any:
        """The value, or raise the error; TimeoutError if not set within `timeout` seconds."""
        if not self.wait(timeout):
            raise TimeoutError(f"no reply within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value

    def _swap_value(self, old: Any, new: Any) -> Any:
        """Replace the value `old` by `new` unless another thread did first; the value now."""
        with _registry:
            if self._value is old:
                self._value = new
            return self._value

    def peek(self) -> tuple[Any, BaseException | None]:
        """(value, error) as set, without waiting or building anything (the history reads
        a finished task's outcome so: a small result's frame is not built for it)."""
        return self._value, self._error

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The error, or None; TimeoutError if not set within `timeout` seconds."""
        if not self.wait(timeout):
            raise TimeoutError(f"no reply within {timeout} s")
        return self._error

    def add_done_callback(self, fn: Callable[[Reply], object]) -> None:
        """Call `fn(reply)` once set: in the setting thread, or at once if already set."""
        with _registry:
            if not self._done:
                callbacks = self._callbacks
                if callbacks is None:
                    self._callbacks = fn
                elif type(callbacks) is list:
                    callbacks.append(fn)
                else:
                    self._callbacks = [callbacks, fn]
                return
        _call(fn, self)


def _wake(reply: Reply, callbacks: Any, lock: Any) -> None:
    """After a reply is set (outside the registry lock): wake its waiters, run its callbacks."""
    if lock is not None:
        lock.release()
    if callbacks is not None:
        if type(callbacks) is list:
            for callback in callbacks:
                _call(callback, reply)
        else:
            _call(callbacks, reply)


def _call(callback: Callable[[Reply], object], reply: Reply) -> None:
    """Run one done-callback; an error in it is logged, never raised into the worker thread
    that set the reply (which must go on serving), as `concurrent.futures` does."""
    try:
        callback(reply)
    except Exception:
        log.exception("sqlnb: a done-callback raised (ignored): %r", callback)
