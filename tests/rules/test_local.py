"""Local and mixed rules' converters (spikefa/rules/local.py): what the options build."""

from __future__ import annotations

import pytest
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.nn.local import HebbianDescentLinear

from ..helpers import batch, net


@pytest.mark.parametrize("mode,frozen", [("partial1", 0), ("partial2", 2)])
def test_hebbian_descent_partial_modes_freeze_one_layer(mode: str, frozen: int) -> None:
    model = spikefa.convert(net(0, nn.Tanh, (6, 5, 3)), "hebbian-descent", options={"mode": mode})
    trained = 2 - frozen
    assert not any(p.requires_grad for p in model[frozen].parameters())
    assert isinstance(model[trained], HebbianDescentLinear) and not isinstance(model[frozen], HebbianDescentLinear)
    x, y = batch(0, b=8, d=6, classes=3)
    F.cross_entropy(model(x), y).backward()
    assert model[frozen].weight.grad is None and model[trained].weight.grad is not None
