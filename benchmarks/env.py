"""The run's environment (versions, machine) and the optional peers' imports."""

from __future__ import annotations

import importlib
import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

#: Distributions whose versions go into the report (peers are optional).
DISTRIBUTIONS = ["sqlnb", "pandas", "numpy", "pyarrow", "janus", "ipython", "datasette",
                 "aiosqlite", "jupysql", "adbc-driver-sqlite", "psutil", "duckdb", "duckdb-engine",
                 "pyspark", "adbc-driver-postgresql", "psycopg2-binary", "sqlalchemy"]


def optional(module: str, label: str, notes: list[str]) -> ModuleType | None:
    """Import a peer; if it is missing, add a note that its contender is skipped."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        notes.append(f"{label} is not installed ({error}): its contender is skipped "
                     "(pip install -e '.[bench]')")
        return None


def versions() -> dict[str, str | None]:
    """Python, SQLite and each distribution's version (None when not installed)."""
    found: dict[str, str | None] = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["sqlnb_commit"] = _git_commit()
    return found


def machine() -> dict[str, Any]:
    """The machine: OS, CPU model and count, memory."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "python_executable": sys.executable,
    }
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        info["memory_gb"] = None
    return info


def summary_lines(found: dict[str, str | None], box: dict[str, Any]) -> list[str]:
    """Two or three lines for the top of the printed report."""
    shown = ", ".join(f"{k} {v}" for k, v in found.items()
                      if v is not None and k != "sqlnb_commit")
    missing = [k for k, v in found.items() if v is None and k != "sqlnb_commit"]
    lines = [f"versions: {shown}",
             f"sqlnb commit: {found.get('sqlnb_commit') or 'unknown'}",
             f"machine: {box['cpu_model'] or box['machine']}, {box['cpus_usable']} usable cores, "
             f"{box['memory_gb']} GB, {box['platform']}"]
    if missing:
        lines.append(f"not installed: {', '.join(missing)}")
    return lines


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5, check=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "sqlnb"],
                               capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + (" (sqlnb/ modified)" if dirty.stdout.strip() else "")
