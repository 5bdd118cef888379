"""A short conv-stdp run on the first N MNIST training images, scored on the first 1,000 validation and
1,000 test images (`limit_eval`, which the CLI does not expose), seed 0, read-out lr 1e-2:

    OMP_NUM_THREADS=1 [CARD=path.toml] [TAG=prefix-] python benchmarks/conv_stdp_look.py UPDATE N EPOCHS [frozen]

UPDATE is the rule's `update` option (image | batch); `frozen` gives the random-feature control.
Writes runs/cs/{TAG}{UPDATE}-{N}-e{EPOCHS}[-frozen].
"""

from __future__ import annotations

import os
import sys

from spikefa.runs.model import resolve_config
from spikefa.train import train


def main() -> None:
    update, n, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    frozen = len(sys.argv) > 4 and sys.argv[4] == "frozen"
    cfg = resolve_config(os.environ.get("CARD", "conv-stdp"), "conv-stdp", "mnist", data_dir="../shared/data/mnist",
                         limit_train=n, limit_eval=1000, epochs=epochs, lr=1e-2, seed=0,
                         rule_options={"update": update, "frozen": frozen})
    out = f"runs/cs/{os.environ.get('TAG', '')}{update}-{n}-e{epochs}{'-frozen' if frozen else ''}"
    train(cfg, out, progress=False)
    print(out, open(out + "/metrics.csv").read())


if __name__ == "__main__":
    main()
