"""Custom autograd Functions: forward as usual, backward with a substitute for the weights.

Only the error path changes: the weight gradient of a layer is always (error) × (its input),
so ``grad_weight`` is exact and ``grad_input`` uses the feedback tensor B in W's place
(Lillicrap et al. 2016, eq. 1-2). ``DFAInject`` adds the direct feedback of Nøkland (2016, eq. 3);
``InjectGrad`` hands local rules' updates (−ΔW) to the optimiser during ``loss.backward()``;
``HebbianDescentFunction`` is Hebbian descent's backward (Melchior & Wiskott 2019).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from spikefa.functional.feedback import DeferredSign

# Mixed precision: under torch.autocast the forward computes in the autocast dtype while saved
# inputs keep theirs, and backward runs outside autocast. Every backward below therefore computes
# in the incoming gradient's dtype and returns each gradient in its own input's dtype.


def _as(grad: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    return None if grad is None else grad.to(dtype)


class FALinearFunction(torch.autograd.Function):
    """y = x Wᵀ + b; backward sends δ·B (not δ·W) to the input."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                feedback: torch.Tensor | tuple[DeferredSign, torch.Tensor]) -> torch.Tensor:
        _keep_feedback(ctx, x, weight, feedback)
        ctx.has_bias = bias is not None
        ctx.dtypes = (x.dtype, weight.dtype, None if bias is None else bias.dtype)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, feedback = ctx.saved_tensors
        dx, dw, db = ctx.dtypes
        gd = grad_out.dtype
        grad_x = None
        if ctx.needs_input_grad[0]:
            feedback, post = _feedback_of(ctx, feedback)
            grad_x = grad_out.matmul(feedback.to(gd))
            if post is not None:
                grad_x.mul_(post)
        g2 = grad_out.reshape(-1, grad_out.shape[-1])
        grad_w = g2.t().matmul(x.reshape(-1, x.shape[-1]).to(gd)) if ctx.needs_input_grad[1] else None
        grad_b = g2.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return _as(grad_x, dx), _as(grad_w, dw), _as(grad_b, db) if db else None, None


class FAConv2dFunction(torch.autograd.Function):
    """y = conv2d(x, W, b); backward sends the transposed convolution of δ with B to the input."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        feedback: torch.Tensor | tuple[DeferredSign, torch.Tensor],
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int],
        groups: int,
    ) -> torch.Tensor:
        _keep_feedback(ctx, x, weight, feedback)
        ctx.weight_shape = list(weight.shape)
        ctx.dtypes = (x.dtype, weight.dtype, None if bias is None else bias.dtype)
        ctx.conf = (list(stride), list(padding), list(dilation), groups, bias is not None)
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, feedback = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias = ctx.conf
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
        post = None
        if mask[0]:
            feedback, post = _feedback_of(ctx, feedback)
        else:  # B was not kept; only its shape matters to the weight gradient
            feedback = x.new_zeros(()).expand(ctx.weight_shape)
        # The weight gradient does not depend on the weight, so one native call with B in W's
        # place gives the feedback-aligned input gradient and the exact weight/bias gradients.
        gd = grad_out.dtype
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad_out, x.to(gd), feedback.to(gd), [feedback.shape[0]] if has_bias else None,
            stride, padding, dilation, False, [0, 0], groups, mask,
        )
        if post is not None:
            gx.mul_(post)
        dx, dw, db = ctx.dtypes
        return _as(gx, dx), _as(gw, dw), _as(gb, db) if db else None, None, None, None, None, None


def _keep_feedback(ctx: Any, x: torch.Tensor, weight: torch.Tensor,
                   feedback: torch.Tensor | tuple[DeferredSign, torch.Tensor]) -> None:
    """Save x and what the input gradient needs: B, or (a `DeferredSign` with this step's |B|) the
    weight B is built from (autograd then refuses a weight changed in place before the backward, as
    it does for backprop's). Nothing for B when no error travels to the input (a first layer)."""
    deferred = isinstance(feedback, tuple) and x.requires_grad
    ctx.deferred = feedback if deferred else None
    if not x.requires_grad:
        ctx.save_for_backward(x, None)
    else:
        ctx.save_for_backward(x, weight if deferred else feedback)


def _feedback_of(ctx: Any, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B or M, post-multiplier): see `DeferredSign.matrix`."""
    if ctx.deferred is None:
        return kept, None
    builder, magnitude = ctx.deferred
    return builder.matrix(kept, magnitude)


class DFAInject(torch.autograd.Function):
    """Identity on the output; in backward, hidden output h_l receives e·B_l (Nøkland 2016).

    ``e`` is the gradient of the loss with respect to the network output, so any loss works.
    Call as ``DFAInject.apply(output, feedbacks, *hidden)`` with ``feedbacks[l]`` shaped
    ``[classes, *hidden[l].shape[1:]]``.
    """

    @staticmethod
    def forward(ctx: Any, output: torch.Tensor, feedbacks: Sequence[torch.Tensor], *hidden: torch.Tensor) -> torch.Tensor:
        ctx.feedbacks = [b.detach() for b in feedbacks]
        ctx.shapes = [(h.shape, h.dtype) for h in hidden]
        return output.view_as(output)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        e = grad_out.flatten(1)
        grads = [
            e.matmul(b.reshape(b.shape[0], -1).to(e.dtype)).reshape(shape).to(dtype)
            for b, (shape, dtype) in zip(ctx.feedbacks, ctx.shapes)
        ]
        return (grad_out, None, *grads)


class InjectGrad(torch.autograd.Function):
    """Identity on ``out``; in backward, hands each parameter its precomputed gradient."""

    @staticmethod
    def forward(ctx: Any, out: torch.Tensor, grads: Sequence[torch.Tensor], *params: torch.Tensor) -> torch.Tensor:
        ctx.grads = [g.to(p.dtype) for g, p in zip(grads, params)]
        return out.view_as(out)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        return (grad_out, None, *ctx.grads)


class HebbianDescentFunction(torch.autograd.Function):
    """a = x Wᵀ + b; backward: ∂W = gᵀ(x − μ) (centred) or gᵀx + diag(Σg²) W (Oja variant: −ΔW of
    Oja's rule with post activity y = t − h = −g),
    ∂x = g W (the error reaches the layer below through the transposed weights)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, mu: torch.Tensor,
                factor: str) -> torch.Tensor:
        ctx.save_for_backward(x, weight, mu)
        ctx.factor, ctx.has_bias = factor, bias is not None
        ctx.dtypes = (x.dtype, weight.dtype, None if bias is None else bias.dtype)
        return torch.nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Any, ...]:
        x, w, mu = (t.to(g.dtype) for t in ctx.saved_tensors)
        if ctx.factor == "centred":
            gw = g.t().matmul(x - mu)
        else:
            gw = g.t().matmul(x) + (g * g).sum(0).unsqueeze(1) * w
        gx = g.matmul(w) if ctx.needs_input_grad[0] else None
        gb = g.sum(0) if ctx.has_bias else None
        dx, dw, db = ctx.dtypes
        return _as(gx, dx), _as(gw, dw), _as(gb, db) if db else None, None, None
