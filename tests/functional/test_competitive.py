"""The competitive Hebbian kernels against independent numpy formulations: Krotov & Hopfield's
update (their notebook's argsort form), SoftHebb's update (explicit loops), convolution patches
(against F.conv2d), and the two convergence properties the papers state: Krotov's update is tangent
to the unit p-sphere and brings the learning units onto it; SoftHebb brings every unit's norm to 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikefa.functional.competitive import (adaptive_rate, conv_patches, krotov_activity, krotov_step_, krotov_update,
                                            lebesgue_weights, p_norms, scaled_to_max, softhebb_activity,
                                            softhebb_update, triangle)


def _numpy_krotov(inputs: np.ndarray, synapses: np.ndarray, p: float, k: int, delta: float) -> np.ndarray:
    """Krotov & Hopfield's notebook (DimaKrotov/Biological_Learning), inputs as columns [N, B]."""
    hid, num = synapses.shape[0], inputs.shape[1]
    sig = np.sign(synapses)
    tot_input = np.dot(sig * np.absolute(synapses) ** (p - 1), inputs)
    y = np.argsort(tot_input, axis=0)
    yl = np.zeros((hid, num))
    yl[y[hid - 1, :], np.arange(num)] = 1.0
    yl[y[hid - k], np.arange(num)] = -delta
    xx = np.sum(np.multiply(yl, tot_input), 1)
    return np.dot(yl, np.transpose(inputs)) - np.multiply(np.tile(xx.reshape(xx.shape[0], 1), (1, inputs.shape[0])),
                                                          synapses)


@pytest.mark.parametrize("p,k", [(2.0, 2), (3.0, 3), (4.5, 5)])
def test_krotov_update_matches_the_notebook(p: float, k: int) -> None:
    rng = np.random.default_rng(int(p * 10) + k)
    w = rng.normal(size=(7, 9))
    x = rng.random(size=(5, 9))
    ours = krotov_update(torch.from_numpy(x), torch.from_numpy(w), p, k, 0.4).numpy()
    np.testing.assert_allclose(ours, _numpy_krotov(x.T, w, p, k, 0.4), rtol=1e-10, atol=1e-12)


def test_krotov_activity_ranks_each_input() -> None:
    overlap = torch.tensor([[0.1, 0.9, 0.5, 0.3], [2.0, -1.0, 0.0, 1.0]])
    g = krotov_activity(overlap, k=3, delta=0.25)
    assert g.tolist() == [[0.0, 1.0, 0.0, -0.25], [1.0, 0.0, -0.25, 0.0]]
    with pytest.raises(ValueError, match="2 <= k <= 4"):
        krotov_activity(overlap, k=5, delta=0.25)


@pytest.mark.parametrize("p", [2.0, 3.0, 5.0])
def test_krotov_update_is_tangent_to_the_unit_p_sphere(p: float) -> None:
    """d/dt Σ|W|^p = p Σ sign(W)|W|^(p−1) ΔW = p·(Σ g⟨W,x⟩)(1 − ‖W‖_p^p): zero on the sphere."""
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 10, generator=gen, dtype=torch.float64)
    w = w / p_norms(w, p).pow(1 / p).unsqueeze(1)
    x = torch.rand(16, 10, generator=gen, dtype=torch.float64)
    dw = krotov_update(x, w, p, 2, 0.4)
    assert dw.abs().max() > 0.1  # the units move ...
    radial = (lebesgue_weights(w, p) * dw).sum(1)
    assert radial.abs().max() < 1e-12  # ... along the sphere
    off = 1.3 * w  # off the sphere, the same product is not zero
    assert (lebesgue_weights(off, p) * krotov_update(x, off, p, 2, 0.4)).sum(1).abs().max() > 1e-3


def test_krotov_rule_brings_the_winners_onto_the_unit_p_sphere() -> None:
    p, eps = 3.0, 0.02
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(4, 6, generator=gen, dtype=torch.float64)  # the notebook's N(0, 1) start: far off the sphere
    centres = torch.rand(3, 6, generator=gen, dtype=torch.float64)
    wins = torch.zeros(4)
    for _ in range(1200):
        x = (centres[torch.randint(0, 3, (8,), generator=gen)] + 0.05 * torch.rand(8, 6, generator=gen,
                                                                                 dtype=torch.float64))
        g = krotov_activity(x.matmul(lebesgue_weights(w, p).t()), 2, 0.4)
        wins += (g == 1.0).sum(0)
        w = w + eps * scaled_to_max(krotov_update(x, w, p, 2, 0.4))
    norms = p_norms(w, p)
    winners = wins > 200
    assert winners.any()
    assert ((norms[winners] - 1.0).abs() < 0.05).all(), norms


def _numpy_softhebb(x: np.ndarray, w: np.ndarray, tau: float, anti: bool) -> np.ndarray:
    """Σ_b y_kb (x_b − u_kb w_k), written with loops."""
    dw = np.zeros_like(w)
    for b in range(x.shape[0]):
        u = w @ x[b]
        e = np.exp((u - u.max()) / tau)
        y = e / e.sum()
        if anti:
            y = np.where(np.arange(len(u)) == np.argmax(u), y, -y)
        for kk in range(w.shape[0]):
            dw[kk] += y[kk] * (x[b] - u[kk] * w[kk])
    return dw


@pytest.mark.parametrize("anti", [False, True])
def test_softhebb_update_matches_loops(anti: bool) -> None:
    rng = np.random.default_rng(1 + anti)
    w, x = rng.normal(size=(5, 8)), rng.normal(size=(6, 8))
    tw, tx = torch.from_numpy(w), torch.from_numpy(x)
    u = tx.matmul(tw.t())
    ours = softhebb_update(tx, u, softhebb_activity(u, 0.7, anti), tw).numpy()
    np.testing.assert_allclose(ours, _numpy_softhebb(x, w, 0.7, anti), rtol=1e-10, atol=1e-12)


def test_softhebb_activity_anti_hebbian_flips_all_but_the_winner() -> None:
    u = torch.tensor([[0.2, 1.5, -0.3], [3.0, 0.0, 2.9]])
    plain = softhebb_activity(u, 0.5, anti_hebbian=False)
    anti = softhebb_activity(u, 0.5, anti_hebbian=True)
    torch.testing.assert_close(plain.sum(1), torch.ones(2))
    torch.testing.assert_close(anti.abs(), plain)
    assert (anti > 0).tolist() == [[False, True, False], [True, False, False]]


@pytest.mark.parametrize("mode,stride", [("zeros", 1), ("reflect", 1), ("zeros", 2)])
def test_conv_patches_times_weights_is_the_convolution(mode: str, stride: int) -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 7, 6, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    rows = conv_patches(x, (3, 3), (stride, stride), (1, 1), (1, 1), mode)
    padded = F.pad(x, (1, 1, 1, 1), mode=mode) if mode != "zeros" else F.pad(x, (1, 1, 1, 1))
    u = F.conv2d(padded, w, stride=stride)
    torch.testing.assert_close(rows.matmul(w.reshape(4, -1).t()), u.permute(0, 2, 3, 1).reshape(-1, 4))


def test_softhebb_rule_brings_every_unit_to_unit_norm() -> None:
    """The paper's property (Moraitis et al. 2022, Journé et al. 2023): ‖w_k‖₂ → 1, here from the
    reference code's start (non-negative weights of norm about 3) on a stream of non-negative inputs,
    with the adaptive rate."""
    gen = torch.Generator().manual_seed(5)
    n_in, units = 10, 5
    w = torch.rand(units, n_in, generator=gen, dtype=torch.float64) * 3.0 * (3.0 / n_in) ** 0.5
    assert (w.norm(dim=1) - 1.0).abs().min() > 0.5
    centres = torch.rand(4, n_in, generator=gen, dtype=torch.float64)
    for _ in range(1200):
        x = centres[torch.randint(0, 4, (16,), generator=gen)] + 0.1 * torch.rand(16, n_in, generator=gen,
                                                                                   dtype=torch.float64)
        u = x.matmul(w.t())
        dw = scaled_to_max(softhebb_update(x, u, softhebb_activity(u, 1.0, anti_hebbian=False), w))
        w = w + adaptive_rate(w, 0.1, 0.5).unsqueeze(1) * dw
    assert ((w.norm(dim=1) - 1.0).abs() < 0.02).all(), w.norm(dim=1)


def test_adaptive_rate_and_triangle() -> None:
    w = torch.tensor([[3.0, 4.0], [0.6, 0.8]])  # norms 5 and 1
    torch.testing.assert_close(adaptive_rate(w, 0.1, 0.5), torch.tensor([0.2, 0.1 * 1e-5]), rtol=1e-3, atol=1e-7)
    u = torch.tensor([[1.0, 2.0, 6.0]])  # mean 3
    torch.testing.assert_close(triangle(u, 2.0), torch.tensor([[0.0, 0.0, 9.0]]))


@pytest.mark.parametrize("p,k", [(2.0, 2), (3.0, 7), (4.5, 3)])
def test_krotov_in_place_row_step_equals_the_dense_update(p: float, k: int) -> None:
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(40, 12, generator=gen, dtype=torch.float64)
    x = torch.rand(6, 12, generator=gen, dtype=torch.float64)
    w0 = w.clone()
    dense = w + 0.05 * scaled_to_max(krotov_update(x, w, p, k, 0.4))
    moved = krotov_step_(w, x, p, k, 0.4, 0.05)
    torch.testing.assert_close(w, dense, rtol=0, atol=1e-14)
    assert 2 <= len(moved) <= 12  # at most 2·B units move
    rest = torch.ones(40, dtype=torch.bool)
    rest[moved] = False
    assert torch.equal(w[rest], w0[rest]) and (w[moved] != w0[moved]).any(1).all()  # the rest stay bit for bit
    after = w.clone()
    assert len(krotov_step_(w, x[:0], p, k, 0.4, 0.05)) == 0 and torch.equal(w, after)  # an empty batch: nothing


def test_lebesgue_weights_for_p3_equal_the_general_formula() -> None:
    w = torch.randn(50, 7, dtype=torch.float64)
    torch.testing.assert_close(lebesgue_weights(w, 3.0), w.sign() * w.abs().pow(2.0), rtol=0, atol=0)
