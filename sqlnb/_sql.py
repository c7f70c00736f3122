"""What a statement means, where sqlnb needs more than its lexer: parsed by sqlglot, in the
engine's dialect (`Backend.sqlglot_dialect`).

Used for the tables a statement reads (named results' dependencies, DataFrames in FROM), whether
its answer can change without a write (non-deterministic functions, files read: the cache), a
chain of named results written as one query with CTEs, and formatting. A statement the parser
cannot read (or reads only as an opaque command) is None here: every caller then does without
(the statement runs as it is, is not cached, is not formatted). sqlglot is imported at first use.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot import exp

#: sqlglot's classes of functions whose answer changes from one call to the next, whatever the
#: data: random values, the clock, the session (resolved by name at first use)
_VOLATILE_CLASSES = (
    "Rand", "Randn", "Randstr", "Uuid", "CurrentTimestamp", "CurrentTimestampLTZ",
    "CurrentDate", "CurrentDatetime", "CurrentTime", "Localtime", "Localtimestamp",
    "UtcTimestamp", "UtcDate", "UtcTime", "CurrentUser", "SessionUser", "CurrentSession",
    "CurrentTransaction", "CurrentStatement", "CurrentRole", "CurrentSchema",
    "CurrentCatalog", "CurrentDatabase", "CurrentTimezone",
)
#: Functions sqlglot may not know (it keeps them by name) that are not deterministic in many
#: SQL dialects: the clock, sequences, random values. An engine adds its own
#: (Backend.volatile_functions), so that an engine added later is safe from the common ones.
VOLATILE_NAMES = frozenset({
    "now", "random", "rand", "uuid", "gen_random_uuid", "nextval", "currval", "setval",
    "setseed",
})
#: Arguments that make a date function read the clock (SQLite's date('now'), ...).
_NOW_WORDS = frozenset({"now", "today", "tomorrow", "yesterday"})


@functools.lru_cache(maxsize=512)
def parse(sql: str, dialect: str) -> exp.Expression | None:
    """The one statement of `sql` as sqlglot reads it in `dialect`, or None: it does not
    parse, holds several statements, or sqlglot keeps it as an opaque command. Shared: copy
    it (`.copy()`) before changing it."""
    import sqlglot
    from sqlglot import exp

    try:
        trees = sqlglot.parse(sql, read=dialect or None)
    except Exception:  # ParseError, TokenError, and the odd crash on exotic input
        return None
    trees = [tree for tree in trees if tree is not None]
    if len(trees) != 1 or isinstance(trees[0], exp.Command):
        return None
    return trees[0]


def is_query(tree: exp.Expression | None) -> bool:
    """True for a statement that gives rows: SELECT, a set operation, VALUES, WITH ... SELECT."""
    from sqlglot import exp

    return isinstance(tree, (exp.Query, exp.Values))


def cte_names(tree: exp.Expression) -> set[str]:
    """The names the statement's WITH clauses define (lower case)."""
    from sqlglot import exp

    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def tables_read(tree: exp.Expression) -> list[str]:
    """The plain (unqualified) names the statement reads as tables, in order, each once: in
    FROM and JOIN, subqueries too, but not the names its own WITH defines."""
    from sqlglot import exp

    defined = cte_names(tree)
    found: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or table.args.get("db") or \
                table.args.get("catalog"):
            continue
        name = table.name
        if name and name.lower() not in defined:
            found.setdefault(name.lower(), name)
    return list(found.values())


def unknowable(tree: exp.Expression, dialect: str,
               volatile_names: Iterable[str] = ()) -> str | None:
    """Why the statement's answer may change with no write to the database, or None when
    only data can change it: a non-deterministic function (`random()`, `now()`, SQLite's
    `date('now')`), or a table function or file it reads (`read_csv(...)`, `'data.parquet'`).
    The words say what was found ("random() is not deterministic")."""
    from sqlglot import exp

    classes = tuple(c for c in (getattr(exp, name, None) for name in _VOLATILE_CLASSES)
                    if isinstance(c, type))
    names = VOLATILE_NAMES | {n.lower() for n in volatile_names}
    for node in tree.walk():
        if isinstance(node, classes):
            return f"{_function_name(node, dialect)}() is not deterministic"
        if isinstance(node, exp.Func):
            name = _function_name(node, dialect)
            if name in names:
                return f"{name}() is not deterministic"
            if any(isinstance(arg, exp.Literal) and arg.is_string
                   and arg.this.strip().lower() in _NOW_WORDS for arg in node.iter_expressions()):
                return f"{name}('now') reads the clock"
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            return "it reads a table function or a file, which can change without a write"
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) and \
                node.this.quoted and _looks_like_file(node.name):
            return f"it reads the file {node.name!r}, which can change without a write"
    return None


def _looks_like_file(name: str) -> bool:
    """DuckDB reads `FROM 'data.csv'`: a quoted name ending in a file's suffix."""
    return name.lower().rsplit(".", 1)[-1] in {"csv", "tsv", "parquet", "json", "ndjson",
                                               "jsonl", "gz", "zst", "txt", "arrow", "xlsx"}


def _function_name(node: exp.Expression, dialect: str) -> str:
    """A function's name as the dialect writes it, lower case (SQLite's random, not RAND)."""
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    try:
        text = node.sql(dialect=dialect or None)
    except Exception:
        text = type(node).__name__
    return text.split("(", 1)[0].strip().lower() or type(node).__name__.lower()


# -- named results as one query -------------------------------------------------------------------

@dataclass(frozen=True)
class Saved:
    """A named result: its name, its SQL, the saved names it reads (`depends`), the other
    tables it reads, and what the engine holds it as ("view" or "table")."""

    name: str
    sql: str
    depends: tuple[str, ...]
    reads: tuple[str, ...] = ()
    kind: str = "view"


def chain_order(name: str, saved: Mapping[str, Saved]) -> list[Saved]:
    """`name` and every saved result it reads, directly or not, each after what it reads."""
    order: list[Saved] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        entry = saved[key]
        for dep in entry.depends:
            if dep.lower() in saved:
                visit(dep.lower())
        order.append(entry)

    visit(name.lower())
    return order


def expand(name: str, saved: Mapping[str, Saved], dialect: str) -> str:
    """The named result `name` as one query: each saved result it reads, directly or not, a
    CTE before it (in dependency order), written pretty in `dialect`. A UsageError when the
    parser cannot read one of them."""
    from sqlglot import exp

    from .errors import UsageError

    order = chain_order(name, saved)
    trees = []
    for entry in order:
        tree = parse(entry.sql, dialect)
        if tree is None or not is_query(tree):
            raise UsageError(f"{entry.name}'s SQL is not a query sqlglot can read in the "
                             f"{dialect or 'generic'} dialect, so the chain cannot be written "
                             "as one query")
        trees.append(tree.copy())
    final = trees.pop()
    ctes = [exp.CTE(this=tree, alias=exp.TableAlias(this=exp.to_identifier(entry.name)))
            for entry, tree in zip(order, trees)]
    key = "with_" if "with_" in final.arg_types else "with"
    existing = final.args.get(key)
    if ctes:
        final.set(key, exp.With(expressions=ctes + (list(existing.expressions) if existing
                                                    else []),
                                recursive=existing.args.get("recursive") if existing else None))
    return generate(final, dialect)


# -- writing SQL back ------------------------------------------------------------------------------

def generate(tree: exp.Expression, dialect: str, *, pretty: bool = True) -> str:
    """`tree` as SQL of `dialect`, with `:name` parameters written as they were (a dialect's
    generator would write PostgreSQL's `%(name)s`), comments kept."""
    from sqlglot import exp

    tree = tree.copy()
    for placeholder in list(tree.find_all(exp.Placeholder)):
        name = placeholder.name
        if name and name != "?":
            written = exp.var(f":{name}")
            written.comments = placeholder.comments  # (a comment after it stays)
            placeholder.replace(written)
    return tree.sql(dialect=dialect or None, pretty=pretty, comments=True)


def format_statement(sql: str, dialect: str) -> str | None:
    """One statement written pretty in `dialect` (its comments kept), or None when the parser
    cannot read it (it is then left as it is)."""
    tree = parse(sql.strip().rstrip(";").rstrip(), dialect)
    if tree is None:
        return None
    return generate(tree, dialect)
