"""Brian2 reference models built from spikefa's own parameter objects (never hand-copied numbers).

* ``brian2_stdp``: ``SpikeGeneratorGroup`` → ``Synapses`` with event-driven traces, written from an
  ``STDPParams``. Mode ``brian2`` gives the model of Brian2's documentation verbatim
  (``Apre += dApre; w = clip(w + Apost, 0, wmax)`` and the mirror on_post); the other semantics
  change exactly one piece of it: nearest-spike traces ``Apre = dApre``; soft bounds multiply the
  increment by (wmax − w)/(wmax − wmin) or (w − wmin)/(wmax − wmin); "post-first" swaps the
  pathways' ``order`` (Brian2 default: pre −1, post +1); "end-of-step" clips once in the ``end``
  slot with ``run_regularly``.
* ``brian2_lif``: spikefa's discrete LIF (snnTorch ``Leaky``, reset delayed by one step) as a
  ``NeuronGroup``: the ``exact`` state updater decays v by exp(−dt/τ_mem) with τ_mem =
  ``LIFParams.tau_mem`` (so exp(−dt/τ) = β up to one rounding), a ``run_regularly`` in the
  ``groups`` slot adds I[t] from a ``TimedArray`` and applies the reset flagged by the previous
  step's ``reset = 'r = 1'``, the threshold ``v > theta`` records S[t]. Clock dt = ``LIFParams.dt``.

Code generation target: numpy by default (no compiler); "cython" is accepted. The target is set
in ``brian2.prefs`` only for the duration of one call and restored afterwards.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import numpy as np

from spikefa._optional import require
from spikefa.crosscheck.settings import TARGETS
from spikefa.crosscheck.trains import check_time_major, events, raster_from
from spikefa.errors import ConfigError
from spikefa.functional.lif import LIFParams
from spikefa.schemas.neuron import tau_of
from spikefa.functional.stdp import STDPParams


def _run(network: Any, duration: Any) -> None:
    """``network.run(duration)`` with the heap that existed before it frozen out of the garbage collector.

    Brian2's ``Network.run`` starts with ``gc.collect()`` (to warn about objects left out of a
    network); in a process holding torch, sympy and a test session that collection took about a third
    of a second per run, a third of the whole cross-check. ``gc.freeze`` makes it skip the objects that
    already existed; they are handed back to the collector afterwards, even if the run fails. A caller
    that froze the heap itself is left as it was."""
    owner = gc.get_freeze_count() == 0
    if owner:
        gc.freeze()
    try:
        network.run(duration)
    finally:
        if owner:
            gc.unfreeze()


@contextlib.contextmanager
def _codegen(target: str) -> Iterator[Any]:
    if target not in TARGETS:
        raise ConfigError(f"Brian2 target = {target!r} is not allowed; expected one of {', '.join(TARGETS)}")
    b2 = require("brian2")
    old_target, old_float = b2.prefs.codegen.target, b2.prefs.core.default_float_dtype
    b2.prefs.codegen.target, b2.prefs.core.default_float_dtype = target, np.float64
    try:
        yield b2
    finally:
        b2.prefs.codegen.target, b2.prefs.core.default_float_dtype = old_target, old_float


def stdp_code(params: STDPParams) -> dict[str, str]:
    """The Brian2 model text of an STDP variant: model, on_pre, on_post and the end-of-step code."""
    model = ("w : 1\n"
             "dApre/dt = -Apre/taupre : 1 (event-driven)\n"
             "dApost/dt = -Apost/taupost : 1 (event-driven)")
    op = "=" if params.traces == "nearest" else "+="
    if params.bounds == "soft":
        dep, pot = "w + Apost*(w - wmin)/(wmax - wmin)", "w + Apre*(wmax - w)/(wmax - wmin)"
    else:
        dep, pot = "w + Apost", "w + Apre"
    if params.clip == "per-pathway":
        dep, pot = f"clip({dep}, wmin, wmax)", f"clip({pot}, wmin, wmax)"
    end = "w = clip(w, wmin, wmax)" if params.clip == "end-of-step" else ""
    return {"model": model, "on_pre": f"Apre {op} dApre\nw = {dep}", "on_post": f"Apost {op} dApost\nw = {pot}",
            "end": end}


def stdp_namespace(params: STDPParams, ms: Any) -> dict[str, Any]:
    """Brian2 constants of the STDP model, read from the params object."""
    return {"taupre": params.tau_pre * ms, "taupost": params.tau_post * ms, "dApre": params.a_plus,
            "dApost": params.a_minus, "wmin": params.w_min, "wmax": params.w_max}


def brian2_stdp(pre: np.ndarray, post: np.ndarray, w0: np.ndarray, params: STDPParams, dt: float,
                target: str = "numpy", every: int = 1) -> np.ndarray:
    """Weights [⌈T/every⌉, out, in] after steps 0, every, 2·every, …, for rasters pre [T, in],
    post [T, out] (T >= 1 steps of dt ms) and initial weights w0 [out, in]."""
    check_time_major("brian2_stdp", pre=pre, post=post)
    steps, n_in = pre.shape
    n_out = post.shape[1]
    code = stdp_code(params)
    with _codegen(target) as b2:
        ms = b2.ms
        clock = {"dt": dt * ms}
        pi, pt = events(pre, dt)
        qi, qt = events(post, dt)
        src = b2.SpikeGeneratorGroup(n_in, pi, pt * ms, **clock)
        dst = b2.SpikeGeneratorGroup(n_out, qi, qt * ms, **clock)
        syn = b2.Synapses(src, dst, code["model"], on_pre=code["on_pre"], on_post=code["on_post"],
                          namespace=stdp_namespace(params, ms), **clock)
        jj, ii = np.meshgrid(np.arange(n_out), np.arange(n_in), indexing="ij")
        syn.connect(i=ii.ravel(), j=jj.ravel())  # synapse k = j·n_in + i, so w reshapes to [out, in]
        syn.w = np.asarray(w0, dtype=np.float64).ravel()
        if params.order == "post-first":
            syn.pre.order, syn.post.order = 1, -1
        objects = [src, dst, syn]
        if code["end"]:
            objects.append(syn.run_regularly(code["end"], when="end", order=-1, **clock))
        mon = b2.StateMonitor(syn, "w", record=True, when="end", order=1, dt=every * dt * ms)
        _run(b2.Network(*objects, mon), steps * dt * ms)
        w = np.asarray(mon.w)
    records = -(-steps // every)
    if w.shape != (n_out * n_in, records):
        raise RuntimeError(f"Brian2 recorded {w.shape} weights, expected {(n_out * n_in, records)}")
    return w.T.reshape(records, n_out, n_in)


def lif_code(params: LIFParams) -> dict[str, str]:
    """The Brian2 model text of spikefa's LIF: equations, per-step input/reset code, threshold, reset."""
    if params.beta >= 1.0:
        model, method = "v : 1\nr : 1", None  # β = 1: no leak
    elif params.beta <= 0.0:
        model, method = "v : 1\nr : 1", None  # β = 0: the step below starts from v = 0
    else:
        model, method = "dv/dt = -v/tau_mem : 1\nr : 1", "exact"
    first = "v = 0\n" if params.beta <= 0.0 else ""
    drive = "I_in(t, i)"
    if params.alpha is not None:  # current-based: I_syn decays exactly (τ_syn) and takes the input first
        if not 0.0 < params.alpha < 1.0:
            raise ValueError(f"the Brian2 model takes a synaptic decay alpha in (0, 1), got {params.alpha}")
        model += "\ndI_syn/dt = -I_syn/tau_syn : 1"
        method = "exact"
        first += "I_syn = I_syn + I_in(t, i)\n"
        drive = "I_syn"
    step = {"subtract": f"v = v + {drive} - r*theta",
            "zero": f"v = (1 - r)*v + {drive}",
            "none": f"v = v + {drive}"}[params.reset]
    return {"model": model, "method": method or "", "step": f"{first}{step}\nr = 0",
            "threshold": "v > theta", "reset": "r = 1"}


def brian2_rlif(currents: np.ndarray, weight: np.ndarray, params: LIFParams, target: str = "numpy"
                ) -> tuple[np.ndarray, np.ndarray]:
    """(spikes [T, N] bool, membrane [T, N]) of Brian2's version of ``rlif_run``: spikefa's LIF whose
    spikes reach every neuron one step later through recurrent synapses of weight V[post, pre],
    summed into ``rec`` when they happen and added after the leak and the input at the next step."""
    check_time_major("brian2_rlif", currents=currents)
    steps, n = currents.shape
    code = lif_code(params)
    step = code["step"].replace("I_in(t, i)", "I_in(t, i) + rec", 1) + "\nrec = 0"
    with _codegen(target) as b2:
        ms = b2.ms
        clock = {"dt": params.dt * ms}
        drive = b2.TimedArray(np.asarray(currents, dtype=np.float64), dt=params.dt * ms)
        ns = {"I_in": drive, "theta": params.threshold, "tau_mem": params.tau_mem * ms}
        kwargs = {"method": code["method"]} if code["method"] else {}
        group = b2.NeuronGroup(n, code["model"] + "\nrec : 1", threshold=code["threshold"], reset=code["reset"],
                               namespace=ns, **kwargs, **clock)
        regular = group.run_regularly(step, when="groups", order=1, **clock)
        synapses = b2.Synapses(group, group, "w : 1", on_pre="rec_post += w", **clock)
        synapses.connect()
        synapses.w = np.asarray(weight, dtype=np.float64)[np.asarray(synapses.j), np.asarray(synapses.i)]
        spikes = b2.SpikeMonitor(group)
        mon = b2.StateMonitor(group, "v", record=True, when="end", **clock)
        _run(b2.Network(group, regular, synapses, spikes, mon), steps * params.dt * ms)
        raster = raster_from(np.asarray(spikes.i), np.asarray(spikes.t / ms), steps, n, params.dt)
        mem = np.asarray(mon.v).T
    return raster, mem


def brian2_lif(currents: np.ndarray, params: LIFParams, target: str = "numpy") -> tuple[np.ndarray, np.ndarray]:
    """(spikes [T, N] bool, membrane [T, N]) of Brian2's version of ``lif_run`` on currents [T, N], T >= 1."""
    check_time_major("brian2_lif", currents=currents)
    steps, n = currents.shape
    code = lif_code(params)
    with _codegen(target) as b2:
        ms = b2.ms
        clock = {"dt": params.dt * ms}
        drive = b2.TimedArray(np.asarray(currents, dtype=np.float64), dt=params.dt * ms)
        ns = {"I_in": drive, "theta": params.threshold, "tau_mem": params.tau_mem * ms}
        if params.alpha is not None:
            ns["tau_syn"] = tau_of(params.alpha, params.dt) * ms
        kwargs = {"method": code["method"]} if code["method"] else {}
        group = b2.NeuronGroup(n, code["model"], threshold=code["threshold"], reset=code["reset"],
                               namespace=ns, **kwargs, **clock)
        regular = group.run_regularly(code["step"], when="groups", order=1, **clock)
        spikes = b2.SpikeMonitor(group)
        mon = b2.StateMonitor(group, "v", record=True, when="end", **clock)
        _run(b2.Network(group, regular, spikes, mon), steps * params.dt * ms)
        raster = raster_from(np.asarray(spikes.i), np.asarray(spikes.t / ms), steps, n, params.dt)
        mem = np.asarray(mon.v).T
    return raster, mem

