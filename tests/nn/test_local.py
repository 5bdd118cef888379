"""Local and mixed learners (spikefa/nn/local.py) against the numpy references: Hebbian descent
(HebbianDescentLinear, centred and Oja factors), StraightThrough, the sum rule and HebbNet
(LocalSequential: Hebb / Oja hidden layers, threshold, gradient sparsity, unit norm), with special
cases of known answer (β = 0 is backprop; the Hebbian layer ignores the loss)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.nn.local import HebbianDescentLinear, LocalSequential, StraightThrough

from ..helpers import batch, net
from ..reference import ATOL, close, n, np_bias_term, np_hebb, np_hebbian_descent, np_oja, np_sum_rule, np_term


# ---------------------------------------------------------------- Hebbian descent


def test_hebbian_descent_mse_is_the_difference_of_two_hebb_steps() -> None:
    """Melchior & Wiskott (2019): with L = ½‖h − t‖², ΔW = −∂L/∂W = Hebb(x−μ, t) − Hebb(x−μ, h) (×B)."""
    torch.manual_seed(0)
    layer = HebbianDescentLinear(nn.Linear(6, 3), "centred")
    g = torch.Generator().manual_seed(3)
    mu = None
    for step in range(2):  # the first batch initialises μ, the second moves it by (1 − momentum)
        x = torch.randn(9, 6, generator=g) + 1.0
        t = torch.randn(9, 3, generator=g)
        layer.weight.grad = layer.bias.grad = None
        h = layer(x)
        (0.5 * ((h - t) ** 2).sum()).backward()
        m = n(x).mean(0)
        mu = m if mu is None else 0.99 * mu + 0.01 * m
        assert close(layer.mu, mu), step
        delta = np_hebbian_descent(n(x), mu, n(h), n(t))
        assert close(layer.weight.grad, -delta * len(x)), step
        assert close(layer.bias.grad, (n(h) - n(t)).sum(0)), step
    # the forward is the plain linear map, in training and in eval
    assert torch.allclose(h, F.linear(x, layer.weight, layer.bias))
    layer.eval()
    before = layer.mu.clone()
    layer(x)
    assert torch.equal(layer.mu, before)


@pytest.mark.parametrize("hidden", ["backprop", "no-derivative"])
def test_hebbian_descent_two_layer_hidden_gets_error_through_transposed_weights(hidden: str) -> None:
    """The hidden layer sees e·W₂ (times 1 − tanh² unless f' is dropped) and its own centred input."""
    model = spikefa.convert(net(0, nn.Tanh, (6, 5, 3)), "hebbian-descent", options={"hidden_error": hidden})
    assert isinstance(model[0], HebbianDescentLinear)
    assert isinstance(model[1], StraightThrough) == (hidden == "no-derivative")
    x, _ = batch(4, b=11, d=6)
    t = torch.randn(11, 3, generator=torch.Generator().manual_seed(5))
    out = model(x)
    (0.5 * ((out - t) ** 2).sum()).backward()
    w1, b1, w2 = n(model[0].weight), n(model[0].bias), n(model[2].weight)
    xs = n(x)
    hid = np.tanh(xs @ w1.T + b1)
    e = n(out) - n(t)
    np.testing.assert_allclose(n(out), hid @ w2.T + n(model[2].bias), atol=ATOL)
    assert close(model[2].weight.grad, e.T @ (hid - hid.mean(0)))
    delta_h = e @ w2 if hidden == "no-derivative" else (e @ w2) * (1 - hid ** 2)
    assert close(model[0].weight.grad, delta_h.T @ (xs - xs.mean(0)))
    assert close(model[0].bias.grad, delta_h.sum(0))


def test_hebbian_descent_oja_factor_matches_numpy() -> None:
    """factor=oja: ΔW = Oja(x, post = t − h, W) (×B), so the step shrinks W along the post² term."""
    torch.manual_seed(0)
    layer = HebbianDescentLinear(nn.Linear(6, 3), "oja")
    g = torch.Generator().manual_seed(6)
    x = torch.randn(9, 6, generator=g)
    t = torch.randn(9, 3, generator=g)
    h = layer(x)
    (0.5 * ((h - t) ** 2).sum()).backward()
    delta = np_oja(n(x), n(t) - n(h), n(layer.weight))
    assert close(layer.weight.grad, -delta * len(x))
    # known answer: zero input, so only Oja's decay acts; a gradient step must shrink every row
    layer.weight.grad = None
    h0 = layer(torch.zeros(9, 6))
    (0.5 * ((h0 - t) ** 2).sum()).backward()
    w_new = layer.weight.detach() - 0.01 * layer.weight.grad
    assert bool((w_new.norm(dim=1) < layer.weight.detach().norm(dim=1)).all())


def test_hebbian_descent_oja_factor_hebbian_part_and_shape() -> None:
    """The Oja factor's gradient splits into the Hebbian part gᵀx (uncentred input) and a decay of
    magnitude |Σg²|·W (its sign is checked against np_oja in the test above)."""
    torch.manual_seed(0)
    layer = HebbianDescentLinear(nn.Linear(6, 3), "oja")
    g = torch.Generator().manual_seed(6)
    x = torch.randn(9, 6, generator=g) + 2.0
    t = torch.randn(9, 3, generator=g)
    h = layer(x)
    (0.5 * ((h - t) ** 2).sum()).backward()
    e = n(h) - n(t)
    hebb_part = e.T @ n(x)
    decay = (e ** 2).sum(0)[:, None] * n(layer.weight)
    got = n(layer.weight.grad)
    assert np.allclose(np.abs(got - hebb_part), np.abs(decay), atol=1e-4)


@pytest.mark.parametrize("act", [nn.Tanh(), nn.ReLU(), nn.Sigmoid()])
def test_straight_through_keeps_value_and_passes_gradient(act: nn.Module) -> None:
    a = torch.randn(5, 7, generator=torch.Generator().manual_seed(2), requires_grad=True)
    up = torch.randn(5, 7, generator=torch.Generator().manual_seed(3))
    out = StraightThrough(act)(a)
    assert torch.allclose(out, act(a.detach()), atol=1e-7)
    out.backward(up)
    assert torch.equal(a.grad, up)  # f' dropped: exactly the upstream gradient


# ---------------------------------------------------------------- the sum rule


def test_sum_rule_with_beta_zero_is_backprop_bitwise() -> None:
    ref = net(0, nn.Tanh)
    model = spikefa.convert(copy.deepcopy(ref), "sum", options={"beta": 0.0})
    assert isinstance(model, LocalSequential)
    x, y = batch(0)
    F.cross_entropy(ref(x), y).backward()
    out = model(x)
    assert torch.equal(out, ref(x))
    F.cross_entropy(out, y).backward()
    pairs = list(zip(ref.parameters(), model.parameters()))
    assert len(pairs) == 4
    for a, b in pairs:
        assert torch.equal(a.grad, b.grad)


@pytest.mark.parametrize("kind", ["hebb", "oja"])
def test_sum_rule_is_backprop_minus_beta_hebbian_term(kind: str) -> None:
    """β is relative: grad = g − β·(‖g‖/‖H‖)·H per parameter, H the numpy Hebbian term."""
    beta = 0.3
    ref = net(1, nn.Tanh)
    model = spikefa.convert(copy.deepcopy(ref), "sum", options={"beta": beta, "hebbian": kind})
    x, y = batch(1)
    F.cross_entropy(ref(x), y).backward()
    F.cross_entropy(model(x), y).backward()
    w1, b1, w2, b2 = (n(p) for p in ref.parameters())
    xs = n(x)
    hid = np.tanh(xs @ w1.T + b1)  # block 0: (input, tanh output)
    out = hid @ w2.T + b2  # block 1: (hidden, logits)
    expect = [
        np_sum_rule(n(ref[0].weight.grad), np_term(kind, xs, hid, w1), beta),
        np_sum_rule(n(ref[0].bias.grad), np_bias_term(kind, hid, b1), beta),
        np_sum_rule(n(ref[2].weight.grad), np_term(kind, hid, out, w2), beta),
        np_sum_rule(n(ref[2].bias.grad), np_bias_term(kind, out, b2), beta),
    ]
    for p, e in zip(model.parameters(), expect):
        assert close(p.grad, e)
    # and the Hebbian term is really there (not a vacuous pass)
    assert not close(model.blocks[0][0].weight.grad, ref[0].weight.grad)


# ---------------------------------------------------------------- HebbNet


@pytest.mark.parametrize("kind", ["hebb", "oja"])
def test_hebbnet_hidden_by_local_rule_output_by_backprop(kind: str) -> None:
    ref = net(2)
    model = spikefa.convert(copy.deepcopy(ref), kind)
    x, y = batch(2)
    F.cross_entropy(ref(x), y).backward()
    F.cross_entropy(model(x), y).backward()
    w1, b1 = n(ref[0].weight), n(ref[0].bias)
    post = np.maximum(n(x) @ w1.T + b1, 0.0)
    hidden = model.blocks[0][0]
    assert close(hidden.weight.grad, -np_term(kind, n(x), post, w1))
    assert close(hidden.bias.grad, -np_bias_term(kind, post, b1))
    assert torch.equal(model.blocks[1][0].weight.grad, ref[2].weight.grad)
    assert torch.equal(model.blocks[1][0].bias.grad, ref[2].bias.grad)
    # no backprop contribution: a loss 100x larger leaves the hidden gradient exactly the same
    g_hidden = hidden.weight.grad.clone()
    model.zero_grad()
    model.steps.zero_()
    (100 * F.cross_entropy(model(x), y)).backward()
    assert torch.equal(hidden.weight.grad, g_hidden)
    assert torch.allclose(model.blocks[1][0].weight.grad, 100 * ref[2].weight.grad, rtol=1e-4)


def test_hebbnet_threshold_is_the_running_mean_of_the_output() -> None:
    model = spikefa.convert(net(3), "hebb", options={"threshold": True})
    layer = model.blocks[0][0]
    means = []
    for step in range(3):
        x, y = batch(10 + step)
        w1, b1 = n(layer.weight), n(layer.bias)
        act = np.maximum(n(x) @ w1.T + b1, 0.0)
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if step == 0:
            theta = np.zeros(act.shape[1])  # the first batch only initialises θ
        elif step == 1:
            theta = means[0]
        else:
            theta = 0.99 * means[0] + 0.01 * means[1]
        post = np.maximum(act - theta, 0.0)
        assert close(layer.weight.grad, -np_hebb(n(x), post)), step
        assert close(layer.bias.grad, -post.mean(0)), step
        means.append(act.mean(0))
        with torch.no_grad():
            layer.weight.add_(0.01 * torch.randn_like(layer.weight))  # a different state each step
    assert close(model.theta0, 0.99 * (0.99 * means[0] + 0.01 * means[1]) + 0.01 * means[2])
    # θ actually thresholds: some units passed by plain Hebb are cut
    assert (np.maximum(act - theta, 0.0) == 0).sum() > (act == 0).sum()


def test_hebbnet_gradient_sparsity_keeps_the_largest_entries() -> None:
    p = 0.3
    model = spikefa.convert(net(4), "hebb", options={"gradient_sparsity": True, "p": p})
    x, y = batch(4, b=64)
    layer = model.blocks[0][0]
    w1, b1 = n(layer.weight), n(layer.bias)
    full = np_hebb(n(x), np.maximum(n(x) @ w1.T + b1, 0.0))
    assert np.all(np.abs(full).sum(1) > 0)  # every unit active somewhere: no zero rows, no ties
    assert len(np.unique(np.abs(full))) == full.size
    F.cross_entropy(model(x), y).backward()
    grad = n(layer.weight.grad)
    k = round(p * full.size)
    assert np.count_nonzero(grad) == k
    top = np.argsort(-np.abs(full).ravel())[:k]
    assert set(np.flatnonzero(grad)) == set(top.tolist())
    assert close(grad.ravel()[top], -full.ravel()[top])


def test_hebbnet_unit_norm_gives_unit_rows_before_the_step() -> None:
    """unit_norm=true rescales each Hebbian unit to unit norm (its weight row, or the row with its
    bias appended) before the step, and the Hebbian term is computed with the rescaled unit."""
    model = spikefa.convert(net(5), "hebb", options={"unit_norm": True})
    x, y = batch(5)
    layer = model.blocks[0][0]
    F.cross_entropy(model(x), y).backward()
    w, b = layer.weight.detach(), layer.bias.detach()
    unit_w = torch.allclose(w.norm(dim=1), torch.ones(8), atol=1e-6)
    unit_wb = torch.allclose(torch.cat([w, b[:, None]], 1).norm(dim=1), torch.ones(8), atol=1e-6)
    assert unit_w or unit_wb
    post = np.maximum(n(x) @ n(w).T + n(b), 0.0)
    assert close(layer.weight.grad, -np_hebb(n(x), post))
    assert not torch.allclose(model.blocks[1][0].weight.norm(dim=1), torch.ones(4), atol=1e-3)  # gd layer untouched


def test_hebbnet_unit_norm_bounds_the_whole_unit_bias_included() -> None:
    model = spikefa.convert(net(5), "hebb", options={"unit_norm": True, "local_lr": 1.0})
    hidden = model.blocks[0][0]
    opt = torch.optim.SGD(hidden.parameters(), lr=1.0)  # plain SGD at local_lr, as the harness does
    for step in range(40):
        x, y = batch(100 + step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert float(hidden.bias.detach().abs().max()) < 100.0 and float(hidden.weight.detach().abs().max()) < 100.0
