"""A JupySQL session in its own IPython InteractiveShell, timed on request.

    python -m benchmarks.children.jupysql TARGET SQL

TARGET is a SQLite file, a DuckDB file (.duckdb, opened as duckdb:/// through duckdb-engine), or a
SQLAlchemy URL (`postgresql+psycopg2://...`, given to JupySQL as it is).

Reads requests from stdin, one JSON object a line:
- {"calls": N} runs JupySQL's `%sql SQL` N times (results as DataFrames, `SqlMagic.autopandas`)
  and answers {"us_per_call": ..., "session_calls": ...}, the calls this session has run so far.
- {"stop": LONG_SQL, "after": SECONDS} runs `%sql LONG_SQL` and, SECONDS in, sends this process
  SIGINT, as a kernel's Stop button does (the kernel interrupts its own process): answers {"ms":
  ...} from the signal to the KeyboardInterrupt in `%sql`, and {"next_ok": ...} whether the
  session's next `%sql SQL` works. On PostgreSQL only: a query the Stop has not ended GIVE_UP
  seconds later ({"give_up": ..., 10 by default}) is cancelled by a request of the child's own,
  and {"by_stop": false} says so.
Its own printing goes to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any

os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")  # JupySQL's telemetry: off


def main(target: str, sql: str) -> None:
    replies = sys.stdout
    sys.stdout = sys.stderr  # JupySQL's messages must not mix with the replies
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sql")
    for setting in ("autopandas = True", "displaycon = False", "feedback = 0"):
        shell.run_line_magic("config", f"SqlMagic.{setting}")
    if "://" in target:  # a SQLAlchemy URL (PostgreSQL)
        shell.run_line_magic("sql", target)
    elif target.endswith(".duckdb"):  # JupySQL's documented way: duckdb-engine's SQLAlchemy URL
        shell.run_line_magic("sql", f"duckdb:///{target}")
    else:
        shell.run_line_magic("sql", f"sqlite:///{target}")
    total = 0
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if "stop" in request:
                reply = _stop(shell, target, request["stop"], float(request["after"]), sql,
                              float(request.get("give_up", 10)))
            else:
                calls = int(request["calls"])
                start = time.perf_counter()
                for _ in range(calls):
                    shell.run_line_magic("sql", sql)
                elapsed = time.perf_counter() - start
                total += calls
                reply = {"us_per_call": elapsed / calls * 1e6, "session_calls": total}
        except Exception as error:
            reply = {"error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def _stop(shell: Any, target: str, long_sql: str, after: float, sql: str,
          give_up: float) -> dict[str, Any]:
    """The kernel's Stop on a running `%sql`: SIGINT to this process, `after` seconds in. If
    the query has not ended `give_up` seconds after the signal, a cancel request for its
    backend (`pg_cancel_backend`, from a connection of this child's own) ends it, and the reply
    says the Stop alone did not (`by_stop`: false)."""
    import sqlalchemy

    pid = shell.run_line_magic("sql", "SELECT pg_backend_pid() AS pid")["pid"][0]
    sent: list[float] = []
    done = threading.Event()
    rescued: list[bool] = []

    def interrupt() -> None:
        time.sleep(after)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)
        if not done.wait(give_up):
            rescued.append(True)
            with sqlalchemy.create_engine(target).connect() as conn:
                conn.execute(sqlalchemy.text(f"SELECT pg_cancel_backend({int(pid)})"))

    thread = threading.Thread(target=interrupt)
    thread.start()
    stopped = False
    try:
        shell.run_line_magic("sql", long_sql)
    except KeyboardInterrupt:
        stopped = True
    except Exception:  # the query cancelled on the server (the SIGINT may be pending still)
        stopped = bool(sent)
    ended = time.perf_counter()
    done.set()
    with contextlib.suppress(KeyboardInterrupt):  # a SIGINT the query's end left pending
        thread.join()
        time.sleep(0.1)
    if not stopped:
        raise RuntimeError("the query ended before the interrupt")
    try:
        shell.run_line_magic("sql", sql)
        next_ok = True
    except Exception:
        next_ok = False
    return {"ms": (ended - sent[0]) * 1000, "by_stop": not rescued, "next_ok": next_ok}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
