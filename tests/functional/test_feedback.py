"""Feedback kinds and seeds (spikefa/functional/feedback.py), as the FA and DFA layers read them:
sign-congruent kinds follow W's sign as it changes, batch-random-sign redraws every step, the same
seed gives the same bits and layers of one network get independent matrices."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikefa

from ..helpers import mlp


def test_sign_symmetry_follows_sign_changes() -> None:
    model = spikefa.convert(mlp(), "sign")
    layer = model[3]
    assert torch.equal(torch.sign(layer.feedback_matrix()), torch.sign(layer.weight.detach()))
    with torch.no_grad():
        layer.weight[:3].neg_()
    B = layer.feedback_matrix()
    assert torch.equal(torch.sign(B), torch.sign(layer.weight.detach()))
    assert torch.allclose(B.abs(), layer.feedback_scale.expand_as(B))  # uniform magnitude


@pytest.mark.parametrize("kind", ["random-sign", "batch-random-sign"])
def test_sign_congruent_kinds(kind: str) -> None:
    model = spikefa.convert(mlp(), "fa", kind, seed=5)
    layer = model[3]
    assert torch.equal(torch.sign(layer.feedback_matrix()), torch.sign(layer.weight.detach()))
    b0 = layer.feedback_matrix()
    model(torch.randn(2, 12))  # one training step advances the step counter
    b1 = layer.feedback_matrix()
    assert torch.equal(b0, b1) == (kind == "random-sign")


def test_same_seed_same_bits_and_independent_layers() -> None:
    a = spikefa.convert(mlp(), "fa", seed=4)
    b = spikefa.convert(mlp(), "fa", seed=4)
    c = spikefa.convert(mlp(), "fa", seed=5)
    assert torch.equal(a[3].feedback_fixed, b[3].feedback_fixed)
    assert not torch.equal(a[3].feedback_fixed, c[3].feedback_fixed)
    # two layers of the same shape in one net get different matrices
    net = spikefa.convert(nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8)),
                          "dfa", seed=0)
    assert not torch.equal(net.feedbacks[0].fixed, net.feedbacks[1].fixed)
