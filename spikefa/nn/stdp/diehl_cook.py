"""The Diehl & Cook (2015) network as a module: learned state in buffers, presentations simulated
with the kernels of `spikefa.functional.diehl_cook` (whose docstring states the dynamics), or, where
numba is installed, by the compiled loop of `spikefa.functional.diehl_cook_kernel` (the same bits,
ten to fifty times faster per image)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import ConfigError
from spikefa.functional import diehl_cook_kernel
from spikefa.functional.diehl_cook import DCState, claim_neurons, dc_init, dc_neuron_step
from spikefa.functional.stdp_batched import bernoulli_events, normalize_incoming, stdp_step_events
from spikefa.functional.voting import UNASSIGNED, assign_labels, predict, vote
from spikefa.functional.stdp import STDPParams
from spikefa.schemas.stdp import DiehlCookParams


KERNELS = ("auto", "torch", "jit")


class DiehlCookNet(nn.Module):
    """The network's learned state as buffers (weight [N, in], θ [N], assignments [N], class rates
    [N, C]); presentations are simulated by `present`. Nothing here is an autograd parameter.

    ``kernel`` picks how a presentation runs: "torch" (tensor ops per step, every case), "jit"
    (`spikefa.functional.diehl_cook_kernel`, needs numba; inference, learning with B = 1 or in
    exclusive batches) or
    "auto" (jit where it applies and numba is installed, else torch). Both give the same bits."""

    def __init__(self, params: DiehlCookParams | None = None, num_classes: int = 10, seed: int = 0,
                 kernel: str = "auto") -> None:
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
        self.kernel = kernel
        self._check_kernel()  # an unknown kernel is refused now rather than at the first image
        self._stdp: tuple[DiehlCookParams, STDPParams] | None = None

    def _check_kernel(self) -> None:
        if self.kernel not in KERNELS:
            raise ConfigError(f"DiehlCookNet kernel = {self.kernel!r} is not allowed; expected one of {', '.join(KERNELS)}")

    @property
    def stdp(self) -> STDPParams:
        """``params.stdp``, built (and validated) once per params object rather than per step."""
        if self._stdp is None or self._stdp[0] is not self.params:
            self._stdp = (self.params, self.params.stdp)
        return self._stdp[1]

    def _use_jit(self, batch: int, learn: bool) -> bool:
        """Whether this presentation runs in the compiled loop (``kernel``, class docstring)."""
        self._check_kernel()
        if self.kernel == "torch":
            return False
        w = self.weight
        ok = (diehl_cook_kernel.supports(self.stdp, batch, learn, w.dtype, w.device, self.params.exclusive)
              and w.t().is_contiguous())
        if self.kernel == "jit" and not ok:
            raise ConfigError(f"DiehlCookNet kernel = 'jit' does not run batch {batch} with learn={learn} on "
                             f"{w.device}/{w.dtype}; expected B = 1 or exclusive batches when learning, CPU "
                             "float32/64 (or kernel 'auto')")
        return ok and (self.kernel == "jit" or diehl_cook_kernel.jit_available())

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
        if self._use_jit(x.shape[0], learn):
            counts, self.state = diehl_cook_kernel.present_jit(events.offsets, events.index, self.weight, self.theta,
                                                               p, learn, self.stdp)
            return self._after(counts, learn)
        bounds = events.offsets[:, [0, -1]].tolist()
        bags = events.offsets[:, :-1] - events.offsets[:, :1]  # per-sample offsets within each step
        state = dc_init(x.shape[0], p, x.dtype, x.device)
        counts = torch.zeros(x.shape[0], p.n_exc, dtype=x.dtype, device=x.device)
        theta_decay, stdp, w_in = math.exp(-p.dt / p.tau_theta), self.stdp, self.weight.t()  # [in, N] view
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
        return self._after(counts, learn)

    def _after(self, counts: torch.Tensor, learn: bool) -> torch.Tensor:
        """After a learning presentation: renormalise W, decay θ over the rest, count the samples."""
        p = self.params
        if learn:
            self.weight.copy_(normalize_incoming(self.weight, p.norm))
            self.theta.mul_(math.exp(-p.rest_ms / p.tau_theta))
            self.seen += counts.shape[0]
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
        return vote(self.present(x, generator, learn=False), self.assignments, self.num_classes)
