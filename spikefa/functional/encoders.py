"""Spike encoders: static inputs in [0, 1] -> time-major spike or current trains [T, B, ...].

Each encoder is a frozen dataclass validated on construction (`spikefa.schemas.validate.Validated`,
the kinds from `spikefa.schemas.vocab`) whose call takes the randomness explicitly
(`torch.Generator`), so the same generator state gives the same spikes.

- rate, Bernoulli: S[t] ~ Bernoulli(gain·x), independently per step (snnTorch ``spikegen.rate``):
  gain·x spikes per step on average.
- rate, Poisson: a Poisson process of gain·x events per step, of which a step keeps at most one
  spike (a spike train is 0/1): S[t] = 1 when the count ~ Poisson(gain·x) is >= 1, so the mean is
  1 − exp(−gain·x) spikes per step, not gain·x: equal to first order for small gain·x, 0.63 at
  gain·x = 1 (`RateEncoder.rate` gives it). Pick "bernoulli" for a rate of exactly gain·x.
- latency: one spike per input at t = round((T − 1)·(1 − x)) (linear code, brighter = earlier);
  inputs below ``min_value`` never spike.
- direct: the value itself as an input current at every step (the first layer integrates it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch

from spikefa.errors import ConfigError
from spikefa.schemas.card import EncoderSpec
from spikefa.schemas.validate import FieldError, Validated, choices, one_of, require
from spikefa.schemas.vocab import EncoderKind, RateKind


class Encoder(Protocol):
    time_steps: int

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...

    def steps(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]: ...


def _stacked(encoder: Encoder, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """The whole train [T, B, ...]: by definition the stack of `steps`, so a learner that draws
    one step at a time (constant memory in T) sees the same spikes."""
    return torch.stack(list(encoder.steps(x, generator)))


def _check_unit(name: str, x: torch.Tensor) -> None:
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ConfigError(f"{name} encoder: inputs must lie in [0, 1], got [{x.min():g}, {x.max():g}]")


@dataclass(frozen=True)
class _Steps(Validated):
    """What every encoder holds and checks: `time_steps` >= 1 (its type comes from the annotation)."""

    time_steps: int

    def check(self) -> None:
        require("time_steps", self.time_steps, self.time_steps >= 1, "an integer >= 1")


@dataclass(frozen=True)
class RateEncoder(_Steps):
    """Rate code over `time_steps` steps of [T, B, ...]: a spike per step with probability gain·x
    (Bernoulli) or 1 − exp(−gain·x) (Poisson, clipped to one spike; see `rate`)."""

    LABEL: ClassVar[str] = "rate encoder"

    gain: float = 1.0
    kind: RateKind = "bernoulli"

    def check(self) -> None:
        super().check()
        require("gain", self.gain, 0 < self.gain <= 1, "a number in (0, 1]")

    def rate(self, x: torch.Tensor) -> torch.Tensor:
        """Mean spikes per step (the spike probability) for inputs x in [0, 1]: gain·x for
        "bernoulli", 1 − exp(−gain·x) for "poisson" (a Poisson count clipped to one spike)."""
        _check_unit("rate", x)
        p = self.gain * x
        return p if self.kind == "bernoulli" else -torch.expm1(-p)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Spikes [T, *x.shape], 0/1 in x's dtype."""
        return _stacked(self, x, generator)

    def steps(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        _check_unit("rate", x)
        p = self.gain * x
        for _ in range(self.time_steps):
            if self.kind == "bernoulli":
                u = torch.rand(p.shape, generator=generator, device=x.device, dtype=x.dtype)
                yield (u < p).to(x.dtype)
            else:
                yield torch.poisson(p, generator=generator).clamp_(max=1.0)


@dataclass(frozen=True)
class LatencyEncoder(_Steps):
    """Time-to-first-spike code, linear in intensity: x = 1 fires at t = 0, x -> min_value at T − 1."""

    LABEL: ClassVar[str] = "latency encoder"

    min_value: float = 0.01

    def check(self) -> None:
        super().check()
        require("min_value", self.min_value, 0 <= self.min_value < 1, "a number in [0, 1)")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _stacked(self, x, generator)

    def steps(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        _check_unit("latency", x)
        t_fire = torch.round((self.time_steps - 1) * (1 - x)).long()
        fires = x > self.min_value
        for t in range(self.time_steps):
            yield ((t_fire == t) & fires).to(x.dtype)


@dataclass(frozen=True)
class DirectEncoder(_Steps):
    """The input itself as a constant current at every step."""

    LABEL: ClassVar[str] = "direct encoder"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _stacked(self, x, generator)

    def steps(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        for _ in range(self.time_steps):
            yield x


ENCODERS: dict[str, type[RateEncoder] | type[LatencyEncoder] | type[DirectEncoder]] = {
    "rate": RateEncoder, "latency": LatencyEncoder, "direct": DirectEncoder,
}  # fmt: skip


def make_encoder(kind: EncoderKind, time_steps: int, **kwargs: object) -> Encoder:
    """The encoder registered as `kind` (rate, latency, direct)."""
    if kind not in ENCODERS:
        raise FieldError("encoder", kind, one_of(choices(EncoderKind)))
    return ENCODERS[kind](time_steps, **kwargs)  # type: ignore[arg-type]


def encoder_of(spec: EncoderSpec, time_steps: int | None = None) -> Encoder:
    """The encoder a model card's ``[encoder]`` describes (optionally at another T): the one place a
    card's spec becomes an encoder (the harness, the benchmarks and the export sweep use it)."""
    kwargs = {"gain": spec.gain} if spec.kind == "rate" else {}
    return make_encoder(spec.kind, spec.time_steps if time_steps is None else time_steps, **kwargs)
