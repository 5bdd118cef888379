"""FA layers (spikefa/nn/layers.py): FALinear / FAConv2d against backprop (B = W) and against the
numpy FA reference, the optimiser step under any loss, saving the feedback, and plastic feedback
(HL x FA: B learns by Hebb's or Oja's rule, against the numpy terms)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.errors import SpikefaError
from spikefa.functional.feedback import FEEDBACK_KINDS
from spikefa.nn import FAConv2d, FALinear

from ..helpers import SkipNet, batch, grads, mlp, net
from ..reference import close, n, np_fa_grads, np_forward, np_term


def set_feedback_to_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (FALinear, FAConv2d)):
            m.feedback_fixed.copy_(m.weight.detach())


@pytest.mark.parametrize("make,shape", [(mlp, (12,)), (lambda: SkipNet(), (2, 6, 6))])
def test_fa_with_b_equal_w_is_backprop(make, shape) -> None:
    torch.manual_seed(1)
    ref = make()
    fa = make()
    fa.load_state_dict(ref.state_dict())
    fa = spikefa.convert(fa, "fa", "random", seed=3)
    set_feedback_to_weights(fa)
    x, y = torch.randn(5, *shape), torch.randint(0, 3, (5,))
    for g_fa, g_bp in zip(grads(fa, x, y), grads(ref, x, y)):
        torch.testing.assert_close(g_fa, g_bp, atol=1e-6, rtol=1e-6)


def test_fa_random_matches_numpy_reference() -> None:
    """Two-layer tanh net, MSE: δ1 = (δ2 B2) ⊙ (1 − h²) (Lillicrap et al. 2016)."""
    torch.manual_seed(0)
    model = spikefa.convert(nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)), "fa", seed=2).double()
    x, t = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    model.zero_grad()
    F.mse_loss(model(x), t, reduction="sum").backward()
    layers = [(n(model[0].weight), n(model[0].bias), "tanh"), (n(model[2].weight), n(model[2].bias), "identity")]
    hs, pre = np_forward(x.numpy(), layers)
    (dw1, db1), (dw2, _) = np_fa_grads(layers, hs, pre, [None, model[2].feedback_matrix().numpy()],
                                       2 * (hs[-1] - t.numpy()))
    np.testing.assert_allclose(model[2].weight.grad.numpy(), dw2, atol=1e-10)
    np.testing.assert_allclose(model[0].weight.grad.numpy(), dw1, atol=1e-10)
    np.testing.assert_allclose(model[0].bias.grad.numpy(), db1, atol=1e-10)


@pytest.mark.parametrize("rule", ["fa", "sign"])
def test_optimizer_steps_under_any_loss_equal_the_numpy_reference(rule: str) -> None:
    """The user's loop is unchanged and the loss is any loss: three plain SGD steps under smooth-L1
    move every weight by −lr × the numpy FA gradient of that loss, B read afresh at each step (sign
    symmetry's B follows W's signs as they change)."""
    lr = 0.1
    model = spikefa.convert(mlp(), rule, seed=0).double()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(32, 12, generator=g, dtype=torch.float64), torch.randn(32, 4, generator=g, dtype=torch.float64)
    linears = [model[1], model[3], model[5]]
    for step in range(3):
        layers = [(n(m.weight), n(m.bias), act) for m, act in zip(linears, ("tanh", "relu", "identity"))]
        feedbacks = [n(m.feedback_matrix()) for m in linears]
        hs, pre = np_forward(n(x), layers)
        d_out = np.clip(hs[-1] - n(t), -1.0, 1.0) / hs[-1].size  # ∂ smooth-L1 (β = 1, mean) / ∂ output
        want = [(w - lr * dw, b - lr * db) for (w, b, _), (dw, db) in
                zip(layers, np_fa_grads(layers, hs, pre, feedbacks, d_out))]
        opt.zero_grad()
        F.smooth_l1_loss(model(x), t).backward()
        opt.step()
        for m, (w, b) in zip(linears, want):
            np.testing.assert_allclose(n(m.weight), w, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")
            np.testing.assert_allclose(n(m.bias), b, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")
    assert not np.allclose(n(model[1].weight.grad), np_fa_grads(layers, hs, pre, [n(m.weight) for m in linears],
                                                                  d_out)[0][0])  # B is not W: not backprop


def test_fa_backward_uses_b_not_w() -> None:
    layer = spikefa.convert(nn.Sequential(nn.Linear(4, 3)), "fa", seed=0)[0]
    x = torch.randn(2, 4, requires_grad=True)
    layer(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(2, 3) @ layer.feedback_matrix())
    assert not torch.allclose(x.grad, torch.ones(2, 3) @ layer.weight.detach())


@pytest.mark.parametrize("kind", list(FEEDBACK_KINDS))
def test_fa_feedback_survives_save_and_load(kind: str) -> None:
    a = spikefa.convert(mlp(0), "fa", kind, seed=1)
    a(torch.randn(3, 12))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    b = spikefa.convert(mlp(9), "fa", kind, seed=2)
    b.load_state_dict(torch.load(io.BytesIO(buf.getvalue())))
    x, y = torch.randn(5, 12), torch.randint(0, 4, (5,))
    for ga, gb in zip(grads(a, x, y), grads(b, x, y)):
        assert torch.equal(ga, gb)


# ---------------------------------------------------------------- plastic feedback (HL x FA)


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


@pytest.mark.parametrize("make", [lambda kind: FALinear(6, 4, feedback=kind, seed=1),
                                  lambda kind: FAConv2d(2, 3, 3, feedback=kind, seed=1)], ids=["linear", "conv"])
def test_a_first_layer_builds_no_feedback_and_later_layers_still_get_their_own(make, monkeypatch) -> None:
    layer = make("sign")
    x = torch.randn(5, 6) if isinstance(layer, FALinear) else torch.randn(5, 2, 6, 6)
    calls = []
    original = type(layer).feedback_matrix
    monkeypatch.setattr(type(layer), "feedback_matrix", lambda self: calls.append(1) or original(self))
    layer(x).sum().backward()  # input without gradient: B would never be read
    assert calls == []
    w, b = layer.weight.detach().clone().requires_grad_(True), layer.bias.detach().clone().requires_grad_(True)
    plain = F.linear(x, w, b) if isinstance(layer, FALinear) else F.conv2d(x, w, b)
    plain.sum().backward()  # the weight and bias gradients are backprop's, whatever stands in for B
    torch.testing.assert_close(layer.weight.grad, w.grad)
    torch.testing.assert_close(layer.bias.grad, b.grad)
    layer.zero_grad()
    xg = x.clone().requires_grad_(True)
    layer(xg).sum().backward()  # sign kinds build B in the backward pass (DeferredSign), not here
    assert calls == []
    ref = xg.detach().clone().requires_grad_(True)  # sign symmetry: the input's error goes through sign(W)·scale
    b = original(layer).detach()
    if isinstance(layer, FALinear):
        torch.nn.functional.linear(ref, b, layer.bias.detach()).sum().backward()
    else:
        torch.nn.functional.conv2d(ref, b, layer.bias.detach()).sum().backward()
    torch.testing.assert_close(xg.grad, ref.grad)


@pytest.mark.parametrize("kind", ["sign", "random-sign"])
def test_deferred_sign_feedback_equals_the_feedback_matrix_and_sees_the_weight_of_its_forward(kind: str) -> None:
    """B built in the backward pass (into a reused scratch) is `feedback_matrix()`'s B (a zero weight
    sends no error back), over several steps with the weight changing between them; a weight changed
    in place between forward and backward is refused by autograd, as backprop's would be."""
    torch.manual_seed(0)
    layer = FALinear(6, 4, feedback=kind, seed=1)
    for step in range(3):
        with torch.no_grad():
            layer.weight.add_(torch.randn(4, 6) * 0.1)
            layer.weight[0, 0] = 0.0
        x = torch.randn(5, 6, requires_grad=True)
        g = torch.randn(5, 4)
        layer(x).backward(g)
        b = layer.feedback_matrix()
        assert b[0, 0] == 0
        torch.testing.assert_close(x.grad, g @ b, rtol=1e-6, atol=1e-7)
    out = layer(torch.randn(5, 6, requires_grad=True))
    with torch.no_grad():
        layer.weight.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
