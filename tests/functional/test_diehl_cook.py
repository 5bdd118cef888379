"""The Diehl & Cook neuron step (spikefa/functional/diehl_cook.py) on hand-made cases: leak,
refractoriness, reset and lateral inhibition by the known amounts; one spike per step and sample."""

from __future__ import annotations

import math

import torch

from spikefa.functional.diehl_cook import dc_init, dc_neuron_step
from spikefa.functional.stdp_batched import bernoulli_events
from spikefa.nn.stdp import DiehlCookNet

from ..helpers import dc_params


def test_neuron_step_leak_refractoriness_reset_and_inhibition() -> None:
    p = dc_params(inhibition=5.0, one_spike=False)
    state = dc_init(1, p)
    theta = torch.zeros(p.n_exc)
    drive = torch.zeros(1, p.n_exc)
    drive[0, 0] = 20.0  # neuron 0 crosses v_thresh = -52 from -65 at once
    spikes, state = dc_neuron_step(drive, state, theta, p)
    assert spikes[0].tolist() == [1, 0, 0, 0, 0, 0] and state.v[0, 0] == p.v_reset
    assert state.refrac[0, 0] == p.refrac_steps
    spikes, state2 = dc_neuron_step(torch.zeros(1, p.n_exc), state, theta, p)
    # the others were inhibited by 5 mV one step later; neuron 0 ignores input while refractory
    decay = math.exp(-p.dt / p.tau_mem)
    torch.testing.assert_close(state2.v[0, 1:], torch.full((5,), p.v_rest - 5.0))
    torch.testing.assert_close(state2.v[0, 0], torch.tensor(p.v_rest + (p.v_reset - p.v_rest) * decay))


def test_one_spike_per_step_and_sample() -> None:
    p = dc_params(inhibition=0.0, one_spike=True, n_exc=10)
    net = DiehlCookNet(p, seed=0)
    x = torch.ones(3, 16)
    gen = torch.Generator().manual_seed(0)
    b_ev = bernoulli_events(x * p.max_rate_hz * p.dt / 1000, p.steps, gen)
    state, w_in = dc_init(3, p), net.weight.t()
    for t in range(p.steps):
        b, i = b_ev.step(t)
        current = torch.zeros(3, p.n_exc).index_add_(0, b, w_in.index_select(0, i))
        spikes, state = dc_neuron_step(current, state, net.theta, p)
        assert spikes.sum(1).max() <= 1
