"""The result explorer, measured: `python -m benchmarks.explorer [--only clicks flights browser]
[--rows N] [--repeats N]`. Not a case of `python -m benchmarks` (minutes long; a browser).

- clicks (each the median of 5 runs, min and max beside it):
  - DuckDB, a table of N rows (10M by default) x 4 columns: the explorer opening on it (the
    first page, no count), its row count, a sort click (a DOUBLE column, descending: the first
    page of the sorted view), a filter click (a range, with the count) and the last page;
  - SQLite, a table of N/10 rows (1M) x 4 columns: the same sort click;
  - DuckDB, a query of 100M rows (`range()`): the kernel's resident memory after the explorer
    opened on it and after a sort click, against before (the rows never come to the kernel).
- flights: the first page of the 336,776-row flights table from the end of the query, side by
  side with the plain table, pandas' head and a LIMIT query (see `flights`).
- browser: the browser's JS heap for a 1M-row result's grid in JupyterLab in headless Chromium,
  side by side with a 100-row result's grid and the plain table (see `browser_memory`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlnb

from . import data, runner
from .report import CaseResult, Table, compare, render
from .runner import Contender
from .subproc import ROOT

#: The parts of the run (--only).
SECTIONS = ("clicks", "flights", "browser")


def _timed(call: Callable[[], object], repeats: int = 5) -> str:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return (f"median {statistics.median(times):.3f} s (min {min(times):.3f}, "
            f"max {max(times):.3f})")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def clicks(rows: int) -> None:
    """The explorer's clicks on DuckDB and SQLite, and the kernel's memory for 100M rows."""
    with tempfile.TemporaryDirectory() as folder:
        with sqlnb.connect(Path(folder) / "t.duckdb") as db:
            db.write(f"CREATE TABLE t AS SELECT range AS id, hash(range) % 1000 AS k, "
                     f"(hash(range) % 100000) / 7.0 AS fare, 'carrier ' || (range % 97) AS s "
                     f"FROM range({rows})")
            print(f"DuckDB, {rows:,} rows")
            print("  open (first page):", _timed(lambda: db.explore("t").page()))
            view = db.explore("t")
            print("  count:            ", _timed(lambda: db.explore("t").count()))
            view.sort(("fare", True))
            print("  sort click:       ", _timed(lambda: view.page()))
            view.sort()
            view.filter("fare", low=10, high=20)
            print("  filter + count:   ", _timed(lambda: (view.page(), view.submit_count()
                                                          .result())))
            view.clear_filters()
            total = view.count()
            print("  last page:        ", _timed(lambda: view.page(total - 100)))
        with sqlnb.connect(Path(folder) / "t.db") as db:
            small = rows // 10
            db.write(f"CREATE TABLE t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     f"FROM c WHERE x < {small}) SELECT x AS id, (x * 7919) % 1000 AS k, "
                     f"((x * 104729) % 100000) / 7.0 AS fare, 'carrier ' || (x % 97) AS s FROM c")
            view = db.explore("t").sort(("fare", True))
            print(f"SQLite, {small:,} rows")
            print("  sort click:       ", _timed(lambda: view.page()))
        with sqlnb.connect("duckdb:///:memory:") as db:
            before = _rss_mb()
            view = db.explore("SELECT range AS id, hash(range) AS h FROM range(100000000)")
            view.page()
            opened = _rss_mb()
            view.sort(("h", True)).page()
            sorted_ = _rss_mb()
            print("DuckDB, a 100M-row query")
            print(f"  kernel memory: +{opened - before:.0f} MB after the first page, "
                  f"+{sorted_ - before:.0f} MB after a sort click")


class _Kernel:
    """What the magics ask of a kernel: that there is one (so a result shows as the explorer)
    and the cell running now (so a cell's grids are closed when it runs again, as in a
    notebook)."""

    def get_parent(self) -> dict[str, Any]:
        return {"metadata": {"cellId": "bench"}}


def flights(repeats: int) -> CaseResult:
    """The first page of the 336,776-row flights table, from the end of the query.

    In one IPython shell (the display path a kernel runs for a cell's value), on SQLite, each
    contender sampled in turn: the `%%sql SELECT * FROM flights` result's display as the
    explorer (the grid with its first page and its columns' summary, from the DataFrame
    already in the kernel), the same result's plain table (`SqlNB.explorer = -1`, what showed
    before the explorer: the baseline), pandas' own head(100) as HTML, the first page as a
    query (`db.query(... LIMIT 100)`), and `%sqlnb explore flights` (the grid on the table:
    its first page and its count from the engine)."""
    from IPython.core.interactiveshell import InteractiveShell

    path = data.flights_file()
    shell = InteractiveShell.instance()
    shell.kernel = _Kernel()
    shell.run_line_magic("load_ext", "sqlnb")
    started = time.perf_counter()
    try:
        shell.run_line_magic("sqlnb", f"connect {path} --as flights")
        magics = shell.magics_manager.registry["SqlNB"]
        db = magics.database(None)
        query_started = time.perf_counter()
        result = shell.run_cell_magic("sql", "", "SELECT * FROM flights")
        query_seconds = time.perf_counter() - query_started
        formatter = shell.display_formatter

        def display(explorer: int) -> Callable[[], float]:
            def sample() -> float:
                shell.run_line_magic("config", f"SqlNB.explorer = {explorer}")
                shell.execution_count += 1  # the cell run again: its last grid is closed
                start = time.perf_counter()
                shown, _ = formatter.format(result)
                elapsed = time.perf_counter() - start
                assert ("rows 1-100 of 336,776" in shown["text/html"]) == (explorer >= 0)
                return elapsed
            return sample

        def explore() -> float:
            shell.execution_count += 1
            start = time.perf_counter()
            grid = shell.run_line_magic("sqlnb", "explore flights")
            shown = grid._repr_mimebundle_()
            elapsed = time.perf_counter() - start
            assert "rows 1-100 of 336,776" in shown["text/html"], shown["text/plain"]
            grid.close()  # its summary query ends with it: none runs on into the next sample
            return elapsed

        contenders = [
            Contender("explorer: the %%sql result's grid", display(20)),
            Contender("plain table (explorer = -1)", display(-1), "baseline"),
            Contender("pandas head(100).to_html()",
                      lambda: runner.seconds(lambda: result.head(100).to_html())),
            Contender("db.query(... LIMIT 100)", lambda: runner.seconds(
                lambda: db.query("SELECT * FROM flights LIMIT 100"))),
            Contender("%sqlnb explore flights", explore),
        ]
        series = runner.round_robin(contenders, repeats)
        shell.run_line_magic("config", "SqlNB.explorer = 20")
        table = Table(f"first page of flights ({len(result):,} rows x {result.shape[1]}), "
                      "from the end of the query", "s", series, baseline=contenders[1].name)
        grid = table.median(contenders[0].name)
        case = CaseResult("flights", "the explorer's first page of the flights table",
                          [table], seconds=0.0)
        case.targets.append(compare("the %%sql result's grid, from the end of the query",
                                    grid, "<", 0.3, unit="s"))
        case.targets.append(compare("%sqlnb explore flights (first page and count)",
                                    table.median(contenders[4].name), "<", 0.3, unit="s"))
        case.notes.append(f"the query itself (SELECT * FROM flights into a DataFrame, once): "
                          f"{query_seconds:.2f} s")
        return case
    finally:
        case_seconds = time.perf_counter() - started
        shell.run_line_magic("unload_ext", "sqlnb")
        InteractiveShell.clear_instance()
        if "case" in locals():
            case.seconds = case_seconds


#: A result of `rows` rows x 4 columns (SQLite, the default engine: nothing to install).
RESULT = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) "
          "SELECT x AS id, (x * 7919) % 1000 AS k, ((x * 104729) % 100000) / 7.0 AS fare, "
          "'carrier ' || (x % 97) AS s FROM c")
#: The browser's notebooks, by contender: the set-up cell, the cell measured, and the text its
#: output shows once done.
BROWSER_CELLS = {
    "grid, 1M-row result": ("%load_ext sqlnb", f"%%sql\n{RESULT.format(rows=1_000_000)}",
                            "rows 1-100 of 1,000,000"),
    "grid, 100-row result": ("%load_ext sqlnb", f"%%sql\n{RESULT.format(rows=100)}",
                             "rows 1-100 of 100"),
    "plain table, 1M-row result (explorer = -1)": (
        "%load_ext sqlnb\n%config SqlNB.explorer = -1",
        f"%%sql\n{RESULT.format(rows=1_000_000)}", "1,000,000 rows"),
}
@contextlib.contextmanager
def _jupyterlab(root: Path) -> Iterator[tuple[str, str]]:
    """A JupyterLab server on loopback serving `root`, its HOME and Jupyter folders under it
    (tests/lab_server.py, which the browser tests use): (its base URL, its token)."""
    from tests.lab_server import serve

    home = root / "home"
    home.mkdir()
    with serve("jupyterlab", root, home) as found:
        yield found


def _end_sessions(base: str, token: str) -> None:
    """End every notebook session of the server, with its kernel (each sample opens the
    notebook afresh, with a new kernel)."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=30) as answer:
        sessions = json.load(answer)
    for session in sessions:
        request = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}",
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=60).close()


def _dismiss_dialogs(page: Any, said: list[str]) -> None:
    """Accept any dialog JupyterLab shows (its text noted): a dialog would take the clicks."""
    dialogs = page.locator(".jp-Dialog")
    while dialogs.count():
        said.append(" ".join(dialogs.first.inner_text().split())[:120])
        dialogs.first.locator(".jp-mod-accept").first.click(timeout=30_000)
        time.sleep(0.5)


def _heap_mb(cdp: Any) -> float:
    """The page's JS heap in use after a full garbage collection, in MB."""
    cdp.send("HeapProfiler.collectGarbage")
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["JSHeapUsedSize"] / 1e6


def browser_memory(repeats: int) -> CaseResult:
    """The browser's memory for a 1M-row result shown in the explorer, in real JupyterLab in
    headless Chromium: the page's JS heap in use (after a garbage collection) after the cell
    ran and the grid shows its first page (the `.sqlnb-explorer` element with "rows 1-100 of
    1,000,000"), less the same before the cell, on a fresh page and kernel per sample. Side by
    side: the grid of a 100-row result (the baseline: what any grid costs) and the 1M-row
    result as a plain table (`SqlNB.explorer = -1`: pandas' head and tail)."""
    case = CaseResult("browser", "the browser's memory for a 1M-row result in the explorer")
    if str(ROOT) not in sys.path:  # python -m benchmarks.explorer runs from the root; be sure
        sys.path.insert(0, str(ROOT))
    from tests.lab_server import ARGS, CHROMIUM, run_cell, write_notebook

    if not Path(CHROMIUM).exists():
        case.notes.append(f"not measured: no chromium at {CHROMIUM} (apt-get install chromium)")
        return case
    try:
        from playwright import sync_api
    except ImportError:
        case.notes.append("not measured: playwright is not installed (pip install playwright; "
                          "Debian's chromium is used, no browser is downloaded)")
        return case
    started = time.perf_counter()
    nodes: dict[str, list[float]] = {}
    dialogs: list[str] = []
    with tempfile.TemporaryDirectory() as folder, _jupyterlab(Path(folder)) as (base, token), \
            sync_api.sync_playwright() as driver:
        for number, (setup, cell, _shows) in enumerate(BROWSER_CELLS.values()):
            write_notebook(Path(folder) / f"m{number}.ipynb", [setup, cell])
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        def contender(number: int, name: str, shows: str) -> Callable[[], float]:
            def sample() -> float:
                _end_sessions(base, token)
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                try:
                    page.goto(f"{base}/lab/tree/m{number}.ipynb?reset&token={token}")
                    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(
                        timeout=120_000)
                    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]'
                                 ).first.wait_for(timeout=120_000)
                    _dismiss_dialogs(page, dialogs)
                    cdp = page.context.new_cdp_session(page)
                    cdp.send("Performance.enable")
                    run_cell(page, 0, to_end=True)
                    before = _heap_mb(cdp)
                    run_cell(page, 1, to_end=True)
                    out = page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(1)
                    if name.startswith("grid"):
                        out.locator(".sqlnb-explorer", has_text=shows).first.wait_for(
                            timeout=120_000)
                    else:
                        out.locator(".jp-OutputArea-output", has_text=shows).first.wait_for(
                            timeout=120_000)
                    time.sleep(1.0)  # what the output's rendering leaves behind settles
                    after = _heap_mb(cdp)
                    metrics = {m["name"]: m["value"]
                               for m in cdp.send("Performance.getMetrics")["metrics"]}
                    nodes.setdefault(name, []).append(metrics["Nodes"])
                    return after - before
                finally:
                    page.close()
            return sample

        contenders = [Contender(name, contender(number, name, shows),
                                "baseline" if number == 1 else "")
                      for number, (name, (_setup, _cell, shows))
                      in enumerate(BROWSER_CELLS.items())]
        try:
            series = runner.round_robin(contenders, repeats)
        finally:
            browser.close()
    table = Table("the page's JS heap in use after the cell, less before it (after a GC)",
                  "MB", series, baseline=contenders[1].name)
    case.tables.append(table)
    grid = table.median(contenders[0].name)
    case.targets.append(compare("the grid of a 1M-row result: JS heap over before", grid, "<",
                                50, unit="MB"))
    case.notes.append("DOM nodes of the page after the cell (median): " + ", ".join(
        f"{name} {statistics.median(values):,.0f}" for name, values in nodes.items()))
    if dialogs:
        case.notes.append(f"dialogs JupyterLab showed (accepted): {sorted(set(dialogs))}")
    case.seconds = time.perf_counter() - started
    return case



def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explorer")
    parser.add_argument("--rows", type=int, default=10_000_000,
                        help="rows of the DuckDB table of the clicks (SQLite's: a tenth)")
    parser.add_argument("--repeats", type=int, default=7,
                        help="samples of each contender (after one warm-up round)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args()
    if "clicks" in args.only:
        clicks(args.rows)
    if "flights" in args.only:
        print(render(flights(args.repeats)), flush=True)
    if "browser" in args.only:
        print(render(browser_memory(args.repeats)), flush=True)


if __name__ == "__main__":
    main()
