"""The case registry (name → Case) and how one case is run: both simulators, then the records.

STDP cases are ``stdp/<mode>/<scenario>`` for every mode of ``spikefa.functional.stdp.STDP_MODES``
and every scenario of ``scenarios.STDP_SCENARIOS``. The enforced reference of each case is the
Brian2 model built from *that mode's* ``STDPParams`` (``reference.stdp_code``); for modes other than
``brian2`` a second, informational record measures the distance to the Brian2-documentation
synapse (``brian2`` mode, same constants), whose origin the note states. LIF cases are
``lif/<name>``: spike rasters must be identical, membranes within tolerance.

``settings.Settings.mutate`` replaces the parameter object on spikefa's side only; the tests use it
to show that a wrong rule (flipped sign, τ off by 10 %, post-first order) fails the cross-check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
import numpy as np
import torch

from spikefa.crosscheck import compare, scenarios
from spikefa.crosscheck.compare import Record
from spikefa.crosscheck.native import spikefa_lif, spikefa_rlif, spikefa_stdp
from spikefa.crosscheck.reference import brian2_lif, brian2_rlif, brian2_stdp
from spikefa.crosscheck.scenarios import BASE, STDP_SCENARIOS, STDPScenario
from spikefa.crosscheck.settings import DRIFT_TOL, Settings
from spikefa.errors import SpikefaError
from spikefa.functional.lif import LIFParams
from spikefa.functional.stdp import STDP_MODES, STDPParams, expected_drift, stdp_window

# Where each mode's deviation from Brian2's documented synapse comes from.
DIFFERENCE: dict[str, str] = {
    "brian2": "",
    "nearest-hard": "nearest-spike traces are reset to A instead of accumulating: differs once a neuron "
                    "spikes twice within a few τ",
    "all-to-all-soft": "soft bounds scale each increment by (w_max − w) or (w − w_min) over the range",
    "nearest-soft": "nearest-spike traces and soft bounds (both differences above)",
    "post-first": "a same-step pre/post pair depresses (A₋) instead of potentiating (A₊)",
    "end-of-step-clip": "one clip after both pathways: differs only when a same-step pair crosses a bound",
}
VARIANT_QUICK = ("poisson-120hz", "window")  # the scenarios each non-brian2 mode runs in the quick set


@dataclass(frozen=True)
class Overlay:
    """Curves for one PNG panel: ours vs the reference [n, k] over x [n], plus labelled extras."""

    title: str
    xlabel: str
    ylabel: str
    x: np.ndarray
    ours: np.ndarray
    ref: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseResult:
    """What one case measured: its records, the curves for its PNG, and its wall time (s)."""

    name: str
    records: tuple[Record, ...]
    overlays: tuple[Overlay, ...]
    seconds: float

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.records)


@dataclass(frozen=True)
class Case:
    """A registered cross-check: `run` builds the inputs, runs both simulators and measures them."""

    name: str
    summary: str
    quick: bool
    run: Callable[[Settings], tuple[list[Record], list[Overlay]]]


# ---------------------------------------------------------------- STDP


def _stdp_params(mode: str, scenario: STDPScenario) -> STDPParams:
    return STDPParams.from_mode(mode, **{**BASE, **scenario.constants})


def _window_records(name: str, sc: STDPScenario, params: STDPParams, ours: np.ndarray, ref: np.ndarray,
                    w0: np.ndarray, tol: float) -> tuple[list[Record], Overlay]:
    lags = torch.tensor(sc.lags_ms, dtype=torch.float64)
    closed = stdp_window(lags, params).numpy()
    if params.bounds == "soft":  # one pair from w0: the increment is scaled by g(w0)
        span = params.w_max - params.w_min
        closed = closed * np.where(closed >= 0, params.w_max - w0[0], w0[0] - params.w_min) / span
    d_ours, d_ref = ours[-1, 0] - w0[0], ref[-1, 0] - w0[0]
    recs = [compare.series(name, "window", d_ours[None], closed[None], tol, "closed form"),
            compare.series(name, "window[brian2]", d_ref[None], closed[None], tol, "closed form",
                           note="Brian2 itself against the closed form")]
    return recs, Overlay("STDP window", "Δt = t_post − t_pre (ms)", "Δw", np.asarray(sc.lags_ms),
                         d_ours[:, None], d_ref[:, None], {"closed form": closed})


def _drift_records(name: str, sc: STDPScenario, params: STDPParams, ours: np.ndarray, ref: np.ndarray,
                   w0: np.ndarray, x: np.ndarray) -> tuple[list[Record], Overlay]:
    r_pre, r_post = sc.rates_hz[0] * 1e-3, sc.rates_hz[1] * 1e-3
    w_start = float(w0.mean())
    rate = expected_drift(r_pre, r_post, params, w_start)
    elapsed = x[-1] + sc.dt
    span = params.w_max - params.w_min
    gp, gm = ((params.w_max - w_start) / span, (w_start - params.w_min) / span) if params.bounds == "soft" else (1, 1)
    scale = r_pre * r_post * (abs(params.a_plus) * params.tau_pre * gp + abs(params.a_minus) * params.tau_post * gm)
    measured = float(ours[-1].mean() - w_start)
    rec = compare.scalar(name, "drift", measured, rate * elapsed, DRIFT_TOL * scale * elapsed,
                         "rate prediction", scale * elapsed,
                         note=f"mean Δw over {ours[0].size} synapses in {elapsed:g} ms; tolerance "
                              f"{DRIFT_TOL:g} of r·r·(|A₊|τ₊ + |A₋|τ₋)·T")
    mean = np.stack([ours.reshape(len(ours), -1).mean(1), ref.reshape(len(ref), -1).mean(1)], 1)
    return [rec], Overlay("mean weight", "t (ms)", "mean w", x, mean[:, :1], mean[:, 1:],
                          {"rate prediction": w_start + rate * (x + sc.dt)})


def _trajectory_overlay(x: np.ndarray, ours: np.ndarray, ref: np.ndarray) -> Overlay:
    flat_o, flat_r = ours.reshape(len(ours), -1), ref.reshape(len(ref), -1)
    pick = np.argsort(-np.abs(flat_r[-1] - flat_r[0]))[:4]
    return Overlay("weights (4 most changed synapses)", "t (ms)", "w", x, flat_o[:, pick], flat_r[:, pick])


def _stdp_runner(mode: str, sc: STDPScenario) -> Callable[[Settings], tuple[list[Record], list[Overlay]]]:
    name = f"stdp/{mode}/{sc.name}"

    def run(settings: Settings) -> tuple[list[Record], list[Overlay]]:
        params = _stdp_params(mode, sc)
        pre, post, w0 = sc.build(sc.dt)
        ref = brian2_stdp(pre, post, w0, params, sc.dt, settings.target, sc.every)
        ours = spikefa_stdp(pre, post, w0, settings.ours(params), sc.dt, settings.dtype, sc.every)
        tol = settings.rel_tol * params.w_max
        records = [compare.series(name, "weight", ours, ref, tol, f"brian2 ({mode} model)", every=sc.every)]
        if mode != "brian2":
            doc = params.with_semantics(**STDP_MODES["brian2"].semantics())
            base = brian2_stdp(pre, post, w0, doc, sc.dt, settings.target, sc.every)
            records.append(compare.series(name, "weight", ours, base, tol, "brian2 (brian2-mode model)",
                                          enforced=False, note=DIFFERENCE.get(mode, STDP_MODES[mode].summary),
                                          every=sc.every))
        x = np.arange(len(ours)) * sc.every * sc.dt
        overlays = [_trajectory_overlay(x, ours, ref)]
        if sc.kind == "window":
            recs, ov = _window_records(name, sc, params, ours, ref, w0, tol)
            records, overlays = records + recs, [ov]
        elif sc.kind == "drift":
            recs, ov = _drift_records(name, sc, params, ours, ref, w0, x)
            records, overlays = records + recs, [ov, *overlays]
        return records, overlays

    return run


# ---------------------------------------------------------------- LIF


Run = Callable[[np.ndarray, LIFParams, Settings], tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]


def _neuron_runner(name: str, params: LIFParams, currents: Callable[[], np.ndarray], both: Run
                   ) -> Callable[[Settings], tuple[list[Record], list[Overlay]]]:
    """Spike times and membranes of spikefa against Brian2 (``both`` runs the two on the currents)."""
    def run(settings: Settings) -> tuple[list[Record], list[Overlay]]:
        cur = currents()
        (ref_s, ref_m), (our_s, our_m) = both(cur, params, settings)
        records = [compare.spikes(name, our_s, ref_s),
                   compare.series(name, "membrane", our_m, ref_m, settings.rel_tol * params.threshold, "brian2")]
        x = np.arange(len(cur)) * params.dt
        pick = np.argsort(-ref_s.sum(0))[:3]
        return records, [Overlay("membrane (3 busiest neurons)", "t (ms)", "U", x, our_m[:, pick], ref_m[:, pick],
                                 {"threshold": np.full(len(x), params.threshold)})]
    return run


def _lif_runner(name: str, params: LIFParams, currents: Callable[[], np.ndarray]
                ) -> Callable[[Settings], tuple[list[Record], list[Overlay]]]:
    return _neuron_runner(name, params, currents, lambda cur, p, s: (
        brian2_lif(cur, p, s.target), spikefa_lif(cur, s.ours(p), s.dtype)))


def _rlif_runner(name: str, params: LIFParams, seed: int) -> Callable[[Settings], tuple[list[Record], list[Overlay]]]:
    """A recurrent layer (snnTorch RLeaky, all-to-all): weak uniform drive, recurrent weights of both
    signs large enough that recurrent spikes change who fires next."""
    weight = np.random.default_rng(seed).normal(0.0, 0.4, (12, 12))
    return _neuron_runner(name, params, lambda: scenarios.lif_uniform(800, 12, 0.25, seed), lambda cur, p, s: (
        brian2_rlif(cur, weight, p, s.target), spikefa_rlif(cur, weight, s.ours(p), s.dtype)))


def _lif_cases() -> list[Case]:
    out = []
    for reset in ("subtract", "zero", "none"):
        p = LIFParams(beta=0.9, threshold=1.0, reset=reset, dt=0.5)
        out.append(Case(f"lif/{reset}", f"LIF reset={reset}, β=0.9, dt=0.5 ms, uniform currents, 1,000 steps", True,
                        _lif_runner(f"lif/{reset}", p, lambda: scenarios.lif_uniform(1000, 20, 0.3, 21))))
    drive = LIFParams(beta=0.95, threshold=1.3, reset="subtract", dt=0.25)
    no_leak = LIFParams(beta=1.0, threshold=1.0, reset="zero", dt=1.0)
    long = LIFParams(beta=0.99, threshold=1.0, reset="subtract", dt=0.1)
    out += [
        Case("lif/poisson-drive", "currents W·s[t] from 50 Poisson inputs at 40 Hz, β=0.95, θ=1.3, dt=0.25 ms", True,
             _lif_runner("lif/poisson-drive", drive,
                         lambda: scenarios.lif_poisson_drive(2000, 50, 10, 40.0, 0.25, 22))),
        Case("lif/edges", "U = θ exactly (no spike), a 3θ kick, negative currents", True,
             _lif_runner("lif/edges", LIFParams(beta=0.9, reset="subtract", dt=1.0), lambda: scenarios.lif_edges(1.0))),
        Case("lif/no-leak", "β = 1 (no leak), reset to zero", True,
             _lif_runner("lif/no-leak", no_leak, lambda: scenarios.lif_uniform(500, 10, 0.2, 23))),
        *(Case(f"cuba/{reset}", f"current-based LIF (snnTorch Synaptic): α=0.8, β=0.9, reset={reset}, dt=0.5 ms, "
               "uniform currents, 1,000 steps", True,
               _lif_runner(f"cuba/{reset}", LIFParams(beta=0.9, alpha=0.8, reset=reset, dt=0.5),
                           lambda: scenarios.lif_uniform(1000, 20, 0.15, 25)))
          for reset in ("subtract", "none")),
        *(Case(f"rlif/{reset}", f"recurrent LIF (snnTorch RLeaky, all-to-all): β=0.9, reset={reset}, dt=0.5 ms, "
               "12 neurons, recurrent weights N(0, 0.4), 800 steps", True,
               _rlif_runner(f"rlif/{reset}", LIFParams(beta=0.9, reset=reset, dt=0.5), 26))
          for reset in ("subtract", "none")),
        Case("lif/long", "β=0.99, dt=0.1 ms, 20,000 steps of uniform currents", False,
             _lif_runner("lif/long", long, lambda: scenarios.lif_uniform(20000, 50, 0.03, 24))),
    ]
    return out


def _stdp_cases() -> list[Case]:
    out = []
    for mode in STDP_MODES:
        for sc in STDP_SCENARIOS.values():
            quick = sc.quick and (mode == "brian2" or sc.name in VARIANT_QUICK)
            out.append(Case(f"stdp/{mode}/{sc.name}", f"{mode}: {sc.summary}", quick, _stdp_runner(mode, sc)))
    return out


CASES: dict[str, Case] = {c.name: c for c in _stdp_cases() + _lif_cases()}
QUICK: tuple[str, ...] = tuple(n for n, c in CASES.items() if c.quick)


def run_case(name: str, settings: Settings | None = None) -> CaseResult:
    """Run one registered case (both simulators) and measure it."""
    if name not in CASES:
        raise SpikefaError(f"cross-check case {name!r} does not exist; `spikefa crosscheck --list` shows them")
    start = time.perf_counter()
    records, overlays = CASES[name].run(settings or Settings())
    return CaseResult(name, tuple(records), tuple(overlays), time.perf_counter() - start)


def run_cases(names: list[str] | tuple[str, ...] | None = None, settings: Settings | None = None) -> list[CaseResult]:
    """Run the named cases (default: the quick set) in registry order of the request."""
    return [run_case(n, settings) for n in (QUICK if names is None else names)]
