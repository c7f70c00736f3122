"""A JupySQL session in its own IPython InteractiveShell, timed on request.

    python -m benchmarks.children.jupysql DB_PATH SQL

DB_PATH is a SQLite file, or a DuckDB file (.duckdb, opened as duckdb:/// through duckdb-engine).

Reads requests from stdin, one JSON object a line: {"calls": N} runs JupySQL's `%sql SQL` N times
(results as DataFrames, `SqlMagic.autopandas`) and answers {"us_per_call": ..., "session_calls":
...}, the calls this session has run so far. Its own printing goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time


def main(path: str, sql: str) -> None:
    replies = sys.stdout
    sys.stdout = sys.stderr  # JupySQL's messages must not mix with the replies
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sql")
    for setting in ("autopandas = True", "displaycon = False", "feedback = 0"):
        shell.run_line_magic("config", f"SqlMagic.{setting}")
    if path.endswith(".duckdb"):  # JupySQL's documented way: duckdb-engine's SQLAlchemy URL
        shell.run_line_magic("sql", f"duckdb:///{path}")
    else:
        shell.run_line_magic("sql", f"sqlite:///{path}")
    total = 0
    for line in sys.stdin:
        request = json.loads(line)
        calls = int(request["calls"])
        try:
            start = time.perf_counter()
            for _ in range(calls):
                shell.run_line_magic("sql", sql)
            elapsed = time.perf_counter() - start
        except Exception as error:
            replies.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
            replies.flush()
            continue
        total += calls
        replies.write(json.dumps({"us_per_call": elapsed / calls * 1e6,
                                  "session_calls": total}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
