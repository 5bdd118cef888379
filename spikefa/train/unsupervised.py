"""Training loops of the STDP networks on `Splits`: Diehl & Cook (unsupervised STDP, then label
assignment and voting), STDP features with a delta-rule readout, and three-factor STDP.

Each returns a summary dict (validation and test accuracy, seconds, settings) and can keep a
checkpoint (written atomically, tmp + os.replace) that a rerun with the same arguments continues
from. Settings are chosen on the validation split; the test split is only ever reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from spikefa.data.splits import Splits
from spikefa.errors import SpikefaError
from spikefa.nn.stdp import DeltaReadout, DiehlCookNet, ThreeFactorNet
from spikefa.nn.stdp.learners import responses as learner_responses
from spikefa.schemas.stdp import DiehlCookParams, ThreeFactorParams
from spikefa.functional.feedback import derive_seed
from spikefa.runs.checkpoint import load_checkpoint, save_checkpoint


def _subset(x: torch.Tensor, y: torch.Tensor, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    if limit == 0:  # internal: an empty split
        return x[:0], y[:0]
    if limit is not None and limit < 1:
        raise SpikefaError(f"limit = {limit!r} is not allowed; expected a positive number of samples or None")
    return (x, y) if limit is None else (x[:limit], y[:limit])


def _bar(total: int, initial: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="sample", disable=not enabled, dynamic_ncols=True)


class _Trainer:
    """Epochs of shuffled batches with a resumable position, generator and checkpoint."""

    def __init__(self, kind: str, module: torch.nn.Module, settings: dict[str, Any], n: int, batch_size: int,
                 epochs: int, seed: int, checkpoint: str | Path | None, checkpoint_every: int) -> None:
        if batch_size < 1 or epochs < 0:
            raise SpikefaError(f"batch_size = {batch_size!r}, epochs = {epochs!r} are not allowed; expected >= 1, >= 0")
        self.kind, self.module, self.settings, self.n = kind, module, settings, n
        self.batch_size, self.epochs, self.every = batch_size, epochs, max(1, checkpoint_every)
        self.path = Path(checkpoint) if checkpoint is not None else None
        self.gen = torch.Generator().manual_seed(derive_seed(seed, 1))
        self.epoch, self.position, self.seconds, self.order = 0, 0, 0.0, torch.randperm(n, generator=self.gen)
        self.history: list[dict[str, Any]] = []
        if self.path is not None and self.path.is_file():
            self._restore(load_checkpoint(self.path))

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind or state.get("settings") != self.settings:
            raise SpikefaError(f"{self.path}: the checkpoint was made by another run ({state.get('kind')}, "
                               f"{state.get('settings')}); delete it or pass another checkpoint path")
        self.module.load_state_dict(state["module"])
        self.gen.set_state(state["generator"])
        self.epoch, self.position, self.seconds = state["epoch"], state["position"], state["seconds"]
        self.order, self.history = state["order"], state["history"]

    def save(self) -> None:
        if self.path is not None:
            save_checkpoint(self.path, {"kind": self.kind, "settings": self.settings,
                                        "module": self.module.state_dict(), "generator": self.gen.get_state(),
                                        "epoch": self.epoch, "position": self.position, "seconds": self.seconds,
                                        "order": self.order, "history": self.history})

    def batches(self, desc: str, progress: bool) -> Iterator[torch.Tensor]:
        """Index batches until all epochs are done, checkpointing every ``every`` batches."""
        bar = _bar(self.epochs * self.n, self.epoch * self.n + self.position, desc, progress)
        count = 0
        while self.epoch < self.epochs:
            while self.position < self.n:
                idx = self.order[self.position:self.position + self.batch_size]
                start = time.perf_counter()
                yield idx
                self.seconds += time.perf_counter() - start
                self.position += len(idx)
                bar.update(len(idx))
                count += 1
                if count % self.every == 0:
                    self.save()
            self.epoch, self.position = self.epoch + 1, 0
            self.order = torch.randperm(self.n, generator=self.gen)
            self.save()
        bar.close()


@torch.no_grad()
def responses(net: torch.nn.Module, x: torch.Tensor, seed: int, batch_size: int = 256, progress: bool = False,
              desc: str = "responses") -> torch.Tensor:
    """Spike counts of a network without learning ([N, neurons]), with a fixed evaluation seed."""
    bar = _bar(len(x), 0, desc, progress)
    counts = learner_responses(net, x, torch.Generator().manual_seed(derive_seed(seed, 2)), batch_size, bar.update)
    bar.close()
    return counts


def _accuracy(pred: torch.Tensor, y: torch.Tensor) -> float | None:
    return float((pred == y).float().mean()) if len(y) else None


def train_diehl_cook(splits: Splits, params: DiehlCookParams | None = None, *, epochs: int = 1,
                     batch_size: int = 64, limit_train: int | None = None, limit_eval: int | None = None,
                     label_samples: int | None = 10000, seed: int = 0, checkpoint: str | Path | None = None,
                     checkpoint_every: int = 50, progress: bool = True) -> tuple[DiehlCookNet, dict[str, Any]]:
    """Train the Diehl & Cook network without labels, assign labels from its responses to
    ``label_samples`` training images (learning off), and vote on the validation and test splits.
    Returns (network, summary)."""
    params = params or DiehlCookParams(n_input=int(splits.x_train[0].numel()))
    x_train, y_train = _subset(splits.x_train, splits.y_train, limit_train)
    net = DiehlCookNet(params, splits.num_classes, seed)
    settings = {"params": params.as_dict(), "epochs": epochs, "batch_size": batch_size, "n_train": len(x_train),
                "seed": seed}
    trainer = _Trainer("diehl-cook", net, settings, len(x_train), batch_size, epochs, seed, checkpoint,
                       checkpoint_every)
    for idx in trainer.batches("diehl-cook", progress):
        net.present(x_train[idx], trainer.gen, learn=True)
    start = time.perf_counter()
    n_label = len(x_train) if label_samples is None else min(label_samples, len(x_train))
    net.assign(responses(net, x_train[:n_label], seed, progress=progress, desc="labels"), y_train[:n_label])
    label_seconds = time.perf_counter() - start
    summary = evaluate_diehl_cook(net, splits, limit_eval, seed, progress)
    summary.update(kind="diehl-cook", settings=settings, train_seconds=round(trainer.seconds, 1),
                   label_seconds=round(label_seconds, 1), label_samples=n_label,
                   unassigned=int((net.assignments < 0).sum()), mean_theta=round(float(net.theta.mean()), 3))
    trainer.save()
    return net, summary


def evaluate_diehl_cook(net: DiehlCookNet, splits: Splits, limit_eval: int | None = None, seed: int = 0,
                        progress: bool = False) -> dict[str, Any]:
    """Validation and test accuracy of the all-activity vote, with the seconds they took."""
    return score_splits(net, net.classify, splits, ("val", "test"), limit_eval, seed, progress)[0]


def score_splits(net: torch.nn.Module, classify: Callable[[torch.Tensor], torch.Tensor], splits: Splits,
                 names: tuple[str, ...], limit_eval: int | None, seed: int, progress: bool
                 ) -> tuple[dict[str, Any], torch.Tensor]:
    """``<split>_accuracy``, ``_seconds`` and ``_mean_spikes`` of ``classify`` on the network's spike
    counts for each named split, and the last split's counts [N, neurons]."""
    out: dict[str, Any] = {}
    counts = torch.empty(0)
    for split in names:
        x, y = _subset(getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}"), limit_eval)
        start = time.perf_counter()
        counts = responses(net, x, seed + 1, progress=progress, desc=split)
        out[f"{split}_accuracy"] = _accuracy(classify(counts), y)
        out[f"{split}_seconds"] = round(time.perf_counter() - start, 1)
        out[f"{split}_mean_spikes"] = round(float(counts.sum(1).mean()), 2)
    return out, counts


def fit_readout(features: dict[str, torch.Tensor], labels: dict[str, torch.Tensor], num_classes: int, *,
                epochs: int = 30, lr: float = 0.05, weight_decay: float = 1e-4, batch_size: int = 100,
                seed: int = 0) -> tuple[DeltaReadout, dict[str, Any]]:
    """Train a `DeltaReadout` on train features; keep the epoch with the best validation accuracy
    (early stopping on validation); report validation and test accuracy of that epoch."""
    readout = DeltaReadout(features["train"].shape[1], num_classes)
    readout.fit_scaling(features["train"])
    gen = torch.Generator().manual_seed(derive_seed(seed, 3))
    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, 0, readout.state_dict())
    curve = []
    for epoch in range(1, epochs + 1):
        for idx in torch.split(torch.randperm(len(labels["train"]), generator=gen), batch_size):
            readout.learn(features["train"][idx], labels["train"][idx], lr, weight_decay)
        val = _accuracy(readout(features["val"]).argmax(1), labels["val"])
        curve.append(round(val, 4))
        if val is not None and val > best[0]:
            best = (val, epoch, {k: v.clone() for k, v in readout.state_dict().items()})
    readout.load_state_dict(best[2])
    return readout, {"val_accuracy": best[0], "test_accuracy": _accuracy(readout(features["test"]).argmax(1),
                                                                          labels["test"]),
                     "train_accuracy": _accuracy(readout(features["train"]).argmax(1), labels["train"]),
                     "readout_epoch": best[1], "val_curve": curve}


def train_stdp_readout(splits: Splits, net: DiehlCookNet, *, feature_params: dict[str, Any] | None = None,
                       limit_train: int | None = None, limit_eval: int | None = None, readout_epochs: int = 30,
                       lr: float = 0.05, weight_decay: float = 1e-4, seed: int = 0, test: bool = True,
                       progress: bool = True) -> dict[str, Any]:
    """STDP features + delta-rule readout: the spike counts of a trained Diehl & Cook layer
    (optionally simulated with other constants, e.g. weaker inhibition, via ``feature_params``;
    W and θ stay as learned) feed a softmax readout trained on the labels. ``test=False`` skips
    the test split (for choosing settings on validation)."""
    features_net = net
    if feature_params:
        features_net = DiehlCookNet(DiehlCookParams(**{**net.params.as_dict(), **feature_params}), net.num_classes)
        features_net.load_state_dict(net.state_dict())
    features, labels, seconds = {}, {}, {}
    for split, limit in (("train", limit_train), ("val", limit_eval), ("test", limit_eval if test else 0)):
        x, y = _subset(getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}"), limit)
        start = time.perf_counter()
        features[split] = responses(features_net, x, seed + {"train": 5, "val": 6, "test": 7}[split],
                                    progress=progress, desc=f"features {split}")
        labels[split], seconds[split] = y, time.perf_counter() - start
    start = time.perf_counter()
    _, summary = fit_readout(features, labels, splits.num_classes, epochs=readout_epochs, lr=lr,
                             weight_decay=weight_decay, seed=seed)
    summary.update(kind="stdp-readout", feature_params=feature_params or {}, readout_lr=lr,
                   readout_weight_decay=weight_decay, feature_seconds=round(sum(seconds.values()), 1),
                   readout_seconds=round(time.perf_counter() - start, 1), n_train=len(labels["train"]))
    return summary


def train_three_factor(splits: Splits, params: ThreeFactorParams | None = None, *, epochs: int = 1,
                       batch_size: int = 64, limit_train: int | None = None, limit_eval: int | None = None,
                       seed: int = 0, checkpoint: str | Path | None = None, checkpoint_every: int = 50,
                       test: bool = True, progress: bool = True) -> tuple[ThreeFactorNet, dict[str, Any]]:
    """Train the hidden layer by three-factor STDP and the readout by the delta rule, together,
    online over presentations; report validation and test accuracy of the readout. ``test=False``
    skips the test split (for choosing settings on validation)."""
    params = params or ThreeFactorParams(n_input=int(splits.x_train[0].numel()), num_classes=splits.num_classes,
                                         seed=seed)
    x_train, y_train = _subset(splits.x_train, splits.y_train, limit_train)
    net = ThreeFactorNet(params)
    settings = {"params": params.as_dict(), "epochs": epochs, "batch_size": batch_size, "n_train": len(x_train)}
    trainer = _Trainer("three-factor", net, settings, len(x_train), batch_size, epochs, seed, checkpoint,
                       checkpoint_every)
    for idx in trainer.batches("three-factor", progress):
        net.learn(x_train[idx], y_train[idx], trainer.gen)
    summary, counts = score_splits(net, lambda c: net.readout(c).argmax(1), splits,
                                   ("val", "test") if test else ("val",), limit_eval, seed, progress)
    summary.update(kind="three-factor", settings=settings, train_seconds=round(trainer.seconds, 1),
                   silent_hidden=int((counts.sum(0) == 0).sum()))
    trainer.save()
    return net, summary
