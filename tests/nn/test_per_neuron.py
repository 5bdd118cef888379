"""Per-neuron β and θ (snnTorch ``Leaky(beta=tensor, threshold=tensor)``) under online DFA
(spikefa/nn/online.py, spikefa/nn/snntorch_net.py, spikefa/schemas/neuron.py): against BPTT's
gradient for one layer without reset, against autograd through the reset-detached network for a
hidden layer, a one-element tensor β bitwise like a float β, and consumers of one value per layer
refusing per-neuron values in one line."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.errors import ConfigError, SpikefaError
from spikefa.functional.lif import atan_grad, count_scores
from spikefa.nn.online import OnlineDFA
from spikefa.nn.spiking import SpikingNet
from spikefa.schemas.neuron import PerNeuron

from ..helpers import online_and_bptt_grads

snn = pytest.importorskip("snntorch")


def _grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_per_neuron_beta_and_threshold_output_layer_equals_bptt_without_reset() -> None:
    """One layer, reset 'none': U_j[t] = Σ_k β_j^(t−k) (W x[k] + b)_j, so the online update with the
    per-synapse trace is BPTT's gradient of Σ_t CE(U[t]) / T through snnTorch's own forward."""
    torch.manual_seed(0)
    x = (torch.rand(12, 5, 7) < 0.4).float()
    y = torch.randint(0, 4, (5,))
    lin = nn.Linear(7, 4)
    beta, theta = torch.tensor([0.5, 0.7, 0.9, 0.95]), torch.tensor([0.5, 1.0, 1.5, 2.0])
    net = SpikingNet([lin], neurons=[snn.Leaky(beta=beta, threshold=theta, reset_mechanism="none")])
    assert net.lif[0].beta == tuple(beta.tolist()) and isinstance(net.lif[0].threshold, PerNeuron)
    online = online_and_bptt_grads(net, x, y)
    # the per-neuron β matters: one β for all (their mean) gives another update
    flat = SpikingNet([lin], neurons=[snn.Leaky(beta=float(beta.mean()), reset_mechanism="none")])
    lin.zero_grad()
    OnlineDFA(flat, error="membrane").local_step(iter(x), y)
    assert not torch.allclose(lin.weight.grad, online[0], atol=1e-4)


def test_per_neuron_hidden_layer_equals_autograd_through_the_reset_detached_network() -> None:
    """Two layers, reset 'subtract', count error: online DFA's update of W_l is Σ_t δ_l[t]ᵀ ∂U_l[t]/∂W_l
    with the reset and the incoming spikes held fixed; autograd of Σ_t ⟨δ_l[t], U_l[t]⟩ (δ recorded,
    no graph) on the per-neuron network gives the same, for both layers."""
    torch.manual_seed(2)
    T, B = 10, 4
    x = (torch.rand(T, B, 6) < 0.5).float()
    y = torch.randint(0, 3, (B,))
    b1, th1 = torch.linspace(0.6, 0.95, 9), torch.linspace(0.5, 1.2, 9)
    b2, th2 = torch.tensor([0.7, 0.8, 0.9]), torch.tensor([0.6, 0.8, 1.0])
    user = nn.Sequential(nn.Linear(6, 9), snn.Leaky(beta=b1, threshold=th1, init_hidden=True),
                         nn.Linear(9, 3), snn.Leaky(beta=b2, threshold=th2, init_hidden=True, output=True))
    with torch.no_grad():
        user[0].weight.mul_(3.0)
        user[2].weight.mul_(3.0)
    learner = spikefa.convert(user, "dfa", seed=4, options={"error": "count"})
    learner.local_step(x, y)
    got = [user[0].weight.grad.clone(), user[0].bias.grad.clone(), user[2].weight.grad.clone()]
    B1 = learner.feedback_matrix(0)
    params = [user[0].weight.detach().clone().requires_grad_(), user[0].bias.detach().clone().requires_grad_(),
              user[2].weight.detach().clone().requires_grad_()]
    u1, u2 = torch.zeros(B, 9), torch.zeros(B, 3)
    counts, memsum, total = torch.zeros(B, 3), torch.zeros(B, 3), torch.zeros(())
    onehot = F.one_hot(y, 3).float()
    for t in range(T):
        r1, r2 = (u1 > th1).float().detach(), (u2 > th2).float().detach()
        u1 = b1 * u1 + F.linear(x[t], params[0], params[1]) - r1 * th1
        s1 = (u1 > th1).float().detach()
        u2 = b2 * u2 + F.linear(s1, params[2], user[2].bias) - r2 * th2
        s2 = (u2 > th2).float()
        counts, memsum = counts + s2, memsum + u2.detach()
        err = (torch.softmax(count_scores(counts, memsum), 1) - onehot) * atan_grad(u2.detach() - th2)
        delta1 = (err @ B1) * atan_grad(u1.detach() - th1)
        total = total + (delta1 * u1).sum() + (err * u2).sum()
    want = torch.autograd.grad(total / (T * B), params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert float(got[0].abs().sum()) > 0


def test_a_one_element_tensor_beta_is_the_float_beta_bitwise() -> None:
    x, y = (torch.rand(8, 3, 10, generator=torch.Generator().manual_seed(1)) < 0.5).float(), torch.tensor([0, 1, 2])

    def net(beta: object, theta: object) -> nn.Sequential:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(10, 12), snn.Leaky(beta=beta, threshold=theta, init_hidden=True),
                             nn.Linear(12, 3), snn.Leaky(beta=beta, threshold=theta, init_hidden=True, output=True))

    grads = []
    for beta, theta in [(0.9, 0.5), (torch.tensor(0.9), torch.tensor(0.5)), (torch.tensor([0.9]), torch.tensor([0.5]))]:
        learner = spikefa.convert(net(beta, theta), "dfa", seed=1)
        learner.local_step(x, y)
        assert learner.net[1].beta.numel() == 1
        grads.append(_grads(learner))
    assert all(torch.equal(u, v) for g in grads[1:] for u, v in zip(grads[0], g))
    assert float(grads[0][0].abs().sum()) > 0


def test_per_neuron_values_reach_lif_exactly_and_one_value_consumers_refuse_them() -> None:
    beta = torch.rand(16, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.4
    user = nn.Sequential(nn.Flatten(), nn.Linear(20, 16), snn.Leaky(beta=beta, init_hidden=True),
                         nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    lif = SpikingNet.of(user).lif
    assert torch.equal(torch.tensor(lif[0].beta), beta) and lif[0].per_neuron and not lif[1].per_neuron
    for use in (lambda: float(lif[0].beta), lambda: lif[0].beta >= 1.0, lambda: f"{lif[0].beta:g}",
                lambda: lif[0].tau_mem, lambda: lif[0].beta * 2):
        with pytest.raises(ConfigError, match="LIF beta holds 16 per-neuron values; this consumer takes one beta"):
            use()
    learnable = nn.Sequential(nn.Linear(20, 16), snn.Leaky(beta=beta, learn_beta=True, init_hidden=True),
                              nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    with pytest.raises(SpikefaError, match=r"learn_beta=True\) is not supported by online learning"):
        spikefa.convert(learnable, "dfa")


def test_per_neuron_beta_in_a_recurrent_and_a_current_based_layer_equals_autograd() -> None:
    """RLeaky (U = β ⊙ U + W x + V s[t−1]) and Synaptic (I = α I + W x, U = β ⊙ U + I), one layer,
    reset 'none', per-neuron β: online DFA equals autograd of Σ_t CE(U[t]) / T with the recurrent
    spikes detached (e-prop's eligibility), V's per-synapse trace [B, out, out] included."""
    torch.manual_seed(0)
    x = (torch.rand(15, 5, 7) < 0.5).float()
    y = torch.randint(0, 3, (5,))
    beta = torch.tensor([0.6, 0.8, 0.95])
    for kind in ("RLeaky", "Synaptic"):
        lin = nn.Linear(7, 3)
        neuron = snn.RLeaky(beta=beta, linear_features=3, reset_mechanism="none") if kind == "RLeaky" else \
            snn.Synaptic(alpha=0.7, beta=beta, reset_mechanism="none")
        with torch.no_grad():
            lin.weight.mul_(3.0)
            if kind == "RLeaky":
                neuron.recurrent.weight.normal_(0, 0.8)
        net = SpikingNet([lin], neurons=[neuron])
        OnlineDFA(net, error="membrane").local_step(iter(x), y)
        params = [p for p in net.parameters()]
        online = [p.grad.clone() for p in params]
        u, s, i_syn, loss = torch.zeros(5, 3), torch.zeros(5, 3), torch.zeros(5, 3), torch.zeros(())
        for t in range(15):
            if kind == "RLeaky":
                u = beta * u + F.linear(x[t], params[0], params[1]) + F.linear(s.detach(), params[2], params[3])
            else:
                i_syn = 0.7 * i_syn + F.linear(x[t], params[0], params[1])
                u = beta * u + i_syn
            s = (u > 1.0).float()
            loss = loss + F.cross_entropy(u, y)
        want = torch.autograd.grad(loss / 15, params)
        assert len(want) == (4 if kind == "RLeaky" else 2)
        for a, b in zip(online, want):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert float(online[-2].abs().sum()) > 0
