"""Hebbian rules (Hebb, Oja, HebbNet, the sum rule, Hebbian descent, plastic feedback) against
independent numpy references and special cases with a known answer."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.errors import SpikefaError
from spikefa.nn.local import HebbianDescentLinear, LocalSequential, StraightThrough
from spikefa.functional.hebbian import hebb, oja
from spikefa.schemas.run import RunConfig
from spikefa.train.run import make_optimizer

ATOL = 1e-5


# ---------------------------------------------------------------- numpy references (loop over the batch)


def np_hebb(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ΔW = mean_b y_b x_bᵀ, one outer product per example."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    out = np.zeros((y.shape[1], x.shape[1]))
    for xb, yb in zip(x, y):
        out += np.outer(yb, xb)
    return out / len(x)


def np_oja(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Δw_i = mean_b y_bi (x_b − y_bi w_i), unit by unit, example by example."""
    x, y, w = (np.asarray(a, np.float64) for a in (x, y, w))
    out = np.zeros_like(w)
    for xb, yb in zip(x, y):
        for i in range(w.shape[0]):
            out[i] += yb[i] * (xb - yb[i] * w[i])
    return out / len(x)


def np_bias_term(kind: str, post: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The bias as a weight from a constant input 1."""
    ones = np.ones((len(post), 1))
    if kind == "hebb":
        return np_hebb(ones, post)[:, 0]
    return np_oja(ones, post, np.asarray(b, np.float64)[:, None])[:, 0]


def np_term(kind: str, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np_hebb(x, y) if kind == "hebb" else np_oja(x, y, w)


def n(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def close(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, atol: float = ATOL) -> bool:
    a = n(a) if isinstance(a, torch.Tensor) else a
    b = n(b) if isinstance(b, torch.Tensor) else b
    return bool(np.allclose(a, b, rtol=1e-5, atol=atol))


def net(seed: int = 0, act: type[nn.Module] = nn.ReLU, sizes: tuple[int, int, int] = (10, 8, 4)) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(sizes[0], sizes[1]), act(), nn.Linear(sizes[1], sizes[2]))


def batch(seed: int, b: int = 32, d: int = 10, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g) + 0.3, torch.randint(0, classes, (b,), generator=g)


# ---------------------------------------------------------------- 1. pure functions


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


# ---------------------------------------------------------------- 3. Hebbian descent


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
        xc = n(x) - mu
        delta = np_hebb(xc, n(t)) - np_hebb(xc, n(h))
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


@pytest.mark.parametrize("mode,frozen", [("partial1", 0), ("partial2", 2)])
def test_hebbian_descent_partial_modes_freeze_one_layer(mode: str, frozen: int) -> None:
    model = spikefa.convert(net(0, nn.Tanh, (6, 5, 3)), "hebbian-descent", options={"mode": mode})
    trained = 2 - frozen
    assert not any(p.requires_grad for p in model[frozen].parameters())
    assert isinstance(model[trained], HebbianDescentLinear) and not isinstance(model[frozen], HebbianDescentLinear)
    x, y = batch(0, b=8, d=6, classes=3)
    F.cross_entropy(model(x), y).backward()
    assert model[frozen].weight.grad is None and model[trained].weight.grad is not None


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
    """What the Oja variant gets right today: the Hebbian part gᵀx (uncentred) and the decay's
    magnitude |Σg²|·W (its sign is the xfail above)."""
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


# ---------------------------------------------------------------- 4. the sum rule


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
    def rel(g: np.ndarray, h: np.ndarray) -> np.ndarray:
        return g - beta * np.linalg.norm(g) / np.linalg.norm(h) * h

    expect = [
        rel(n(ref[0].weight.grad), np_term(kind, xs, hid, w1)),
        rel(n(ref[0].bias.grad), np_bias_term(kind, hid, b1)),
        rel(n(ref[2].weight.grad), np_term(kind, hid, out, w2)),
        rel(n(ref[2].bias.grad), np_bias_term(kind, out, b2)),
    ]
    for p, e in zip(model.parameters(), expect):
        assert close(p.grad, e)
    # and the Hebbian term is really there (not a vacuous pass)
    assert not close(model.blocks[0][0].weight.grad, ref[0].weight.grad)


# ---------------------------------------------------------------- 5. HebbNet


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


# ---------------------------------------------------------------- 6. the optimiser


def _config(optimizer: str, **kw: object) -> RunConfig:
    return RunConfig(model="mlp-1x2000-relu", rule="hebb", dataset="digits", optimizer=optimizer, **kw)  # type: ignore[arg-type]


def test_make_optimizer_hidden_plain_sgd_output_adam() -> None:
    local_lr = 0.05
    model = spikefa.convert(net(6), "hebb", options={"local_lr": local_lr})
    config = _config("adam", lr=1e-2, weight_decay=1e-3, rule_options={"local_lr": local_lr})
    opt = make_optimizer(config, model)
    hidden = list(model.blocks[0].parameters())
    output = list(model.blocks[1].parameters())
    shadow = [nn.Parameter(p.detach().clone()) for p in output]
    ref_adam = torch.optim.Adam(shadow, lr=1e-2, weight_decay=1e-3)
    for step in range(3):
        x, y = batch(20 + step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        before = [p.detach().clone() for p in hidden]
        grads = [p.grad.clone() for p in hidden]
        for s, p in zip(shadow, output):
            s.grad = p.grad.clone()
        opt.step()
        ref_adam.step()
        for p, b, g in zip(hidden, before, grads):
            assert torch.allclose(p.detach(), b - local_lr * g, rtol=1e-6, atol=1e-7), step
        for p, s in zip(output, shadow):
            assert torch.allclose(p.detach(), s.detach(), rtol=1e-6, atol=1e-7), step
    # the output layer really took Adam steps (not SGD at local_lr)
    assert opt.state[output[0]]["step"] == 3 and not opt.state.get(hidden[0])


def test_make_optimizer_sgd_hidden_is_plain_sgd() -> None:
    local_lr = 0.05
    model = spikefa.convert(net(6), "hebb", options={"local_lr": local_lr})
    opt = make_optimizer(_config("sgd", lr=1e-2, momentum=0.9, rule_options={"local_lr": local_lr}), model)
    w = model.blocks[0][0].weight
    for step in range(2):
        x, y = batch(30 + step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        before, g = w.detach().clone(), w.grad.clone()
        opt.step()
        assert torch.allclose(w.detach(), before - local_lr * g, rtol=1e-6, atol=1e-7), step


# ---------------------------------------------------------------- 7. plastic feedback (HL x FA, HL x DFA)


@pytest.mark.parametrize("kind", ["hebb", "oja"])
def test_plastic_fa_feedback_learns_by_hebb_or_oja(kind: str) -> None:
    eta = 0.05
    model = spikefa.convert(net(7), "fa", "random", seed=3, options={"plastic": kind, "plastic_lr": eta})
    layers = [model[0], model[2]]
    b0 = [layer.feedback_fixed.clone() for layer in layers]
    x, y = batch(7)
    a1 = F.linear(x, model[0].weight, model[0].bias)
    h = torch.relu(a1)
    a2 = F.linear(h, model[2].weight, model[2].bias)
    x_req = x.clone().requires_grad_(True)
    out = model(x_req)
    for layer, b, (inp, a) in zip(layers, b0, [(x, a1), (h, a2)]):
        expect = n(b) + eta * np_term(kind, n(inp), n(a), n(b))
        assert close(layer.feedback_fixed, expect)
        assert not close(layer.feedback_fixed, b)
    # this step's backward still used B0
    F.cross_entropy(out, y).backward()
    e = torch.softmax(out.detach(), 1) - F.one_hot(y, 4)
    e = e / len(y)
    dh = (e @ b0[1]) * (a1 > 0)
    assert torch.allclose(x_req.grad, dh @ b0[0], atol=1e-6)
    # no learning without a training forward
    after = [layer.feedback_fixed.clone() for layer in layers]
    with torch.no_grad():
        model(x)
    model.eval()
    model(x)
    assert all(torch.equal(layer.feedback_fixed, a) for layer, a in zip(layers, after))


def test_plastic_fa_needs_a_fixed_feedback() -> None:
    with pytest.raises(SpikefaError, match="fixed B"):
        spikefa.convert(net(0), "fa", "sign", options={"plastic": "hebb", "plastic_lr": 0.1})


def test_plastic_dfa_feedback_learns_by_hebb() -> None:
    eta = 0.05
    model = spikefa.convert(net(8, nn.Tanh, (10, 8, 4)), "dfa", "random", seed=2,
                            options={"plastic": "hebb", "plastic_lr": eta})
    b0 = model.feedbacks[0].fixed.clone()
    assert b0.shape == (4, 8)
    x, y = batch(8)
    w1, b1 = model.blocks[0][0].weight, model.blocks[0][0].bias
    h = torch.tanh(F.linear(x, w1, b1))
    out = model(x)
    assert close(model.feedbacks[0].fixed, n(b0) + eta * np_hebb(n(h), n(out)))
    # the step that changed B used B0 for its own error: δ = (e·B0) ⊙ (1 − h²)
    F.cross_entropy(out, y).backward()
    e = (torch.softmax(out.detach(), 1) - F.one_hot(y, 4)) / len(y)
    delta = (e @ b0) * (1 - h.detach() ** 2)
    assert torch.allclose(w1.grad, delta.t() @ x, atol=1e-6)


def test_plastic_dfa_rejects_oja_with_the_shape_reason() -> None:
    with pytest.raises(SpikefaError, match=r"(?s)Oja.*shape"):
        spikefa.convert(net(0), "dfa", "random", options={"plastic": "oja", "plastic_lr": 0.1})
    with pytest.raises(SpikefaError, match="fixed B"):
        spikefa.convert(net(0), "dfa", "sign", options={"plastic": "hebb", "plastic_lr": 0.1})
