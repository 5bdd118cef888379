"""Input scenarios of the cross-checks: spike rasters, initial weights and currents, seeded.

Each STDP scenario gives (pre [T, in], post [T, out], w0 [out, in]) for a dt, plus the constants it
needs changed from ``BASE`` (e.g. large amplitudes so that weights hit the bounds). LIF scenarios
give currents [T, N]. Nothing here knows about Brian2 or spikefa's step functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from spikefa.crosscheck import trains

# The constants every STDP case starts from: Brian2's documentation example (dApost = −1.05·dApre·
# τ_pre/τ_post), with unequal time constants so a wrong τ or a swapped pathway cannot cancel out.
TAU_PRE, TAU_POST, A_PLUS, W_MAX = 16.8, 33.7, 0.02, 0.75
BASE: dict[str, float] = {"tau_pre": TAU_PRE, "tau_post": TAU_POST, "a_plus": A_PLUS,
                          "a_minus": -1.05 * A_PLUS * TAU_PRE / TAU_POST, "w_min": 0.0, "w_max": W_MAX}

Inputs = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class STDPScenario:
    """Spike trains for one STDP cross-check; `kind` picks the extra closed-form checks."""

    name: str
    summary: str
    dt: float
    build: Callable[[float], Inputs]
    constants: dict[str, Any] = field(default_factory=dict)
    kind: Literal["trajectory", "window", "drift"] = "trajectory"
    quick: bool = True
    every: int = 1  # record the weights every `every` steps (long runs)
    rates_hz: tuple[float, float] = (0.0, 0.0)  # (pre, post) for the drift prediction
    lags_ms: tuple[float, ...] = ()  # Δt = t_post − t_pre of each pre neuron (window)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _poisson(rate: float, steps: int, n_in: int, n_out: int, seed: int) -> Callable[[float], Inputs]:
    def build(dt: float) -> Inputs:
        rng = _rng(seed)
        pre, post = trains.poisson(rng, steps, n_in, rate, dt), trains.poisson(rng, steps, n_out, rate, dt)
        return pre, post, rng.uniform(0.1, 0.9, (n_out, n_in)) * W_MAX
    return build


def _same_step(dt: float) -> Inputs:
    """All neurons spike together at some steps (incl. runs of consecutive steps), plus noise."""
    rng, steps = _rng(11), 300
    together = [20, 60, 61, 62, 150, 151, 200, 260]
    pre = trains.poisson(rng, steps, 6, 30.0, dt)
    post = trains.poisson(rng, steps, 3, 30.0, dt)
    pre[together], post[together] = True, True
    return pre, post, np.full((3, 6), 0.5 * W_MAX)


def _lags(dt: float, k_max: int = 12, period: int = 80, reps: int = 8) -> Inputs:
    """Pre neuron k fires exactly (k − k_max)·dt after each post spike (before it when negative)."""
    post_steps = [period // 2 + r * period for r in range(reps)]
    steps = post_steps[-1] + period // 2
    pre = trains.at_steps(steps, 2 * k_max + 1, {k: [s + k - k_max for s in post_steps] for k in range(2 * k_max + 1)})
    post = trains.at_steps(steps, 2, {0: post_steps, 1: post_steps[::2]})
    return pre, post, np.full((2, 2 * k_max + 1), 0.5 * W_MAX)


def _bursts(dt: float) -> Inputs:
    """Pre bursts of 5 consecutive steps and post bursts of 3, at offsets −6 … +6 steps."""
    offsets = range(-6, 7)
    pre_on, post_on = {}, {0: [], 1: []}
    for k, off in enumerate(offsets):
        start = 40 + 60 * k
        pre_on[0] = pre_on.get(0, []) + list(range(start, start + 5))
        post_on[0] += list(range(start + off, start + off + 3))
        post_on[1] += [start + off + 1]
    pre_on[1] = [s + 2 for s in pre_on[0]]
    steps = 40 + 60 * len(offsets) + 20
    return trains.at_steps(steps, 2, pre_on), trains.at_steps(steps, 2, post_on), np.full((2, 2), 0.5 * W_MAX)


def _bounds(dt: float) -> Inputs:
    """Weights starting exactly at w_min and w_max (and one in between), large amplitudes, 60 Hz."""
    rng, steps = _rng(5), 600
    pre, post = trains.poisson(rng, steps, 9, 60.0, dt), trains.poisson(rng, steps, 4, 60.0, dt)
    w0 = np.tile(np.array([0.0, W_MAX, 0.5 * W_MAX]), (4, 3))
    return pre, post, w0


WINDOW_LAGS_MS = tuple(float(x) for x in np.arange(-50.0, 50.0 + 0.25, 0.5))


def _window(dt: float) -> Inputs:
    """One post spike at 60 ms; pre neuron k fires once at 60 ms − lag_k (lag = t_post − t_pre)."""
    t0 = int(round(60.0 / dt))
    lags = np.rint(np.asarray(WINDOW_LAGS_MS) / dt).astype(int)
    pre = trains.at_steps(t0 + int(round(60.0 / dt)), len(lags), {k: [t0 - lag] for k, lag in enumerate(lags)})
    post = trains.at_steps(pre.shape[0], 1, {0: [t0]})
    return pre, post, np.full((1, len(lags)), 0.5 * W_MAX)


def _drift(steps: int, n_in: int, n_out: int, rate: float, seed: int) -> Callable[[float], Inputs]:
    def build(dt: float) -> Inputs:
        rng = _rng(seed)
        pre, post = trains.poisson(rng, steps, n_in, rate, dt), trains.poisson(rng, steps, n_out, rate, dt)
        return pre, post, np.full((n_out, n_in), 0.5 * W_MAX)
    return build


# A₋τ_post = −A₊τ_pre/2: a clear net potentiation, small enough never to reach a bound
_DRIFT = {"a_plus": 1e-4, "a_minus": -0.25e-4}
STDP_SCENARIOS: dict[str, STDPScenario] = {s.name: s for s in [
    STDPScenario("poisson-10hz", "independent Poisson trains at 10 Hz, 500 ms", 0.5, _poisson(10.0, 1000, 12, 6, 1)),
    STDPScenario("poisson-40hz", "independent Poisson trains at 40 Hz, 500 ms", 0.5, _poisson(40.0, 1000, 12, 6, 2)),
    STDPScenario("poisson-120hz", "Poisson at 120 Hz: many same-step pairs and clipping", 0.5,
                 _poisson(120.0, 1000, 12, 6, 3)),
    STDPScenario("same-step", "pre and post spiking in the same step (also in runs of steps)", 1.0, _same_step),
    STDPScenario("lags", "pre exactly k·dt before/after post, k = −12 … 12, repeated", 0.5, _lags),
    STDPScenario("bursts", "pre bursts of 5 steps against post bursts of 3 at offsets −6 … 6", 0.25, _bursts),
    STDPScenario("bounds", "weights starting at w_min and w_max, amplitudes ±0.25·w_max", 0.5, _bounds,
                 {"a_plus": 0.25 * W_MAX, "a_minus": -0.25 * W_MAX}),
    STDPScenario("window", "the STDP window, Δt = −50 … +50 ms, against its closed form", 0.5, _window,
                 {"a_plus": 0.1 * W_MAX, "a_minus": -0.1 * W_MAX}, kind="window", lags_ms=WINDOW_LAGS_MS),
    STDPScenario("drift", "mean drift of 1,800 synapses at 30 Hz (2 s) against the rate prediction", 0.5,
                 _drift(4000, 60, 30, 30.0, 7), _DRIFT, kind="drift", every=20, rates_hz=(30.0, 30.0)),
    STDPScenario("poisson-20hz-long", "Poisson at 20 Hz, 5 s at dt = 0.1 ms", 0.1, _poisson(20.0, 50000, 20, 10, 4),
                 quick=False, every=10),
    STDPScenario("drift-long", "mean drift of 5,000 synapses at 20 Hz (20 s) against the rate prediction", 0.5,
                 _drift(40000, 100, 50, 20.0, 8), _DRIFT, kind="drift", quick=False, every=400,
                 rates_hz=(20.0, 20.0)),
]}


# ---------------------------------------------------------------- LIF inputs


def lif_uniform(steps: int, n: int, high: float, seed: int) -> np.ndarray:
    """Currents uniform in [0, high) per step and neuron."""
    return _rng(seed).uniform(0.0, high, (steps, n))


def lif_poisson_drive(steps: int, n_in: int, n: int, rate_hz: float, dt: float, seed: int) -> np.ndarray:
    """Currents W·s[t] from Poisson input spikes s (both simulators get the same numbers)."""
    rng = _rng(seed)
    s = trains.poisson(rng, steps, n_in, rate_hz, dt).astype(np.float64)
    return s @ rng.normal(0.12, 0.1, (n_in, n))


def lif_edges(threshold: float) -> np.ndarray:
    """Hand-made currents: exactly θ from rest (H(0) = 0: no spike), 3θ in one step (several
    consecutive spikes under subtract), negative currents, and silence."""
    steps, cur = 120, np.zeros((120, 4))
    cur[5, 0] = threshold           # U = θ exactly: no spike
    cur[20, 1] = 3.0 * threshold    # one big kick
    cur[30:60, 2] = 0.6 * threshold  # steady drive
    cur[35:45, 3] = -0.5 * threshold
    cur[45:80, 3] = 0.9 * threshold
    assert cur.shape[0] == steps
    return cur
