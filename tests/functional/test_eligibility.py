"""Three-factor STDP kernels (spikefa/functional/eligibility.py): the eligibility and the fast
trace form against the numpy sum over spike pairs (discounted by λ), against each other, and on a
hand-worked two-neuron case."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikefa.functional.eligibility import stdp_eligibility, stdp_traces, three_factor_delta, three_factor_delta_traces
from spikefa.functional.stdp import STDPParams

from ..helpers import F64, trains
from ..reference import np_stdp_pair_sum


def test_eligibility_and_fast_form_equal_the_numpy_pair_sum() -> None:
    """E_b(T) is each sample's pair-STDP sum with a pair discounted by λ^(T−1−t) from its later spike
    t; ΔW = −η · mean_b m_b ⊙ E_b (Frémaux & Gerstner 2016, eqs. 2-4)."""
    pre, post = trains(30, 3, 5, 4, seed=8, p_pre=0.3, p_post=0.2)
    pre[4], post[4] = 1.0, 1.0  # same-step pairs: Δt = 0 counts as A₊ (pre-first)
    a_plus, a_minus, tau_pre, tau_post, dt, lr = 0.7, -0.4, 9.0, 14.0, 0.5, 0.3
    params = STDPParams(a_plus=a_plus, a_minus=a_minus, tau_pre=tau_pre, tau_post=tau_post, w_min=-math.inf,
                        w_max=math.inf, clip="none")
    third = torch.randn(3, 4, generator=torch.Generator().manual_seed(2), dtype=F64)
    x_plus, y_minus = stdp_traces(pre, post, params, dt)
    for tau_elig in (math.inf, 6.0):
        lam = math.exp(-dt / tau_elig)
        want = np.stack([np_stdp_pair_sum(pre[:, b].numpy(), post[:, b].numpy(), dt, a_plus, a_minus, tau_pre,
                                          tau_post, lam=lam) for b in range(3)])
        np.testing.assert_allclose(stdp_eligibility(pre, post, params, dt, tau_elig).numpy(), want, rtol=1e-10,
                                   atol=1e-12)
        fast = three_factor_delta_traces(third, pre, y_minus, post, x_plus, lr, lam)
        np.testing.assert_allclose(fast.numpy(), -lr * (third.numpy()[:, :, None] * want).mean(0), rtol=1e-10,
                                   atol=1e-12)


def test_three_factor_fast_form_equals_the_eligibility_formulation() -> None:
    pre, post = trains(30, 3, 5, 4, seed=7, p_pre=0.3, p_post=0.2)
    params = STDPParams(a_plus=0.7, a_minus=-0.4, tau_pre=9.0, tau_post=14.0, w_min=-math.inf, w_max=math.inf,
                        clip="none")
    third = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    for tau_elig in (math.inf, 12.0):
        elig = stdp_eligibility(pre, post, params, dt=1.0, tau_elig=tau_elig)
        x_plus, y_minus = stdp_traces(pre, post, params, 1.0)
        fast = three_factor_delta_traces(third, pre, y_minus, post, x_plus, lr=0.3, lam=math.exp(-1.0 / tau_elig))
        torch.testing.assert_close(fast, three_factor_delta(third, elig, 0.3), rtol=1e-10, atol=1e-12)
        assert torch.equal(three_factor_delta_traces(torch.zeros_like(third), pre, y_minus, post, x_plus, 0.3,
                                                     0.5), torch.zeros(4, 5, dtype=F64))


def test_three_factor_update_by_hand() -> None:
    """One pre and one post neuron, dt = 1, τ = 10: pre at 0, post at 2, pre at 5 (τ_e = inf).
    E = A₊e^{-2/10} (pre@0 → post@2) + A₋e^{-3/10} (post@2 → pre@5); ΔW = −η·m·E."""
    pre = torch.zeros(8, 1, 1, dtype=F64)
    post = torch.zeros(8, 1, 1, dtype=F64)
    pre[0], pre[5], post[2] = 1, 1, 1
    a_p, a_m, lr, m = 0.5, -0.25, 0.1, 2.0
    params = STDPParams(tau_pre=10.0, tau_post=10.0, a_plus=a_p, a_minus=a_m, w_min=-math.inf, w_max=math.inf,
                        clip="none")
    elig = a_p * math.exp(-0.2) + a_m * math.exp(-0.3)
    x_plus, y_minus = stdp_traces(pre, post, params, 1.0)
    got = three_factor_delta_traces(torch.tensor([[m]], dtype=F64), pre, y_minus, post, x_plus, lr, 1.0)
    torch.testing.assert_close(got, torch.tensor([[-lr * m * elig]], dtype=F64))
    # with τ_e = 10 each pairing is discounted by its distance to the end (t = 7)
    lam = math.exp(-0.1)
    got = three_factor_delta_traces(torch.tensor([[m]], dtype=F64), pre, y_minus, post, x_plus, lr, lam)
    expected = a_p * math.exp(-0.2) * lam ** 5 + a_m * math.exp(-0.3) * lam ** 2
    torch.testing.assert_close(got, torch.tensor([[-lr * m * expected]], dtype=F64))


def test_empty_or_unequal_trains_are_refused() -> None:
    from spikefa.errors import ConfigError
    from spikefa.functional.eligibility import stdp_eligibility, stdp_traces
    from spikefa.schemas.stdp import STDPParams

    params = STDPParams(w_min=-math.inf, w_max=math.inf, clip="none")
    for pre, post in ((torch.zeros(0, 2, 3), torch.zeros(0, 2, 4)), (torch.zeros(5, 2, 3), torch.zeros(4, 2, 4))):
        for fn in (stdp_eligibility, stdp_traces):
            with pytest.raises(ConfigError, match="T >= 1"):
                fn(pre, post, params, 1.0)


def test_online_dfa_refuses_an_empty_sequence() -> None:
    from torch import nn

    from spikefa.errors import SpikefaError
    from spikefa.nn.online import OnlineDFA
    from spikefa.nn.spiking import SpikingNet
    from spikefa.schemas.neuron import LIFParams

    net = SpikingNet([nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), nn.Linear(3, 2)], LIFParams(beta=0.9))
    with pytest.raises(SpikefaError, match="T = 0"):
        OnlineDFA(net).local_step(torch.zeros(0, 5, 4), torch.zeros(5, dtype=torch.long))
    with pytest.raises(SpikefaError, match="T = 0"):
        net(torch.zeros(0, 5, 4))
