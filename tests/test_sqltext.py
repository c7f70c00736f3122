"""The SQL lexer (sqlnb/engines/sqltext.py): splitting scripts into statements, the first keyword,
parameter names and counts, PRAGMA parsing, which statements run alone or surely write, single()
and check_params(); plus an end-to-end check through a real Database that a write the text does
not reveal (WITH ... INSERT) still reaches the writer, and that PRAGMA table_info() reads.
"""

from __future__ import annotations

import dataclasses

import pytest

import sqlnb
from sqlnb.engines import sqltext as _sqltext
from sqlnb.engines.sqltext import check_params, single, split


def texts(sql: str) -> list[str]:
    return [s.text for s in split(sql)]


# -- split() ----------------------------------------------------------------------------------

def test_split_plain_statements():
    assert texts("SELECT 1; SELECT 2;SELECT 3") == ["SELECT 1;", "SELECT 2;", "SELECT 3"]


@pytest.mark.parametrize("sql", [
    "SELECT 'a;b', 'it''s; here'",
    "SELECT x'3b3b'",
    'SELECT "odd;name" FROM t',
    "SELECT [odd;name] FROM t",
    "SELECT `odd;name` FROM t",
    "SELECT 1 -- a comment; with a semicolon\n + 2",
    "SELECT 1 /* a ; block ; comment */ + 2",
])
def test_semicolon_inside_a_token_does_not_split(sql):
    assert texts(sql + "; SELECT 9") == [sql + ";", "SELECT 9"]


def test_trigger_body_is_one_statement():
    trigger = (
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  INSERT INTO log VALUES (new.id, 'a;b');\n"
        "  UPDATE u SET n = CASE WHEN n > 1 THEN 0 ELSE n END;\n"
        "END;"
    )
    statements = split(trigger + "\nSELECT 1;")
    assert [s.text for s in statements] == [trigger, "SELECT 1;"]
    assert [s.keyword for s in statements] == ["CREATE", "SELECT"]


def test_blank_and_comment_only_pieces_are_dropped():
    assert split("") == ()
    assert split("   \n\t ") == ()
    assert split(";;  ;") == ()
    assert split("-- nothing here\n/* nor here */") == ()
    assert texts("SELECT 1; ; -- trailing comment\n  ;\n/* end */") == ["SELECT 1;"]


def test_first_keyword_skips_leading_comments():
    (statement,) = split("-- about this\n/* and\n that */  select 1")
    assert statement.keyword == "SELECT"
    assert split("  insert into t values (1)")[0].keyword == "INSERT"
    assert split("with x as (select 1) select * from x")[0].keyword == "WITH"


# -- parameters -------------------------------------------------------------------------------

def test_named_parameters_in_order_without_repeats():
    statement = single("SELECT :a, @b, $c, :a, :a_1 FROM t WHERE x = @b")
    assert statement.named == ("a", "b", "c", "a_1")
    assert statement.positional == 0


def test_positional_parameters_are_counted():
    assert single("SELECT ?, ?").positional == 2
    assert single("SELECT ?, ?2").positional == 2
    assert single("SELECT ?1").positional == 1
    assert single("SELECT 1").positional == 0
    assert single("SELECT 1").named == ()


def test_parameters_inside_strings_comments_and_names_are_ignored():
    sql = ("SELECT ':x', '?', \"@y\", [$z] -- :c ?\n"
           "/* :d @e $f ? */ FROM t WHERE a = :real AND b = ?")
    statement = single(sql)
    assert statement.named == ("real",)
    assert statement.positional == 1


@pytest.mark.parametrize(("sql", "named"), [
    # a `:` right after a key (a string, a name, a number, a closing bracket) joins it to its
    # value: DuckDB's MAP and STRUCT literals, DuckDB's lambdas, Spark's JSON paths
    ("SELECT MAP {'a':1} AS m", ()),
    ("SELECT MAP {'a' :1} AS m", ()),
    ("SELECT {'a':x, 'b':y} FROM t", ()),
    ('SELECT {"a":1}', ()),
    ("SELECT MAP {1:2, 3:4}", ()),
    ("SELECT {a:1}", ()),
    ("SELECT list_transform(l, lambda x:x + 1) FROM t", ()),
    ("SELECT raw:owner FROM t", ()),
    ("SELECT f(x):a FROM t", ()),
    # after an operator, a bracket that opens, a comma or a keyword, it is a parameter
    ("SELECT {'k': :name}", ("name",)),
    ("SELECT {'k'::VARCHAR: :v}", ("v",)),
    ("SELECT MAP {:key: :value}", ("key", "value")),
    ("SELECT * FROM t WHERE a=:x AND b = :y OR c IN (:z,:w)", ("x", "y", "z", "w")),
    ("SELECT:a, 1+:b, -:c", ("a", "b", "c")),
    ("SELECT * FROM t LIMIT:n OFFSET :m", ("n", "m")),
    ("SELECT CASE WHEN:p THEN:q ELSE:r END", ("p", "q", "r")),
    ("SELECT 'a' || :s", ("s",)),
])
def test_a_colon_that_joins_a_key_to_its_value_is_no_parameter(sql, named):
    assert single(sql).named == named


def test_duckdb_map_and_struct_literals_keep_their_colons(tmp_path):
    """A `:` after a key was made a parameter (`{'a':1}` became `{'a'$1}`: DuckDB's parser
    error), and a value named like a Python variable was bound from the notebook (issue 19)."""
    with sqlnb.connect(tmp_path / "maps.duckdb") as db:
        frame = db.query("SELECT MAP {'a':1} AS m, {'k':2, 'j': 3} AS s, "
                         "list_transform([1, 2], lambda x:x + 1) AS l")
        assert dict(frame["m"][0]) == {"a": 1}
        assert frame["s"][0] == {"k": 2, "j": 3}
        assert list(frame["l"][0]) == [2, 3]
        frame = db.query("SELECT {'k': :name} AS s, MAP {'a':x} AS m FROM (SELECT 7 AS x)",
                         {"name": 5})
        assert frame["s"][0] == {"k": 5} and dict(frame["m"][0]) == {"a": 7}


# -- PRAGMA -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("sql", "pragma", "sets"), [
    ("PRAGMA foreign_keys = ON", ("foreign_keys", "ON"), True),
    ("PRAGMA main.cache_size=100", ("main.cache_size", "100"), True),
    ('PRAGMA "main"."cache_size" = -2000', ("main.cache_size", "-2000"), True),
    ("pragma user_version(3)", ("user_version", "3"), True),
    ("PRAGMA journal_mode = wal", ("journal_mode", "wal"), True),
    ("pragma table_info(t)", ("table_info", "t"), False),
    ("PRAGMA main.table_info(t)", ("main.table_info", "t"), False),
    ("PRAGMA index_list('t')", ("index_list", "'t'"), False),
    ("PRAGMA foreign_keys", ("foreign_keys", None), False),
    ("PRAGMA Main.Cache_Size", ("main.cache_size", None), False),
])
def test_pragma_parsing(sql, pragma, sets):
    statement = single(sql)
    assert statement.keyword == "PRAGMA"
    assert statement.pragma == pragma
    assert statement.sets_pragma is sets
    assert statement.runs_alone is sets
    assert statement.surely_writes is sets


def test_non_pragma_has_no_pragma():
    assert single("SELECT 1").pragma is None
    assert single("SELECT 1").sets_pragma is False


# -- runs_alone / surely_writes ---------------------------------------------------------------

@pytest.mark.parametrize(("sql", "alone", "writes"), [
    ("BEGIN", True, True),
    ("BEGIN IMMEDIATE", True, True),
    ("COMMIT", True, True),
    ("END", True, True),
    ("ROLLBACK", True, True),
    ("SAVEPOINT s", True, True),
    ("RELEASE s", True, True),
    ("ATTACH 'other.db' AS other", True, True),
    ("DETACH other", True, True),
    ("VACUUM", True, True),
    ("INSERT INTO t VALUES (1)", False, True),
    ("REPLACE INTO t VALUES (1)", False, True),
    ("UPDATE t SET x = 1", False, True),
    ("DELETE FROM t", False, True),
    ("CREATE TABLE t (x)", False, True),
    ("DROP TABLE t", False, True),
    ("ALTER TABLE t ADD COLUMN y", False, True),
    ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", False, False),
    ("WITH x AS (SELECT 1) SELECT * FROM x", False, False),
    ("SELECT 1", False, False),
    ("VALUES (1)", False, False),
    ("EXPLAIN QUERY PLAN SELECT 1", False, False),
    ("PRAGMA foreign_keys = ON", True, True),
    ("PRAGMA foreign_keys", False, False),
    ("PRAGMA table_info(t)", False, False),
])
def test_runs_alone_and_surely_writes(sql, alone, writes):
    statement = single(sql)
    assert statement.runs_alone is alone
    assert statement.surely_writes is writes
    lower = single(sql.lower())
    assert (lower.runs_alone, lower.surely_writes) == (alone, writes)


@pytest.mark.parametrize(("sql", "ends"), [
    ("COMMIT", True), ("end transaction", True), ("ROLLBACK", True), ("rollback transaction", True),
    ("ROLLBACK TO sp", False), ("rollback transaction to savepoint sp", False),
    ("BEGIN", False), ("RELEASE sp", False), ("SELECT 'commit'", False),
])
def test_ends_transaction(sql, ends):
    assert single(sql).ends_transaction is ends


# -- single() and check_params() --------------------------------------------------------------

@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", "/* c */ ;", ";"])
def test_single_refuses_empty_sql(sql):
    with pytest.raises(sqlnb.UsageError, match="empty"):
        single(sql)


def test_single_refuses_several_statements():
    with pytest.raises(sqlnb.UsageError, match="holds 2"):
        single("SELECT 1; SELECT 2")
    with pytest.raises(sqlnb.UsageError, match="holds 3"):
        single("SELECT 1; SELECT 2; SELECT ';'")


def test_single_accepts_one_statement_with_trailing_semicolon_and_comment():
    statement = single("SELECT 1; -- done\n")
    assert statement.keyword == "SELECT"
    assert statement.text == "SELECT 1;"


def test_single_refuses_non_str():
    with pytest.raises(sqlnb.UsageError, match="str"):
        single(b"SELECT 1")  # type: ignore[arg-type]


def test_check_params_accepts_what_fits():
    statement = single("SELECT :a, @b, $c")
    check_params(statement, {"a": 1, "b": 2, "c": 3})
    check_params(statement, {"a": 1})  # a missing key is left to SQLite to report
    check_params(statement, None)
    check_params(single("SELECT ?, ?"), [1, 2])
    check_params(single("SELECT ?, ?"), (1, 2))


def test_check_params_refuses_an_extra_key():
    statement = single("SELECT :a")
    with pytest.raises(sqlnb.UsageError, match="'b'") as caught:
        check_params(statement, {"a": 1, "b": 2})
    assert ":a" in str(caught.value)
    with pytest.raises(sqlnb.UsageError, match="no named parameters"):
        check_params(single("SELECT 1"), {"x": 1})


@pytest.mark.parametrize("params", ["abc", b"abc", 5])
def test_check_params_refuses_a_non_sequence(params):
    with pytest.raises(sqlnb.UsageError, match="sequence"):
        check_params(single("SELECT ?"), params)


def test_usage_error_is_a_value_error():
    with pytest.raises(ValueError):
        single("")


# -- through a real Database ------------------------------------------------------------------

def test_with_insert_reaches_the_writer_through_query(db):
    sql = "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"
    assert not _sqltext.single(sql).surely_writes  # the text alone sends it to a reader first
    db.write("CREATE TABLE t (v)")
    frame = db.query(sql)
    assert frame.attrs["rowcount"] == 1
    assert db.submit("SELECT v FROM t").result().rows == [(1,)]


def test_with_insert_reaches_the_writer_through_submit(db):
    db.write("CREATE TABLE t (v)")
    result = db.submit("WITH x AS (SELECT 2) INSERT INTO t SELECT * FROM x").result()
    assert result.rowcount == 1
    assert result.columns == []
    assert db.query("SELECT v FROM t")["v"].tolist() == [2]


def test_pragma_table_info_through_query_returns_rows(db):
    db.write("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    info = db.query("PRAGMA table_info(t)")
    assert info["name"].tolist() == ["id", "name"]
    assert info["type"].tolist() == ["INTEGER", "TEXT"]
    assert db.query("pragma main.table_info(t)")["name"].tolist() == ["id", "name"]


def test_named_parameters_through_a_database(db):
    frame = db.query("SELECT :a AS a, @b AS b, $c AS c, ':a' AS s", {"a": 1, "b": "x", "c": 2.5})
    assert frame.iloc[0].tolist() == [1, "x", 2.5, ":a"]
    with pytest.raises(sqlnb.UsageError):
        db.query("SELECT :a", {"a": 1, "zz": 2})
    with pytest.raises(sqlnb.UsageError):
        db.query("SELECT ?", "x")


# -- each engine's own lexical rules (issue 20: every engine splits its own SQL) --------------

def dialect_texts(sql: str, dialect: _sqltext.Dialect) -> list[str]:
    return [s.text for s in split(sql, dialect)]


@pytest.mark.parametrize("sql", [
    "SELECT $$a;b$$ AS s",
    "SELECT $body$ it's; $$ not the end $body$ AS s",
    "SELECT E'it\\'s; here' AS s",
    "SELECT e'a\\\\'; SELECT 9",  # an escaped backslash ends the string: two statements below
    "SELECT /* outer /* inner; */ still; a comment */ 1",
    'SELECT "odd;name" FROM t',
    "SELECT ['a;b', ']'] AS l",
])
def test_postgres_and_duckdb_quoting_keeps_a_statement_whole(sql):
    got = dialect_texts(sql + "; SELECT 9", _sqltext.POSTGRES)
    if sql.endswith("SELECT 9"):
        assert got == ["SELECT e'a\\\\';", "SELECT 9;", "SELECT 9"]
    else:
        assert got == [sql + ";", "SELECT 9"]


@pytest.mark.parametrize("sql", [
    "SELECT 'it\\'s; fine' AS s",
    'SELECT "a \\" ; b" AS s',
    "SELECT `odd;name` FROM t",
    "SELECT `a``;b` FROM t",
    "SELECT 1 /* outer /* inner; */ still; */ + 2",
])
def test_spark_quoting_keeps_a_statement_whole(sql):
    assert dialect_texts(sql + "; SELECT 9", _sqltext.SPARK) == [sql + ";", "SELECT 9"]


def test_parameters_inside_each_dialects_strings_are_no_parameters():
    (statement,) = split("SELECT $$ :inside $$, :outside, E'\\' :no'", _sqltext.POSTGRES)
    assert statement.named == ("outside",)
    (statement,) = split("SELECT 'it\\'s :no', \"also :no\", :yes", _sqltext.SPARK)
    assert statement.named == ("yes",)


def test_sqlites_rules_stay_sqlites():
    """SQLite's splitter is SQLite's own sqlite3_complete (a trigger body is one statement),
    and its strings know no backslash escapes."""
    assert texts("SELECT 'a\\'; SELECT 2") == ["SELECT 'a\\';", "SELECT 2"]
    assert split("SELECT 1", _sqltext.SQLITE) == split("SELECT 1")


# -- PostgreSQL's rules that sqltext's POSTGRES dialect holds (issue 20: the engine's own lexer
# went; these were its) ------------------------------------------------------------------------

def test_a_begin_atomic_body_is_one_statement():
    """A SQL-standard routine body (PostgreSQL 14+) holds `;` between BEGIN ATOMIC and END, a
    CASE ... END inside it included; psql keeps it whole, and so does the POSTGRES dialect."""
    body = ("CREATE OR REPLACE PROCEDURE p(x int) LANGUAGE sql BEGIN ATOMIC "
            "INSERT INTO t VALUES (CASE WHEN x > 0 THEN x ELSE 0 END); SELECT 2; END;")
    function = "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END"
    assert dialect_texts(f"{body} {function}; SELECT 9", _sqltext.POSTGRES) == [
        body, f"{function};", "SELECT 9"]
    # BEGIN elsewhere is a transaction's, and a CASE outside a body ends nothing
    assert dialect_texts("BEGIN; SELECT CASE WHEN true THEN 1 END; COMMIT",
                         _sqltext.POSTGRES) == ["BEGIN;", "SELECT CASE WHEN true THEN 1 END;",
                                                "COMMIT"]


def test_a_semicolon_inside_brackets_ends_no_statement():
    """As psql: a `;` inside ( ) (a CREATE RULE's DO ( ...; ... )) does not end the statement."""
    rule = ("CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (1); "
            "INSERT INTO u VALUES (2));")
    assert dialect_texts(f"{rule} SELECT 9", _sqltext.POSTGRES) == [rule, "SELECT 9"]
    assert dialect_texts("SELECT (1; SELECT 2", _sqltext.SQLITE) == ["SELECT (1;", "SELECT 2"]


@pytest.mark.parametrize("dialect", [_sqltext.POSTGRES, _sqltext.SPARK])
def test_a_cast_right_after_a_parameter_is_no_part_of_its_name(dialect):
    """`:d::date` is the parameter d cast to date on PostgreSQL, DuckDB and Spark (SQLite's
    names take `::`, Tcl's namespaces: there it is one name)."""
    (statement,) = split("SELECT :d::date, :n::int + 1, x::text", dialect)
    assert statement.named == ("d", "n")
    (statement,) = split("SELECT :a::b", _sqltext.SQLITE)
    assert statement.named == ("a::b",)


def test_an_engine_says_where_its_statements_run():
    """An engine with rules of its own (PostgreSQL's SET runs alone; ABORT ends a transaction)
    gives a Statement its flags when it makes it; without them the first keyword decides."""
    (statement,) = split("SET search_path = s", _sqltext.POSTGRES)
    assert not statement.runs_alone and not statement.changes_session
    told = dataclasses.replace(statement, runs_alone=True, changes_session=True,
                               ends_transaction=False, writes=True)
    assert told.runs_alone and told.changes_session and told.surely_writes
    assert not told.ends_transaction
    (abort,) = split("ABORT", _sqltext.POSTGRES)
    assert dataclasses.replace(abort, ends_transaction=True).ends_transaction
    assert _sqltext.Statement("COMMIT", "COMMIT", (), 0, None).ends_transaction  # derived
