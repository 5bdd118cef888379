"""Mean ± std over seeds of run directories named RULE-seedS: the last epoch's test and val accuracy.

    python benchmarks/seed_table.py DIR RULE [RULE ...] [--seeds 0,1,2] [--readout FILE [--plot PNG]]

With ``--readout FILE`` (e.g. readout50.json, written by benchmarks/softhebb_readout.py in each run
directory), the epoch of that read-out that validation chose instead of the run's last epoch;
``--plot PNG`` draws each run's validation accuracy per read-out epoch, one colour per rule (the
learned rule beside its random-feature control).
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
    ap.add_argument("--plot", type=Path, help="with --readout: validation accuracy per read-out epoch, as a PNG")
    a = ap.parse_args()
    if a.plot and not a.readout:
        ap.error("--plot needs --readout")
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
    if a.plot:
        plot_readouts(a.dir, a.rules, seeds, a.readout, a.plot)


def plot_readouts(folder: Path, rules: list[str], seeds: list[int], name: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for colour, rule in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], rules):
        for i, seed in enumerate(seeds):
            rows = json.loads((folder / f"{rule}-seed{seed}" / name).read_text())["rows"]
            ax.plot([r["epoch"] for r in rows], [100 * r["val"] for r in rows], color=colour, lw=1,
                    alpha=0.8, label=rule if i == 0 else None)
    ax.set(xlabel="read-out epoch", ylabel="validation accuracy (%)", title=f"{folder.name}: seeds {seeds}")
    ax.set_ylim(bottom=max(ax.get_ylim()[0], 97.0))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
