"""One epoch of training and one evaluation, as small functions over in-memory tensors."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.rules.alignment import measure_alignment
from spikefa.train.ddp import DistInfo, shard, unwrap

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class EpochStats:
    """What one epoch leaves behind: mean training loss and mean alignment angles."""

    loss: float
    steps: int
    angles: dict[str, float] = field(default_factory=dict)


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000,
             loss_fn: LossFn = F.cross_entropy) -> tuple[float, float]:
    """(accuracy, mean loss) of ``model`` in eval mode on ``x``/``y``."""
    was = model.training
    model.eval()
    correct, total_loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size])
        correct += int((out.argmax(1) == y[i:i + batch_size]).sum())
        total_loss += float(loss_fn(out, y[i:i + batch_size])) * len(out)
    model.train(was)
    n = max(len(x), 1)
    return correct / n, total_loss / n


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
                batch_size: int, gen: torch.Generator, info: DistInfo, lr_of: Callable[[float], float],
                epoch: int, align_every: int = 0, step0: int = 0, on_step: Callable[[float], None] | None = None,
                loss_fn: LossFn = F.cross_entropy) -> EpochStats:
    """Shuffle with ``gen`` (same order on every rank), take this rank's share, step the optimiser."""
    model.train()
    order = torch.randperm(len(x), generator=gen)
    batches = list(torch.split(order, batch_size))
    loss_sum = torch.zeros((), device=x.device)
    angle_sums: dict[str, float] = defaultdict(float)
    angle_counts: dict[str, int] = defaultdict(int)
    for i, idx in enumerate(batches):
        local = shard(idx, info).to(x.device)
        xb, yb = x[local], y[local]
        for group in optimizer.param_groups:
            group["lr"] = lr_of(epoch + i / len(batches))
        if align_every and info.is_main and (step0 + i) % align_every == 0:
            for k, v in measure_alignment(unwrap(model), loss_fn, xb, yb).items():
                angle_sums[k] += v
                angle_counts[k] += 1
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach()
        if on_step is not None:
            on_step(float(loss.detach()) if (i % 20 == 0) else float("nan"))
    mean = float(loss_sum) / max(len(batches), 1)
    if not torch.isfinite(torch.tensor(mean)):
        raise DivergenceError(f"training loss became {mean} in epoch {epoch + 1}")
    return EpochStats(mean, len(batches), {k: angle_sums[k] / angle_counts[k] for k in angle_sums})
