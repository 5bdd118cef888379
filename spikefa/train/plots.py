"""PNG plots of runs and comparisons (matplotlib, the `plot` extra; skipped with a note without it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from spikefa._optional import available


def _pyplot() -> Any | None:
    if not available("matplotlib"):
        print("spikefa: note: matplotlib is not installed (install spikefa[plot]); no PNG written", file=sys.stderr)
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(out: Path, history: Sequence[Mapping[str, Any]], title: str = "") -> None:
    """curves.png (loss, val/test accuracy per epoch) and alignment.png when angles were logged."""
    plt = _pyplot()
    if plt is None or not history:
        return
    ep = [r["epoch"] for r in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.plot(ep, [r["train_loss"] for r in history], label="train")
    a1.plot(ep, [r["val_loss"] for r in history], label="val")
    a1.set(xlabel="epoch", ylabel="loss", title="loss")
    a1.legend()
    a2.plot(ep, [100 * r["val_accuracy"] for r in history], label="val")
    a2.plot(ep, [100 * r["test_accuracy"] for r in history], label="test")
    a2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    a2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)
    angle_keys = [k for k in history[-1] if k.endswith("_angle")]
    if angle_keys:
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for k in angle_keys:
            ax.plot(ep, [r.get(k, float("nan")) for r in history], label=k.replace("_angle", ""))
        ax.axhline(90, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="epoch", ylabel="angle (degrees)", title=f"alignment with backprop · {title}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "alignment.png", dpi=110)
        plt.close(fig)


def plot_comparison(path: Path, curves: Mapping[str, Sequence[Sequence[float]]], metric: str, title: str) -> None:
    """Mean ± std band of a per-epoch metric (one list per seed) for each variant."""
    plt = _pyplot()
    if plt is None:
        return
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = plt.get_cmap("tab20").colors
    for i, (label, runs) in enumerate(curves.items()):
        runs = [r for r in runs if r]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        arr = 100 * np.array([r[:n] for r in runs], dtype=float)
        x = np.arange(1, n + 1)
        mean, std = arr.mean(0), arr.std(0)
        style = "--" if label.startswith("dfa") else "-"
        ax.plot(x, mean, style, label=label, color=colors[(2 * i) % 20 + (2 * i) // 20 % 2])
        ax.fill_between(x, mean - std, mean + std, alpha=0.15, color=colors[(2 * i) % 20 + (2 * i) // 20 % 2])
    ax.set(xlabel="epoch", ylabel=f"{metric} (%)", title=title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
