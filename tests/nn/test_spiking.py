"""The spiking network shell (spikefa/nn/spiking.py): FA and sign symmetry on its synapses are BPTT
with B in place of Wᵀ (against a plain-autograd reference, and B = W against BPTT itself), and the
read-out ranks by spike count, then membrane."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikefa.nn.layers import FALinear
from spikefa.nn.spiking import SpikeRecord, SpikingNet, scores
from spikefa.rules import convert

from ..helpers import spiking_net
from ..reference import autograd_fa_linear


class ReferenceFASynapse(nn.Module):
    """A linear synapse whose input gradient goes through a fixed B, in plain autograd."""

    def __init__(self, layer: FALinear) -> None:
        super().__init__()
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.bias = nn.Parameter(layer.bias.detach().clone())
        self.register_buffer("feedback", layer.feedback_matrix().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return autograd_fa_linear(x, self.weight, self.bias, self.feedback)


def _synapse_grads(net: SpikingNet, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of the synapses' parameters under the mean over time of CE(output membrane)."""
    net.zero_grad()
    mems = net(x).mem
    (sum(F.cross_entropy(m, y) for m in mems) / len(mems)).backward()
    return [p.grad.clone() for s in net.synapses for p in s.parameters()]


def _case() -> tuple[torch.Tensor, torch.Tensor, SpikingNet]:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(10, 4, 6, generator=g) < 0.5).float()
    return x, torch.randint(0, 3, (4,), generator=g), spiking_net([6, 9, 3], seed=2)


@pytest.mark.parametrize("rule", ["fa", "sign"])
def test_fa_and_sign_on_a_spiking_net_are_bptt_through_b(rule: str) -> None:
    x, y, plain = _case()
    model = convert(copy.deepcopy(plain), rule, seed=1)
    assert all(isinstance(s, FALinear) for s in model.synapses)
    reference = SpikingNet([ReferenceFASynapse(s) for s in model.synapses], model.lif[0])
    with torch.no_grad():
        assert float(model(x).spikes.sum()) > 0  # the surrogate path through output spikes is exercised
    got = _synapse_grads(model, x, y)
    for a, b in zip(got, _synapse_grads(reference, x, y), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(got[0], _synapse_grads(plain, x, y)[0])  # B is not W: not BPTT


def test_fa_on_a_spiking_net_with_b_equal_w_is_bptt() -> None:
    x, y, plain = _case()
    model = convert(copy.deepcopy(plain), "fa", seed=1)
    for s in model.synapses:
        s.feedback_fixed.copy_(s.weight.detach())
    for a, b in zip(_synapse_grads(model, x, y), _synapse_grads(plain, x, y), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_scores_rank_by_spike_count_then_membrane() -> None:
    spikes = torch.tensor([[[1.0, 1.0, 0.0]], [[0.0, 1.0, 0.0]]])
    mem = torch.tensor([[[0.0, -5.0, 9.0]], [[0.0, -5.0, 9.0]]])
    assert scores(SpikeRecord(spikes, mem)).argmax(1).item() == 1  # 2 spikes beats 1, whatever the membrane
    spikes[1, 0, 0] = 1.0
    assert scores(SpikeRecord(spikes, mem)).argmax(1).item() == 0  # tie on 2 spikes: higher membrane
