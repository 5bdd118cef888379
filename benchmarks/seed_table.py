"""Mean ± std over seeds of run directories named RULE-seedS: the last epoch's test and val accuracy.

    python benchmarks/seed_table.py DIR RULE [RULE ...] [--seeds 0,1,2] [--readout FILE]

With ``--readout FILE`` (e.g. readout50.json, written by benchmarks/softhebb_readout.py in each run
directory), the epoch of that read-out that validation chose instead of the run's last epoch.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path


def last_epoch(run: Path) -> dict[str, str]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))[-1]


def chosen_readout(run: Path, name: str) -> dict[str, str]:
    chosen = json.loads((run / name).read_text())["chosen"]
    return {"test_accuracy": str(chosen["test"]), "val_accuracy": str(chosen["val"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("rules", nargs="+")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--readout", help="a softhebb_readout.py JSON in each run directory: its chosen epoch")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    print("| rule | seeds | test % | val % | per seed (test) |\n|---|---:|---:|---:|---|")
    for rule in a.rules:
        rows = [chosen_readout(a.dir / f"{rule}-seed{s}", a.readout) if a.readout else last_epoch(a.dir / f"{rule}-seed{s}")
                for s in seeds]
        test = [100 * float(r["test_accuracy"]) for r in rows]
        val = [100 * float(r["val_accuracy"]) for r in rows]
        spread = (lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0)
        print(f"| {rule} | {len(seeds)} | {statistics.mean(test):.2f} ± {spread(test):.2f} | "
              f"{statistics.mean(val):.2f} ± {spread(val):.2f} | {' / '.join(f'{t:.2f}' for t in test)} |")


if __name__ == "__main__":
    main()
