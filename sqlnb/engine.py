"""Everything an engine author needs, in one public module.

An engine is a plug-in: a `Backend` subclass (one per Database: its target, its options, how
it opens connections, its SQL's rules) and a `Link` subclass (one per connection: run a
statement, stream one, take the writer's transaction steps, and from any thread interrupt the
statement it runs). sqlnb's control plane (the read pool, the writer and its group commit, the
timer, Cancel, progress, DataFrames, the magics) does the rest, the same on every engine.
`register(MyBackend)` makes its schemes and suffixes open it: `sqlnb.connect("my://...")`,
`%sql my://...`. docs/ENGINES.md says what an engine gives and what the control plane
guarantees; sqlnb's own engines (sqlnb/engines/) are written against this module only.

Names here:

- the interface: `Backend`, `Link`, `Option` (a connect option an engine declares; a value
  in seconds is checked by `check_seconds`);
- the registry: `register`, `unregister`, `engine_for` (which engine a target opens),
  `engine_named`, `scheme_of`, `frame_targets` (where a DataFrame of no Database is queried);
- a query's state, as a link sees it: `Control` (its reason to stop, the rows counted, the
  preview of first rows: `PREVIEW_ROWS`; `stop_reached()`, the engine has a stop it is still
  winding down), `Task` (what `translate` and `reroute` are given);
- outcomes: `Stopped` (what `Link.translate` returns for an interrupt the control asked for),
  `note` (a note added once), `annotate` (names the SQL on an engine's error), `UsageError`,
  `ended_transaction` (a write function ended the transaction it runs in), `shorten`;
- results: `Result`, `SmallFrame` (a small result the caller's thread builds), `Catalog`, the
  frame builders (`rows_to_dataframe`, `FrameBuilder`, `arrow_to_dataframe`,
  `ArrowFrameBuilder`, `arrow_rows`, and `python_values`, one Arrow column as Python values,
  for an engine that maps some of its columns itself); `rechunk`, Arrow batches regrouped into
  chunks of a given number of rows (for `Link.chunks`);
- SQL text: `Statement`, the dialects (`Dialect`, `SQLITE`, `POSTGRES`, `SPARK`), `split`,
  `single`, `tokens`, `named_tokens`, `split_name`, `check_params`, `TRANSACTION_KEYWORDS`;
- secrets: `Secret`, `redact`, `reveal`, `has_secret`;
- `options`: the process-wide defaults (`sqlnb.options`).
"""

from __future__ import annotations

from ._arrow_types import arrow_rows, python_values
from ._control import PREVIEW_ROWS, Control
from ._redact import Secret, has_secret, redact, reveal
from ._task import SmallFrame, Stopped, Task, note
from .database import check_seconds, options
from .engines import engine_for, engine_named, frame_targets, register, scheme_of, unregister
from .engines.base import Backend, Link, Option
from .engines.sqltext import (
    POSTGRES,
    SPARK,
    SQLITE,
    TRANSACTION_KEYWORDS,
    Dialect,
    Statement,
    check_params,
    named_tokens,
    single,
    split,
    split_name,
    tokens,
)
from .errors import UsageError, annotate, ended_transaction, shorten
from .results import (
    ArrowFrameBuilder,
    Catalog,
    FrameBuilder,
    Result,
    arrow_to_dataframe,
    rechunk,
    rows_to_dataframe,
)

__all__ = [
    "POSTGRES",
    "PREVIEW_ROWS",
    "SPARK",
    "SQLITE",
    "TRANSACTION_KEYWORDS",
    "ArrowFrameBuilder",
    "Backend",
    "Catalog",
    "Control",
    "Dialect",
    "FrameBuilder",
    "Link",
    "Option",
    "Result",
    "Secret",
    "SmallFrame",
    "Statement",
    "Stopped",
    "Task",
    "UsageError",
    "annotate",
    "arrow_rows",
    "arrow_to_dataframe",
    "check_params",
    "check_seconds",
    "ended_transaction",
    "engine_for",
    "engine_named",
    "frame_targets",
    "has_secret",
    "named_tokens",
    "note",
    "options",
    "python_values",
    "rechunk",
    "redact",
    "register",
    "reveal",
    "rows_to_dataframe",
    "scheme_of",
    "shorten",
    "single",
    "split",
    "split_name",
    "tokens",
    "unregister",
]
