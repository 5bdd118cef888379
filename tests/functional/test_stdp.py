"""Pair STDP step against independent formulations: an explicit sum over spike pairs (numpy), a
hand-worked nearest-spike case, the closed-form window; plus bounds, ordering, batches, validation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from spikefa.errors import ConfigError
from spikefa.functional.stdp import (STDP_MODES, STDPParams, STDPState, expected_drift, stdp_init, stdp_run,
                                     stdp_step, stdp_window)

from ..reference import np_stdp_pair_sum

F64 = torch.float64


def pair_sum_reference(pre: np.ndarray, post: np.ndarray, dt: float, p: STDPParams) -> np.ndarray:
    """Δw[j, i] = Σ over every (pre i, post j) spike pair of A·exp(−|Δt|/τ); Δt = 0 by `order`
    (the shared reference, tests/reference.py)."""
    return np_stdp_pair_sum(pre, post, dt, p.a_plus, p.a_minus, p.tau_pre, p.tau_post, p.order)


def run(pre: np.ndarray, post: np.ndarray, w0: np.ndarray, p: STDPParams, dt: float) -> np.ndarray:
    weights, _ = stdp_run(torch.as_tensor(pre, dtype=F64)[:, None], torch.as_tensor(post, dtype=F64)[:, None],
                          torch.as_tensor(w0, dtype=F64), p, dt)
    return weights.numpy()


@pytest.mark.parametrize("order", ["pre-first", "post-first"])
def test_all_to_all_additive_equals_the_sum_over_all_spike_pairs(order: str) -> None:
    rng = np.random.default_rng(0)
    pre, post = rng.random((400, 5)) < 0.08, rng.random((400, 3)) < 0.08
    pre[100], post[100] = True, True  # same-step pairs: Δt = 0 goes to A₊ or A₋ by `order`
    p = STDPParams(tau_pre=13.0, tau_post=27.0, a_plus=0.01, a_minus=-0.007, clip="none", order=order)
    w0 = rng.random((3, 5))
    got = run(pre, post, w0, p, dt=0.5)[-1] - w0
    np.testing.assert_allclose(got, pair_sum_reference(pre, post, 0.5, p), rtol=1e-11, atol=1e-15)


def test_nearest_spike_hand_worked() -> None:
    """dt = 1, τ = 10: pre at 0, 2, 9; post at 5, 7. Nearest: each spike pairs with the latest of the other side."""
    pre = np.zeros((12, 1), bool)
    post = np.zeros((12, 1), bool)
    pre[[0, 2, 9], 0], post[[5, 7], 0] = True, True
    a_p, a_m = 0.1, -0.05
    p = STDPParams(tau_pre=10.0, tau_post=10.0, a_plus=a_p, a_minus=a_m, traces="nearest", clip="none")
    got = run(pre, post, np.zeros((1, 1)), p, dt=1.0)[-1, 0, 0]
    # post@5 sees pre@2 (3 ms), post@7 sees pre@2 (5 ms); pre@9 sees post@7 (2 ms)
    want = a_p * (math.exp(-0.3) + math.exp(-0.5)) + a_m * math.exp(-0.2)
    assert got == pytest.approx(want, rel=1e-13)
    all_to_all = run(pre, post, np.zeros((1, 1)), replace(p, traces="all-to-all"), dt=1.0)[-1, 0, 0]
    assert all_to_all == pytest.approx(want + a_p * (math.exp(-0.5) + math.exp(-0.7)) + a_m * math.exp(-0.4), rel=1e-13)


def test_window_shape() -> None:
    p = STDPParams(tau_pre=16.8, tau_post=33.7, a_plus=0.02, a_minus=-0.015, clip="none")
    lags = np.arange(-50, 51)  # ms, dt = 1
    t0 = 60
    pre = np.zeros((120, len(lags)), bool)
    pre[t0 - lags, np.arange(len(lags))] = True
    post = np.zeros((120, 1), bool)
    post[t0, 0] = True
    got = run(pre, post, np.zeros((1, len(lags))), p, dt=1.0)[-1, 0]
    explicit = np.where(lags >= 0, 0.02 * np.exp(-lags / 16.8), -0.015 * np.exp(lags / 33.7))
    np.testing.assert_allclose(got, explicit, rtol=1e-12)
    np.testing.assert_allclose(stdp_window(torch.as_tensor(lags, dtype=F64), p).numpy(), explicit, rtol=1e-15)
    assert got[lags > 0].min() > 0 > got[lags < 0].max()  # Hebbian: causal pairs potentiate
    assert np.all(np.diff(got[lags > 0]) < 0) and np.all(np.diff(got[lags < 0]) < 0)  # decays away from 0
    assert stdp_window(torch.zeros(1, dtype=F64), replace(p, order="post-first")).item() == -0.015


def test_soft_bounds_keep_weights_inside_without_any_clip() -> None:
    rng = np.random.default_rng(1)
    pre, post = rng.random((3000, 8)) < 0.1, rng.random((3000, 4)) < 0.1
    w0 = np.tile([-0.5, 2.0, 0.7, 1.9], (4, 2))  # both bounds included
    soft = STDPParams(tau_pre=20.0, tau_post=20.0, a_plus=0.3, a_minus=-0.3, w_min=-0.5, w_max=2.0,
                      bounds="soft", clip="none")
    w = run(pre, post, w0, soft, dt=1.0)
    assert w.min() >= -0.5 and w.max() <= 2.0
    assert w.max() > 1.9 and w.min() < -0.4  # and they do get close to both bounds
    hard = run(pre, post, w0, replace(soft, bounds="hard"), dt=1.0)
    assert hard.min() < -0.5 or hard.max() > 2.0  # the same trains leave the range without soft bounds


def test_soft_bounds_scale_each_increment() -> None:
    p = STDPParams(a_plus=0.1, a_minus=-0.1, w_min=0.0, w_max=1.0, bounds="soft", clip="none")
    pre, post = np.zeros((2, 1), bool), np.zeros((2, 1), bool)
    pre[0], post[1] = True, True  # one pre→post pair at Δt = 1 ms
    for w0 in (0.0, 0.25, 1.0):
        got = run(pre, post, np.full((1, 1), w0), p, dt=1.0)[-1, 0, 0]
        assert got == pytest.approx(w0 + 0.1 * math.exp(-1 / 20) * (1.0 - w0), rel=1e-14)


def test_order_matters_only_for_same_step_spikes() -> None:
    rng = np.random.default_rng(2)
    pre, post = rng.random((500, 6)) < 0.1, rng.random((500, 3)) < 0.1
    pre[post.any(axis=1)] = False  # no step has both a pre and a post spike
    p = STDPParams(a_plus=0.05, a_minus=-0.05)
    w0 = rng.random((3, 6))
    first, second = run(pre, post, w0, p, 1.0), run(pre, post, w0, replace(p, order="post-first"), 1.0)
    assert np.array_equal(first, second)
    pre2 = pre.copy()
    pre2[250] = post[250] = True
    a, b = run(pre2, post, w0, p, 1.0), run(pre2, post, w0, replace(p, order="post-first"), 1.0)
    assert np.array_equal(a[:250], b[:250]) and not np.array_equal(a[250], b[250])


def test_clip_timing_per_pathway_vs_end_of_step() -> None:
    """w = w_max, a same-step pair: per-pathway clips the potentiation away before the depression."""
    p = STDPParams(a_plus=0.2, a_minus=-0.1, w_max=1.0, order="post-first")
    pre, post = np.ones((1, 1), bool), np.ones((1, 1), bool)
    state = STDPState(torch.tensor([[0.0]], dtype=F64), torch.tensor([[-0.1]], dtype=F64))
    args = (torch.as_tensor(pre, dtype=F64), torch.as_tensor(post, dtype=F64), torch.ones(1, 1, dtype=F64))
    per, _ = stdp_step(*args, state, p, dt=1e-12)
    end, _ = stdp_step(*args, state, replace(p, clip="end-of-step"), dt=1e-12)
    # post first: w += x_pre (0 before the pre spike), then pre: w += y (−0.1 − 0.1 = −0.2)
    assert per.item() == pytest.approx(0.8) and end.item() == pytest.approx(0.8)
    p2 = replace(p, order="pre-first")  # pre: 1 − 0.1 (old y) = 0.9; post: 0.9 + 0.2 = 1.1 -> 1.0
    assert stdp_step(*args, state, p2, dt=1e-12)[0].item() == pytest.approx(1.0)
    up = STDPState(torch.tensor([[0.5]], dtype=F64), torch.tensor([[0.0]], dtype=F64))
    p3 = replace(p, a_minus=-0.3)  # post-first: 1 + 0.5 -> clip 1.0, pre: −0.3 -> 0.7; end-of-step: 1.2 -> 1.0
    assert stdp_step(*args, up, p3, dt=1e-12)[0].item() == pytest.approx(0.7)
    assert stdp_step(*args, up, replace(p3, clip="end-of-step"), dt=1e-12)[0].item() == pytest.approx(1.0)


def test_batch_is_the_mean_of_per_sample_updates_and_one_sample_is_exact() -> None:
    g = torch.Generator().manual_seed(3)
    pre, post = (torch.rand(2, 7, generator=g) < 0.5).double(), (torch.rand(2, 4, generator=g) < 0.5).double()
    w = torch.rand(4, 7, generator=g, dtype=F64)
    state = STDPState(torch.rand(2, 7, generator=g, dtype=F64) * 0.1, -torch.rand(2, 4, generator=g, dtype=F64) * 0.1)
    p = STDPParams(a_plus=0.3, a_minus=-0.3)
    both, new = stdp_step(pre, post, w, state, p, dt=1.0)
    singles = [stdp_step(pre[b:b + 1], post[b:b + 1], w, STDPState(state[0][b:b + 1], state[1][b:b + 1]), p, 1.0)
               for b in range(2)]
    torch.testing.assert_close(both, (singles[0][0] + singles[1][0]) / 2, rtol=0, atol=1e-15)
    torch.testing.assert_close(new.pre_trace[1:], singles[1][1].pre_trace, rtol=0, atol=0)


def test_inputs_are_not_mutated_and_float32_works() -> None:
    pre, post = torch.ones(1, 3), torch.ones(1, 2)
    w = torch.full((2, 3), 0.5)
    state = stdp_init(pre, post, torch.float32)
    copies = [t.clone() for t in (pre, post, w, *state)]
    new_w, new_state = stdp_step(pre, post, w, state, STDPParams(dt=1.0))
    for before, after in zip(copies, (pre, post, w, *state), strict=True):
        assert torch.equal(before, after)
    assert new_w.dtype == torch.float32 and new_state.pre_trace.dtype == torch.float32
    assert not torch.equal(new_w, w)


def test_dt_from_params_or_call() -> None:
    pre, post, w = torch.ones(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64)
    state = STDPState(torch.ones(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))
    p = STDPParams(tau_pre=10.0, dt=2.0)
    a = stdp_step(pre, post, w, state, p)[1].pre_trace.item()
    b = stdp_step(pre, post, w, state, replace(p, dt=None), dt=2.0)[1].pre_trace.item()
    assert a == b == pytest.approx(math.exp(-0.2) + p.a_plus)
    with pytest.raises(ConfigError, match="dt"):
        stdp_step(pre, post, w, state, replace(p, dt=None))


def test_modes_registry() -> None:
    assert set(STDP_MODES) >= {"brian2", "nearest-hard", "all-to-all-soft", "nearest-soft"}
    for name in STDP_MODES:
        assert STDPParams.from_mode(name).mode == name
    b = STDPParams.from_mode("brian2", tau_pre=10.0)
    assert (b.traces, b.bounds, b.order, b.clip, b.w_min) == ("all-to-all", "hard", "pre-first", "per-pathway", 0.0)
    with pytest.raises(ConfigError, match="nope"):
        STDPParams.from_mode("nope")
    with pytest.raises(ConfigError, match="traces"):
        STDPParams.from_mode("brian2", traces="nearest")


@pytest.mark.parametrize("kwargs, key", [
    ({"tau_pre": 0}, "tau_pre"), ({"tau_post": float("inf")}, "tau_post"), ({"a_plus": float("nan")}, "a_plus"),
    ({"w_min": 1.0, "w_max": 1.0}, "w_max"), ({"traces": "pairs"}, "traces"), ({"bounds": "mixed"}, "bounds"),
    ({"order": "random"}, "order"), ({"clip": "sometimes"}, "clip"), ({"dt": -1.0}, "dt"),
    ({"bounds": "soft", "w_max": float("inf")}, "w_max"),
])
def test_bad_params_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        STDPParams(**kwargs)


def test_bad_shapes_name_the_argument() -> None:
    pre, post = torch.zeros(1, 3), torch.zeros(1, 2)
    with pytest.raises(ConfigError, match="weight shape"):
        stdp_step(pre, post, torch.zeros(3, 2), stdp_init(pre, post), STDPParams(), dt=1.0)


@pytest.mark.parametrize(("pre_shape", "post_shape", "fragment"), [
    ((0, 1, 3), (0, 1, 2), "have T = 0 time steps"),
    ((4, 1, 3), (0, 1, 2), "have T = 0 time steps"),
    ((4, 1, 3), (5, 1, 2), "pre_spikes has T = 4 steps but post_spikes T = 5"),
    ((1, 3), (1, 2), "expected time-major [T, B, in]"),
])
def test_stdp_run_refuses_empty_or_unequal_time_axes(pre_shape: tuple, post_shape: tuple, fragment: str) -> None:
    with pytest.raises(ConfigError, match=r"^stdp_run: ") as info:
        stdp_run(torch.zeros(pre_shape), torch.zeros(post_shape), torch.zeros(2, 3), STDPParams(), dt=1.0)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_expected_drift_forms() -> None:
    p = STDPParams(tau_pre=10.0, tau_post=20.0, a_plus=0.01, a_minus=-0.004)
    assert expected_drift(0.02, 0.03, p) == pytest.approx(0.02 * 0.03 * (0.1 - 0.08))
    near = expected_drift(0.02, 0.03, replace(p, traces="nearest"))
    assert near == pytest.approx(0.02 * 0.03 * (0.1 / 1.2 - 0.08 / 1.6))


def test_runs_on_the_available_device() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pre, post = torch.ones(2, 3, device=device), torch.ones(2, 2, device=device)
    w, s = stdp_step(pre, post, torch.zeros(2, 3, device=device), stdp_init(pre, post), STDPParams(dt=1.0))
    assert w.device.type == device and s.post_trace.device.type == device
