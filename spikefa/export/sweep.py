"""Accuracy versus weight bits per target: the table and the plot of ``spikefa export sweep``.

`accuracy` takes any simulator and an iterable of (spikes [T, B, ...], labels [B]) batches, so the
caller plugs in the data set; `sweep` runs the float network once and the integer simulator for
every (target, bits) the target offers, recording refusals (with the checker's reasons) as rows.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikefa.export.check import check
from spikefa.export.network import dense_layers
from spikefa.export.profile import Profile, load_profile
from spikefa.export.quantize import quantize
from spikefa.export.simulate import float_layers, output_scores, run_float, run_int

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def accuracy(simulate: Callable[[torch.Tensor], torch.Tensor], batches: Batches) -> float:
    """Fraction of labels equal to argmax of ``simulate(spikes)`` (class scores [B, classes])."""
    right, total = 0, 0
    for spikes, labels in batches:
        pred = simulate(spikes).argmax(dim=1)
        right += int((pred == labels).sum())
        total += int(labels.numel())
    return right / total if total else math.nan


def _scores_int(qnet: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    unit = qnet.layers[-1].unit
    return lambda x: output_scores(run_int(qnet, x), unit)


@dataclass(frozen=True)
class SweepRow:
    """One (target, bits) cell: integer-simulator accuracy, or why there is none."""

    target: str
    bits: int
    accuracy: float
    float_accuracy: float
    status: str

    @property
    def loss_points(self) -> float:
        return 100.0 * (self.float_accuracy - self.accuracy)


def _reiterable(batches: Batches | Callable[[], Batches]) -> Callable[[], Batches]:
    if callable(batches):
        return batches  # type: ignore[return-value]
    if iter(batches) is batches:  # a one-shot iterator: keep its batches
        kept = list(batches)
        return lambda: kept
    return lambda: batches  # type: ignore[return-value]


def sweep(net: nn.Module, targets: Sequence[str | Profile], bits: Sequence[int],
          batches: Batches | Callable[[], Batches]) -> list[SweepRow]:
    """Accuracy of the integer simulator for every target × bits (a re-iterable or a callable
    giving the batches; a one-shot iterator is kept in memory)."""
    data = _reiterable(batches)
    layers, _ = dense_layers(net)
    floats = float_layers(layers)
    base = accuracy(lambda x: output_scores(run_float(floats, x)), data()) if layers else math.nan
    rows = []
    for target in targets:
        profile = load_profile(target) if isinstance(target, str) else target
        for b in bits:
            problems = check(net, profile, b)
            if problems:
                rows.append(SweepRow(profile.name, b, math.nan, base, "refused: " + "; ".join(problems)))
                continue
            acc = accuracy(_scores_int(quantize(net, profile, b)), data())
            rows.append(SweepRow(profile.name, b, acc, base, "ok"))
    return rows


def write_sweep(rows: Sequence[SweepRow], out_dir: str | Path) -> list[Path]:
    """``sweep.md`` (table), ``sweep.csv`` and ``sweep.png`` (accuracy vs bits per target)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| target | bits | accuracy (%) | float (%) | loss (points) | status |", "|---|---|---|---|---|---|"]
    for r in rows:
        acc = "—" if math.isnan(r.accuracy) else f"{100 * r.accuracy:.2f}"
        loss = "—" if math.isnan(r.accuracy) else f"{r.loss_points:+.2f}"
        lines.append(f"| {r.target} | {r.bits} | {acc} | {100 * r.float_accuracy:.2f} | {loss} | {r.status} |")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    with (out / "sweep.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["target", "bits", "accuracy", "float_accuracy", "status"])
        writer.writerows([r.target, r.bits, r.accuracy, r.float_accuracy, r.status] for r in rows)
    return [out / "sweep.md", out / "sweep.csv", plot_sweep(rows, out / "sweep.png")]


def plot_sweep(rows: Sequence[SweepRow], path: Path) -> Path:
    """Accuracy against bits, one line per target, the float accuracy dashed."""
    from spikefa._optional import require

    require("matplotlib").use("Agg")
    plt = require("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(6, 4))
    for target in dict.fromkeys(r.target for r in rows):
        pts = sorted((r.bits, 100 * r.accuracy) for r in rows if r.target == target and not math.isnan(r.accuracy))
        if pts:
            ax.plot(*zip(*pts), marker="o", label=target)
    if rows and not math.isnan(rows[0].float_accuracy):
        ax.axhline(100 * rows[0].float_accuracy, ls="--", color="grey", label="float")
    ax.set_xlabel("weight bits")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def rate_batches(x: torch.Tensor, y: torch.Tensor, encoder: Callable[..., torch.Tensor], batch_size: int = 256,
                 seed: int = 0) -> Callable[[], Batches]:
    """Batches of encoded spikes from static inputs, the same spikes on every pass (seeded)."""
    def make() -> Batches:
        gen = torch.Generator().manual_seed(seed)
        for i in range(0, len(x), batch_size):
            yield encoder(x[i:i + batch_size], gen), y[i:i + batch_size]

    return make


__all__ = ["SweepRow", "accuracy", "plot_sweep", "rate_batches", "sweep", "write_sweep"]
