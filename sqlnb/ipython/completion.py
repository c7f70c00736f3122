"""Tab completion inside SQL: in a `%%sql` cell, and after `%sql` on a line.

The kernel completes (IPython's completer, through a matcher registered by `%load_ext sqlnb`),
so it works alike in JupyterLab, Notebook 7, VS Code and terminal IPython. Inside SQL it offers
what fits where the cursor is: the database's tables and views where a table's name comes (after
FROM, JOIN, INTO, UPDATE, TABLE); after `alias.` that table's columns; at the start of a
statement its keywords; elsewhere, in this order, the columns of the tables the statement names,
the engine's functions (not its internal ones, named `_...`, unless typed), then its keywords.
Each name comes once, and nothing of Python's (other matchers are suppressed). The matcher says
its list is ordered, so IPython keeps that order instead of sorting it.

The names come from `Database.catalog()`, which the Database keeps until a statement through it
changes the schema. The completer waits for a fresh read at most `WAIT` seconds (a huge catalog,
or a pool busy with long queries, must not hold the kernel); the read then goes on under its own
time limit and the next Tab uses it, while this one uses the last catalog it had.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..engines.sqltext import tokens
from ..results import Catalog

if TYPE_CHECKING:
    import sqlnb

#: Seconds a Tab waits for the catalog before it completes from what it had.
WAIT = 0.5
#: The time limit of a catalog read that a Tab starts.
CATALOG_LIMIT = 10.0

#: Keywords after which a table's name comes.
TABLE_KEYWORDS = frozenset({"FROM", "JOIN", "INTO", "UPDATE", "TABLE", "DESCRIBE"})
#: Words that end a table reference in FROM (so they are not taken for an alias).
_NOT_ALIAS = frozenset({
    "WHERE", "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL", "ON", "USING",
    "GROUP", "ORDER", "HAVING", "LIMIT", "OFFSET", "UNION", "EXCEPT", "INTERSECT", "WINDOW",
    "SET", "VALUES", "SELECT", "DEFAULT", "AS", "WITH", "RETURNING", "QUALIFY", "LATERAL",
    "SAMPLE", "TABLESAMPLE", "PIVOT", "UNPIVOT", "POSITIONAL", "ASOF", "ANTI", "SEMI", "BY",
})
_LINE_MAGIC = re.compile(r"(?:^|(?<=[\s=(]))%sql(?=\s|$)|^[ \t]*%sqlnb\s+explain(?=\s|$)",
                         re.MULTILINE)
#: `%sqlnb` commands that take a table (and plot, then a column), up to the cursor
_TABLE_COMMAND = re.compile(r"\s*%sqlnb\s+(?:schema|profile|plot\s+\w+)\s+([^\s-]\S*|)$")
_COLUMN_COMMAND = re.compile(r"\s*%sqlnb\s+plot\s+\w+\s+(\S+)\s+([^\s-]\S*|)$")
_CELL_MAGIC = re.compile(r"\s*%%sql(?=\s|$)")
_OPTION = re.compile(r"\s*(--?[A-Za-z][\w-]*)")
_TARGET = re.compile(r"\s*[A-Za-z_]\w*\s*<<")


@dataclass(frozen=True)
class SqlSpot:
    """Where the cursor is in a magic's SQL: the SQL, the cursor's offset in it, and the
    database the magic runs on (its --db, else None for the current one)."""

    sql: str
    offset: int
    db: str | None


def find_sql(text: str, offset: int) -> SqlSpot | None:
    """The SQL around `offset` in a cell's `text`, or None when the cursor is not in SQL."""
    cell = _CELL_MAGIC.match(text)
    if cell is not None:
        first_end = text.find("\n")
        first_end = len(text) if first_end < 0 else first_end
        start, db = _after_options(text, cell.end(), first_end)
        if start == first_end:  # nothing after the options: the SQL is the cell's body
            start = min(first_end + 1, len(text))
        if offset < start:
            return None
        return SqlSpot(text[start:], offset - start, db)
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    for match in _LINE_MAGIC.finditer(text, line_start, line_end):
        start, db = _after_options(text, match.end(), line_end)
        if start <= offset:
            return SqlSpot(text[start:line_end], offset - start, db)
    return None


def _after_options(text: str, pos: int, end: int) -> tuple[int, str | None]:
    """Skip a magic's options and `VAR <<` on its line: where the SQL starts, and --db's value."""
    db = None
    while (option := _OPTION.match(text, pos, end)) is not None:
        pos = option.end()
        if option.group(1) in ("--db", "--time-limit"):
            value = re.compile(r"\s*(\S+)").match(text, pos, end)
            if value is not None:
                pos = value.end()
                if option.group(1) == "--db":
                    db = value.group(1)
    target = _TARGET.match(text, pos, end)
    if target is not None:
        pos = target.end()
    while pos < end and text[pos] in " \t":
        pos += 1
    return pos, db


@dataclass(frozen=True)
class Suggestions:
    """What to offer: the fragment before the cursor that the choices replace, and the choices
    as (text, type) with type "column", "table", "function" or "keyword"."""

    fragment: str
    choices: tuple[tuple[str, str], ...]


#: What reads SQL into tokens: (kind, start, text) for each (`Database.tokens`).
Lexer = Callable[[str], Iterable[tuple[str, int, str]]]


def suggest(sql: str, offset: int, catalog: Catalog,
            quote: Callable[[str], str] = lambda name: '"' + name.replace('"', '""') + '"',
            lexer: Lexer = tokens) -> Suggestions | None:
    """The completions at `offset` in `sql`; None inside a string or a comment (not SQL's to
    complete). `quote` quotes a name the engine's way (`Database.quote_identifier`: Spark's
    with backticks); `lexer` reads the SQL as the engine does (`Database.tokens`: its strings,
    `$$...$$` on PostgreSQL and DuckDB; SQLite's rules without one)."""
    statement = _statement_at(sql, offset, lexer)
    before = [t for t in statement if t[1] < offset]
    fragment, prefix, quoted = "", "", False
    if before:
        kind, start, text = before[-1]
        end = start + len(text)
        if kind in ("string", "comment") and (end > offset or not _closed(kind, text)):
            return None
        if kind == "word" and end >= offset:
            fragment = prefix = text[: offset - start]
            before.pop()
        elif kind == "quoted" and end >= offset and not _closed(kind, text[: offset - start]):
            fragment, prefix, quoted = text[: offset - start], text[1: offset - start], True
            before.pop()
    significant = [t for t in before if t[0] not in ("ws", "comment")]
    tables = _named_tables(statement, catalog)
    names: list[tuple[str, str]] = []
    if len(significant) >= 2 and significant[-1][2] == ".":
        qualifier = _name(significant[-2])
        table = tables.get(qualifier.lower()) or _table(catalog, qualifier)
        if table is not None:
            names = [(c, "column") for c in catalog.tables[table]]
        else:  # a schema's name: its tables
            names = [(t, "table") for t in catalog.tables]
    elif _table_expected(significant):
        names = [(t, "table") for t in catalog.tables]
    else:
        lower = prefix.islower()
        if significant:  # an expression: the statement's columns, functions, then keywords
            for table in dict.fromkeys(tables.values()):
                names += [(c, "column") for c in catalog.tables[table]]
            internal = not prefix.startswith("_")  # DuckDB's __internal_..., unless typed
            # a function that is a keyword too (replace, Spark's and) comes once, as a function,
            # in capitals when they are typed: AN gives AND
            both = set(catalog.functions) & {k.lower() for k in catalog.keywords}
            upper = prefix.isupper()
            names += [(f.upper() if upper and f in both else f, "function")
                      for f in catalog.functions if not (internal and f.startswith("_"))]
        names += [(k.lower() if lower else k, "keyword") for k in catalog.keywords]
    wanted = prefix.lower()
    reserved = catalog.reserved
    # each name once (an unquoted name is case-insensitive: the function replace and the
    # keyword REPLACE are one), as the kind it came first as
    choices: dict[str, tuple[str, str]] = {}
    for name, kind in names:
        if name.lower().startswith(wanted):
            text = quote(name) if kind in ("column", "table") and (
                quoted or not _plain(name, reserved)) else name
            choices.setdefault(text if text != name else text.lower(), (text, kind))
    return Suggestions(fragment, tuple(choices.values()))


def _statement_at(sql: str, offset: int, lexer: Lexer) -> list[tuple[str, int, str]]:
    """The tokens of the statement the cursor is in (statements end at `;`)."""
    statement: list[tuple[str, int, str]] = []
    for token in lexer(sql):
        if token[0] == "semi":
            if token[1] >= offset:
                break
            statement = []
        else:
            statement.append(token)
    return statement


def _closed(kind: str, text: str) -> bool:
    """Whether a string, quoted name or comment token ends before the text does."""
    if kind == "comment":
        return text.endswith("\n") or (text.startswith("/*") and text.endswith("*/")
                                       and len(text) >= 4)
    return len(text) >= 2 and text[-1] == {"[": "]"}.get(text[0], text[0])


def _name(token: tuple[str, int, str]) -> str:
    kind, _start, text = token
    return text[1:-1] if kind == "quoted" else text


def _table(catalog: Catalog, name: str) -> str | None:
    """The catalog's table of that name, matched as SQL does (case-insensitively)."""
    if name in catalog.tables:
        return name
    lower = name.lower()
    return next((t for t in catalog.tables if t.lower() == lower), None)


def _table_expected(significant: list[tuple[str, int, str]]) -> bool:
    """Whether a table's name comes next: after FROM/JOIN/..., or after a comma in FROM."""
    if not significant:
        return False
    kind, _start, text = significant[-1]
    if kind == "word":
        if text.upper() == "ON":  # CREATE INDEX name ON table (else ON is a join's condition)
            words = [t[2].upper() for t in significant if t[0] == "word"]
            return words[0] == "CREATE" and "INDEX" in words
        return text.upper() in TABLE_KEYWORDS
    if text != ",":
        return False
    depth = 0
    for kind, _start, text in reversed(significant[:-1]):
        if text == ")":
            depth += 1
        elif text == "(":
            if depth == 0:
                return False
            depth -= 1
        elif depth == 0 and kind == "word" and text.upper() in _CLAUSES:
            return text.upper() == "FROM"
    return False


_CLAUSES = frozenset({"SELECT", "FROM", "WHERE", "GROUP", "ORDER", "HAVING", "SET", "VALUES",
                      "ON", "USING", "LIMIT", "RETURNING", "JOIN", "WINDOW"})


def _named_tables(statement: list[tuple[str, int, str]], catalog: Catalog) -> dict[str, str]:
    """The catalog's tables the statement names, by each name and alias it uses (lower case)."""
    found: dict[str, str] = {}
    significant = [t for t in statement if t[0] not in ("ws", "comment")]
    for i, token in enumerate(significant):
        if not (token[0] == "word" and token[2].upper() in TABLE_KEYWORDS) and not (
                token[2] == "," and _table_expected(significant[: i + 1])):
            continue
        j = i + 1
        while j + 2 < len(significant) and significant[j + 1][2] == ".":  # schema.table
            j += 2
        if j >= len(significant) or significant[j][0] not in ("word", "quoted"):
            continue
        table = _table(catalog, _name(significant[j]))
        if table is None:
            continue
        found[table.lower()] = table
        alias = significant[j + 1: j + 3]
        if alias and alias[0][0] == "word" and alias[0][2].upper() == "AS":
            alias = alias[1:]
        if alias and alias[0][0] in ("word", "quoted") and (
                alias[0][0] == "quoted" or alias[0][2].upper() not in _NOT_ALIAS):
            found[_name(alias[0]).lower()] = table
    return found


def _plain(name: str, reserved: set[str] | frozenset[str] = frozenset()) -> bool:
    """A name that needs no quotes: letters, digits and _, not starting with a digit, and not
    one of the engine's keywords (a column named `order` must be written "order")."""
    return name.isidentifier() and name.isascii() and name.upper() not in reserved


# -- the IPython side ------------------------------------------------------------------------------
class Completer:
    """The matcher IPython calls on Tab; `databases(name)` gives the magics' Database (the
    current one for None), or None when it cannot."""

    def __init__(self, database: Callable[[str | None], sqlnb.Database | None]) -> None:
        self._database = database
        #: the last catalog each Database gave, for a Tab that cannot wait for a fresh one
        self._last: weakref.WeakKeyDictionary[sqlnb.Database, Catalog] = (
            weakref.WeakKeyDictionary())

    def prefetch(self, db: sqlnb.Database) -> sqlnb.QueryHandle | None:
        """Start reading `db`'s catalog (the Database keeps it; a read already under way is
        joined), so that a first Tab finds it; None if the Database cannot read it now."""
        try:
            handle = db.catalog(time_limit=CATALOG_LIMIT, block=False)
        except Exception:  # a closed database: not Tab's to raise
            return None
        ref = weakref.ref(db)
        handle.add_done_callback(lambda done: self._keep(ref(), done))  # type: ignore[union-attr]
        return handle  # type: ignore[return-value]

    def _keep(self, db: sqlnb.Database | None, handle: sqlnb.QueryHandle) -> None:
        if db is not None and handle.exception() is None:
            self._last[db] = handle.result()

    def catalog(self, db: sqlnb.Database) -> Catalog | None:
        """The Database's catalog, waiting at most WAIT seconds; else the last one read."""
        handle = self.prefetch(db)
        if handle is not None and handle.wait(WAIT) and handle.exception() is None:
            self._last[db] = handle.result()
        return self._last.get(db)

    def complete(self, text: str, offset: int) -> Suggestions | None:
        """The suggestions at `offset` in a cell's `text`, or None when it is not in SQL (nor
        at a table or column of `%sqlnb schema|profile|plot`)."""
        line = text[text.rfind("\n", 0, offset) + 1: offset]
        named = _TABLE_COMMAND.match(line) or _COLUMN_COMMAND.match(line)
        spot = None if named is not None else find_sql(text, offset)
        if named is None and spot is None:
            return None
        catalog = self._catalog_of(spot.db if spot is not None else None)
        if catalog is None:
            return Suggestions("", ())
        if spot is not None:
            db = self._database(spot.db)
            if db is None:
                return suggest(spot.sql, spot.offset, catalog)
            return suggest(spot.sql, spot.offset, catalog, db.quote_identifier, db.tokens)
        prefix = named.group(named.lastindex or 1)
        if named.re is _TABLE_COMMAND:
            names = list(catalog.tables)
            kind = "table"
        else:
            table = _table(catalog, named.group(1))
            names = list(catalog.tables[table]) if table is not None else []
            kind = "column"
        return Suggestions(prefix, tuple((n, kind) for n in names
                                         if n.lower().startswith(prefix.lower())))

    def _catalog_of(self, name: str | None) -> Catalog | None:
        try:
            db = self._database(name)
        except Exception:  # no such database: nothing to offer
            return None
        return None if db is None else self.catalog(db)

    def matcher(self) -> Callable[[Any], dict[str, Any]]:
        """The IPython (API v2) matcher: the suggestions, with every other matcher suppressed
        while the cursor is in SQL."""
        from IPython.core.completer import SimpleCompletion, context_matcher

        @context_matcher(identifier="sqlnb.sql", priority=100)
        def sql_matcher(context: Any) -> dict[str, Any]:
            lines = context.full_text.split("\n")
            offset = sum(len(line) + 1 for line in lines[: context.cursor_line])
            found = self.complete(context.full_text, offset + context.cursor_position)
            if found is None:
                return {"completions": [], "suppress": False}
            choices: Iterable[tuple[str, str]] = found.choices
            if not found.choices:  # keep Python's names out of SQL: Tab leaves the text be
                choices = [(found.fragment, "sql")]
            return {"completions": [SimpleCompletion(text, type=kind) for text, kind in choices],
                    "matched_fragment": found.fragment, "suppress": True, "ordered": True}

        return sql_matcher

