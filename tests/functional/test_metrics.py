"""The pure measurements of spikefa.functional.metrics on constructed tensors with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from spikefa.functional.metrics import relative_change, unit_fractions


def test_unit_fractions_on_constructed_weights() -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(10, 6, generator=g, dtype=torch.float64)
    w[3] = 2.0 * w[1]  # a scaled copy: the same receptive field
    w[7] = w[1] + 1e-6  # a near copy
    w[8] = -w[1]  # the opposite field is not a duplicate
    w[5] = 0.0  # no weights: dead
    response = torch.randn(20, 10, generator=g, dtype=torch.float64).relu()
    response[:, 2] = 0.0  # never active
    response[:, 4] = 0.7  # the same on every input (saturated)
    response[0, 9], response[1:, 9] = 1.0, 0.0  # active once: alive
    out = unit_fractions(w, response)
    assert out == {"units": 10.0, "dead": pytest.approx(3 / 10), "duplicate": pytest.approx(2 / 10)}
    assert unit_fractions(w)["dead"] == pytest.approx(1 / 10)  # without responses: the zero row only
    assert unit_fractions(torch.eye(4))["duplicate"] == 0.0


def test_unit_fractions_count_each_copy_once() -> None:
    w = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert unit_fractions(w)["duplicate"] == pytest.approx(2 / 4)  # the first of the group is the original


def test_relative_change() -> None:
    b = torch.tensor([[3.0, 4.0]])
    assert relative_change(b, b.clone()) == 0.0
    assert relative_change(b, b + torch.tensor([[0.0, 5.0]])) == pytest.approx(1.0)
    assert relative_change(torch.zeros(2), torch.ones(2)) == math.inf
