"""[magic] The `%sql` line magic on a one-row query, microseconds per call.

Contenders: `db.query` on the same query (baseline), sqlnb's `%sql` in an IPython
InteractiveShell on that same Database (so the difference is the magic's own cost), and JupySQL's
`%sql` (DataFrames via autopandas) in a fresh session in a child process, sampled in turn with the
others. Then 3,000 magic calls, each timed: does a session slow down as it ages?
Targets: magic <= 1.3x db.query; magic >= 10x faster than JupySQL; the magic's cost relative to
db.query (called after each magic call) in the last 300 calls <= 1.1x that in the first 300.
A second table repeats the first with the process held to one CPU, to show what the thread hop's
wake-up costs (a diagnosis, no target).
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from collections.abc import Callable

from IPython.core.interactiveshell import InteractiveShell

import sqlnb

from ..context import Context
from ..report import CaseResult, Table, compare
from ..runner import Contender, one_cpu, per_call_us, round_robin
from ..subproc import Child, ChildError

ID = "magic"
TITLE = "the %sql line magic on a one-row query"
SQL = "SELECT * FROM t WHERE id = 4242"
QUERY, MAGIC, JUPYSQL = "db.query", "sqlnb %sql", "JupySQL %sql (fresh session)"
AGEING_CALLS, WINDOW = 3000, 300


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    calls = ctx.pick(500, 200)
    jupysql_calls = ctx.pick(20, 10)
    repeats = ctx.pick(15, 7)
    shell = InteractiveShell.instance()
    with contextlib.ExitStack() as stack:
        db = sqlnb.connect(ctx.table)
        stack.callback(db.close)
        sqlnb.load_ipython_extension(shell)
        stack.callback(sqlnb.unload_ipython_extension, shell)
        shell.user_ns["bench_db"] = db
        shell.run_line_magic("sqlnb", "use bench_db")

        def magic(_i: int) -> object:
            return shell.run_line_magic("sql", SQL)

        contenders = [
            Contender(QUERY, lambda: per_call_us(lambda _i: db.query(SQL), calls), "baseline"),
            Contender(MAGIC, lambda: per_call_us(magic, calls)),
        ]
        child = _jupysql(ctx, result.notes)
        if child is not None:
            stack.enter_context(child)
            session: dict[str, int] = {}

            def jupysql_sample() -> float:
                reply = child.request({"calls": jupysql_calls})
                session["calls"] = reply["session_calls"]
                return float(reply["us_per_call"])

            contenders.append(Contender(JUPYSQL, jupysql_sample))
        table = Table(f"{calls} calls per sample ({jupysql_calls} for JupySQL), {repeats} samples",
                      "us/call", round_robin(contenders, repeats), baseline=QUERY)
        if child is not None:
            table.notes.append(f"JupySQL's session had run {session.get('calls', 0)} calls by the "
                               "end (it slows as a session ages)")
        with one_cpu() as pinned:  # diagnosis only: a hop to a reader wakes no idle CPU
            if pinned:
                mine = contenders[:2]
                fresh = _jupysql(ctx, [])  # a fresh session again, also on this one CPU
                if fresh is not None:
                    stack.enter_context(fresh)
                    mine.append(Contender(JUPYSQL, lambda: float(
                        fresh.request({"calls": jupysql_calls})["us_per_call"])))
                held = Table(f"the same with this process held to one CPU (diagnosis: the hop "
                             f"wakes no idle CPU; JupySQL makes no hop); {ctx.pick(7, 5)} "
                             "samples", "us/call", round_robin(mine, ctx.pick(7, 5)),
                             baseline=QUERY)
        ageing = _ageing(magic, lambda _i: db.query(SQL))
    result.tables.append(table)
    if pinned:
        result.tables.append(held)
        if held.ratio(JUPYSQL, MAGIC) is not None:
            result.notes.append(
                f"held to one CPU: JupySQL {held.ratio(JUPYSQL, MAGIC):.1f}x slower than sqlnb's "
                f"%sql, against {table.ratio(JUPYSQL, MAGIC):.1f}x on two CPUs")
    first, last, query_first, query_last = ageing
    growth = (last / query_last) / (first / query_first)
    faster = table.ratio(JUPYSQL, MAGIC)
    result.targets += [
        compare("sqlnb %sql / db.query", table.ratio(MAGIC), "<=", 1.3),
        compare("JupySQL %sql / sqlnb %sql", faster, ">=", 10,
                why_missing="no JupySQL figure"),
        compare(f"sqlnb %sql growth, last {WINDOW} / first {WINDOW} of {AGEING_CALLS:,} calls",
                growth, "<=", 1.1,
                detail=f"%sql {first:.1f} -> {last:.1f} us, db.query alongside "
                       f"{query_first:.1f} -> {query_last:.1f} us"),
    ]
    return result


def _jupysql(ctx: Context, notes: list[str]) -> Child | None:
    """A child process running a fresh JupySQL session, or None (with a note) if it can't."""
    try:
        import sql  # noqa: F401  (JupySQL's package)
    except ImportError as error:
        notes.append(f"jupysql is not installed ({error}): its contender is skipped")
        return None
    child = Child("benchmarks.children.jupysql", str(ctx.table), SQL)
    try:
        child.request({"calls": 1})
    except ChildError as error:
        child.close()
        notes.append(f"JupySQL did not start, its contender is skipped: {error}")
        return None
    return child


def _ageing(magic: Callable[[int], object], query: Callable[[int], object]
            ) -> tuple[float, float, float, float]:
    """AGEING_CALLS magic calls, each followed by one db.query call (which keeps nothing, so it
    cannot age): the median microseconds of each in the first and the last WINDOW calls.

    The growth figure is the magic's time relative to db.query's in the same window, so a drift
    of the machine during the run (this VM's thread wake-ups move between a fast and a slow
    period) is not taken for the magic ageing.
    """
    magic_times, query_times = [], []
    clock = time.perf_counter
    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(AGEING_CALLS):
            start = clock()
            magic(i)
            middle = clock()
            query(i)
            query_times.append((clock() - middle) * 1e6)
            magic_times.append((middle - start) * 1e6)
    return (statistics.median(magic_times[:WINDOW]), statistics.median(magic_times[-WINDOW:]),
            statistics.median(query_times[:WINDOW]), statistics.median(query_times[-WINDOW:]))
