"""The fitted logistic read-out (`spikefa.functional.readout`): its solution is where the gradient of
the penalised objective vanishes (checked by an independent float64 numpy formula), the folded
standardization makes it blind to each feature's offset and scale, and bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikefa.functional.readout import fit_logistic


def blobs(n: int = 300, f: int = 6, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=gen)
    centres = torch.randn(classes, f, generator=gen) * 1.5
    return centres[y] + torch.randn(n, f, generator=gen), y


def test_solution_is_stationary_for_the_penalised_objective() -> None:
    a, y = blobs()
    lam = 1e-2
    weight, bias = fit_logistic(a, y, 3, lam)
    x = a.double().numpy()
    mean, std = x.mean(0), x.std(0, ddof=1)
    z = (x - mean) / std
    w = weight.double().numpy().T * std[:, None]  # back to the standardized problem's weights
    logits = x @ weight.double().numpy().T + bias.double().numpy()
    assert np.allclose(logits, z @ w + (logits - z @ w).mean(0), atol=1e-4)  # the same scores up to the bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(3)[y.numpy()]
    grad_w = z.T @ (p - onehot) / len(x) + 2 * lam * w
    grad_b = (p - onehot).mean(0)
    assert np.abs(grad_w).max() < 1e-4 and np.abs(grad_b).max() < 1e-4
    assert float(np.abs(w).max()) > 0.1  # and it learned something: the classes are separable-ish
    assert (logits.argmax(1) == y.numpy()).mean() > 0.9


def test_offset_and_scale_of_a_feature_do_not_change_the_scores() -> None:
    a, y = blobs(seed=1)
    moved = a * torch.tensor([1000.0, 1, 1e-3, 1, 1, 1]) + torch.tensor([5.0, -300, 0, 0, 2, 0])
    w1, b1 = fit_logistic(a, y, 3, 1e-3)
    w2, b2 = fit_logistic(moved, y, 3, 1e-3)
    assert torch.allclose(a @ w1.T + b1, moved @ w2.T + b2, atol=1e-3)


def test_a_constant_feature_stays_finite_and_a_larger_penalty_shrinks_the_weights() -> None:
    a, y = blobs(seed=2)
    a[:, 0] = 3.0
    w_small, b_small = fit_logistic(a, y, 3, 1e-4)
    w_big, _ = fit_logistic(a, y, 3, 10.0)
    assert torch.isfinite(w_small).all() and torch.isfinite(b_small).all()
    assert float(w_big.norm()) < 0.1 * float(w_small.norm())


@pytest.mark.parametrize("features, labels, l2", [
    (torch.zeros(4), torch.zeros(4, dtype=torch.long), 0.0),  # not [N, F]
    (torch.zeros(4, 2), torch.zeros(3, dtype=torch.long), 0.0),  # mismatched
    (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), 0.0),  # empty
    (torch.zeros(4, 2), torch.tensor([0, 1, 2, 3]), 0.0),  # label 3 of 3 classes
    (torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), -1.0),  # negative penalty
])
def test_bad_input_is_refused(features: torch.Tensor, labels: torch.Tensor, l2: float) -> None:
    with pytest.raises(ValueError):
        fit_logistic(features, labels, 3, l2)
