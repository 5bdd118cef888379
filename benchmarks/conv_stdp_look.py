"""A short conv-stdp run on the first N MNIST training images, scored on the first 1,000 validation and
1,000 test images (`limit_eval`, which the CLI does not expose), seed 0, read-out lr 1e-2:

    OMP_NUM_THREADS=1 [CARD=path.toml] [TAG=prefix-] python benchmarks/conv_stdp_look.py UPDATE N EPOCHS [frozen] \
        [--readout rstdp] [--opt KEY=VALUE ...]

UPDATE is the rule's `update` option (image | batch); `frozen` gives the random-feature control;
`--readout rstdp` the reward-modulated variant (the last conv layer decides; the rule's `readout` option); `--opt`
any other option of the rule, as `spikefa train --opt` (`spikefa list rules`).
Writes runs/cs/{TAG}{UPDATE}-{N}-e{EPOCHS}[-rstdp][-frozen]. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from spikefa._args import rule_options
from spikefa.errors import SpikefaError
from spikefa.runs.model import resolve_config
from spikefa.train import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("update", choices=("image", "batch"))
    ap.add_argument("n", type=int, help="training images (the first N)")
    ap.add_argument("epochs", type=int)
    ap.add_argument("frozen", nargs="?", choices=("frozen",), help="the random-feature control")
    ap.add_argument("--readout", choices=("linear", "rstdp"), default="linear", help="the rule's read-out")
    ap.add_argument("--opt", action="append", metavar="KEY=VALUE", help="another rule option (repeatable)")
    ap.add_argument("--data-dir", default="../shared/data/mnist")
    a = ap.parse_args()
    try:
        cfg = resolve_config(os.environ.get("CARD", "conv-stdp"), "conv-stdp", "mnist", data_dir=a.data_dir,
                             limit_train=a.n, limit_eval=1000, epochs=a.epochs, lr=1e-2, seed=0,
                             rule_options={"update": a.update, "frozen": a.frozen is not None,
                                           "readout": a.readout, **rule_options(a.opt)})
        variant = "-rstdp" if a.readout == "rstdp" else ""
        out = (f"runs/cs/{os.environ.get('TAG', '')}{a.update}-{a.n}-e{a.epochs}{variant}"
               f"{'-frozen' if a.frozen else ''}")
        train(cfg, out, progress=False)
    except SpikefaError as err:
        print(f"conv_stdp_look: {err}", file=sys.stderr)
        sys.exit(2)
    print(out, open(out + "/metrics.csv").read())


if __name__ == "__main__":
    main()
