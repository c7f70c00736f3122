"""Plots whose numbers the engine computes: a histogram, a bar chart of value counts, a box plot.

The bins, counts and quartiles come from `Database.histogram`, `value_counts` and `quartiles`
(a few rows, whatever the table's size); matplotlib only draws them. `%sqlnb plot` calls this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from .database import Database

__all__ = ["KINDS", "plot"]

#: What `plot` draws: a histogram, the most frequent values as bars, a box plot.
KINDS = ("hist", "bar", "box")


def plot(db: Database, kind: str, table: str, column: str, *, bins: int = 20, top: int = 20,
         ax: Any = None, time_limit: float | None = None) -> pd.DataFrame:
    """Draw `table.column` as `kind` ("hist", "bar" or "box") on `ax` (a new matplotlib figure
    when None) from numbers computed in the engine, and return those numbers as a DataFrame."""
    if kind not in KINDS:
        raise UsageError(f"no plot kind {kind!r}: use hist (a histogram), bar (the most "
                         "frequent values) or box (a box plot)")
    _need_matplotlib()
    data = fetch(db, kind, table, column, bins=bins, top=top, time_limit=time_limit)
    draw(kind, data, table, column, ax)
    return data


def fetch(db: Database, kind: str, table: str, column: str, *, bins: int = 20, top: int = 20,
          time_limit: float | None = None, block: bool = True) -> Any:
    """The numbers a plot of `kind` draws (a DataFrame, or its QueryHandle with block=False)."""
    if kind == "hist":
        return db.histogram(table, column, bins=bins, time_limit=time_limit, block=block)
    if kind == "bar":
        return db.value_counts(table, column, top=top, time_limit=time_limit, block=block)
    return db.quartiles(table, column, time_limit=time_limit, block=block)


def draw(kind: str, data: pd.DataFrame, table: str, column: str, ax: Any = None) -> Any:
    """Draw the numbers `fetch` gave on `ax` (a new figure's axes when None); the axes."""
    _need_matplotlib()
    if ax is None:
        import matplotlib.pyplot as plt

        _figure, ax = plt.subplots(figsize=(7, 4))
    title = f"{table}.{column}"
    if kind == "hist":
        if len(data):
            edges = [*data["bin_start"], data["bin_end"].iloc[-1]]
            ax.stairs(data["count"].to_numpy(), edges, fill=True, alpha=0.8)
        ax.set_xlabel(column)
        ax.set_ylabel("rows")
        ax.set_title(f"{title}: {int(data['count'].sum()):,} values in {len(data)} bins")
    elif kind == "bar":
        labels = ["NULL" if v is None else str(v) for v in data["value"]]
        ax.barh(labels[::-1], data["count"].to_numpy()[::-1])
        ax.set_xlabel("rows")
        shown = int(data["count"].sum())
        rest = data.attrs.get("total", shown) - shown
        ax.set_title(f"{title}: the {len(data)} most frequent values"
                     + (f" ({rest:,} other rows)" if rest else ""))
    else:
        row = data.iloc[0]
        if row["count"]:
            stats = {"label": column, "med": row["median"], "q1": row["q1"], "q3": row["q3"],
                     "whislo": row["whislo"], "whishi": row["whishi"],
                     "fliers": data.attrs.get("fliers", [])}
            if _old_bxp():
                ax.bxp([stats], vert=False)
            else:
                ax.bxp([stats], orientation="horizontal")
        outliers = int(row["outliers"])
        ax.set_title(f"{title}: {int(row['count']):,} values"
                     + (f", {outliers:,} beyond the whiskers" if outliers else ""))
        left_out = int(data.attrs.get("fliers_left_out", 0))
        ax.set_xlabel(column + (f" ({left_out:,} outliers nearer the whiskers not drawn)"
                                if left_out else ""))
    return ax


def _need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("plots are drawn with matplotlib, which is not installed: "
                         "pip install 'sqlnb[plot]' (or matplotlib)") from None


def _old_bxp() -> bool:
    """matplotlib before 3.10 says vert=False where newer ones say orientation=."""
    import matplotlib

    major, minor = (int(p) for p in matplotlib.__version__.split(".")[:2])
    return (major, minor) < (3, 10)
