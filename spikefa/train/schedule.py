"""Learning-rate schedules of a run: constant, or cosine to 0 over the run's epochs."""

from __future__ import annotations

import math

from spikefa.schemas.run import RunConfig


def lr_factor(config: RunConfig, epoch: float) -> float:
    """Multiplier of every group's base learning rate at a (fractional) epoch: 1, or cosine to 0."""
    if config.schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * min(epoch / config.epochs, 1.0)))


def lr_at(config: RunConfig, epoch: float) -> float:
    """The main learning rate at a (fractional) epoch."""
    return config.lr * lr_factor(config, epoch)
