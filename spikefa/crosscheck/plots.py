"""PNG overlays of a cross-check case: spikefa (solid) over Brian2 (dashed), and |deviation| below.

matplotlib is imported lazily through ``spikefa._optional`` and only its object API is used
(``Figure`` + Agg canvas), so no global pyplot state or backend switch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikefa._optional import require
from spikefa.crosscheck.cases import CaseResult


def png_name(case: str) -> str:
    """``stdp/brian2/poisson-10hz`` -> ``stdp__brian2__poisson-10hz.png``."""
    return case.replace("/", "__") + ".png"


def plot_case(result: CaseResult, out_dir: str | Path) -> Path:
    """Write one PNG for the case (one column per overlay) and return its path."""
    require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = result.overlays
    fig = Figure(figsize=(5.5 * max(len(panels), 1), 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, max(len(panels), 1), squeeze=False, sharex="col", height_ratios=[3, 1.4])
    for col, ov in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        for k in range(ov.ours.shape[1]):
            (line,) = top.plot(ov.x, ov.ours[:, k], lw=1.4, label="spikefa" if k == 0 else None)
            top.plot(ov.x, ov.ref[:, k], ls="--", lw=1.0, color=line.get_color(), label="Brian2" if k == 0 else None)
        for label, ys in ov.extra.items():
            top.plot(ov.x, ys, color="black", lw=0.8, ls=":", label=label)
        top.set(title=ov.title, ylabel=ov.ylabel)
        top.legend(fontsize=8)
        dev = np.abs(ov.ours - ov.ref).max(axis=1)
        bottom.semilogy(ov.x, np.maximum(dev, 1e-18), lw=1.0, color="tab:red")
        bottom.set(xlabel=ov.xlabel, ylabel="|spikefa − Brian2|")
    worst = max((r for r in result.records if r.enforced), key=lambda r: r.max_abs / max(r.tolerance, 1e-300),
                default=None)
    status = "FAIL" if result.failed else "pass"
    summary = f" — max |Δ| {worst.max_abs:.2e} ({worst.quantity}), tol {worst.tolerance:.1e}" if worst else ""
    fig.suptitle(f"{result.name}: {status}{summary}", fontsize=10)
    path = Path(out_dir) / png_name(result.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
