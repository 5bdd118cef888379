"""Diehl & Cook (2015) unsupervised STDP network, current-based as BindsNET's ``DiehlAndCook2015v2``.

Diehl, P. U. & Cook, M. "Unsupervised learning of digit recognition using spike-timing-dependent
plasticity", Front. Comput. Neurosci. 9:99 (2015). Constants follow BindsNET
(``bindsnet/models/models.py``, ``DiehlAndCookNodes``), which turns the paper's conductance-based
synapses into instantaneous voltage jumps; the paper's values are given where they differ.

Per step of dt ms, for sample b and excitatory neuron j (mV, ms):

    input     s_i(t) ~ Bernoulli(x_i · r · dt/1000), r = 128 Hz at pixel 1 for 250 ms (BindsNET's
              examples/mnist/eth_mnist.py; the paper: 63.75 Hz = pixel/4, 350 ms)
    leak      v_j ← v_rest + (v_j − v_rest)·exp(−dt/τ_m)                 v_rest = −65, τ_m = 100
    drive     v_j ← v_j + [not refractory]·(Σ_i W_ji s_i(t) − w_inh·Σ_{k≠j} z_k(t−1))
    fire      z_j = [v_j ≥ v_thresh + θ_j]; v_j ← v_reset; 5 ms refractory  v_thresh = −52, v_reset = −60
    one spike at most per sample and step (BindsNET ``one_spike``; here the largest margin wins)
    learning  θ_j ← θ_j·exp(−dt/τ_θ) + θ₊·Σ_b z_bj                        θ₊ = 0.05, τ_θ = 10⁷ ms
              pair STDP on W (nearest-spike traces, τ = 20 ms): a pre spike depresses by
              ν_pre·y_j, a post spike potentiates by ν_post·x_i (BindsNET ``PostPre``,
              ν = (10⁻⁴, 10⁻²)), W clipped to [0, 1]; batches sum the updates (`stdp_step_batched`)
    after     each row of W rescaled to sum to 78.4 (paper: "weight normalization")
    batches   B samples run in parallel with one W and θ, their STDP updates and θ increments
              summed (``reduction`` "sum", as BindsNET) or averaged. With ``exclusive`` (default,
              learning only) each neuron belongs, within a batch, to the first sample that makes it
              fire and cannot fire in the others, which must recruit other winners; a sequential
              run gets the same effect from the θ rise and weight change after each sample. Without
              it the same neuron wins all B samples early in training, gains B times a sequential
              θ increment at once, and few neurons ever learn. B = 1 is the exact sequential rule
              either way; inference (no learning) never restricts firing.

The lateral inhibition is the direct all-to-all form (each spike inhibits every other excitatory
neuron by w_inh = 120 mV one step later; BindsNET's example value, its model default is 17.5)
that BindsNET's v2 model uses for the paper's excitatory → inhibitory → excitatory loop. The
defaults (250 ms at 128 Hz, w_inh = 120) were chosen on the validation split: with 20,000
training images, 350 ms at 63.75 Hz with w_inh = 17.5 gave 76 % and with w_inh = 120 85 %,
250 ms at 128 Hz with w_inh = 120 88 %. The 150 ms rest is modelled as a reset
of membranes, refractory counters and traces (as BindsNET) plus the θ decay over 150 ms. When a
sample drives fewer than 5 spikes the rate is raised by 32 Hz and the sample shown again
(paper, "Input encoding"), at most ``max_boosts`` times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import ConfigError
from spikefa.functional.stdp import STDPParams, STDPState
from spikefa.nn.stdp.batched import REDUCTIONS, bernoulli_events, normalize_incoming, stdp_step_events
from spikefa.nn.stdp.voting import UNASSIGNED, assign_labels, predict

_POSITIVE = ("dt", "time_ms", "max_rate_hz", "refrac_ms", "tau_mem", "tau_theta", "norm", "w_init", "tau_pre",
             "tau_post", "w_max")
_NONNEGATIVE = ("rest_ms", "rate_boost_hz", "theta_plus", "inhibition", "nu_pre", "nu_post")


@dataclass(frozen=True)
class DiehlCookParams:
    """Constants of the network (module docstring), validated on construction."""

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
    one_spike: bool = True
    w_init: float = 0.3
    norm: float = 78.4
    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    tau_pre: float = 20.0
    tau_post: float = 20.0
    w_max: float = 1.0
    reduction: str = "sum"
    exclusive: bool = True

    def __post_init__(self) -> None:
        for name in ("n_input", "n_exc", "min_spikes", "max_boosts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name.startswith("n_") else 0):
                raise ConfigError(f"Diehl & Cook {name} = {value!r} is not allowed; expected an integer >= "
                                  f"{1 if name.startswith('n_') else 0}")
        for name in _POSITIVE + _NONNEGATIVE + ("v_rest", "v_reset", "v_thresh"):
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and (value > 0 if name in _POSITIVE else value >= 0 if name in _NONNEGATIVE else True)
            if not ok:
                want = "> 0" if name in _POSITIVE else ">= 0" if name in _NONNEGATIVE else "finite"
                raise ConfigError(f"Diehl & Cook {name} = {value!r} is not allowed; expected a number {want}")
        if self.time_ms < self.dt:
            raise ConfigError(f"Diehl & Cook time_ms = {self.time_ms!r} is not allowed; expected >= dt = {self.dt!r}")
        if self.max_rate_hz * self.dt / 1000 > 1:
            raise ConfigError(f"Diehl & Cook max_rate_hz = {self.max_rate_hz!r} is not allowed; expected at most "
                              f"one spike per step (<= {1000 / self.dt:g} Hz at dt = {self.dt!r} ms)")
        if self.reduction not in REDUCTIONS:
            raise ConfigError(f"Diehl & Cook reduction = {self.reduction!r} is not allowed; expected one of "
                              f"{', '.join(REDUCTIONS)}")

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

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class DCState(NamedTuple):
    """Per-sample dynamic state: membranes v [B, N] (mV), refractory steps left [B, N], the
    last step's spikes [B, N] (they drive the inhibition) and the STDP traces."""

    v: torch.Tensor
    refrac: torch.Tensor
    spikes: torch.Tensor
    traces: STDPState


def dc_init(batch: int, p: DiehlCookParams, dtype: torch.dtype = torch.float32,
            device: torch.device | str | None = None) -> DCState:
    """The state after a rest: v = v_rest, no refractoriness, no spikes, zero traces."""
    z = torch.zeros(batch, p.n_exc, dtype=dtype, device=device)
    return DCState(z + p.v_rest, z.clone(), z.clone(),
                   STDPState(torch.zeros(batch, p.n_input, dtype=dtype, device=device), z.clone()))


def dc_neuron_step(current: torch.Tensor, state: DCState, theta: torch.Tensor, p: DiehlCookParams,
                   allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, DCState]:
    """One step of the excitatory layer for input current [B, N] (mV) and thresholds θ [N];
    returns (spikes [B, N], new state). ``state.refrac`` counts the refractory steps left.
    ``allowed`` [B, N] (bool) masks which neurons may fire in which sample (None: all)."""
    decay = math.exp(-p.dt / p.tau_mem)
    v = state.v * decay + p.v_rest * (1.0 - decay)
    drive = current
    if p.inhibition > 0 and bool(state.spikes.any()):
        drive = current - p.inhibition * (state.spikes.sum(1, keepdim=True) - state.spikes)
    free = state.refrac <= 0
    v = torch.where(free, v + drive, v)
    refrac = (state.refrac - 1.0).clamp_(min=0.0)
    margin = v - (theta + p.v_thresh)
    fire = margin >= 0
    if allowed is not None:
        fire &= allowed
    if not bool(fire.any()):
        return torch.zeros_like(v), DCState(v, refrac, torch.zeros_like(v), state.traces)
    spikes = fire.to(v.dtype)
    if p.one_spike:
        winner = margin.masked_fill_(~fire, -math.inf).argmax(1, keepdim=True)
        spikes = torch.zeros_like(v).scatter_(1, winner, spikes.amax(1, keepdim=True))
    v = v.masked_fill_(fire, p.v_reset)
    refrac = refrac.masked_fill_(fire, float(p.refrac_steps))
    return spikes, DCState(v, refrac, spikes, state.traces)


def claim_neurons(owner: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """Each neuron belongs to the first sample of the batch that made it fire (the lowest index
    among those firing at the earliest step); returns the updated ownership mask [B, N]."""
    free = ~owner.any(0) & (spikes > 0).any(0)
    if not bool(free.any()):
        return owner
    first = spikes.argmax(0)  # the first maximal index: the lowest sample that fired
    owner = owner.clone()
    cols = free.nonzero().squeeze(1)
    owner[first[cols], cols] = True
    return owner


class DiehlCookNet(nn.Module):
    """The network's learned state as buffers (weight [N, in], θ [N], assignments [N], class rates
    [N, C]); presentations are simulated by `present`. Nothing here is an autograd parameter."""

    def __init__(self, params: DiehlCookParams | None = None, num_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        self.params = params or DiehlCookParams()
        p = self.params
        gen = torch.Generator().manual_seed(int(seed))
        weight = torch.rand(p.n_exc, p.n_input, generator=gen) * p.w_init
        # stored column-major (an [in, N] array seen as [N, in]): the event kernels walk input rows
        self.register_buffer("weight", normalize_incoming(weight, p.norm).t().contiguous().t())
        self.register_buffer("theta", torch.zeros(p.n_exc))
        self.register_buffer("assignments", torch.full((p.n_exc,), UNASSIGNED, dtype=torch.int64))
        self.register_buffer("rates", torch.zeros(p.n_exc, num_classes))
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        self.num_classes = num_classes
        self.state: DCState | None = None

    def reset(self) -> None:
        """Forget the per-sample dynamic state (membranes, refractoriness, traces); keeps W and θ."""
        self.state = None

    @torch.no_grad()
    def run(self, x: torch.Tensor, rate_hz: torch.Tensor | float, generator: torch.Generator | None = None,
            learn: bool = False) -> torch.Tensor:
        """One presentation of x [B, n_input] in [0, 1] at rate_hz (scalar or [B]); returns spike
        counts [B, N]. With ``learn`` θ and W change (in place) and W is renormalised afterwards.

        Input spikes are drawn for the whole presentation at once (`bernoulli_events`) and both the
        input current and STDP are computed from the events, so a step costs O(spikes · N)."""
        p = self.params
        x = x.flatten(1).to(self.weight.dtype)
        rate = torch.as_tensor(rate_hz, dtype=x.dtype, device=x.device).reshape(-1, 1)
        events = bernoulli_events((x * rate * (p.dt / 1000.0)).clamp(max=1.0), p.steps, generator)
        bounds = events.offsets[:, [0, -1]].tolist()
        bags = events.offsets[:, :-1] - events.offsets[:, :1]  # per-sample offsets within each step
        state = dc_init(x.shape[0], p, x.dtype, x.device)
        counts = torch.zeros(x.shape[0], p.n_exc, dtype=x.dtype, device=x.device)
        theta_decay, stdp, w_in = math.exp(-p.dt / p.tau_theta), p.stdp, self.weight.t()  # [in, N] view
        owner = torch.zeros(x.shape[0], p.n_exc, dtype=torch.bool, device=x.device)
        for t in range(p.steps):
            b, i = events.sample[bounds[t][0]:bounds[t][1]], events.index[bounds[t][0]:bounds[t][1]]
            current = F.embedding_bag(i, w_in, bags[t], mode="sum")  # Σ_i W_ji s_bi(t)
            if learn:
                self.theta.mul_(theta_decay)
            exclusive = learn and p.exclusive and x.shape[0] > 1
            allowed = owner | ~owner.any(0) if exclusive and bool(owner.any()) else None
            spikes, state = dc_neuron_step(current, state, self.theta, p, allowed)
            if learn:
                learned = spikes
                if exclusive and bool(spikes.any()):
                    owner = claim_neurons(owner, spikes)
                    learned = spikes * owner
                post = learned.nonzero().t()
                self.theta.add_(learned.sum(0), alpha=p.theta_plus)
                _, traces = stdp_step_events((b, i), (post[0], post[1]), self.weight, state.traces, stdp,
                                             reduction=p.reduction, inplace=True)  # type: ignore[arg-type]
                state = state._replace(traces=traces)
            counts += spikes
        self.state = state
        if learn:
            self.weight.copy_(normalize_incoming(self.weight, p.norm))
            self.theta.mul_(math.exp(-p.rest_ms / p.tau_theta))
            self.seen += x.shape[0]
        return counts

    @torch.no_grad()
    def present(self, x: torch.Tensor, generator: torch.Generator | None = None, learn: bool = False) -> torch.Tensor:
        """`run` at max_rate_hz; samples with fewer than min_spikes spikes are shown again at +32 Hz
        (up to max_boosts times). Returns the counts of each sample's last presentation [B, N]."""
        p = self.params
        counts = self.run(x, p.max_rate_hz, generator, learn)
        rate = torch.full((x.shape[0],), p.max_rate_hz, dtype=counts.dtype, device=counts.device)
        for _ in range(p.max_boosts):
            weak = (counts.sum(1) < p.min_spikes).nonzero().squeeze(1)
            if weak.numel() == 0:
                break
            rate[weak] += p.rate_boost_hz
            if float(rate[weak].max()) * p.dt / 1000 > 1:
                break
            counts[weak] = self.run(x[weak], rate[weak], generator, learn)
        return counts

    def assign(self, counts: torch.Tensor, labels: torch.Tensor) -> None:
        """Set the assignments (and class rates) from responses counts [M, N] to labelled inputs."""
        assignments, rates = assign_labels(counts, labels, self.num_classes)
        self.assignments.copy_(assignments)
        self.rates.copy_(rates)

    def classify(self, counts: torch.Tensor) -> torch.Tensor:
        """All-activity vote [M] from counts [M, N] and the current assignments."""
        return predict(counts, self.assignments, self.num_classes)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Class scores [B, C] of inputs [B, ...] (no learning): the all-activity vote."""
        from spikefa.nn.stdp.voting import vote

        return vote(self.present(x, generator, learn=False), self.assignments, self.num_classes)
