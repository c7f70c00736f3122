"""Shared fixtures: a fresh Database on a real file, one on the shared in-memory default, a
real kernel (jupyter_client) with sqlnb loaded, one per test module, Spark: the test
session's Spark Connect server and a Database on it in a namespace of its own, PostgreSQL's
server, and the browser tests' JupyterLab and Notebook 7 servers."""

from __future__ import annotations

import pytest
from jupyter_client.manager import start_new_kernel

import sqlnb

from .helpers import sqlnb_threads


def pytest_configure(config) -> None:
    """Ctrl-C is what several tests send (to this process, or to kernels and terminals it
    starts): a run launched with SIGINT ignored (`pytest ... &` from a script, nohup) had each
    of them wait for its 120 s timeout and fail. Python's own handler is put back, as an
    interactive start has it (children then start with SIGINT at its default, not ignored)."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def db(tmp_path):
    """A Database on a new file, closed after the test (which must leave no thread behind)."""
    database = sqlnb.connect(tmp_path / "test.db")
    yield database
    database.close()
    assert sqlnb_threads() == set()


@pytest.fixture
def memdb():
    """A Database on the embedded in-memory default."""
    database = sqlnb.connect()
    yield database
    database.close()
    assert sqlnb_threads() == set()


class Kernel:
    """A kernel driven through jupyter_client, as a front end drives it."""

    def __init__(self) -> None:
        self.manager, self.client = start_new_kernel(kernel_name="python3")

    def start(self, code: str) -> str:
        return self.client.execute(code)

    def finish(self, msg_id: str, timeout: float = 60) -> tuple[str, list[tuple[str, dict]]]:
        """The cell's status ("ok" or "error") and its outputs, as (msg_type, content)."""
        outputs = []
        while True:
            msg = self.client.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                break
            if kind in ("execute_result", "display_data", "stream", "error"):
                outputs.append((kind, msg["content"]))
        while True:
            reply = self.client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"]["status"], outputs

    def run(self, code: str) -> tuple[str, list[tuple[str, dict]]]:
        return self.finish(self.start(code))

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def shell():
    """An IPython InteractiveShell with `%load_ext sqlnb` done (unloaded afterwards)."""
    from IPython.core.interactiveshell import InteractiveShell

    instance = InteractiveShell.instance()
    instance.run_line_magic("load_ext", "sqlnb")
    yield instance
    instance.run_line_magic("unload_ext", "sqlnb")
    InteractiveShell.clear_instance()


@pytest.fixture(scope="module")
def kernel():
    """A real kernel with `%load_ext sqlnb` done, shared by the tests of one module."""
    k = Kernel()
    status, _ = k.run("%load_ext sqlnb")
    assert status == "ok"
    yield k
    k.close()


@pytest.fixture(scope="session")
def spark_url():
    """A real Spark Connect server (local[2], its own JVM process), started once for the test
    session when a test first asks for it; its URL carries the token it demands."""
    import os
    import shutil

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("SQLNB_REQUIRE_SPARK"):
            pytest.fail("no Java for the Spark tests: apt-get install openjdk-17-jre-headless")
        pytest.skip("no Java: apt-get install openjdk-17-jre-headless (CI always runs these)")
    from sqlnb.engines.spark import LocalServer

    server = LocalServer("local[2]")
    yield server.url
    server.stop()


@pytest.fixture
def sdb(spark_url):
    """A Database on the test session's Spark server, in a namespace of its own."""
    import uuid

    before = sqlnb_threads()
    namespace = f"sqlnb_{uuid.uuid4().hex[:12]}"
    db = sqlnb.connect(spark_url)
    db.write(f"CREATE DATABASE {namespace}")
    db.write(f"USE {namespace}")
    yield db
    if not db.closed:
        db.write(f"DROP DATABASE IF EXISTS {namespace} CASCADE")
        db.close()
    assert sqlnb_threads() - before == set()


@pytest.fixture(scope="session")
def pg_bindir():
    """The folder of PostgreSQL's server programs; the test is skipped (failed under
    SQLNB_REQUIRE_POSTGRES, as in CI) where there are none."""
    import os

    from .pg_server import find_bindir

    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("SQLNB_REQUIRE_POSTGRES"):
            pytest.fail("no PostgreSQL server programs (initdb, pg_ctl) for the PostgreSQL "
                        "tests: apt-get install postgresql")
        pytest.skip("no PostgreSQL server: apt-get install postgresql (CI always runs these)")
    return bindir


@pytest.fixture(scope="session")
def pg_server(pg_bindir):
    """A throwaway PostgreSQL server (tests/pg_server.py), started once for the test session
    when a test first asks for it, stopped (and its folder removed) at the end."""
    from .pg_server import PostgresServer

    server = PostgresServer(pg_bindir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server):
    """The URL of the test session's PostgreSQL server, password included
    (postgresql://sqlnb:PASSWORD@127.0.0.1:PORT/sqlnb); `pg_server.password` is the password."""
    return pg_server.url


@pytest.fixture(scope="session")
def jupyter_servers(tmp_path_factory):
    """The test session's JupyterLab and Notebook 7 servers (tests/lab_server.py), each started
    when a browser test first asks for it, stopped at the end."""
    from .lab_server import Servers

    servers = Servers(tmp_path_factory.mktemp("jupyter"))
    yield servers
    servers.close()


@pytest.fixture
def jupyter(jupyter_servers, request):
    """`jupyter(app)` ("jupyterlab" or "notebook7"): the session's server of that app and a new
    folder of its root for this test; the kernels the test started there are shut down
    afterwards (closing its notebooks, as the server of its own that it had did)."""
    used = []

    def start(app: str):
        served = jupyter_servers(app)
        used.append(served)
        return served, served.folder(request.node.name)

    yield start
    for served in used:
        served.end_sessions()
