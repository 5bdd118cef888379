"""The LIF neuron a spiking network runs: one description read by every consumer (the network's
own forward, the online learners, QAT, the exporters and the Brian2 cross-check).

β (``beta``) is the membrane decay per step of ``dt`` ms, β = exp(−dt/τ_mem); θ (``threshold``) the
firing threshold; ``reset`` the snnTorch reset mode; ``surrogate`` the spike's surrogate gradient.
A model card's ``[neuron]`` table parses into this class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spikefa.schemas.validate import Validated, require
from spikefa.schemas.vocab import Reset, Surrogate


def tau_of(beta: float, dt: float) -> float:
    """Membrane time constant −dt / ln β in the unit of dt (inf for β = 1, 0 for β = 0)."""
    if beta >= 1.0:
        return math.inf
    return 0.0 if beta <= 0.0 else -dt / math.log(beta)


@dataclass(frozen=True)
class LIFParams(Validated):
    """β (membrane decay per step, in [0, 1]), θ (> 0), reset mode, dt in ms, surrogate gradient and,
    for a current-based neuron (snnTorch's ``Synaptic``), α, the synaptic current's decay per step:
    I_syn[t] = α·I_syn[t−1] + I[t] feeds the membrane in place of I[t]."""

    LABEL = "LIF"

    beta: float
    threshold: float = 1.0
    reset: Reset = "subtract"
    dt: float = 1.0
    surrogate: Surrogate = "atan"
    alpha: float | None = None

    def check(self) -> None:
        require("beta", self.beta, 0.0 <= self.beta <= 1.0, "a number in [0, 1]")
        require("alpha", self.alpha, self.alpha is None or 0.0 <= self.alpha <= 1.0,
                "a number in [0, 1] (a current-based neuron's synaptic decay) or nothing (a plain LIF)")
        require("threshold", self.threshold, self.threshold > 0, "a number > 0")
        require("dt", self.dt, self.dt > 0, "a number of ms > 0")

    @property
    def tau_mem(self) -> float:
        """Membrane time constant in ms implied by β and dt (inf for β = 1, 0 for β = 0)."""
        return tau_of(self.beta, self.dt)

    @classmethod
    def from_tau(cls, tau_mem: float, dt: float = 1.0, **kw: object) -> LIFParams:
        """β = exp(−dt/τ_mem) for τ_mem in ms."""
        return cls(beta=math.exp(-dt / tau_mem), dt=dt, **kw)  # type: ignore[arg-type]
