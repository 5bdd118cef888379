"""Hebbian terms (spikefa/functional/hebbian.py): Hebb's and Oja's rule against the numpy loop over
the batch, and Oja's known answer (the first principal component, ‖w‖ → 1)."""

from __future__ import annotations

import numpy as np
import torch

from spikefa.functional.hebbian import hebb, oja

from ..reference import np_hebb, np_oja


def test_hebb_and_oja_match_numpy_loop() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64)
    y = torch.randn(7, 3, generator=g, dtype=torch.float64)
    w = torch.randn(3, 5, generator=g, dtype=torch.float64)
    saved = [t.clone() for t in (x, y, w)]
    assert hebb(x, y).shape == (3, 5) and oja(x, y, w).shape == (3, 5)
    np.testing.assert_allclose(hebb(x, y).numpy(), np_hebb(x.numpy(), y.numpy()), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(oja(x, y, w).numpy(), np_oja(x.numpy(), y.numpy(), w.numpy()), rtol=1e-12, atol=1e-12)
    assert all(torch.equal(a, b) for a, b in zip((x, y, w), saved))  # pure: inputs untouched


def test_oja_converges_to_the_first_principal_component() -> None:
    """Oja (1982): a linear unit y = w·x trained by Oja's rule finds the top eigenvector, ‖w‖ → 1."""
    g = torch.Generator().manual_seed(0)
    d = 6
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    lam = torch.tensor([4.0, 1.5, 1.0, 0.6, 0.3, 0.1], dtype=torch.float64)
    root = q * lam.sqrt()  # x = root @ z has covariance q diag(lam) qᵀ
    w = torch.randn(1, d, generator=g, dtype=torch.float64) * 0.1
    for _ in range(3000):
        x = torch.randn(64, d, generator=g, dtype=torch.float64) @ root.t()
        w += 0.01 * oja(x, x @ w.t(), w)
    top = q[:, 0]
    cos = float((w[0] @ top).abs() / w.norm())
    assert cos > 0.99, cos
    assert abs(float(w.norm()) - 1.0) < 0.05, float(w.norm())
