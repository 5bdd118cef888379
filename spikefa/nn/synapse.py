"""One layer's synapse as the online learners step it (`spikefa.nn.online.OnlineDFA`,
`spikefa.nn.stdp.user`): the parameter-free modules around its one weight layer, the currents it
feeds the neuron, the presynaptic eligibility trace x̄[t] = β·x̄[t−1] + x[t] and the in-place
accumulation of δ × x̄ into a weight gradient (dense: an outer product; conv: the convolution's
weight adjoint, ``torch.nn.grad.conv2d_weight``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.nn.snntorch_net import WEIGHTED

__all__ = ["Synapse", "accumulate_grad", "add_outer", "presynaptic_filter", "weight_layer_of"]


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

    def currents(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, I): the weight layer's output and the neuron's input current."""
        if isinstance(self.layer, nn.Linear):
            return (z := F.linear(x, w, b)), z
        c = self.layer
        z = F.conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups)  # type: ignore[arg-type]
        current = z
        for op in self.after:
            current = op(current)
        return z, current

    def back_through_after(self, z: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """δ at the weight layer's output: the vector-Jacobian product of the pooling at this step (an
        average pool is linear; a max pool routes through this step's maxima)."""
        if not self.after:
            return delta
        with torch.enable_grad():
            z_ = z.detach().requires_grad_(True)
            out = z_
            for op in self.after:
                out = op(out)
            (grad,) = torch.autograd.grad(out, z_, delta)
        return grad

    def accumulate(self, grad_w: torch.Tensor, grad_b: torch.Tensor | None, delta_z: torch.Tensor,
                   trace: torch.Tensor, bias_trace: float | torch.Tensor) -> None:
        """Add δ_z × trace to the weight's gradient (in place) and δ_z × bias trace to the bias's. A
        per-neuron β gives a per-synapse trace [B, out, in] and a bias trace [out]."""
        if isinstance(self.layer, nn.Linear):
            add_outer(grad_w, grad_b, delta_z, trace, bias_trace)
            return
        c = self.layer
        grad_w.add_(torch.nn.grad.conv2d_weight(trace, grad_w.shape, delta_z, c.stride, c.padding,  # type: ignore[arg-type]
                                                c.dilation, c.groups))
        if grad_b is not None:
            grad_b.add_(delta_z.sum((0, 2, 3)), alpha=bias_trace)


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
