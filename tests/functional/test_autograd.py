"""The FA / DFA autograd Functions (spikefa/functional/autograd.py) against finite differences:
with B = W the whole backward is the true gradient; with a random B the weight and bias gradients
still are (only the error path is substituted)."""

from __future__ import annotations

import torch

from spikefa.functional.autograd import DFAInject, FAConv2dFunction, FALinearFunction


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
