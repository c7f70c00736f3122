"""What a case hands back (tables, targets, notes) and how it is printed and written as JSON."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .runner import Series

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


@dataclass
class Table:
    """The contenders of one measurement, with ratios against the baseline's median."""

    title: str
    #: unit of every figure, e.g. "us/call", "s", "req/s", "MB", "ms"
    unit: str
    series: list[Series]
    #: name of the series the ratios are against (None: no ratio column)
    baseline: str | None = None
    notes: list[str] = field(default_factory=list)

    def get(self, name: str) -> Series | None:
        return next((s for s in self.series if s.name == name), None)

    def median(self, name: str) -> float | None:
        found = self.get(name)
        return None if found is None else found.median

    def ratio(self, name: str, against: str | None = None) -> float | None:
        """`name`'s median over `against`'s (the baseline's by default), or None if missing."""
        top = self.median(name)
        bottom = self.median(against or self.baseline or "")
        if top is None or not bottom:
            return None
        return top / bottom


@dataclass
class Target:
    """A target the case checks: met (PASS), not met (MISS) or not checkable (SKIP)."""

    label: str
    goal: str
    value: str
    met: bool | None
    detail: str = ""
    figure: float | None = None
    #: a yes/no check (no figure or goal to print)
    is_check: bool = False

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "SKIP"}[self.met]


def compare(label: str, value: float | None, op: str, limit: float, *, unit: str = "x",
            detail: str = "", why_missing: str = "not measured") -> Target:
    """A numeric target: `value op limit`, e.g. compare("db.query / read_sql", 0.6, "<=", 0.8)."""
    goal = f"{op} {limit:g}{_unit(unit)}"
    if value is None:
        return Target(label, goal, "-", None, why_missing)
    return Target(label, goal, f"{_number(value)}{_unit(unit)}", _OPS[op](value, limit), detail,
                  value)


def check(label: str, ok: bool, detail: str = "") -> Target:
    """A yes/no target."""
    return Target(label, "yes", "yes" if ok else "no", ok, detail, is_check=True)


def guarded(label: str, fn: Callable[[], list[Target]]) -> list[Target]:
    """The targets `fn()` checks, or one MISS naming the error if it raised."""
    try:
        return fn()
    except Exception as error:
        return [Target(label, "yes", "no", False, f"raised {type(error).__name__}: {error}",
                       is_check=True)]


@dataclass
class CaseResult:
    """Everything one case measured."""

    case_id: str
    title: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


# -- printing ---------------------------------------------------------------------------------

def render(case: CaseResult) -> str:
    """The case as text: a heading, its tables, its targets, its notes."""
    lines = [f"== [{case.case_id}] {case.title} ({case.seconds:.1f} s)"]
    for table in case.tables:
        lines += ["", *_render_table(table)]
    if case.targets:
        lines.append("")
        width = max((len(t.label) for t in case.targets if not t.is_check), default=0)
        for t in case.targets:
            detail = f"  ({t.detail})" if t.detail else ""
            if t.is_check:
                lines.append(f"  {t.verdict:4}  {t.label}{detail}")
            else:
                lines.append(f"  {t.verdict:4}  {t.label:<{width}}  {t.value:>9}  target "
                             f"{t.goal}{detail}")
    lines += [f"  note: {note}" for note in case.notes]
    if case.error:
        lines.append(f"  ERROR: {case.error}")
    return "\n".join(lines)


def _render_table(table: Table) -> list[str]:
    heads = ["contender", f"median {table.unit}", "min", "max"]
    if table.baseline:
        heads.append(f"x {table.baseline}" if len(table.baseline) < 24 else "x baseline")
    rows = []
    for s in table.series:
        name = s.name + (f" ({s.role})" if s.role else "")
        if s.error is not None or not s.samples:
            rows.append([name, s.error or "no samples"])
            continue
        row = [name, _number(s.median), _number(s.min), _number(s.max)]
        if table.baseline:
            ratio = table.ratio(s.name)
            row.append("-" if ratio is None else f"{ratio:.2f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in [heads, *rows] if len(r) > i and len(r) == len(heads))
              for i in range(len(heads))]
    widths[0] = max(len(r[0]) for r in [heads, *rows])
    out = [f"  {table.title}", "  " + _line(heads, widths)]
    for row in rows:
        out.append("  " + (_line(row, widths) if len(row) == len(heads)
                           else f"{row[0]:<{widths[0]}}  {row[1]}"))
    out += [f"  {note}" for note in table.notes]
    return out


def _line(cells: list[str], widths: list[int]) -> str:
    first = f"{cells[0]:<{widths[0]}}"
    return "  ".join([first, *(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:]))])


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    size = abs(value)
    if size >= 10_000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _unit(unit: str) -> str:
    return unit if unit == "x" else f" {unit}"


# -- JSON -------------------------------------------------------------------------------------

def as_json(case: CaseResult) -> dict[str, Any]:
    """The case with every sample, statistic and ratio, for --json."""
    return {
        "id": case.case_id,
        "title": case.title,
        "seconds": round(case.seconds, 3),
        "error": case.error,
        "notes": case.notes,
        "tables": [_table_json(t) for t in case.tables],
        "targets": [
            {"label": t.label, "goal": t.goal, "value": t.figure, "shown": t.value,
             "verdict": t.verdict, "detail": t.detail}
            for t in case.targets
        ],
    }


def _table_json(table: Table) -> dict[str, Any]:
    return {
        "title": table.title,
        "unit": table.unit,
        "baseline": table.baseline,
        "notes": table.notes,
        "contenders": [
            {"name": s.name, "role": s.role, "error": s.error, "samples": s.samples,
             "median": s.median, "min": s.min, "max": s.max,
             "ratio_to_baseline": table.ratio(s.name) if table.baseline else None}
            for s in table.series
        ],
    }
