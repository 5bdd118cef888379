"""Three-factor STDP kernels: pair-STDP eligibility traces and the update a third factor gates.

The pair-STDP update of `spikefa.functional.stdp.stdp_step` (all-to-all traces, pre pathway first,
no bounds) is not applied to the weight but accumulated, per sample b, into an eligibility trace
(Frémaux & Gerstner 2016, "Neuromodulated spike-timing-dependent plasticity, and theory of
three-factor learning rules", Front. Neural Circuits 9:85, eqs. 2-4; Izhikevich 2007):

    Δ_b(t)  = A₋·y⁻_b(t)ᵀ s_b(t) + A₊·z_b(t)ᵀ x⁺_b(t)        (one STDP step, [out, in])
    E_b(t)  = λ·E_b(t−1) + Δ_b(t),   λ = exp(−dt/τ_e),   E_b(0) = 0

and a neuron-specific third factor m_b [B, out] gates it: ΔW_ji = −η · (1/B) Σ_b m_bj · E_b,ji(T).
Since Σ_b m_bj E_b,ji(T) = Σ_t λ^{T−t} Σ_b m_bj Δ_b,ji(t), `three_factor_delta_traces` computes the
sum as one matrix product from per-step traces; `stdp_eligibility` + `three_factor_delta` are the
direct formulation the tests compare it with. Spike trains are time-major [T, B, n].
"""

from __future__ import annotations

import math

import torch

from spikefa.errors import ConfigError
from spikefa.functional.stdp import stdp_init, stdp_step


def _check_trains(pre: torch.Tensor, post: torch.Tensor) -> None:
    if pre.ndim != 3 or post.ndim != 3 or pre.shape[0] == 0 or pre.shape[:2] != post.shape[:2]:
        raise ConfigError(f"spike trains pre {tuple(pre.shape)}, post {tuple(post.shape)} are not allowed; expected "
                          "time-major [T, B, in] and [T, B, out] with the same T >= 1 and B")
from spikefa.schemas.stdp import STDPParams


def _check_rule(params: STDPParams) -> None:
    if params.bounds != "hard" or params.clip != "none":
        raise ConfigError("three-factor STDP: bounds must be 'hard' and clip 'none' (the eligibility must not "
                          f"depend on the weight); got bounds = {params.bounds!r}, clip = {params.clip!r}")


def elig_decay(dt: float, tau_elig: float) -> float:
    """λ = exp(−dt/τ_e) (1 for τ_e = inf: the eligibility sums the whole presentation)."""
    if not (isinstance(tau_elig, int | float) and tau_elig > 0):
        raise ConfigError(f"three-factor tau_elig = {tau_elig!r} is not allowed; expected a number of ms > 0 (or inf)")
    return math.exp(-dt / tau_elig)


@torch.no_grad()
def stdp_eligibility(pre: torch.Tensor, post: torch.Tensor, params: STDPParams, dt: float,
                     tau_elig: float = math.inf) -> torch.Tensor:
    """E_b(T) [B, out, in] of spike trains pre [T, B, in], post [T, B, out]: each sample runs
    ``stdp_step`` alone from W = 0 (so its weight *is* the accumulated update) with the weight
    multiplied by λ before every step. The direct (slow) formulation."""
    _check_rule(params)
    _check_trains(pre, post)
    lam = elig_decay(dt, tau_elig)
    out = []
    for b in range(pre.shape[1]):
        e = torch.zeros(post.shape[2], pre.shape[2], dtype=pre.dtype)
        state = stdp_init(pre[0, b:b + 1], post[0, b:b + 1], pre.dtype)
        for s, z in zip(pre[:, b:b + 1], post[:, b:b + 1], strict=True):
            e, state = stdp_step(s, z, e * lam, state, params, dt)
        out.append(e)
    return torch.stack(out)


def three_factor_delta(third: torch.Tensor, eligibility: torch.Tensor, lr: float) -> torch.Tensor:
    """ΔW = −η · mean_b third_b ⊙ E_b for third factors [B, out] and eligibilities [B, out, in]."""
    return -lr * (third[:, :, None] * eligibility).mean(0)


@torch.no_grad()
def stdp_traces(pre: torch.Tensor, post: torch.Tensor, params: STDPParams, dt: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x⁺ [T, B, in], y⁻ [T, B, out]) of ``stdp_step``'s traces for trains pre [T, B, in],
    post [T, B, out]: the pre trace just after step t's bump, the post trace just before it."""
    _check_rule(params)
    _check_trains(pre, post)
    if params.order != "pre-first":
        raise ConfigError(f"three-factor STDP: order = {params.order!r} is not supported; use 'pre-first'")
    d_pre, d_post = math.exp(-dt / params.tau_pre), math.exp(-dt / params.tau_post)
    x = torch.zeros_like(pre[0])
    y = torch.zeros_like(post[0])
    xs, ys = [], []
    for s, z in zip(pre, post, strict=True):
        x = x * d_pre
        x = torch.where(s > 0, torch.full_like(x, params.a_plus), x) if params.traces == "nearest" else \
            x + params.a_plus * s
        y = y * d_post
        ys.append(y)
        y = torch.where(z > 0, torch.full_like(y, params.a_minus), y) if params.traces == "nearest" else \
            y + params.a_minus * z
        xs.append(x)
    return torch.stack(xs), torch.stack(ys)


def three_factor_delta_traces(third: torch.Tensor, pre: torch.Tensor, y_minus: torch.Tensor,
                              post: torch.Tensor, x_plus: torch.Tensor, lr: float, lam: float) -> torch.Tensor:
    """The same ΔW from recorded per-step quantities, all time-major: pre spikes [T, B, in], the
    post trace before the step's bump y⁻ [T, B, out], post spikes [T, B, out] and the pre trace
    after the bump x⁺ [T, B, in], the traces carrying A₋ and A₊ as in ``stdp_step`` (`stdp_traces`
    makes them). One matrix product over the stacked 2·T·B rows."""
    steps, batch = pre.shape[:2]
    weights = lam ** torch.arange(steps - 1, -1, -1, dtype=third.dtype, device=third.device)  # λ^{T−t}
    gate = weights[:, None, None] * third[None]  # [T, B, out]
    left = torch.cat([(gate * y_minus).reshape(steps * batch, -1), (gate * post).reshape(steps * batch, -1)])
    right = torch.cat([pre.reshape(steps * batch, -1), x_plus.reshape(steps * batch, -1)])
    return (left.t() @ right) * (-lr / batch)
