"""Leaky integrate-and-fire as pure step functions, with the semantics of snnTorch's ``Leaky``.

The one membrane update, `lif_update`, for a decay D (β·U for float neurons, a chip's integer code
for the exporters' integer simulator, `spikefa.export.arith`) and fired r[t] = H(U[t-1] − θ), the
reset from the previous step (no gradient):

    U[t]   = D(U[t-1]) + I[t] − r[t]·θ            reset "subtract"
    U[t]   = D(U[t-1])·(1 − r[t]) + I[t]          reset "zero"
    U[t]   = D(U[t-1]) + I[t]                     reset "none"
    U[t]   ← q(U[t])                              optional: QAT's state grid, a chip's saturation
    S[t]   = H(U[t] − θ)                          (H(0) = 0; surrogate gradient in backward)

`lif_step(current, state, params) -> (spikes, new_state)` is one step of a float neuron, β = exp(−dt/τ_mem)
(`spikefa.schemas.neuron.LIFParams`). It is snnTorch 1.0's ``Leaky(reset_delay=True)`` exactly (a
test runs both on the same currents). Online learners call `lif_update` in place (no graph); the
float and integer simulators call it too. Networks step the user's (or the card's) snnTorch modules,
which this step is tested against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from spikefa.errors import ConfigError
from spikefa.schemas.neuron import LIFParams
from spikefa.schemas.validate import choices
from spikefa.schemas.vocab import Reset

RESETS: tuple[str, ...] = choices(Reset)
Decay = Callable[[torch.Tensor, bool], torch.Tensor]
"""D(U): the membrane's decay over one step; the flag asks for it in place."""

__all__ = ["Decay", "LIFParams", "LIFState", "RESETS", "SURROGATES", "beta_decay", "count_scores", "lif_init",
           "lif_run", "lif_step", "lif_update", "rlif_run", "spike"]


class LIFState(NamedTuple):
    """Membrane potential U and, for a current-based neuron (α set), the synaptic current I_syn,
    both shaped like the input current."""

    mem: torch.Tensor
    syn: torch.Tensor | None = None


def lif_init(like: torch.Tensor, params: LIFParams | None = None) -> LIFState:
    """The resting state (U = 0, I_syn = 0) for currents shaped like `like`."""
    current_based = params is not None and params.alpha is not None
    return LIFState(torch.zeros_like(like), torch.zeros_like(like) if current_based else None)


def beta_decay(beta: float | torch.Tensor) -> Decay:
    """D(U) = β·U (a float neuron)."""
    def decay(u: torch.Tensor, inplace: bool) -> torch.Tensor:
        return u.mul_(beta) if inplace else beta * u

    return decay


def lif_update(u: torch.Tensor, current: torch.Tensor, fired: torch.Tensor, threshold: float | torch.Tensor,
               reset: str, decay: Decay, *, quantize: Callable[[torch.Tensor], torch.Tensor] | None = None,
               inplace: bool = False) -> torch.Tensor:
    """U[t] from U[t-1] (module docstring), for any tensor shape [B, ...] and θ scalar or per neuron.

    ``fired`` is r[t] = H(U[t-1] − θ) in U's dtype; ``quantize`` maps the new U onto a grid. With
    ``inplace`` U is overwritten (learners without a graph); the arithmetic is the same.
    """
    v = decay(u, inplace)
    if reset == "zero":
        v = v.mul_(1 - fired) if inplace else v * (1 - fired)
    v = v.add_(current) if inplace else v + current
    if reset == "subtract":
        if isinstance(threshold, torch.Tensor):
            v = v.sub_(fired * threshold) if inplace else v - fired * threshold
        else:
            v = v.sub_(fired, alpha=threshold) if inplace else v - fired * threshold
    elif reset not in RESETS:
        raise ConfigError(f"LIF reset = {reset!r} is not allowed; expected one of {', '.join(RESETS)}")
    return v if quantize is None else quantize(v)


def count_scores(counts: torch.Tensor, mem_sum: torch.Tensor) -> torch.Tensor:
    """Class scores from an output layer's spike counts and summed membrane, both [B, classes]: the
    count, ties broken by the membrane squashed into (0, 1) so that it never outweighs one spike. The
    network's read-out, online DFA's running read-out and the exporters' all use this."""
    return counts + torch.sigmoid(mem_sum)


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
    current: torch.Tensor, state: LIFState, params: LIFParams, surrogate: str | None = None
) -> tuple[torch.Tensor, LIFState]:
    """One float LIF step (module docstring); returns (spikes, new state). ``surrogate`` defaults to
    the params' own. A current-based neuron (``params.alpha``, snnTorch's ``Synaptic``) first
    filters the input: I_syn[t] = α·I_syn[t−1] + I[t], and I_syn drives the membrane."""
    u, theta = state.mem, params.threshold
    syn = None
    if params.alpha is not None:
        syn = params.alpha * (state.syn if state.syn is not None else torch.zeros_like(current)) + current
        current = syn
    fired = (u > theta).to(u.dtype).detach()
    mem = lif_update(u, current, fired, theta, params.reset, beta_decay(params.beta))
    return spike(mem - theta, surrogate or params.surrogate), LIFState(mem, syn)


def lif_run(
    currents: torch.Tensor, params: LIFParams, state: LIFState | None = None, surrogate: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step through time-major currents [T, B, ...]; returns (spikes [T, ...], membranes [T, ...]).
    Raises `ConfigError` for T = 0."""
    if currents.ndim < 1 or currents.shape[0] == 0:
        raise ConfigError(f"LIF currents of shape {tuple(currents.shape)} are not allowed; expected a time-major "
                          "[T, B, ...] tensor with T >= 1")
    state = lif_init(currents[0], params) if state is None else state
    spikes, mems = [], []
    for current in currents:
        s, state = lif_step(current, state, params, surrogate)
        spikes.append(s)
        mems.append(state.mem)
    return torch.stack(spikes), torch.stack(mems)


def rlif_run(currents: torch.Tensor, weight: torch.Tensor, params: LIFParams, bias: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """A recurrent LIF layer (snnTorch's ``RLeaky``, all-to-all) over currents [T, B, N] with recurrent
    weights [N, N]: U[t] = (β·U[t−1] + I[t]) + (V·s[t−1] + b) − r[t]·θ, summed in that order as
    snnTorch does. Returns (spikes [T, B, N], membranes [T, B, N]); no graph. Raises `ConfigError`
    for T = 0."""
    if currents.ndim != 3 or currents.shape[0] == 0:
        raise ConfigError(f"recurrent LIF currents of shape {tuple(currents.shape)} are not allowed; expected "
                          "time-major [T, B, N] with T >= 1")
    u = torch.zeros_like(currents[0])
    s = torch.zeros_like(u)
    spikes, mems = [], []
    with torch.no_grad():
        for current in currents:
            fired = (u > params.threshold).to(u.dtype)
            u = lif_update(u, torch.nn.functional.linear(s, weight, bias), fired, params.threshold, params.reset,
                           lambda m, _inplace, i=current: params.beta * m + i)
            s = (u > params.threshold).to(u.dtype)
            spikes.append(s)
            mems.append(u)
    return torch.stack(spikes), torch.stack(mems)
