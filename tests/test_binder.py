"""What can be checked of the Binder launch without Docker: repo2docker's build plan for this
repository, and that binder/requirements.txt resolves (sqlnb itself installed from the repo)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_repo2docker_plans_an_install_from_binder_requirements():
    repo2docker = shutil.which("repo2docker", path=str(Path(sys.executable).parent))
    assert repo2docker, "repo2docker is in the test extra"
    out = subprocess.run([repo2docker, "--no-build", "--debug", str(ROOT)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    plan = out.stdout + out.stderr
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in plan
    assert "python=3.12" in plan  # binder/runtime.txt


def test_binder_files():
    requirements = (ROOT / "binder" / "requirements.txt").read_text().split("\n")
    assert "-e .[duckdb,spark]" in requirements  # sqlnb (DuckDB, Spark) from this repository
    assert "openjdk-17-jre-headless" in (ROOT / "binder" / "apt.txt").read_text()  # for Spark
    assert any(r.startswith("ipywidgets==8") for r in requirements)
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.12"
    assert not (ROOT / "binder" / "environment.yml").exists()  # it would win over requirements


def test_binder_requirements_resolve():
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
         "--report", "-", "-r", "binder/requirements.txt"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"name": "sqlnb"' in out.stdout
