"""One Diehl & Cook presentation as a single compiled loop (numba), bit for bit the torch kernels.

`spikefa.functional.diehl_cook` states the dynamics and `DiehlCookNet.run` runs them with torch
ops: about sixty small tensor operations per 1 ms step, whose fixed cost (not their arithmetic)
sets the time of an image at every network size. This module runs the same presentation as one
loop compiled by numba (an optional dependency: ``pip install spikefa[jit]``), for the cases where
samples do not interact: the exact sequential rule (B = 1, learning) and inference (any B, no
learning). It performs the same float operations in the same order as the torch path:

    current   Σ_i W_ji over the step's input events, in event order, from 0 (``embedding_bag`` sum)
    neuron    leak, inhibition, refractoriness, threshold, one-spike winner (largest margin, first
              index on ties), reset, as `dc_neuron_step`
    learning  θ decay then θ₊ per spike; nearest traces decayed then set; pre pathway W[:, i] += y,
              post pathway W[j, :] += x, clip to [w_min, w_max] at the end of the step
              (`stdp_step_events` with ``clip="end-of-step"``)

Clipping: the torch path clamps all of W after every step. After the first step W lies inside the
bounds, and only the entries a step touched (input columns with an event, rows of neurons that
spiked) can leave them, so the loop clips those entries only: clamping an in-range value is the
identity, so the result is the same bits. A test compares the two paths bitwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from spikefa.errors import ConfigError
from spikefa.functional.diehl_cook import DCState
from spikefa.functional.stdp import STDPParams, STDPState
from spikefa.schemas.stdp import DiehlCookParams

__all__ = ["jit_available", "present_jit", "supports"]

_KERNEL: Callable[..., None] | None = None


def jit_available() -> bool:
    """True when numba can be imported (the ``jit`` extra)."""
    from spikefa._optional import available

    return available("numba")


def supports(s: STDPParams, batch: int, learn: bool, dtype: torch.dtype, device: torch.device) -> bool:
    """Whether `present_jit` computes this case: CPU float32/float64, the STDP ``s`` of a
    `DiehlCookParams` (nearest traces, hard bounds, pre pathway first, end-of-step clip), and
    B = 1 when learning."""
    rule_ok = (s.traces, s.bounds, s.order, s.clip) == ("nearest", "hard", "pre-first", "end-of-step")
    return (device.type == "cpu" and dtype in (torch.float32, torch.float64) and rule_ok
            and (batch == 1 or not learn))


def _loop(idx: Any, offs: Any, w: Any, theta: Any, v: Any, refrac: Any, spikes: Any, x: Any, y: Any,
          counts: Any, c: Any, learn: bool, one_spike: bool, clip_all: bool) -> None:  # pragma: no cover - compiled
    """The presentation loop (compiled by numba). Arrays: idx [E] input indices, offs [steps, B + 1]
    event offsets, w [in, N] (W transposed, written in place), theta [N], v/refrac/spikes/y/counts
    [B, N], x [B, in]. c holds the constants in the network's dtype (see `_constants`)."""
    decay, rest, inh, thresh, v_reset, refrac_steps = c[0], c[1], c[2], c[3], c[4], c[5]
    th_decay, th_plus, x_decay, y_decay, a_plus, a_minus, w_min, w_max = c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13]
    zero, one = c[14], c[15]
    steps, batch = offs.shape[0], v.shape[0]
    n_in, n = w.shape[0], w.shape[1]
    cur = np.empty(n, dtype=w.dtype)
    margin = np.empty(n, dtype=w.dtype)
    for b in range(batch):
        for t in range(steps):
            lo, hi = offs[t, b], offs[t, b + 1]
            for j in range(n):
                cur[j] = zero
            for e in range(lo, hi):
                row = idx[e]
                for j in range(n):
                    cur[j] += w[row, j]
            if learn:
                for j in range(n):
                    theta[j] = theta[j] * th_decay
            total = zero
            for j in range(n):
                total += spikes[b, j]
            inhibit = inh > zero and total > zero
            fired = 0
            best = -1
            for j in range(n):
                vj = v[b, j] * decay + rest
                drive = cur[j] - inh * (total - spikes[b, j]) if inhibit else cur[j]
                if refrac[b, j] <= zero:
                    vj = vj + drive
                r = refrac[b, j] - one
                refrac[b, j] = r if r > zero else zero
                m = vj - (theta[j] + thresh)
                margin[j] = m
                v[b, j] = vj
                if m >= zero:
                    fired += 1
                    if best < 0 or m > margin[best]:
                        best = j
            for j in range(n):
                s = zero
                if margin[j] >= zero:
                    v[b, j] = v_reset
                    refrac[b, j] = refrac_steps
                    if not one_spike or j == best:
                        s = one
                spikes[b, j] = s
                counts[b, j] += s
            if not learn:
                continue
            for j in range(n):
                if spikes[b, j] > zero:
                    theta[j] = theta[j] + th_plus
            for i in range(n_in):
                x[b, i] = x[b, i] * x_decay
            for j in range(n):
                y[b, j] = y[b, j] * y_decay
            for e in range(lo, hi):
                x[b, idx[e]] = a_plus
            for e in range(lo, hi):  # pre pathway: W[:, i] += y
                row = idx[e]
                for j in range(n):
                    w[row, j] += y[b, j]
            if fired:
                for j in range(n):
                    if spikes[b, j] > zero:
                        y[b, j] = a_minus
                for j in range(n):  # post pathway: W[j, :] += x
                    if spikes[b, j] > zero:
                        for i in range(n_in):
                            w[i, j] += x[b, i]
            if clip_all:
                for i in range(n_in):
                    for j in range(n):
                        w[i, j] = min(max(w[i, j], w_min), w_max)
                clip_all = False
                continue
            for e in range(lo, hi):
                row = idx[e]
                for j in range(n):
                    w[row, j] = min(max(w[row, j], w_min), w_max)
            if fired:
                for j in range(n):
                    if spikes[b, j] > zero:
                        for i in range(n_in):
                            w[i, j] = min(max(w[i, j], w_min), w_max)


def _kernel() -> Callable[..., None]:
    global _KERNEL
    if _KERNEL is None:
        from spikefa._optional import require

        numba = require("numba")
        _KERNEL = numba.njit(cache=True, nogil=True)(_loop)
    return _KERNEL


def _constants(p: DiehlCookParams, s: STDPParams, dtype: np.dtype) -> np.ndarray:
    """The scalars of the torch path, each rounded to the network's dtype as torch rounds a Python
    float that meets a tensor of that dtype."""
    decay = math.exp(-p.dt / p.tau_mem)
    values = [decay, p.v_rest * (1.0 - decay), p.inhibition, p.v_thresh, p.v_reset, float(p.refrac_steps),
              math.exp(-p.dt / p.tau_theta), p.theta_plus, math.exp(-p.dt / s.tau_pre), math.exp(-p.dt / s.tau_post),
              s.a_plus, s.a_minus, s.w_min, s.w_max, 0.0, 1.0]
    return np.array(values, dtype=dtype)


def present_jit(offsets: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, theta: torch.Tensor,
                p: DiehlCookParams, learn: bool, stdp: STDPParams | None = None) -> tuple[torch.Tensor, DCState]:
    """One presentation of B samples from their input events (`Events` fields ``offsets``
    [steps, B + 1] and ``index`` [E]); weight [N, in] stored column-major and theta [N] change in
    place when ``learn`` (B = 1 only). Returns (spike counts [B, N], the state after the last step)
    as `DiehlCookNet.run`'s torch loop would, before its renormalisation. ``stdp`` is ``p.stdp``
    (pass it to skip building and validating it again)."""
    batch, dtype, s = offsets.shape[1] - 1, weight.dtype, stdp or p.stdp
    w_in = weight.t()
    if not w_in.is_contiguous():
        raise ConfigError("present_jit: weight must be stored column-major ([in, N] contiguous); got strides "
                         f"{tuple(weight.stride())}")
    z = torch.zeros(batch, p.n_exc, dtype=dtype)
    v, refrac, spikes, counts = z + p.v_rest, z.clone(), z.clone(), z.clone()
    x, y = torch.zeros(batch, p.n_input, dtype=dtype), z.clone()
    clip_all = bool(learn and ((weight < s.w_min).any() or (weight > s.w_max).any()))
    _kernel()(index.contiguous().numpy(), offsets.contiguous().numpy(), w_in.numpy(), theta.numpy(), v.numpy(),
              refrac.numpy(), spikes.numpy(), x.numpy(), y.numpy(), counts.numpy(),
              _constants(p, s, w_in.numpy().dtype), bool(learn), bool(p.one_spike), clip_all)
    return counts, DCState(v, refrac, spikes, STDPState(x, y))
