"""The throwaway PostgreSQL server of the tests (tests/pg_server.py): it starts, takes its password
and no other, and leaves nothing behind, whether it is stopped or its owner is killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg
import pytest

from .pg_server import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
GONE_WITHIN = 30  # seconds: a hang guard, not a timing


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _server_processes(postmaster: int, folder: Path) -> set[int]:
    """The postmaster, its children, and any process whose command line names the folder."""
    found = {postmaster} if _running(postmaster) else set()
    with contextlib.suppress(psutil.NoSuchProcess):
        found |= {child.pid for child in psutil.Process(postmaster).children(recursive=True)}
    for process in psutil.process_iter(["cmdline"]):
        if any(str(folder) in part for part in process.info["cmdline"] or ()):
            found.add(process.pid)
    return {pid for pid in found if _running(pid)}


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _assert_gone(postmaster: int, pids: set[int], folder: Path, port: int) -> None:
    """Every one of `pids` ends, and the postmaster's processes, nothing names `folder`, the
    port refuses, the folder goes, within GONE_WITHIN seconds."""
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline:
        left = {pid for pid in pids if _running(pid)} | _server_processes(postmaster, folder)
        if not left and not _port_open(port) and not folder.exists():
            return
        time.sleep(0.1)
    pytest.fail(f"after {GONE_WITHIN} s: processes {sorted(left)} still run, port {port} "
                f"{'open' if _port_open(port) else 'closed'}, folder "
                f"{'still there' if folder.exists() else 'gone'}")


def test_it_starts_and_answers_with_its_password(pg_server):
    parts = urlsplit(pg_server.url)
    assert (parts.scheme, parts.hostname, parts.port) == ("postgresql", "127.0.0.1",
                                                          pg_server.port)
    assert parts.password == pg_server.password
    with psycopg.connect(pg_server.url, connect_timeout=10) as conn:
        row = conn.execute("SELECT current_user, current_database(), "
                           "current_setting('server_version_num')::int, "
                           "current_setting('password_encryption')").fetchone()
    assert row[:2] == ("sqlnb", "sqlnb")
    assert row[2] >= 150000
    assert row[3] == "scram-sha-256"
    # the password given apart from the URL (as PGPASSWORD would give it) works the same
    with psycopg.connect(host="127.0.0.1", port=pg_server.port, user=pg_server.user,
                         dbname=pg_server.database, password=pg_server.password,
                         connect_timeout=10) as conn:
        assert conn.execute("SELECT 1 + 1").fetchone() == (2,)


def test_it_refuses_a_wrong_password_or_none(pg_server):
    wrong = pg_server.url.replace(pg_server.password, "not-" + pg_server.password)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10)
    # no password at all, over TCP and over the unix socket (no `trust` or `peer` anywhere)
    for host in ("127.0.0.1", str(pg_server.socket_dir)):
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(host=host, port=pg_server.port, user=pg_server.user,
                            dbname=pg_server.database, passfile=os.devnull, connect_timeout=10)


def test_stop_leaves_no_server_behind(pg_bindir):
    server = PostgresServer(pg_bindir)
    conn = psycopg.connect(server.url, connect_timeout=10)  # a backend of its own too
    conn.execute("SELECT 1")
    pids = _server_processes(server.postmaster_pid, server.folder)
    assert server.postmaster_pid in pids and len(pids) > 1
    pids.add(server.supervisor_pid)
    server.stop()
    assert not server.running
    _assert_gone(server.postmaster_pid, pids, server.folder, server.port)
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    server.stop()  # again: nothing to do


def test_a_killed_owner_leaves_no_server_behind(pg_bindir):
    owner_code = textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from tests.pg_server import PostgresServer
        server = PostgresServer()
        print(json.dumps({{"url": server.url, "pid": server.postmaster_pid,
                           "supervisor": server.supervisor_pid, "port": server.port,
                           "folder": str(server.folder)}}), flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "SQLNB_PG_BINDIR": str(pg_bindir)})
    try:
        info = json.loads(owner.stdout.readline())
        folder = Path(info["folder"])
        conn = psycopg.connect(info["url"], connect_timeout=10)
        conn.execute("SELECT 1")
        pids = _server_processes(info["pid"], folder) | {info["supervisor"]}
        assert info["pid"] in pids and len(pids) > 2
        owner.send_signal(signal.SIGKILL)
        owner.wait(GONE_WITHIN)
        _assert_gone(info["pid"], pids, folder, info["port"])
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.wait()
        owner.stdout.close()
