"""Fast batched pair STDP with one shared weight, plus the two weight-side helpers of STDP networks.

``stdp_step_batched`` is the trace rule of `spikefa.functional.stdp.stdp_step` (same traces,
bounds, order and clipping, Morrison et al. 2008 eqs. 3-6) with the batch combined differently:
stdp_step runs every sample from the same weight and *averages the per-sample weights*, which
keeps B copies [B, out, in]; here the per-sample updates of each pathway are *summed* (BindsNET's
``PostPre`` with ``reduction=torch.sum``) or averaged into one [out, in] update, applied once and
clipped once per pathway::

    pre pathway   W ← clip(W + g₋(W) ⊙ Σ_b y_bᵀ·pre_b)      (A₋ is inside the trace y)
    post pathway  W ← clip(W + g₊(W) ⊙ Σ_b post_bᵀ·x_b)     (A₊ is inside the trace x)

so a step costs two [out, B]·[B, in] products. For B = 1 both combinations are the sequential
rule, and this function equals ``stdp_step`` exactly (a test checks it bit for bit).
`stdp_step_events` is the same rule for spikes given as (sample, neuron) index pairs, whose cost
grows with the number of spikes rather than with B·in·out.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch

from spikefa.errors import ConfigError
from spikefa.functional.stdp import STDPParams, STDPState, _bump, _check_shapes, _resolve_dt
from spikefa.schemas.stdp import Reduction
from spikefa.schemas.validate import choices

REDUCTIONS: tuple[str, ...] = choices(Reduction)
Kernel = Literal["events", "dense"]
KERNELS: tuple[str, ...] = choices(Kernel)


def _clip(w: torch.Tensor, params: STDPParams, inplace: bool) -> torch.Tensor:
    return w.clamp_(params.w_min, params.w_max) if inplace else w.clamp(params.w_min, params.w_max)


def _add(w: torch.Tensor, dw: torch.Tensor, params: STDPParams, potentiate: bool, scale: float,
         inplace: bool) -> torch.Tensor:
    """w + scale·g(w) ⊙ dw (g = 1 for hard bounds)."""
    if params.bounds == "soft":
        span = params.w_max - params.w_min
        dw = dw * ((params.w_max - w) / span if potentiate else (w - params.w_min) / span)
    return w.add_(dw, alpha=scale) if inplace else w.add(dw, alpha=scale)


def _events_pathway(w: torch.Tensor, trace: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, dim: int,
                    params: STDPParams, potentiate: bool, scale: float, inplace: bool) -> torch.Tensor:
    """Add trace[rows] to the weight slices ``cols`` along ``dim`` (one per spike event)."""
    if rows.numel():
        picked = trace.index_select(0, rows)
        picked = picked.t() if dim == 1 else picked
        if params.bounds == "hard":
            w = w.index_add_(dim, cols, picked, alpha=scale) if inplace else w.index_add(dim, cols, picked, alpha=scale)
        else:
            w = _add(w, torch.zeros_like(w).index_add_(dim, cols, picked), params, potentiate, scale, inplace)
    return _clip(w, params, inplace) if params.clip == "per-pathway" else w


def _bump_events(trace: torch.Tensor, b: torch.Tensor, j: torch.Tensor, amplitude: float, traces: str) -> torch.Tensor:
    """`_bump` for spikes given as (sample, neuron) index pairs; ``trace`` is a fresh tensor."""
    if traces == "nearest":
        return trace.index_put_((b, j), torch.full_like(b, amplitude, dtype=trace.dtype))
    return trace.index_put_((b, j), torch.full_like(b, amplitude, dtype=trace.dtype), accumulate=True)


@torch.no_grad()
def stdp_step_events(
    pre_events: tuple[torch.Tensor, torch.Tensor],
    post_events: tuple[torch.Tensor, torch.Tensor],
    weight: torch.Tensor,
    state: STDPState,
    params: STDPParams,
    dt: float | None = None,
    reduction: Reduction = "sum",
    inplace: bool = False,
) -> tuple[torch.Tensor, STDPState]:
    """`stdp_step_batched` for spikes given as index pairs: pre (samples, inputs) and post
    (samples, outputs), each pair at most once. A step costs O(events · width) instead of two
    dense products, which is what makes sparse Poisson inputs fast on a CPU."""
    if reduction not in REDUCTIONS:
        raise ConfigError(f"STDP reduction = {reduction!r} is not allowed; expected one of {', '.join(REDUCTIONS)}")
    dt = _resolve_dt(dt, params)
    x = state.pre_trace * math.exp(-dt / params.tau_pre)
    y = state.post_trace * math.exp(-dt / params.tau_post)
    scale = 1.0 / x.shape[0] if reduction == "mean" else 1.0
    w = weight
    for pathway in (("pre", "post") if params.order == "pre-first" else ("post", "pre")):
        if pathway == "pre":
            x = _bump_events(x, *pre_events, params.a_plus, params.traces)
            w = _events_pathway(w, y, pre_events[0], pre_events[1], 1, params, False, scale, inplace)
        else:
            y = _bump_events(y, *post_events, params.a_minus, params.traces)
            w = _events_pathway(w, x, post_events[0], post_events[1], 0, params, True, scale, inplace)
        inplace = inplace or w is not weight  # after the first new tensor, keep writing into it
    if params.clip == "end-of-step":
        w = _clip(w, params, inplace)
    return w, STDPState(x, y)


def _dense_pathway(w: torch.Tensor, post_side: torch.Tensor, pre_side: torch.Tensor, params: STDPParams,
                   potentiate: bool, scale: float, inplace: bool) -> torch.Tensor:
    """w + scale·g(w) ⊙ (post_sideᵀ · pre_side), then the per-pathway clip."""
    if bool(post_side.any()) and bool(pre_side.any()):  # else the product is exactly zero
        if params.bounds == "hard":
            w = w.addmm_(post_side.t(), pre_side, alpha=scale) if inplace else torch.addmm(
                w, post_side.t(), pre_side, alpha=scale)
        else:
            w = _add(w, post_side.t() @ pre_side, params, potentiate, scale, inplace)
    return _clip(w, params, inplace) if params.clip == "per-pathway" else w


@torch.no_grad()
def stdp_step_batched(
    pre_spikes: torch.Tensor,
    post_spikes: torch.Tensor,
    weight: torch.Tensor,
    state: STDPState,
    params: STDPParams,
    dt: float | None = None,
    reduction: Reduction = "sum",
    inplace: bool = False,
    kernel: Kernel = "dense",
) -> tuple[torch.Tensor, STDPState]:
    """One STDP step for spikes pre [B, in], post [B, out] and one weight [out, in] (module docstring).

    ``reduction`` sums (default) or averages the per-sample updates over the batch. ``inplace``
    writes the new weight into ``weight`` (for training loops that own it); otherwise ``weight``
    is left untouched and a new tensor is returned. ``kernel`` "dense" uses matrix products,
    "events" the index form of `stdp_step_events` (same result up to summation order).
    Returns (weight, new traces).
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(f"STDP reduction = {reduction!r} is not allowed; expected one of {', '.join(REDUCTIONS)}")
    if kernel not in KERNELS:
        raise ConfigError(f"STDP kernel = {kernel!r} is not allowed; expected one of {', '.join(KERNELS)}")
    _check_shapes(pre_spikes, post_spikes, weight, state)
    if kernel == "events":
        pre_ev = tuple(pre_spikes.nonzero().t())
        post_ev = tuple(post_spikes.nonzero().t())
        state = STDPState(state.pre_trace.to(weight.dtype), state.post_trace.to(weight.dtype))
        return stdp_step_events(pre_ev, post_ev, weight, state, params, dt, reduction, inplace)  # type: ignore[arg-type]
    dt = _resolve_dt(dt, params)
    pre = pre_spikes.to(weight.dtype)
    post = post_spikes.to(weight.dtype)
    x = state.pre_trace * math.exp(-dt / params.tau_pre)
    y = state.post_trace * math.exp(-dt / params.tau_post)
    scale = 1.0 / pre.shape[0] if reduction == "mean" else 1.0
    w = weight
    for pathway in (("pre", "post") if params.order == "pre-first" else ("post", "pre")):
        if pathway == "pre":
            x = _bump(x, pre, params.a_plus, params.traces)
            w = _dense_pathway(w, y, pre, params, False, scale, inplace)
        else:
            y = _bump(y, post, params.a_minus, params.traces)
            w = _dense_pathway(w, post, x, params, True, scale, inplace)
        inplace = inplace or w is not weight
    if params.clip == "end-of-step":
        w = _clip(w, params, inplace)
    return w, STDPState(x, y)


class Events(NamedTuple):
    """Spikes of a [steps, B, n] train as events sorted by (step, sample, input): ``sample`` [E],
    ``index`` [E] and ``offsets`` [steps, B + 1], step t's events of sample b lying in
    ``offsets[t, b]:offsets[t, b + 1]`` (so ``offsets[t, 0]:offsets[t, B]`` is all of step t)."""

    sample: torch.Tensor
    index: torch.Tensor
    offsets: torch.Tensor

    def step(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(sample, index) of the events of step t."""
        lo, hi = int(self.offsets[t, 0]), int(self.offsets[t, -1])
        return self.sample[lo:hi], self.index[lo:hi]

    def dense(self, steps: int, batch: int, width: int) -> torch.Tensor:
        """The spike train [steps, B, width] (for tests and small inputs)."""
        out = torch.zeros(steps, batch, width, device=self.index.device)
        t = torch.repeat_interleave(torch.arange(steps, device=self.index.device),
                                    (self.offsets[:, -1] - self.offsets[:, 0]))
        out[t, self.sample, self.index] = 1.0
        return out


def bernoulli_events(prob: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> Events:
    """Spikes S[t, b, i] ~ Bernoulli(prob[b, i]) for t < steps (a rate code: prob = rate·dt),
    drawn at once as `Events`. Only inputs with prob > 0 take draws."""
    batch = prob.shape[0]
    b_nz, i_nz = (prob > 0).nonzero().t()
    p_nz = prob[b_nz, i_nz]
    fired = (torch.rand(steps, p_nz.numel(), generator=generator, dtype=prob.dtype, device=prob.device)
             < p_nz).nonzero()  # row-major: sorted by step, then by (sample, input)
    t, k = fired[:, 0], fired[:, 1]
    sample = b_nz[k]
    counts = torch.bincount(t * batch + sample, minlength=steps * batch)
    offsets = torch.zeros(steps * batch + 1, dtype=torch.int64, device=prob.device)
    offsets[1:] = counts.cumsum(0)
    per_step = torch.cat([offsets[:-1].view(steps, batch), offsets[batch::batch].view(steps, 1)], 1)
    return Events(sample, i_nz[k], per_step)


def normalize_incoming(weight: torch.Tensor, total: float) -> torch.Tensor:
    """Scale each row of ``weight`` [out, in] so that it sums to ``total`` (Diehl & Cook 2015,
    "Learning": the incoming weights of every excitatory neuron sum to 78.4). A row that sums to
    zero is left as it is. Returns a new tensor."""
    if not (isinstance(total, int | float) and total > 0 and math.isfinite(total)):
        raise ConfigError(f"weight norm total = {total!r} is not allowed; expected a number > 0")
    sums = weight.sum(1, keepdim=True)
    return torch.where(sums > 0, weight * (total / sums.clamp(min=torch.finfo(weight.dtype).tiny)), weight)
