"""The compiled Diehl & Cook loop (spikefa/functional/diehl_cook_kernel.py) against the torch
kernels it replaces: the same spike counts, weights, thresholds and end state, bit for bit, over
several presentations (so that renormalised weights above w_max meet the first step's clip), with
and without one-spike, inhibition and learning, in float32 and float64, one sample at a time and
in exclusive batches (neurons claimed by the first sample they fire in)."""

from __future__ import annotations

import pytest
import torch

from spikefa.errors import ConfigError
from spikefa.nn.stdp import DiehlCookNet
from spikefa.schemas.stdp import DiehlCookParams

from ..helpers import dc_params

pytest.importorskip("numba")


def _pair(p: DiehlCookParams, seed: int, dtype: torch.dtype = torch.float32) -> tuple[DiehlCookNet, DiehlCookNet]:
    return DiehlCookNet(p, seed=seed, kernel="torch").to(dtype), DiehlCookNet(p, seed=seed, kernel="jit").to(dtype)


def _assert_same(ref: DiehlCookNet, fast: DiehlCookNet) -> None:
    assert torch.equal(ref.weight, fast.weight) and torch.equal(ref.theta, fast.theta)
    assert ref.state is not None and fast.state is not None
    for a, b in zip([*ref.state[:3], *ref.state.traces], [*fast.state[:3], *fast.state.traces], strict=True):
        assert torch.equal(a, b)
    assert (ref.state.earlier is None) == (fast.state.earlier is None)
    if ref.state.earlier is not None:
        assert torch.equal(ref.state.earlier, fast.state.earlier)


@pytest.mark.parametrize("kw", [
    {},
    {"one_spike": False, "inhibition": 2.0},
    {"inhibition": 0.0, "theta_plus": 0.5, "tau_theta": 30.0},
    {"n_exc": 9, "nu_pre": 0.02, "nu_post": 0.3, "w_max": 0.4, "norm": 4.0},  # rows above w_max after norm
    {"inhibition_delay_ms": 2.0, "inhibition": 5.0},  # BindsNET's Ae -> Ai -> Ae timing
    {"inhibition_delay_ms": 3.0, "inhibition": 3.0, "one_spike": False},
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_learning_presentations_match_the_torch_kernels_bitwise(kw: dict, dtype: torch.dtype) -> None:
    p = dc_params(**kw)
    ref, fast = _pair(p, seed=3, dtype=dtype)
    gen = torch.Generator().manual_seed(0)
    xs = torch.rand(6, 1, 16, generator=gen, dtype=dtype) * (torch.rand(6, 1, 16, generator=gen) < 0.7)
    spikes = 0.0
    for i, x in enumerate(xs):
        a = ref.run(x, p.max_rate_hz, torch.Generator().manual_seed(i), learn=True)
        b = fast.run(x, p.max_rate_hz, torch.Generator().manual_seed(i), learn=True)
        assert torch.equal(a, b)
        _assert_same(ref, fast)
        spikes += float(a.sum())
    assert spikes > 5 and int(fast.seen) == 6  # the case exercised learning, not silence


def test_weights_above_w_max_are_clipped_as_the_torch_path_clips_them() -> None:
    p = dc_params(w_max=0.4, norm=4.0)
    ref, fast = _pair(p, seed=1)
    with torch.no_grad():
        for net in (ref, fast):
            net.weight[0].fill_(0.9)  # every entry of neuron 0 out of range before the first step
    x = torch.rand(1, 16, generator=torch.Generator().manual_seed(2))
    ref.run(x, p.max_rate_hz, torch.Generator().manual_seed(3), learn=True)
    fast.run(x, p.max_rate_hz, torch.Generator().manual_seed(3), learn=True)
    _assert_same(ref, fast)


def test_inference_batches_match_and_leave_the_learned_state_alone() -> None:
    p = dc_params(n_exc=10)
    ref, fast = _pair(p, seed=4)
    x = torch.rand(5, 16, generator=torch.Generator().manual_seed(1))
    w, theta = fast.weight.clone(), fast.theta.clone()
    a = ref.run(x, p.max_rate_hz, torch.Generator().manual_seed(7))
    b = fast.run(x, p.max_rate_hz, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.sum() > 0
    _assert_same(ref, fast)
    assert torch.equal(fast.weight, w) and torch.equal(fast.theta, theta)


@pytest.mark.parametrize("kw", [
    {"inhibition": 5.0, "theta_plus": 1.0, "n_exc": 12},  # many claims: the exclusive test's case
    {"one_spike": False, "inhibition": 2.0, "n_exc": 9},
    {"inhibition": 5.0, "theta_plus": 1.0, "n_exc": 12, "inhibition_delay_ms": 2.0},
])
def test_exclusive_learning_batches_match_the_torch_kernels_bitwise(kw: dict) -> None:
    p = dc_params(**kw)
    ref, fast = _pair(p, seed=2)
    gen = torch.Generator().manual_seed(3)
    claimed = 0
    for i in range(4):
        x = torch.rand(5, 16, generator=gen) * (torch.rand(5, 16, generator=gen) < 0.8)
        x[1] = x[0]  # two identical samples compete for the same winners
        a = ref.run(x, p.max_rate_hz, torch.Generator().manual_seed(i), learn=True)
        b = fast.run(x, p.max_rate_hz, torch.Generator().manual_seed(i), learn=True)
        assert torch.equal(a, b)
        _assert_same(ref, fast)
        claimed += int(((a > 0).sum(0) == 1).sum())
    assert claimed > 5


def test_present_with_boosts_matches_and_auto_falls_back_for_learning_batches() -> None:
    p = dc_params(max_boosts=3, min_spikes=40)
    ref, fast = _pair(p, seed=2)
    x = torch.rand(1, 16, generator=torch.Generator().manual_seed(5)) * 0.3
    assert torch.equal(ref.present(x, torch.Generator().manual_seed(1), learn=True),
                       fast.present(x, torch.Generator().manual_seed(1), learn=True))
    _assert_same(ref, fast)
    shared = DiehlCookNet(dc_params(exclusive=False), kernel="jit")
    with pytest.raises(ConfigError, match="kernel = 'jit'"):  # non-exclusive batches: θ may gain 2·θ₊ at once
        shared.run(torch.rand(2, 16), p.max_rate_hz, learn=True)
    shared.kernel = "auto"  # there the torch path runs
    shared.run(torch.rand(2, 16), p.max_rate_hz, learn=True)
    fast.kernel = "fast"
    with pytest.raises(ConfigError, match="expected one of auto, torch, jit"):
        fast.run(torch.rand(1, 16), p.max_rate_hz)
    with pytest.raises(ConfigError, match="kernel = 'numba' is not allowed"):
        DiehlCookNet(p, kernel="numba")
