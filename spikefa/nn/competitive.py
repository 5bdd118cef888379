"""Competitive Hebbian networks as learners the training harness drives like any other rule's model:
Krotov & Hopfield (2019) and SoftHebb (Journé et al. 2023).

A learner holds a flat ``nn.Sequential``: its ``nn.Linear`` / ``nn.Conv2d`` layers but the last are
*local* (they learn by the competitive rule, without labels, feedback or target); the last
``nn.Linear`` is the read-out, trained by the gradient of the cross-entropy through the run's own
optimiser (for one linear layer, backprop, FA and DFA give the same update). Everything between
(activations, batch norm without affine parameters, pooling, dropout) is the network's own.

- ``local_step(x, y)``: one batch: the forward pass with the weights as they are, then each learning
  local layer's update from its own input (layers together, or one at a time: greedy), then the
  read-out's cross-entropy backward (the harness steps the optimiser); returns that loss.
- ``end_epoch()``: the harness calls it after each epoch (the rules declare ``ends_epochs``): the local
  rates anneal per epoch and local learning stops after ``local_epochs``.
- ``forward(x)``: class scores [B, classes].

``frozen`` keeps the local layers at their initialization: the random-feature control with the same
network, read-out and budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.competitive import (adaptive_rate, conv_patches, krotov_step_, repu, scaled_to_max,
                                            softhebb_activity, softhebb_update, triangle)
from spikefa.functional.readout import fit_logistic
from spikefa.schemas.validate import Validated, require

LOCAL_LAYERS = (nn.Linear, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


class RePU(nn.Module):
    """relu(u)^n (Krotov & Hopfield's power-law read-out activation)."""

    def __init__(self, n: float = 4.5) -> None:
        super().__init__()
        self.n = float(n)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return repu(u, self.n)

    def extra_repr(self) -> str:
        return f"n={self.n:g}"


class UnitNorm(nn.Module):
    """Each sample's features rescaled to mean square 1 (x·√n / ‖x‖₂ over dim 1): a read-out input
    of the same scale whatever the power-law activation makes of the units' overlaps; no
    parameters, no running statistics."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * math.sqrt(x.shape[1])


class Triangle(nn.Module):
    """relu(u − mean over channels)^power (SoftHebb's activation); channels on dim 1."""

    def __init__(self, power: float = 1.0) -> None:
        super().__init__()
        self.power = float(power)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return triangle(u, self.power)

    def extra_repr(self) -> str:
        return f"power={self.power:g}"


def _rows(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The layer's inputs as rows [N, fan_in]: a Linear's inputs, or a Conv2d's patches."""
    if isinstance(layer, nn.Conv2d):
        return conv_patches(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation,  # type: ignore[arg-type]
                            layer.padding_mode)
    return x.reshape(-1, x.shape[-1])


def _annealed(lr: float, epoch: int, epochs: int) -> float:
    """η₀·(1 − epoch/epochs): Krotov's per-epoch linear annealing."""
    return lr * max(0.0, 1.0 - epoch / epochs)


@dataclass(frozen=True)
class KrotovPlasticity(Validated):
    """Krotov & Hopfield's rule: Lebesgue ``p``, ranking ``k``, anti-Hebbian strength ``delta`` and
    the initial rate ``lr`` (ε₀), annealed linearly to 0 over the local epochs; each step is scaled
    so its largest entry is ε (their code). Initialization: W ~ N(0, ``sigma``²) (their code: σ = 1;
    a smaller σ starts nearer the unit p-sphere, so fewer epochs reach it)."""

    LABEL = "krotov"

    p: float = 3.0
    k: int = 7
    delta: float = 0.4
    lr: float = 0.04
    sigma: float = 1.0

    def check(self) -> None:
        require("p", self.p, self.p >= 2.0, "a number >= 2")
        require("k", self.k, self.k >= 2, "an integer >= 2")
        require("sigma", self.sigma, self.sigma > 0, "a number > 0")

    def init(self, layer: nn.Module, after_norm: bool, gen: torch.Generator) -> None:
        with torch.no_grad():
            layer.weight.normal_(0.0, self.sigma, generator=gen)  # type: ignore[operator]

    def step(self, layer: nn.Module, x: torch.Tensor, epoch: int, epochs: int) -> None:
        w: torch.Tensor = layer.weight  # type: ignore[assignment]
        rows = _rows(layer, x).to(w.dtype)
        flat = w if w.is_contiguous() else w.contiguous()  # a channels_last kernel: step a copy, write it back
        krotov_step_(flat.view(w.shape[0], -1), rows, self.p, self.k, self.delta, _annealed(self.lr, epoch, epochs))
        if flat is not w:
            w.copy_(flat)


@dataclass(frozen=True)
class SoftHebbPlasticity(Validated):
    """SoftHebb: temperature τ of the soft WTA, the anti-Hebbian variant, initial rate ``lr`` and,
    when ``adaptive``, the per-unit rate ``lr``·|‖W_k‖ − 1|^``lr_power`` (else ``lr`` annealed
    linearly over the local epochs); each step is scaled to a largest entry of 1 (reference code).
    Initialization (reference code): every unit at L2 norm about ``radius``: W ~ N(0, r²/fan_in)
    when the layer's input is batch-normalized, else W ~ U(0, r·√(3/fan_in))."""

    LABEL = "softhebb"

    temperature: float = 1.0
    anti_hebbian: bool = True
    lr: float = 0.08
    adaptive: bool = True
    lr_power: float = 0.5
    radius: float = 25.0

    def check(self) -> None:
        require("temperature", self.temperature, self.temperature > 0, "a number > 0")
        require("radius", self.radius, self.radius > 0, "a number > 0")
        require("lr", self.lr, self.lr >= 0, "a number ≥ 0 (0 keeps the layer at its initialisation)")

    def init(self, layer: nn.Module, after_norm: bool, gen: torch.Generator) -> None:
        w: torch.Tensor = layer.weight  # type: ignore[assignment]
        fan_in = w[0].numel()
        with torch.no_grad():
            if after_norm:
                w.normal_(0.0, self.radius / math.sqrt(fan_in), generator=gen)
            else:
                w.uniform_(0.0, self.radius * math.sqrt(3.0 / fan_in), generator=gen)

    def step(self, layer: nn.Module, x: torch.Tensor, epoch: int, epochs: int) -> None:
        if self.lr == 0:  # this layer keeps its initialisation (a per-layer random-feature control)
            return
        w: torch.Tensor = layer.weight  # type: ignore[assignment]
        rows = _rows(layer, x).to(w.dtype)
        flat = w.reshape(w.shape[0], -1)
        u = rows.matmul(flat.t())
        y = softhebb_activity(u, self.temperature, self.anti_hebbian)
        delta = scaled_to_max(softhebb_update(rows, u, y, flat))
        if self.adaptive:
            delta = delta * adaptive_rate(flat, self.lr, self.lr_power).unsqueeze(1)
        else:
            delta = delta * _annealed(self.lr, epoch, epochs)
        w.add_(delta.view_as(w))


Plasticity = KrotovPlasticity | SoftHebbPlasticity
Schedule = Literal["together", "greedy"]
Readout = Literal["gradient", "fit"]


def _split(model: nn.Module, rule: str) -> tuple[list[int], int]:
    """(indices of the local layers, index of the read-out Linear) in a flat Sequential."""
    if not isinstance(model, nn.Sequential):
        raise SpikefaError(f"rule {rule!r} needs a flat nn.Sequential model, got {type(model).__name__}")
    layers = [i for i, m in enumerate(model) if isinstance(m, LOCAL_LAYERS)]
    if len(layers) < 2 or not isinstance(model[layers[-1]], nn.Linear):
        raise SpikefaError(f"rule {rule!r} needs at least one nn.Linear / nn.Conv2d layer to learn locally and an "
                           "nn.Linear read-out as the last layer of the nn.Sequential")
    for i in layers[:-1]:
        if isinstance(model[i], nn.Conv2d) and model[i].groups != 1:
            raise SpikefaError(f"rule {rule!r}: Conv2d layer {i} has groups={model[i].groups}; use groups=1")
    return layers[:-1], layers[-1]


def local_layer_count(model: nn.Module, rule: str) -> int:
    """How many layers of ``model`` a competitive learner trains locally; raises `SpikefaError` for a
    model it cannot train."""
    return len(_split(model, rule)[0])


def scheduled_layers(epoch: int, local: Sequence[int], local_epochs: int, schedule: str,
                     frozen: bool) -> list[tuple[int, int]]:
    """(layer index, epoch within that layer's local phase) of the local layers learning in ``epoch``:
    all of ``local`` for the first ``local_epochs`` when ``schedule`` is "together"; one after the
    other, ``local_epochs`` each, when greedy; none when ``frozen`` (the random-feature control)."""
    if frozen:
        return []
    if schedule == "together":
        return [(i, epoch) for i in local] if epoch < local_epochs else []
    j = epoch // local_epochs
    return [(local[j], epoch % local_epochs)] if j < len(local) else []


def present(model: nn.Sequential, x: torch.Tensor, learning: dict[int, int], upto: int,
            step: Callable[[int, torch.Tensor, int], None]) -> torch.Tensor:
    """``x`` through modules [0, ``upto``) of ``model`` (returns their output, the input of module
    ``upto``), then ``step(i, input of module i, epoch within its phase)`` for each learning module
    i ≤ ``upto`` (``learning``: index -> epoch): every input computed with the weights as they were."""
    inputs: dict[int, torch.Tensor] = {}
    h = x
    for i, m in enumerate(list(model)[:upto]):
        if i in learning:
            inputs[i] = h
        h = m(h)
    if upto in learning:
        inputs[upto] = h
    for i, x_in in inputs.items():
        step(i, x_in, learning[i])
    return h


def images_to_learn(learner: nn.Module, n: int) -> int:
    """How many of a batch of ``n`` images a learner's local layers take: all, or those left of its
    ``local_images`` in this epoch (counted in its ``images_this_epoch`` buffer)."""
    cap = int(getattr(learner, "local_images", 0))
    if not cap:
        return n
    take = max(0, min(n, cap - int(learner.images_this_epoch)))  # type: ignore[operator]
    learner.images_this_epoch += take  # type: ignore[operator]
    return take


class CompetitiveLearner(nn.Module):
    """A flat Sequential whose layers but the last learn by ``plasticity`` (module docstring): one
    for all local layers, or one per local layer (input side first).

    ``local_epochs``: epochs of local learning (per layer when ``schedule`` is greedy: layer 1 for the
    first ``local_epochs``, then layer 2, ...); the read-out learns in every epoch. ``init``: draw the
    local layers as the rule's reference code does (from ``seed``; a bias, which neither rule has, is
    set to 0), or keep the model's weights. The rules learn weights only: a local layer's bias stays.
    ``local_batch``: the local rule's minibatch (0: the run's batch; see `local_step`).
    ``local_images``: the local layers learn from the first this many images of each of their local
    epochs and then stay fixed for the rest of it (0: all; the STDP papers' few thousand images).
    ``readout``: "gradient" (the run's optimiser, every epoch) or "fit": once the local phase is over
    (`epochs_needed`), `assign_labels` fits the read-out to the features of the whole training split
    by an L2-penalised logistic regression (``readout_l2``; `spikefa.functional.readout`), and the
    batches of epochs without local learning are skipped.
    Raises `SpikefaError` for a model it cannot train (named)."""

    def __init__(self, model: nn.Module, plasticity: Plasticity | Sequence[Plasticity], rule: str, *, seed: int = 0,
                 local_epochs: int = 1, schedule: Schedule = "together", frozen: bool = False,
                 init: bool = True, local_batch: int = 0, local_images: int = 0, readout: Readout = "gradient",
                 readout_l2: float = 1e-4) -> None:
        super().__init__()
        self.local, self.readout_at = _split(model, rule)
        if readout == "fit" and (self.readout_at != len(model) - 1 or model[self.readout_at].bias is None):
            raise SpikefaError(f"rule {rule!r}: readout = 'fit' needs the read-out Linear, with a bias, as the model's "
                               f"last module (module {self.readout_at} of {len(model)} is the Linear)")
        self.model = model
        rules = list(plasticity) if isinstance(plasticity, Sequence) else [plasticity] * len(self.local)
        if len(rules) != len(self.local):
            raise SpikefaError(f"rule {rule!r}: {len(rules)} plasticity settings for {len(self.local)} local layers; "
                               "give one, or one per local layer")
        self.plasticity = dict(zip(self.local, rules))  # Sequential index -> its rule
        self.schedule, self.frozen = schedule, bool(frozen)
        self.local_epochs = int(local_epochs)
        self.local_batch, self.local_images = int(local_batch), int(local_images)
        self.readout, self.readout_l2 = readout, float(readout_l2)
        self.register_buffer("epochs_done", torch.zeros((), dtype=torch.int64))
        if self.local_images:  # only where the option uses them, so runs saved before them still load
            self.register_buffer("images_this_epoch", torch.zeros((), dtype=torch.int64))
        if readout == "fit":
            self.register_buffer("readout_fitted", torch.zeros((), dtype=torch.bool))
            for p in model[self.readout_at].parameters():  # fitted, not trained: the run needs no optimiser
                p.requires_grad_(False)
        gen = torch.Generator().manual_seed(int(seed))
        for i in self.local:
            layer = model[i]
            for p in layer.parameters():
                p.requires_grad_(False)
            if init:
                self.plasticity[i].init(layer, self._after_norm(i), gen)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)

    def _after_norm(self, i: int) -> bool:
        """Whether a batch norm sits between layer ``i`` and the layer before it."""
        for m in reversed(list(self.model)[:i]):
            if isinstance(m, _NORMS):
                return True
            if isinstance(m, LOCAL_LAYERS):
                return False
        return False

    @property
    def plastic_layers(self) -> list[int]:
        """The local layers that learn: a layer whose rate is 0 keeps its initialisation, and the greedy
        schedule gives it no epochs."""
        return [i for i in self.local if getattr(self.plasticity[i], "lr", 1.0) != 0]

    def learning(self) -> list[tuple[int, int]]:
        """(Sequential index, epoch within that layer's local phase) of the layers learning now."""
        return scheduled_layers(int(self.epochs_done), self.plastic_layers, self.local_epochs, self.schedule,
                                self.frozen)

    @property
    def fits_readout(self) -> bool:
        """Whether the read-out is fitted after the local phase (``readout = "fit"``) instead of
        learning by gradient; the rules declare such a learner unsupervised and label-assigning."""
        return self.readout == "fit"

    @property
    def readout_ready(self) -> bool:
        """False while a fitted read-out waits for the local phase: the network has nothing to be
        scored by yet (the harness writes no row for such an epoch)."""
        return not self.fits_readout or bool(self.readout_fitted)

    @property
    def readout_pending(self) -> bool:
        """Whether the next `assign_labels` fits the read-out (the local phase over, no fit yet)."""
        return self.fits_readout and not bool(self.readout_fitted) and int(self.epochs_done) >= self.epochs_needed

    @property
    def done_learning(self) -> bool:
        """True once a fitted read-out is fitted: nothing learns in later epochs (the harness stops)."""
        return self.fits_readout and bool(self.readout_fitted)

    @property
    def epochs_needed(self) -> int:
        """Epochs until every local layer has learned: ``local_epochs`` (per layer when greedy), 0 when
        frozen. A fitted read-out is fitted after them, so a run needs at least this many (and 1)."""
        if self.frozen:
            return 0
        return self.local_epochs * (len(self.plastic_layers) if self.schedule == "greedy" else 1)

    def _images_to_learn(self, n: int) -> int:
        return images_to_learn(self, n)

    def _present(self, x: torch.Tensor, learning: dict[int, int], upto: int) -> torch.Tensor:
        """``x`` through modules [0, upto) (the output, and the input of module ``upto``), in chunks of ``local_batch`` while layers learn: each chunk's
        forward with the weights as they are, then the learning layers' updates from their inputs."""
        chunk = self.local_batch if learning and self.local_batch else max(len(x), 1)
        out = [present(self.model, part, learning, upto,
                       lambda i, x_in, e: self.plasticity[i].step(self.model[i], x_in, e, self.local_epochs))
               for part in x.split(chunk)]
        return torch.cat(out) if len(out) > 1 else out[0]

    def local_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One batch (module docstring); returns the read-out's cross-entropy (0 with a fitted
        read-out). While local layers learn and ``local_batch`` is below the batch, the batch is
        presented in chunks of ``local_batch`` (forward, then the local updates, chunk after chunk)
        and the read-out takes one step on the features of all chunks. Past ``local_images`` in the
        epoch the layers stop learning; with a fitted read-out such a batch is skipped, and a learning
        one runs only as far as the last learning layer's input."""
        learning = dict(self.learning())
        n = self._images_to_learn(len(x)) if learning else 0
        with torch.no_grad():
            if self.fits_readout:
                if n:
                    self._present(x[:n], learning, max(learning))
                return x.new_zeros(())
            parts = [self._present(x[:n], learning, self.readout_at)] if n else []
            if n < len(x):
                parts.append(self.model[:self.readout_at](x[n:]))
        logits = self.model[self.readout_at:](torch.cat(parts) if len(parts) > 1 else parts[0])
        loss = F.cross_entropy(logits, y)
        loss.backward()
        return loss.detach()

    @torch.no_grad()
    def assign_labels(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 200) -> None:
        """With ``readout = "fit"``, once the local phase is over and not before (`epochs_needed`), and
        once: the read-out fitted to the features of ``x`` [N, ...] (eval mode, ``batch_size`` at a
        time) for the labels ``y`` [N] (`spikefa.functional.readout.fit_logistic`). The harness
        calls it after each epoch."""
        if not self.readout_pending:
            return
        was = self.training
        self.eval()
        features = torch.cat([self.model[:self.readout_at](part).cpu() for part in x.split(batch_size)])
        self.train(was)
        readout = self.model[self.readout_at]
        weight, bias = fit_logistic(features, y.cpu(), readout.out_features, self.readout_l2)
        readout.weight.copy_(weight)
        readout.bias.copy_(bias)
        self.readout_fitted.fill_(True)

    @torch.no_grad()
    def end_epoch(self) -> None:
        """Ends an epoch (the harness's after-epoch call, `Rule.ends_epochs`)."""
        self.epochs_done += 1
        if self.local_images:
            self.images_this_epoch.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out

    @torch.no_grad()
    def local_features(self, x: torch.Tensor) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """(name, weight, response [N, units]) of every local layer on inputs ``x`` [N, ...]. The weight
        as the layer holds it ([out, in] or [out, C, kh, kw]); the response is the output of the module
        right after the layer (the activation in the cards' blocks; the layer's own output when another
        local layer follows), a conv channel's largest value over its map (or over its windowed
        features; its earliest spike time for a layer that outputs spike times). Call it in eval mode (the
        harness's diagnostics do): in training mode a batch norm would update its running statistics."""
        mods = list(self.model)[:self.readout_at]
        def activation_of(i: int) -> int:  # the module whose output is layer i's response
            return i + 1 if i + 1 < len(mods) and not isinstance(mods[i + 1], LOCAL_LAYERS) else i

        after = {activation_of(i): i for i in self.local}
        still = set() if self.frozen else set(self.local) - set(self.plastic_layers)  # rate 0: named so below
        out, h = [], x
        for j, m in enumerate(mods):
            h = m(h)
            if j in after:
                i = after[j]
                per_unit = h.reshape(h.shape[0], mods[i].weight.shape[0], -1)
                # a unit's largest value; its earliest spike where the layer gives spike times
                response = per_unit.amin(2) if getattr(mods[i], "output", None) == "times" else per_unit.amax(2)
                out.append((f"model.{i} (rate 0, at initialisation)" if i in still else f"model.{i}", mods[i].weight.detach(),
                            response))
        return out

    def local_layers(self) -> list[nn.Module]:
        """The layers that learn by the rule, input side first."""
        return [self.model[i] for i in self.local]
