"""Knowledge distillation from a float teacher (Hinton, Vinyals & Dean 2015, "Distilling the
knowledge in a neural network", eq. 2 and the τ² factor of §2): a QAT student fine-tuned from a float
run learns that run's softened class scores beside the labels.

For a spiking student that draws its own input spikes (`spikefa.nn.seeded.SeededStreams`), the
teacher is handed the student's spike-stream state before each batch, so both see the same spikes:
the distillation term compares the two networks, not two rate-code draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.nn.seeded import SeededStreams

__all__ = ["Teacher", "distillation_loss"]


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """τ²·KL(softmax(z_t/τ) ‖ softmax(z/τ)), averaged over the batch; scores [B, classes]."""
    log_p = F.log_softmax(student / temperature, dim=-1)
    log_q = F.log_softmax(teacher / temperature, dim=-1)
    return F.kl_div(log_p, log_q, reduction="batchmean", log_target=True) * temperature**2


@dataclass(frozen=True, eq=False)
class Teacher:
    """A frozen float network and the term's weight α and temperature τ."""

    net: nn.Module
    weight: float
    temperature: float

    def __post_init__(self) -> None:
        self.net.requires_grad_(False)
        self.net.train()  # a spiking teacher draws from the training stream it is handed (no dropout / BN here)

    def loss(self, x: torch.Tensor, out: torch.Tensor, y: torch.Tensor,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """(1 − α)·loss_fn(out, y) + α·τ²·KL for the student's scores `out` [B, classes] on inputs `x`
        (`follow` the student before its forward, so a spiking teacher draws the same spikes)."""
        with torch.no_grad():
            target = self.net(x)
        return (1 - self.weight) * loss_fn(out, y) + self.weight * distillation_loss(out, target, self.temperature)

    def follow(self, student: nn.Module) -> None:
        """Give the teacher the student's spike-stream state (before the student's forward)."""
        if isinstance(student, SeededStreams) and isinstance(self.net, SeededStreams):
            self.net.set_extra_state(student.get_extra_state())
