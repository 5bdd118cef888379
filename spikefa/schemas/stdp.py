"""Constants and semantics of the STDP family, validated on construction: pair STDP
(`STDPParams`, the named `STDP_MODES`), the Diehl & Cook (2015) network (`DiehlCookParams`) and
three-factor STDP (`ThreeFactorParams`). Times in ms, rates in Hz, membrane potentials in mV.
The kernels that use them are in `spikefa.functional.stdp`, `.stdp_batched`, `.diehl_cook` and
`.eligibility`."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from spikefa.errors import ConfigError
from spikefa.schemas.neuron import LIFParams
from spikefa.schemas.validate import Real, Validated, choices, require

Traces = Literal["all-to-all", "nearest"]
Bounds = Literal["hard", "soft"]
Order = Literal["pre-first", "post-first"]
Clip = Literal["per-pathway", "end-of-step", "none"]
Reduction = Literal["sum", "mean"]
CHOICES: dict[str, tuple[str, ...]] = {
    "traces": choices(Traces), "bounds": choices(Bounds), "order": choices(Order), "clip": choices(Clip),
}


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        require(name, getattr(obj, name), getattr(obj, name) > 0, "a number > 0")


def _non_negative(obj: Any, *names: str) -> None:
    for name in names:
        require(name, getattr(obj, name), getattr(obj, name) >= 0, "a number >= 0")


@dataclass(frozen=True)
class STDPParams(Validated):
    """Pair-STDP constants (ms, signed amplitudes A₊/A₋, bounds w_min/w_max) and semantics
    (`spikefa.functional.stdp` states each choice)."""

    LABEL = "STDP"

    tau_pre: float = 20.0
    tau_post: float = 20.0
    a_plus: float = 0.01
    a_minus: float = -0.0105
    w_min: Real = 0.0
    w_max: Real = 1.0
    traces: Traces = "all-to-all"
    bounds: Bounds = "hard"
    order: Order = "pre-first"
    clip: Clip = "per-pathway"
    dt: float | None = None

    def check(self) -> None:
        _positive(self, "tau_pre", "tau_post")
        if self.bounds == "soft":
            for name in ("w_min", "w_max"):
                require(name, getattr(self, name), math.isfinite(getattr(self, name)),
                        "a finite number (soft bounds scale by w_max − w_min)")
        require("w_max", self.w_max, self.w_min < self.w_max, f"a number > w_min = {self.w_min!r}")
        if self.dt is not None:
            _positive(self, "dt")

    @classmethod
    def from_mode(cls, mode: str, **constants: Any) -> STDPParams:
        """Params with the semantics of a named mode (``STDP_MODES``) and the given constants."""
        if mode not in STDP_MODES:
            raise ConfigError(f"STDP mode = {mode!r} is not allowed; expected one of {', '.join(STDP_MODES)}")
        semantics = STDP_MODES[mode].semantics()
        clash = sorted(set(semantics) & set(constants))
        if clash:
            raise ConfigError(f"STDP {clash[0]} = {constants[clash[0]]!r} clashes with mode {mode!r}; "
                              f"drop it or build STDPParams directly")
        return cls(**constants, **semantics)

    @property
    def mode(self) -> str | None:
        """The name of the registered mode whose semantics these params have (None if none)."""
        for name, m in STDP_MODES.items():
            if all(getattr(self, k) == v for k, v in m.semantics().items()):
                return name
        return None

    def with_semantics(self, **semantics: str) -> STDPParams:
        """A copy with other semantics (traces/bounds/order/clip), same constants."""
        return replace(self, **semantics)


@dataclass(frozen=True)
class STDPMode:
    """A named choice of STDP semantics; the constants come from STDPParams."""

    traces: Traces
    bounds: Bounds
    order: Order
    clip: Clip
    summary: str

    def semantics(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in CHOICES}


STDP_MODES: dict[str, STDPMode] = {
    "brian2": STDPMode("all-to-all", "hard", "pre-first", "per-pathway",
                       "Brian2's documented pair STDP: all-to-all, additive, clip after each pathway"),
    "nearest-hard": STDPMode("nearest", "hard", "pre-first", "per-pathway",
                             "nearest-spike traces (reset to the amplitude), additive"),
    "all-to-all-soft": STDPMode("all-to-all", "soft", "pre-first", "per-pathway",
                                "all-to-all traces, multiplicative (soft) bounds"),
    "nearest-soft": STDPMode("nearest", "soft", "pre-first", "per-pathway",
                             "nearest-spike traces, multiplicative (soft) bounds"),
    "post-first": STDPMode("all-to-all", "hard", "post-first", "per-pathway",
                           "as brian2 but a same-step pair depresses (post pathway first)"),
    "end-of-step-clip": STDPMode("all-to-all", "hard", "pre-first", "end-of-step",
                                 "as brian2 but one clip after both pathways"),
}


def _max_rate(obj: Any) -> None:
    require("max_rate_hz", obj.max_rate_hz, obj.max_rate_hz * obj.dt / 1000 <= 1,
            f"at most one spike per step (<= {1000 / obj.dt:g} Hz at dt = {obj.dt!r} ms)")


@dataclass(frozen=True)
class DiehlCookParams(Validated):
    """Constants of the Diehl & Cook (2015) network (`spikefa.functional.diehl_cook` states the
    dynamics): sizes, presentation (ms, Hz), the excitatory neuron (mV, ms), adaptive threshold θ,
    lateral inhibition, STDP (ν_pre, ν_post, τ, w_max) and the incoming-weight sum ``norm``.
    A model card with ``arch = "diehl-cook"`` sets any of them in ``[architecture]``.

    ``inhibition_delay_ms``: how long after an excitatory spike its lateral inhibition lands
    (a multiple of dt; default 1 ms, the direct form). 2 ms is BindsNET's ``DiehlAndCook2015``
    timing (Ae → Ai → Ae); it recruits neurons faster early on and, chosen on validation at 400
    neurons, took 1,600 neurons from 90.29 % to 93.49 % test after three passes
    (``benchmarks/cards/diehl-cook-*-delay2.toml``, benchmarks/results/diehl_cook_mnist).
    Raises `ConfigError` for a value below dt."""

    LABEL = "Diehl & Cook"
    ARCH = "diehl-cook"

    n_input: int = 784
    n_exc: int = 400
    dt: float = 1.0
    time_ms: float = 250.0
    rest_ms: float = 150.0
    max_rate_hz: float = 128.0
    rate_boost_hz: float = 32.0
    min_spikes: int = 5
    max_boosts: int = 5
    v_rest: float = -65.0
    v_reset: float = -60.0
    v_thresh: float = -52.0
    refrac_ms: float = 5.0
    tau_mem: float = 100.0
    theta_plus: float = 0.05
    tau_theta: float = 1e7
    inhibition: float = 120.0
    inhibition_delay_ms: float = 1.0
    one_spike: bool = True
    w_init: float = 0.3
    norm: float = 78.4
    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    tau_pre: float = 20.0
    tau_post: float = 20.0
    w_max: float = 1.0
    reduction: Reduction = "sum"
    exclusive: bool = True

    def check(self) -> None:
        for name in ("n_input", "n_exc"):
            require(name, getattr(self, name), getattr(self, name) >= 1, "an integer >= 1")
        for name in ("min_spikes", "max_boosts"):
            require(name, getattr(self, name), getattr(self, name) >= 0, "an integer >= 0")
        _positive(self, "dt", "time_ms", "max_rate_hz", "refrac_ms", "tau_mem", "tau_theta", "norm", "w_init",
                  "tau_pre", "tau_post", "w_max")
        _non_negative(self, "rest_ms", "rate_boost_hz", "theta_plus", "inhibition", "nu_pre", "nu_post")
        require("time_ms", self.time_ms, self.time_ms >= self.dt, f"a number >= dt = {self.dt!r}")
        require("inhibition_delay_ms", self.inhibition_delay_ms, self.inhibition_delay_ms >= self.dt,
                f"a number >= dt = {self.dt!r} (a spike inhibits from the next step on)")
        _max_rate(self)

    @property
    def inhibition_steps(self) -> int:
        """Steps from an excitatory spike to the inhibition it causes: 1 is the direct form, 2 the
        timing of BindsNET's ``DiehlAndCook2015`` loop (Ae → Ai one step, Ai → Ae the next)."""
        return max(1, round(self.inhibition_delay_ms / self.dt))

    @property
    def steps(self) -> int:
        """Time steps per presentation."""
        return max(1, round(self.time_ms / self.dt))

    @property
    def refrac_steps(self) -> int:
        """Refractory period in steps (a neuron that fires ignores its input for this many steps)."""
        return round(self.refrac_ms / self.dt)

    @property
    def stdp(self) -> STDPParams:
        """BindsNET's PostPre as `STDPParams`: nearest traces, A₊ = ν_post, A₋ = −ν_pre, W clipped
        to [0, w_max] once after both pathways (BindsNET clamps in ``LearningRule.update``)."""
        return STDPParams(tau_pre=self.tau_pre, tau_post=self.tau_post, a_plus=self.nu_post, a_minus=-self.nu_pre,
                          w_min=0.0, w_max=self.w_max, traces="nearest", bounds="hard", order="pre-first",
                          clip="end-of-step", dt=self.dt)


@dataclass(frozen=True)
class ThreeFactorParams(Validated):
    """A hidden LIF layer (subtract reset) on Poisson-rate input, trained by three-factor STDP,
    with a delta-rule readout on its spike counts. τ_e (``tau_elig``) may be inf (the eligibility
    sums the whole presentation). A model card with ``arch = "three-factor"`` sets any of them in
    ``[architecture]``."""

    LABEL = "three-factor"
    ARCH = "three-factor"

    n_input: int = 784
    n_hidden: int = 400
    num_classes: int = 10
    dt: float = 1.0
    time_ms: float = 100.0
    max_rate_hz: float = 200.0
    tau_mem: float = 20.0
    threshold: float = 1.0
    w_init_std: float = 0.03
    a_plus: float = 1.0
    a_minus: float = -0.5
    tau_pre: float = 20.0
    tau_post: float = 20.0
    tau_elig: Real = math.inf
    lr: float = 1e-4  # chosen on MNIST validation (benchmarks/results/diehl_cook_mnist/); 1e-3 runs away
    lr_readout: float = 0.05
    weight_decay: float = 0.0
    keep_row_norm: bool = True
    feedback_scale: float = 1.0
    seed: int = 0

    def check(self) -> None:
        for name, low in (("n_input", 1), ("n_hidden", 1), ("num_classes", 2), ("seed", 0)):
            require(name, getattr(self, name), getattr(self, name) >= low, f"an integer >= {low}")
        _positive(self, "dt", "time_ms", "max_rate_hz", "tau_mem", "threshold", "w_init_std", "tau_pre", "tau_post",
                  "tau_elig", "feedback_scale")
        _non_negative(self, "lr", "lr_readout", "weight_decay")
        _max_rate(self)

    @property
    def steps(self) -> int:
        return max(1, round(self.time_ms / self.dt))

    @property
    def stdp(self) -> STDPParams:
        """The eligibility's STDP: all-to-all traces, pre pathway first, unbounded, never clipped."""
        return STDPParams(tau_pre=self.tau_pre, tau_post=self.tau_post, a_plus=self.a_plus, a_minus=self.a_minus,
                          w_min=-math.inf, w_max=math.inf, clip="none", dt=self.dt)

    @property
    def lif(self) -> LIFParams:
        return LIFParams(beta=math.exp(-self.dt / self.tau_mem), threshold=self.threshold, reset="subtract",
                         dt=self.dt)
