"""Local and mixed rules on sequential networks: HebbNet, the sum rule, Hebbian descent.

The network is cut into blocks as for DFA (each starts at an ``nn.Linear`` and holds the
activation after it). Each block has a role:

- ``gd``       trained by the gradient of the user's loss (backprop).
- ``hebbian``  trained by Hebb's or Oja's rule on (block input, block output), computed without a
               graph; optional HebbNet refinements: threshold θ (running mean of each unit's output,
               post activity relu(y − θ)) and gradient sparsity p (top-p |ΔW| entries).
- ``sum``      backprop gradient + β · Hebbian term (the sum rule). β is relative: the Hebbian
               term is rescaled to β times the norm of the layer's gradient, so β = 1e-4 … 1 spans
               "a trace of Hebb" to "as much Hebb as gradient" whatever the raw scales.
- ``frozen``   not trained (the random-feature control of a Hebbian block: with ``unit_norm`` its
               rows are normalised once, at construction, as the Hebbian block's are before its
               first step, and never touched again).

Local terms reach the optimiser as gradients (``-ΔW``) injected during ``loss.backward()``, so the
user's loop is unchanged. Hebbian descent is in ``HebbianDescentLinear`` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.autograd import HebbianDescentFunction, InjectGrad
from spikefa.functional.hebbian import hebbian_term, running_mean, sparsify, thresholded
from spikefa.schemas.validate import Validated, choices, require



Role = Literal["gd", "hebbian", "sum", "frozen"]
ROLES = choices(Role)


@dataclass(frozen=True)
class BlockPlan(Validated):
    """How one block learns: its role, the Hebbian term, β of the sum rule, HebbNet's threshold and
    gradient sparsity (the fraction of entries updated)."""

    LABEL = "block plan"

    role: Role = "gd"
    kind: Literal["hebb", "oja"] = "hebb"
    beta: float = 0.0
    threshold: bool = False
    sparsity: float = 1.0

    def check(self) -> None:
        require("sparsity", self.sparsity, 0.0 < self.sparsity <= 1.0, "a number in (0, 1]")


def _linear_of(block: nn.Module) -> nn.Linear:
    layer = next((m for m in block.modules() if isinstance(m, nn.Linear)), None)
    if layer is None or any(isinstance(m, nn.Conv2d) for m in block.modules()):
        raise SpikefaError("Hebbian rules here take fully connected (nn.Linear) networks; use an mlp model card")
    return layer


class LocalSequential(nn.Module):
    """A sequential network whose blocks learn by the roles in ``plans``."""

    def __init__(self, blocks: Sequence[nn.Module], plans: Sequence[BlockPlan], unit_norm: bool = False,
                 momentum: float = 0.99) -> None:
        super().__init__()
        if len(blocks) != len(plans):
            raise SpikefaError(f"{len(blocks)} blocks but {len(plans)} plans")
        self.blocks = nn.ModuleList(blocks)
        self.plans = list(plans)
        self.unit_norm = unit_norm
        self.momentum = momentum
        for i, (b, plan) in enumerate(zip(self.blocks, self.plans)):
            layer = _linear_of(b)
            self.register_buffer(f"theta{i}", torch.zeros(layer.out_features))
            for p in layer.parameters():
                p.requires_grad_(plan.role != "frozen")
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        if unit_norm:
            self._unit_norm_rows(("frozen",))
        self._pending: dict[int, torch.Tensor] = {}
        for b, plan in zip(self.blocks, self.plans):
            if plan.role == "sum":
                for p in _linear_of(b).parameters():
                    p.register_post_accumulate_grad_hook(self._sum_hook(plan.beta))

    def _sum_hook(self, beta: float):  # type: ignore[no-untyped-def]
        """After backprop's gradient g of a parameter is complete: g − β·(‖g‖/‖H‖)·H, i.e. the
        update is the gradient step plus the Hebbian term H scaled to β times the gradient's norm."""
        def hook(p: torch.Tensor) -> None:
            h = self._pending.pop(id(p), None)
            if h is None or p.grad is None or beta == 0.0:
                return
            p.grad.sub_(h, alpha=float(beta * p.grad.norm() / h.norm().clamp_min(1e-12)))

        return hook
    def local_parameters(self) -> list[torch.Tensor]:
        """The parameters of the blocks that learn by a Hebbian rule alone (role ``hebbian``)."""
        return [p for b, plan in zip(self.blocks, self.plans) if plan.role == "hebbian"
                for p in _linear_of(b).parameters()]

    @torch.no_grad()
    def local_features(self, x: torch.Tensor) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """(name, weight [out, in], response [N, out]) of every block that learns by a Hebbian rule
        alone, or stands frozen in its place (the control), on inputs ``x`` [N, ...]; nothing learns.
        Read by the harness's diagnostics (receptive fields, dead and duplicate units)."""
        out = []
        for i, (block, plan) in enumerate(zip(self.blocks, self.plans)):
            x = block(x)
            if plan.role in ("hebbian", "frozen"):
                out.append((f"blocks.{i}", _linear_of(block).weight.detach(), x.reshape(x.shape[0], -1)))
        return out

    def _unit_norm_rows(self, roles: tuple[str, ...] = ("hebbian", "sum")) -> None:
        with torch.no_grad():
            for b, plan in zip(self.blocks, self.plans):
                if plan.role in roles:
                    layer = _linear_of(b)
                    rows = layer.weight if layer.bias is None else torch.cat([layer.weight, layer.bias.unsqueeze(1)], 1)
                    norm = rows.norm(dim=1, keepdim=True).clamp_min(1e-12)  # a unit's weights and bias together
                    layer.weight.div_(norm)
                    if layer.bias is not None:
                        layer.bias.div_(norm.squeeze(1))

    def _run_block(self, block: nn.Module, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(input of the block's Linear, block output)."""
        layer = _linear_of(block)
        x_in = h
        for m in block:
            if m is layer:
                x_in = h
            h = m(h)
        return x_in, h

    def _local_delta(self, i: int, plan: BlockPlan, x_in: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        layer = _linear_of(self.blocks[i])
        dtype = layer.weight.dtype  # autocast may hand bf16 activations to a float32 layer
        x2 = x_in.detach().reshape(-1, x_in.shape[-1]).to(dtype)
        y2 = y.detach().reshape(-1, y.shape[-1]).to(dtype)
        if plan.threshold:
            theta = getattr(self, f"theta{i}")
            post = thresholded(y2, theta)
            theta.copy_(running_mean(theta, y2, self.momentum, bool(self.steps == 0)))
        else:
            post = y2
        dw = sparsify(hebbian_term(plan.kind, x2, post, layer.weight.detach()), plan.sparsity)
        db = None
        if layer.bias is not None:
            ones = torch.ones(x2.shape[0], 1, device=x2.device, dtype=x2.dtype)
            db = hebbian_term(plan.kind, ones, post, layer.bias.detach().unsqueeze(1)).squeeze(1)
        return dw, db

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled()):
            for b in self.blocks:
                x = b(x)
            return x
        if self.unit_norm:
            self._unit_norm_rows()
        params: list[torch.Tensor] = []
        grads: list[torch.Tensor] = []
        for i, (block, plan) in enumerate(zip(self.blocks, self.plans)):
            if plan.role == "hebbian":
                with torch.no_grad():
                    x_in, x = self._run_block(block, x)
            else:
                x_in, x = self._run_block(block, x)
            if plan.role in ("hebbian", "sum"):
                dw, db = self._local_delta(i, plan, x_in, x)
                layer = _linear_of(block)
                if plan.role == "sum":  # applied by the hook once backprop's gradient is known
                    self._pending[id(layer.weight)] = dw
                    if db is not None and layer.bias is not None:
                        self._pending[id(layer.bias)] = db
                    continue
                params.append(layer.weight)
                grads.append(-dw)
                if db is not None and layer.bias is not None:
                    params.append(layer.bias)
                    grads.append(-db)
        self.steps += 1
        return InjectGrad.apply(x, grads, *params) if params else x


class StraightThrough(nn.Module):
    """The activation's value with an identity gradient: Hebbian descent drops f' (Melchior &
    Wiskott 2019)."""

    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.act = act

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return a + (self.act(a) - a).detach()


class HebbianDescentLinear(nn.Linear):
    """A Linear layer trained by Hebbian descent; ``mu`` is the running mean of its input."""

    def __init__(self, source: nn.Linear, factor: str = "centred", momentum: float = 0.99) -> None:
        super().__init__(source.in_features, source.out_features, source.bias is not None, device="meta")
        self.weight, self.bias = source.weight, source.bias
        if factor not in ("centred", "oja"):
            raise SpikefaError(f"hebbian descent factor {factor!r} is unknown: use 'centred' or 'oja'")
        self.factor, self.momentum = factor, momentum
        self.register_buffer("mu", torch.zeros(source.in_features, device=source.weight.device))
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            with torch.no_grad():
                self.mu.copy_(running_mean(self.mu, x.reshape(-1, x.shape[-1]), self.momentum, bool(self.seen == 0)))
                self.seen += 1
            return HebbianDescentFunction.apply(x, self.weight, self.bias, self.mu.clone(), self.factor)
        return super().forward(x)
