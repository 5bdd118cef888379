"""The resolved configuration of one training run: a frozen, validated record."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from spikefa.errors import ConfigError

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's result; written to ``config.json`` in the run directory."""

    model: str
    rule: str
    dataset: str
    feedback: str | None = None
    rule_options: Mapping[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    epochs: int = 10
    seed: int = 0
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "cosine"
    normalize: bool = True
    align_every: int = 100
    limit_train: int | None = None
    limit_eval: int | None = None
    device: str = "cpu"
    qat: str | None = None  # "PROFILE[:BITS]": train through the target's fake quantisation

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr}
        for key, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{key} must be > 0, got {value!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} is unknown: use one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule {self.schedule!r} is unknown: use one of {', '.join(SCHEDULES)}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError(f"weight_decay must be >= 0 and momentum in [0, 1), got {self.weight_decay}, {self.momentum}")
        if self.align_every < 0:
            raise ConfigError(f"align_every must be >= 0 (0 turns alignment logging off), got {self.align_every}")
        if self.qat is not None:
            name, _, bits = self.qat.partition(":")
            if not name or (bits and not bits.isdigit()):
                raise ConfigError(f"qat {self.qat!r} must be PROFILE or PROFILE:BITS, e.g. int8-edge:4")
        for key in ("limit_train", "limit_eval"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"{key} must be >= 1, got {value}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rule_options"] = dict(self.rule_options)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(known))}")
        return cls(**dict(data))


def lr_factor(config: RunConfig, epoch: float) -> float:
    """Multiplier of every group's base learning rate at a (fractional) epoch: 1, or cosine to 0."""
    if config.schedule == "constant":
        return 1.0
    import math

    return 0.5 * (1.0 + math.cos(math.pi * min(epoch / config.epochs, 1.0)))


def lr_at(config: RunConfig, epoch: float) -> float:
    """The main learning rate at a (fractional) epoch."""
    return config.lr * lr_factor(config, epoch)
