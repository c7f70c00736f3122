"""Secrets in connection targets, hidden wherever sqlnb shows or keeps a target.

A notebook is saved and shared with its outputs, so a token or a password typed into a target
(`sc://host:15002/;token=...`, `postgresql://user:password@host/db`) must never come back out of
sqlnb: not in `db.path` or `repr(db)`, not in `%sqlnb list`, an error, a note or a log record.
`redact()` replaces each such secret by `***` in any text, in place, leaving the rest readable.

A target that holds a secret travels through sqlnb as a `Secret`, whose repr and str are
redacted: IPython's verbose tracebacks (`%xmode Verbose`) print every frame's arguments and
variables, so a plain str would put the token of a failing `connect()` into the notebook, even
one read from the environment. The text itself is read (`reveal()`) only where the engine's
client takes it.
"""

from __future__ import annotations

import re

__all__ = ["SECRET_NAMES", "Secret", "has_secret", "hold", "redact", "reveal"]

#: Parameter names whose values are secrets (matched without regard to case).
SECRET_NAMES = frozenset({
    "token", "password", "passwd", "pwd", "pass", "secret", "api_key", "apikey", "access_token",
    "auth", "auth_token", "key", "credentials", "sas", "client_secret",
})
#: A URL within any text: its scheme, then what follows up to a blank or a quote.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
#: user:password@ right after the scheme.
_USERINFO = re.compile(r"(?<=://)([^\s/@:;?]*):([^\s/@]*)@")
#: name=value after ; ? or &, as Spark Connect (;) and other URLs (? &) give options.
_PARAM = re.compile(r"(?<=[;?&])([A-Za-z_][A-Za-z0-9_\-]*)=([^;&\s'\"<>]*)")


def _redact_url(match: re.Match[str]) -> str:
    url = _USERINFO.sub(lambda m: f"{m.group(1)}:***@", match.group(0))

    def param(m: re.Match[str]) -> str:
        name = m.group(1)
        return f"{name}=***" if name.lower() in SECRET_NAMES and m.group(2) else m.group(0)

    return _PARAM.sub(param, url)


def redact(text: str) -> str:
    """`text` with the secret of every URL in it replaced by `***` (a password after `user:`,
    a `token=`, `password=`, ... parameter); text that holds none comes back unchanged."""
    if "://" not in text:
        return text
    return _URL.sub(_redact_url, text)


def has_secret(text: str) -> bool:
    """True when `text` holds a secret that redact() would hide."""
    return redact(text) != text


class Secret:
    """Text holding a secret (a target with its token or password), shown only redacted.

    repr(), str() and format() give the redacted text (`sc://host:15002/;token=***`), so no
    frame of a traceback, no message and no log record built from it shows the secret;
    `reveal()` gives the text itself, for the one call that hands it to the engine's client.
    """

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def reveal(self) -> str:
        """The text, secret included: call it only where the engine's client takes it."""
        return self._text

    def __str__(self) -> str:
        return redact(self._text)

    def __repr__(self) -> str:
        return f"Secret({redact(self._text)!r})"


def hold(value: object) -> object:
    """`value` as a Secret when it is text holding a secret; anything else as it is."""
    if isinstance(value, str) and has_secret(value):
        return Secret(value)
    return value


def reveal(value: object) -> object:
    """The text a Secret holds; anything else as it is."""
    return value.reveal() if isinstance(value, Secret) else value
