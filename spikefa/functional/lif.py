"""Leaky integrate-and-fire as a pure step function, with the semantics of snnTorch's ``Leaky``.

``lif_step(current, state, params) -> (spikes, new_state)``, one time step of length ``dt``:

    r[t]   = H(U[t-1] − θ)                   (reset from the previous step, no gradient)
    U[t]   = β·U[t-1] + I[t] − r[t]·θ         reset "subtract"
    U[t]   = β·(1 − r[t])·U[t-1] + I[t]       reset "zero"
    U[t]   = β·U[t-1] + I[t]                  reset "none"
    S[t]   = H(U[t] − θ)                      (H(0) = 0; surrogate gradient in backward)

β = exp(−dt/τ_mem). This is snnTorch 1.0's ``Leaky(reset_delay=True)`` exactly (a test runs both
on the same currents), so the spiking cards can train with snnTorch modules while the online
learners step this function without keeping a graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch

from spikefa.errors import ConfigError

Reset = Literal["subtract", "zero", "none"]
RESETS: tuple[str, ...] = ("subtract", "zero", "none")


@dataclass(frozen=True)
class LIFParams:
    """β (membrane decay per step), θ (threshold), reset mode and dt in ms, validated."""

    beta: float
    threshold: float = 1.0
    reset: Reset = "subtract"
    dt: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.beta, int | float) and 0.0 <= self.beta <= 1.0):
            raise ConfigError(f"LIF beta = {self.beta!r} is not allowed; expected a number in [0, 1]")
        if not (isinstance(self.threshold, int | float) and self.threshold > 0 and math.isfinite(self.threshold)):
            raise ConfigError(f"LIF threshold = {self.threshold!r} is not allowed; expected a number > 0")
        if self.reset not in RESETS:
            raise ConfigError(f"LIF reset = {self.reset!r} is not allowed; expected one of {', '.join(RESETS)}")
        if not (isinstance(self.dt, int | float) and self.dt > 0 and math.isfinite(self.dt)):
            raise ConfigError(f"LIF dt = {self.dt!r} is not allowed; expected a number of ms > 0")

    @property
    def tau_mem(self) -> float:
        """Membrane time constant in ms implied by β and dt (inf for β = 1, 0 for β = 0)."""
        if self.beta >= 1.0:
            return math.inf
        return 0.0 if self.beta <= 0.0 else -self.dt / math.log(self.beta)


class LIFState(NamedTuple):
    """Membrane potential U, shaped like the input current."""

    mem: torch.Tensor


def lif_init(like: torch.Tensor) -> LIFState:
    """The resting state (U = 0) for currents shaped like `like`."""
    return LIFState(torch.zeros_like(like))


# ---------------------------------------------------------------- surrogate gradients


def atan_grad(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """dS/dU of snnTorch's ATan surrogate: (α/2) / (1 + (π/2·α·x)²), x = U − θ."""
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


def fast_sigmoid_grad(x: torch.Tensor, slope: float = 25.0) -> torch.Tensor:
    """dS/dU of the fast sigmoid (Zenke & Ganguli 2018): 1 / (slope·|x| + 1)²."""
    return 1.0 / (slope * x.abs() + 1.0) ** 2


SURROGATES: dict[str, Any] = {"atan": atan_grad, "fast-sigmoid": fast_sigmoid_grad}


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, surrogate: str) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * SURROGATES[ctx.surrogate](x), None


def spike(x: torch.Tensor, surrogate: str = "atan") -> torch.Tensor:
    """H(x) forward (H(0) = 0), the named surrogate derivative backward."""
    if surrogate not in SURROGATES:
        raise ConfigError(f"surrogate = {surrogate!r} is not allowed; expected one of {', '.join(SURROGATES)}")
    return _Spike.apply(x, surrogate)


def lif_step(
    current: torch.Tensor, state: LIFState, params: LIFParams, surrogate: str = "atan"
) -> tuple[torch.Tensor, LIFState]:
    """One LIF step (see the module docstring); returns (spikes, new state)."""
    u, theta = state.mem, params.threshold
    reset = (u > theta).to(u.dtype).detach()
    if params.reset == "subtract":
        mem = params.beta * u + current - reset * theta
    elif params.reset == "zero":
        mem = params.beta * (1 - reset) * u + current
    else:
        mem = params.beta * u + current
    return spike(mem - theta, surrogate), LIFState(mem)


@torch.no_grad()
def lif_step_(
    current: torch.Tensor, mem: torch.Tensor, spikes: torch.Tensor, params: LIFParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """``lif_step`` for learners that keep no graph, updating ``mem`` in place.

    ``spikes`` are the previous step's output (they equal the reset r[t] = H(U[t-1] − θ)). Same
    operations in the same order as ``lif_step``, so the result is bitwise equal (tested), with
    three in-place kernels instead of a graph node and four temporaries. Returns (spikes, mem).
    """
    mem.mul_(params.beta)
    if params.reset == "zero":
        mem.mul_(1 - spikes)
    mem.add_(current)
    if params.reset == "subtract":
        mem.sub_(spikes, alpha=params.threshold)
    return (mem > params.threshold).to(mem.dtype), mem


def lif_run(
    currents: torch.Tensor, params: LIFParams, state: LIFState | None = None, surrogate: str = "atan"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step through time-major currents [T, B, ...]; returns (spikes [T, ...], membranes [T, ...])."""
    state = lif_init(currents[0]) if state is None else state
    spikes, mems = [], []
    for current in currents:
        s, state = lif_step(current, state, params, surrogate)
        spikes.append(s)
        mems.append(state.mem)
    return torch.stack(spikes), torch.stack(mems)
