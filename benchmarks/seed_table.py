"""Mean ± std over seeds of run directories named RULE-seedS: the last epoch's test and val accuracy.

    python benchmarks/seed_table.py DIR RULE [RULE ...] [--seeds 0,1,2] [--readout FILE [--plot PNG] [--at 1,2,5]]

With ``--readout FILE`` (e.g. readout50.json, written by benchmarks/softhebb_readout.py in each run
directory), the epoch of that read-out that validation chose instead of the run's last epoch;
``--plot PNG`` draws each run's validation accuracy per read-out epoch, one colour per rule (the
learned rule beside its random-feature control); ``--at EPOCHS`` prints each rule's mean
validation accuracy over the seeds after those read-out epochs.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

from spikefa._args import positive_ints
from spikefa.errors import SpikefaError


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
    ap.add_argument("--at", help="with --readout: comma list of read-out epochs, mean validation accuracy after each")
    a = ap.parse_args()
    if (a.plot or a.at) and not a.readout:
        ap.error("--plot and --at need --readout")
    try:
        epochs = positive_ints("--at", a.at) if a.at else []
    except SpikefaError as e:
        ap.error(str(e))
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
    if epochs:
        print(f"\n| rule | mean val % after read-out epoch {' / '.join(map(str, epochs))} |\n|---|---|")
        for rule in a.rules:
            curves = [readout_rows(a.dir / f"{rule}-seed{s}", a.readout) for s in seeds]
            if not all(1 <= e <= min(map(len, curves)) for e in epochs):
                ap.error(f"--at {a.at}: {rule}'s read-outs have {min(map(len, curves))} epochs")
            means = [statistics.mean(100 * rows[e - 1]["val"] for rows in curves) for e in epochs]
            print(f"| {rule} | {' / '.join(f'{m:.2f}' for m in means)} |")
    if a.plot:
        plot_readouts(a.dir, a.rules, seeds, a.readout, a.plot)


def readout_rows(run: Path, name: str) -> list[dict[str, float]]:
    """One softhebb_readout.py JSON's per-epoch rows (epoch, train_loss, val, test)."""
    rows: list[dict[str, float]] = json.loads((run / name).read_text())["rows"]
    return rows


def plot_readouts(folder: Path, rules: list[str], seeds: list[int], name: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for colour, rule in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], rules):
        for i, seed in enumerate(seeds):
            rows = readout_rows(folder / f"{rule}-seed{seed}", name)
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
