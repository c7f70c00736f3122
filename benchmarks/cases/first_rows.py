"""[first_rows] A large result's first rows on screen: `SELECT * FROM t` in a real kernel.

Seconds from sending the cell (a jupyter_client execute_request) to the message that puts rows in
front of the user, read as a front end reads them off the kernel's iopub channel:
- sqlnb, first rows: the progress widget's update that carries the first rows (the rest is
  still being fetched);
- sqlnb, full result: the cell's execute_result (the whole DataFrame built, as before);
- JupySQL's lazy display (baseline): its `%sql SELECT * FROM t` result, which fetches only the
  rows it shows (`displaylimit`), in a kernel of its own.
Each contender's sample is one cell; sqlnb's first-rows cell is then waited for to its end.
Target (issue 14): the first rows on screen in under 0.2 s on a 1M-row table.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from ..context import Context
from ..report import CaseResult, Table, compare
from ..runner import Contender, round_robin

ID = "first_rows"
TITLE = "the first rows of a large result on screen, in a real kernel"
SQL = "SELECT * FROM t"
FIRST, FULL, JUPYSQL = "sqlnb first rows (widget)", "sqlnb full result", "JupySQL lazy display"


class _Kernel:
    """A kernel and its client; `time_to(code, seen)` times a cell up to the first message
    `seen(msg)` accepts, then waits for the cell to end."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3")

    def run(self, code: str) -> None:
        reply = self.client.execute_interactive(code, timeout=120, output_hook=lambda _m: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{code!r} failed in the benchmark's kernel: {reply['content']}")

    def time_to(self, code: str, seen: Callable[[dict], bool]) -> float:
        start = time.perf_counter()
        msg_id = self.client.execute(code)
        found: float | None = None
        while True:
            msg = self.client.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if found is None and seen(msg):
                found = time.perf_counter() - start
            if msg["msg_type"] == "error":
                raise RuntimeError(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        if found is None:
            raise RuntimeError(f"the awaited message never came for {code!r}")
        return found

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@contextlib.contextmanager
def _kernel() -> Iterator[_Kernel]:
    kernel = _Kernel()
    try:
        yield kernel
    finally:
        kernel.close()


def _first_rows(msg: dict) -> bool:
    if msg["msg_type"] not in ("comm_msg", "comm_open"):
        return False
    value = msg["content"].get("data", {}).get("state", {}).get("value")
    return isinstance(value, str) and "sqlnb-first-rows" in value


def _result(msg: dict) -> bool:
    return msg["msg_type"] == "execute_result"


def run(ctx: Context) -> CaseResult:
    result = CaseResult(ID, TITLE)
    repeats = ctx.pick(7, 3)
    cell = f"%%sql --time-limit 600 --all\n{SQL}"  # the whole result, whatever its size
    with contextlib.ExitStack() as stack:
        mine = stack.enter_context(_kernel())
        mine.run("%load_ext sqlnb")
        mine.run(f"%sqlnb connect {ctx.table} --as bench")
        contenders = [
            Contender(FIRST, lambda: mine.time_to(cell, _first_rows)),
            Contender(FULL, lambda: mine.time_to(cell, _result)),
        ]
        try:
            import sql  # noqa: F401  (JupySQL's package)
        except ImportError as error:
            result.notes.append(f"jupysql is not installed ({error}): its contender is skipped")
        else:
            theirs = stack.enter_context(_kernel())
            theirs.run("%load_ext sql")
            for setting in ("displaycon = False", "feedback = 0"):
                theirs.run(f"%config SqlMagic.{setting}")
            theirs.run(f"%sql sqlite:///{ctx.table}")
            contenders.insert(0, Contender(
                JUPYSQL, lambda: theirs.time_to(f"%sql {SQL}", _result), "baseline"))
        table = Table(f"`{SQL}` on {ctx.rows:,} rows, seconds from the execute_request to the "
                      f"message, {repeats} samples", "s", round_robin(contenders, repeats),
                      baseline=JUPYSQL if len(contenders) == 3 else None)
    result.tables.append(table)
    result.targets.append(
        compare("sqlnb first rows on screen", table.median(FIRST), "<", 0.2, unit="s"))
    if table.ratio(FIRST, JUPYSQL) is not None:
        result.notes.append(f"sqlnb's first rows take {table.ratio(FIRST, JUPYSQL):.2f}x "
                            "JupySQL's lazy display (which fetches only the rows it shows)")
    if table.median(FULL) and table.median(FIRST):
        result.notes.append(f"the first rows come {table.ratio(FULL, FIRST):.0f}x sooner than "
                            "the full result (the cell's value is still the whole DataFrame)")
    return result
