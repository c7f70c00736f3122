"""The documentation build's own steps (an MkDocs hook file: mkdocs.yml names it).

- The magics' reference: `<!-- sqlnb:magics -->` on a page becomes the reference of `%%sql`,
  `%sql` and every `%sqlnb` command, generated from the magics' own argument definitions
  (`SqlNB.sql.parser`, `magics.COMMAND_PARSERS`) and usage (`SqlNB.sqlnb.__doc__`);
  `<!-- sqlnb:settings -->` becomes the table of `%config SqlNB.<name>` settings, from the traits.
- Checks that fail the strict build (each a warning): a magic argument without a help, a
  `%sqlnb` command without a usage line, and a page that names a magic option that does not
  exist (`%sqlnb import ... --encodings`, or a stray `--no-progres`).

tests/test_site.py imports this file to test the same functions without a build.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import Files

#: under "mkdocs.", so that a warning fails `mkdocs build --strict`
log = logging.getLogger("mkdocs.plugins.sqlnb_docs")

MAGICS_MARK = "<!-- sqlnb:magics -->"
SETTINGS_MARK = "<!-- sqlnb:settings -->"

#: options of other tools that pages name in backticks (the comparison, the test commands):
#: not the magics', so not checked against them
OTHER_TOOLS_OPTIONS = {
    "--persist": "JupySQL's and ipython-sql's %sql",
    "--append": "JupySQL's %sql",
    "--with": "JupySQL's %sql",
    "--params": "the %%bigquery magic",
    "--only": "python -m benchmarks",
    "--quick": "python -m benchmarks",
    "--download-only": "python -m benchmarks.data",
    "--url": "python -m benchmarks",
    "--paths": "python -m benchmarks",
    "--strict": "mkdocs build",
    "--nbval": "pytest (nbval)",
}


# -- what the magics define ---------------------------------------------------------------------

def _magics() -> Any:
    from sqlnb.ipython import magics

    return magics


def sql_parser() -> argparse.ArgumentParser:
    """`%%sql` / `%sql`'s parser (IPython's magic_arguments keeps it on the function)."""
    return _magics().SqlNB.sql.parser


def command_parsers() -> dict[str, argparse.ArgumentParser | None]:
    """Every `%sqlnb` command (a `_cmd_NAME` method), with its parser when it takes options."""
    magics = _magics()
    names = [name[len("_cmd_"):] for name in vars(magics.SqlNB) if name.startswith("_cmd_")]
    return {name: magics.COMMAND_PARSERS[name]() if name in magics.COMMAND_PARSERS else None
            for name in names}


def options_of(parser: argparse.ArgumentParser | None) -> set[str]:
    if parser is None:
        return set()
    return {option for action in parser._actions for option in action.option_strings
            if option.startswith("--") and option != "--help"}


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's arguments and options, without --help."""
    return [action for action in parser._actions if not isinstance(action, argparse._HelpAction)]


def _help(action: argparse.Action) -> str:
    return (action.help or "").replace("%%", "%")


def _split_doc(doc: str) -> tuple[str, list[str], str]:
    """A magic's docstring as its summary line, its usage block (the lines after the summary
    up to the first blank line) and the prose after it."""
    lines = inspect.cleandoc(doc).split("\n")
    summary, rest = lines[0], lines[1:]
    while rest and not rest[0].strip():
        rest.pop(0)
    usage = []
    while rest and rest[0].strip():
        usage.append(rest.pop(0).rstrip())
    return summary, usage, " ".join(" ".join(rest).split())


def command_usage() -> dict[str, tuple[list[str], str]]:
    """Each `%sqlnb` command's usage lines and description, read from `SqlNB.sqlnb.__doc__`
    (the text `%sqlnb?` shows): a line that starts `%sqlnb CMD` starts a command, its usage up
    to a gap of two spaces and its description after it; a line indented to the description
    column continues the description, one indented less the usage."""
    _, block, _ = _split_doc(_magics().SqlNB.sqlnb.__doc__ or "")
    columns = [found.start(1) for line in block if line.startswith("%sqlnb ")
               for found in [re.search(r"\S\s{2,}(\S)", line)] if found]
    column = max(set(columns), key=columns.count)
    entries: dict[str, tuple[list[str], list[str]]] = {}
    current: tuple[list[str], list[str]] | None = None
    for line in block:
        indent, usage, said = re.match(r"(\s*)(.*?)(?:\s{2,}(.*))?$", line).groups("")
        if len(indent) >= column:  # a description's next line
            usage, said = "", line.strip()
        if line.startswith("%sqlnb "):
            current = entries.setdefault(line.split()[1], ([], []))
            current[0].append(usage)
        elif current is not None and usage:
            current[0][-1] += " " + usage
        if current is not None and said:
            current[1].append(said)
    return {name: (usage, " ".join(words)) for name, (usage, words) in entries.items()}


# -- the generated reference ---------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | what it does |", "|---|---|"]
    for action in arguments(parser):
        value = action.metavar or ("|".join(map(str, action.choices)) if action.choices
                                   else action.dest.upper())
        if action.option_strings:
            name = ", ".join(action.option_strings)
            if action.nargs != 0:
                name += f" {value}"
        else:
            name = value
        said = _help(action)
        if action.default not in (None, False, [], argparse.SUPPRESS) and action.option_strings:
            said += f"; default {action.default}"
        if isinstance(action, argparse._AppendAction):
            said += "; may be given more than once"
        rows.append(f"| `{_cell(name)}` | {_cell(said)} |")
    return rows


def magics_reference() -> str:
    """The reference of `%%sql`, `%sql` and the `%sqlnb` commands, as Markdown."""
    magics = _magics()
    # the parser keeps the docstring as written; IPython puts the argparse usage before it
    summary, usage_lines, prose = _split_doc(sql_parser().description or "")
    out = ["## `%%sql` and `%sql`", "", summary, "", "```text", *usage_lines, "```", "", prose,
           ""]
    out += [*_argument_rows(sql_parser()), ""]
    usage = command_usage()
    out += ["## `%sqlnb`", "", _split_doc(magics.SqlNB.sqlnb.__doc__ or "")[0], ""]
    for name, parser in command_parsers().items():
        lines, said = usage.get(name, ([f"%sqlnb {name}"], ""))
        out += [f"### `%sqlnb {name}`", "", "```text", *lines, "```", "", said, ""]
        if parser is not None:
            out += [*_argument_rows(parser), ""]
    return "\n".join(out)


def settings_reference() -> str:
    """The `%config SqlNB.<name>` settings, their defaults and help, as a Markdown table."""
    traits = _magics().SqlNB.class_own_traits(config=True)
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for name in sorted(traits):
        trait = traits[name]
        rows.append(f"| `{name}` | `{trait.default_value!r}` | {_cell(trait.help)} |")
    return "\n".join(rows)


# -- checks ---------------------------------------------------------------------------------------

def undocumented_arguments() -> list[str]:
    """Magic arguments without a help text, `%sqlnb` commands without a usage line, options
    missing from their command's usage line, and a command that parses options with a parser
    of its own, which the reference cannot see."""
    missing = [f"%sql {option}" for action in arguments(sql_parser()) if not action.help
               for option in action.option_strings or [action.dest]]
    usage = command_usage()
    magics = _magics()
    for name, parser in command_parsers().items():
        source = inspect.getsource(getattr(magics.SqlNB, f"_cmd_{name}"))
        if parser is None and ("add_argument(" in source or "ArgumentParser(" in source):
            missing.append(f"%sqlnb {name} parses options of its own: build its parser in a "
                           "function of magics.COMMAND_PARSERS, with a help for each")
        if name not in usage:
            missing.append(f"%sqlnb {name} (no usage line in SqlNB.sqlnb's docstring)")
        if parser is not None:
            missing += [f"%sqlnb {name} {(action.option_strings or [action.dest])[0]}"
                        for action in arguments(parser) if not action.help]
            lines, description = usage.get(name, ([], ""))
            said = " ".join([*lines, description])
            missing += [f"%sqlnb {name} {option} (not in its usage line in SqlNB.sqlnb's "
                        "docstring, which %sqlnb? shows)" for option in sorted(options_of(parser))
                        if name in usage and option not in said]
    return missing


_SPAN = re.compile(r"``?([^`\n]+?)``?")
_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1", re.M | re.S)
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
_MAGIC = re.compile(r"(%%?sql(?:nb)?)\b(?:\s+(\w+))?")


def unknown_options(markdown: str) -> list[str]:
    """The magic options a page names that no magic has: in a code span or a code block, an
    option on a line after `%%sql`/`%sql` must be theirs, after `%sqlnb CMD` that command's, and
    a code span that is an option alone (`--no-progress`) any magic's (or another tool's that
    OTHER_TOOLS_OPTIONS names). Other command lines (pip, pytest ...) are not looked at."""
    sql = options_of(sql_parser())
    usage = command_usage()
    # a command that takes no parser's options may still read some itself: those its usage
    # line names
    commands = {name: options_of(parser) if parser is not None else
                set(_OPTION.findall(" ".join(usage.get(name, ([], ""))[0])))
                for name, parser in command_parsers().items()}
    every = sql.union(*commands.values())
    texts = [match.group(2) for match in _FENCE.finditer(markdown)]
    texts += [match.group(1) for match in _SPAN.finditer(_FENCE.sub("", markdown))]
    wrong = []
    for text in texts:
        for line in text.splitlines():
            magics = list(_MAGIC.finditer(line))
            if not magics and not line.startswith("--"):
                continue  # another tool's command line (pip, pytest, initdb ...)
            for found in _OPTION.finditer(line):
                option = found.group()
                # the option belongs to the nearest magic before it on the line
                before = [magic for magic in magics if magic.start() < found.start()]
                magic = before[-1] if before else None
                if magic is None or option in OTHER_TOOLS_OPTIONS:
                    known = every | OTHER_TOOLS_OPTIONS.keys()
                    where = "any magic"
                elif magic.group(1) == "%sqlnb":
                    command = magic.group(2) or ""
                    known = commands.get(command, set())
                    where = f"%sqlnb {command}"
                else:
                    known, where = sql, magic.group(1)
                if option not in known:
                    wrong.append(f"{option} is no option of {where} (in: {line.strip()})")
    return wrong


# -- the hooks -------------------------------------------------------------------------------------

def on_pre_build(config: Any) -> None:
    for missing in undocumented_arguments():
        log.warning("a magic argument without documentation: %s", missing)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    markdown = markdown.replace(MAGICS_MARK, magics_reference())
    markdown = markdown.replace(SETTINGS_MARK, settings_reference())
    for wrong in unknown_options(markdown):
        log.warning("%s: %s", page.file.src_uri, wrong)
    return markdown


_NOTEBOOK_LINK = re.compile(r'href="([\w.-]+)\.ipynb(#[^"]*)?"')
#: a tutorial's link to a page of the site, as it works in JupyterLab and on GitHub
_DOCS_LINK = re.compile(r'href="\.\./docs/([\w/.-]+)\.md(#[^"]*)?"')


def on_post_page(output: str, page: Any, config: Any) -> str:
    """A tutorial's link to another tutorial (`02-....ipynb`, as it works in JupyterLab) points
    at that tutorial's page, and one to a page of the site (`../docs/engines/duckdb.md`) at that
    page; a link to a notebook or a page that is not there fails the strict build."""
    if not page.file.src_uri.startswith("tutorials/"):
        return output
    pages = {Path(uri).stem for uri in _documentation_pages(config) if uri.endswith(".ipynb")}

    def to_page(match: re.Match[str]) -> str:
        name, anchor = match.group(1), match.group(2) or ""
        if name not in pages:
            log.warning("%s: a link to %s.ipynb, which is no tutorial", page.file.src_uri, name)
        return f'href="../{name}/{anchor}"'

    def to_docs_page(match: re.Match[str]) -> str:
        path, anchor = match.group(1), match.group(2) or ""
        if not (Path(config["docs_dir"]) / f"{path}.md").is_file():
            log.warning("%s: a link to docs/%s.md, which is no page", page.file.src_uri, path)
        return f'href="../../{path}/{anchor}"'

    output = _DOCS_LINK.sub(to_docs_page, output)
    return _NOTEBOOK_LINK.sub(to_page, output)


def _documentation_pages(config: Any) -> list[str]:
    docs = Path(config["docs_dir"])
    return [path.relative_to(docs).as_posix() for path in (docs / "tutorials").glob("*.ipynb")]
