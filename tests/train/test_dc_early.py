"""benchmarks/dc_early.py: the running-accuracy measure (BindsNET's eth_mnist protocol) on hand-made counts."""

from __future__ import annotations

from types import ModuleType

import torch

from ..helpers import BENCHMARKS, load_script


def _script() -> ModuleType:
    return load_script(BENCHMARKS / "dc_early.py")


def test_each_window_is_voted_with_the_previous_windows_labels() -> None:
    """Window 1 teaches neuron 0 = class 0 and neuron 1 = class 1; in window 2 the classes swap
    neurons, so window 2 scores 0 %; window 3 (voted with window 2's swapped labels) scores 100 %."""
    mod = _script()
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    counts = torch.tensor([[3., 0, 0], [0, 2, 0],      # window 1: neuron 0 answers class 0, neuron 1 class 1
                           [0., 4, 0], [1, 0, 0],      # window 2: swapped
                           [0., 5, 0], [2, 0, 0]])     # window 3: as window 2
    rows = mod.running_curve(counts, labels, window=2, classes=2)
    assert [r["images"] for r in rows] == [2, 4, 6]
    assert [r["accuracy"] for r in rows] == [None, 0.0, 100.0]
    assert [r["never_fired"] for r in rows] == [1, 1, 1]  # neuron 2 never fires
    assert [r["mean_spikes"] for r in rows] == [2.5, 2.5, 3.5]


def test_a_short_last_window_is_scored_on_what_it_holds() -> None:
    mod = _script()
    counts = torch.tensor([[1., 0], [0, 1], [1, 0]])
    rows = mod.running_curve(counts, torch.tensor([0, 1, 0]), window=2, classes=2)
    assert rows[-1] == {"images": 3, "accuracy": 100.0, "never_fired": 0, "mean_spikes": 1.0}
