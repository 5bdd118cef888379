"""``spikefa crosscheck``: argument parsing and printing only; the work is in ``cases``.

The table lists the enforced checks (pass / FAIL). Comparisons that are not enforced (each STDP
mode other than ``brian2`` against the brian2-mode synapse: other semantics, expected to differ)
come after it in a table of their own, each with the semantic difference that explains it.

Exit codes: 0 when every enforced record is within tolerance, 1 when one exceeds it; user errors
(unknown case, missing brian2) raise ``SpikefaError``, which ``spikefa.cli.main`` turns into exit 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from spikefa.crosscheck.settings import DTYPES, TARGETS
from spikefa.errors import SpikefaError

if TYPE_CHECKING:
    from spikefa.crosscheck.compare import Record


def add_parser(subparsers: Any) -> None:
    """Register ``crosscheck`` on the main CLI's subparsers."""
    p = subparsers.add_parser(
        "crosscheck", help="check the LIF step and every STDP mode against Brian2",
        description="Run spikefa's LIF step and every STDP mode beside Brian2 models built from the same "
                    "parameters and compare them per quantity. Enforced checks print pass/FAIL (exit 1 on a "
                    "FAIL); the other STDP modes' distance to the brian2-mode synapse is listed apart: they have "
                    "other semantics, so they are expected to differ (never a failure).")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every case, including the long ones (minutes)")
    which.add_argument("--case", action="append", metavar="NAME", help="run this case (repeatable; see --list)")
    which.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--json", action="store_true", help="one JSON record per line instead of a table")
    p.add_argument("--out", metavar="DIR", help="write one PNG overlay per case into DIR")
    p.add_argument("--dtype", choices=list(DTYPES), default="float64", help="spikefa's dtype (Brian2 runs float64)")
    p.add_argument("--target", choices=list(TARGETS), default="numpy", help="Brian2 code generation target")
    p.set_defaults(func=run)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


HEADER = (f"{'case':36s} {'quantity':15s} {'reference':32s} {'max |Δ|':>10s} {'max rel':>10s} "
          f"{'first':>6s} {'tolerance':>9s}")
INFO_TITLE = ("Not enforced, never a failure: each STDP mode against Brian2's documented synapse (the brian2-mode\n"
              "model). These modes have other semantics, so they are expected to differ from it; why, per mode:")
INFO_HEADER = f"{'case':36s} {'max |Δ|':>10s} {'first':>6s}  verdict; the semantic difference"


def _line(r: Record) -> str:
    first = "-" if r.first_step is None else str(r.first_step)
    return (f"{r.case:36s} {r.quantity:15s} {r.reference:32s} {r.max_abs:10.3e} {r.max_rel:10.3e} "
            f"{first:>6s} {r.tolerance:9.1e}  {r.verdict}")


def _info_line(r: Record) -> str:
    first = "-" if r.first_step is None else str(r.first_step)
    return f"{r.case:36s} {r.max_abs:10.3e} {first:>6s}  {r.verdict}; {r.note}"


def run(args: argparse.Namespace) -> int:
    """Run the selected cases, print the records (and PNGs with --out); 0 = all pass, 1 = not."""
    from spikefa.crosscheck.cases import CASES, QUICK, run_case
    from spikefa.crosscheck.settings import Settings

    if args.list:
        for name, case in CASES.items():
            print(f"{name:36s} {'quick' if case.quick else 'long '}  {case.summary}")
        return 0
    names = list(CASES) if args.all else (args.case or list(QUICK))
    settings = Settings(dtype=args.dtype, target=args.target)
    unknown = [n for n in names if n not in CASES]
    if unknown:  # fail on a typo before running anything
        raise SpikefaError(f"--case {unknown[0]!r} is not a cross-check case; `spikefa crosscheck --list` shows them")
    if not args.json:
        print(HEADER)
    failed = 0
    info: list[Record] = []
    for name in names:
        result = run_case(name, settings)
        failed += result.failed
        for record in result.records:
            if args.json:
                print(json.dumps({k: _clean(v) for k, v in record.as_json().items()}), flush=True)
            elif record.enforced:
                print(_line(record), flush=True)
            else:
                info.append(record)
        if args.out:
            from spikefa.crosscheck.plots import plot_case

            path = plot_case(result, args.out)
            print(f"-> {path}", file=sys.stderr if args.json else sys.stdout)
    if not args.json:
        if info:
            print(f"\n{INFO_TITLE}\n{INFO_HEADER}")
            for record in info:
                print(_info_line(record))
        verdict = f"{failed} exceed a tolerance" if failed else "every enforced check within tolerance"
        apart = f"; {len(info)} comparison{'s' * (len(info) != 1)} with other semantics listed apart" if info else ""
        print(f"\n{len(names)} cases: {verdict}{apart}")
    return 1 if failed else 0
