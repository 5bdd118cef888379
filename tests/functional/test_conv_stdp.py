"""The convolutional STDP functions (Kheradpisheh et al. 2018) against explicit Python/numpy loops
that follow the paper's definitions one neuron, one step, one winner at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikefa.functional.conv_stdp import (dog_filter, dog_kernel, first_spikes, if_final_potential, if_potentials,
                                          k_winners, latency_code, latency_features, lateral_inhibition, potential_features,
                                          spike_pool, spike_train, stdp_rates, stdp_update)

T = 6


def _times(gen: torch.Generator, shape: tuple[int, ...], never: float = 0.3) -> torch.Tensor:
    t = torch.randint(0, T, shape, generator=gen).double()
    return torch.where(torch.rand(shape, generator=gen, dtype=torch.float64) < never, torch.full_like(t, T), t)


def test_latency_code_orders_by_intensity_and_zero_never_fires() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 5, 5, generator=gen)
    x[x < 0.3] = 0.0
    t = latency_code(x, T)
    for b in range(3):
        flat_x, flat_t = x[b].flatten(), t[b].flatten()
        assert float(flat_t[flat_x.argmax()]) == 0.0  # the strongest first
        for i in range(flat_x.numel()):
            if flat_x[i] == 0:
                assert flat_t[i] == T
            else:
                assert 0 <= flat_t[i] < T
                stronger = flat_x > flat_x[i]
                assert bool((flat_t[stronger] <= flat_t[i]).all())  # stronger never later
    assert torch.equal(spike_train(t, T).sum(0), (t < T).double().to(t.dtype))  # each input spikes once at most


def test_dog_filter_on_off_channels() -> None:
    k = dog_kernel(7, 1.0, 2.0)
    assert abs(float(k.sum())) < 1e-5 and float(k.max()) == pytest.approx(1.0) and float(k[3, 3]) == k.max()
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    out = dog_filter(x, k)
    assert out.shape == (1, 2, 9, 9) and bool((out >= 0).all())
    assert float(out[0, 0, 4, 4]) == pytest.approx(1.0) and float(out[0, 1, 4, 4]) == 0.0  # on-centre at the dot
    assert bool(((out[0, 0] > 0) & (out[0, 1] > 0)).sum() == 0)  # on and off never both
    assert float(dog_filter(torch.ones(1, 1, 15, 15), k)[0, :, 7, 7].abs().max()) < 1e-5  # flat: no response


def test_if_first_spikes_against_a_step_by_step_loop() -> None:
    gen = torch.Generator().manual_seed(1)
    times = _times(gen, (2, 3, 6, 6))
    weight = torch.rand(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    theta = 6.5
    v = if_potentials(times, weight, T)
    t_out, v_fire = first_spikes(v, theta)
    w = weight.numpy()
    for b in range(2):
        for f in range(4):
            for y in range(4):
                for x in range(4):
                    pot, fired_at, pot_at = 0.0, T, None
                    for step in range(T):  # integrate the spikes arriving at this step, no leak, no reset
                        patch = times[b, :, y:y + 3, x:x + 3].numpy()
                        pot += float((w[f] * (patch == step)).sum())
                        assert v[step, b, f, y, x].item() == pytest.approx(pot)
                        if fired_at == T and pot >= theta:
                            fired_at, pot_at = step, pot
                    assert t_out[b, f, y, x].item() == fired_at
                    if pot_at is not None:
                        assert v_fire[b, f, y, x].item() == pytest.approx(pot_at)
    assert bool((t_out < T).any()) and bool((t_out == T).any())  # the case mixes firing and silent neurons


def test_lateral_inhibition_against_a_loop() -> None:
    gen = torch.Generator().manual_seed(2)
    times = _times(gen, (3, 5, 4, 4), never=0.4)
    pot = torch.randint(0, 3, (3, 5, 4, 4), generator=gen).double()  # ties in potential too
    out = lateral_inhibition(times, pot, T)
    for b in range(3):
        for y in range(4):
            for x in range(4):
                best = None
                for f in range(5):
                    t = times[b, f, y, x].item()
                    if t < T and (best is None or (t, -pot[b, f, y, x].item()) < (times[b, best, y, x].item(),
                                                                                  -pot[b, best, y, x].item())):
                        best = f
                for f in range(5):
                    expect = times[b, f, y, x].item() if f == best else T
                    assert out[b, f, y, x].item() == expect


def test_spike_pool_takes_the_earliest() -> None:
    gen = torch.Generator().manual_seed(3)
    times = _times(gen, (2, 3, 6, 6))
    out = spike_pool(times, 2, 2)
    for b, c, y, x in np.ndindex(2, 3, 3, 3):
        assert out[b, c, y, x].item() == times[b, c, 2 * y:2 * y + 2, 2 * x:2 * x + 2].min().item()


def test_k_winners_against_a_loop() -> None:
    gen = torch.Generator().manual_seed(4)
    times = _times(gen, (4, 3, 7, 7), never=0.5)
    pot = torch.randint(0, 4, (4, 3, 7, 7), generator=gen).double()
    k, r = 4, 1
    win = k_winners(times, pot, k, r, T)
    for b in range(4):
        allowed = {(f, y, x) for f, y, x in np.ndindex(3, 7, 7) if times[b, f, y, x] < T}
        expect = []
        while allowed and len(expect) < k:
            f, y, x = min(allowed, key=lambda n: (times[b][n].item(), -pot[b][n].item(), n))
            expect.append([f, y, x])
            allowed = {(g, yy, xx) for g, yy, xx in allowed if g != f and max(abs(yy - y), abs(xx - x)) > r}
        expect += [[-1, -1, -1]] * (k - len(expect))
        assert win[b].tolist() == expect
    assert bool((win[..., 0] >= 0).sum() > 4)  # several winners actually chosen


@pytest.mark.parametrize("soft", [True, False])
def test_stdp_update_against_a_loop(soft: bool) -> None:
    gen = torch.Generator().manual_seed(5)
    pre = _times(gen, (3, 2, 6, 6))
    weight = torch.rand(3, 2, 3, 3, generator=gen, dtype=torch.float64)
    post = _times(gen, (3, 3, 4, 4), never=0.2)
    winners = k_winners(post, torch.zeros_like(post), 3, 1, T)
    a_plus, a_minus = 0.01, -0.0075
    delta = stdp_update(weight, pre, post, winners, a_plus, a_minus, soft=soft)
    expect = np.zeros((3, 2, 3, 3))
    count = np.zeros(3)
    w = weight.numpy()
    for b in range(3):
        for f, y, x in winners[b].tolist():
            if f < 0:
                continue
            count[f] += 1
            t_post = post[b, f, y, x].item()
            for c, i, j in np.ndindex(2, 3, 3):
                a = a_plus if pre[b, c, y + i, x + j].item() <= t_post else a_minus
                expect[f, c, i, j] += a * (w[f, c, i, j] * (1 - w[f, c, i, j]) if soft else 1.0)
    expect /= np.maximum(count, 1)[:, None, None, None]
    assert count.sum() >= 3 and np.any(expect > 0) and np.any(expect < 0)
    np.testing.assert_allclose(delta.numpy(), expect, rtol=1e-12, atol=1e-15)


def test_stdp_padding_counts_as_never() -> None:
    pre = torch.zeros(1, 1, 2, 2, dtype=torch.float64)  # every real input fires at 0
    weight = torch.full((1, 1, 3, 3), 0.5, dtype=torch.float64)
    post = torch.tensor([[[[1.0, T], [T, T]]]], dtype=torch.float64)
    winners = torch.tensor([[[0, 0, 0]]])
    delta = stdp_update(weight, pre, post, winners, 0.1, -0.05, padding=1)[0, 0]
    # the 3x3 field at (0, 0) with padding 1 covers rows/cols -1..1: real inputs at [1:, 1:]
    assert torch.allclose(delta[1:, 1:], torch.full((2, 2), 0.025, dtype=torch.float64))
    assert torch.allclose(delta[0], torch.full((3,), -0.0125, dtype=torch.float64))


def test_rates_and_features() -> None:
    assert stdp_rates(0.004, 0.75, 0, 500, 0.15) == (0.004, pytest.approx(-0.003))
    assert stdp_rates(0.004, 0.75, 1499, 500, 0.15)[0] == pytest.approx(0.016)
    assert stdp_rates(0.004, 0.75, 10 ** 6, 500, 0.15) == (0.15, pytest.approx(-0.1125))
    assert stdp_rates(0.004, 0.75, 10 ** 6, 0, 0.15)[0] == 0.004
    v = torch.arange(24.0).view(1, 2, 3, 4)
    assert potential_features(v).tolist() == [[11.0, 23.0]]
    t = torch.full((1, 2, 3, 3), float(T))
    t[0, 0, 1, 2] = 3.0
    assert latency_features(t, T).tolist() == [[pytest.approx(1 - 3 / T), 0.0]]
    assert math.isclose(float(latency_features(torch.zeros(1, 1, 2, 2), T)[0, 0]), 1.0)


def test_windowed_features_are_the_window_maxima_and_one_window_is_the_global_max() -> None:
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(3, 2, 4, 4, generator=gen, dtype=torch.float64)
    t = torch.randint(0, T + 1, (3, 2, 4, 4), generator=gen).double()
    windows = potential_features(v, 2).view(3, 2, 2, 2)  # map, window row, window column
    for r in range(2):
        for c in range(2):
            assert torch.equal(windows[:, :, r, c], v[:, :, 2 * r:2 * r + 2, 2 * c:2 * c + 2].amax((2, 3)))
    assert torch.equal(potential_features(v, 4), potential_features(v))
    assert torch.equal(latency_features(t, T, 4), latency_features(t, T))
    first = latency_features(t, T, 2).view(3, 2, 2, 2)[:, :, 1, 0]
    assert torch.equal(first, 1.0 - t[:, :, 2:, :2].amin((2, 3)) / T)


def test_first_spike_decision_is_the_class_of_the_earliest_spike() -> None:
    from spikefa.functional.conv_stdp import first_spike_decision

    gen = torch.Generator().manual_seed(6)
    times = _times(gen, (5, 6, 3, 3), never=0.6)
    times[4] = T  # an image where nothing fires
    pot = torch.rand(5, 6, 3, 3, generator=gen, dtype=torch.float64) * 4
    scores, winners = first_spike_decision(times, pot, 3, T)
    assert scores.shape == (5, 3) and winners.shape == (5, 1, 3)
    for b in range(4):
        best = min(np.ndindex(6, 3, 3), key=lambda n: (times[b][n].item() if times[b][n] < T else math.inf,
                                                         -pot[b][n].item(), n))
        assert winners[b, 0].tolist() == list(best)
        assert int(scores[b].argmax()) == best[0] // 2  # maps 0-1 -> class 0, 2-3 -> 1, 4-5 -> 2
    assert winners[4, 0].tolist() == [-1, -1, -1]
    assert int(scores[4].argmax()) == int(pot[4].amax((1, 2)).argmax()) // 2  # nothing fired: largest potential


def test_reward_and_punishment_rates_per_winner() -> None:
    from spikefa.functional.conv_stdp import reward_rates

    winners = torch.tensor([[[0, 0, 0]], [[3, 0, 0]], [[5, 0, 1]], [[-1, -1, -1]]])
    labels = torch.tensor([0, 0, 2, 1])
    a_plus, a_minus = reward_rates(winners, labels, 3, 6, (0.004, -0.003), (-0.004, 0.0005))
    assert a_plus.tolist() == [[0.004], [-0.004], [0.004], [-0.004]]  # map 3 is class 1: punished
    assert a_minus.tolist() == [[-0.003], [0.0005], [-0.003], [0.0005]]
    pre = torch.zeros(4, 1, 3, 3, dtype=torch.float64)
    pre[:, :, 0, 0] = T  # one input never fired: after the post spike
    weight = torch.full((6, 1, 2, 2), 0.5, dtype=torch.float64)
    post = torch.ones(4, 6, 2, 2, dtype=torch.float64)
    delta = stdp_update(weight, pre, post, winners, a_plus, a_minus)
    assert delta[0, 0, 1, 1] > 0 and delta[0, 0, 0, 0] < 0  # reward: causal up, the silent input down
    assert delta[3, 0, 1, 1] < 0 and delta[3, 0, 0, 0] > 0  # punishment: the reverse
    assert bool((delta[[1, 2, 4]] == 0).all())  # maps without a winner (the -1 row counts for none)


def test_final_potential_alone_is_the_last_step_of_all_of_them() -> None:
    gen = torch.Generator().manual_seed(3)
    times = _times(gen, (3, 2, 7, 7))
    weight = torch.rand(5, 2, 3, 3, generator=gen, dtype=torch.float64)
    for stride, padding in ((1, 0), (2, 1)):
        whole = if_potentials(times, weight, T, stride, padding)
        assert torch.allclose(if_final_potential(times, weight, T, stride, padding), whole[-1], atol=1e-12)
