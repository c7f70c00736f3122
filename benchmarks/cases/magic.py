"""[magic] The `%sql` line magic on a one-row query, microseconds per call.

Contenders: `db.query` on the same query (baseline), sqlnb's `%sql` in an IPython
InteractiveShell on that same Database (so the difference is the magic's own cost), and JupySQL's
`%sql` (DataFrames via autopandas) in a fresh session in a child process, sampled in turn with the
others. Then sqlnb's magic alone for 3,000 calls, each timed: does a session slow down as it ages?
Targets: magic <= 1.3x db.query; magic >= 10x faster than JupySQL; median of the last 300 calls
<= 1.1x the median of the first 300.
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
from ..runner import Contender, per_call_us, round_robin
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
        first, last = _ageing(magic)
    result.tables.append(table)
    faster = table.ratio(JUPYSQL, MAGIC)
    result.targets += [
        compare("sqlnb %sql / db.query", table.ratio(MAGIC), "<=", 1.3),
        compare("JupySQL %sql / sqlnb %sql", faster, ">=", 10,
                why_missing="no JupySQL figure"),
        compare(f"sqlnb %sql, last {WINDOW} / first {WINDOW} of {AGEING_CALLS:,} calls",
                last / first, "<=", 1.1,
                detail=f"medians {first:.1f} -> {last:.1f} us"),
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


def _ageing(magic: Callable[[int], object]) -> tuple[float, float]:
    """Median microseconds of the first and the last WINDOW of AGEING_CALLS magic calls."""
    times = []
    clock = time.perf_counter
    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(AGEING_CALLS):
            start = clock()
            magic(i)
            times.append((clock() - start) * 1e6)
    return statistics.median(times[:WINDOW]), statistics.median(times[-WINDOW:])
