"""Diagnosis: how good are a conv-stdp run's features? Fits a multinomial logistic read-out to
convergence (LBFGS, L2 penalty λ) on the features of the first N training images and scores the
first 2,000 validation images (the 2,000 after the first 50,000 training images):

    OMP_NUM_THREADS=1 python benchmarks/conv_stdp_probe.py RUN_DIR [N] [--data-dir DIR]

Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys

import torch

from spikefa.data.mnist import load_mnist
from spikefa.errors import SpikefaError
from spikefa.runs.model import load_run

from spikefa.functional.readout import fit_logistic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("n", nargs="?", type=int, default=2000, help="training images (the first N)")
    ap.add_argument("--data-dir", default="../shared/data/mnist")
    args = ap.parse_args()
    try:
        learner = load_run(args.run_dir).model
        data = load_mnist(args.data_dir)
    except SpikefaError as err:
        print(f"conv_stdp_probe: {err}", file=sys.stderr)
        sys.exit(2)
    features = learner.model[:learner.readout_at]
    with torch.no_grad():
        f_train = torch.cat([features(x) for x in data.x_train[:args.n].split(256)])
        f_val = torch.cat([features(x) for x in data.x_val[:2000].split(256)])
    y_train, y_val = data.y_train[:args.n], data.y_val[:2000]
    print(f"features {tuple(f_train.shape)}")
    for lam in (1e-4, 1e-3, 1e-2):
        w, b = fit_logistic(f_train, y_train, 10, lam, max_iter=500, history_size=100)
        train_acc = float(((f_train @ w.T + b).argmax(1) == y_train).float().mean())
        val_acc = float(((f_val @ w.T + b).argmax(1) == y_val).float().mean())
        print(f"lambda {lam:g}: train {100 * train_acc:.2f} %  val {100 * val_acc:.2f} %")


if __name__ == "__main__":
    main()
