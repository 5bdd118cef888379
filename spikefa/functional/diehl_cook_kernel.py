"""One Diehl & Cook presentation as a single compiled loop (numba), bit for bit the torch kernels.

`spikefa.functional.diehl_cook` states the dynamics and `DiehlCookNet.run` runs them with torch
ops: about sixty small tensor operations per 1 ms step, whose fixed cost (not their arithmetic)
sets the time of an image at every network size. This module runs the same presentation as one
loop compiled by numba (an optional dependency: ``pip install spikefa[jit]``): inference (any B),
the exact sequential rule (B = 1, learning) and exclusive learning batches (``exclusive``: each
neuron learns in the first sample that makes it fire). It performs the same float operations in
the same order as the torch path:

    current   Σ_i W_ji over the step's input events, in event order, from 0 (``embedding_bag`` sum)
    neuron    leak, inhibition (by the spikes of d steps back), refractoriness, threshold, one-spike
              winner (largest margin, first index on ties), reset, as `dc_neuron_step`; exclusive
              ownership as `claim_neurons`
    learning  θ decay then θ₊ per learning spike; nearest traces decayed then set; pre pathway
              W[:, i] += y_b, post pathway W[j, :] += x_b, each over the events in (sample, index)
              order, clip to [w_min, w_max] at the end of the step (`stdp_step_events` with
              ``clip="end-of-step"``)

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


def supports(s: STDPParams, batch: int, learn: bool, dtype: torch.dtype, device: torch.device,
             exclusive: bool = True) -> bool:
    """Whether `present_jit` computes this case: CPU float32/float64, the STDP ``s`` of a
    `DiehlCookParams` (nearest traces, hard bounds, pre pathway first, end-of-step clip), and when
    learning either B = 1 or ``exclusive`` batches (where a neuron learns in one sample at most, so
    θ gains θ₊ at most once per step, as the torch path's fused add does)."""
    rule_ok = (s.traces, s.bounds, s.order, s.clip) == ("nearest", "hard", "pre-first", "end-of-step")
    return (device.type == "cpu" and dtype in (torch.float32, torch.float64) and rule_ok
            and (batch == 1 or not learn or exclusive))


def _loop(idx: Any, offs: Any, w: Any, theta: Any, v: Any, refrac: Any, spikes: Any, x: Any, y: Any,
          counts: Any, ring: Any, c: Any, learn: bool, one_spike: bool, exclusive: bool,
          clip_all: bool) -> None:  # pragma: no cover - compiled
    """The presentation loop (compiled by numba). Arrays: idx [E] input indices, offs [steps, B + 1]
    event offsets, w [in, N] (W transposed, written in place), theta [N], v/refrac/spikes/y/counts
    [B, N], x [B, in], ring [d, B, N] the spikes of the last d steps (step t's at t mod d, so at
    step t slot t mod d holds step t − d's, which inhibit). c holds the constants in the network's
    dtype (see `_constants`)."""
    decay, rest, inh, thresh, v_reset, refrac_steps = c[0], c[1], c[2], c[3], c[4], c[5]
    th_decay, th_plus, x_decay, y_decay, a_plus, a_minus, w_min, w_max = c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13]
    zero, one = c[14], c[15]
    steps, batch, delay = offs.shape[0], v.shape[0], ring.shape[0]
    n_in, n = w.shape[0], w.shape[1]
    cur = np.empty((batch, n), dtype=w.dtype)
    margin = np.empty(n, dtype=w.dtype)
    fire = np.zeros(n, dtype=np.bool_)
    owner = np.zeros((batch, n), dtype=np.bool_)  # exclusive batches: the sample each neuron belongs to
    owned = np.zeros(n, dtype=np.bool_)
    learned = np.zeros((batch, n), dtype=np.bool_)  # the spikes that learn (all of them unless exclusive)
    any_owned = False
    for t in range(steps):
        for b in range(batch):  # every sample's input current from the same W
            for j in range(n):
                cur[b, j] = zero
            for e in range(offs[t, b], offs[t, b + 1]):
                row = idx[e]
                for j in range(n):
                    cur[b, j] += w[row, j]
        if learn:
            for j in range(n):
                theta[j] = theta[j] * th_decay
        restrict = exclusive and any_owned  # owners from earlier steps only
        step_fired = False
        slot = t % delay
        for b in range(batch):
            total = zero
            for j in range(n):
                total += ring[slot, b, j]
            inhibit = inh > zero and total > zero
            best = -1
            for j in range(n):
                vj = v[b, j] * decay + rest
                drive = cur[b, j] - inh * (total - ring[slot, b, j]) if inhibit else cur[b, j]
                if refrac[b, j] <= zero:
                    vj = vj + drive
                r = refrac[b, j] - one
                refrac[b, j] = r if r > zero else zero
                m = vj - (theta[j] + thresh)
                margin[j] = m
                v[b, j] = vj
                ok = m >= zero and (not restrict or owner[b, j] or not owned[j])
                fire[j] = ok
                if ok and (best < 0 or m > margin[best]):
                    best = j
            for j in range(n):
                s = zero
                if fire[j]:
                    v[b, j] = v_reset
                    refrac[b, j] = refrac_steps
                    if not one_spike or j == best:
                        s = one
                spikes[b, j] = s
                ring[slot, b, j] = s
                counts[b, j] += s
            step_fired = step_fired or best >= 0
        if not learn:
            continue
        if exclusive and step_fired:  # a free neuron goes to the first sample it fired in
            for j in range(n):
                if not owned[j]:
                    for b in range(batch):
                        if spikes[b, j] > zero:
                            owner[b, j] = True
                            owned[j] = True
                            any_owned = True
                            break
        for b in range(batch):
            for j in range(n):
                learned[b, j] = spikes[b, j] > zero and (not exclusive or owner[b, j])
        for j in range(n):  # θ += θ₊·Σ_b learned (at most one sample per neuron: see `supports`)
            for b in range(batch):
                if learned[b, j]:
                    theta[j] = theta[j] + th_plus
        for b in range(batch):
            for i in range(n_in):
                x[b, i] = x[b, i] * x_decay
            for j in range(n):
                y[b, j] = y[b, j] * y_decay
            for e in range(offs[t, b], offs[t, b + 1]):
                x[b, idx[e]] = a_plus
        for b in range(batch):  # pre pathway: W[:, i] += y_b, events in (sample, input) order
            for e in range(offs[t, b], offs[t, b + 1]):
                row = idx[e]
                for j in range(n):
                    w[row, j] += y[b, j]
        for b in range(batch):
            for j in range(n):
                if learned[b, j]:
                    y[b, j] = a_minus
        for b in range(batch):  # post pathway: W[j, :] += x_b, events in (sample, neuron) order
            for j in range(n):
                if learned[b, j]:
                    for i in range(n_in):
                        w[i, j] += x[b, i]
        if clip_all:
            for i in range(n_in):
                for j in range(n):
                    w[i, j] = min(max(w[i, j], w_min), w_max)
            clip_all = False
            continue
        for e in range(offs[t, 0], offs[t, batch]):
            row = idx[e]
            for j in range(n):
                w[row, j] = min(max(w[row, j], w_min), w_max)
        for b in range(batch):
            for j in range(n):
                if learned[b, j]:
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
    place when ``learn`` (B = 1, or B > 1 with ``p.exclusive``). Returns (spike counts [B, N], the state after the last step)
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
    d, steps = p.inhibition_steps, offsets.shape[0]
    ring = torch.zeros(d, batch, p.n_exc, dtype=dtype)
    clip_all = bool(learn and ((weight < s.w_min).any() or (weight > s.w_max).any()))
    _kernel()(index.contiguous().numpy(), offsets.contiguous().numpy(), w_in.numpy(), theta.numpy(), v.numpy(),
              refrac.numpy(), spikes.numpy(), x.numpy(), y.numpy(), counts.numpy(), ring.numpy(),
              _constants(p, s, w_in.numpy().dtype), bool(learn), bool(p.one_spike),
              bool(learn and p.exclusive and batch > 1), clip_all)
    # DCState.earlier: steps T − d … T − 2, oldest first (step k sits in slot k mod d)
    earlier = None if d == 1 else ring[[(steps - d + k) % d for k in range(d - 1)]]
    return counts, DCState(v, refrac, spikes, STDPState(x, y), earlier)
