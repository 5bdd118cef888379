"""One epoch of training and one evaluation, as small functions over in-memory tensors."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import math

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.rules.alignment import measure_alignment
from spikefa.train.ddp import DistInfo, shard, share_weight, sum_over_ranks, unwrap
from spikefa.train.distill import Teacher

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


@dataclass
class Progress:
    """Where an epoch stands: batches done and the running sums of its statistics (saved in a
    checkpoint taken inside an epoch, so a resumed run finishes the epoch as an unbroken one)."""

    batch: int = 0
    loss_sum: torch.Tensor | float = 0.0  # this rank's sum, kept on the device until the epoch ends
    angle_sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    angle_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def as_dict(self) -> dict[str, object]:
        return {"batch": self.batch, "loss_sum": float(self.loss_sum), "angle_sums": dict(self.angle_sums),
                "angle_counts": dict(self.angle_counts)}

    @classmethod
    def from_dict(cls, d: dict[str, object] | None) -> Progress:
        if not d:
            return cls()
        return cls(int(d["batch"]), float(d["loss_sum"]),  # type: ignore[arg-type]
                   defaultdict(float, d["angle_sums"]), defaultdict(int, d["angle_counts"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Learning:
    """How the harness steps a model (read from the rule's declarations): ``online`` models learn in
    ``local_step(x, y)``; ``has_loss`` is False for unsupervised rules (nothing to log)."""

    online: bool = False
    has_loss: bool = True
    rule: str = ""
    teacher: Teacher | None = None  # knowledge distillation (`spikefa.train.distill`)


def _step(model: nn.Module, optimizer: torch.optim.Optimizer | None, xb: torch.Tensor, yb: torch.Tensor,
          n_total: int, info: DistInfo, learning: Learning, loss_fn: LossFn) -> torch.Tensor | None:
    """One batch: zero the gradients, learn (online or through backward), step the optimiser."""
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
    if learning.online:  # an online learner sets its own .grad (or changes its buffers)
        loss = unwrap(model).local_step(xb, yb)
    else:
        if learning.teacher is not None:
            learning.teacher.follow(unwrap(model))
        out = model(xb)
        if not len(yb):
            loss = out.sum() * 0.0  # an empty share still joins the all-reduce
        elif learning.teacher is not None:
            loss = learning.teacher.loss(xb, out, yb, loss_fn)
        else:
            loss = loss_fn(out, yb)
        (loss * share_weight(len(yb), n_total, info)).backward()
    if optimizer is not None:
        optimizer.step()
    return loss if learning.has_loss else None


def set_training_progress(modules: list[nn.Module], t: float) -> None:
    """Hand the fraction `t` of the run done to modules that schedule themselves by it
    (`scheduled_modules`; QAT's `spikefa.export.qat.OscillationFreeze`)."""
    for m in modules:
        m.set_training_progress(t)  # type: ignore[operator]


def scheduled_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in unwrap(model).modules() if callable(getattr(m, "set_training_progress", None))]


def training_stats(model: nn.Module) -> dict[str, float]:
    """Fractions the model's modules report through ``training_stats()`` ({name: (count, of)}),
    summed over modules: e.g. QAT's frozen weights (``qat_frozen``)."""
    sums: dict[str, list[int]] = {}
    for m in unwrap(model).modules():
        report = getattr(m, "training_stats", None)
        if callable(report):
            for k, (count, of) in report().items():
                acc = sums.setdefault(k, [0, 0])
                acc[0] += count
                acc[1] += of
    return {k: count / of for k, (count, of) in sums.items() if of}


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer | None, x: torch.Tensor, y: torch.Tensor, *,
                batch_size: int, gen: torch.Generator, info: DistInfo, lr_of: Callable[[float], float],
                epoch: int, epochs: int = 0, align_every: int = 0, step0: int = 0, on_step: Callable[[float], None] | None = None,
                loss_fn: LossFn = F.cross_entropy, learning: Learning = Learning(),
                progress: Progress | None = None, checkpoint_every: int = 0,
                on_checkpoint: Callable[[Progress], None] | None = None) -> EpochStats:
    """Shuffle with ``gen`` (same order on every rank), take this rank's share, step the optimiser.

    ``progress`` resumes an epoch at its batch (``gen`` must then hold the state it had at the epoch's
    start); ``on_checkpoint`` is called every ``checkpoint_every`` batches with the progress so far.
    ``epochs`` (the run's total) lets modules that schedule themselves by the run's progress see it
    (`set_training_progress`) before each step.
    """
    scheduled = scheduled_modules(model) if epochs else []
    model.train()
    order = torch.randperm(len(x), generator=gen)
    batches = list(torch.split(order, batch_size))
    done = progress or Progress()
    for i in range(done.batch, len(batches)):
        idx = batches[i]
        local = shard(idx, info).to(x.device)
        factor = lr_of(epoch + i / len(batches))
        if scheduled:
            set_training_progress(scheduled, (epoch + i / len(batches)) / epochs)
        for group in optimizer.param_groups if optimizer is not None else ():
            group["lr"] = group.get("base_lr", group["lr"]) * factor
        if align_every and info.is_main and (step0 + i) % align_every == 0:
            for k, v in measure_alignment(unwrap(model), loss_fn, x[local], y[local]).items():
                done.angle_sums[k] += v
                done.angle_counts[k] += 1
        loss = _step(model, optimizer, x[local], y[local], len(idx), info, learning, loss_fn)
        check_weights(model, step0 + i + 1, learning.rule)
        if loss is not None:
            done.loss_sum = loss.detach() * (len(local) / len(idx)) + done.loss_sum
        done.batch = i + 1
        if on_step is not None:
            on_step(float(loss.detach()) if (loss is not None and i % 20 == 0) else float("nan"))
        if checkpoint_every and on_checkpoint is not None and done.batch % checkpoint_every == 0 \
                and done.batch < len(batches):
            on_checkpoint(done)
    total = sum_over_ranks(torch.as_tensor(done.loss_sum, device=x.device), info)
    mean = float(total) / max(len(batches), 1) if learning.has_loss else float("nan")
    if learning.has_loss and not math.isfinite(mean):
        raise DivergenceError(f"rule {learning.rule}: training loss became {mean} in epoch {epoch + 1}")
    angles = {k: done.angle_sums[k] / done.angle_counts[k] for k in done.angle_sums}
    return EpochStats(mean, len(batches), angles)
