"""STDP networks (spikefa/nn/stdp/): the Diehl & Cook network (adaptive threshold, winner-take-all
inhibition, its learning run against the sequential `stdp_step`, exclusive batches, buffers only,
state round trip), the three-factor network against the direct eligibility formula, and the delta
readout against the numpy delta rule and the cross-entropy gradient. Spikes are generated."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from spikefa.functional.diehl_cook import dc_init, dc_neuron_step
from spikefa.functional.eligibility import stdp_eligibility, three_factor_delta
from spikefa.functional.stdp import stdp_init, stdp_step
from spikefa.functional.stdp_batched import bernoulli_events, normalize_incoming
from spikefa.nn.stdp import DeltaReadout, DiehlCookNet, ThreeFactorNet
from spikefa.schemas.stdp import DiehlCookParams, ThreeFactorParams

from ..helpers import dc_params
from ..reference import np_delta_rule


# ------------------------------------------------------------------ Diehl & Cook


def test_adaptive_threshold_rises_by_theta_plus_per_learning_spike_and_decays() -> None:
    p = dc_params(tau_theta=50.0, theta_plus=0.5, inhibition=0.0, one_spike=False, rest_ms=0.0)
    net = DiehlCookNet(p, seed=1)
    x = torch.ones(1, 16)
    gen = torch.Generator().manual_seed(0)
    counts = net.run(x, p.max_rate_hz, gen, learn=True)
    assert counts.sum() > 0
    assert torch.all(net.theta[counts[0] > 0] > 0)
    assert torch.all(net.theta <= p.theta_plus * counts[0] + 1e-6)  # spikes add θ₊, the decay only takes
    before = net.theta.clone()
    net.run(torch.zeros(1, 16), p.max_rate_hz, gen, learn=True)  # no input: no spikes, pure decay
    torch.testing.assert_close(net.theta, before * math.exp(-p.dt / p.tau_theta) ** p.steps)
    frozen = net.theta.clone()
    net.run(x, p.max_rate_hz, gen, learn=False)  # inference leaves θ alone
    assert torch.equal(net.theta, frozen)


def test_lateral_inhibition_makes_the_layer_winner_take_all() -> None:
    def winner_share(inhibition: float) -> float:
        """The most active neuron's share of each sample's spikes, averaged over samples."""
        p = dc_params(inhibition=inhibition, n_exc=20, one_spike=False, time_ms=100.0)
        net = DiehlCookNet(p, seed=3)
        x = torch.rand(8, 16, generator=torch.Generator().manual_seed(1))
        counts = net.run(x, p.max_rate_hz, torch.Generator().manual_seed(2))
        return float((counts.max(1).values / counts.sum(1)).mean())
    assert winner_share(0.0) < 0.2  # without inhibition every neuron fires alike
    assert winner_share(50.0) > 0.6  # with it one winner takes (nearly) all


def test_learning_run_with_one_sample_equals_the_sequential_stdp_step() -> None:
    """The network's event kernels for B = 1 against stdp_step driven by the same spike trains."""
    p = dc_params(inhibition=3.0, nu_pre=0.01, nu_post=0.05, theta_plus=0.0)
    net = DiehlCookNet(p, seed=5)
    w = net.weight.clone()
    x = torch.rand(1, 16, generator=torch.Generator().manual_seed(4))
    counts = net.run(x, p.max_rate_hz, torch.Generator().manual_seed(9), learn=True)
    assert counts.sum() > 3
    # replay: the same input events, the reference neuron step and stdp_step
    events = bernoulli_events(x * p.max_rate_hz * p.dt / 1000, p.steps, torch.Generator().manual_seed(9))
    pre = events.dense(p.steps, 1, 16)
    state, traces = dc_init(1, p), stdp_init(pre[0], torch.zeros(1, p.n_exc))
    for t in range(p.steps):
        spikes, state = dc_neuron_step(pre[t] @ w.t(), state, torch.zeros(p.n_exc), p)
        w, traces = stdp_step(pre[t], spikes, w, traces, p.stdp)
    torch.testing.assert_close(net.weight, normalize_incoming(w, p.norm), rtol=1e-5, atol=1e-6)


def test_exclusive_batches_give_each_neuron_to_one_sample() -> None:
    """Four identical samples: with ``exclusive`` every neuron fires in one sample at most while
    learning, so the samples recruit different winners; without it they all share the winners."""
    p = dc_params(inhibition=5.0, theta_plus=1.0, n_exc=12)
    x = torch.ones(4, 16)
    exclusive = DiehlCookNet(p, seed=2)
    counts = exclusive.run(x, p.max_rate_hz, torch.Generator().manual_seed(0), learn=True)
    assert torch.all((counts > 0).sum(0) <= 1) and torch.all(counts.sum(1) > 0)
    shared = DiehlCookNet(DiehlCookParams(**{**p.as_dict(), "exclusive": False}), seed=2)  # type: ignore[arg-type]
    counts = shared.run(x, p.max_rate_hz, torch.Generator().manual_seed(0), learn=True)
    assert (counts > 0).sum(0).max() == 4
    free = DiehlCookNet(p, seed=2).run(x, p.max_rate_hz, torch.Generator().manual_seed(0), learn=False)
    assert (free > 0).sum(0).max() == 4  # inference never restricts firing


def test_learning_writes_buffers_only_and_never_a_foreign_grad() -> None:
    net = DiehlCookNet(dc_params(), seed=0)
    foreign = torch.nn.Linear(3, 2)
    foreign.weight.grad = torch.full_like(foreign.weight, 0.25)
    assert list(net.parameters()) == []
    before = net.weight.clone()
    net.present(torch.rand(2, 16, generator=torch.Generator().manual_seed(0)), torch.Generator().manual_seed(1),
                learn=True)
    assert not torch.equal(net.weight, before)
    assert torch.equal(foreign.weight.grad, torch.full_like(foreign.weight, 0.25)) and foreign.bias.grad is None
    assert not net.weight.requires_grad and net.weight.grad is None
    torch.testing.assert_close(net.weight.sum(1), torch.full((6,), 6.0))  # normalised after learning


def test_state_dict_round_trip_and_reset_keeps_the_learned_state() -> None:
    p = dc_params()
    net = DiehlCookNet(p, seed=0)
    x = torch.rand(3, 16, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 1])
    counts = net.present(x, torch.Generator().manual_seed(1), learn=True)
    net.assign(counts, y)
    assert net.state is not None and int(net.seen) == 3
    theta, weight = net.theta.clone(), net.weight.clone()
    net.reset()
    assert net.state is None and torch.equal(net.theta, theta) and torch.equal(net.weight, weight)
    other = DiehlCookNet(p, seed=99)
    other.load_state_dict(net.state_dict())
    for name in ("weight", "theta", "assignments", "rates", "seen"):
        assert torch.equal(getattr(other, name), getattr(net, name)), name
    a = net(x, torch.Generator().manual_seed(5))
    b = other(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


# ------------------------------------------------------------------ three-factor STDP


def test_three_factor_net_zero_error_leaves_weights_and_its_own_buffers_only() -> None:
    p = ThreeFactorParams(n_input=16, n_hidden=8, num_classes=3, time_ms=30.0, max_rate_hz=300.0, w_init_std=0.3,
                          lr=0.5, lr_readout=0.5)
    net = ThreeFactorNet(p)
    foreign = torch.nn.Linear(2, 2)
    foreign.weight.grad = torch.ones_like(foreign.weight)
    assert list(net.parameters()) == []
    x = torch.rand(4, 16, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0])
    w0 = net.weight.clone()
    net.feedbacks[0].fixed.zero_()  # B = 0: the third factor is zero whatever the error
    e = net.learn(x, y, torch.Generator().manual_seed(1))
    assert e.abs().sum() > 0 and torch.equal(net.weight, w0)
    assert not torch.equal(net.readout.weight, torch.zeros_like(net.readout.weight))
    assert torch.equal(foreign.weight.grad, torch.ones_like(foreign.weight))
    other = ThreeFactorNet(ThreeFactorParams(**{**p.as_dict(), "seed": 3}))  # type: ignore[arg-type]
    other.load_state_dict(net.state_dict())
    g1, g2 = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    assert torch.equal(net(x, g1), other(x, g2))


def test_three_factor_net_update_equals_the_direct_formula() -> None:
    p = ThreeFactorParams(n_input=12, n_hidden=5, num_classes=3, time_ms=25.0, max_rate_hz=300.0, w_init_std=0.4,
                          lr=0.2, lr_readout=0.1, tau_elig=15.0, a_minus=-0.3, keep_row_norm=False)
    net = ThreeFactorNet(p)
    x = torch.rand(2, 12, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([1, 2])
    w0, b = net.weight.clone(), net.feedbacks[0].matrix(None).clone()
    _, trains_ = net.run(x, torch.Generator().manual_seed(1), record=True)
    assert trains_ is not None and trains_[1].sum() > 0
    e = net.learn(x, y, torch.Generator().manual_seed(1))
    elig = stdp_eligibility(trains_[0].double(), trains_[1].double(), p.stdp, p.dt, p.tau_elig)
    expected = w0.double() + three_factor_delta((e @ b).double(), elig, p.lr)
    torch.testing.assert_close(net.weight.double(), expected, rtol=1e-4, atol=1e-5)
    # with synaptic scaling on, the same update is followed by a rescale to the initial row norms
    scaled = ThreeFactorNet(ThreeFactorParams(**{**p.as_dict(), "keep_row_norm": True}))  # type: ignore[arg-type]
    scaled.learn(x, y, torch.Generator().manual_seed(1))
    torch.testing.assert_close(scaled.weight.norm(dim=1), w0.norm(dim=1))
    torch.testing.assert_close(scaled.weight, net.weight * (w0.norm(dim=1) / net.weight.norm(dim=1))[:, None])


def test_delta_readout_steps_equal_the_numpy_delta_rule_and_the_cross_entropy_gradient() -> None:
    """Three `learn` steps (weight decay on) against the numpy delta rule on features standardised by
    the training mean and (unbiased) std; and the known answer for one softmax layer: a step is an
    SGD step on the mean cross-entropy + λ/2·‖V‖² (what backprop, FA and DFA all compute)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64) * 2.0 + 1.0
    y = torch.randint(0, 3, (40,), generator=g)
    lr, decay = 0.5, 0.01
    readout = DeltaReadout(5, 3).double()
    readout.fit_scaling(x)
    xs = x.numpy()
    f = (xs - xs.mean(0)) / np.maximum(xs.std(0, ddof=1), 1e-3)
    v, a = np.zeros((3, 5)), np.zeros(3)
    for step in range(3):
        readout.learn(x, y, lr, decay)
        v, a = np_delta_rule(v, a, f, y.numpy(), lr, decay)
        np.testing.assert_allclose(readout.weight.numpy(), v, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")
        np.testing.assert_allclose(readout.bias.numpy(), a, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")
    weight = readout.weight.clone().requires_grad_(True)
    bias = readout.bias.clone().requires_grad_(True)
    loss = F.cross_entropy(F.linear(torch.as_tensor(f), weight, bias), y) + 0.5 * decay * (weight**2).sum()
    loss.backward()
    readout.learn(x, y, lr, decay)
    torch.testing.assert_close(readout.weight, (weight - lr * weight.grad).detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(readout.bias, (bias - lr * bias.grad).detach(), rtol=1e-10, atol=1e-12)
