"""Cross-checks of spikefa's LIF step and STDP modes against Brian2 (``spikefa crosscheck``).

Both simulators get the same inputs (spike rasters as ``SpikeGeneratorGroup`` events, currents as
a ``TimedArray``) and Brian2's models are generated from the very ``LIFParams``/``STDPParams``
objects spikefa runs. Per quantity (weights, membranes, spike times, the STDP window, the mean
drift) a ``Record`` reports the max absolute and relative deviation, the first step where they
part and whether the tolerance holds; ``--out`` writes PNG overlays.

What is enforced, and where deviations come from:

* every STDP mode against *its own* Brian2 model (``reference.stdp_code``: the documentation
  synapse with the one piece the mode changes): ≤ 1e-9·w_max in float64. The remaining
  ~1e-15 is round-off: spikefa decays traces by exp(−dt/τ) every step, Brian2 by
  exp(−(t − lastupdate)/τ) at each event, so the two products round differently.
* mode ``brian2`` is the documentation synapse itself. For the other modes an informational
  record (``enforced = False``) gives the distance to it, which is the semantic difference of the
  mode and nothing else (``cases.DIFFERENCE``): nearest-spike trace resets, soft-bound factors,
  the sign of a same-step pair (post-first), or clipping once per step instead of per pathway.
* the window against ``stdp_window`` (closed form) for spikefa and for Brian2; the mean drift of
  independent Poisson trains against ``expected_drift`` within 5 % of r_pre·r_post·(|A₊|τ_pre +
  |A₋|τ_post)·T (sampling noise, the start-up transient ≈ τ/T, and (A₊ − A₋)·dt/2 from the
  discrete window: a same-step pair counts fully).
* LIF: identical spike rasters; membranes ≤ 1e-9·θ (Brian2's exact updater multiplies by
  exp(−dt/τ_mem) with τ_mem = ``LIFParams.tau_mem``, which is β up to one rounding).

float32 on spikefa's side is checked to 1e-4·w_max (or θ); Brian2 always runs float64.

Layout: ``trains`` (rasters, events), ``scenarios`` (seeded inputs), ``reference`` (Brian2 models),
``native`` (spikefa's side), ``compare`` (the protocol), ``cases`` (registry and runner), ``plots``
(PNG overlays), ``cli``. Brian2 is imported only when a case runs (``spikefa[crosscheck]``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Public names -> their module; loaded on first use so that ``spikefa.crosscheck.cli`` (imported when
# the main CLI builds its parser) does not pull in torch.
_PUBLIC: dict[str, str] = {
    "CASES": "cases", "QUICK": "cases", "Case": "cases", "CaseResult": "cases", "run_case": "cases",
    "run_cases": "cases", "Record": "compare", "Settings": "settings",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'spikefa.crosscheck' has no attribute {name!r}")
    return getattr(import_module(f"spikefa.crosscheck.{_PUBLIC[name]}"), name)
