"""Online learners (spikefa/nn/online.py): OnlineDFA's per-time-step updates against BPTT (one layer,
no reset) and against explicit double sums over recorded states (membrane and count errors), what
it owns and refuses, and EncodedSNN's repeatable eval and resumable training stream."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikefa.errors import SpikefaError
from spikefa.functional.encoders import RateEncoder
from spikefa.nn.online import EncodedSNN, OnlineDFA
from spikefa.nn.spiking import SpikingNet, scores
from spikefa.schemas.neuron import LIFParams

from ..helpers import spiking_net


def test_online_dfa_output_layer_equals_bptt_without_reset() -> None:
    """One layer, reset 'none': U[t] = Σ β^(t−k) W x[k] exactly, so the online update of W is the
    gradient of Σ_t CE(U[t]) / T that BPTT computes."""
    torch.manual_seed(0)
    x = (torch.rand(12, 5, 7) < 0.4).float()
    y = torch.randint(0, 3, (5,))
    net = spiking_net([7, 3], reset="none")
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
    net = spiking_net([6, 9, 3], beta=beta, seed=2)
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
    net = spiking_net([6, 9, 3], beta=beta, seed=4)
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
    net = spiking_net([6, 9, 3])
    extra = torch.nn.Parameter(torch.ones(2))
    extra.grad = torch.full((2,), 7.0)
    OnlineDFA(net).local_step(iter((torch.rand(5, 2, 6) < 0.5).float()), torch.tensor([0, 2]))
    assert torch.equal(extra.grad, torch.full((2,), 7.0))
    assert all(p.grad is not None for p in net.parameters())
    conv = SpikingNet([torch.nn.Conv2d(1, 2, 3)], LIFParams(beta=0.9, threshold=1.0, reset="zero", dt=1.0))
    with pytest.raises(SpikefaError, match="fully connected"):
        OnlineDFA(conv)


def test_encoded_snn_eval_is_repeatable_and_training_stream_resumes() -> None:
    def flatspiking_net() -> SpikingNet:
        net = spiking_net([16, 8, 3])
        net.synapses[0] = torch.nn.Sequential(torch.nn.Flatten(), net.synapses[0])
        return net

    model = EncodedSNN(flatspiking_net(), RateEncoder(6), seed=4)
    x = torch.rand(3, 1, 4, 4)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    model(x)
    state = model.state_dict()
    a = model(x)
    clone = EncodedSNN(flatspiking_net(), RateEncoder(6), seed=0)
    clone.load_state_dict(state)
    clone.train()
    assert torch.equal(clone(x), a)
    events = torch.randint(0, 3, (3, 6, 1, 4, 4), dtype=torch.uint8)
    assert model(events).shape == (3, 3)


