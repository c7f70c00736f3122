"""Build the JupyterLab extension into sqlnb/labextension/ (which is committed) and record a
hash of its sources there, which tests/test_labextension.py checks.

    .venv/bin/python labextension/build.py      # needs Node.js 18+ and npm (or: npm run build
                                                # in labextension/, with the venv active)
    .venv/bin/pip install -e .                  # copies the build where JupyterLab finds it

It installs the npm packages (package-lock.json) when labextension/node_modules is missing,
compiles src/ with tsc, and bundles it with `jupyter labextension build` against the installed
JupyterLab.

Without Node.js nothing needs building: the committed build is what the wheel ships.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "sqlnb" / "labextension"
HASH_FILE = OUTPUT / "source-hash.txt"
INSTALL = {
    "packageManager": "python",
    "packageName": "sqlnb",
    "uninstallInstructions": "Use your Python package manager (pip, conda, etc.) to uninstall "
                             "the package sqlnb",
}


def sources(root: Path = HERE) -> list[Path]:
    """The files the build is made from."""
    files = [root / name for name in ("package.json", "package-lock.json", "tsconfig.json")]
    return files + sorted(p for p in (root / "src").rglob("*") if p.is_file())


def source_hash(root: Path = HERE) -> str:
    """sha256 over the sources' paths and contents (line endings normalized)."""
    digest = hashlib.sha256()
    for path in sources(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    # `jupyter labextension build` runs `jupyter-builder`, beside this Python
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    subprocess.run(command, cwd=HERE, check=True, env=dict(os.environ, PATH=path))


def main() -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm not found: building the extension needs Node.js 18+ and npm")
    if not (HERE / "node_modules").is_dir():
        run(npm, "ci", "--no-audit", "--no-fund")
    run(npm, "exec", "--", "tsc")
    import jupyterlab

    # against the installed JupyterLab's core packages (which decide what is shared, not bundled)
    core = Path(jupyterlab.__file__).parent / "staging"
    run(sys.executable, "-m", "jupyterlab.labextensions", "build", f"--core-path={core}", str(HERE))
    (OUTPUT / "install.json").write_text(json.dumps(INSTALL, indent=2) + "\n")
    HASH_FILE.write_text(source_hash() + "\n")
    print(f"built {OUTPUT.relative_to(HERE.parent)}; source hash {source_hash()[:12]}")


if __name__ == "__main__":
    main()
