"""Train a finished SoftHebb (or Krotov) run's linear read-out for many epochs on cached features.

    OMP_NUM_THREADS=1 python benchmarks/softhebb_readout.py RUN_DIR --epochs 50 [--lr 1e-3] [--batch-size 64]

The paper's protocol (Journé et al. 2023): one unsupervised epoch of the Hebbian blocks, then a
linear classifier trained for 50 epochs on their frozen output. Training that read-out through the
harness recomputes every conv block for every batch of every epoch; here the frozen blocks run once
(eval mode: batch norm from the running statistics the unsupervised epoch left) over the run's
train / validation / test splits, and the read-out (its dropout and Linear, starting from the run's
weights) trains on the cached features with Adam and a cosine schedule. Prints validation and test
accuracy per epoch and the epoch validation chooses; ``--out FILE.json`` keeps them.

The random-feature control is the same command on the ``--opt frozen=true`` run.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.runs.model import load_run
from spikefa.train.run import prepare_data


def split_at_readout(model: nn.Sequential, readout_at: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(frozen features, trained head): the head is the read-out Linear with the dropout in front of
    it (dropout acts in training only, so it cannot be cached)."""
    cut = readout_at
    while cut > 0 and isinstance(model[cut - 1], nn.Dropout):
        cut -= 1
    return model[:cut], model[cut:]


@torch.no_grad()
def features(body: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The frozen blocks' output [N, features], written batch by batch into one tensor."""
    body.eval()
    first = body(x[:batch_size]).flatten(1)
    out = first.new_empty(len(x), first.shape[1])
    out[:len(first)] = first
    for i in range(batch_size, len(x), batch_size):
        out[i:i + batch_size] = body(x[i:i + batch_size]).flatten(1)
    return out


@torch.no_grad()
def accuracy(head: nn.Module, f: torch.Tensor, y: torch.Tensor) -> float:
    head.eval()
    return float((head(f).argmax(1) == y).float().mean())


def train_readout(head: nn.Module, f_train: torch.Tensor, y_train: torch.Tensor, evals: dict[str, tuple[torch.Tensor, torch.Tensor]],
                  epochs: int, lr: float, batch_size: int, seed: int) -> list[dict[str, float]]:
    """Adam with a cosine schedule over ``epochs``; one row per epoch with each split's accuracy."""
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    steps = epochs * math.ceil(len(f_train) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for epoch in range(1, epochs + 1):
        head.train()
        order = torch.randperm(len(f_train), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(head(f_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        row = {"epoch": epoch, "train_loss": total / len(f_train)}
        row.update({name: accuracy(head, f, y) for name, (f, y) in evals.items()})
        rows.append(row)
        print(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", type=Path, default=None, help="write the per-epoch rows and the chosen epoch here (JSON)")
    a = ap.parse_args()
    if a.epochs < 1 or a.batch_size < 1 or not a.lr > 0:
        ap.error("--epochs and --batch-size must be >= 1 and --lr > 0")
    try:
        run = load_run(a.run)
    except SpikefaError as e:
        ap.exit(2, f"softhebb_readout: error: {e}\n")
    learner = run.model
    if not hasattr(learner, "readout_at"):
        ap.exit(2, f"softhebb_readout: error: {a.run}: the run's rule {run.config.rule!r} has no local layers and a "
                   "read-out (use a softhebb or krotov run)\n")
    data = prepare_data(run.config)
    if not len(data.x_val):
        ap.exit(2, f"softhebb_readout: error: {a.run}: the run has no validation split to choose the epoch on\n")
    start = time.perf_counter()
    body, head = split_at_readout(learner.model, learner.readout_at)
    head = copy.deepcopy(head)
    f_train, f_val, f_test = (features(body, x) for x in (data.x_train, data.x_val, data.x_test))
    cached = time.perf_counter() - start
    print(f"features {tuple(f_train.shape[1:])} cached in {cached:.0f} s", file=sys.stderr, flush=True)
    rows = train_readout(head, f_train, data.y_train, {"val": (f_val, data.y_val), "test": (f_test, data.y_test)},
                         a.epochs, a.lr, a.batch_size, run.config.seed)
    best = max(rows, key=lambda r: (r["val"], -r["epoch"]))
    print(f"chosen on validation: epoch {best['epoch']}, val {100 * best['val']:.2f} %, test {100 * best['test']:.2f} %; "
          f"last epoch: val {100 * rows[-1]['val']:.2f} %, test {100 * rows[-1]['test']:.2f} % "
          f"({time.perf_counter() - start:.0f} s with {cached:.0f} s of feature caching)", flush=True)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"run": str(a.run), "epochs": a.epochs, "lr": a.lr, "batch_size": a.batch_size,
                                     "rows": rows, "chosen": best, "seconds": time.perf_counter() - start,
                                     "feature_seconds": cached}, indent=1))


if __name__ == "__main__":
    main()
