"""The notebook front: `%load_ext sqlnb` registers the `%sql`/`%%sql` and `%sqlnb` magics.

This subpackage is the only part of sqlnb that imports IPython; it calls the engine only through
`sqlnb.Database`.
"""

from __future__ import annotations

from typing import Any

from .magics import SqlNB

__all__ = ["SqlNB", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (what `%load_ext sqlnb` calls)."""
    magics = SqlNB(shell=ipython)
    ipython.register_magics(magics)
    magics.install_display()


def unload_ipython_extension(ipython: Any) -> None:
    """Close the databases the magics opened."""
    magics = ipython.magics_manager.registry.get("SqlNB")
    if magics is not None:
        magics.close_all()
