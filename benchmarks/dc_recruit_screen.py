"""Which of BindsNET's ``DiehlAndCook2015`` differences makes it recruit neurons faster than spikefa?
A screen for issue #17's early-learning comparison (`benchmarks/dc_early.py` measures the sides).

    OMP_NUM_THREADS=1 python benchmarks/dc_recruit_screen.py --variant V --images 2000 --out DIR

Runs spikefa's Diehl & Cook network (400 neurons, one image at a time, seed 0, the torch path) with
its neuron step replaced by one that can take BindsNET's choices, one or more at once (``--variant``
a comma list, or ``base``: spikefa's own step, which reproduces `dc_early.py`'s ``b1`` side):

- ``delay2``: the inhibition arrives two steps after a spike (Ae → Ai, then Ai → Ae), not one
  (spikefa has this as ``DiehlCookParams.inhibition_delay_ms = 2``);
- ``cross``: every neuron that crosses threshold in a step gains θ₊ (and is reset), not only the one
  that is let spike (BindsNET's ``DiehlAndCookNodes`` raises θ before choosing);
- ``random``: the one spike per step goes to a neuron drawn uniformly among those that crossed
  (``torch.multinomial`` as BindsNET), not to the largest margin.

Writes DIR/VARIANT.json: BindsNET's running accuracy per 250-image window (labels from the previous
window), neurons never fired, spikes per image (`dc_early.running_curve`). A screen, not a product
path: the patch lives here, and only ``delay2`` went into spikefa.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

import spikefa.nn.stdp.diehl_cook as dc_module
from spikefa.data.registry import load_dataset
from spikefa.functional.diehl_cook import DCState
from spikefa.schemas.stdp import DiehlCookParams

CHOICES = ("delay2", "cross", "random")


def patched_step(opts: set[str], gen: torch.Generator) -> tuple[Any, Any]:
    """(dc_init, dc_neuron_step) replacements that take BindsNET's choices in `opts`."""
    history: list[torch.Tensor] = []
    original_init = dc_module.dc_init

    def dc_init(*args: Any, **kw: Any) -> DCState:
        history.clear()
        return original_init(*args, **kw)

    def step(current: torch.Tensor, state: DCState, theta: torch.Tensor, p: DiehlCookParams,
             allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, DCState]:
        decay = math.exp(-p.dt / p.tau_mem)
        v = state.v * decay + p.v_rest * (1.0 - decay)
        delay = 2 if "delay2" in opts else 1
        source = history[-delay] if len(history) >= delay else None
        drive = current
        if p.inhibition > 0 and source is not None and bool(source.any()):
            drive = current - p.inhibition * (source.sum(1, keepdim=True) - source)
        v = torch.where(state.refrac <= 0, v + drive, v)
        refrac = (state.refrac - 1.0).clamp_(min=0.0)
        margin = v - (theta + p.v_thresh)
        fire = margin >= 0
        if allowed is not None:
            fire &= allowed
        spikes = torch.zeros_like(v)
        if bool(fire.any()):
            fired = fire.any(1, keepdim=True)
            if "random" in opts:
                winner = torch.multinomial(fire.to(v.dtype) + (~fired).to(v.dtype), 1, generator=gen)
            else:
                winner = margin.masked_fill(~fire, -math.inf).argmax(1, keepdim=True)
            spikes.scatter_(1, winner, fired.to(v.dtype))
            if "cross" in opts:  # the winner's θ₊ is added by DiehlCookNet.run
                theta.add_((fire & (spikes == 0)).to(v.dtype).sum(0), alpha=p.theta_plus)
            v = v.masked_fill(fire, p.v_reset)
            refrac = refrac.masked_fill(fire, float(p.refrac_steps))
        history.append(spikes)
        return spikes, DCState(v, refrac, spikes, state.traces)
    return dc_init, step


def _dc_early() -> Any:
    spec = importlib.util.spec_from_file_location("dc_early", Path(__file__).with_name("dc_early.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", required=True, help=f"base, or a comma list of: {', '.join(CHOICES)}")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--data-dir", default="../shared/data/mnist")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    opts = set() if a.variant == "base" else set(a.variant.split(","))
    if bad := sorted(opts - set(CHOICES)):
        ap.exit(2, f"dc_recruit_screen: error: --variant {bad[0]!r} is not one of base, {', '.join(CHOICES)}\n")
    dc_module.dc_init, dc_module.dc_neuron_step = patched_step(opts, torch.Generator().manual_seed(123))
    dc_module.DiehlCookNet._use_jit = lambda self, *args, **kw: False  # type: ignore[method-assign]
    early = _dc_early()
    splits = load_dataset("mnist", a.data_dir)
    x, y = splits.x_train[:a.images].flatten(1).float(), splits.y_train[:a.images]
    start = time.perf_counter()
    counts = early.spikefa_side(DiehlCookParams(n_exc=400), 1, 0)(x)
    curve = early.running_curve(counts, y, 250)
    a.out.mkdir(parents=True, exist_ok=True)
    result = {"variant": a.variant, "seconds": round(time.perf_counter() - start, 1), "curve": curve}
    (a.out / f"{a.variant}.json").write_text(json.dumps(result, indent=1) + "\n")
    for row in curve:
        print(row)


if __name__ == "__main__":
    main()
