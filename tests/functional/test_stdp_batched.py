"""Batched STDP kernels (spikefa/functional/stdp_batched.py): dense and event kernels against
`stdp_step` (bitwise for one sample; B × the batch mean without clipping), purity unless in place,
refusals, Bernoulli events and incoming-weight normalisation."""

from __future__ import annotations

import pytest
import torch

from spikefa.errors import ConfigError
from spikefa.functional.stdp import STDP_MODES, STDPParams, STDPState, stdp_init, stdp_step
from spikefa.functional.stdp_batched import bernoulli_events, normalize_incoming, stdp_step_batched

from ..helpers import F64, trains


@pytest.mark.parametrize("mode", list(STDP_MODES))
@pytest.mark.parametrize("kernel", ["dense", "events"])
def test_batched_stdp_equals_stdp_step_bitwise_for_one_sample(mode: str, kernel: str) -> None:
    pre, post = trains(60, 1, 7, 5, seed=1)
    params = STDPParams.from_mode(mode, a_plus=0.05, a_minus=-0.06, w_max=0.5)
    w_ref = w_fast = torch.rand(5, 7, generator=torch.Generator().manual_seed(2), dtype=F64) * 0.5
    s_ref = s_fast = stdp_init(pre[0], post[0], F64)
    for x, z in zip(pre, post):
        w_ref, s_ref = stdp_step(x, z, w_ref, s_ref, params, dt=0.5)
        w_fast, s_fast = stdp_step_batched(x, z, w_fast, s_fast, params, dt=0.5, kernel=kernel)  # type: ignore[arg-type]
    assert torch.equal(w_fast, w_ref)
    assert torch.equal(s_fast.pre_trace, s_ref.pre_trace) and torch.equal(s_fast.post_trace, s_ref.post_trace)


def test_batched_sum_is_batch_times_the_mean_of_per_sample_updates_without_clipping() -> None:
    """Hard bounds, no clip: the update does not depend on W, so summing over the batch moves W by
    B times what stdp_step's batch mean moves it, and reduction="mean" moves it exactly as far."""
    pre, post = trains(40, 4, 6, 3, seed=3)
    params = STDPParams(a_plus=0.02, a_minus=-0.015, clip="none")
    w0 = torch.full((3, 6), 0.5, dtype=F64)
    w_ref, w_sum, w_mean, w_ev = w0, w0, w0, w0
    s_ref = s_sum = s_mean = s_ev = stdp_init(pre[0], post[0], F64)
    for x, z in zip(pre, post):
        w_ref, s_ref = stdp_step(x, z, w_ref, s_ref, params, dt=1.0)
        w_sum, s_sum = stdp_step_batched(x, z, w_sum, s_sum, params, dt=1.0)
        w_mean, s_mean = stdp_step_batched(x, z, w_mean, s_mean, params, dt=1.0, reduction="mean")
        w_ev, s_ev = stdp_step_batched(x, z, w_ev, s_ev, params, dt=1.0, kernel="events")
    torch.testing.assert_close(w_mean, w_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(w_sum - w0, 4 * (w_ref - w0), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(w_ev, w_sum, rtol=1e-12, atol=1e-14)


def test_batched_stdp_leaves_its_input_weight_alone_unless_inplace() -> None:
    pre, post = trains(5, 2, 4, 3, seed=4, p_pre=0.8, p_post=0.8)
    w = torch.full((3, 4), 0.5, dtype=F64)
    state = stdp_init(pre[0], post[0], F64)
    params = STDPParams()
    for kernel in ("dense", "events"):
        new, _ = stdp_step_batched(pre[1], post[1], w, STDPState(state.pre_trace + 0.01, state.post_trace - 0.01),
                                   params, dt=1.0, kernel=kernel)  # type: ignore[arg-type]
        assert torch.equal(w, torch.full((3, 4), 0.5, dtype=F64)) and not torch.equal(new, w)
    same, _ = stdp_step_batched(pre[1], post[1], w, STDPState(state.pre_trace + 0.01, state.post_trace), params,
                                dt=1.0, inplace=True)
    assert same is w and not torch.equal(w, torch.full((3, 4), 0.5, dtype=F64))


def test_batched_stdp_rejects_bad_options() -> None:
    pre, post = trains(1, 1, 2, 2)
    with pytest.raises(ConfigError, match="reduction = 'median'"):
        stdp_step_batched(pre[0], post[0], torch.zeros(2, 2, dtype=F64), stdp_init(pre[0], post[0]), STDPParams(),
                          dt=1.0, reduction="median")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="kernel = 'sparse'"):
        stdp_step_batched(pre[0], post[0], torch.zeros(2, 2, dtype=F64), stdp_init(pre[0], post[0]), STDPParams(),
                          dt=1.0, kernel="sparse")  # type: ignore[arg-type]


def test_bernoulli_events_round_trip_and_rate() -> None:
    prob = torch.tensor([[0.0, 0.2, 0.5], [0.1, 0.0, 1.0]])
    events = bernoulli_events(prob, 2000, torch.Generator().manual_seed(0))
    dense = events.dense(2000, 2, 3)
    assert dense[:, 0, 0].sum() == 0 and dense[:, 1, 1].sum() == 0 and dense[:, 1, 2].sum() == 2000
    torch.testing.assert_close(dense.mean(0), prob, atol=0.03, rtol=0)
    t = 17
    b, i = events.step(t)
    assert torch.equal(torch.stack([b, i]), dense[t].nonzero().t())


def test_normalize_incoming_sets_every_row_sum() -> None:
    w = torch.rand(5, 30, generator=torch.Generator().manual_seed(0))
    w[2] = 0.0
    out = normalize_incoming(w, 78.4)
    torch.testing.assert_close(out.sum(1)[[0, 1, 3, 4]], torch.full((4,), 78.4))
    assert torch.equal(out[2], torch.zeros(30))
    with pytest.raises(ConfigError, match="total = -1"):
        normalize_incoming(w, -1.0)
