"""Run and comparison figures: their content (markers, integer epoch ticks, what is drawn where),
not their pixels."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from spikefa.train.demo import demo_variants  # noqa: E402
from spikefa.train.plots import (OTHER, alignment_figure, comparison_figure, curves_figure,  # noqa: E402
                                 features_figure, panel_groups, plot_run)


def history(epochs: int) -> list[dict]:
    return [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e, "val_accuracy": 0.5 + 0.1 * e,
             "test_accuracy": 0.45 + 0.1 * e, "layer0_angle": 80.0 - e} for e in range(1, epochs + 1)]


def visible_ticks(ax) -> list[float]:  # type: ignore[no-untyped-def]
    lo, hi = ax.get_xlim()
    return [t for t in ax.get_xticks() if lo <= t <= hi]


def assert_epoch_axis(ax, epochs: list[int]) -> None:  # type: ignore[no-untyped-def]
    ticks = visible_ticks(ax)
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    lo, hi = ax.get_xlim()
    assert lo < min(epochs) and max(epochs) < hi and ax.get_xlabel() == "epoch"


def lines(ax) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {line.get_label(): line for line in ax.get_lines()}


@pytest.mark.parametrize("epochs", [1, 3])
def test_run_curves_have_markers_integer_epochs_and_test_only_at_the_end(epochs: int) -> None:
    fig = curves_figure(history(epochs), "t")
    loss, acc = fig.axes
    for ax in (loss, acc):
        assert_epoch_axis(ax, list(range(1, epochs + 1)))
        assert all(line.get_marker() not in (None, "None", "") for line in ax.get_lines())
    assert len(lines(loss)["train"].get_xdata()) == epochs and len(lines(loss)["val"].get_xdata()) == epochs
    val = lines(acc)["val (per epoch)"]
    assert list(val.get_xdata()) == list(range(1, epochs + 1))
    (test_label,) = [k for k in lines(acc) if k.startswith("test")]
    test = lines(acc)[test_label]
    assert list(test.get_xdata()) == [epochs] and test_label == f"test after epoch {epochs}: {45 + 10 * epochs:.2f} %"


def test_alignment_figure_markers_and_epochs() -> None:
    fig = alignment_figure(history(2), "t")
    (ax,) = fig.axes
    assert_epoch_axis(ax, [1, 2])
    assert lines(ax)["layer0"].get_marker() == "o"
    assert alignment_figure([{k: v for k, v in r.items() if k != "layer0_angle"} for r in history(2)]) is None


def test_plot_run_writes_both_pngs(tmp_path: Path) -> None:
    plot_run(tmp_path, history(1), "one epoch")
    assert (tmp_path / "curves.png").stat().st_size > 1000 and (tmp_path / "alignment.png").is_file()


def test_demo_comparison_has_a_panel_per_family_and_no_repeated_colour() -> None:
    labels = ["bp", *[v.replace(":random", "") if v in ("fa:random", "dfa:random") else v for v in demo_variants()
                      if v != "bp"]]
    groups = panel_groups(labels)
    assert set(groups) == {"fa", "dfa", OTHER} and "sign" in groups[OTHER]
    assert sorted(sum(groups.values(), [])) == sorted(labels[1:])  # every variant once, bp in every panel
    curves = {label: [[0.5, 0.6], [0.52, 0.61]] for label in labels}
    fig = comparison_figure(curves, "val accuracy", "demo", final={label: [0.6, 0.62] for label in labels})
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == list(groups)
    for ax in shown:
        assert_epoch_axis(ax, [1, 2])
        drawn = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        colours = [line.get_color() for line in drawn if line.get_label() != "bp"]
        assert len(colours) == len(set(colours)) == len(groups[ax.get_title()])
        assert lines(ax)["bp"].get_linestyle() == "--"
        assert all(line.get_marker() == "o" for line in drawn)


def test_one_epoch_comparison_is_visible() -> None:
    fig = comparison_figure({"bp": [[0.9]], "fa": [[0.8]], "dfa": [[0.7]]}, "test accuracy", "one epoch")
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert_epoch_axis(ax, [1])
    assert {k for k in lines(ax) if not k.startswith("_")} == {"fa", "dfa", "bp"}


def test_features_figure_tiles_each_unit_scaled_to_its_own_peak() -> None:
    import numpy as np
    import torch

    w = torch.zeros(5, 2 * 3 * 4)
    for i in range(5):
        w[i, i] = float(i + 1)  # unit i: one pixel, of height i + 1, in channel 0
    w[4, 12 + 4] = -20.0  # unit 4: its largest |w| in channel 1 (channels are averaged)
    fig = features_figure(w, (2, 3, 4), "t", {"units": 5, "dead": 0.2, "duplicate": 0.0})
    ax = fig.axes[0]
    mosaic = np.ma.filled(ax.images[0].get_array(), np.nan)
    assert mosaic.shape == (2 * 4 - 1, 3 * 5 - 1)  # 3 x 2 grid of 3x4 tiles with one-pixel gaps
    tile = lambda i: mosaic[(i // 3) * 4:(i // 3) * 4 + 3, (i % 3) * 5:(i % 3) * 5 + 4]  # noqa: E731
    for i in range(4):
        assert np.nanmax(np.abs(tile(i))) == 1.0 and tile(i).flat[i] == 1.0
    assert tile(4).flat[4] == -1.0  # channels averaged: (5 - 20) / 2, scaled to its own peak
    assert np.isnan(tile(5)).all()  # no sixth unit
    assert "dead 20.0 %" in ax.get_title()
