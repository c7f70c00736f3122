"""A throwaway PostgreSQL server for the PostgreSQL tutorial (09-postgresql.ipynb), which reads
its target from `SQLNB_TUTORIAL_PG` and its password from `SQLNB_TUTORIAL_PG_PASSWORD`.

nbval's run of the tutorials starts one through `notebooks/conftest.py`; to store the
tutorial's outputs, run nbconvert under one (from notebooks/):

    python tutorial_postgres.py jupyter nbconvert --to notebook --execute --inplace \\
        --NotebookClient.store_widget_state=False 09-postgresql.ipynb

The server is `tests/pg_server.py`'s (Debian's PostgreSQL server programs, a cluster in a
temporary folder on a free port of 127.0.0.1, gone when stopped or when its owner ends).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: the environment variable with the tutorial's target (no password in it)
TARGET_ENV = "SQLNB_TUTORIAL_PG"
#: the environment variable with its password (the tutorial's `password_env`)
PASSWORD_ENV = "SQLNB_TUTORIAL_PG_PASSWORD"


def have_server_programs() -> bool:
    """Whether PostgreSQL's server programs (initdb, pg_ctl) are on this machine."""
    return _pg_server().find_bindir() is not None


def start() -> tuple[Any, dict[str, str]]:
    """Start a throwaway server; returns it (`.stop()` ends it) and the environment variables
    the tutorial reads."""
    server = _pg_server().PostgresServer()
    target = f"postgresql://{server.user}@{server.host}:{server.port}/{server.database}"
    return server, {TARGET_ENV: target, PASSWORD_ENV: server.password}


def _pg_server() -> Any:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests import pg_server

    return pg_server


def main(command: list[str]) -> int:
    """Run `command` with a throwaway server's variables in its environment."""
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    server, variables = start()
    try:
        return subprocess.run(command, env={**os.environ, **variables}, check=False).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
