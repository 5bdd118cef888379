"""Screen one change at a time to 4-bit-state QAT on `snn-1x800-lif` (int8-edge, 4-bit weights):
a research script that patches spikefa's QAT internals for one run, not a supported interface.

    OMP_NUM_THREADS=1 python benchmarks/qat_state_screen.py --out DIR [--width F] [--half M] [--trunc] \\
        [-- --limit-train 10000 --epochs 3]

- ``--width F``: the surrogate F times wider than QAT's rescaled one (atan α / F), so a neuron whose
  membrane sits units above θ still gets a gradient (it acts where QAT moves a layer's threshold,
  which on `snn-1x800-lif` is every layer);
- ``--half M``: the threshold at M units of the shared grid instead of 2^(k−2) (must stay below the
  state's top, 2^(k−1) − 1: the spike is U > θ, so θ at the top never fires in the integer simulator);
- ``--trunc``: the membrane rounded toward zero instead of floored (the negative state no longer
  sticks; int8-edge's integer simulator floors, so this run is not bit-exact to any profile).

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


def _truncating(self: qat.StateQuant, mem: torch.Tensor) -> torch.Tensor:
    unit = self.grid.unit
    if unit is None:
        return mem
    u = unit.to(mem.dtype)
    u = u.reshape(-1, 1, 1) if mem.ndim == 4 else u
    v = mem.detach() / u
    q = torch.trunc(v + 1e-6 * v.sign()).clamp(-self.top, self.top) * u
    return mem + (q - mem).detach()


def run() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=float, default=1.0, help="surrogate width factor (default 1: QAT's own)")
    ap.add_argument("--half", type=int, default=0, help="threshold mantissa on the shared grid (0: QAT's own)")
    ap.add_argument("--trunc", action="store_true", help="round the membrane toward zero (not bit-exact)")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if not a.width > 0 or not 0 <= a.half < 7:
        ap.error("--width must be > 0 and --half in 1..6 (the 4-bit state's top is 7; the spike is U > θ)")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "screen.json").write_text(json.dumps({"width": a.width, "half": a.half, "trunc": a.trunc}))
    rescale = qat._rescale_surrogate
    qat._rescale_surrogate = lambda neuron, c: rescale(neuron, c / a.width)  # type: ignore[assignment]
    if a.trunc:
        qat.StateQuant.__call__ = _truncating  # type: ignore[method-assign]
    if a.half:
        quantize.shared_half = qat.shared_half = lambda profile: a.half  # type: ignore[assignment]
    return main(["train", "--model", "snn-1x800-lif", "--rule", "bp", "--seed", "0", "--qat", "int8-edge:4",
                 "--state-bits", "4", "--dataset", "mnist", "--data-dir", "../shared/data/mnist", "--align-every",
                 "0", "--no-progress", "--out", a.out, *[r for r in a.rest if r != "--"]])


if __name__ == "__main__":
    sys.exit(run())
