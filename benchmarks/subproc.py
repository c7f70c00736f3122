"""Run a module of benchmarks/children/ in a fresh Python process and talk to it in JSON lines.

A child writes one JSON object per line on stdout for each request (and, for a one-shot child,
one at the end); anything else it prints there is ignored. Its stderr goes to a temporary file,
shown in the error if the child fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class ChildError(RuntimeError):
    """A child process failed or answered nothing."""


class Child:
    """A long-lived child: `request({...})` sends one line and returns its one-line reply."""

    def __init__(self, module: str, *args: str) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise ChildError(self._failure()) from None
        for line in self._proc.stdout:
            reply = _parse(line)
            if reply is not None:
                if "error" in reply:
                    raise ChildError(reply["error"])
                return reply
        raise ChildError(self._failure())

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()

    def _failure(self) -> str:
        code = self._proc.wait(timeout=30)
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].strip()
        return f"child exited with {code}: {tail}"

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def run_once(module: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run a one-shot child to its end and return the last JSON line it printed."""
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout, check=False)
    replies = [r for r in map(_parse, proc.stdout.splitlines()) if r is not None]
    if proc.returncode != 0 or not replies:
        raise ChildError(f"{module} exited with {proc.returncode}: {proc.stderr[-2000:].strip()}")
    if "error" in replies[-1]:
        raise ChildError(replies[-1]["error"])
    return replies[-1]


def _parse(line: str) -> dict[str, Any] | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
