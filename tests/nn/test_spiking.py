"""Spiking cards, encoders and online DFA: shapes, determinism, and two formulations agreeing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikefa.catalog import load_card
from spikefa.errors import ConfigError, SpikefaError
from spikefa.functional.encoders import DirectEncoder, LatencyEncoder, RateEncoder, make_encoder
from spikefa.nn.build import build
from spikefa.schemas.neuron import LIFParams
from spikefa.nn.online import EncodedSNN, OnlineDFA
from spikefa.nn.spiking import SpikingNet, scores
from spikefa.rules import convert


def _net(sizes: list[int], reset: str = "subtract", beta: float = 0.8, seed: int = 0) -> SpikingNet:
    g = torch.Generator().manual_seed(seed)
    layers = [torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
    with torch.no_grad():
        for m in layers:
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.6)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return SpikingNet(layers, LIFParams(beta=beta, threshold=1.0, reset=reset, dt=1.0))  # type: ignore[arg-type]


def test_card_builds_a_spiking_net_with_stated_neurons() -> None:
    card = load_card("snn-1x800-lif")
    assert card.spiking and card.neuron.reset == "subtract" and card.encoder.time_steps == 25
    net = build(card, (1, 28, 28), 10, seed=3)
    assert isinstance(net, SpikingNet) and len(net.lif) == 2
    again = build(card, (1, 28, 28), 10, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    out = net(torch.rand(25, 2, 1, 28, 28).round())
    assert out.spikes.shape == (25, 2, 10) and set(out.spikes.unique().tolist()) <= {0.0, 1.0}


def test_rate_card_with_a_neuron_section_is_refused() -> None:
    from spikefa.schemas.card import parse_card
    import tomllib
    from spikefa.catalog import find_card

    raw = tomllib.loads(find_card("mlp-1x800-tanh").read_text())
    raw["neuron"] = {"beta": 0.9, "threshold": 1.0, "reset": "zero", "dt": 1.0}
    with pytest.raises(ConfigError, match="neuron"):
        parse_card(raw, "x.toml")


@pytest.mark.parametrize("encoder", [RateEncoder(30), RateEncoder(30, 0.5, "poisson"), LatencyEncoder(30),
                                     DirectEncoder(5)])
def test_encoders_are_seeded_and_time_major(encoder) -> None:  # type: ignore[no-untyped-def]
    x = torch.rand(4, 1, 6, 6)
    a = encoder(x, torch.Generator().manual_seed(1))
    b = torch.stack(list(encoder.steps(x, torch.Generator().manual_seed(1))))
    assert a.shape == (encoder.time_steps, 4, 1, 6, 6) and torch.equal(a, b)


def test_rate_encoder_rate_and_latency_order() -> None:
    x = torch.full((2000,), 0.3)
    s = RateEncoder(200)(x, torch.Generator().manual_seed(0))
    assert abs(float(s.mean()) - 0.3) < 0.01
    lat = LatencyEncoder(11)(torch.tensor([1.0, 0.5, 0.0]))
    assert lat[:, 0].argmax() == 0 and lat[:, 1].argmax() == 5 and lat[:, 2].sum() == 0
    with pytest.raises(ConfigError, match="inputs must lie in"):
        RateEncoder(3)(torch.tensor([1.5]))
    with pytest.raises(ConfigError, match="encoder = 'morse'"):
        make_encoder("morse", 3)


def test_online_dfa_output_layer_equals_bptt_without_reset() -> None:
    """One layer, reset 'none': U[t] = Σ β^(t−k) W x[k] exactly, so the online update of W is the
    gradient of Σ_t CE(U[t]) / T that BPTT computes."""
    torch.manual_seed(0)
    x = (torch.rand(12, 5, 7) < 0.4).float()
    y = torch.randint(0, 3, (5,))
    net = _net([7, 3], reset="none")
    learner = OnlineDFA(net, error="membrane")
    learner.local_step(iter(x), y)
    online = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    mems = net(x).mem
    loss = sum(F.cross_entropy(m, y) for m in mems) / len(mems)
    loss.backward()
    for a, p in zip(online, net.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-5, atol=1e-6)


def test_online_dfa_hidden_update_equals_explicit_sums() -> None:
    """Hidden layer: the recursive trace against Σ_t Σ_k β^(t−k) over recorded states."""
    torch.manual_seed(1)
    T, beta = 10, 0.8
    x = (torch.rand(T, 4, 6) < 0.5).float()
    y = torch.randint(0, 3, (4,))
    net = _net([6, 9, 3], beta=beta, seed=2)
    learner = OnlineDFA(net, "random", seed=5, error="membrane")
    learner.local_step(iter(x), y)
    got = net.synapses[0].weight.grad.clone()
    # record the forward, then apply the formula with explicit double sums
    from spikefa.functional.lif import LIFState, atan_grad, lif_step

    s0, s1 = LIFState(torch.zeros(4, 9)), LIFState(torch.zeros(4, 3))
    B = learner.feedback_matrix(0)
    want = torch.zeros_like(got)
    for t in range(T):
        h, s0 = lif_step(F.linear(x[t], net.synapses[0].weight, net.synapses[0].bias), s0, net.lif[0])
        _, s1 = lif_step(F.linear(h, net.synapses[1].weight, net.synapses[1].bias), s1, net.lif[1])
        err = torch.softmax(s1.mem, 1) - F.one_hot(y, 3).float()
        delta = (err @ B) * atan_grad(s0.mem - 1.0)
        trace = sum(beta ** (t - k) * x[k] for k in range(t + 1))
        want += delta.t() @ trace
    torch.testing.assert_close(got, want / (T * 4), rtol=1e-5, atol=1e-6)


def test_online_dfa_count_error_equals_explicit_sums() -> None:
    """error=count: the error is the cross-entropy gradient of the running read-out (`scores` of
    the output so far), gated by the output surrogate, in both layers; against recorded states."""
    torch.manual_seed(3)
    T, beta, k = 12, 0.8, 3
    x = (torch.rand(T, 4, 6) < 0.6).float()
    y = torch.randint(0, 3, (4,))
    net = _net([6, 9, 3], beta=beta, seed=4)
    learner = OnlineDFA(net, "random", seed=5, error_every=k, error="count")
    loss = learner.local_step(iter(x), y)
    got = [m.weight.grad.clone() for m in learner.layers]
    from spikefa.functional.lif import LIFState, atan_grad, lif_step
    from spikefa.nn.spiking import SpikeRecord

    s0, s1 = LIFState(torch.zeros(4, 9)), LIFState(torch.zeros(4, 3))
    B = learner.feedback_matrix(0)
    want = [torch.zeros_like(g) for g in got]
    hs, out_spikes, out_mems, losses = [], [], [], []
    for t in range(T):
        h, s0 = lif_step(F.linear(x[t], net.synapses[0].weight, net.synapses[0].bias), s0, net.lif[0])
        o, s1 = lif_step(F.linear(h, net.synapses[1].weight, net.synapses[1].bias), s1, net.lif[1])
        hs.append(h)
        out_spikes.append(o)
        out_mems.append(s1.mem)
        if (t + 1) % k:
            continue
        readout = scores(SpikeRecord(torch.stack(out_spikes), torch.stack(out_mems)))
        losses.append(F.cross_entropy(readout, y))
        err = (torch.softmax(readout, 1) - F.one_hot(y, 3).float()) * atan_grad(s1.mem - 1.0)
        want[0] += ((err @ B) * atan_grad(s0.mem - 1.0)).t() @ sum(beta ** (t - j) * x[j] for j in range(t + 1))
        want[1] += err.t() @ sum(beta ** (t - j) * hs[j] for j in range(t + 1))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b / (T // k * 4), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss, torch.stack(losses).mean())


def test_online_dfa_owns_only_its_network_and_refuses_conv() -> None:
    net = _net([6, 9, 3])
    extra = torch.nn.Parameter(torch.ones(2))
    extra.grad = torch.full((2,), 7.0)
    OnlineDFA(net).local_step(iter((torch.rand(5, 2, 6) < 0.5).float()), torch.tensor([0, 2]))
    assert torch.equal(extra.grad, torch.full((2,), 7.0))
    assert all(p.grad is not None for p in net.parameters())
    conv = SpikingNet([torch.nn.Conv2d(1, 2, 3)], LIFParams(beta=0.9, threshold=1.0, reset="zero", dt=1.0))
    with pytest.raises(SpikefaError, match="fully connected"):
        OnlineDFA(conv)


def test_dfa_rule_on_a_spiking_card_is_online_and_fa_converts_synapses() -> None:
    card = load_card("snn-1x800-lif")
    learner = convert(build(card, (1, 8, 8), 4), "dfa", seed=0)
    assert isinstance(learner, OnlineDFA)
    from spikefa.nn.layers import FALinear

    fa = convert(build(card, (1, 8, 8), 4), "fa", seed=0)
    assert isinstance(fa, SpikingNet) and sum(isinstance(m, FALinear) for m in fa.modules()) == 2


def test_encoded_snn_eval_is_repeatable_and_training_stream_resumes() -> None:
    def flat_net() -> SpikingNet:
        net = _net([16, 8, 3])
        net.synapses[0] = torch.nn.Sequential(torch.nn.Flatten(), net.synapses[0])
        return net

    model = EncodedSNN(flat_net(), RateEncoder(6), seed=4)
    x = torch.rand(3, 1, 4, 4)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    model(x)
    state = model.state_dict()
    a = model(x)
    clone = EncodedSNN(flat_net(), RateEncoder(6), seed=0)
    clone.load_state_dict(state)
    clone.train()
    assert torch.equal(clone(x), a)
    events = torch.randint(0, 3, (3, 6, 1, 4, 4), dtype=torch.uint8)
    assert model(events).shape == (3, 3)


def test_scores_rank_by_spike_count_then_membrane() -> None:
    from spikefa.nn.spiking import SpikeRecord

    spikes = torch.tensor([[[1.0, 1.0, 0.0]], [[0.0, 1.0, 0.0]]])
    mem = torch.tensor([[[0.0, -5.0, 9.0]], [[0.0, -5.0, 9.0]]])
    assert scores(SpikeRecord(spikes, mem)).argmax(1).item() == 1  # 2 spikes beats 1, whatever the membrane
    spikes[1, 0, 0] = 1.0
    assert scores(SpikeRecord(spikes, mem)).argmax(1).item() == 0  # tie on 2 spikes: higher membrane
