"""Diagnosis: how good are a conv-stdp run's features? Fits a multinomial logistic read-out to
convergence (LBFGS, L2 penalty λ) on the features of the first N training images and scores the
2,000 images after the first 50,000 (the validation split):

    OMP_NUM_THREADS=1 python benchmarks/conv_stdp_probe.py RUN_DIR [N]
"""

from __future__ import annotations

import glob
import sys

import numpy as np
import torch
import torch.nn.functional as F

from spikefa.data.idx import read_idx
from spikefa.runs.model import load_run

DATA = "../shared/data/mnist"


def images(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = read_idx(glob.glob(f"{DATA}/{prefix}-images*")[0])
    y = read_idx(glob.glob(f"{DATA}/{prefix}-labels*")[0])
    return torch.tensor(np.asarray(x), dtype=torch.float32)[:, None] / 255.0, torch.tensor(np.asarray(y)).long()


def main() -> None:
    learner = load_run(sys.argv[1]).model
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    x, y = images("train")
    features = learner.model[:learner.readout_at]
    with torch.no_grad():
        f_train = torch.cat([features(x[i:i + 256]) for i in range(0, n, 256)])[:n]
        f_val = torch.cat([features(x[50000 + i:50000 + i + 256]) for i in range(0, 2000, 256)])[:2000]
    y_train, y_val = y[:n], y[50000:52000]
    mu, sd = f_train.mean(0), f_train.std(0).clamp_min(1e-6)
    a, v = (f_train - mu) / sd, (f_val - mu) / sd
    print(f"features {tuple(f_train.shape)}")
    for lam in (1e-4, 1e-3, 1e-2):
        w = torch.zeros(a.shape[1], 10, requires_grad=True)
        b = torch.zeros(10, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(a @ w + b, y_train) + lam * (w ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            train_acc = float(((a @ w + b).argmax(1) == y_train).float().mean())
            val_acc = float(((v @ w + b).argmax(1) == y_val).float().mean())
        print(f"lambda {lam:g}: train {100 * train_acc:.2f} %  val {100 * val_acc:.2f} %")


if __name__ == "__main__":
    main()
