"""Pair STDP on one plastic layer over a whole spike train, as one compiled loop (numba).

`stdp_step_events` runs one step of the trace rule (`spikefa.functional.stdp` states it: traces,
bounds, order, clip) with a handful of tensor operations, two of which clip all of W; over a
1000-step train that fixed cost, not the arithmetic, sets the time. `stdp_run_jit` runs the same
rule for one sample (B = 1, the exact sequential rule) over T steps in one loop compiled by numba
(``pip install spikefa[jit]``), with the same float operations in the same order:

    decay    x ← x·exp(−dt/τ_pre), y ← y·exp(−dt/τ_post)
    pre      x_i ← A₊ (nearest) or x_i + A₊ (all-to-all); W[:, i] += g₋(W)·y   (each input event i)
    post     y_j ← A₋ or y_j + A₋;                        W[j, :] += g₊(W)·x   (each output event j)
    clip     after each pathway, once after both, or never

Clipping: the step function clips all of W. After the first clip W lies inside the bounds, and
only the slices a pathway changed can leave them, so the loop clips those: clipping an in-range
value is the identity, so the bits are the same (a test compares the two for every mode).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from spikefa.errors import ConfigError
from spikefa.functional.stdp import STDPParams, STDPState, _resolve_dt

__all__ = ["stdp_run_jit"]

_CLIPS = {"per-pathway": 0, "end-of-step": 1, "none": 2}
_KERNEL: Callable[..., None] | None = None


def _loop(pre_idx: Any, pre_off: Any, post_idx: Any, post_off: Any, w: Any, x: Any, y: Any, c: Any,
          nearest: bool, soft: bool, pre_first: bool, clip: int, clip_all: bool) -> None:  # pragma: no cover
    """The train loop (compiled by numba): W [out, in], traces x [in], y [out], events of step t
    in idx[off[t]:off[t + 1]]; ``clip`` 0 per pathway, 1 end of step, 2 never."""
    x_decay, y_decay, a_plus, a_minus, w_min, w_max, span = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    n_out, n_in = w.shape[0], w.shape[1]
    for t in range(pre_off.shape[0] - 1):
        for i in range(n_in):
            x[i] = x[i] * x_decay
        for j in range(n_out):
            y[j] = y[j] * y_decay
        for p in range(2):
            pre = (p == 0) == pre_first
            if pre:  # x_i bumped, then W[:, i] += g₋(W)·y for each input event i
                for e in range(pre_off[t], pre_off[t + 1]):
                    k = pre_idx[e]
                    x[k] = a_plus if nearest else x[k] + a_plus
                for e in range(pre_off[t], pre_off[t + 1]):
                    k = pre_idx[e]
                    for j in range(n_out):
                        w[j, k] = w[j, k] + y[j] * ((w[j, k] - w_min) / span) if soft else w[j, k] + y[j]
            else:  # y_j bumped, then W[j, :] += g₊(W)·x for each output event j
                for e in range(post_off[t], post_off[t + 1]):
                    k = post_idx[e]
                    y[k] = a_minus if nearest else y[k] + a_minus
                for e in range(post_off[t], post_off[t + 1]):
                    k = post_idx[e]
                    for i in range(n_in):
                        w[k, i] = w[k, i] + x[i] * ((w_max - w[k, i]) / span) if soft else w[k, i] + x[i]
            if not (clip == 0 or (clip == 1 and p == 1)):
                continue
            if clip_all:  # the first clip takes all of W; afterwards only what changed can be outside
                for j in range(n_out):
                    for i in range(n_in):
                        w[j, i] = min(max(w[j, i], w_min), w_max)
                clip_all = False
                continue
            if clip == 1 or pre:
                for e in range(pre_off[t], pre_off[t + 1]):
                    k = pre_idx[e]
                    for j in range(n_out):
                        w[j, k] = min(max(w[j, k], w_min), w_max)
            if clip == 1 or not pre:
                for e in range(post_off[t], post_off[t + 1]):
                    k = post_idx[e]
                    for i in range(n_in):
                        w[k, i] = min(max(w[k, i], w_min), w_max)


def _kernel() -> Callable[..., None]:
    global _KERNEL
    if _KERNEL is None:
        from spikefa._optional import require

        _KERNEL = require("numba").njit(cache=True, nogil=True)(_loop)
    return _KERNEL


def _offsets(raster: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices [E], offsets [T + 1]) of a raster [T, n] (events sorted by step, then index)."""
    t, i = raster.nonzero().t()
    off = torch.zeros(raster.shape[0] + 1, dtype=torch.int64)
    off[1:] = torch.bincount(t, minlength=raster.shape[0]).cumsum(0)
    return i.contiguous(), off


@torch.no_grad()
def stdp_run_jit(pre_spikes: torch.Tensor, post_spikes: torch.Tensor, weight: torch.Tensor, params: STDPParams,
                 dt: float | None = None, state: STDPState | None = None) -> tuple[torch.Tensor, STDPState]:
    """Pair STDP over spike trains pre [T, in] and post [T, out] (one sample, 0/1 or bool) from
    weight [out, in] (float32/float64, CPU) and traces ``state`` (zero when None; shapes [1, in],
    [1, out]). Returns (the weight after the last step, the last traces): what T calls of
    `stdp_step_events` give, bit for bit. Needs numba (``spikefa[jit]``)."""
    if pre_spikes.dim() != 2 or post_spikes.dim() != 2 or pre_spikes.shape[0] != post_spikes.shape[0]:
        raise ConfigError(f"stdp_run_jit: spikes pre {tuple(pre_spikes.shape)}, post {tuple(post_spikes.shape)} are "
                          "not allowed; expected [T, in] and [T, out] with the same T")
    if tuple(weight.shape) != (post_spikes.shape[1], pre_spikes.shape[1]) or weight.dtype not in (torch.float32,
                                                                                                 torch.float64):
        raise ConfigError(f"stdp_run_jit: weight {tuple(weight.shape)} {weight.dtype} is not allowed; expected "
                          f"[out, in] = {(post_spikes.shape[1], pre_spikes.shape[1])}, float32 or float64")
    dt = _resolve_dt(dt, params)
    w = weight.detach().cpu().contiguous().clone()
    x = torch.zeros(pre_spikes.shape[1], dtype=w.dtype) if state is None else state.pre_trace.reshape(-1).to(w.dtype).clone()
    y = torch.zeros(post_spikes.shape[1], dtype=w.dtype) if state is None else state.post_trace.reshape(-1).to(w.dtype).clone()
    pre_idx, pre_off = _offsets(pre_spikes)
    post_idx, post_off = _offsets(post_spikes)
    c = np.array([math.exp(-dt / params.tau_pre), math.exp(-dt / params.tau_post), params.a_plus, params.a_minus,
                  params.w_min, params.w_max, params.w_max - params.w_min], dtype=w.numpy().dtype)
    clip_all = params.clip != "none" and bool((w < params.w_min).any() or (w > params.w_max).any())
    _kernel()(pre_idx.numpy(), pre_off.numpy(), post_idx.numpy(), post_off.numpy(), w.numpy(), x.numpy(), y.numpy(),
              c, params.traces == "nearest", params.bounds == "soft", params.order == "pre-first",
              _CLIPS[params.clip], clip_all)
    return w, STDPState(x[None], y[None])
