"""DFA wiring (spikefa/nn/dfa.py): DFASequential against backprop (B = W₂ for one hidden layer) and
against the numpy DFA reference, the optimiser step under any loss, the cut graph on conv nets,
saving the feedback, and plastic feedback (HL x DFA: B_l learns by Hebb's rule)."""

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
from spikefa.nn import DFASequential

from ..helpers import batch, grads, mlp, net
from ..reference import close, n, np_dfa_grads, np_forward, np_hebb


def test_dfa_with_b_equal_w2_is_backprop_hidden_gradient() -> None:
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(6, 9), nn.Tanh(), nn.Linear(9, 4))
    dfa_src = nn.Sequential(nn.Linear(6, 9), nn.Tanh(), nn.Linear(9, 4))
    dfa_src.load_state_dict(ref.state_dict())
    dfa = spikefa.convert(dfa_src, "dfa", "random", seed=0)
    fb = dfa.feedbacks[0]
    fb.fixed.copy_(ref[2].weight.detach())
    x, y = torch.randn(5, 6), torch.randint(0, 4, (5,))
    for g_dfa, g_bp in zip(grads(dfa, x, y), grads(ref, x, y)):
        torch.testing.assert_close(g_dfa, g_bp, atol=1e-6, rtol=1e-6)


def test_dfa_matches_numpy_reference_three_layers() -> None:
    """δ_l = (e B_l) ⊙ f'(a_l) for every hidden layer; no path through W_{l+1}ᵀ (Nøkland 2016)."""
    torch.manual_seed(0)
    net3 = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3))
    dfa = spikefa.convert(net3, "dfa", "random", seed=7).double()
    x, t = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    dfa.zero_grad()
    F.mse_loss(dfa(x), t, reduction="sum").backward()
    layers = [(n(dfa.blocks[i][0].weight), n(dfa.blocks[i][0].bias), act)
              for i, act in enumerate(("tanh", "tanh", "identity"))]
    hs, pre = np_forward(x.numpy(), layers)
    want = np_dfa_grads(layers, hs, pre, [dfa.feedback_matrix(i).numpy() for i in range(2)], 2 * (hs[-1] - t.numpy()))
    for i in range(3):
        np.testing.assert_allclose(dfa.blocks[i][0].weight.grad.numpy(), want[i][0], atol=1e-10)


def test_dfa_optimizer_steps_under_any_loss_equal_the_numpy_reference() -> None:
    """The user's loop is unchanged and the loss is any loss: three plain SGD steps under smooth-L1
    move every weight by −lr × the numpy DFA update, the error e = ∂L/∂output broadcast by B_l."""
    lr = 0.1
    model = spikefa.convert(mlp(), "dfa", seed=0).double()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(32, 12, generator=g, dtype=torch.float64), torch.randn(32, 4, generator=g, dtype=torch.float64)
    linears = [model.blocks[0][1], model.blocks[1][0], model.blocks[2][0]]
    for step in range(3):
        layers = [(n(m.weight), n(m.bias), act) for m, act in zip(linears, ("tanh", "relu", "identity"))]
        hs, pre = np_forward(n(x), layers)
        e = np.clip(hs[-1] - n(t), -1.0, 1.0) / hs[-1].size  # ∂ smooth-L1 (β = 1, mean) / ∂ output
        feedbacks = [n(model.feedback_matrix(i)) for i in range(2)]
        want = [(w - lr * dw, b - lr * db) for (w, b, _), (dw, db) in
                zip(layers, np_dfa_grads(layers, hs, pre, feedbacks, e))]
        opt.zero_grad()
        F.smooth_l1_loss(model(x), t).backward()
        opt.step()
        for m, (w, b) in zip(linears, want):
            np.testing.assert_allclose(n(m.weight), w, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")
            np.testing.assert_allclose(n(m.bias), b, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")


def test_dfa_on_conv_trains_and_cuts_graph() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(3 * 4 * 4, 10), nn.Tanh(), nn.Linear(10, 4))
    with pytest.raises(SpikefaError, match="input_shape"):
        spikefa.convert(net, "dfa")
    two_conv = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(),
                             nn.Flatten(), nn.Linear(2 * 8 * 8, 4))
    with pytest.raises(SpikefaError, match="linear layers"):
        spikefa.convert(two_conv, "dfa", "sign", input_shape=(1, 8, 8))
    signed = spikefa.convert(net, "dfa", "sign", input_shape=(1, 8, 8), seed=1)  # flattened conv output: fine
    assert torch.equal(torch.sign(signed.feedback_matrix(0)), torch.sign(signed.downstream_product(0)))
    dfa = spikefa.convert(net, "dfa", input_shape=(1, 8, 8))
    assert isinstance(dfa, DFASequential) and dfa.feedbacks[0].fixed.shape == (4, 48)  # block ends in Flatten
    conv_dfa = spikefa.convert(two_conv, "dfa", input_shape=(1, 8, 8))
    assert conv_dfa.feedbacks[0].fixed.shape == (4, 2, 8, 8)  # a full-size projection onto the map
    F.cross_entropy(conv_dfa(torch.randn(3, 1, 8, 8)), torch.randint(0, 4, (3,))).backward()
    assert conv_dfa.blocks[0][0].weight.grad.abs().sum() > 0
    x = torch.randn(6, 1, 8, 8)
    out = dfa(x)
    # the cut: block 1's input is a leaf (detached), so no error flows through its weights
    seen = []
    dfa.blocks[1].register_forward_pre_hook(lambda m, args: seen.append(args[0].requires_grad))
    dfa(x)
    assert seen == [False]
    F.cross_entropy(out, torch.randint(0, 4, (6,))).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in dfa.parameters())
    dfa.eval()
    torch.testing.assert_close(dfa(x), net(x))


@pytest.mark.parametrize("kind", list(FEEDBACK_KINDS))
def test_dfa_feedback_survives_save_and_load(kind: str) -> None:
    a = spikefa.convert(mlp(0), "dfa", kind, seed=1)
    a(torch.randn(3, 12))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    b = spikefa.convert(mlp(9), "dfa", kind, seed=2)
    b.load_state_dict(torch.load(io.BytesIO(buf.getvalue())))
    x, y = torch.randn(5, 12), torch.randint(0, 4, (5,))
    for ga, gb in zip(grads(a, x, y), grads(b, x, y)):
        assert torch.equal(ga, gb)


# ---------------------------------------------------------------- plastic feedback (HL x DFA)


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
