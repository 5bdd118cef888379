"""Cross-check overlays: a long trace is drawn as a window around its largest deviation (the whole
run stays in the deviation panel, window shaded); a short one whole. Content, not pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from spikefa.crosscheck.cases import CaseResult, Overlay  # noqa: E402
from spikefa.crosscheck.compare import Record  # noqa: E402
from spikefa.crosscheck.plots import WINDOW, case_figure, plot_case, view_window  # noqa: E402


def overlay(steps: int, dt: float, bump_at: int) -> Overlay:
    x = np.arange(steps) * dt
    ours = np.sin(x[:, None] / 7.0 + np.arange(3))
    ref = ours.copy()
    ref[bump_at] += 1e-9  # the largest deviation
    return Overlay("membrane (3 busiest neurons)", "t (ms)", "U", x, ours, ref, {"threshold": np.ones(steps)})


def result(*overlays: Overlay) -> CaseResult:
    rec = Record("lif/long", "membrane", "brian2", 1e-9, 1e-9, None, 1e-9, True)
    return CaseResult("lif/long", (rec,), overlays, 0.1)


def test_view_window_centres_on_the_largest_deviation() -> None:
    dev = np.zeros(2000)
    dev[1500] = 1.0
    assert view_window(dev, 400) == slice(1300, 1700)
    dev[:] = 0
    dev[1990] = 1.0
    assert view_window(dev, 400) == slice(1600, 2000)  # clamped to the end
    assert view_window(np.zeros(50), 400) == slice(0, 50)


def test_long_trace_is_windowed_and_short_one_is_whole() -> None:
    fig = case_figure(result(overlay(8000, 0.25, 5000), overlay(120, 1.0, 10)))
    assert len(fig.axes) == 4  # two columns: overlay over deviation
    top_long, top_short, bottom_long, bottom_short = fig.axes
    assert all(len(line.get_xdata()) == WINDOW for line in top_long.get_lines())
    lo, hi = (float(v) for v in top_long.get_lines()[0].get_xdata()[[0, -1]])
    assert lo <= 5000 * 0.25 <= hi and "window" in top_long.get_title()
    assert len(bottom_long.get_lines()[0].get_xdata()) == 8000 and len(bottom_long.patches) == 1  # shaded window
    assert all(len(line.get_xdata()) == 120 for line in top_short.get_lines())
    assert "window" not in top_short.get_title() and not bottom_short.patches
    labels = {line.get_label() for line in top_long.get_lines()}
    assert {"spikefa", "Brian2", "threshold"} <= labels


def test_plot_case_writes_the_png(tmp_path: Path) -> None:
    path = plot_case(result(overlay(600, 0.5, 3)), tmp_path)
    assert path.name == "lif__long.png" and path.stat().st_size > 1000
