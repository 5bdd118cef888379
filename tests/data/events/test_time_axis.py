"""Event functions taking a time axis refuse an empty one in one line naming the argument."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from spikefa.data import Splits, load_dataset
from spikefa.data.events import events_to_frames, make_events, span_frames
from spikefa.data.events.dvs import PixelParams, simulate_dvs
from spikefa.data.events.frames import span_bins
from spikefa.data.events.validate import mean_stats
from spikefa.errors import DataError

EV = make_events(np.array([1]), np.array([1]), np.array([10]), np.array([1]))


def _splits(steps: int) -> Splits:
    x, y = torch.zeros(2, steps, 2, 3, 3, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64)
    return Splits("fake", "events", x, y, x, y, x, y, (2, 3, 3), 2, time_steps=steps, bin_ms=1.0)


@pytest.mark.parametrize(("call", "fragment"), [
    (lambda: events_to_frames(EV, time_steps=0, duration_us=10), "events_to_frames: time_steps=0"),
    (lambda: span_frames(EV, (34, 34, 2), 0), "span_frames: time_steps=0"),
    (lambda: span_bins(np.array([1.0]), 0), "span_bins: time_steps=0"),
    (lambda: load_dataset("nmnist-synth", time_steps=0), "load_dataset('nmnist-synth'): time_steps = 0"),
    (lambda: _splits(0), "time_steps = 0 is not allowed; expected an integer >= 1"),
    (lambda: simulate_dvs(lambda k: torch.zeros(1, 2, 2), 0, 10.0,
                          PixelParams(torch.ones(1, 2, 2), torch.ones(1, 2, 2)), 0.0), "simulate_dvs: n_steps = 0"),
    (lambda: mean_stats([]), "mean_stats: recordings is empty"),
])
def test_empty_time_axis_is_refused_by_name(call: Callable[[], object], fragment: str) -> None:
    with pytest.raises(DataError) as info:
        call()
    assert fragment in str(info.value) and "\n" not in str(info.value)
