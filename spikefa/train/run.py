"""A training run in a run directory: config.json, metrics.csv, summary.json, checkpoint.pt, plots.

The checkpoint (written atomically after every epoch, and every ``checkpoint_every`` steps inside one
when asked) holds the model with its feedback matrices, the optimiser, the shuffling generator and
the global RNG, so ``resume`` continues a crashed run to the same final weights as an uninterrupted
one. The harness reads what it must know about a rule from the rule's declarations
(`spikefa.rules.spec.Rule`): whether it learns online, has a loss, assigns labels after each epoch,
and which parameters it trains with their own optimiser settings.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from spikefa.data import Splits, get_dataset, load_dataset
from spikefa.data.splits import SPLITS
from spikefa.errors import SpikefaError
from spikefa.rules.registry import get_rule
from spikefa.rules.spec import Rule
from spikefa.runs.checkpoint import (BEST, CHECKPOINT, RunLock, atomic_write_text, load_checkpoint, save_checkpoint,
                                    write_json)
from spikefa.runs.model import (ModelTransform, card_of, init_weights, load_weights, make_model, read_config,
                                resolve_config, upgrade_state)
from spikefa.schemas.run import RunConfig
from spikefa.train.ddp import DistInfo, barrier, init_from_env, unwrap, wrap
from spikefa.train.distill import Teacher
from spikefa.train.diagnostics import feature_diagnostics, feedback_row, feedback_start, feedback_summary
from spikefa.train.loop import DivergenceError, Learning, Progress, evaluate, train_epoch, training_stats
from spikefa.train.optim import adam
from spikefa.train.schedule import lr_at, lr_factor

__all__ = ["CHECKPOINT", "make_optimizer", "prepare_data", "resolve_config", "resume", "train"]

TransformFor = Callable[[RunConfig], ModelTransform | None]


def prepare_data(config: RunConfig, device: str = "cpu", splits: Splits | None = None) -> Splits:
    """The run's splits: loaded (unless given), ``limit_train`` training and ``limit_eval`` validation
    and test examples kept (smoke runs), images standardized with training statistics when asked
    (events stay spike counts), on ``device``: the same record, ``standardized`` saying which."""
    data = splits if splits is not None else _load(config)
    if config.val_size is not None and len(data.y_val) != config.val_size:
        raise SpikefaError(f"val_size = {config.val_size}, but the splits given hold {len(data.y_val)} validation "
                           f"examples; load them with load_dataset(..., val_size={config.val_size})")
    n_train, n_eval = config.limit_train, config.limit_eval
    xs = [data.x_train[:n_train], data.x_val[:n_eval], data.x_test[:n_eval]]
    standardize = config.standardize and data.kind == "images" and not data.standardized
    if standardize:
        mean = xs[0].mean(dim=(0, 2, 3), keepdim=True)
        std = xs[0].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
        xs = [(x - mean) / std for x in xs]
    ys = [data.y_train[:n_train], data.y_val[:n_eval], data.y_test[:n_eval]]
    moved = {f"{v}_{split}": t.to(device) for v, ts in (("x", xs), ("y", ys)) for split, t in zip(SPLITS, ts)}
    return replace(data, **moved, standardized=data.standardized or standardize)


def check_fits(model: nn.Module, config: RunConfig, data: Splits) -> None:
    """A user's network (a card with ``[architecture] factory``) run on one training example, on a
    copy in eval mode without gradient, before training: a network that does not take the dataset's
    inputs raises `SpikefaError` naming the card, the dataset and its input shape, not a traceback
    at the first step. The cards' own architectures are built for the data's shape and skip it."""
    if config.card is None or "factory" not in (config.card.get("architecture") or {}):
        return
    x = data.batch("train", torch.arange(1)) if data.kind == "events" else data.x_train[:1]
    probe = copy.deepcopy(model).eval()  # outside the try: only the forward's errors are about the inputs
    try:
        with torch.no_grad():
            probe(x)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpikefaError(f"model {config.model!r} does not take dataset {config.dataset!r}'s inputs (one example "
                           f"{tuple(x.shape)}; torch: {first}); give a dataset of the shape the network was "
                           "written for, or write the network for this one") from None


def check_epochs(model: nn.Module, config: RunConfig, n_train: int) -> None:
    """A learner whose read-out is fitted after its local phase (``fits_readout``) needs the epochs of
    that phase (``epochs_needed``, at least 1): fewer would end the run with no read-out at all. A
    cap on the images its local layers learn from (``local_images``) above the training split's
    ``n_train`` is said (a note on stderr: they learn from all of them)."""
    cap = int(getattr(model, "local_images", 0) or 0)
    if cap > n_train:
        print(f"spikefa: note: local_images = {cap} is more than the {n_train} training examples; the local layers "
              f"learn from all {n_train} in each of their epochs", file=sys.stderr)
    if not getattr(model, "fits_readout", False):
        return
    needed = max(int(getattr(model, "epochs_needed")), 1)
    if config.epochs < needed:
        raise SpikefaError(f"epochs = {config.epochs}: rule {config.rule!r} fits its read-out after the local "
                           f"layers' {needed} epoch(s) of learning; give --epochs {needed} or more")


def _load(config: RunConfig) -> Splits:
    """The configured dataset; an events dataset is binned at the spiking card's T."""
    if get_dataset(config.dataset).kind == "images":
        return load_dataset(config.dataset, config.data_dir, val_size=config.val_size)
    card = card_of(config)
    if not card.spiking or card.encoder is None:
        raise SpikefaError(f"dataset {config.dataset!r} holds events: train it with a spiking card "
                           f"(spikefa list models, arch snn-*), not {config.model!r}")
    limits = [n for n in (config.limit_train, config.limit_eval) if n is not None]
    return load_dataset(config.dataset, config.data_dir, val_size=config.val_size, time_steps=card.encoder.time_steps,
                        limit=max(limits) if limits else None, progress=True)


def make_optimizer(config: RunConfig, model: nn.Module) -> torch.optim.Optimizer | None:
    """The run's optimiser for gradient-trained parameters; parameter groups the rule declares
    (`spikefa.rules.spec.ParamGroup`: a Hebbian layer's local rate) step by plain SGD at their own
    rate, so the rule's own dynamics show. None when nothing is trained by gradient (STDP)."""
    rule = get_rule(config.rule)
    declared = rule.param_groups(model, config.rule_options) if rule.param_groups else []
    own = {id(p) for g in declared for p in g.params}
    grad = [p for p in model.parameters() if p.requires_grad and id(p) not in own]
    groups: list[dict[str, Any]] = [{"params": grad, "base_lr": config.lr}] if grad else []
    for g in declared:
        groups.append({"params": g.params, "lr": g.lr, "base_lr": g.lr, "local": True, "weight_decay": 0.0,
                       "momentum": 0.0})
    if not groups:
        return None
    fused = not config.qat_freeze  # freezing counts optimiser steps by the weights' version (spikefa.train.optim)
    if config.optimizer == "adam" and not declared:
        return adam(groups, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    if config.optimizer == "adam":
        return adam(groups, lr=config.lr, weight_decay=config.weight_decay, cls=_AdamWithSGDGroups, fused=fused)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


class _AdamWithSGDGroups(torch.optim.Adam):
    """Adam for gradient-trained groups; groups marked ``local`` take a plain SGD step."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        local = [g for g in self.param_groups if g.get("local")]
        saved = [g["params"] for g in local]
        for g in local:
            for p in g["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-g["lr"])
            g["params"] = []
        try:
            return super().step(closure)
        finally:
            for g, ps in zip(local, saved):
                g["params"] = ps


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, buf.getvalue())


def _summary(config: RunConfig, history: list[dict[str, Any]], seconds: float,
             diverged: str | None = None) -> dict[str, Any]:
    """What a run reached; a diverged run reports its last good epoch (or None) and why it stopped."""
    out: dict[str, Any] = {
        "model": config.model, "rule": config.rule, "feedback": config.feedback, "dataset": config.dataset,
        "rule_options": dict(config.rule_options), "seed": config.seed, "seconds": round(seconds, 3),
        "diverged": diverged, "epochs": 0, "test_accuracy": None, "val_accuracy": None, "train_loss": None,
    }
    if history:
        last = history[-1]
        best = max(history, key=lambda r: r["val_accuracy"])
        loss = last["train_loss"]
        out.update(epochs=last["epoch"], test_accuracy=last["test_accuracy"], val_accuracy=last["val_accuracy"],
                   train_loss=None if loss != loss else loss, best_val_epoch=best["epoch"],
                   best_val_accuracy=best["val_accuracy"], test_accuracy_at_best_val=best["test_accuracy"])
    return out


class Interrupted(SpikefaError):
    """The user stopped the run (Ctrl-C); the message says what was kept and how to continue."""


def _learning(rule: Rule, model: nn.Module, teacher: Teacher | None = None) -> Learning:
    learning = Learning(online=rule.learns_online(unwrap(model)), has_loss=not rule.unsupervised_for(unwrap(model)),
                        rule=rule.name, teacher=teacher)
    if teacher is not None and (learning.online or not learning.has_loss):
        raise SpikefaError(f"--distill: rule {rule.name!r} does not learn through a loss's backward "
                           f"({'it learns online' if learning.online else 'it is unsupervised'}); distil with bp, fa, "
                           "sign or a gradient-substitute rule")
    return learning


def _teacher(config: RunConfig, init: dict[str, Any] | None, data: Splits, device: torch.device) -> Teacher:
    """Distillation's teacher, frozen: the float network (no QAT) of ``config.distill_from``'s trained
    weights, else of ``init`` (``config.init_from``'s)."""
    float_config = replace(config, qat=None, state_bits=None, qat_freeze=0.0, qat_freeze_final=None,
                           init_from=config.distill_from or config.init_from, distill_from=None)
    weights = init_weights(float_config) if config.distill_from else init
    net = make_model(float_config, data.input_shape, data.num_classes, None, weights).to(device)
    return Teacher(net, config.distill, config.distill_temperature)


def train(config: RunConfig, out_dir: str | Path, *, progress: bool = True, resume: bool = False,
          on_epoch: Callable[[dict[str, Any]], None] | None = None, splits: Splits | None = None,
          transform: ModelTransform | None = None) -> dict[str, Any]:
    """Train ``config`` into ``out_dir`` (or continue it when ``resume``); returns the summary.

    ``transform`` changes the converted network before training (QAT: `spikefa.export.qat.qat_transform`).
    Raises `SpikefaError` for a run directory that already holds a run (without ``resume``) and
    `Interrupted` on Ctrl-C, saying which checkpoint is kept."""
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT
    if not resume and ckpt_path.exists():
        raise SpikefaError(f"{out}: already holds a run; pass --resume to continue it or choose another --out")
    info = init_from_env(_device(config.device))
    if config.checkpoint_every and info.world > 1:
        raise SpikefaError("checkpoint_every > 0 (checkpoints inside an epoch) is for one process; "
                           "with torchrun the run checkpoints after each epoch")
    rule = get_rule(config.rule)
    data = prepare_data(config, info.device, splits)
    resuming = resume and ckpt_path.exists()
    teach_from_init = bool(config.distill) and not config.distill_from  # the teacher is init_from's float network
    init = init_weights(config) if config.init_from and (teach_from_init or not resuming) else None
    model = make_model(config, data.input_shape, data.num_classes, transform, None if resuming else init
                       ).to(info.device)
    check_fits(model, config, data)
    check_epochs(model, config, len(data.x_train))
    teacher = _teacher(config, init, data, info.device) if config.distill else None
    if info.world > 1 and (rule.learns_online(model) or rule.unsupervised_for(model)):
        raise SpikefaError(f"rule {config.rule!r} learns online (its updates bypass DDP's gradient all-reduce, so "
                           "the ranks' copies would drift apart); run it in one process, without torchrun")
    optimizer = make_optimizer(config, model)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    history: list[dict[str, Any]] = []
    start, step, spent, within = 0, 0, 0.0, Progress()
    b_start = feedback_start(model)  # each stored B before any step (replaced by the saved one on resume)
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        b_start = state.get("feedback_start") or {}
        load_weights(model, upgrade_state(state["model"]), ckpt_path, config)
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
        gen.set_state(state["shuffle_rng"])  # the shuffling generator at the start of the epoch to run
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history, start, step, spent = state["history"], state["epoch"], state["step"], state["seconds"]
        within = Progress.from_dict(state.get("progress"))
        step -= within.batch  # the count at the start of the epoch a mid-epoch checkpoint is in
    with RunLock(out) if info.is_main else contextlib.nullcontext():
        if info.is_main:
            write_json(out / "config.json", config.to_dict())
        return _run_epochs(config, out, ckpt_path, info, rule, data, model, optimizer, teacher, gen, history, start,
                           step, spent, within, b_start, progress, on_epoch)


def _run_epochs(config: RunConfig, out: Path, ckpt_path: Path, info: DistInfo, rule: Rule, data: Splits,
                model: nn.Module, optimizer: torch.optim.Optimizer | None, teacher: Teacher | None,
                gen: torch.Generator, history: list[dict[str, Any]], start: int, step: int, spent: float,
                within: Progress, b_start: dict[str, Any], progress: bool,
                on_epoch: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    """`train`'s loop over the epochs, from `start` (the checkpoint's state when it resumes)."""
    ddp_model = wrap(model, info)
    bar = _progress_bar(config, data, start, within.batch, progress and info.is_main)
    learning = _learning(rule, model, teacher)
    shapes = {"input_shape": list(data.input_shape), "num_classes": data.num_classes, "feedback_start": b_start}
    diverged, ended = None, None
    try:
        for epoch in range(start, config.epochs):
            if getattr(unwrap(model), "done_learning", False):  # a fitted read-out: later epochs would repeat it
                left = f"epoch {epoch + 1} was" if epoch + 1 == config.epochs else f"epochs {epoch + 1}-{config.epochs} were"
                ended = (f"nothing learns after epoch {epoch} (its read-out was fitted once the local layers were "
                         f"fixed); {left} not run")
                break
            t0 = time.perf_counter()
            epoch_rng = gen.get_state()

            def save_within(done: Progress, epoch: int = epoch, t0: float = t0, epoch_rng: torch.Tensor = epoch_rng
                            ) -> None:
                if info.is_main:
                    _save(out, config, model, optimizer, epoch_rng, history, epoch, step + done.batch,
                          spent + time.perf_counter() - t0, shapes, done)

            try:
                stats = train_epoch(ddp_model, optimizer, data.x_train, data.y_train, batch_size=config.batch_size,
                                    gen=gen, info=info, lr_of=lambda e: lr_factor(config, e), epoch=epoch,
                                    epochs=config.epochs,
                                    align_every=config.align_every, step0=step, on_step=bar.step,
                                    learning=learning, progress=within, checkpoint_every=config.checkpoint_every,
                                    on_checkpoint=save_within)
            except DivergenceError as exc:  # keep the last good checkpoint, say where it broke
                kept = f"last good checkpoint: epoch {epoch}" if epoch else "no checkpoint (diverged in epoch 1)"
                diverged = f"{exc}; {kept}"
                break
            step += stats.steps  # `step` counts from the epoch's start, also when it resumed inside it
            within = Progress()
            if rule.ends_epochs:
                unwrap(model).end_epoch()
            if rule.assigns_labels_for(unwrap(model)):
                if getattr(unwrap(model), "readout_pending", True):
                    bar.note(f"epoch {epoch + 1}: reading the training split (labels, read-out)")
                unwrap(model).assign_labels(data.x_train, data.y_train)
            spent += time.perf_counter() - t0  # training time: the epoch, its label assignment or read-out fit
            if not getattr(unwrap(model), "readout_ready", True):  # nothing to score yet: no row, no best.pt
                if info.is_main:
                    _save(out, config, model, optimizer, gen.get_state(), history, epoch + 1, step, spent, shapes)
                barrier(info)
                continue
            lr = lr_at(config, epoch + 1) if optimizer is not None else float("nan")  # no optimiser, no rate
            row = _epoch_row(model, data, epoch, stats.loss, lr, spent,
                             {**stats.angles, **feedback_row(unwrap(model), b_start), **training_stats(model)})
            history.append(row)
            bar.epoch(row)
            if info.is_main and _best_so_far(history):  # model selection on validation: export --checkpoint best
                save_checkpoint(out / BEST, {**shapes, "epoch": epoch + 1, "val_accuracy": row["val_accuracy"],
                                             "model": model.state_dict()})
            if info.is_main:
                _save(out, config, model, optimizer, gen.get_state(), history, epoch + 1, step, spent, shapes)
            if on_epoch is not None:
                on_epoch(row)
            barrier(info)
    except KeyboardInterrupt:
        bar.close()
        raise Interrupted(_interrupted(out, ckpt_path)) from None
    bar.close()
    summary = _summary(config, history, spent, diverged)
    summary["optimizer"] = optimizer is not None  # False: the rule's own updates alone (config's optimiser unused)
    if ended:
        summary["ended_early"] = ended
    title = f"{config.model} · {config.rule}" + (f" ({config.feedback})" if config.feedback else "")
    if info.is_main:
        _diagnose(summary, unwrap(model), b_start, data, out, title)
        write_json(out / "summary.json", summary)
        from spikefa.train.plots import plot_run

        plot_run(out, history, title=title)
    return summary


def _diagnose(summary: dict[str, Any], model: nn.Module, b_start: dict[str, Any], data: Splits, out: Path,
              title: str) -> None:
    """What the run learned besides accuracy (`spikefa.train.diagnostics`): how far stored feedback
    matrices moved and their angles, and a local layer's dead / duplicate units and features.png."""
    feedback = feedback_summary(model, b_start)
    if feedback:
        summary["feedback_motion"] = feedback
    if not summary.get("diverged"):
        features = feature_diagnostics(model, data.x_train, tuple(data.input_shape), out, title)
        if features:
            summary["features"] = features


def _interrupted(out: Path, ckpt_path: Path) -> str:
    """What an interrupted run leaves behind, truthfully."""
    if not ckpt_path.exists():
        return (f"interrupted before the first checkpoint; nothing was trained to keep. `spikefa train --resume {out}` "
                "starts this run again from the beginning")
    state = load_checkpoint(ckpt_path)
    return (f"interrupted; the checkpoint (epoch {state['epoch']} done{_inside(state)}) is kept: continue with "
            f"`spikefa train --resume {out}`")


def _inside(state: dict[str, Any]) -> str:
    """A mid-epoch checkpoint's place in the epoch it was taken in ("" after a whole epoch)."""
    return f", {state['progress']['batch']} batches into epoch {state['epoch'] + 1}" if state.get("progress") else ""


def resume(out_dir: str | Path, *, epochs: int | None = None, device: str | None = None, progress: bool = True,
           transform_for: Callable[[RunConfig], ModelTransform | None] | None = None,
           announce: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Continue the run in ``out_dir`` from its last checkpoint (optionally to more epochs). A run
    that never reached a checkpoint starts again from the beginning; a finished run is left as it is
    (its summary is returned with ``complete = True``). ``device`` moves the run to another device
    (stored in its config.json; its spike streams continue from the saved state, `spikefa.nn.seeded`).
    ``announce`` is handed where the run continues, in words, before any training."""
    out = Path(out_dir)
    config = read_config(out)  # a missing directory or config is refused here, in one line
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if device is not None:
        config = replace(config, device=device)
    summary_path = out / "summary.json"
    state = load_checkpoint(out / CHECKPOINT) if (out / CHECKPOINT).exists() else None
    if state is not None and summary_path.exists() and state["epoch"] >= config.epochs and not state.get("progress"):
        return {**json.loads(summary_path.read_text()), "complete": True}
    _device(config.device)  # a run that will train: its device is refused before anything is announced
    if announce is not None:
        announce(f"{out}: no checkpoint yet; the run starts again from the beginning ({config.epochs} epochs)"
                 if state is None else
                 f"{out}: resuming after epoch {state['epoch']}{_inside(state)}, to {config.epochs} epochs")
    transform = transform_for(config) if transform_for is not None else None
    return train(config, out, progress=progress, resume=True, transform=transform)


def _device(name: str) -> str:
    """The torch device a run's ``device`` setting names ("auto": CUDA when there is one); a name torch
    does not know, or CUDA where there is none, is refused in one line."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(name)
    except (RuntimeError, TypeError):
        raise SpikefaError(f"device {name!r} is not a device torch knows; expected cpu, cuda, cuda:N or auto") from None
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SpikefaError(f"device {name!r} asked for but no CUDA device is available; use --device cpu")
    return name


def _epoch_row(model: nn.Module, data: Splits, epoch: int, loss: float, lr: float, seconds: float,
               angles: dict[str, float]) -> dict[str, Any]:
    net = unwrap(model)
    val_acc, val_loss = evaluate(net, data.x_val, data.y_val)
    test_acc, _ = evaluate(net, data.x_test, data.y_test)
    row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": round(loss, 6), "val_loss": round(val_loss, 6),
                           "val_accuracy": round(val_acc, 6), "test_accuracy": round(test_acc, 6),
                           "lr": lr, "seconds": round(seconds, 3)}
    row.update({k: v if k.endswith("_moved") else round(v, 5 if k.startswith("qat_") else 3)
                for k, v in sorted(angles.items())})
    return row


def _best_so_far(history: list[dict[str, Any]]) -> bool:
    """Whether the last epoch's validation accuracy is above every earlier epoch's (the first is)."""
    last = history[-1].get("val_accuracy")
    return last is not None and all(last > r.get("val_accuracy", -1.0) for r in history[:-1])


def _save(out: Path, config: RunConfig, model: nn.Module, optimizer: torch.optim.Optimizer | None,
          epoch_rng: torch.Tensor, history: list[dict[str, Any]], epoch: int, step: int, seconds: float,
          shapes: dict[str, Any], progress: Progress | None = None) -> None:
    """The checkpoint: after ``epoch`` complete epochs, plus ``progress`` batches into the next when
    taken inside it (``epoch_rng`` is then the shuffling generator at that epoch's start)."""
    from spikefa._version import __version__

    save_checkpoint(out / CHECKPOINT, {**shapes,
        "version": __version__, "config": config.to_dict(), "epoch": epoch, "step": step, "seconds": seconds,
        "model": model.state_dict(), "optimizer": None if optimizer is None else optimizer.state_dict(),
        "shuffle_rng": epoch_rng, "torch_rng": torch.get_rng_state(), "history": history,
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "progress": None if progress is None else progress.as_dict(),
    })
    _write_metrics(out / "metrics.csv", history)


class _Bar:
    """A tqdm bar over all steps of the run (a no-op when progress is off)."""

    def __init__(self, total: int, initial: int, desc: str, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, initial=initial, desc=desc, unit="step", disable=not enabled,
                         dynamic_ncols=True, leave=True)

    def step(self, loss: float) -> None:
        self._bar.update(1)
        if loss == loss:
            self._bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)

    def note(self, text: str) -> None:
        """Say what the run does between steps (e.g. a read-out fitted after the epoch)."""
        self._bar.set_postfix_str(text)

    def epoch(self, row: dict[str, Any]) -> None:
        loss = row["train_loss"]  # NaN for rules without a training loss (unsupervised STDP): not shown, as in step
        shown = f" loss {loss:.4f}" if loss == loss else ""
        self._bar.set_postfix_str(f"epoch {row['epoch']}{shown} val {row['val_accuracy']:.4f}")

    def close(self) -> None:
        self._bar.close()


def _progress_bar(config: RunConfig, data: Splits, start: int, within: int, enabled: bool) -> _Bar:
    per_epoch = -(-len(data.x_train) // config.batch_size)
    rule = get_rule(config.rule)
    desc = f"{config.rule}" + (f":{config.feedback}" if config.feedback and len(rule.feedbacks) > 1 else "")
    return _Bar(per_epoch * config.epochs, per_epoch * start + within, desc, enabled)
