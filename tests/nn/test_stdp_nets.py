"""STDP networks: the batched STDP kernels against `stdp_step`, weight normalisation, the Diehl &
Cook neuron (adaptive threshold, inhibition), label assignment and voting, state handling, and the
three-factor rule against its direct formulation and a hand computation. Spikes are generated."""

from __future__ import annotations

import math

import pytest
import torch

from spikefa.errors import ConfigError
from spikefa.functional.stdp import STDP_MODES, STDPParams, STDPState, stdp_init, stdp_step
from spikefa.functional.diehl_cook import dc_init, dc_neuron_step
from spikefa.functional.eligibility import stdp_eligibility, stdp_traces, three_factor_delta, three_factor_delta_traces
from spikefa.functional.stdp_batched import bernoulli_events, normalize_incoming, stdp_step_batched, stdp_step_events
from spikefa.functional.voting import assign_labels, predict, vote
from spikefa.nn.stdp import DeltaReadout, DiehlCookNet, ThreeFactorNet
from spikefa.schemas.stdp import DiehlCookParams, ThreeFactorParams

F64 = torch.float64


def trains(steps: int, batch: int, n_in: int, n_out: int, seed: int = 0, p_pre: float = 0.15,
           p_post: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pre = (torch.rand(steps, batch, n_in, generator=g) < p_pre).to(F64)
    post = (torch.rand(steps, batch, n_out, generator=g) < p_post).to(F64)
    return pre, post


# ------------------------------------------------------------------ batched STDP


@pytest.mark.parametrize("mode", list(STDP_MODES))
@pytest.mark.parametrize("kernel", ["dense", "events"])
def test_batched_stdp_equals_stdp_step_bitwise_for_one_sample(mode: str, kernel: str) -> None:
    pre, post = trains(60, 1, 7, 5, seed=1)
    params = STDPParams.from_mode(mode, a_plus=0.05, a_minus=-0.06, w_max=0.5)
    w_ref = w_fast = torch.rand(5, 7, generator=torch.Generator().manual_seed(2), dtype=F64) * 0.5
    s_ref = s_fast = stdp_init(pre[0], post[0], F64)
    for x, z in zip(pre, post):
        w_ref, s_ref = stdp_step(x, z, w_ref, s_ref, params, dt=0.5)
        w_fast, s_fast = stdp_step_batched(x, z, w_fast, s_fast, params, dt=0.5, kernel=kernel)  # type: ignore[arg-type]
    assert torch.equal(w_fast, w_ref)
    assert torch.equal(s_fast.pre_trace, s_ref.pre_trace) and torch.equal(s_fast.post_trace, s_ref.post_trace)


def test_batched_sum_is_batch_times_the_mean_of_per_sample_updates_without_clipping() -> None:
    """Hard bounds, no clip: the update does not depend on W, so summing over the batch moves W by
    B times what stdp_step's batch mean moves it, and reduction="mean" moves it exactly as far."""
    pre, post = trains(40, 4, 6, 3, seed=3)
    params = STDPParams(a_plus=0.02, a_minus=-0.015, clip="none")
    w0 = torch.full((3, 6), 0.5, dtype=F64)
    w_ref, w_sum, w_mean, w_ev = w0, w0, w0, w0
    s_ref = s_sum = s_mean = s_ev = stdp_init(pre[0], post[0], F64)
    for x, z in zip(pre, post):
        w_ref, s_ref = stdp_step(x, z, w_ref, s_ref, params, dt=1.0)
        w_sum, s_sum = stdp_step_batched(x, z, w_sum, s_sum, params, dt=1.0)
        w_mean, s_mean = stdp_step_batched(x, z, w_mean, s_mean, params, dt=1.0, reduction="mean")
        w_ev, s_ev = stdp_step_batched(x, z, w_ev, s_ev, params, dt=1.0, kernel="events")
    torch.testing.assert_close(w_mean, w_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(w_sum - w0, 4 * (w_ref - w0), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(w_ev, w_sum, rtol=1e-12, atol=1e-14)


def test_batched_stdp_leaves_its_input_weight_alone_unless_inplace() -> None:
    pre, post = trains(5, 2, 4, 3, seed=4, p_pre=0.8, p_post=0.8)
    w = torch.full((3, 4), 0.5, dtype=F64)
    state = stdp_init(pre[0], post[0], F64)
    params = STDPParams()
    for kernel in ("dense", "events"):
        new, _ = stdp_step_batched(pre[1], post[1], w, STDPState(state.pre_trace + 0.01, state.post_trace - 0.01),
                                   params, dt=1.0, kernel=kernel)  # type: ignore[arg-type]
        assert torch.equal(w, torch.full((3, 4), 0.5, dtype=F64)) and not torch.equal(new, w)
    same, _ = stdp_step_batched(pre[1], post[1], w, STDPState(state.pre_trace + 0.01, state.post_trace), params,
                                dt=1.0, inplace=True)
    assert same is w and not torch.equal(w, torch.full((3, 4), 0.5, dtype=F64))


def test_batched_stdp_rejects_bad_options() -> None:
    pre, post = trains(1, 1, 2, 2)
    with pytest.raises(ConfigError, match="reduction = 'median'"):
        stdp_step_batched(pre[0], post[0], torch.zeros(2, 2, dtype=F64), stdp_init(pre[0], post[0]), STDPParams(),
                          dt=1.0, reduction="median")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="kernel = 'sparse'"):
        stdp_step_batched(pre[0], post[0], torch.zeros(2, 2, dtype=F64), stdp_init(pre[0], post[0]), STDPParams(),
                          dt=1.0, kernel="sparse")  # type: ignore[arg-type]


def test_bernoulli_events_round_trip_and_rate() -> None:
    prob = torch.tensor([[0.0, 0.2, 0.5], [0.1, 0.0, 1.0]])
    events = bernoulli_events(prob, 2000, torch.Generator().manual_seed(0))
    dense = events.dense(2000, 2, 3)
    assert dense[:, 0, 0].sum() == 0 and dense[:, 1, 1].sum() == 0 and dense[:, 1, 2].sum() == 2000
    torch.testing.assert_close(dense.mean(0), prob, atol=0.03, rtol=0)
    t = 17
    b, i = events.step(t)
    assert torch.equal(torch.stack([b, i]), dense[t].nonzero().t())


def test_normalize_incoming_sets_every_row_sum() -> None:
    w = torch.rand(5, 30, generator=torch.Generator().manual_seed(0))
    w[2] = 0.0
    out = normalize_incoming(w, 78.4)
    torch.testing.assert_close(out.sum(1)[[0, 1, 3, 4]], torch.full((4,), 78.4))
    assert torch.equal(out[2], torch.zeros(30))
    with pytest.raises(ConfigError, match="total = -1"):
        normalize_incoming(w, -1.0)


# ------------------------------------------------------------------ Diehl & Cook


def tiny(**kw: object) -> DiehlCookParams:
    base = dict(n_input=16, n_exc=6, time_ms=40.0, max_rate_hz=400.0, w_init=1.0, norm=6.0, max_boosts=0)
    base.update(kw)
    return DiehlCookParams(**base)  # type: ignore[arg-type]


def test_params_are_validated_with_the_key_and_value_in_the_message() -> None:
    with pytest.raises(ConfigError, match="n_exc = 0"):
        DiehlCookParams(n_exc=0)
    with pytest.raises(ConfigError, match="tau_mem = -1"):
        DiehlCookParams(tau_mem=-1.0)
    with pytest.raises(ConfigError, match="max_rate_hz = 2000"):
        DiehlCookParams(max_rate_hz=2000.0)
    with pytest.raises(ConfigError, match="reduction = 'max'"):
        DiehlCookParams(reduction="max")
    with pytest.raises(ConfigError, match="n_hidden = 0"):
        ThreeFactorParams(n_hidden=0)
    with pytest.raises(ConfigError, match="lr = -0.1"):
        ThreeFactorParams(lr=-0.1)


def test_adaptive_threshold_rises_by_theta_plus_per_learning_spike_and_decays() -> None:
    p = tiny(tau_theta=50.0, theta_plus=0.5, inhibition=0.0, one_spike=False, rest_ms=0.0)
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


def test_neuron_step_leak_refractoriness_reset_and_inhibition() -> None:
    p = tiny(inhibition=5.0, one_spike=False)
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


def test_lateral_inhibition_makes_the_layer_winner_take_all() -> None:
    def winner_share(inhibition: float) -> float:
        """The most active neuron's share of each sample's spikes, averaged over samples."""
        p = tiny(inhibition=inhibition, n_exc=20, one_spike=False, time_ms=100.0)
        net = DiehlCookNet(p, seed=3)
        x = torch.rand(8, 16, generator=torch.Generator().manual_seed(1))
        counts = net.run(x, p.max_rate_hz, torch.Generator().manual_seed(2))
        return float((counts.max(1).values / counts.sum(1)).mean())
    assert winner_share(0.0) < 0.2  # without inhibition every neuron fires alike
    assert winner_share(50.0) > 0.6  # with it one winner takes (nearly) all


def test_one_spike_per_step_and_sample() -> None:
    p = tiny(inhibition=0.0, one_spike=True, n_exc=10)
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


def test_learning_run_with_one_sample_equals_the_sequential_stdp_step() -> None:
    """The network's event kernels for B = 1 against stdp_step driven by the same spike trains."""
    p = tiny(inhibition=3.0, nu_pre=0.01, nu_post=0.05, theta_plus=0.0)
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
    p = tiny(inhibition=5.0, theta_plus=1.0, n_exc=12)
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
    net = DiehlCookNet(tiny(), seed=0)
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
    p = tiny()
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


# ------------------------------------------------------------------ labels and votes


def test_assignment_and_all_activity_vote_on_a_hand_made_response_matrix() -> None:
    # 4 neurons, 3 classes; neuron 3 never fires
    counts = torch.tensor([[5.0, 0, 1, 0], [4, 1, 0, 0], [0, 6, 1, 0], [1, 0, 8, 0], [0, 2, 6, 0]])
    labels = torch.tensor([0, 0, 1, 2, 2])
    assignments, rates = assign_labels(counts, labels, 3)
    torch.testing.assert_close(rates[0], torch.tensor([4.5, 0.0, 0.5]))
    assert assignments.tolist() == [0, 1, 2, -1]
    test = torch.tensor([[3.0, 1, 0, 9], [0, 2, 3, 9], [0, 0, 0, 0]])
    scores = vote(test, assignments, 3)
    torch.testing.assert_close(scores, torch.tensor([[3.0, 1, 0], [0, 2, 3], [0, 0, 0]]))
    assert predict(test, assignments, 3).tolist() == [0, 2, 0]
    # two neurons for class 0: the vote is their mean, so one loud neuron does not outvote a class
    scores = vote(torch.tensor([[4.0, 0, 3]]), torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(scores, torch.tensor([[2.0, 3.0]]))


# ------------------------------------------------------------------ three-factor STDP


def test_three_factor_fast_form_equals_the_eligibility_formulation() -> None:
    pre, post = trains(30, 3, 5, 4, seed=7, p_pre=0.3, p_post=0.2)
    params = STDPParams(a_plus=0.7, a_minus=-0.4, tau_pre=9.0, tau_post=14.0, w_min=-math.inf, w_max=math.inf,
                        clip="none")
    third = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    for tau_elig in (math.inf, 12.0):
        elig = stdp_eligibility(pre, post, params, dt=1.0, tau_elig=tau_elig)
        x_plus, y_minus = stdp_traces(pre, post, params, 1.0)
        fast = three_factor_delta_traces(third, pre, y_minus, post, x_plus, lr=0.3, lam=math.exp(-1.0 / tau_elig))
        torch.testing.assert_close(fast, three_factor_delta(third, elig, 0.3), rtol=1e-10, atol=1e-12)
        assert torch.equal(three_factor_delta_traces(torch.zeros_like(third), pre, y_minus, post, x_plus, 0.3,
                                                     0.5), torch.zeros(4, 5, dtype=F64))


def test_three_factor_update_by_hand() -> None:
    """One pre and one post neuron, dt = 1, τ = 10: pre at 0, post at 2, pre at 5 (τ_e = inf).
    E = A₊e^{-2/10} (pre@0 → post@2) + A₋e^{-3/10} (post@2 → pre@5); ΔW = −η·m·E."""
    pre = torch.zeros(8, 1, 1, dtype=F64)
    post = torch.zeros(8, 1, 1, dtype=F64)
    pre[0], pre[5], post[2] = 1, 1, 1
    a_p, a_m, lr, m = 0.5, -0.25, 0.1, 2.0
    params = STDPParams(tau_pre=10.0, tau_post=10.0, a_plus=a_p, a_minus=a_m, w_min=-math.inf, w_max=math.inf,
                        clip="none")
    elig = a_p * math.exp(-0.2) + a_m * math.exp(-0.3)
    x_plus, y_minus = stdp_traces(pre, post, params, 1.0)
    got = three_factor_delta_traces(torch.tensor([[m]], dtype=F64), pre, y_minus, post, x_plus, lr, 1.0)
    torch.testing.assert_close(got, torch.tensor([[-lr * m * elig]], dtype=F64))
    # with τ_e = 10 each pairing is discounted by its distance to the end (t = 7)
    lam = math.exp(-0.1)
    got = three_factor_delta_traces(torch.tensor([[m]], dtype=F64), pre, y_minus, post, x_plus, lr, lam)
    expected = a_p * math.exp(-0.2) * lam ** 5 + a_m * math.exp(-0.3) * lam ** 2
    torch.testing.assert_close(got, torch.tensor([[-lr * m * expected]], dtype=F64))


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


def test_delta_readout_learns_a_separable_problem() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    readout = DeltaReadout(5, 2)
    readout.fit_scaling(x)
    for _ in range(50):
        readout.learn(x, y, lr=0.5)
    assert (readout(x).argmax(1) == y).float().mean() > 0.95


def test_train_three_factor_reports_test_only_when_asked() -> None:
    """Choosing constants on validation must not score the test split."""
    from spikefa.data.splits import DataSplits
    from spikefa.train.unsupervised import train_three_factor

    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 1, 4, 4, generator=g)
    y = torch.arange(24) % 3
    splits = DataSplits("tiny", x[:12], y[:12], x[12:18], y[12:18], x[18:], y[18:], (1, 4, 4), 3)
    params = ThreeFactorParams(n_input=16, n_hidden=8, num_classes=3, time_ms=10.0)
    _, chosen = train_three_factor(splits, params, batch_size=4, test=False, progress=False)
    assert "val_accuracy" in chosen and not any(k.startswith("test_") for k in chosen)
    _, full = train_three_factor(splits, params, batch_size=4, progress=False)
    assert {"val_accuracy", "test_accuracy"} <= set(full)
