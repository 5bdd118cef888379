"""One layer's synapse as the online learners step it (`spikefa.nn.online.OnlineDFA`,
`spikefa.nn.stdp.user`): the parameter-free modules around its one weight layer, the currents it
feeds the neuron with the route of an error back through its pooling (`ROUTES`), the presynaptic
eligibility trace x̄[t] = β·x̄[t−1] + x[t] and the in-place accumulation of δ × x̄ into a weight
gradient (dense: an outer product; conv: `conv_weight_grad`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.nn.layers import conv_padding
from spikefa.nn.snntorch_net import WEIGHTED

Back = Callable[[torch.Tensor], torch.Tensor]
"""δ at a module's output -> δ at its input, for the step the module just ran."""

__all__ = ["Back", "ROUTES", "Synapse", "conv_weight_grad", "accumulate_grad", "add_outer", "presynaptic_filter", "weight_layer_of"]


def weight_layer_of(synapse: nn.Module) -> nn.Module:
    """The one weight layer (``nn.Linear`` or ``nn.Conv2d``) of a synapse; refused otherwise."""
    found = [m for m in synapse.modules() if isinstance(m, WEIGHTED)]
    if len(found) != 1:
        raise SpikefaError("online learners take one nn.Linear or nn.Conv2d per layer between neurons; got a "
                           f"synapse {synapse}")
    return found[0]


@dataclass(frozen=True, eq=False)
class Synapse:
    """One layer's synapse as the learner steps it: parameter-free modules before the weight layer
    (Flatten, Dropout), the layer, and parameter-free modules after it (pooling of the currents)."""

    before: tuple[nn.Module, ...]
    layer: nn.Module
    after: tuple[nn.Module, ...]

    @cached_property
    def padding(self) -> tuple[int, ...]:
        """A conv layer's zero padding as integers (`spikefa.nn.layers.conv_padding`), for a learner
        that steps the convolution itself (`currents`, `accumulate`); `SpikefaError` naming the layer
        for a padding it cannot step (another padding mode, 'same' with an even kernel). A learner
        that only calls the layer's own forward (`spikefa.nn.stdp.user`) never asks."""
        if not isinstance(self.layer, nn.Conv2d):
            return ()
        return tuple(conv_padding(self.layer, f"online learners: {self.layer}"))

    @classmethod
    def of(cls, synapse: nn.Module) -> Synapse:
        layer = weight_layer_of(synapse)
        parts = list(synapse) if isinstance(synapse, nn.Sequential) else [synapse]
        i = parts.index(layer)
        if isinstance(layer, nn.Linear) and parts[i + 1:]:
            raise SpikefaError(f"online DFA: modules after an nn.Linear ({parts[i + 1:]}) before its neuron are not "
                               "supported")
        return cls(tuple(parts[:i]), layer, tuple(parts[i + 1:]))

    def inputs(self, h: torch.Tensor) -> torch.Tensor:
        for op in self.before:
            h = op(h)
        return h.flatten(1) if isinstance(self.layer, nn.Linear) else h

    def currents(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> tuple[Back, torch.Tensor]:
        """(back, I): the neuron's input current and ``back``, which takes a δ at the current to the
        weight layer's output (the vector-Jacobian product of the pooling at this step: an average
        pool is linear; a max pool routes through this step's maxima)."""
        if isinstance(self.layer, nn.Linear):
            return _identity, F.linear(x, w, b)
        c = self.layer
        current = F.conv2d(x, w, b, c.stride, self.padding, c.dilation, c.groups)  # type: ignore[arg-type]
        backs = []
        for op in self.after:
            current, back = ROUTES.get(type(op), _through_autograd)(op, current)
            backs.append(back)
        if not backs:
            return _identity, current
        return _chain(backs[::-1]), current

    def accumulate(self, grad_w: torch.Tensor, grad_b: torch.Tensor | None, delta_z: torch.Tensor,
                   trace: torch.Tensor, bias_trace: float | torch.Tensor) -> None:
        """Add δ_z × trace to the weight's gradient (in place) and δ_z × bias trace to the bias's. A
        per-neuron β gives a per-synapse trace [B, out, in] and a bias trace [out]."""
        if isinstance(self.layer, nn.Linear):
            add_outer(grad_w, grad_b, delta_z, trace, bias_trace)
            return
        grad_w.add_(conv_weight_grad(self.layer, trace, delta_z, self.padding))  # type: ignore[arg-type]
        if grad_b is not None:
            grad_b.add_(delta_z.sum((0, 2, 3)), alpha=bias_trace)


def conv_weight_grad(conv: nn.Conv2d, x: torch.Tensor, delta: torch.Tensor, padding: Sequence[int]) -> torch.Tensor:
    """∂L/∂W of ``conv`` (zero ``padding`` as integers) for input ``x`` [B, C, H, W] and output error
    ``delta`` [B, O, H', W']: Σ_b Σ_uv δ[b, o, u, v] · x_pad[b, c, s·u + i, s·v + j]. Written as a
    convolution of the input (batch and channels swapped) with the error as the kernel, dilated by
    the stride, then cropped to the kernel: on the 2-core CPU this ran 1.7-3.4x faster than
    ``torch.nn.grad.conv2d_weight`` on the tutorial network's layers
    (benchmarks/results/snn_user_nets_cpu/conv-kernels.md). Groups and dilation take ``conv2d_weight``."""
    if conv.groups != 1 or tuple(conv.dilation) != (1, 1):
        return torch.nn.grad.conv2d_weight(x, conv.weight.shape, delta, conv.stride, list(padding),  # type: ignore[arg-type]
                                           conv.dilation, conv.groups)
    kh, kw = conv.kernel_size
    g = F.conv2d(x.transpose(0, 1), delta.transpose(0, 1), None, 1, list(padding), conv.stride)  # type: ignore[arg-type]
    return g.transpose(0, 1)[:, :, :kh, :kw]


def add_outer(grad_w: torch.Tensor, grad_b: torch.Tensor | None, delta: torch.Tensor, trace: torch.Tensor,
               bias_trace: float | torch.Tensor) -> None:
    """grad_w += Σ_b δ_bj x̄_b(j)i (x̄ [B, in] shared by every neuron, or [B, out, in] per synapse when β
    is per neuron); grad_b += Σ_b δ_bj b̄_j."""
    if trace.dim() == 2:
        grad_w.addmm_(delta.t(), trace)  # in place: no [n_out, n_in] temporary per step
    else:
        grad_w.add_(torch.einsum("bo,boi->oi", delta, trace))
    if grad_b is None:
        return
    if isinstance(bias_trace, torch.Tensor):
        grad_b.add_(delta.sum(0) * bias_trace)
    else:
        grad_b.add_(delta.sum(0), alpha=bias_trace)


def presynaptic_filter(trace: torch.Tensor | None, x: torch.Tensor, beta: float | torch.Tensor) -> torch.Tensor:
    """x̄[t] = β x̄[t−1] + x[t] in place (a new trace at the first step): [B, in] for one β per layer,
    [B, out, in] for one β per neuron (β [out]), since ∂U_j/∂W_ji then decays with β_j."""
    if not isinstance(beta, torch.Tensor):
        return x.clone() if trace is None else trace.mul_(beta).add_(x)
    if trace is None:
        return x[:, None, :].expand(x.shape[0], beta.shape[0], x.shape[1]).clone()
    return trace.mul_(beta[:, None]).add_(x[:, None, :])


def accumulate_grad(param: torch.Tensor, grad: torch.Tensor) -> None:
    """Add to ``param.grad`` (the rule owns this parameter; gradients of others are untouched)."""
    param.grad = grad.clone() if param.grad is None else param.grad + grad


def _identity(delta: torch.Tensor) -> torch.Tensor:
    return delta


def _chain(backs: list[Back]) -> Back:
    def back(delta: torch.Tensor) -> torch.Tensor:
        for b in backs:
            delta = b(delta)
        return delta

    return back


def _through_autograd(op: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, Back]:
    """Any parameter-free module: its output now; its VJP, when asked, by autograd on a recomputation."""
    def back(delta: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            z_ = z.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(op(z_), z_, delta)
        return grad

    return op(z), back


def _max_pool(op: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, Back]:
    """``nn.MaxPool2d``: the maxima and their indices from one pass (no recomputation for the error's
    route), pooled on a channels-last copy: torch's CPU max pool over NCHW maps was 3.3-5.4x slower at
    the tutorial network's sizes (benchmarks/results/snn_user_nets_cpu/conv-kernels.md), with the
    same maxima and the same indices. The VJP scatters δ to each window's first maximum (as
    ``max_pool2d``'s backward does), summing where windows overlap."""
    assert isinstance(op, nn.MaxPool2d)
    if op.return_indices:
        raise SpikefaError(f"online learners: {op} returns indices; pool the currents with return_indices=False")
    pooled, idx = F.max_pool2d(z.contiguous(memory_format=torch.channels_last), op.kernel_size, op.stride,
                               op.padding, op.dilation, ceil_mode=op.ceil_mode, return_indices=True)
    shape = z.shape

    def back(delta: torch.Tensor) -> torch.Tensor:
        out = delta.new_zeros(shape[0], shape[1], shape[2] * shape[3])
        return out.scatter_add_(2, idx.reshape(shape[0], shape[1], -1),
                                delta.reshape(shape[0], shape[1], -1)).view(shape)

    return pooled.contiguous(), back


def _dropout(op: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, Back]:
    """``nn.Dropout``: in training, this step's mask (kept, so the error takes the same units the
    forward kept; a recomputation would draw another); in evaluation, the identity."""
    assert isinstance(op, nn.Dropout)
    if not op.training or op.p == 0.0:
        return z, _identity
    if op.p >= 1.0:
        zero = torch.zeros_like(z)
        return zero, lambda delta: torch.zeros_like(delta)
    mask = torch.empty_like(z).bernoulli_(1.0 - op.p).div_(1.0 - op.p)
    return z * mask, lambda delta: delta * mask


ROUTES: dict[type[nn.Module], Callable[[nn.Module, torch.Tensor], tuple[torch.Tensor, Back]]] = {
    nn.MaxPool2d: _max_pool,
    nn.Dropout: _dropout,
}
"""Modules after a conv layer with their own forward-and-VJP; any other parameter-free module goes
through autograd (`_through_autograd`)."""
