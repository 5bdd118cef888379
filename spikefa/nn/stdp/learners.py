"""The STDP networks as learners the training harness drives like any other rule's model.

Each holds its network, draws its input spikes from its own generator (saved with the model, so a
resumed run draws what an unbroken one would) and offers what `spikefa.rules` declares for it:

- ``local_step(x, y)``: one presentation of a batch x [B, C, H, W] in [0, 1] with learning; returns
  the loss to log (None for unsupervised STDP, which has none);
- ``assign_labels(x, y)``: after an epoch, with learning off: Diehl & Cook's label assignment, or
  fitting the delta-rule read-out on STDP features;
- ``forward(x)``: class scores [B, classes] with learning off, from a fixed evaluation seed, so every
  evaluation sees the same spikes.

``frozen`` keeps the STDP layer at its initialization: the random-feature control of the same
network, read-out and budget.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from spikefa.nn.seeded import EVAL, SeededStreams
from spikefa.nn.stdp.diehl_cook import DiehlCookNet
from spikefa.nn.stdp.readout import DeltaReadout
from spikefa.nn.stdp.three_factor import ThreeFactorNet

_LABELS = 1003  # the label / read-out stream (training and evaluation: spikefa.nn.seeded)


def responses(net: nn.Module, x: torch.Tensor, gen: torch.Generator, batch_size: int = 256,
              on_batch: Callable[[int], None] | None = None) -> torch.Tensor:
    """Spike counts [N, neurons] of a `DiehlCookNet` or `ThreeFactorNet`'s hidden layer for inputs
    x [N, ...] in [0, 1], learning off, drawing from `gen`; ``on_batch(n)`` after each batch."""
    out = [torch.zeros(0, int(getattr(net, "weight").shape[0]))]
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].cpu()
        out.append(net.present(xb, gen, learn=False) if isinstance(net, DiehlCookNet) else net.run(xb, gen)[0])
        if on_batch is not None:
            on_batch(len(xb))
    return torch.cat(out)


class DiehlCookLearner(SeededStreams):
    """Diehl & Cook (2015): unsupervised STDP, label assignment from the responses to the first
    ``label_samples`` training images, classification by the all-activity vote."""

    def __init__(self, net: DiehlCookNet, seed: int = 0, label_samples: int = 10000, frozen: bool = False) -> None:
        super().__init__(seed)
        self.net, self.label_samples, self.frozen = net, int(label_samples), bool(frozen)

    @torch.no_grad()
    def local_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.net.present(x.cpu(), self.train_generator(), learn=not self.frozen)
        return None

    @torch.no_grad()
    def assign_labels(self, x: torch.Tensor, y: torch.Tensor) -> None:
        n = min(self.label_samples, len(x))
        self.net.assign(responses(self.net, x[:n], self.fixed_generator(_LABELS)), y[:n].cpu())

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.cpu(), self.fixed_generator(EVAL)).to(x.device)


class STDPReadoutLearner(DiehlCookLearner):
    """STDP features + delta-rule read-out: the Diehl & Cook layer learns without labels; after
    each epoch a softmax read-out is fitted (``readout_epochs`` passes of the delta rule, learning
    rate ``readout_lr``) on its spike counts for the first ``label_samples`` training images."""

    def __init__(self, net: DiehlCookNet, seed: int = 0, label_samples: int = 10000, frozen: bool = False,
                 readout_epochs: int = 30, readout_lr: float = 0.05, weight_decay: float = 1e-4,
                 batch_size: int = 100) -> None:
        super().__init__(net, seed, label_samples, frozen)
        self.readout = DeltaReadout(net.params.n_exc, net.num_classes)
        self.readout_epochs, self.readout_lr, self.weight_decay = int(readout_epochs), readout_lr, weight_decay
        self.batch_size = batch_size

    @torch.no_grad()
    def assign_labels(self, x: torch.Tensor, y: torch.Tensor) -> None:
        n = min(self.label_samples, len(x))
        features, labels = responses(self.net, x[:n], self.fixed_generator(_LABELS)), y[:n].cpu()
        self.readout.fit_scaling(features)
        self.readout.weight.zero_()
        self.readout.bias.zero_()
        gen = self.fixed_generator(_LABELS + 1)
        for _ in range(self.readout_epochs):
            for idx in torch.split(torch.randperm(n, generator=gen), self.batch_size):
                self.readout.learn(features[idx], labels[idx], self.readout_lr, self.weight_decay)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = responses(self.net, x, self.fixed_generator(EVAL))
        return self.readout(counts).to(x.device)


class ThreeFactorLearner(SeededStreams):
    """Three-factor STDP: the hidden layer learns by error-gated STDP eligibility and the read-out
    by the delta rule, together, online over presentations."""

    def __init__(self, net: ThreeFactorNet, seed: int = 0, frozen: bool = False) -> None:
        super().__init__(seed)
        self.net, self.frozen = net, bool(frozen)

    @torch.no_grad()
    def local_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One presentation with learning; returns the read-out's cross-entropy before its update."""
        e = self.net.learn(x.cpu(), y.cpu(), self.train_generator(), hidden=not self.frozen)
        p_target = (e[torch.arange(len(y)), y.cpu()] + 1.0).clamp_min(1e-12)  # e = softmax − onehot
        return -p_target.log().mean()

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.cpu(), self.fixed_generator(EVAL)).to(x.device)
