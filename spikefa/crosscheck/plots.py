"""PNG overlays of a cross-check case: spikefa (solid) over Brian2 (dashed), and |deviation| below.

A long trace (more than `WINDOW` samples, e.g. 2,000 ms of membrane at dt = 0.25 ms) drawn whole
is a solid block, so the overlay panel shows a window of `WINDOW` samples centred on the largest
deviation, and the deviation panel below shows the whole run with that window shaded.

matplotlib is imported lazily through ``spikefa._optional`` and only its object API is used
(``Figure`` + Agg canvas), so no global pyplot state or backend switch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spikefa._optional import require
from spikefa.crosscheck.cases import CaseResult, Overlay

WINDOW = 200  # samples of an overlay drawn in the top panel; longer traces are windowed


def png_name(case: str) -> str:
    """``stdp/brian2/poisson-10hz`` -> ``stdp__brian2__poisson-10hz.png``."""
    return case.replace("/", "__") + ".png"


def deviation(ov: Overlay) -> np.ndarray:
    """|spikefa − Brian2| per sample, the max over the overlay's curves [n]."""
    return np.abs(np.asarray(ov.ours) - np.asarray(ov.ref)).max(axis=1)


def view_window(dev: np.ndarray, width: int = WINDOW) -> slice:
    """The samples the overlay panel draws: all of them when there are at most `width`, else
    `width` consecutive ones centred on the largest deviation (the first, on ties)."""
    n = len(dev)
    if n <= width:
        return slice(0, n)
    centre = int(np.argmax(dev)) if n else 0
    start = min(max(centre - width // 2, 0), n - width)
    return slice(start, start + width)


def _overlay_panel(top: Any, ov: Overlay, view: slice) -> None:
    x = ov.x[view]
    for k in range(ov.ours.shape[1]):
        (line,) = top.plot(x, ov.ours[view, k], lw=1.4, label="spikefa" if k == 0 else None)
        top.plot(x, ov.ref[view, k], ls="--", lw=1.0, color=line.get_color(), label="Brian2" if k == 0 else None)
    for label, ys in ov.extra.items():
        top.plot(x, np.asarray(ys)[view], color="black", lw=0.8, ls=":", label=label)
    windowed = view.stop - view.start < len(ov.x)
    where = f"\n(window {x[0]:g} to {x[-1]:g} of {ov.x[0]:g} to {ov.x[-1]:g}; shaded below)" if windowed else ""
    top.set(title=ov.title + where, ylabel=ov.ylabel, xlabel=ov.xlabel)
    top.legend(fontsize=8)


def case_figure(result: CaseResult) -> Any:
    """The Figure of one case: per overlay, the curves (windowed when long) over the deviation."""
    require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = result.overlays
    fig = Figure(figsize=(5.5 * max(len(panels), 1), 6.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, max(len(panels), 1), squeeze=False, height_ratios=[3, 1.4])
    for col, ov in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        dev = deviation(ov)
        view = view_window(dev)
        _overlay_panel(top, ov, view)
        bottom.semilogy(ov.x, np.maximum(dev, 1e-18), lw=1.0, color="tab:red")
        if view.stop - view.start < len(ov.x):
            bottom.axvspan(ov.x[view.start], ov.x[view.stop - 1], color="grey", alpha=0.25, lw=0)
        bottom.set(xlabel=ov.xlabel, ylabel="|spikefa − Brian2|")
    worst = max((r for r in result.records if r.enforced), key=lambda r: r.max_abs / max(r.tolerance, 1e-300),
                default=None)
    status = "FAIL" if result.failed else "pass"
    summary = f" — max |Δ| {worst.max_abs:.2e} ({worst.quantity}), tol {worst.tolerance:.1e}" if worst else ""
    fig.suptitle(f"{result.name}: {status}{summary}", fontsize=10)
    return fig


def plot_case(result: CaseResult, out_dir: str | Path) -> Path:
    """Write one PNG for the case (one column per overlay) and return its path."""
    fig = case_figure(result)
    path = Path(out_dir) / png_name(result.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
