"""Watch feedback alignment happen: the FA update turns towards the backprop gradient.

At the start the random feedback B sends an error nearly orthogonal (~90°) to backprop's; as
training goes on the forward weights come to align with B and the angle between the FA update
and the true gradient falls (Lillicrap et al. 2016, Fig. 2). ``measure_alignment`` measures it
on a fixed probe batch without changing training. Writes ``angles.csv`` and, when matplotlib is
installed, ``angles.png``.

Run: ``python examples/02_alignment_angles.py [--fast] [--out DIR]``
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.data import load_dataset
from spikefa.rules.alignment import measure_alignment


def train_and_measure(epochs: int, every: int, seed: int = 0) -> list[dict[str, float]]:
    """Train an FA network; every ``every`` steps record each layer's update angle (degrees)."""
    data = load_dataset("digits")
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.Tanh(), nn.Linear(256, 128), nn.Tanh(),
                        nn.Linear(128, 10))
    model = spikefa.convert(net, rule="fa", feedback="random", seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    probe_x, probe_y = data.x_val[:256], data.y_val[:256]
    order, rows, step = torch.Generator().manual_seed(seed), [], 0
    for _ in range(epochs):
        for idx in torch.randperm(len(data.x_train), generator=order).split(32):
            if step % every == 0:
                angles = measure_alignment(model, F.cross_entropy, probe_x, probe_y)
                rows.append({"step": step, **{k: v for k, v in angles.items() if k.endswith("update_angle")}})
            optimizer.zero_grad()
            F.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            optimizer.step()
            step += 1
    return rows


def plot(rows: list[dict[str, float]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key in [k for k in rows[0] if k != "step"]:
        ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker="o", markersize=3, label=key.split(".")[0])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    ax.set(xlabel="training step", ylabel="angle to backprop gradient (°)", title="FA update vs backprop")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="one epoch, a smoke test")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/02_alignment_angles"))
    args = parser.parse_args()
    if args.fast:
        print("--fast: a smoke test (1 epoch); the angles below only show that the code runs, "
              "not where they settle (run without --fast: 20 epochs)")
    rows = train_and_measure(epochs=1 if args.fast else 20, every=4 if args.fast else 36)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "angles.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for key in [k for k in rows[0] if k != "step"]:  # the output layer gets the true error: 0°
        print(f"{key}: {rows[0][key]:5.1f}° at step 0 -> {rows[-1][key]:5.1f}° at step {rows[-1]['step']}")
    plotted = plot(rows, args.out / "angles.png")
    print(f"wrote {args.out / 'angles.csv'}" + (" and angles.png" if plotted else " (no matplotlib: no plot)"))


if __name__ == "__main__":
    main()
