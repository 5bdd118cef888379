"""The LIF neuron a spiking network runs: one description read by every consumer (the network's
own forward, the online learners, QAT, the exporters and the Brian2 cross-check).

β (``beta``) is the membrane decay per step of ``dt`` ms, β = exp(−dt/τ_mem); θ (``threshold``) the
firing threshold; ``reset`` the snnTorch reset mode; ``surrogate`` the spike's surrogate gradient.
A model card's ``[neuron]`` table parses into this class.

β and θ are one number per layer, or `PerNeuron` values read from a user's snnTorch neuron made
with ``Leaky(beta=tensor, threshold=tensor)``. The online learners and the exporters take them per
neuron; consumers that take one value per layer (QAT, the Brian2 cross-check) use them as numbers
(``float``, comparisons, formatting), which for `PerNeuron` values raises a one-line `ConfigError`
instead of a wrong number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from spikefa.errors import ConfigError
from spikefa.schemas.validate import Validated, require
from spikefa.schemas.vocab import Reset, Surrogate


def tau_of(beta: float, dt: float) -> float:
    """Membrane time constant −dt / ln β in the unit of dt (inf for β = 1, 0 for β = 0)."""
    if beta >= 1.0:
        return math.inf
    return 0.0 if beta <= 0.0 else -dt / math.log(beta)


class PerNeuron(tuple):  # type: ignore[type-arg]
    """One value of a LIF parameter per neuron of a layer (β or θ, in the layer's neuron order).

    It is a tuple (hashable, compared by value, so `LIFParams` stays a frozen value); using it as one
    number (``float(v)``, ``v >= 1``, ``f"{v:g}"``, ``v * x``) raises `ConfigError` naming the parameter:
    a consumer written for one value per layer refuses instead of computing with a wrong one."""

    name: str

    def __new__(cls, values: Iterable[float], name: str = "beta") -> PerNeuron:
        obj = super().__new__(cls, tuple(float(v) for v in values))
        obj.name = name
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (PerNeuron, (tuple(self), self.name))

    def _one_value(self, *_: Any) -> NoReturn:
        raise ConfigError(f"LIF {self.name} holds {len(self)} per-neuron values; this consumer takes one {self.name} "
                          "per layer (spikefa export, QAT and the Brian2 cross-check do): give the layer one value")

    __float__ = __lt__ = __le__ = __gt__ = __ge__ = __mul__ = __rmul__ = __add__ = __radd__ = _one_value  # type: ignore[assignment]
    __sub__ = __rsub__ = __truediv__ = __rtruediv__ = __neg__ = _one_value  # type: ignore[assignment]

    def __format__(self, spec: str) -> str:
        return tuple.__format__(self, spec) if not spec else self._one_value()

    def __repr__(self) -> str:
        return f"PerNeuron({list(self)!r}, name={self.name!r})"


def values_of(value: float | PerNeuron) -> tuple[float, ...]:
    """The values of a scalar or per-neuron parameter, as a tuple."""
    return tuple(value) if isinstance(value, PerNeuron) else (value,)


@dataclass(frozen=True)
class LIFParams(Validated):
    """β (membrane decay per step, in [0, 1]), θ (> 0), reset mode, dt in ms, surrogate gradient and,
    for a current-based neuron (snnTorch's ``Synaptic``), α, the synaptic current's decay per step:
    I_syn[t] = α·I_syn[t−1] + I[t] feeds the membrane in place of I[t]. β and θ are numbers, or
    `PerNeuron` values (one per neuron, read from a user's snnTorch neuron; ``per_neuron`` says so)."""

    LABEL = "LIF"

    beta: float | PerNeuron
    threshold: float | PerNeuron = 1.0
    reset: Reset = "subtract"
    dt: float = 1.0
    surrogate: Surrogate = "atan"
    alpha: float | None = None

    def check(self) -> None:
        for key, value in (("beta", self.beta), ("threshold", self.threshold)):
            require(key, value, isinstance(value, PerNeuron) or not isinstance(value, tuple),
                    "a number (per-neuron values come from an snnTorch neuron, as PerNeuron)")
        require("beta", self.beta, all(0.0 <= b <= 1.0 for b in values_of(self.beta)), "a number in [0, 1]")
        require("alpha", self.alpha, self.alpha is None or 0.0 <= self.alpha <= 1.0,
                "a number in [0, 1] (a current-based neuron's synaptic decay) or nothing (a plain LIF)")
        require("threshold", self.threshold, all(v > 0 for v in values_of(self.threshold)), "a number > 0")
        require("dt", self.dt, self.dt > 0, "a number of ms > 0")

    @property
    def per_neuron(self) -> bool:
        """Whether β or θ holds one value per neuron."""
        return isinstance(self.beta, PerNeuron) or isinstance(self.threshold, PerNeuron)

    @property
    def tau_mem(self) -> float:
        """Membrane time constant in ms implied by β and dt (inf for β = 1, 0 for β = 0)."""
        return tau_of(self.beta, self.dt)

    @classmethod
    def from_tau(cls, tau_mem: float, dt: float = 1.0, **kw: object) -> LIFParams:
        """β = exp(−dt/τ_mem) for τ_mem in ms."""
        return cls(beta=math.exp(-dt / tau_mem), dt=dt, **kw)  # type: ignore[arg-type]
