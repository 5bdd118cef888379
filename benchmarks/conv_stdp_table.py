"""The mean ± std table of `conv_stdp_features.py`'s results in a folder (seedS.json, frozen-seedS.json):

    python benchmarks/conv_stdp_table.py benchmarks/results/conv_stdp_mnist_cpu/features
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def row(name: str, runs: list[dict]) -> str:
    def cell(key: str) -> str:
        v = [r["chosen"][key] for r in runs]
        return f"{statistics.fmean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2f}"

    seeds = " / ".join(f"{r['chosen']['test']:.2f}" for r in runs)
    secs = " / ".join(f"{r['seconds']['stdp'] + r['seconds']['features'] + r['seconds']['fit']:.0f}" for r in runs)
    return f"| {name} | {len(runs)} | {cell('val')} | **{cell('test')}** | {seeds} | {secs} |"


def main() -> None:
    folder = Path(sys.argv[1])
    runs = {k: [json.loads(p.read_text()) for p in sorted(folder.glob(f"{k}seed*.json"))] for k in ("", "frozen-")}
    print("| network | seeds | val % | test % | per seed (test) | seconds per seed (STDP + features + fit) |")
    print("|---|---:|---:|---:|---|---|")
    print(row("conv STDP (5,000 images per layer) + logistic read-out", runs[""]))
    if runs["frozen-"]:
        print(row("random-feature control (conv layers at initialisation)", runs["frozen-"]))


if __name__ == "__main__":
    main()
