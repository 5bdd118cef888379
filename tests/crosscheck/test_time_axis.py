"""Every cross-check function taking a time axis refuses T = 0 (and unequal T) in one line naming
the argument, instead of an IndexError or a vacuous pass over no steps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from spikefa.crosscheck import compare, trains
from spikefa.crosscheck.native import spikefa_lif, spikefa_stdp
from spikefa.crosscheck.reference import brian2_lif, brian2_stdp
from spikefa.errors import ConfigError
from spikefa.functional.lif import LIFParams
from spikefa.functional.stdp import STDPParams

EMPTY_PRE, EMPTY_POST = np.zeros((0, 3), bool), np.zeros((0, 2), bool)
PRE, POST, W0 = np.zeros((5, 3), bool), np.zeros((4, 2), bool), np.full((2, 3), 0.5)


@pytest.mark.parametrize(("call", "fragment"), [
    (lambda: spikefa_stdp(EMPTY_PRE, EMPTY_POST, W0, STDPParams(), 1.0), "spikefa_stdp: pre has T = 0"),
    (lambda: brian2_stdp(EMPTY_PRE, EMPTY_POST, W0, STDPParams(), 1.0), "brian2_stdp: pre has T = 0"),
    (lambda: spikefa_stdp(PRE, POST, W0, STDPParams(), 1.0),
     "spikefa_stdp: the time axes differ (pre T = 5, post T = 4)"),
    (lambda: brian2_stdp(PRE, POST, W0, STDPParams(), 1.0), "brian2_stdp: the time axes differ"),
    (lambda: spikefa_lif(np.zeros((0, 4)), LIFParams(beta=0.9)), "spikefa_lif: currents has T = 0"),
    (lambda: brian2_lif(np.zeros((0, 4)), LIFParams(beta=0.9)), "brian2_lif: currents has T = 0"),
    (lambda: spikefa_lif(np.zeros(4), LIFParams(beta=0.9)), "expected time-major [T, n]"),
    (lambda: compare.series("c", "weight", np.zeros((0, 2)), np.zeros((0, 2)), 1e-9, "brian2"),
     "compare.series: weight has shape (0, 2), T = 0"),
    (lambda: compare.spikes("c", np.zeros((0, 2)), np.zeros((0, 2))), "compare.spikes: spike_times has shape (0, 2)"),
    (lambda: compare.spikes("c", np.zeros((3, 2)), np.zeros((4, 2))), "shapes (3, 2) and (4, 2) differ"),
    (lambda: trains.poisson(np.random.default_rng(0), 0, 3, 10.0, 1.0), "trains.poisson: steps = 0"),
    (lambda: trains.at_steps(0, 3, {}), "trains.at_steps: steps = 0"),
    (lambda: trains.raster_from(np.zeros(0), np.zeros(0), 0, 3, 1.0), "trains.raster_from: steps = 0"),
])
def test_empty_time_axis_is_refused_by_name(call: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        call()
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_one_step_is_enough() -> None:
    """T = 1 is the smallest valid axis: both sides run and agree."""
    pre, post = np.ones((1, 3), bool), np.ones((1, 2), bool)
    ours = spikefa_stdp(pre, post, W0, STDPParams(), 1.0)
    assert ours.shape == (1, 2, 3)
    assert compare.series("c", "weight", ours, ours, 1e-9, "self").passed
