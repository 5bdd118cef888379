"""Screen one change at a time to 4-bit-state QAT (default `snn-1x800-lif`, int8-edge, 4-bit weights):
a research script that patches spikefa's QAT internals for one run, not a supported interface.

    OMP_NUM_THREADS=1 python benchmarks/qat_state_screen.py --out DIR [--model CARD] [--qat PROFILE[:BITS]] \\
        [--width F] [--half M] [--trunc] [--clip] [--start Q] [--per-neuron] [--mint] [--float-state I,J] \\
        [--init FLOAT_RUN] [-- --limit-train 10000 --epochs 3]

- ``--width F``: the surrogate F times wider than QAT's rescaled one (atan α / F), so a neuron whose
  membrane sits units above θ still gets a gradient (it acts where QAT moves a layer's threshold,
  which on `snn-1x800-lif` is every layer);
- ``--half M``: the threshold at M units of the shared grid instead of 2^(k−2) (must stay below the
  state's top, 2^(k−1) − 1: the spike is U > θ, so θ at the top never fires in the integer simulator);
- ``--trunc``: the membrane rounded toward zero instead of floored (the negative state no longer
  sticks; int8-edge's integer simulator floors, so this run is not bit-exact to any profile);
- ``--clip``: the master weights clipped to the grid's range before each read (BinaryConnect);
- ``--start Q``: the start's unit s_l = max|W_l|/Q (QAT's own: Q = 1, ternary; Q < 1 sparser);
- ``--per-neuron``: each neuron's own θ_i = 2^(k−2)·max_j|W_ij| (its own grid);
- ``--mint``: MINT's order (the step fires on a full-width sum, only the kept U − S·θ saturates) with
  the card's θ; not what the integer simulator runs;
- ``--float-state I,J``: those layers' membranes stay float (diagnosis: which layer's state limits);
- ``--init RUN``: start from a float run's weights (`spikefa train --init-from RUN`).

Everything after ``--`` goes to ``spikefa train`` (data on ../shared/data/mnist). The patches live in
this process only: they are written to DIR/screen.json, and the run must not be resumed or exported
elsewhere (a fresh process would run it without them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import spikefa.export.qat as qat
import spikefa.export.quantize as quantize
from spikefa.cli import main


def _in_units(grid: qat._Grid, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(the state unit shaped to broadcast over `mem`, mem in units), or None before the first forward."""
    if grid.unit is None:
        return None
    u = grid.unit.to(mem.dtype)
    u = u.reshape(-1, 1, 1) if mem.ndim == 4 else u  # a conv layer's membrane [B, C, H, W]
    return u, mem.detach() / u


def _truncating(self: qat.StateQuant, mem: torch.Tensor) -> torch.Tensor:
    units = _in_units(self.grid, mem)
    if units is None:
        return mem
    u, v = units
    q = torch.trunc(v + 1e-6 * v.sign()).clamp(-self.top, self.top) * u
    return mem + (q - mem).detach()


class _MintState:
    """MINT's order (Yin et al. 2023): the step accumulates at full width and fires on it; only the
    state kept for the next step, U − S·θ, is saturated to the narrow range. With the reset applied one
    step late (snnTorch), the kept pre-reset U is clamped to [−top, top + S·θ]."""

    def __init__(self, grid: qat._Grid, state_bits: int, neuron: torch.nn.Module) -> None:
        self.grid, self.top, self.neuron = grid, 2 ** (state_bits - 1) - 1, neuron

    def __call__(self, mem: torch.Tensor) -> torch.Tensor:
        units = _in_units(self.grid, mem)
        if units is None:
            return mem
        u, v = units
        q = torch.floor(v + 1e-6 * (1 + v.abs()))
        th = torch.as_tensor(self.neuron.threshold, dtype=mem.dtype) / u
        fired = (q > th).to(mem.dtype)
        q = torch.minimum(torch.maximum(q, torch.full_like(q, -self.top)), self.top + fired * th)
        return mem + (q * u - mem).detach()


def _place_per_neuron(net, profile, folds):  # type: ignore[no-untyped-def]
    """θ_i = 2^(k−2)·max_j|W_ij| per output neuron (channel): each neuron's own ternary start."""
    n = profile.neuron
    half = qat.shared_half(profile)
    for syn, neuron in zip(net.synapses, net.neurons):
        layer = next(m for m in syn.modules() if isinstance(m, qat.WEIGHTED))
        w = layer.weight.detach().abs().reshape(layer.weight.shape[0], -1) / folds.get(id(layer), (1.0, 1.0))[0]
        amax = w.amax(dim=1).clamp_min(1e-12)
        theta = half * 2**n.threshold_shift * amax / 2 ** profile.weights.exponent[0]
        before = float(neuron.threshold.detach().max())
        shape = (-1, 1, 1) if isinstance(layer, torch.nn.Conv2d) else (-1,)
        neuron.threshold = theta.to(neuron.threshold.dtype).reshape(shape).clone()
        qat._rescale_surrogate(neuron, before / float(theta.median()))


def _thresholds_per_neuron(net):  # type: ignore[no-untyped-def]
    out = {}
    for syn, neuron in zip(net.synapses, net.neurons):
        for m in syn.modules():
            if isinstance(m, qat.WEIGHTED):
                t = neuron.threshold.detach().double().flatten()
                out[id(m)] = float(t) if t.numel() == 1 else t
    return out


def _steps_per_neuron(self, w, bias=None):  # type: ignore[no-untyped-def]
    b = None if bias is None else bias.detach().double() / self.bias_fold
    flat = w.detach().double().reshape(w.shape[0], -1) / self.fold
    n = self.profile.neuron
    theta = self.theta
    if n.shared_scale and theta is not None:
        half = qat.shared_half(self.profile)
        cap = qat.shared_levels(self.profile)[1] * 2 ** self.profile.weights.exponent[0] * theta / (half * 2**n.threshold_shift)
        cap = cap[:, None] if isinstance(cap, torch.Tensor) else cap
        flat = torch.minimum(torch.maximum(flat, -cap + 0 * flat), cap + 0 * flat)
    e, _, unit = qat.layer_grid(flat, theta, self.profile, b)
    self.unit = unit.to(w.dtype)
    return (unit * 2**e * self.fold).to(w.dtype), self.unit


_forward = qat.FakeQuantWeight.forward


def _clipping(self: qat.FakeQuantWeight, w: torch.Tensor) -> torch.Tensor:
    """Clip the master weights to the grid's range before reading them (BinaryConnect's clip,
    Courbariaux et al. 2015): beyond it the straight-through gradient moves a weight the forward never sees."""
    lo, hi = qat.shared_levels(self.grid.profile)
    step, _ = self.grid.steps(w)
    step = qat._col(step, w)
    with torch.no_grad():
        w.copy_(torch.minimum(torch.maximum(w, (lo - 0.5) * step), (hi + 0.5) * step))
    return _forward(self, w)


def run() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=float, default=1.0, help="surrogate width factor (default 1: QAT's own)")
    ap.add_argument("--half", type=int, default=0, help="threshold mantissa on the shared grid (0: QAT's own)")
    ap.add_argument("--trunc", action="store_true", help="round the membrane toward zero (not bit-exact)")
    ap.add_argument("--clip", action="store_true", help="clip the master weights to the grid's range")
    ap.add_argument("--float-state", default="", help="comma list of layer indices whose membrane stays float (diagnosis)")
    ap.add_argument("--mint", action="store_true", help="MINT's order: wide accumulator, narrow kept state; card θ")
    ap.add_argument("--start", type=float, default=1.0, help="s_l = max|W_l| / START at QAT's start (1: QAT's own)")
    ap.add_argument("--model", default="snn-1x800-lif", help="card (default snn-1x800-lif)")
    ap.add_argument("--qat", default="int8-edge:4", help="PROFILE[:BITS] (default int8-edge:4)")
    ap.add_argument("--init", default="", help="start from this float run's checkpoint weights (fine-tune)")
    ap.add_argument("--per-neuron", action="store_true", help="each neuron's own θ and grid (per-neuron MINT start)")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if not a.width > 0 or not 0 <= a.half < 7:
        ap.error("--width must be > 0 and --half in 1..6 (the 4-bit state's top is 7; the spike is U > θ)")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "screen.json").write_text(json.dumps({"width": a.width, "half": a.half, "trunc": a.trunc, "clip": a.clip, "float_state": a.float_state, "mint": a.mint, "start": a.start, "init": a.init, "per_neuron": a.per_neuron}))
    rescale = qat._rescale_surrogate
    qat._rescale_surrogate = lambda neuron, c: rescale(neuron, c / a.width)  # type: ignore[assignment]
    if a.trunc:
        qat.StateQuant.__call__ = _truncating  # type: ignore[method-assign]
    if a.float_state:
        keep = [int(i) for i in a.float_state.split(",")]
        prepare = qat.prepare_qat

        def prepare_keeping(net, *args, **kwargs):  # type: ignore[no-untyped-def]
            out = prepare(net, *args, **kwargs)
            for i in keep:
                net.neurons[i].state_quant = False
            return out

        qat.prepare_qat = prepare_keeping  # type: ignore[assignment]
    if a.per_neuron:
        qat._place_thresholds = _place_per_neuron  # type: ignore[assignment]
        qat._thresholds = _thresholds_per_neuron  # type: ignore[assignment]
        qat._Grid.steps = _steps_per_neuron  # type: ignore[method-assign]
    if a.start != 1.0:
        place = qat._place_thresholds

        def place_coarser(net, profile, folds):  # type: ignore[no-untyped-def]
            place(net, profile, folds)
            for neuron in net.neurons:
                with torch.no_grad():
                    neuron.threshold.mul_(1.0 / a.start)
                rescale(neuron, a.start)

        qat._place_thresholds = place_coarser  # type: ignore[assignment]
    if a.mint:
        prepare_full = qat.prepare_qat

        def prepare_mint(net, profile, bits=None, **kwargs):  # type: ignore[no-untyped-def]
            kwargs.pop("state_bits", None)
            out = prepare_full(net, profile, bits, **kwargs)
            for neuron in net.neurons:
                neuron.state_quant = _MintState(neuron.state_quant.grid, 4, neuron)
            return out

        qat.prepare_qat = prepare_mint  # type: ignore[assignment]
    if a.clip:
        qat.FakeQuantWeight.forward = _clipping  # type: ignore[method-assign]
    if a.half:
        quantize.shared_half = qat.shared_half = lambda profile: a.half  # type: ignore[assignment]
    return main(["train", "--model", a.model, "--rule", "bp", "--seed", "0", "--qat", a.qat,
                 "--state-bits", "4", "--dataset", "mnist", "--data-dir", "../shared/data/mnist", "--align-every",
                 "0", "--no-progress", "--out", a.out, *(["--init-from", a.init] if a.init else []),
                 *[r for r in a.rest if r != "--"]])


if __name__ == "__main__":
    sys.exit(run())
