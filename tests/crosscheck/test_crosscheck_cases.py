"""spikefa against Brian2 on the quick case set, and proof that the cross-check can fail.

The quick set (every case marked quick: each STDP scenario in mode brian2, two scenarios for each
other mode, the LIF cases) runs once per module. SPIKEFA_CROSSCHECK_LONG=1 also runs the long cases.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

pytest.importorskip("brian2")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pyparsing 3.2 inside brian2 2.9

from spikefa.crosscheck import CASES, QUICK, CaseResult, Settings, run_case, run_cases  # noqa: E402
from spikefa.crosscheck.reference import lif_code, stdp_code  # noqa: E402
from spikefa.errors import SpikefaError  # noqa: E402
from spikefa.functional.lif import LIFParams  # noqa: E402
from spikefa.functional.stdp import STDP_MODES, STDPParams  # noqa: E402


@pytest.fixture(scope="module")
def quick() -> dict[str, CaseResult]:
    return {r.name: r for r in run_cases()}


def test_every_enforced_record_passes(quick: dict[str, CaseResult]) -> None:
    bad = [r for res in quick.values() for r in res.records if r.failed]
    assert not bad, bad


def test_brian2_mode_matches_brian2_to_1e_9_w_max(quick: dict[str, CaseResult]) -> None:
    names = [n for n in quick if n.startswith("stdp/brian2/")]
    assert len(names) >= 8
    for name in names:
        (rec,) = [r for r in quick[name].records if r.quantity == "weight"]
        assert rec.enforced and rec.max_abs <= 1e-9 * 0.75, rec  # w_max = 0.75 in every case


def test_lif_spike_times_identical(quick: dict[str, CaseResult]) -> None:
    lif = [r for n, res in quick.items() if n.startswith("lif/") for r in res.records if r.quantity == "spike_times"]
    assert len(lif) >= 5 and all(r.max_abs == 0 for r in lif)
    assert all("0 reference spikes" not in r.note for r in lif)  # every case does spike


def test_every_mode_is_checked_and_its_distance_reported(quick: dict[str, CaseResult]) -> None:
    for mode in STDP_MODES:
        assert any(n.startswith(f"stdp/{mode}/") for n in quick), mode
        if mode == "brian2":
            continue
        info = [r for n, res in quick.items() if n.startswith(f"stdp/{mode}/") for r in res.records if not r.enforced]
        assert info and all(r.note for r in info)
        assert any(not r.passed for r in info), f"{mode} never differs from Brian2's documented synapse"


def test_window_and_drift_against_closed_forms(quick: dict[str, CaseResult]) -> None:
    window = {r.quantity: r for r in quick["stdp/brian2/window"].records}
    assert window["window"].passed and window["window[brian2]"].passed
    (drift,) = [r for r in quick["stdp/brian2/drift"].records if r.quantity == "drift"]
    assert drift.passed and drift.max_rel < 0.05
    assert json.dumps(drift.as_json())  # plain Python types only


@pytest.mark.parametrize("case, mutate", [
    ("stdp/brian2/poisson-40hz", lambda p: replace(p, a_minus=-p.a_minus)),        # sign flipped
    ("stdp/brian2/poisson-40hz", lambda p: replace(p, tau_pre=1.1 * p.tau_pre)),   # τ off by 10 %
    ("stdp/brian2/same-step", lambda p: replace(p, order="post-first")),           # post before pre
    ("stdp/brian2/window", lambda p: replace(p, tau_post=1.1 * p.tau_post)),
    ("stdp/nearest-hard/poisson-120hz", lambda p: replace(p, traces="all-to-all")),
    ("lif/subtract", lambda p: replace(p, reset="zero")),
    ("cuba/subtract", lambda p: replace(p, alpha=0.7)),                             # synaptic decay off
    ("cuba/subtract", lambda p: replace(p, alpha=None)),                            # no synaptic current
    ("rlif/subtract", lambda p: replace(p, reset="zero")),                          # recurrent layer, wrong reset
], ids=["sign", "tau", "order", "window-tau", "nearest-vs-all", "lif-reset", "cuba-alpha", "cuba-as-lif",
        "rlif-reset"])
def test_a_wrong_variant_fails(case: str, mutate) -> None:
    result = run_case(case, Settings(mutate=mutate))
    assert result.failed
    failing = [r for r in result.records if r.failed]
    assert all(r.first_step is not None or r.quantity == "drift" for r in failing)


def test_brian2_mode_model_is_the_documentation_example() -> None:
    code = stdp_code(STDPParams.from_mode("brian2"))
    assert code["on_pre"] == "Apre += dApre\nw = clip(w + Apost, wmin, wmax)"
    assert code["on_post"] == "Apost += dApost\nw = clip(w + Apre, wmin, wmax)"
    assert "(event-driven)" in code["model"] and code["end"] == ""
    assert lif_code(LIFParams(beta=0.9))["method"] == "exact"


def test_registry_and_unknown_case() -> None:
    assert set(QUICK) <= set(CASES) and any(not c.quick for c in CASES.values())
    with pytest.raises(SpikefaError, match="no/such"):
        run_case("no/such")


@pytest.mark.skipif(not os.environ.get("SPIKEFA_CROSSCHECK_LONG"), reason="set SPIKEFA_CROSSCHECK_LONG=1 (minutes)")
def test_long_cases() -> None:
    for name, case in CASES.items():
        if not case.quick:
            assert not run_case(name).failed, name


def test_the_recurrent_weights_direction_matters() -> None:
    """V[post, pre] transposed is another network: the Brian2 model and spikefa part at some step,
    so the recurrent case checks the direction of every synapse, not only the leak."""
    import numpy as np

    from spikefa.crosscheck import scenarios
    from spikefa.crosscheck.native import spikefa_rlif
    from spikefa.crosscheck.reference import brian2_rlif

    rng = np.random.default_rng(26)
    cur = scenarios.lif_uniform(400, 12, 0.25, 26)
    weight = rng.normal(0.0, 0.4, (12, 12))
    params = LIFParams(beta=0.9, dt=0.5)
    ref_s, _ = brian2_rlif(cur, weight, params)
    ours, _ = spikefa_rlif(cur, weight, params)
    flipped, _ = spikefa_rlif(cur, weight.T, params)
    assert np.array_equal(ours, ref_s) and ref_s.sum() > 50 and not np.array_equal(flipped, ref_s)


def test_brian2_runs_hand_the_frozen_heap_back_even_when_they_fail() -> None:
    import gc

    from spikefa.crosscheck.reference import _run

    class Network:
        def __init__(self, fail: bool) -> None:
            self.fail, self.frozen_during = fail, -1

        def run(self, duration: float) -> None:
            self.frozen_during = gc.get_freeze_count()
            if self.fail:
                raise RuntimeError("boom")

    assert gc.get_freeze_count() == 0
    ok = Network(fail=False)
    _run(ok, 1.0)
    assert ok.frozen_during > 0 and gc.get_freeze_count() == 0  # frozen during the run only
    bad = Network(fail=True)
    with pytest.raises(RuntimeError, match="boom"):
        _run(bad, 1.0)
    assert bad.frozen_during > 0 and gc.get_freeze_count() == 0
    gc.freeze()  # a caller's own freeze is left as it was
    try:
        before = gc.get_freeze_count()
        _run(Network(fail=False), 1.0)
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()
