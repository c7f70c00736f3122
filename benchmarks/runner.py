"""Round-robin measurement: each repeat takes one sample of every contender, in turn.

Interleaving spreads slow drifts of the machine (another process, thermal limits, an engine being
rebuilt) over all contenders alike; the starting contender rotates from one repeat to the next so
none always runs first. A contender that raises is marked with its error and skipped from then on;
the others go on.
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Contender:
    """One way of doing the case's work; `sample()` returns one measurement in the table's unit."""

    name: str
    sample: Callable[[], float]
    #: "baseline" (ratios are against it), "floor" (the fastest possible, for reference) or ""
    role: str = ""


@dataclass
class Series:
    """The samples of one contender, and the error that stopped it, if any."""

    name: str
    role: str = ""
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def min(self) -> float | None:
        return min(self.samples) if self.samples else None

    @property
    def max(self) -> float | None:
        return max(self.samples) if self.samples else None


def round_robin(contenders: list[Contender], repeats: int, warmup: int = 1) -> list[Series]:
    """Sample every contender `warmup + repeats` times, interleaved; keep the last `repeats`."""
    series = [Series(c.name, c.role) for c in contenders]
    count = len(contenders)
    for repeat in range(warmup + repeats):
        shift = repeat % count if count else 0
        for index in [*range(shift, count), *range(shift)]:
            target = series[index]
            if target.error is not None:
                continue
            gc.collect()
            try:
                value = contenders[index].sample()
            except Exception as error:  # a broken contender must not stop the others
                target.error = f"{type(error).__name__}: {error}"
                continue
            if repeat >= warmup:
                target.samples.append(value)
    return series


def per_call_us(fn: Callable[[int], None], calls: int) -> float:
    """Microseconds per call of `fn(i)` over `calls` calls (i = 0 .. calls-1), timed as one."""
    start = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - start) / calls * 1e6


def seconds(fn: Callable[[], object]) -> float:
    """Seconds one call of `fn()` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@contextlib.contextmanager
def one_cpu() -> Iterator[bool]:
    """Hold every thread of this process (and the threads they start) to one CPU, then undo.

    For a diagnosis, never a target: with one CPU a thread hop wakes no idle CPU, so comparing a
    table measured this way with the same table measured freely shows what the hop's wake-up
    costs on this machine. Yields False (and changes nothing) where affinity cannot be set.
    """
    tasks = "/proc/self/task"
    if not hasattr(os, "sched_setaffinity") or not os.path.isdir(tasks):
        yield False
        return
    before = {int(tid): os.sched_getaffinity(int(tid)) for tid in os.listdir(tasks)}
    cpu = min(os.sched_getaffinity(0))
    for tid in before:
        with contextlib.suppress(OSError):  # a thread that has just ended
            os.sched_setaffinity(tid, {cpu})
    try:
        yield True
    finally:
        for tid in os.listdir(tasks):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid),
                                     before.get(int(tid), before[threading.get_native_id()]))


def cancel_ms(handle: object, after: float) -> float:
    """Milliseconds from `handle.cancel()`, `after` seconds into the query, to its
    QueryCancelled in the caller."""
    import sqlnb

    time.sleep(after)
    start = time.perf_counter()
    handle.cancel()  # type: ignore[attr-defined]
    try:
        handle.result()  # type: ignore[attr-defined]
    except sqlnb.QueryCancelled:
        return (time.perf_counter() - start) * 1000
    raise RuntimeError("the query finished before it was cancelled")
