"""The documentation site (mkdocs.yml, docs/): it builds in strict mode; the faults strict mode
is there for (a broken link or anchor, a page left out of the navigation, a magic option that
does not exist, a magic argument without a help) fail a build; every SQLite code example on it
and in the README runs; and the troubleshooting page covers every error line sqlnb can print.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helpers import sqlnb_threads

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD_ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
             "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _hooks() -> Any:
    """docs/_hooks/sqlnb_docs.py, the build's hook file, as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sqlnb_docs", DOCS / "_hooks" / "sqlnb_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the build ------------------------------------------------------------------------------------

def test_site_builds_in_strict_mode(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                          str(tmp_path / "site")], cwd=ROOT, env=BUILD_ENV,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-4000:]
    site = tmp_path / "site"
    # the tutorials, rendered with their stored outputs (a result table), linked to each other
    quick_start = (site / "tutorials" / "01-quick-start" / "index.html").read_text()
    assert "<table" in quick_start and 'href="../02-exploring-a-real-database/"' in quick_start
    spark = (site / "tutorials" / "07-a-cluster-spark-sql" / "index.html").read_text()
    assert 'href="../../engines/spark/"' in spark  # ../docs/engines/spark.md in the notebook
    assert len(list((site / "tutorials").glob("*/index.html"))) == len(
        list((ROOT / "notebooks").glob("*.ipynb")))
    # the magics' reference, generated from their parsers; the API's, from the docstrings
    magics = (site / "reference" / "magics" / "index.html").read_text()
    assert "--if-exists" in magics and "--secret-env" in magics and "display_limit" in magics
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "import_file" in api and "adapt_parameter" in api
    # the pages that were docs/ before the site are still where they were
    for page in ("ARCHITECTURE", "ENGINES", "research-postgres"):
        assert (site / page / "index.html").exists(), page


def _small_site(tmp_path: Path, pages: dict[str, str], nav: list[str]) -> Path:
    """A site of `pages` with mkdocs.yml's validation, strictness, hooks and Markdown."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in pages.items():
        (docs / name).write_text(text)
    small = {key: config[key] for key in ("validation", "strict", "markdown_extensions")}
    small.update(site_name="t", docs_dir=str(docs), site_dir=str(tmp_path / "site"), nav=nav,
                 hooks=[str(ROOT / hook) for hook in config["hooks"]])
    path = tmp_path / "mkdocs.yml"
    path.write_text(yaml.safe_dump(small))
    return path


def _build(config_path: Path) -> str:
    """Build in this process; the strict build's abort message, or '' when it built."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort

    try:
        build(load_config(str(config_path)))
    except Abort as abort:
        return str(abort)
    return ""


FAULTS = {
    "a broken link": ("See [the other page](missing.md).", "missing.md"),
    "a broken anchor": ("See [it](index.md#no-such-heading).", "no-such-heading"),
    "a page missing from the nav": ("", "orphan.md"),
    "a magic option that does not exist": ("```\n%sqlnb import trips.csv t --encodings x\n```",
                                           "--encodings"),
    "an option alone that no magic has": ("Turn it off with `--no-progres`.", "--no-progres"),
    "a %%sql option on a line": ("`%%sql --timelimit 5`", "--timelimit"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_fails_the_strict_build(tmp_path, fault, caplog):
    text, named = FAULTS[fault]
    pages = {"index.md": "# Home\n\nA page.\n", "page.md": f"# Page\n\n{text}\n"}
    if fault == "a page missing from the nav":
        pages["orphan.md"] = "# Orphan\n"
    aborted = _build(_small_site(tmp_path, pages, ["index.md", "page.md"]))
    assert "strict mode" in aborted, fault
    assert named in caplog.text, caplog.text


def test_the_small_site_builds_without_a_fault(tmp_path):
    pages = {"index.md": "# Home\n\n## A heading\n",
             "page.md": "# Page\n\n[home](index.md#a-heading), `%sqlnb import x t --encoding y`, "
                        "`--no-progress`, `%%sql --time-limit 5`\n"}
    assert _build(_small_site(tmp_path, pages, ["index.md", "page.md"])) == ""


def test_a_magic_argument_without_help_fails(monkeypatch):
    hooks = _hooks()
    assert hooks.undocumented_arguments() == []
    from sqlnb.ipython import magics

    def bare() -> Any:
        parser = magics.profile_parser()
        parser.add_argument("--sample")
        return parser

    monkeypatch.setitem(magics.COMMAND_PARSERS, "profile", bare)
    missing = hooks.undocumented_arguments()
    assert missing[0] == "%sqlnb profile --sample"  # no help
    assert missing[1].startswith("%sqlnb profile --sample (not in its usage line")
    assert len(missing) == 2


def test_a_command_parsing_options_of_its_own_fails(monkeypatch):
    from IPython.core.magic_arguments import MagicArgumentParser

    from sqlnb.ipython import magics

    def _cmd_sample(self, rest: str) -> None:
        parser = MagicArgumentParser(prog="%sqlnb sample")
        parser.add_argument("--rows", help="how many")
        parser.parse_argstring(rest)

    monkeypatch.setattr(magics.SqlNB, "_cmd_sample", _cmd_sample, raising=False)
    missing = _hooks().undocumented_arguments()
    assert any(line.startswith("%sqlnb sample parses options of its own") for line in missing)
    assert any(line.startswith("%sqlnb sample (no usage line") for line in missing)


def test_every_command_and_option_is_in_the_reference():
    hooks = _hooks()
    reference = hooks.magics_reference()
    for name, parser in hooks.command_parsers().items():
        assert f"### `%sqlnb {name}`" in reference, name
        for option in hooks.options_of(parser):
            assert f"`{option}" in reference, (name, option)
    for option in hooks.options_of(hooks.sql_parser()):
        assert f"`{option}" in reference, option


# -- the code examples -----------------------------------------------------------------------------

#: pages whose code blocks are design sketches of sqlnb's insides, not examples to run
INTERNALS = {"ARCHITECTURE.md", "ENGINES.md", "research-postgres.md"}
#: an example that names one of these runs on another engine than SQLite, so it is not run here
#: (the engines' own tests cover what it shows)
OTHER_ENGINES = re.compile(r"sc://|spark:|postgres(ql)?://|duckdb")
NOT_RUN = re.compile(r"<!-- not run: [^>]+ -->\s*$")
_BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)


def _pages() -> list[Path]:
    pages = [ROOT / "README.md"]
    pages += sorted(path for path in DOCS.rglob("*.md")
                    if "tutorials" not in path.relative_to(DOCS).parts
                    and not path.relative_to(DOCS).parts[0].startswith("_")
                    and path.name not in INTERNALS
                    and not path.name.startswith("research-"))
    return pages


def examples(text: str) -> list[tuple[str, bool]]:
    """A page's code examples in order, each with whether it runs on SQLite here: a `python` or
    `sql` block, or a block whose first line is a magic (`%...`). Shell commands are no example;
    a block right after `<!-- not run: REASON -->` is not run. A block inside an HTML comment
    (`<!--` on the line before it, `-->` after it) is run but not shown: the set-up a page's
    examples need (a table, a file) without cluttering the page."""
    found = []
    for match in _BLOCK.finditer(text):
        kind, code = match.group(1), match.group(2)
        if kind not in ("python", "sql") and not code.lstrip().startswith("%"):
            continue
        runs = not OTHER_ENGINES.search(code) and not NOT_RUN.search(text[:match.start()])
        found.append((code, runs))
    return found


@pytest.mark.parametrize("page", _pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_sqlite_examples_run(page, tmp_path, monkeypatch):
    """A page's examples run in order in one IPython shell (so a later one sees what an earlier
    one made), in an empty folder; an error in any fails the test. A page closes what it opens
    (a hidden block may): a Database left open would leak its threads into later tests."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    runs = [code for code, runs in examples(page.read_text()) if runs]
    if not runs:
        return
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "sqlnb")
        shell.run_line_magic("config", "SqlNB.short_errors = False")
        for code in runs:
            result = shell.run_cell(code, silent=True)
            assert result.success, f"{page.name}: {code}\n{result.error_in_exec!r}"
    finally:
        shell.run_line_magic("unload_ext", "sqlnb")
        InteractiveShell.clear_instance()
    assert sqlnb_threads() == set(), f"{page.name} leaves a Database open"


def test_examples_are_found():
    readme = examples((ROOT / "README.md").read_text())
    assert any(runs for _, runs in readme)
    assert examples("```python\nsqlnb.connect('sc://h:1')\n```\n") == [
        ("sqlnb.connect('sc://h:1')\n", False)]
    assert examples("<!-- not run: no such file -->\n```\n%sqlnb import a.csv t\n```\n") == [
        ("%sqlnb import a.csv t\n", False)]
    assert examples("```\npip install sqlnb\n```\n") == []
    hidden = "<!--\n```python\nimport pandas as pd\n```\n-->\n```python\npd.DataFrame()\n```\n"
    assert examples(hidden) == [("import pandas as pd\n", True), ("pd.DataFrame()\n", True)]


# -- troubleshooting -------------------------------------------------------------------------------

def _text(node: ast.AST) -> str | None:
    """A message's text with `{}` for what is filled in, or None when it is no string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(value.value if isinstance(value, ast.Constant) else "{}"
                       for value in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "{}") + (right if right is not None else "{}")
    return None


_RAISES = ("Error", "Exception", "Timeout", "Cancelled", "Closed", "RolledBack", "Interrupted")


@functools.cache
def error_lines() -> dict[str, str]:
    """Every error line sqlnb can print, as `{}`-templates, with where each is: the message given
    to an error class (sqlnb's, IPython's UsageError, the engine's), to a note on an engine's
    error (`note`, `add_note`), to `warnings.warn`, a module's `*_HINT` text, and a text assigned
    to a `message` before it is raised."""
    found = {}
    for path in sorted((ROOT / "sqlnb").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.id if isinstance(func, ast.Name) else \
                    func.attr if isinstance(func, ast.Attribute) else ""
                if name == "note" and len(node.args) > 1:  # note(error, text)
                    text = _text(node.args[1])
                elif name.endswith(_RAISES) or name in ("add_note", "warn"):
                    text = _text(node.args[0])
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                    node.targets[0], ast.Name) and node.targets[0].id.lower().endswith(
                    ("_hint", "message")):
                text = _text(node.value)
            if text and text.replace("{}", "").strip(" :-"):
                found.setdefault(text, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def covers(page: str, template: str) -> bool:
    """Whether the page shows the template's text: its fixed parts in order, each `{}` between
    them standing for at most a short text (a placeholder such as `…` or NAME); white space as it
    comes."""
    parts = [" ".join(part.split()) for part in template.split("{}")]
    parts = [part for part in parts if part]
    start = page.find(parts[0])
    while start != -1:
        position = start + len(parts[0])
        for part in parts[1:]:
            found = page.find(part, position)
            if found == -1 or found - position > 80:
                break
            position = found + len(part)
        else:
            return True
        start = page.find(parts[0], start + 1)
    return False


def test_error_lines_are_found():
    lines = error_lines()
    assert len(lines) > 100
    assert "the database is closed: open it again with sqlnb.connect()" in lines
    assert any(line.startswith("no table or view named {}") for line in lines)
    assert covers("a b: x NAME y", "b: x {} y") and not covers("b: x y", "b: x {} z")


@functools.cache
def _troubleshooting() -> str:
    return " ".join((DOCS / "troubleshooting.md").read_text().replace("\\|", "|").split())


@pytest.mark.parametrize("line", sorted(error_lines()))
def test_troubleshooting_covers_error_line(line):
    assert covers(_troubleshooting(), line), (
        f"{line!r} ({error_lines()[line]}) is not on docs/troubleshooting.md: add it, with what "
        "to do about it")
