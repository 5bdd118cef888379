"""PNG plots of runs and comparisons (matplotlib, the `plot` extra; skipped with a note without it).

Figures are built with matplotlib's object API (`Figure` + Agg canvas: no global pyplot state) by
functions that return them, so tests can check their content; `plot_run` / `plot_comparison`
save them. Every per-epoch curve has markers (a one-epoch run is one visible point per curve) and
the epoch axis has integer ticks only.

- `curves.png` of a run: train and val loss; val accuracy per epoch, and the test accuracy only
  at the final epoch (one marker): the test split is reported after the last epoch, never used
  to choose anything.
- `alignment.png`: the mean angle per layer between the rule's update and backprop's, per epoch.
- a comparison (`spikefa compare`, `spikefa demo`): one panel per rule with several variants (fa
  with every feedback kind, dfa with every kind, ...) and one for the rules with a single variant,
  mean ± std over seeds, backprop as a dashed grey reference in every panel: at most ten variants
  per panel, so no two share a colour.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from spikefa._optional import available
from spikefa.rules.registry import REFERENCE

MARKER = "o"


def _pyplot() -> Any | None:
    """pyplot on the Agg backend, or None (with a note) without matplotlib; for callers that use it."""
    if not available("matplotlib"):
        print("spikefa: note: matplotlib is not installed (install spikefa[plot]); no PNG written", file=sys.stderr)
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(width: float, height: float, margins: Mapping[str, float] | None = None) -> Any | None:
    """A Figure on an Agg canvas, or None (with a note) when matplotlib is missing. With ``margins``
    (`subplots_adjust`'s keywords) the layout is fixed: half the drawing time of the constrained
    layout, which every run's own figures would pay at the end of each run."""
    if not available("matplotlib"):
        print("spikefa: note: matplotlib is not installed (install spikefa[plot]); no PNG written", file=sys.stderr)
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=None if margins else "constrained")
    FigureCanvasAgg(fig)
    if margins:
        fig.subplots_adjust(**margins)
    return fig


def epoch_axis(ax: Any, epochs: Sequence[int]) -> None:
    """Integer ticks on an epoch x axis, with half an epoch of margin (a single epoch is centred)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if epochs:
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    ax.set_xlabel("epoch")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def curves_figure(history: Sequence[Mapping[str, Any]], title: str = "") -> Any | None:
    """Loss (train, val) and accuracy (val per epoch, test at the final epoch) against epochs 1..N."""
    fig = _figure(10, 3.8, dict(left=0.07, right=0.985, bottom=0.13, top=0.84, wspace=0.22))
    if fig is None or not history:
        return None
    ep = [int(r["epoch"]) for r in history]
    loss, acc = fig.subplots(1, 2)
    loss.plot(ep, [r["train_loss"] for r in history], marker=MARKER, label="train")
    loss.plot(ep, [r["val_loss"] for r in history], marker=MARKER, label="val")
    loss.set(ylabel="loss", title="loss")
    acc.plot(ep, [100 * r["val_accuracy"] for r in history], marker=MARKER, label="val (per epoch)")
    last = history[-1]
    if _finite(last.get("test_accuracy")):
        test = 100 * float(last["test_accuracy"])
        acc.plot([ep[-1]], [test], marker="*", markersize=13, ls="none", color="tab:red",
                 label=f"test after epoch {ep[-1]}: {test:.2f} %")
    acc.set(ylabel="accuracy (%)", title="accuracy")
    for ax in (loss, acc):
        epoch_axis(ax, ep)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def alignment_figure(history: Sequence[Mapping[str, Any]], title: str = "") -> Any | None:
    """Angles (degrees) per layer between the rule's update and backprop's, per epoch; None if none logged."""
    keys = [k for k in (history[-1] if history else {}) if k.endswith("_angle")]
    if not keys:
        return None
    fig = _figure(6, 3.8, dict(left=0.12, right=0.97, bottom=0.13, top=0.85))
    if fig is None:
        return None
    ax = fig.subplots()
    ep = [int(r["epoch"]) for r in history]
    for k in keys:
        ax.plot(ep, [r.get(k, float("nan")) for r in history], marker=MARKER, label=k.removesuffix("_angle"))
    ax.axhline(90, color="grey", lw=0.8, ls=":")
    ax.set(ylabel="angle (degrees)", title=f"alignment with backprop\n{title}")
    epoch_axis(ax, ep)
    ax.legend(fontsize=7)
    return fig


def plot_run(out: Path, history: Sequence[Mapping[str, Any]], title: str = "") -> None:
    """curves.png (loss; val accuracy per epoch, test at the end) and alignment.png when angles were logged."""
    figures = {"curves.png": curves_figure(history, title), "alignment.png": alignment_figure(history, title)}
    for name, fig in figures.items():
        if fig is not None:
            fig.savefig(Path(out) / name, dpi=110)


OTHER = "other rules"


def family(label: str) -> str:
    """The rule a variant label belongs to: ``"fa:binary+plastic=hebb"`` -> ``"fa"``."""
    return label.split("+", 1)[0].split(":", 1)[0]


def panel_groups(labels: Sequence[str], reference: str | None = REFERENCE) -> dict[str, list[str]]:
    """Panel title -> variant labels: a rule with several variants gets a panel, the single-variant
    rules share one (`OTHER`); the reference is left out (it is drawn in every panel)."""
    by_rule: dict[str, list[str]] = {}
    for label in labels:
        if label != reference:
            by_rule.setdefault(family(label), []).append(label)
    groups = {rule: members for rule, members in by_rule.items() if len(members) > 1}
    singles = [members[0] for members in by_rule.values() if len(members) == 1]
    if singles:
        groups[OTHER if groups else "rules"] = singles
    if not groups and reference in labels:
        groups[reference] = [reference]  # a comparison of backprop alone
    return groups


def comparison_figure(curves: Mapping[str, Sequence[Sequence[float]]], metric: str, title: str,
                      final: Mapping[str, Sequence[float]] | None = None) -> Any | None:
    """Mean ± std over seeds of a per-epoch metric (fractions; one list per seed), one panel per
    rule family; `final` (optional): a value per seed after the last epoch, drawn as one marker."""
    drawn = [label for label, runs in curves.items() if any(runs)]
    reference = REFERENCE if REFERENCE in drawn else None
    groups = panel_groups(drawn, reference)
    panels = list(groups)
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = _figure(4.6 * cols, 3.4 * rows + 0.6)
    if fig is None:
        return None
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    epochs_seen: list[int] = []
    for ax, fam in zip(axes.flat, panels):
        for i, label in enumerate(groups[fam]):
            epochs_seen += _draw_variant(ax, label, curves[label], (final or {}).get(label), f"C{i % 10}", "-")
        if reference and groups[fam] != [reference]:
            epochs_seen += _draw_variant(ax, reference, curves[reference], (final or {}).get(reference), "grey", "--")
        ax.set(title=fam, ylabel=f"{metric} (%)")
        ax.legend(fontsize=7)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes.flat[: len(panels)]:
        epoch_axis(ax, sorted(set(epochs_seen)))
    note = " (★: test accuracy after the last epoch, mean ± std)" if final else ""
    fig.suptitle(f"{title}{note}", fontsize=10)
    return fig


def _draw_variant(ax: Any, label: str, runs: Sequence[Sequence[float]], final: Sequence[float] | None,
                  color: str, style: str) -> list[int]:
    """One variant's mean ± std band (and its final marker); returns the epochs it covers."""
    import numpy as np

    runs = [r for r in runs if r]
    if not runs:
        return []
    n = min(len(r) for r in runs)
    arr = 100 * np.array([r[:n] for r in runs], dtype=float)
    x = np.arange(1, n + 1)
    mean, std = arr.mean(0), arr.std(0)
    ax.plot(x, mean, style, marker=MARKER, markersize=4, color=color, label=label)
    ax.fill_between(x, mean - std, mean + std, alpha=0.15, color=color)
    if final:
        ax.errorbar([n], [100 * float(np.mean(final))], [100 * float(np.std(final))], marker="*", markersize=10,
                    color=color, capsize=3, ls="none")
    return x.tolist()


def plot_comparison(path: Path, curves: Mapping[str, Sequence[Sequence[float]]], metric: str, title: str,
                    final: Mapping[str, Sequence[float]] | None = None) -> None:
    """Write `comparison_figure` to `path` (see there)."""
    fig = comparison_figure(curves, metric, title, final)
    if fig is not None:
        fig.savefig(path, dpi=110)


FEATURES_SHOWN = 64
"""Units drawn in features.png (the first ones, in unit order)."""


def _image_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """(C, H, W) of an input: images as they are, a flat vector of a square size as one channel,
    any other vector as one row."""
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    if len(shape) == 2:
        return 1, int(shape[0]), int(shape[1])
    n = int(math.prod(shape))
    side = math.isqrt(n)
    return (1, side, side) if side * side == n else (1, 1, n)


def features_figure(weight: Any, input_shape: Sequence[int], title: str = "",
                    stats: Mapping[str, float] | None = None, shown: int = FEATURES_SHOWN) -> Any | None:
    """The receptive fields of a layer reading images: the first ``shown`` units' weight rows
    ([out, C·H·W]) as C×H×W images (channels averaged), tiled in one grid, each scaled to its own
    largest |w| on a diverging map (red +, blue −); ``stats`` (dead / duplicate fractions) go in the
    title."""
    import numpy as np

    w = np.asarray(weight.detach().cpu().double() if hasattr(weight, "detach") else weight, dtype=float)
    c, h, wd = _image_shape(input_shape)
    n = min(shown, w.shape[0])
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    mosaic = np.full((rows * (h + 1) - 1, cols * (wd + 1) - 1), np.nan)
    for i in range(n):
        img = w[i].reshape(c, h, wd).mean(0)
        r, q = divmod(i, cols)
        mosaic[r * (h + 1):r * (h + 1) + h, q * (wd + 1):q * (wd + 1) + wd] = img / (np.abs(img).max() or 1.0)
    fig = _figure(0.9 * cols + 0.6, 0.9 * rows + 0.8)
    if fig is None:
        return None
    ax = fig.subplots()
    ax.imshow(np.ma.masked_invalid(mosaic), cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    note = "" if not stats else (f"\ndead {100 * stats['dead']:.1f} %, duplicate {100 * stats['duplicate']:.1f} %"
                                 f" of {int(stats['units'])} units")
    ax.set_title(f"{title}{note}", fontsize=8)
    return fig


def plot_features(path: Path, weight: Any, input_shape: Sequence[int], title: str = "",
                  stats: Mapping[str, float] | None = None) -> None:
    """Write `features_figure` to ``path`` (see there)."""
    fig = features_figure(weight, input_shape, title, stats)
    if fig is not None:
        fig.savefig(path, dpi=110)
