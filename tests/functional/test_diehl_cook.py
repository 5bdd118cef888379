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



def test_inhibition_arrives_d_steps_after_the_spike() -> None:
    """Neuron 0 fires at step 0; neuron 1's drive crosses threshold at step 1. With the direct form
    (d = 1) the inhibition reaches neuron 1 at step 1 and it stays silent; with BindsNET's
    Ae -> Ai -> Ae timing (d = 2) it fires at step 1 and the inhibition lands at step 2 on the
    others, not on neuron 0 (a neuron does not inhibit itself)."""
    drives = torch.zeros(3, 1, 6)
    drives[0, 0, 0] = 20.0
    drives[1, 0, 1] = 20.0
    fired = {}
    for d in (1, 2):
        p = dc_params(inhibition=10.0, one_spike=False, inhibition_delay_ms=float(d))
        state, theta, steps = dc_init(1, p), torch.zeros(p.n_exc), []
        for t in range(3):
            spikes, state = dc_neuron_step(drives[t], state, theta, p)
            steps.append(spikes[0].nonzero().flatten().tolist())
        fired[d] = steps
        if d == 2:  # step 2: neurons 2..5 got neuron 0's inhibition (from step 0), -10 mV from rest
            torch.testing.assert_close(state.v[0, 2:], torch.full((4,), p.v_rest - 10.0))
    assert fired[1] == [[0], [], []]
    assert fired[2] == [[0], [1], []]

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
