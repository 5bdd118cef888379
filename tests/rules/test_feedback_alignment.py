"""FA / sign symmetry / DFA against backprop special cases and a numpy reference."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.errors import SpikefaError
from spikefa.nn import DFASequential, FAConv2d, FALinear
from spikefa.rules import FEEDBACK_KINDS
from spikefa.functional.autograd import DFAInject, FAConv2dFunction, FALinearFunction


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


class SkipNet(nn.Module):
    """Conv + residual + linear: FA must work on any module structure, not only Sequential."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1, stride=1)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.c1(x))
        h = h + torch.tanh(self.c2(h))
        return self.fc(h.flatten(1))


def grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [p.grad.clone() for p in model.parameters()]


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
    W1, b1 = model[0].weight.detach().numpy(), model[0].bias.detach().numpy()
    W2, b2 = model[2].weight.detach().numpy(), model[2].bias.detach().numpy()
    B2 = model[2].feedback_matrix().numpy()
    X, T = x.numpy(), t.numpy()
    h = np.tanh(X @ W1.T + b1)
    d2 = 2 * (h @ W2.T + b2 - T)
    d1 = (d2 @ B2) * (1 - h**2)
    np.testing.assert_allclose(model[2].weight.grad.numpy(), d2.T @ h, atol=1e-10)
    np.testing.assert_allclose(model[0].weight.grad.numpy(), d1.T @ X, atol=1e-10)
    np.testing.assert_allclose(model[0].bias.grad.numpy(), d1.sum(0), atol=1e-10)


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
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3))
    dfa = spikefa.convert(net, "dfa", "random", seed=7).double()
    x, t = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    dfa.zero_grad()
    F.mse_loss(dfa(x), t, reduction="sum").backward()
    Ws = [dfa.blocks[i][0].weight.detach().numpy() for i in range(3)]
    bs = [dfa.blocks[i][0].bias.detach().numpy() for i in range(3)]
    Bs = [dfa.feedback_matrix(i).numpy() for i in range(2)]
    h0 = x.numpy()
    h1 = np.tanh(h0 @ Ws[0].T + bs[0])
    h2 = np.tanh(h1 @ Ws[1].T + bs[1])
    e = 2 * (h2 @ Ws[2].T + bs[2] - t.numpy())
    d1 = (e @ Bs[0]) * (1 - h1**2)
    d2 = (e @ Bs[1]) * (1 - h2**2)
    np.testing.assert_allclose(dfa.blocks[0][0].weight.grad.numpy(), d1.T @ h0, atol=1e-10)
    np.testing.assert_allclose(dfa.blocks[1][0].weight.grad.numpy(), d2.T @ h1, atol=1e-10)
    np.testing.assert_allclose(dfa.blocks[2][0].weight.grad.numpy(), e.T @ h2, atol=1e-10)


def test_gradcheck_custom_functions() -> None:
    d = dict(dtype=torch.float64)
    x = torch.randn(3, 4, **d, requires_grad=True)
    w = torch.randn(5, 4, **d, requires_grad=True)
    b = torch.randn(5, **d, requires_grad=True)
    # With B = W the whole backward is the true gradient; with a random B the weight and bias
    # gradients still are (only the error path is substituted).
    assert torch.autograd.gradcheck(lambda x, w, b: FALinearFunction.apply(x, w, b, w.detach()), (x, w, b))
    B = torch.randn(5, 4, **d)
    assert torch.autograd.gradcheck(lambda w, b: FALinearFunction.apply(x.detach(), w, b, B), (w, b))
    xc = torch.randn(2, 2, 5, 5, **d, requires_grad=True)
    wc = torch.randn(3, 2, 3, 3, **d, requires_grad=True)
    bc = torch.randn(3, **d, requires_grad=True)
    conv = lambda x, w, b, B: FAConv2dFunction.apply(x, w, b, B, [2, 1], [1, 0], [1, 1], 1)  # noqa: E731
    assert torch.autograd.gradcheck(lambda x, w, b: conv(x, w, b, w.detach()), (xc, wc, bc))
    Bc = torch.randn(3, 2, 3, 3, **d)
    assert torch.autograd.gradcheck(lambda w, b: conv(xc.detach(), w, b, Bc), (wc, bc))
    out = torch.randn(3, 4, **d, requires_grad=True)
    h = torch.randn(3, 6, **d)
    assert torch.autograd.gradcheck(lambda o: DFAInject.apply(o, [torch.randn(4, 6, **d)], h), (out,))


def test_fa_backward_uses_b_not_w() -> None:
    layer = spikefa.convert(nn.Sequential(nn.Linear(4, 3)), "fa", seed=0)[0]
    x = torch.randn(2, 4, requires_grad=True)
    layer(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(2, 3) @ layer.feedback_matrix())
    assert not torch.allclose(x.grad, torch.ones(2, 3) @ layer.weight.detach())


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


@pytest.mark.parametrize("rule,kind", [("fa", k) for k in FEEDBACK_KINDS] + [("dfa", k) for k in FEEDBACK_KINDS])
def test_feedback_survives_save_and_load(rule: str, kind: str) -> None:
    a = spikefa.convert(mlp(0), rule, kind, seed=1)
    a(torch.randn(3, 12))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    b = spikefa.convert(mlp(9), rule, kind, seed=2)
    b.load_state_dict(torch.load(io.BytesIO(buf.getvalue())))
    x, y = torch.randn(5, 12), torch.randint(0, 4, (5,))
    for ga, gb in zip(grads(a, x, y), grads(b, x, y)):
        assert torch.equal(ga, gb)


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


def test_user_errors_are_one_line() -> None:
    for call, match in [
        (lambda: spikefa.convert(mlp(), "foo"), "rule 'foo' is unknown"),
        (lambda: spikefa.convert(mlp(), "fa", "bogus"), "feedback kind 'bogus' is unknown"),
        (lambda: spikefa.convert(mlp(), "sign", "random"), "does not take feedback 'random'"),
        (lambda: spikefa.convert(mlp(), "bp", "random"), "does not take feedback"),
        (lambda: spikefa.convert(SkipNet(), "dfa"), "flat nn.Sequential"),
    ]:
        with pytest.raises(SpikefaError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_optimizer_loop_unchanged_and_any_loss() -> None:
    torch.manual_seed(0)
    for rule in ["fa", "sign", "dfa"]:
        model = spikefa.convert(mlp(), rule, seed=0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, t = torch.randn(32, 12), torch.randn(32, 4)
        first = F.smooth_l1_loss(model(x), t).item()
        for _ in range(30):
            opt.zero_grad()
            F.smooth_l1_loss(model(x), t).backward()
            opt.step()
        assert F.smooth_l1_loss(model(x), t).item() < first
