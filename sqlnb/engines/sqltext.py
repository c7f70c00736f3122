"""What the text of SQL says before the engine runs it: statements, first keyword, parameters,
PRAGMAs.

This is lexical only: strings, quoted names and comments are skipped the way the engine's own
tokenizer skips them, which differs by engine (a `Dialect`): SQLite's strings know no
backslash escapes and its `[name]` and backticks quote names, and `sqlite3_complete()` says
where a statement ends; PostgreSQL and DuckDB have `$$...$$` and `$tag$...$tag$` strings,
`E'...'` strings with backslash escapes and nested `/* */` comments, and a statement ends where
psql ends it (not at a `;` inside brackets or a BEGIN ATOMIC ... END routine body); Spark's
strings take backslash escapes, `"..."` is a string there and backticks quote names. Only
SQLite's parameter names take `::` (`:a::b`); elsewhere `:d::date` is `:d` cast to date.
Whether a statement reads or writes is the engine's to decide (see engines/); the lexer only
finds the statements whose first keyword already settles where they must run (BEGIN, ATTACH,
PRAGMA x = y ...), by SQLite's rules unless the engine says otherwise (`Statement`), and the
parameter names a statement uses.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import UsageError

_NAME_START = r"A-Za-z_\u0080-\U0010ffff"  # a name's first character, in a [class]
_NAME_PART = r"A-Za-z0-9_\u0080-\U0010ffff"  # its others


@dataclass(frozen=True, eq=False)  # one object per dialect: hashed by identity, fast
class Dialect:
    """An engine's lexical rules: how its strings, quoted names and comments are written, and
    how its statements end. Each engine's `Backend.statements` splits with its own."""

    name: str
    #: strings: 'it''s', and x'..' blobs, always; these add to them
    backslash_strings: bool = False  # 'it\'s' and "..." strings with backslash escapes (Spark)
    escape_strings: bool = False  # E'it\'s' strings with backslash escapes (PostgreSQL, DuckDB)
    dollar_strings: bool = False  # $$...$$ and $tag$...$tag$ (PostgreSQL, DuckDB)
    #: the characters that quote a name ("`" for `name`, "[" for [name]); '"' unless "..." is a
    #: string (Spark)
    name_quotes: str = '"'
    nested_comments: bool = False  # /* a /* b */ c */ is one comment (PostgreSQL, DuckDB, Spark)
    #: a parameter's name may hold `::` (SQLite's `:a::b`, after Tcl's namespaces); elsewhere a
    #: `::` after a parameter is a cast (`:d::date`)
    colons_in_parameters: bool = False
    #: a statement ends at a `;` where SQLite's sqlite3_complete() agrees (a CREATE TRIGGER's
    #: BEGIN ... END body holds `;`); otherwise at every `;` outside a token, and these:
    sqlite_complete: bool = False
    #: ... not at a `;` inside ( ) or [ ] (psql's rule: a CREATE RULE's DO (...; ...))
    brackets_hold_semicolons: bool = False
    #: ... nor inside the BEGIN ATOMIC ... END body of a CREATE [OR REPLACE] FUNCTION or
    #: PROCEDURE (PostgreSQL's SQL-standard routine bodies, psql's rule)
    routine_bodies: bool = False
    #: the lexer's regular expression for these rules
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _pattern(self))


def _pattern(dialect: Dialect) -> re.Pattern[str]:
    """One token at a time; order matters (comments before punctuation, quoted before words).
    An unclosed string, name or comment runs to the end (`$`)."""
    if dialect.backslash_strings:
        strings = [r"'(?:[^'\\]|\\.)*(?:'|$)", r'"(?:[^"\\]|\\.)*(?:"|$)']
    else:
        strings = [r"'(?:[^']|'')*(?:'|$)"]
    strings.append(r"[xX]'[^']*(?:'|$)")
    if dialect.escape_strings:
        strings.append(r"[eE]'(?:[^'\\]|\\.|'')*(?:'|$)")
    if dialect.dollar_strings:
        strings += [r"\$\$.*?(?:\$\$|$)",
                    rf"\$(?P<tag>[{_NAME_START}][{_NAME_PART}]*)\$.*?(?:\$(?P=tag)\$|$)"]
    colons = "(?:::[A-Za-z0-9_]+)*" if dialect.colons_in_parameters else ""  # SQLite's :a::b
    quoted = []
    for quote in dialect.name_quotes:
        if quote == "[":
            quoted.append(r"\[[^\]]*(?:\]|$)")
        else:
            quoted.append(f"{quote}(?:[^{quote}]|{quote}{quote})*(?:{quote}|$)")
    return re.compile(
        rf"""
          (?P<ws>\s+)
        | (?P<comment>--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))
        | (?P<string>{"|".join(strings)})
        | (?P<quoted>{"|".join(quoted)})
        | (?P<cast>::)
        | (?P<param>\?\d*|[:@$][{_NAME_PART}]+{colons})
        | (?P<word>[{_NAME_START}][A-Za-z0-9_$\u0080-\U0010ffff]*)
        | (?P<number>\d[\w.]*|\.\d[\w]*)
        | (?P<semi>;)
        | (?P<punct>.)
        """,
        re.VERBOSE | re.DOTALL,
    )


#: SQLite: sqlite3_complete() ends statements; "name", [name] and `name`; no backslash escapes.
SQLITE = Dialect("sqlite", name_quotes='"[`', colons_in_parameters=True, sqlite_complete=True)
#: PostgreSQL's lexical rules, which DuckDB follows: $$ and $tag$ strings, E'..' escapes, nested
#: comments, "name"; statements end as psql ends them (not inside brackets or a BEGIN ATOMIC
#: body).
POSTGRES = Dialect("postgres", escape_strings=True, dollar_strings=True, nested_comments=True,
                   brackets_hold_semicolons=True, routine_bodies=True)
#: Spark SQL: 'a\'b' and "a\"b" are strings (backslash escapes), `name` is a name, comments nest.
SPARK = Dialect("spark", backslash_strings=True, name_quotes="`", nested_comments=True)


def _comment_end(sql: str, start: int) -> int:
    """Where a nested /* comment that starts at `start` ends (the end of `sql` if it does not)."""
    depth, position = 0, start
    while True:
        opening = sql.find("/*", position)
        closing = sql.find("*/", position)
        if closing < 0:
            return len(sql)
        if 0 <= opening < closing:
            depth += 1
            position = opening + 2
        else:
            depth -= 1
            position = closing + 2
            if depth == 0:
                return position


#: Transaction control: runs on the writer, outside sqlnb's own transaction.
TRANSACTION_KEYWORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})
#: Statements that must run on the writer connection, alone, outside any transaction.
ALONE_KEYWORDS = TRANSACTION_KEYWORDS | {"ATTACH", "DETACH", "VACUUM"}
#: First keywords that always change something: sent straight to the writer.
WRITE_KEYWORDS = ALONE_KEYWORDS | {
    "INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "ANALYZE", "REINDEX",
}
#: PRAGMAs that take an argument yet only read (their argument names a table or a limit).
QUERY_PRAGMAS_WITH_ARG = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
})


_ROLLBACK_TO = re.compile(r"\bTO\b", re.IGNORECASE)

#: First keywords after which the writer looks at what changed for its readers (_engine.py).
SESSION_KEYWORDS = frozenset({"ATTACH", "DETACH", "CREATE", "DROP", "ALTER"})


@dataclass(frozen=True)
class Statement:
    """One SQL statement as the lexer sees it (the derived flags are worked out once)."""

    text: str
    keyword: str  # first word, upper case ("" when there is none)
    named: tuple[str, ...]  # named parameters, without their :, @ or $
    positional: int  # how many ? parameters
    pragma: tuple[str, str | None] | None  # (name, value) for a PRAGMA statement
    #: the engine's own name for the statement's kind ("SELECT", "SET", ...), where it said one
    kind: str = ""
    #: the engine's own word on whether the statement writes (None: the first keyword decides)
    writes: bool | None = None
    #: The engine's own word on these three (an engine whose rules differ from what the first
    #: keyword says makes its Statements with them, or `dataclasses.replace`s them in); None
    #: when made: worked out from the first keyword, by SQLite's rules. After that, a bool.
    #: must run on the writer outside sqlnb's transaction (BEGIN, ATTACH, PRAGMA x=y ...)
    runs_alone: bool | None = None
    #: may change what the readers must share with the writer (PRAGMA x=y, ATTACH, CREATE ...)
    changes_session: bool | None = None
    #: ends a transaction: COMMIT, END, or ROLLBACK (not ROLLBACK TO a savepoint)
    ends_transaction: bool | None = None
    #: a PRAGMA that sets a value (PRAGMA x = y, or PRAGMA x(y) that is not a query)
    sets_pragma: bool = field(init=False)
    #: the first keyword settles it: this goes to the writer without asking a reader first
    surely_writes: bool = field(init=False)

    def __post_init__(self) -> None:
        sets_pragma = (
            self.pragma is not None
            and self.pragma[1] is not None
            and self.pragma[0].rsplit(".", 1)[-1] not in QUERY_PRAGMAS_WITH_ARG
        )
        assign = object.__setattr__  # the dataclass is frozen
        assign(self, "sets_pragma", sets_pragma)
        assign(self, "surely_writes", self.writes if self.writes is not None else (
            self.keyword in WRITE_KEYWORDS or sets_pragma))
        if self.runs_alone is None:
            assign(self, "runs_alone", self.keyword in ALONE_KEYWORDS or sets_pragma)
        if self.changes_session is None:
            assign(self, "changes_session", self.keyword in SESSION_KEYWORDS or sets_pragma)
        if self.ends_transaction is None:
            assign(self, "ends_transaction", self.keyword in ("COMMIT", "END") or (
                self.keyword == "ROLLBACK" and _ROLLBACK_TO.search(self.text) is None))


#: Keywords after which an expression starts: `LIMIT:n` is a parameter even with no space.
_BEFORE_EXPRESSION = frozenset({
    "SELECT", "WHERE", "AND", "OR", "NOT", "CASE", "WHEN", "THEN", "ELSE", "IN", "IS", "LIKE",
    "GLOB", "ILIKE", "BETWEEN", "LIMIT", "OFFSET", "VALUES", "BY", "ON", "SET", "HAVING",
    "DISTINCT", "ALL", "ESCAPE", "MATCH", "REGEXP", "RETURNING", "USING",
})


def _joins_key(kind: str, text: str, adjacent: bool) -> bool:
    """True when a `:` after this token (kind, text) joins a key to its value: a MAP or STRUCT
    literal (`{'a':1}`, `MAP {1:2}`), a lambda (`lambda x:x + 1`), a JSON path (Spark's
    `raw:owner`). No parameter can follow a string, a number, a quoted name or a closing bracket;
    after a plain word (not a keyword that starts an expression) only a `:` with no space between
    is taken for a key's."""
    if kind in ("string", "quoted", "number") or text in (")", "]", "}"):
        return True
    return kind == "word" and adjacent and text.upper() not in _BEFORE_EXPRESSION


def tokens(sql: str, dialect: Dialect = SQLITE) -> Iterator[tuple[str, int, str]]:
    """Each token of `sql` as (kind, start, text), end to end, by `dialect`'s rules: kind is
    "ws", "comment", "string", "quoted" (a quoted name), "word", "number", "param", "cast",
    "semi" or "punct". An unclosed string, name or comment runs to the end. A `:` that joins a
    key to its value (see _joins_key) is "punct", and what follows it a token of its own, so
    `{'a':x}` holds no parameter. (Package-internal: the completer of sqlnb.ipython reads a
    cell with it.)"""
    match_at = dialect.pattern.match
    nested = dialect.nested_comments
    position, end = 0, len(sql)
    last_kind, last_text, last_end = "", "", -1  # the last token that is not a blank
    while position < end:
        match = match_at(sql, position)
        kind, text = match.lastgroup, match.group()  # type: ignore[union-attr]
        if kind == "comment" and nested and text.startswith("/*"):
            text = sql[position:_comment_end(sql, position)]
        elif kind == "param" and text[0] == ":" and _joins_key(last_kind, last_text,
                                                               last_end == position):
            kind, text = "punct", ":"
        yield kind, position, text  # type: ignore[misc]
        position += len(text)
        if kind not in ("ws", "comment"):
            last_kind, last_text, last_end = kind, text, position  # type: ignore[assignment]


def _tokens(sql: str, dialect: Dialect = SQLITE) -> Iterator[tuple[str, str]]:
    for kind, _start, text in tokens(sql, dialect):
        yield kind, text


def split_name(name: str) -> tuple[str, ...]:
    """A table's name as its parts: `main.t` and `"my schema"."t"` are (schema, table), with
    SQL's quotes taken off; any other text (`my table`, with a space) is one name as it is.
    (A name with a dot in it is written quoted: `"a.b"`.)"""
    parts: list[str] = []
    expect_part = True
    for kind, _start, text in tokens(name):
        if expect_part and kind in ("word", "quoted") and (kind == "word" or _closed(text)):
            parts.append(text[1:-1].replace(text[0] * 2, text[0]) if kind == "quoted" else text)
            expect_part = False
        elif not expect_part and text == ".":
            expect_part = True
        else:
            return (name,)
    return tuple(parts) if parts and not expect_part else (name,)


def _closed(quoted: str) -> bool:
    closing = {"[": "]"}.get(quoted[0], quoted[0])
    return len(quoted) >= 2 and quoted[-1] == closing


def named_tokens(sql: str, dialect: Dialect = SQLITE) -> Iterator[tuple[int, int, str]]:
    """(start, end, text) of each named parameter (`:name`, `@name`, `$name`) in `sql`."""
    for kind, start, text in tokens(sql, dialect):
        if kind == "param" and not text.startswith("?"):
            yield start, start + len(text), text


def _analyze_one(text: str, dialect: Dialect = SQLITE) -> Statement | None:
    """The statement in `text`, or None when it holds only blanks and comments."""
    keyword = ""
    named: list[str] = []
    positional = 0
    head: list[tuple[str, str]] = []  # the first significant tokens, for PRAGMA parsing
    for kind, value in _tokens(text, dialect):
        if kind in ("ws", "comment", "semi"):
            continue
        if not keyword and kind == "word":
            keyword = value.upper()
        if len(head) < 8:
            head.append((kind, value))
        if kind == "param":
            if value.startswith("?"):
                positional += 1
            elif value[1:] not in named:
                named.append(value[1:])
    if not head:
        return None
    pragma = _pragma(head) if keyword == "PRAGMA" else None
    return Statement(text.strip(), keyword, tuple(named), positional, pragma)


def _unquote(kind: str, value: str) -> str:
    if kind == "quoted":
        return value[1:-1]
    return value


def _pragma(words: list[tuple[str, str]]) -> tuple[str, str | None]:
    """PRAGMA [schema.]name [= value | (value)] -> ("[schema.]name" lower case, value or None)."""
    rest = words[1:]
    name = ""
    if rest and rest[0][0] in ("word", "quoted"):
        name = _unquote(*rest[0]).lower()
        rest = rest[1:]
        if len(rest) >= 2 and rest[0] == ("punct", ".") and rest[1][0] in ("word", "quoted"):
            name = f"{name}.{_unquote(*rest[1]).lower()}"
            rest = rest[2:]
    value = None
    if rest and rest[0][1] in ("=", "("):
        parts = [v for _k, v in rest[1:] if v != ")"]
        value = "".join(parts) if parts else ""
    return name, value


@lru_cache(maxsize=512)
def split(sql: str, dialect: Dialect = SQLITE) -> tuple[Statement, ...]:
    """The statements of `sql`, in order, each analyzed; blank and comment-only pieces dropped.

    A statement ends at a `;` outside a string, a quoted name or a comment, by `dialect`'s
    rules; with SQLite's, only where SQLite's own `sqlite3_complete()` agrees it is complete,
    so a CREATE TRIGGER body does not split it either.
    """
    if "\x00" in sql:
        raise UsageError("the SQL holds a NUL character (\\x00), which SQL text cannot hold: "
                         "remove it, or pass the value as a parameter")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UsageError(f"the SQL holds text that is not valid Unicode ({error.reason} at "
                         f"character {error.start}): fix the text") from None
    pieces = []
    start = 0
    complete = dialect.sqlite_complete
    brackets, bodies = dialect.brackets_hold_semicolons, dialect.routine_bodies
    depth = 0  # brackets open (brackets_hold_semicolons)
    body = 0  # BEGIN ATOMIC ... END blocks open, and CASE ... END inside them (routine_bodies)
    words: list[str] = []  # the statement's first words (routine_bodies)
    for kind, at, text in tokens(sql, dialect):
        if kind == "semi":
            if depth or body or (complete and not sqlite3.complete_statement(sql[start:at + 1])):
                continue
            pieces.append(sql[start:at + 1])
            start, words = at + 1, []
        elif brackets and kind == "punct" and text in "()[]":
            depth = depth + 1 if text in "([" else max(depth - 1, 0)
        elif bodies and kind == "word":
            word = text.upper()
            if len(words) < 4:
                words.append(word)
            body = _routine_depth(words, word, body)
    pieces.append(sql[start:])
    return tuple(s for s in (_analyze_one(piece, dialect) for piece in pieces) if s is not None)


def _routine_depth(words: list[str], word: str, depth: int) -> int:
    """The depth of BEGIN ATOMIC ... END blocks after `word`, in a statement whose first words
    are `words`: a BEGIN opens one in CREATE [OR REPLACE] FUNCTION|PROCEDURE (elsewhere BEGIN
    starts a transaction), a CASE inside one opens one too (its END closes it), END closes."""
    if word == "BEGIN" and words[0] == "CREATE" and (
            "FUNCTION" in words[1:4] or "PROCEDURE" in words[1:4]):
        return depth + 1
    if depth and word == "CASE":
        return depth + 1
    if depth and word == "END":
        return depth - 1
    return depth


def single(sql: str, dialect: Dialect = SQLITE) -> Statement:
    """The one statement in `sql`, or a UsageError if it holds none or several."""
    if not isinstance(sql, str):
        raise UsageError(f"SQL must be a str, not {type(sql).__name__}")
    statements = split(sql, dialect)
    if not statements:
        raise UsageError("the SQL is empty (only blanks or comments): give a statement to run")
    if len(statements) > 1:
        raise UsageError(
            f"this call runs one statement, and the SQL holds {len(statements)}: run them one by "
            "one, or use execute_write_script() for a script"
        )
    return statements[0]


def check_params(statement: Statement, params: object) -> None:
    """Name the problem when `params` do not fit the statement's placeholders."""
    if params is None or type(params) in (tuple, list):
        return
    if isinstance(params, Mapping):
        extra = [key for key in params if key not in statement.named]
        if extra:
            used = ", ".join(f":{n}" for n in statement.named) or "no named parameters"
            raise UsageError(
                f"parameter {extra[0]!r} is not used by the SQL (it uses {used}): "
                "drop it or fix its name"
            )
    elif isinstance(params, (str, bytes)) or not hasattr(params, "__len__"):
        raise UsageError(
            f"params must be a sequence (for ?) or a dict (for :name), not {type(params).__name__}"
        )
