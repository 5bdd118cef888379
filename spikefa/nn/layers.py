"""Feedback-alignment layers: ``nn.Linear`` / ``nn.Conv2d`` whose backward uses a feedback B.

They keep the forward module's parameters and API, so optimisers, ``state_dict`` and
``load_state_dict`` work unchanged; B's fixed part, its scale, seed and step counter are buffers,
so saving and loading a model keeps the feedback.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.feedback import DeferredSign, FeedbackKind, effective_feedback, get_kind, init_fixed, sign_magnitude
from spikefa.functional.autograd import FAConv2dFunction, FALinearFunction
from spikefa.functional.hebbian import hebbian_term


class FeedbackMixin:
    """Shared state of FA layers: the kind, the fixed part of B, its scale, seed and step."""

    weight: nn.Parameter
    training: bool
    feedback_kind: FeedbackKind
    exact_backward: bool

    def _init_feedback(self, kind: str, seed: int, scale: float | None, dist: str) -> None:
        self.feedback_kind = get_kind(kind)
        self.exact_backward = False  # diagnostics flip this to get backprop's gradient
        w = self.weight.detach()
        s = float(w.float().std()) if scale is None else float(scale)
        if not s > 0:
            raise SpikefaError(f"feedback scale must be > 0, got {s}")
        reg = nn.Module.register_buffer
        reg(self, "feedback_scale", torch.tensor(s, dtype=w.dtype, device=w.device))  # type: ignore[arg-type]
        reg(self, "feedback_seed", torch.tensor(int(seed), dtype=torch.int64))  # type: ignore[arg-type]
        reg(self, "feedback_step", torch.zeros((), dtype=torch.int64))  # type: ignore[arg-type]
        fixed = init_fixed(self.feedback_kind, tuple(w.shape), int(seed), dist, s)
        reg(self, "feedback_fixed", None if fixed is None else fixed.to(w.device, w.dtype))  # type: ignore[arg-type]
        self._deferred = DeferredSign()

    def feedback_matrix(self) -> torch.Tensor:
        """The B this step's backward uses (shaped like the weight)."""
        if self.exact_backward:
            return self.weight.detach()
        return effective_feedback(
            self.feedback_kind,
            self.feedback_fixed,  # type: ignore[attr-defined]
            self.weight.detach(),
            self.feedback_scale,  # type: ignore[attr-defined]
            self.feedback_seed,  # type: ignore[attr-defined]
            self.feedback_step,  # type: ignore[attr-defined]
        )

    def _feedback_for(self, x: torch.Tensor) -> torch.Tensor | tuple[DeferredSign, torch.Tensor]:
        """B when an error must travel back to ``x``; for a first layer (input without gradient) the
        weight itself stands in, never read: sign kinds would otherwise rebuild a B nobody uses at
        every step (the largest layer of an MLP). A fixed sign-congruent kind hands over a
        `DeferredSign`: B is built in the backward pass, from the weight as the forward used it."""
        if not x.requires_grad:
            return self.weight.detach()
        kind = self.feedback_kind
        if kind.redraw_every_step or self.exact_backward:
            return self.feedback_matrix()
        if not kind.sign_congruent:
            return self.feedback_fixed  # type: ignore[attr-defined,no-any-return]  # a fixed B, as it is
        # the scale buffer gives |B|'s dtype and device: no second read of a parametrized (QAT) weight
        scale: torch.Tensor = self.feedback_scale  # type: ignore[attr-defined]
        return self._deferred, sign_magnitude(self.feedback_fixed, scale, scale)  # type: ignore[attr-defined]

    plastic: str | None = None
    plastic_lr: float = 0.0

    def make_plastic(self, kind: str, lr: float) -> None:
        """Let B learn by Hebb's or Oja's rule on the layer's (input, linear output) (HL x FA)."""
        if getattr(self, "feedback_fixed", None) is None or self.feedback_kind.sign_congruent:
            raise SpikefaError(f"plastic feedback needs a fixed B: use feedback 'random' or 'binary', "
                               f"not {self.feedback_kind.name!r}")
        if not isinstance(self, nn.Linear):
            raise SpikefaError("plastic feedback is implemented for nn.Linear layers only")
        self.plastic, self.plastic_lr = kind, float(lr)

    def _learn_feedback(self, x: torch.Tensor, out: torch.Tensor) -> None:
        if self.plastic and self.training and torch.is_grad_enabled():
            with torch.no_grad():
                fixed = self.feedback_fixed  # type: ignore[attr-defined]
                x2 = x.detach().reshape(-1, x.shape[-1]).to(fixed.dtype)
                y2 = out.detach().reshape(-1, out.shape[-1]).to(fixed.dtype)
                self.feedback_fixed = fixed + self.plastic_lr * hebbian_term(self.plastic, x2, y2, fixed)

    def _advance(self) -> None:
        if self.training and torch.is_grad_enabled():
            self.feedback_step.add_(1)  # type: ignore[attr-defined]  # in place: no Module.__setattr__

    def _feedback_repr(self) -> str:
        return f"feedback={self.feedback_kind.name}"


class FALinear(FeedbackMixin, nn.Linear):
    """Linear layer trained by feedback alignment with feedback kind ``feedback``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, feedback: str = "random",
                 seed: int = 0, scale: float | None = None, dist: str = "gaussian", **kw: Any) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias, **kw)
        if not self.weight.is_meta:  # a meta shell gets its feedback once real weights arrive
            self._init_feedback(feedback, seed, scale, dist)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._advance()
        if not x.requires_grad:  # no error travels to the input (a first layer): B is never read, and the
            out = nn.functional.linear(x, self.weight, self.bias)  # weight's gradient is backprop's
        else:
            out = FALinearFunction.apply(x, self.weight, self.bias, self._feedback_for(x))
        self._learn_feedback(x, out)
        return out

    def extra_repr(self) -> str:
        return f"{nn.Linear.extra_repr(self)}, {self._feedback_repr()}"


def conv_padding(conv: nn.Conv2d, who: str = "FAConv2d") -> list[int]:
    """The zero padding [top/bottom, left/right] of ``conv`` as integers ('valid', 'same' with odd
    kernels, or the integers given); `SpikefaError` (naming ``who``) for another padding mode or
    'same' with an even kernel."""
    if conv.padding_mode != "zeros":
        raise SpikefaError(f"{who} supports padding_mode='zeros' only, got {conv.padding_mode!r}")
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return [0, 0]
        if any(k % 2 == 0 for k in conv.kernel_size):
            raise SpikefaError(f"{who} with padding='same' needs odd kernel sizes; give integer padding")
        return [conv.dilation[i] * (conv.kernel_size[i] // 2) for i in range(2)]
    return list(conv.padding)


class FAConv2d(FeedbackMixin, nn.Conv2d):
    """2-D convolution trained by feedback alignment; B has the weight's shape."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, *, feedback: str = "random",
                 seed: int = 0, scale: float | None = None, dist: str = "gaussian", **kw: Any) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, **kw)
        self._pad = conv_padding(self)
        if not self.weight.is_meta:
            self._init_feedback(feedback, seed, scale, dist)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self._feedback_for(x)
        self._advance()
        return FAConv2dFunction.apply(
            x, self.weight, self.bias, b, list(self.stride), self._pad, list(self.dilation), self.groups
        )

    def extra_repr(self) -> str:
        return f"{nn.Conv2d.extra_repr(self)}, {self._feedback_repr()}"


FA_LAYERS: dict[type[nn.Module], type[nn.Module]] = {nn.Linear: FALinear, nn.Conv2d: FAConv2d}


def fa_layer_from(module: nn.Module, feedback: str, seed: int, scale: float | None = None,
                  dist: str = "gaussian") -> nn.Module:
    """An FA twin of a plain ``nn.Linear``/``nn.Conv2d`` sharing its parameter objects."""
    w = module.weight
    if isinstance(module, nn.Linear):
        new: nn.Module = FALinear(module.in_features, module.out_features, module.bias is not None,
                                  feedback=feedback, seed=seed, scale=scale, dist=dist, device="meta")
    elif isinstance(module, nn.Conv2d):
        new = FAConv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                       module.padding, module.dilation, module.groups, module.bias is not None,
                       feedback=feedback, seed=seed, scale=scale, dist=dist, padding_mode=module.padding_mode,
                       device="meta")
    else:
        raise SpikefaError(f"feedback alignment needs nn.Linear or nn.Conv2d, got {type(module).__name__}")
    new.weight = w
    new.bias = module.bias
    new._init_feedback(feedback, seed, scale, dist)  # type: ignore[operator]  # re-init on the real weight
    new.train(module.training)
    return new


def master_weight(layer: nn.Module, name: str = "weight") -> torch.Tensor:
    """The float tensor an optimiser or a local rule should update: the parameter itself, or under
    QAT (a parametrization with a straight-through estimator) its original, whose gradient is the
    same."""
    from torch.nn.utils import parametrize

    if parametrize.is_parametrized(layer, name):
        return getattr(layer.parametrizations, name).original  # type: ignore[no-any-return]
    return getattr(layer, name)  # type: ignore[no-any-return]
