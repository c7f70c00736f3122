"""Secrets never land in a notebook: a token or a password in a connection target is replaced by
`***` wherever sqlnb shows or keeps a target (reprs, db.path, %sqlnb list, errors, notes, log
records), and the documented way to connect reads the secret from the environment.

Property-style: random secrets (letters, digits, URL-escaped characters) in every target form;
every string sqlnb produces on those paths must not contain the secret.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError as IPythonUsageError

import sqlnb
from sqlnb.ipython.magics import SqlCellError

from .helpers import sqlnb_threads

#: Secrets as a user might have them: 8 to 40 characters, some of them escaped in a URL.
SECRETS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789-_.~"), min_size=8, max_size=40).map(
    lambda text: text + "%2F" + text[::-1])

#: Target forms with a secret in them ({s}); the secret must never be shown.
FORMS = [
    "sc://{host}:{port}/;token={s}",
    "sc://{host}:{port}/;use_ssl=true;token={s}",
    "sc://{host}:{port}/;token={s};user_id=analyst",
    "sc://analyst:{s}@{host}:{port}/;user_id=analyst",
    "postgresql://analyst:{s}@{host}:{port}/shop",
    "mysql+pymysql://root:{s}@{host}/shop",
    "snowflake://analyst:{s}@account/db?password={s}",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@settings(max_examples=60, deadline=None)
@given(secret=SECRETS, form=st.sampled_from(FORMS))
def test_redact_hides_every_secret_of_every_form(secret, form):
    target = form.format(s=secret, host="db.example.com", port=15002)
    shown = sqlnb.redact(target)
    assert secret not in shown and urllib.parse.unquote(secret) not in shown
    assert "***" in shown
    assert "db.example.com" in shown or "account" in shown  # the rest is still named
    text = f"could not open {target}: refused"  # a target inside a message
    assert secret not in sqlnb.redact(text)


def test_redact_leaves_what_holds_no_secret():
    for target in ("sqlite:///data.db", "duckdb:///x.duckdb", "/tmp/a.db", "sc://h:15002",
                   "sc://h:15002/;use_ssl=true;user_id=me", "spark:local[2]"):
        assert sqlnb.redact(target) == target


class _Records(logging.Handler):
    """Every log record's text, from every logger, while the block runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))

    def __enter__(self) -> _Records:
        root = logging.getLogger()
        self._level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)


@settings(max_examples=15, deadline=None)
@given(secret=SECRETS)
def test_a_server_nobody_answers_at_never_echoes_the_token(secret):
    port = _free_port()
    with (_Records() as records, pytest.raises(sqlnb.UsageError) as error,
          pytest.warns(UserWarning, match="holds a secret.*token_env") as warned):
        sqlnb.connect(f"sc://localhost:{port}/;token={secret}")
    assert not any(secret in str(w.message) for w in warned)
    assert secret not in str(error.value)
    assert secret not in " ".join(getattr(error.value, "__notes__", []))
    assert not any(secret in text for text in records.texts)
    assert sqlnb_threads() == set()


@pytest.mark.parametrize("line", [
    ("sqlnb", "connect sc://localhost:{port}/;token={s}"),
    ("sqlnb", "connect sc://localhost:{port}/;token={s} --as cluster"),
    ("sql", "sc://localhost:{port}/;token={s}"),
    ("sql", "postgresql://analyst:{s}@localhost:{port}/shop"),  # PostgreSQL, a closed port
    ("sqlnb", "connect postgres://analyst@localhost:{port}/shop?password={s}"),
    ("sql", "mysql://analyst:{s}@localhost:{port}/shop"),  # a scheme no engine opens
    ("sqlnb", "connect sc://localhost:{port} --token-env SQLNB_TEST_SECRET"),
])
def test_the_magics_never_echo_a_secret(shell, capsys, caplog, line, monkeypatch):
    secret = "s3cret-Tok3n%2Fx"
    monkeypatch.setenv("SQLNB_TEST_SECRET", secret)  # the last case reads it from here
    magic, text = line
    text = text.format(s=secret, port=_free_port())
    with caplog.at_level(logging.DEBUG), pytest.raises((SqlCellError, IPythonUsageError)) as error:
        shell.run_line_magic(magic, text)
    out = capsys.readouterr()
    for produced in (str(error.value), out.out, out.err, caplog.text):
        assert secret not in produced, produced


def test_a_typed_token_works_says_once_that_the_cell_holds_it_and_is_shown_nowhere(
        shell, capsys, caplog, spark_url):
    token = urllib.parse.unquote(spark_url.rsplit("token=", 1)[1])
    with caplog.at_level(logging.DEBUG):
        shell.run_line_magic("sqlnb", f"connect {spark_url} --as cluster")
        first = capsys.readouterr().out
        shell.run_line_magic("sqlnb", f"connect {spark_url} --as cluster2")
        second = capsys.readouterr().out
        listing = shell.run_line_magic("sqlnb", "list")
        frame = shell.run_line_magic("sql", "SELECT 42 AS answer")
    assert "holds a secret" in first and "--secret-env NAME" in first  # said once, in one line,
    assert "token_env=NAME" in first  # with the engine's own option for the Python API
    assert "holds a secret" not in second
    assert frame["answer"][0] == 42
    for produced in (first, second, listing.to_string(), repr(listing), caplog.text):
        assert token not in produced, produced
    assert "token=***" in listing.to_string()


def test_the_token_comes_from_the_environment(shell, capsys, spark_url, monkeypatch):
    base, token = spark_url.rsplit("/;token=", 1)
    monkeypatch.setenv("SQLNB_CLUSTER_TOKEN", urllib.parse.unquote(token))
    for flag in ("--secret-env", "--token-env"):  # the neutral name, and Spark's (the first)
        shell.run_line_magic("sqlnb", f"connect {base} {flag} SQLNB_CLUSTER_TOKEN --as cluster")
        out = capsys.readouterr().out
        assert "holds a secret" not in out and token not in out
        assert shell.run_line_magic("sql", "SELECT 1 AS one")["one"][0] == 1
    with sqlnb.connect(base, token_env="SQLNB_CLUSTER_TOKEN") as db:  # the Python API too
        assert db.query("SELECT 2 AS two")["two"][0] == 2
        assert token not in db.path and token not in repr(db)


def test_sparks_own_variable_serves_without_naming_it(spark_url, monkeypatch):
    """Spark's client reads SPARK_CONNECT_AUTHENTICATE_TOKEN itself: a target without a token
    connects with it, and no warning is given (nothing secret was typed)."""
    import warnings

    base, token = spark_url.rsplit("/;token=", 1)
    monkeypatch.setenv("SPARK_CONNECT_AUTHENTICATE_TOKEN", urllib.parse.unquote(token))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning here fails the test
        with sqlnb.connect(base) as db:
            assert db.query("SELECT 3 AS three")["three"][0] == 3


def test_token_env_names_what_is_missing(monkeypatch):
    monkeypatch.delenv("SQLNB_NO_SUCH_VARIABLE", raising=False)
    with pytest.raises(sqlnb.UsageError, match="SQLNB_NO_SUCH_VARIABLE is not set"):
        sqlnb.connect("sc://localhost:15002", token_env="SQLNB_NO_SUCH_VARIABLE")
    with pytest.raises(sqlnb.UsageError, match="token_env is an option of Spark, not of SQLite"):
        sqlnb.connect("data.db", token_env="HOME")  # issue 20: each engine checks its options
    with pytest.raises(sqlnb.UsageError, match="sc://host:port"):
        sqlnb.connect("spark:local[2]", token_env="HOME")  # a local server has its own token
    assert "SQLNB_NO_SUCH_VARIABLE" not in os.environ


def test_a_saved_notebook_holds_no_secret(spark_url, tmp_path, monkeypatch):
    """A real kernel runs a notebook that connects the documented way (the token in the
    environment), runs a query, a long one with the progress widget, and one that fails; the
    saved file holds the token nowhere."""
    import nbformat
    from nbclient import NotebookClient

    base, token = spark_url.rsplit("/;token=", 1)
    token = urllib.parse.unquote(token)
    monkeypatch.setenv("SQLNB_CLUSTER_TOKEN", token)  # the kernel inherits this environment
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in (
        "%load_ext sqlnb",
        f"%sqlnb connect {base} --token-env SQLNB_CLUSTER_TOKEN --as cluster",
        "%sqlnb list",
        "%sql SELECT 42 AS answer",
        "%%sql\nSELECT k, count(*) FROM (SELECT id % 5 AS k FROM range(0, 200000000, 1, 8)) "
        "GROUP BY k ORDER BY k",
        "%sql SELECT * FROM no_such_table",
        "import sqlnb\ndb = sqlnb.connect('" + base + "', token_env='SQLNB_CLUSTER_TOKEN')\n"
        "print(db, db.path)\ndb.close()",
    )]
    NotebookClient(nb, timeout=300, allow_errors=True, kernel_name="python3").execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    saved = path.read_text()
    assert token not in saved
    assert "connected: cluster" in saved and "42" in saved


# -- verbose tracebacks (issue 19 #21) ---------------------------------------------------------
def _verbose(shell, capsys, cell: str) -> str:
    """What a cell that fails prints under `%xmode Verbose` (every frame, with its variables)."""
    shell.run_line_magic("xmode", "Verbose")
    shell.run_line_magic("colors", "nocolor")
    capsys.readouterr()
    try:
        result = shell.run_cell(cell)
    finally:
        shell.run_line_magic("xmode", "Context")
    assert result.error_in_exec is not None, "the cell was meant to fail"
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" in text and "sqlnb" in text  # sqlnb's own frames were printed
    return text


def _clean(text: str, secret: str) -> None:
    for form in (secret, urllib.parse.quote(secret, safe=""), urllib.parse.unquote(secret)):
        assert form not in text, text


def _chain(error: BaseException | None) -> list[BaseException]:
    found = []
    while error is not None and error not in found:
        found.append(error)
        error = error.__cause__ or error.__context__
    return found


@pytest.mark.parametrize("cell", [
    "sqlnb.connect('sc://localhost:{port}', token_env='SQLNB_TEST_SECRET')",
    "sqlnb.connect('sc://localhost:{port}/;use_ssl=true', token_env='SQLNB_TEST_SECRET')",
    "sqlnb.Database('sc://localhost:{port}/;user_id=me', token_env='SQLNB_TEST_SECRET')",
    "sqlnb.connect(f'sc://localhost:{port}/;token={{os.environ[\"SQLNB_TEST_SECRET\"]}}')",
    "sqlnb.connect(f'sc://me:{{os.environ[\"SQLNB_TEST_SECRET\"]}}@localhost:{port}/')",
    "sqlnb.connect(f'postgresql://me:{{os.environ[\"SQLNB_TEST_SECRET\"]}}@localhost:{port}/db')",
    "sqlnb.connect('postgresql://me@localhost:{port}/db', password_env='SQLNB_TEST_SECRET')",
    "sqlnb.connect(f'mysql://me:{{os.environ[\"SQLNB_TEST_SECRET\"]}}@localhost:{port}/db')",
])
def test_a_verbose_traceback_of_a_failing_connect_shows_no_secret(shell, capsys, monkeypatch,
                                                                  cell):
    """A token read from the environment never shows among the variables of sqlnb's frames,
    their arguments, the exception or its chain, in IPython's verbose traceback: sqlnb holds
    it in an object whose repr and str are redacted, read only where the client takes it."""
    secret = "Tok3n-from-the-env_x9Q"
    monkeypatch.setenv("SQLNB_TEST_SECRET", secret)
    shell.run_cell("import os, sqlnb")
    code = cell.format(port=_free_port())
    typed = "_env=" not in code  # a secret typed into the target (not token_env, password_env)
    with pytest.warns(UserWarning) if typed else contextlib.nullcontext():
        text = _verbose(shell, capsys, code)
    if typed:  # the cell's own frame is the cell's: IPython shows its
        text = text[text.index(sqlnb.__file__.rsplit("/", 1)[0]):]  # os.environ; then sqlnb's
    _clean(text, secret)
    shell.run_cell("import sys\n_sqlnb_error = sys.last_value")  # and the exception itself
    error = shell.user_ns["_sqlnb_error"]
    for link in _chain(error):
        _clean(repr(link.args) + str(link) + " ".join(getattr(link, "__notes__", [])), secret)


def test_a_wrong_token_from_the_environment_stays_out_of_a_verbose_traceback(
        shell, capsys, monkeypatch, spark_url):
    """The server answers and refuses the token: still no frame shows it."""
    base = spark_url.rsplit("/;token=", 1)[0]
    secret = "Wr0ng-token-from-the-env"
    monkeypatch.setenv("SQLNB_TEST_SECRET", secret)
    shell.run_cell("import sqlnb")
    text = _verbose(shell, capsys, f"sqlnb.connect({base!r}, token_env='SQLNB_TEST_SECRET')")
    assert "refused" in text
    _clean(text, secret)
    _clean(text, urllib.parse.unquote(spark_url.rsplit("token=", 1)[1]))  # nor the real one
