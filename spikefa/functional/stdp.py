"""Trace-based pair STDP as a pure step function, with every semantic choice stated and selectable.

``stdp_step(pre [B, in], post [B, out], weight [out, in], state, params, dt) -> (weight, state)``,
one time step of length dt (ms). Following Song, Miller & Abbott (2000) and Morrison, Diesmann &
Gerstner (2008, Biol. Cybern. 98:459, eqs. 3-6 and fig. 3), each pre neuron keeps a trace x and
each post neuron a trace y:

    decay      x ← x·exp(−dt/τ_pre),  y ← y·exp(−dt/τ_post)          (exact, no Euler step)
    pre spike  x ← x + A₊ ("all-to-all")  or  x ← A₊ ("nearest");  w ← w + y·g₋(w)
    post spike y ← y + A₋ ("all-to-all")  or  y ← A₋ ("nearest");  w ← w + x·g₊(w)

Sign convention: A₊ (``a_plus``) and A₋ (``a_minus``) are *signed* weight changes, as Brian2's
``dApre``/``dApost``: a pre→post pair at lag Δt = t_post − t_pre ≥ 0 changes w by A₊·exp(−Δt/τ_pre),
a post→pre pair by A₋·exp(Δt/τ_post); classic Hebbian STDP has A₊ > 0 > A₋. For independent
Poisson trains the all-to-all drift is r_pre·r_post·(A₊τ_pre + A₋τ_post) (Kempter et al. 1999).

Bounds: "hard" is additive, g = 1 (van Rossum et al. 2000 call it additive); "soft" is
multiplicative, g₊ = (w_max − w)/(w_max − w_min), g₋ = (w − w_min)/(w_max − w_min) (Gütig et al.
2003 with μ = 1), so at w = w_min potentiation equals the additive one. ``clip`` clamps w into
[w_min, w_max] after each pathway ("per-pathway"), once after both ("end-of-step") or never.
``order`` picks which pathway runs first when pre and post spike in the same step: "pre-first"
makes a same-step pair count as Δt = 0⁺ (A₊), "post-first" as Δt = 0⁻ (A₋).

The mode ``brian2`` is exactly the pair STDP of Brian2's documentation (all-to-all traces, hard
bounds [0, w_max], pre pathway first, clip after each pathway): Brian2 decays event-driven traces
exactly by exp(−(t − lastupdate)/τ) when an event arrives, and its ``pre`` pathway has order −1,
``post`` order +1 in the ``synapses`` slot (brian2/synapses/synapses.py, ``SynapticPathway``).
``spikefa.crosscheck`` runs both and checks them to 1e-9·w_max; the other modes are checked against
their own Brian2 models, and differ from the documented synapse exactly where their semantics do.

Batches: for B > 1 every sample runs the sequential semantics from the same starting weight, and
the new weight is the mean over the batch of the per-sample weights (= w + mean of per-sample
updates; inside the bounds because a mean of clipped weights is). B = 1 is the exact sequential rule.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from spikefa.errors import ConfigError
from spikefa.schemas.stdp import CHOICES, STDP_MODES, Bounds, Clip, Order, STDPMode, STDPParams, Traces

__all__ = ["CHOICES", "STDP_MODES", "Bounds", "Clip", "Order", "STDPMode", "STDPParams", "STDPState", "Traces",
           "expected_drift", "stdp_init", "stdp_run", "stdp_step", "stdp_window"]


def _number(name: str, value: Any, *, positive: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and not value > 0):
        want = "a finite number > 0" if positive else "a finite number"
        raise ConfigError(f"STDP {name} = {value!r} is not allowed; expected {want}")


class STDPState(NamedTuple):
    """Pre traces x [B, in] and post traces y [B, out]."""

    pre_trace: torch.Tensor
    post_trace: torch.Tensor


def stdp_init(pre_spikes: torch.Tensor, post_spikes: torch.Tensor, dtype: torch.dtype | None = None) -> STDPState:
    """Zero traces shaped like the spike tensors [B, in], [B, out]."""
    dtype = dtype or (pre_spikes.dtype if pre_spikes.is_floating_point() else torch.get_default_dtype())
    return STDPState(torch.zeros(pre_spikes.shape, dtype=dtype, device=pre_spikes.device),
                     torch.zeros(post_spikes.shape, dtype=dtype, device=post_spikes.device))


def _resolve_dt(dt: float | None, params: STDPParams) -> float:
    dt = params.dt if dt is None else dt
    if dt is None:
        raise ConfigError("STDP dt = None is not allowed; pass dt to stdp_step or set STDPParams.dt (ms)")
    _number("dt", dt, positive=True)
    return float(dt)


def _check_shapes(pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, state: STDPState) -> None:
    if pre.dim() != 2 or post.dim() != 2 or pre.shape[0] != post.shape[0]:
        raise ConfigError(f"STDP spikes pre {tuple(pre.shape)}, post {tuple(post.shape)} are not allowed; "
                          "expected [B, in] and [B, out] with the same B")
    if tuple(weight.shape) != (post.shape[1], pre.shape[1]):
        raise ConfigError(f"STDP weight shape {tuple(weight.shape)} is not allowed; expected [out, in] = "
                          f"{(post.shape[1], pre.shape[1])}")
    if state.pre_trace.shape != pre.shape or state.post_trace.shape != post.shape:
        raise ConfigError(f"STDP state shapes {tuple(state.pre_trace.shape)}, {tuple(state.post_trace.shape)} "
                          f"do not match the spikes {tuple(pre.shape)}, {tuple(post.shape)}; start from stdp_init")


def _bump(trace: torch.Tensor, spikes: torch.Tensor, amplitude: float, traces: str) -> torch.Tensor:
    """A spike adds the amplitude (all-to-all) or resets the trace to it (nearest)."""
    if traces == "nearest":
        return torch.where(spikes > 0, torch.full_like(trace, amplitude), trace)
    return trace + amplitude * spikes


def _apply(w: torch.Tensor, dw: torch.Tensor, params: STDPParams, potentiate: bool) -> torch.Tensor:
    """w + dw·g(w), then the per-pathway clip; same operation order as the Brian2 reference."""
    if params.bounds == "soft":
        span = params.w_max - params.w_min
        w = w + dw * (params.w_max - w) / span if potentiate else w + dw * (w - params.w_min) / span
    else:
        w = w + dw
    return w.clamp(params.w_min, params.w_max) if params.clip == "per-pathway" else w


def stdp_step(
    pre_spikes: torch.Tensor,
    post_spikes: torch.Tensor,
    weight: torch.Tensor,
    state: STDPState,
    params: STDPParams,
    dt: float | None = None,
) -> tuple[torch.Tensor, STDPState]:
    """One STDP step (module docstring); spikes are 0/1 (or bool). Returns (new weight, new state)."""
    _check_shapes(pre_spikes, post_spikes, weight, state)
    dt = _resolve_dt(dt, params)
    pre = pre_spikes.to(weight.dtype)
    post = post_spikes.to(weight.dtype)
    x = state.pre_trace * math.exp(-dt / params.tau_pre)
    y = state.post_trace * math.exp(-dt / params.tau_post)
    w = weight.unsqueeze(0).expand(pre.shape[0], *weight.shape)  # per-sample copies, never written in place
    for pathway in (("pre", "post") if params.order == "pre-first" else ("post", "pre")):
        if pathway == "pre":
            x = _bump(x, pre, params.a_plus, params.traces)
            w = _apply(w, y[:, :, None] * pre[:, None, :], params, potentiate=False)
        else:
            y = _bump(y, post, params.a_minus, params.traces)
            w = _apply(w, post[:, :, None] * x[:, None, :], params, potentiate=True)
    if params.clip == "end-of-step":
        w = w.clamp(params.w_min, params.w_max)
    return w.mean(0), STDPState(x, y)


def _check_time_major(pre: torch.Tensor, post: torch.Tensor) -> None:
    """pre [T, B, in] and post [T, B, out] with the same T >= 1, else a one-line ConfigError."""
    if pre.dim() != 3 or post.dim() != 3:
        raise ConfigError(f"stdp_run: pre_spikes {tuple(pre.shape)}, post_spikes {tuple(post.shape)} are not allowed; "
                          "expected time-major [T, B, in] and [T, B, out]")
    if pre.shape[0] == 0 or post.shape[0] == 0:
        raise ConfigError(f"stdp_run: pre_spikes {tuple(pre.shape)}, post_spikes {tuple(post.shape)} have T = 0 "
                          "time steps; pass at least one step (time-major [T >= 1, B, ...])")
    if pre.shape[0] != post.shape[0]:
        raise ConfigError(f"stdp_run: pre_spikes has T = {pre.shape[0]} steps but post_spikes T = {post.shape[0]}; "
                          "give both the same time axis")


def stdp_run(
    pre_spikes: torch.Tensor, post_spikes: torch.Tensor, weight: torch.Tensor, params: STDPParams,
    dt: float | None = None, state: STDPState | None = None,
) -> tuple[torch.Tensor, STDPState]:
    """Step through time-major spikes [T, B, in], [T, B, out] (T >= 1, dt ms per step); returns
    (weights after each step [T, out, in], last state)."""
    _check_time_major(pre_spikes, post_spikes)
    state = stdp_init(pre_spikes[0], post_spikes[0], weight.dtype) if state is None else state
    out = []
    for pre, post in zip(pre_spikes, post_spikes, strict=True):
        weight, state = stdp_step(pre, post, weight, state, params, dt)
        out.append(weight)
    return torch.stack(out), state


def stdp_window(delta_t: torch.Tensor, params: STDPParams) -> torch.Tensor:
    """Closed-form weight change of one isolated pair, Δt = t_post − t_pre in ms, no bounds.

    Δt > 0: A₊·exp(−Δt/τ_pre); Δt < 0: A₋·exp(Δt/τ_post); Δt = 0: A₊ (pre-first) or A₋ (post-first).
    """
    dt = delta_t.to(torch.get_default_dtype()) if not delta_t.is_floating_point() else delta_t
    plus = params.a_plus * torch.exp(-dt.clamp(min=0) / params.tau_pre)
    minus = params.a_minus * torch.exp(dt.clamp(max=0) / params.tau_post)
    zero = params.a_plus if params.order == "pre-first" else params.a_minus
    return torch.where(dt > 0, plus, torch.where(dt < 0, minus, torch.full_like(dt, zero)))


def expected_drift(rate_pre: float, rate_post: float, params: STDPParams, w: float | None = None) -> float:
    """Mean dw/dt (per ms) for independent Poisson trains at the given rates (spikes per ms).

    All-to-all: r_pre·r_post·(A₊τ_pre + A₋τ_post) (Kempter, Gerstner & van Hemmen 1999, eq. 8 with
    uncorrelated input). Nearest: each pairing sees only the last spike of the other side, whose age
    is exponential, giving r_pre·r_post·(A₊τ_pre/(1 + r_pre·τ_pre) + A₋τ_post/(1 + r_post·τ_post)).
    Soft bounds scale each term by g(w) at the given w; bounds and clipping are otherwise ignored.
    """
    tp, tm = params.tau_pre, params.tau_post
    if params.traces == "nearest":
        tp, tm = tp / (1 + rate_pre * tp), tm / (1 + rate_post * tm)
    gp = gm = 1.0
    if params.bounds == "soft":
        if w is None:
            raise ConfigError("expected_drift w = None is not allowed with soft bounds; pass the weight")
        span = params.w_max - params.w_min
        gp, gm = (params.w_max - w) / span, (w - params.w_min) / span
    return rate_pre * rate_post * (params.a_plus * tp * gp + params.a_minus * tm * gm)
