"""Three-factor STDP network: a hidden LIF layer whose weights learn by pair-STDP eligibility
gated by a DFA-broadcast output error, with a delta-rule readout (`spikefa.functional.eligibility`
holds the kernels and the equations).

At the end of a presentation (T steps) the readout's error e_b = softmax(z_out) − onehot(y_b)
reaches hidden neuron j through a fixed random matrix B [classes, hidden] (Nøkland 2016's direct
feedback alignment); that third factor m_b = e_b·B gates the eligibility. With m = 0 the weights
do not move.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.functional.eligibility import elig_decay, stdp_traces, three_factor_delta_traces
from spikefa.functional.feedback import derive_seed
from spikefa.functional.lif import LIFState, lif_step
from spikefa.functional.stdp_batched import bernoulli_events
from spikefa.nn.dfa import DFAFeedback
from spikefa.nn.stdp.readout import DeltaReadout
from spikefa.schemas.stdp import ThreeFactorParams


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
        self.feedbacks = nn.ModuleList([DFAFeedback("random", (p.num_classes, p.n_hidden), derive_seed(p.seed, 1),
                                                    p.feedback_scale, "gaussian")])
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
    def learn(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None,
              hidden: bool = True) -> torch.Tensor:
        """One presentation with learning: the readout's error e (computed before its own update)
        trains the readout by the delta rule and, through B, gates the hidden eligibility
        (``hidden=False`` keeps the hidden layer as it is: the random-feature control).
        Returns e [B, classes]."""
        p = self.params
        counts, trains = self.run(x, generator, record=hidden)
        if int(self.seen) == 0:  # standardize the readout's input with the first batch's statistics
            self.readout.fit_scaling(counts, eps=1.0)
        e = self.readout.learn(counts, y, p.lr_readout)
        if not hidden:
            self.seen += x.shape[0]
            return e
        assert trains is not None
        pre, post = trains
        third = e @ self.feedbacks[0].matrix(None)  # m_b = e_b·B, [B, hidden]
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
