"""The notebook front: `%load_ext sqlnb` registers the `%sql`/`%%sql` and `%sqlnb` magics.

This subpackage is the only part of sqlnb that imports IPython; it calls the engine only through
`sqlnb.Database` (and reads SQL text with the package-internal lexer, `sqlnb.engines.sqltext`).
Tab inside SQL completes names from the database (completion.py).

JupySQL and ipython-sql register a `%sql` too. Loading sqlnb after one of them takes `%sql` and
`%%sql` over and says so in one line; `%unload_ext sqlnb` gives the other's back. `%sqlnb` is
sqlnb's alone.
"""

from __future__ import annotations

from typing import Any

from .completion import Completer
from .magics import SqlNB

__all__ = ["SqlNB", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (what `%load_ext sqlnb` calls)."""
    registry = ipython.magics_manager.magics
    others = {kind: registry[kind].get("sql") for kind in ("line", "cell")}
    others = {kind: magic for kind, magic in others.items()
              if magic is not None and not isinstance(getattr(magic, "__self__", None), SqlNB)}
    magics = SqlNB(shell=ipython)
    ipython.register_magics(magics)
    magics.install_display()
    completer = getattr(ipython, "Completer", None)
    if completer is not None:
        _drop_matcher(completer)
        magics.completer = Completer(magics.opened)
        completer.custom_matchers.append(magics.completer.matcher())
    if others:
        magics.replaced = others
        owner = _owner(next(iter(others.values())))
        print(f"sqlnb: %sql and %%sql now run sqlnb, replacing {owner}'s; %unload_ext sqlnb "
              "gives them back (%sqlnb is sqlnb's own)")


def unload_ipython_extension(ipython: Any) -> None:
    """Close the databases the magics opened; give back a `%sql` that loading sqlnb replaced."""
    magics = ipython.magics_manager.registry.get("SqlNB")
    if magics is not None:
        magics.close_all()
        for kind, magic in magics.replaced.items():
            ipython.magics_manager.magics[kind]["sql"] = magic
        magics.replaced = {}
    completer = getattr(ipython, "Completer", None)
    if completer is not None:
        _drop_matcher(completer)


def _drop_matcher(completer: Any) -> None:
    """Take sqlnb's matcher out of IPython's completer (a reload must not add a second)."""
    completer.custom_matchers[:] = [
        m for m in completer.custom_matchers
        if getattr(m, "matcher_identifier", None) != "sqlnb.sql"]


def _owner(magic: Any) -> str:
    """Where a magic comes from: its module (JupySQL's and ipython-sql's is sql.magic)."""
    owner = getattr(magic, "__self__", magic)
    module = getattr(owner, "__module__", None) or type(owner).__module__
    return module or "another extension"
