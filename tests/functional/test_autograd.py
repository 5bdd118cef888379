"""The FA / DFA autograd Functions (spikefa/functional/autograd.py) against finite differences:
with B = W the whole backward is the true gradient; with a random B the weight and bias gradients
still are (only the error path is substituted)."""

from __future__ import annotations

import torch

from spikefa.functional.autograd import DFAInject, FAConv2dFunction, FALinearFunction

from ..reference import autograd_fa_linear


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


def test_fa_linear_function_equals_the_plain_autograd_formulation() -> None:
    """A random B: x's gradient is g·B, W's and b's are backprop's, as the reference written with
    plain autograd computes them."""
    g = torch.Generator().manual_seed(0)
    x, w, b, B, up = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((3, 4), (5, 4), (5,), (5, 4), (3, 5)))
    got, want = [[t.clone().requires_grad_(True) for t in (x, w, b)] for _ in range(2)]
    FALinearFunction.apply(*got, B).backward(up)
    autograd_fa_linear(*want, B).backward(up)
    for a, r in zip(got, want):
        torch.testing.assert_close(a.grad, r.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got[0].grad, up @ B)
