"""Three-factor STDP: pair-STDP eligibility traces gated by a DFA-broadcast output error.

The pair-STDP update of `spikefa.functional.stdp.stdp_step` (all-to-all traces, pre pathway first,
no bounds) is not applied to the weight but accumulated, per sample b, into an eligibility trace
(Frémaux & Gerstner 2016, "Neuromodulated spike-timing-dependent plasticity, and theory of
three-factor learning rules", Front. Neural Circuits 9:85, eqs. 2-4; Izhikevich 2007):

    Δ_b(t)  = A₋·y⁻_b(t)ᵀ s_b(t) + A₊·z_b(t)ᵀ x⁺_b(t)        (one STDP step, [out, in])
    E_b(t)  = λ·E_b(t−1) + Δ_b(t),   λ = exp(−dt/τ_e),   E_b(0) = 0

(s: presynaptic, z: postsynaptic spikes; x⁺ the presynaptic trace after this step's spikes,
y⁻ the postsynaptic trace before them, both with τ = 20 ms and the amplitudes A₊, A₋ inside).
At the end of a presentation (T steps) the readout's error e_b = softmax(z_out) − onehot(y_b)
reaches hidden neuron j through a fixed random matrix B [classes, hidden] (Nøkland 2016's direct
feedback alignment), and that neuron-specific third factor m_b = e_b·B gates the eligibility:

    ΔW_ji = −η · (1/B) Σ_b m_bj · E_b,ji(T)

With m = 0 the weights do not move. Since Σ_b m_bj E_b,ji(T) = Σ_t λ^{T−t} Σ_b m_bj Δ_b,ji(t),
the network stores the per-step traces of a batch and computes the sum as one matrix product
(`three_factor_delta_traces`) instead of keeping [B, out, in] eligibility tensors;
`stdp_eligibility` + `three_factor_delta` are the direct formulation the tests compare it with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import ConfigError
from spikefa.functional.lif import LIFParams, LIFState, lif_step
from spikefa.functional.stdp import STDPParams, stdp_init, stdp_step
from spikefa.nn.dfa import DFAFeedback
from spikefa.nn.stdp.batched import bernoulli_events
from spikefa.nn.stdp.readout import DeltaReadout
from spikefa.rules.feedback import derive_seed


def _check_rule(params: STDPParams) -> None:
    if params.bounds != "hard" or params.clip != "none":
        raise ConfigError("three-factor STDP: bounds must be 'hard' and clip 'none' (the eligibility must not "
                          f"depend on the weight); got bounds = {params.bounds!r}, clip = {params.clip!r}")


def elig_decay(dt: float, tau_elig: float) -> float:
    """λ = exp(−dt/τ_e) (1 for τ_e = inf: the eligibility sums the whole presentation)."""
    if not (isinstance(tau_elig, int | float) and tau_elig > 0):
        raise ConfigError(f"three-factor tau_elig = {tau_elig!r} is not allowed; expected a number of ms > 0 (or inf)")
    return math.exp(-dt / tau_elig)


@torch.no_grad()
def stdp_eligibility(pre: torch.Tensor, post: torch.Tensor, params: STDPParams, dt: float,
                     tau_elig: float = math.inf) -> torch.Tensor:
    """E_b(T) [B, out, in] of spike trains pre [T, B, in], post [T, B, out]: each sample runs
    ``stdp_step`` alone from W = 0 (so its weight *is* the accumulated update) with the weight
    multiplied by λ before every step. The direct (slow) formulation."""
    _check_rule(params)
    lam = elig_decay(dt, tau_elig)
    out = []
    for b in range(pre.shape[1]):
        e = torch.zeros(post.shape[2], pre.shape[2], dtype=pre.dtype)
        state = stdp_init(pre[0, b:b + 1], post[0, b:b + 1], pre.dtype)
        for s, z in zip(pre[:, b:b + 1], post[:, b:b + 1], strict=True):
            e, state = stdp_step(s, z, e * lam, state, params, dt)
        out.append(e)
    return torch.stack(out)


def three_factor_delta(third: torch.Tensor, eligibility: torch.Tensor, lr: float) -> torch.Tensor:
    """ΔW = −η · mean_b third_b ⊙ E_b for third factors [B, out] and eligibilities [B, out, in]."""
    return -lr * (third[:, :, None] * eligibility).mean(0)


@torch.no_grad()
def stdp_traces(pre: torch.Tensor, post: torch.Tensor, params: STDPParams, dt: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x⁺ [T, B, in], y⁻ [T, B, out]) of ``stdp_step``'s traces for trains pre [T, B, in],
    post [T, B, out]: the pre trace just after step t's bump, the post trace just before it."""
    _check_rule(params)
    if params.order != "pre-first":
        raise ConfigError(f"three-factor STDP: order = {params.order!r} is not supported; use 'pre-first'")
    d_pre, d_post = math.exp(-dt / params.tau_pre), math.exp(-dt / params.tau_post)
    x = torch.zeros_like(pre[0])
    y = torch.zeros_like(post[0])
    xs, ys = [], []
    for s, z in zip(pre, post, strict=True):
        x = x * d_pre
        x = torch.where(s > 0, torch.full_like(x, params.a_plus), x) if params.traces == "nearest" else \
            x + params.a_plus * s
        y = y * d_post
        ys.append(y)
        y = torch.where(z > 0, torch.full_like(y, params.a_minus), y) if params.traces == "nearest" else \
            y + params.a_minus * z
        xs.append(x)
    return torch.stack(xs), torch.stack(ys)


def three_factor_delta_traces(third: torch.Tensor, pre: torch.Tensor, y_minus: torch.Tensor,
                              post: torch.Tensor, x_plus: torch.Tensor, lr: float, lam: float) -> torch.Tensor:
    """The same ΔW from recorded per-step quantities, all time-major: pre spikes [T, B, in], the
    post trace before the step's bump y⁻ [T, B, out], post spikes [T, B, out] and the pre trace
    after the bump x⁺ [T, B, in], the traces carrying A₋ and A₊ as in ``stdp_step`` (`stdp_traces`
    makes them). One matrix product over the stacked 2·T·B rows."""
    steps, batch = pre.shape[:2]
    weights = lam ** torch.arange(steps - 1, -1, -1, dtype=third.dtype, device=third.device)  # λ^{T−t}
    gate = weights[:, None, None] * third[None]  # [T, B, out]
    left = torch.cat([(gate * y_minus).reshape(steps * batch, -1), (gate * post).reshape(steps * batch, -1)])
    right = torch.cat([pre.reshape(steps * batch, -1), x_plus.reshape(steps * batch, -1)])
    return (left.t() @ right) * (-lr / batch)


_POSITIVE = ("dt", "time_ms", "max_rate_hz", "tau_mem", "threshold", "w_init_std", "tau_pre", "tau_post",
             "tau_elig", "feedback_scale")
_NONNEGATIVE = ("lr", "lr_readout", "weight_decay")


@dataclass(frozen=True)
class ThreeFactorParams:
    """A hidden LIF layer (``lif_step``, subtract reset) on Poisson-rate input, trained by
    three-factor STDP, with a `DeltaReadout` on its spike counts; validated on construction."""

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
    tau_elig: float = math.inf
    lr: float = 1e-4  # chosen on MNIST validation (benchmarks/results/diehl_cook_mnist/); 1e-3 runs away
    lr_readout: float = 0.05
    weight_decay: float = 0.0
    keep_row_norm: bool = True
    feedback_scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_input", "n_hidden", "num_classes", "seed"):
            value = getattr(self, name)
            low = 2 if name == "num_classes" else 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"three-factor {name} = {value!r} is not allowed; expected an integer >= {low}")
        for name in _POSITIVE + _NONNEGATIVE + ("a_plus", "a_minus"):
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
            ok = ok and (math.isfinite(value) or name == "tau_elig")
            ok = ok and (value > 0 if name in _POSITIVE else value >= 0 if name in _NONNEGATIVE else True)
            if not ok:
                want = "> 0" if name in _POSITIVE else ">= 0" if name in _NONNEGATIVE else "finite"
                raise ConfigError(f"three-factor {name} = {value!r} is not allowed; expected a number {want}")
        if self.max_rate_hz * self.dt / 1000 > 1:
            raise ConfigError(f"three-factor max_rate_hz = {self.max_rate_hz!r} is not allowed; expected at most "
                              f"one spike per step (<= {1000 / self.dt:g} Hz at dt = {self.dt!r} ms)")

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

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class ThreeFactorNet(nn.Module):
    """Input -> hidden LIF (W by three-factor STDP) -> softmax readout (delta rule). ``weight``
    [hidden, in], the feedback B and the readout are buffers; nothing is an autograd parameter."""

    def __init__(self, params: ThreeFactorParams | None = None) -> None:
        super().__init__()
        self.params = p = params or ThreeFactorParams()
        gen = torch.Generator().manual_seed(derive_seed(p.seed, 0))
        weight = torch.randn(p.n_input, p.n_hidden, generator=gen) * p.w_init_std
        self.register_buffer("weight", weight.t())  # column-major [hidden, in]: rows of the input side
        self.register_buffer("row_norm", self.weight.norm(dim=1))
        self.feedback = DFAFeedback("random", (p.num_classes, p.n_hidden), derive_seed(p.seed, 1),
                                    p.feedback_scale, "gaussian")
        self.readout = DeltaReadout(p.n_hidden, p.num_classes)
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        self.mem: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the per-sample state (membranes); weights, feedback and readout stay."""
        self.mem = None

    @torch.no_grad()
    def run(self, x: torch.Tensor, generator: torch.Generator | None = None, record: bool = False
            ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """One presentation of x [B, in] in [0, 1]; returns (hidden counts [B, hidden], and with
        ``record`` the spike trains (pre [T, B, in], post [T, B, hidden]))."""
        p = self.params
        x = x.flatten(1).to(self.weight.dtype)
        events = bernoulli_events((x * (p.max_rate_hz * p.dt / 1000.0)).clamp(max=1.0), p.steps, generator)
        bags = events.offsets[:, :-1] - events.offsets[:, :1]
        bounds = events.offsets[:, [0, -1]].tolist()
        state, lif, w_in = LIFState(torch.zeros(x.shape[0], p.n_hidden, dtype=x.dtype)), p.lif, self.weight.t()
        counts, posts = torch.zeros_like(state.mem), []
        for t in range(p.steps):
            current = F.embedding_bag(events.index[bounds[t][0]:bounds[t][1]], w_in, bags[t], mode="sum")
            spikes, state = lif_step(current, state, lif)
            counts += spikes
            if record:
                posts.append(spikes)
        self.mem = state.mem
        if not record:
            return counts, None
        return counts, (events.dense(p.steps, x.shape[0], p.n_input).to(x.dtype), torch.stack(posts))

    @torch.no_grad()
    def learn(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One presentation with learning: the readout's error e (computed before its own update)
        trains the readout by the delta rule and, through B, gates the hidden eligibility.
        Returns e [B, classes]."""
        p = self.params
        counts, trains = self.run(x, generator, record=True)
        assert trains is not None
        pre, post = trains
        if int(self.seen) == 0:  # standardise the readout's input with the first batch's statistics
            self.readout.fit_scaling(counts, eps=1.0)
        e = self.readout.learn(counts, y, p.lr_readout)
        third = e @ self.feedback.matrix(None)  # m_b = e_b·B, [B, hidden]
        x_plus, y_minus = stdp_traces(pre, post, p.stdp, p.dt)
        delta = three_factor_delta_traces(third, pre, y_minus, post, x_plus, p.lr, elig_decay(p.dt, p.tau_elig))
        if p.weight_decay:
            self.weight.mul_(1.0 - p.lr * p.weight_decay)
        self.weight.add_(delta)
        if p.keep_row_norm:  # synaptic scaling: every hidden neuron keeps its initial ‖W_j‖₂
            self.weight.mul_((self.row_norm / self.weight.norm(dim=1).clamp(min=1e-12))[:, None])
        self.seen += x.shape[0]
        return e

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Readout logits [B, classes] (no learning)."""
        counts, _ = self.run(x, generator)
        return self.readout(counts)
