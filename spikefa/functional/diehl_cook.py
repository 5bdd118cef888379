"""Diehl & Cook (2015) unsupervised STDP network, current-based as BindsNET's ``DiehlAndCook2015v2``.

Diehl, P. U. & Cook, M. "Unsupervised learning of digit recognition using spike-timing-dependent
plasticity", Front. Comput. Neurosci. 9:99 (2015). Constants follow BindsNET
(``bindsnet/models/models.py``, ``DiehlAndCookNodes``), which turns the paper's conductance-based
synapses into instantaneous voltage jumps; the paper's values are given where they differ.

Per step of dt ms, for sample b and excitatory neuron j (mV, ms):

    input     s_i(t) ~ Bernoulli(x_i · r · dt/1000), r = 128 Hz at pixel 1 for 250 ms (BindsNET's
              examples/mnist/eth_mnist.py; the paper: 63.75 Hz = pixel/4, 350 ms)
    leak      v_j ← v_rest + (v_j − v_rest)·exp(−dt/τ_m)                 v_rest = −65, τ_m = 100
    drive     v_j ← v_j + [not refractory]·(Σ_i W_ji s_i(t) − w_inh·Σ_{k≠j} z_k(t−d))      d = inhibition_steps
    fire      z_j = [v_j ≥ v_thresh + θ_j]; v_j ← v_reset; 5 ms refractory  v_thresh = −52, v_reset = −60
    one spike at most per sample and step (BindsNET ``one_spike``; here the largest margin wins)
    learning  θ_j ← θ_j·exp(−dt/τ_θ) + θ₊·Σ_b z_bj                        θ₊ = 0.05, τ_θ = 10⁷ ms
              pair STDP on W (nearest-spike traces, τ = 20 ms): a pre spike depresses by
              ν_pre·y_j, a post spike potentiates by ν_post·x_i (BindsNET ``PostPre``,
              ν = (10⁻⁴, 10⁻²)), W clipped to [0, 1]; batches sum the updates (`stdp_step_batched`)
    after     each row of W rescaled to sum to 78.4 (paper: "weight normalization")
    batches   B samples run in parallel with one W and θ, their STDP updates and θ increments
              summed (``reduction`` "sum", as BindsNET) or averaged. With ``exclusive`` (default,
              learning only) each neuron belongs, within a batch, to the first sample that makes it
              fire and cannot fire in the others, which must recruit other winners; a sequential
              run gets the same effect from the θ rise and weight change after each sample. Without
              it the same neuron wins all B samples early in training, gains B times a sequential
              θ increment at once, and few neurons ever learn. B = 1 is the exact sequential rule
              either way; inference (no learning) never restricts firing.

The lateral inhibition is the direct all-to-all form (each spike inhibits every other excitatory
neuron by w_inh = 120 mV d steps later; BindsNET's example value, its model default is 17.5)
that BindsNET's v2 model uses for the paper's excitatory → inhibitory → excitatory loop. With
d = 1 (``inhibition_delay_ms = dt``, the default) it arrives one step after the spike; d = 2 is
the timing of BindsNET's ``DiehlAndCook2015``, whose Ae spike reaches the inhibitory layer one step
later and comes back the step after (its Ai neurons, 22.5 mV above a 20 mV gap, always fire), so
other neurons can still fire in the step after a spike. The
defaults (250 ms at 128 Hz, w_inh = 120) were chosen on the validation split: with 20,000
training images, 350 ms at 63.75 Hz with w_inh = 17.5 gave 76 % and with w_inh = 120 85 %,
250 ms at 128 Hz with w_inh = 120 88 %. The 150 ms rest is modelled as a reset
of membranes, refractory counters and traces (as BindsNET) plus the θ decay over 150 ms. When a
sample drives fewer than 5 spikes the rate is raised by 32 Hz and the sample shown again
(paper, "Input encoding"), at most ``max_boosts`` times.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from spikefa.functional.stdp import STDPState
from spikefa.schemas.stdp import DiehlCookParams

__all__ = ["DCState", "DiehlCookParams", "claim_neurons", "dc_init", "dc_neuron_step"]


class DCState(NamedTuple):
    """Per-sample dynamic state: membranes v [B, N] (mV), refractory steps left [B, N], the
    last step's spikes [B, N], the STDP traces and, for an inhibition delay of d > 1 steps, the
    spikes of the d − 1 steps before the last, oldest first ([d − 1, B, N]; None for d = 1).
    The spikes of step t − d drive the inhibition at step t."""

    v: torch.Tensor
    refrac: torch.Tensor
    spikes: torch.Tensor
    traces: STDPState
    earlier: torch.Tensor | None = None

    def inhibitors(self) -> torch.Tensor:
        """The spikes [B, N] that inhibit at the next step: those of d steps before it."""
        return self.spikes if self.earlier is None else self.earlier[0]

    def shifted(self) -> torch.Tensor | None:
        """``earlier`` after the next step: the window moves on by one step (the last step's
        spikes join it, the oldest leave)."""
        if self.earlier is None:
            return None
        return torch.cat([self.earlier[1:], self.spikes.unsqueeze(0)])


def dc_init(batch: int, p: DiehlCookParams, dtype: torch.dtype = torch.float32,
            device: torch.device | str | None = None) -> DCState:
    """The state after a rest: v = v_rest, no refractoriness, no spikes, zero traces."""
    z = torch.zeros(batch, p.n_exc, dtype=dtype, device=device)
    earlier = None if p.inhibition_steps == 1 else z.new_zeros(p.inhibition_steps - 1, batch, p.n_exc)
    return DCState(z + p.v_rest, z.clone(), z.clone(),
                   STDPState(torch.zeros(batch, p.n_input, dtype=dtype, device=device), z.clone()), earlier)


def dc_neuron_step(current: torch.Tensor, state: DCState, theta: torch.Tensor, p: DiehlCookParams,
                   allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, DCState]:
    """One step of the excitatory layer for input current [B, N] (mV) and thresholds θ [N];
    returns (spikes [B, N], new state). ``state.refrac`` counts the refractory steps left.
    ``allowed`` [B, N] (bool) masks which neurons may fire in which sample (None: all)."""
    decay = math.exp(-p.dt / p.tau_mem)
    v = state.v * decay + p.v_rest * (1.0 - decay)
    drive, source = current, state.inhibitors()
    if p.inhibition > 0 and bool(source.any()):
        drive = current - p.inhibition * (source.sum(1, keepdim=True) - source)
    free = state.refrac <= 0
    v = torch.where(free, v + drive, v)
    refrac = (state.refrac - 1.0).clamp_(min=0.0)
    margin = v - (theta + p.v_thresh)
    fire = margin >= 0
    if allowed is not None:
        fire &= allowed
    if not bool(fire.any()):
        return torch.zeros_like(v), DCState(v, refrac, torch.zeros_like(v), state.traces, state.shifted())
    spikes = fire.to(v.dtype)
    if p.one_spike:
        winner = margin.masked_fill_(~fire, -math.inf).argmax(1, keepdim=True)
        spikes = torch.zeros_like(v).scatter_(1, winner, spikes.amax(1, keepdim=True))
    v = v.masked_fill_(fire, p.v_reset)
    refrac = refrac.masked_fill_(fire, float(p.refrac_steps))
    return spikes, DCState(v, refrac, spikes, state.traces, state.shifted())


def claim_neurons(owner: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """Each neuron belongs to the first sample of the batch that made it fire (the lowest index
    among those firing at the earliest step); returns the updated ownership mask [B, N]."""
    free = ~owner.any(0) & (spikes > 0).any(0)
    if not bool(free.any()):
        return owner
    first = spikes.argmax(0)  # the first maximal index: the lowest sample that fired
    owner = owner.clone()
    cols = free.nonzero().squeeze(1)
    owner[first[cols], cols] = True
    return owner
