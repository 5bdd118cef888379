"""Each local layer's unit norms after a run of a competitive rule (SoftHebb drives every unit's L2
norm to 1, Krotov & Hopfield's to 1 in its Lebesgue-p norm): per layer, the mean L2 norm of its
units' weight vectors and the share within 0.1 of 1.

    python benchmarks/unit_norms.py RUN_DIR [RUN_DIR ...] [--checkpoint checkpoint.pt]

Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spikefa.errors import SpikefaError
from spikefa.runs.model import load_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--checkpoint", default="checkpoint.pt")
    a = ap.parse_args()
    for run in a.runs:
        try:
            learner = load_run(run, checkpoint=a.checkpoint).model
            layers = learner.local_layers()
        except (SpikefaError, AttributeError) as err:
            print(f"unit_norms: {run}: {err if isinstance(err, SpikefaError) else 'not a competitive rule run'}",
                  file=sys.stderr)
            sys.exit(2)
        for i, layer in enumerate(layers, 1):
            norms = layer.weight.detach().flatten(1).norm(dim=1)
            near = float(((norms - 1).abs() < 0.1).float().mean())
            print(f"{Path(run).name}: layer {i} {tuple(layer.weight.shape)}: mean norm {float(norms.mean()):.2f}, "
                  f"{100 * near:.0f} % within 0.1 of 1")


if __name__ == "__main__":
    main()
