"""A throwaway PostgreSQL server for the tests and benchmarks: its own cluster in a temporary
folder, on a free port of 127.0.0.1, with a password (scram-sha-256), gone when stopped.

    server = PostgresServer()      # about 2 s
    server.url                     # postgresql://sqlnb:PASSWORD@127.0.0.1:PORT/sqlnb
    server.password                # the same password, for PGPASSWORD and friends
    server.stop()                  # pg_ctl -m fast stop, then the folder is removed

    server.stop_server("immediate")  # the server goes away (its folder stays) ...
    server.start_server()          # ... and comes back on the same port, same data

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user and
every server program runs through `runuser -u postgres --` (as anyone else it runs as that user).

The postmaster does not die with the process that started it (pg_ctl detaches it into a session
of its own). So the server is owned by a supervisor: this file run as a script, in a session of
its own, which starts the cluster, reports its URL on stdout and then reads its stdin until end of
file. The end of file comes when `stop()` closes the pipe, and also when the owner dies in any way
(even SIGKILL), since the kernel closes a dead process's end of the pipe. Either way the
supervisor stops the server and removes the folder. A server the supervisor cannot stop gently in
10 s is stopped with `-m immediate`. Until then the supervisor also takes one command a line on
its stdin, `stop MODE` or `start` (what `stop_server()` and `start_server()` send), and answers
each on its stdout. Only a SIGKILL of the supervisor itself leaves the server
(and its folder) behind. (Whoever removes a running server's folder ends it too, within about a
minute: the postmaster checks its `postmaster.pid` lock file once a minute.)
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

#: the user (a superuser, made by initdb) and the database (made by createdb) of the URL
USER = "sqlnb"
DATABASE = "sqlnb"


def find_bindir() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl, postgres), or None.

    `SQLNB_PG_BINDIR` if set, else the newest Debian/Ubuntu `/usr/lib/postgresql/N/bin`, else the
    folder of an `initdb` on PATH (Homebrew, Fedora, a source build).
    """
    candidates = []
    if os.environ.get("SQLNB_PG_BINDIR"):
        candidates.append(Path(os.environ["SQLNB_PG_BINDIR"]))
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    debian.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                reverse=True)
    candidates += [Path(p) for p in debian]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


class PostgresServer:
    """A PostgreSQL server of its own, started by the constructor, ended by `stop()` (or by the
    end of this process, whatever the way it ends).

    Attributes: `url` (with the password), `password`, `user`, `database`, `host` (127.0.0.1),
    `port`, `folder` (the temporary folder: `data/` the cluster, `sock/` the unix socket,
    `server.log`), `socket_dir`, `postmaster_pid`, `supervisor_pid`, `bindir`.
    """

    def __init__(self, bindir: Path | None = None, *, timeout: float = 120,
                 settings: dict[str, str] | None = None) -> None:
        """Start a server (initdb, pg_ctl start, createdb); `settings` are extra `-c name=value`
        server settings. Raises RuntimeError (with the server's log) if it does not start."""
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise RuntimeError("no PostgreSQL server programs (initdb, pg_ctl) were found: "
                               "apt-get install postgresql, or set SQLNB_PG_BINDIR")
        config = {"bindir": str(self.bindir), "settings": settings or {}}
        self._supervisor = subprocess.Popen(
            [sys.executable, "-u", str(Path(__file__).resolve()), json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        line = _read_line(self._supervisor, timeout)
        reply = json.loads(line) if line else {"error": "the supervisor ended without a word"}
        if "error" in reply:
            self._supervisor.stdin.close()  # type: ignore[union-attr]
            self._supervisor.wait(timeout)
            self._supervisor.stdout.close()  # type: ignore[union-attr]
            raise RuntimeError(f"the PostgreSQL server did not start: {reply['error']}")
        self.password: str = reply["password"]
        self.port: int = reply["port"]
        self.folder = Path(reply["folder"])
        self.postmaster_pid: int = reply["pid"]
        self.supervisor_pid = self._supervisor.pid
        self.user, self.database, self.host = USER, DATABASE, "127.0.0.1"
        self.socket_dir = self.folder / "sock"
        self.url = (f"postgresql://{self.user}:{quote(self.password, safe='')}@{self.host}:"
                    f"{self.port}/{self.database}")

    def __repr__(self) -> str:
        return f"<PostgresServer 127.0.0.1:{getattr(self, 'port', '?')}>"

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the supervisor is still there (the server runs while it does)."""
        return self._supervisor.poll() is None

    def _command(self, line: str, timeout: float = 60) -> dict:
        self._supervisor.stdin.write(line + "\n")  # type: ignore[union-attr]
        self._supervisor.stdin.flush()  # type: ignore[union-attr]
        reply = json.loads(_read_line(self._supervisor, timeout) or '{"error": "no answer"}')
        if "error" in reply:
            raise RuntimeError(f"{line}: {reply['error']}")
        return reply

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server (pg_ctl -m fast|immediate stop), keeping its data and its port for
        start_server(); an immediate stop is a crash as the clients see it."""
        self._command(f"stop {mode}")

    def start_server(self) -> None:
        """Start the server stopped by stop_server() again, on the same port."""
        self.postmaster_pid = self._command("start")["pid"]

    def stop(self, timeout: float = 60) -> None:
        """Stop the server (pg_ctl -m fast stop) and remove its folder; idempotent."""
        if self._supervisor.stdin and not self._supervisor.stdin.closed:
            self._supervisor.stdin.close()
        try:
            self._supervisor.wait(timeout)
        except subprocess.TimeoutExpired:
            self._supervisor.kill()
            self._supervisor.wait()
            _stop(Path(self.bindir), self.folder / "data", "immediate")
            shutil.rmtree(self.folder, ignore_errors=True)
        if self._supervisor.stdout:
            self._supervisor.stdout.close()


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    """The supervisor's first line, or '' if it says nothing within `timeout` (then it is
    killed: it is in a session of its own, so its server would be left otherwise)."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        if selector.select(timeout):
            return process.stdout.readline()  # type: ignore[union-attr]
    process.terminate()  # its SIGTERM handler stops whatever it started
    return json.dumps({"error": f"it did not start within {timeout:g} s"})


# -- the supervisor (this file run as a script) ---------------------------------------------------

def _as_server_user(command: list[str]) -> list[str]:
    """`command` run as the `postgres` user when we are root (the server refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run(_as_server_user(command), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop(bindir: Path, data: Path, mode: str) -> bool:
    """pg_ctl stop in `mode`; True if the server is down (or was never up)."""
    if _postmaster_pid(data) is None:
        return True
    done = _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", mode, "-t", "10", "-w", "stop"])
    return done.returncode == 0 or _postmaster_pid(data) is None


def _flags(port: int, folder: Path, settings: dict[str, str]) -> str:
    """The server's command line options (pg_ctl -o): its port, where it listens, settings."""
    options = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(folder / "sock"),
               # a throwaway cluster: no fsync, so writes cost what they cost in the engine
               "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
               **settings}
    return " ".join([f"-p {port}", *(f"-c {k}={v}" for k, v in options.items())])


def _pg_ctl_start(bindir: Path, folder: Path, flags: str) -> subprocess.CompletedProcess:
    return _run([str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-l",
                 str(folder / "server.log"), "-w", "-t", "60", "-o", flags, "start"])


def _start(bindir: Path, folder: Path, settings: dict[str, str]) -> dict[str, object]:
    """initdb, pg_ctl start on a free port (three tries: a port can be taken meanwhile), and
    createdb; what the owner needs to know."""
    data, sock, log = folder / "data", folder / "sock", folder / "server.log"
    password = secrets.token_urlsafe(18)
    pwfile = folder / "pwfile"
    pwfile.write_text(password + "\n")
    sock.mkdir()
    if os.geteuid() == 0:
        for path in (folder, sock, pwfile):
            shutil.chown(path, "postgres", "postgres")
    done = _run([str(bindir / "initdb"), "-D", str(data), "-U", USER, "-A", "scram-sha-256",
                 f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync"])
    pwfile.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}".strip())
    for _ in range(3):
        port = _free_port()
        done = _pg_ctl_start(bindir, folder, _flags(port, folder, settings))
        if done.returncode == 0:
            break
        _stop(bindir, data, "immediate")
    else:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{tail}".strip())
    environment = {**os.environ, "PGPASSWORD": password}
    done = subprocess.run([str(bindir / "createdb"), "-h", str(sock), "-p", str(port), "-U", USER,
                           DATABASE], capture_output=True, text=True, env=environment,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"createdb failed: {done.stdout}{done.stderr}".strip())
    return {"password": password, "port": port, "folder": str(folder),
            "pid": _postmaster_pid(data)}


def _supervise(config: dict) -> int:
    """Start the server, say so on stdout, wait for stdin's end of file, stop it, clean up."""
    def on_sigterm(_signum: int, _frame: object) -> None:
        raise SystemExit(1)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    bindir = Path(config["bindir"])
    base = tempfile.gettempdir()
    if len(base) > 60:  # a unix socket's path has at most 107 bytes
        base = "/tmp"
    folder = Path(tempfile.mkdtemp(prefix="sqlnb-pg-", dir=base))
    try:
        try:
            reply = _start(bindir, folder, config.get("settings") or {})
        except Exception as error:
            print(json.dumps({"error": str(error)}), flush=True)
            return 1
        print(json.dumps(reply), flush=True)
        flags = _flags(int(reply["port"]), folder, config.get("settings") or {})  # type: ignore[call-overload]
        with contextlib.suppress(OSError):
            for line in sys.stdin:  # until the owner closes the pipe or dies
                print(json.dumps(_obey(line.split(), bindir, folder, flags)), flush=True)
        return 0
    finally:
        pid = _postmaster_pid(folder / "data")
        if not _stop(bindir, folder / "data", "fast"):
            _stop(bindir, folder / "data", "immediate")
        _wait_gone(pid, 10)
        shutil.rmtree(folder, ignore_errors=True)


def _obey(command: list[str], bindir: Path, folder: Path, flags: str) -> dict[str, object]:
    """One command of the owner's: `stop fast|immediate` or `start` (see stop_server)."""
    data = folder / "data"
    if command[:1] == ["stop"] and len(command) == 2:
        pid = _postmaster_pid(data)
        if not _stop(bindir, data, command[1]):
            return {"error": "pg_ctl stop failed"}
        _wait_gone(pid, 10)
        return {"ok": True}
    if command == ["start"]:
        done = _pg_ctl_start(bindir, folder, flags)
        if done.returncode != 0:
            return {"error": f"pg_ctl start failed: {done.stdout}{done.stderr}".strip()}
        return {"ok": True, "pid": _postmaster_pid(data)}
    return {"error": f"unknown command {' '.join(command)!r}"}


def _wait_gone(pid: int | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pid is not None and pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, which nobody may reap in a container, is dead)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(_supervise(json.loads(sys.argv[1])))
