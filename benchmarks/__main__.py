"""`python -m benchmarks [--quick] [--json PATH] [--only CASE ...]`: run the suite, print a table
per case with its targets (PASS/MISS), and optionally write every figure as JSON.

The exit status is 1 when a case crashed or one of its contenders raised (CI runs the suite with
--quick as a smoke test), 0 otherwise: a target missed or a peer not installed is reported only."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import traceback
from pathlib import Path

from . import data, env
from .cases import CASES
from .context import FULL_ROWS, QUICK_ROWS, Context
from .report import CaseResult, as_json, render


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"a {QUICK_ROWS:,}-row table and fewer repeats (under two minutes)")
    parser.add_argument("--json", metavar="PATH", type=Path,
                        help="write every sample, figure, ratio and target to PATH")
    parser.add_argument("--only", nargs="+", metavar="CASE", choices=list(CASES),
                        help=f"run only these cases: {', '.join(CASES)}")
    return parser.parse_args(argv)


def run_case(case_id: str, ctx: Context) -> CaseResult:
    """Run one case; a crash becomes the case's error instead of ending the suite."""
    module = CASES[case_id]
    started = time.perf_counter()
    try:
        result = module.run(ctx)
    except Exception:
        result = CaseResult(case_id, module.TITLE, error=traceback.format_exc(limit=-3).strip())
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    found, box = env.versions(), env.machine()
    print("\n".join(env.summary_lines(found, box)), flush=True)
    rows = QUICK_ROWS if args.quick else FULL_ROWS
    ctx = Context(quick=args.quick, rows=rows, table=data.table_file(rows),
                  scratch=data.scratch_dir())
    print(f"mode: {'quick' if args.quick else 'full'}, table t: {rows:,} rows in {ctx.table}\n",
          flush=True)
    results = []
    for case_id in args.only or list(CASES):
        result = run_case(case_id, ctx)
        results.append(result)
        print(render(result) + "\n", flush=True)
    targets = [t for r in results for t in r.targets]
    verdicts = {v: sum(t.verdict == v for t in targets) for v in ("PASS", "MISS", "SKIP")}
    crashed = [r.case_id for r in results if r.error]
    # a contender that raised measured nothing: broken too (a peer not installed is no contender)
    raised = [f"{r.case_id}: {s.name}" for r in results for t in r.tables for s in t.series
              if s.error is not None]
    total = time.perf_counter() - started
    print(f"targets: {verdicts['PASS']} PASS, {verdicts['MISS']} MISS, {verdicts['SKIP']} SKIP"
          f"{'; cases that crashed: ' + ', '.join(crashed) if crashed else ''}"
          f"{'; contenders that raised: ' + ', '.join(raised) if raised else ''}"
          f" -- {total:.0f} s in all")
    if args.json:
        report = {
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "mode": "quick" if args.quick else "full",
            "rows": rows,
            "seconds": round(total, 1),
            "versions": found,
            "machine": box,
            "summary": verdicts,
            "cases": [as_json(r) for r in results],
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 1 if crashed or raised else 0


if __name__ == "__main__":
    sys.exit(main())
