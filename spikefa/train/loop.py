"""One epoch of training and one evaluation, as small functions over in-memory tensors."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.rules.alignment import measure_alignment
from spikefa.train.ddp import DistInfo, shard, share_weight, sum_over_ranks, unwrap

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class EpochStats:
    """What one epoch leaves behind: mean training loss and mean alignment angles."""

    loss: float
    steps: int
    angles: dict[str, float] = field(default_factory=dict)


class DivergenceError(RuntimeError):
    """Weights or the loss became non-finite or exploded (the known failure of Hebb's rule)."""


EXPLODE_AT = 1e6


def check_weights(model: nn.Module, step: int, rule: str) -> None:
    """Stop at the first step where a weight or feedback matrix is non-finite or above EXPLODE_AT."""
    named = [(n, t) for n, t in unwrap(model).named_parameters()]
    named += [(n, t) for n, t in unwrap(model).named_buffers() if t.is_floating_point()]
    if not named:
        return
    peaks = torch.stack([t.detach().abs().max() if t.numel() else t.new_zeros(()) for _, t in named])
    worst = float(peaks.nan_to_num(nan=float("inf")).max())
    if worst < EXPLODE_AT:
        return
    i = int(peaks.nan_to_num(nan=float("inf")).argmax())
    what = "non-finite" if not torch.isfinite(peaks[i]) else f"exploding (|w| = {float(peaks[i]):.3g})"
    raise DivergenceError(f"rule {rule}: {named[i][0]} became {what} at step {step}")


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
                loss_fn: LossFn = F.cross_entropy, rule_name: str = "") -> EpochStats:
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
        factor = lr_of(epoch + i / len(batches))
        for group in optimizer.param_groups:
            group["lr"] = group.get("base_lr", group["lr"]) * factor
        if align_every and info.is_main and (step0 + i) % align_every == 0:
            for k, v in measure_alignment(unwrap(model), loss_fn, xb, yb).items():
                angle_sums[k] += v
                angle_counts[k] += 1
        optimizer.zero_grad(set_to_none=True)
        online = getattr(unwrap(model), "local_step", None)
        loss = online(xb, yb) if online is not None else None  # an online learner sets its own .grad
        if loss is None:
            out = model(xb)
            loss = loss_fn(out, yb) if len(local) else out.sum() * 0.0  # an empty share still joins the all-reduce
            (loss * share_weight(len(local), len(idx), info)).backward()
        optimizer.step()
        check_weights(model, step0 + i + 1, rule_name)
        loss_sum += loss.detach() * (len(local) / len(idx))
        if on_step is not None:
            on_step(float(loss.detach()) if (i % 20 == 0) else float("nan"))
    mean = float(sum_over_ranks(loss_sum, info)) / max(len(batches), 1)
    if not torch.isfinite(torch.tensor(mean)):
        raise DivergenceError(f"rule {rule_name}: training loss became {mean} in epoch {epoch + 1}")
    return EpochStats(mean, len(batches), {k: angle_sums[k] / angle_counts[k] for k in angle_sums})
