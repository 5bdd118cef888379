"""Online learners for spiking networks: a learning step that walks forward in time once, keeps
only the current state (membranes, traces), and never builds a graph across time steps.

``EncodedSNN`` turns a spiking network into a classifier of static inputs [B, C, H, W] (drawn
through the card's encoder, one step at a time) or of binned events [B, T, C, H, W]; its
``local_step(x, y)`` lets an online learner train without ``loss.backward()``.

``OnlineDFA`` (Nøkland 2016's direct feedback alignment, made online with eligibility traces as in
e-prop, Bellec et al. 2020): at every k-th step an output error e[t] [B, classes] is broadcast to
hidden layer l through a fixed B_l [classes, n_l]; the update of W_l accumulates

    ΔW_l ∝ −Σ_t ((e[t] B_l) ⊙ σ'(U_l[t] − θ))ᵀ · x̄_l[t],    x̄_l[t] = β·x̄_l[t−1] + x_l[t]

(x̄: the presynaptic trace, i.e. ∂U/∂W with the reset ignored; σ': the surrogate derivative). The
output layer uses e[t] itself with its own presynaptic trace. Memory is constant in T.

The error is a gradient with respect to U_L[t]. ``error="count"`` (the default) takes the
cross-entropy of the running read-out r[t] (spike counts up to t, ties by the summed membrane, as
`scores` reads the network), through the output surrogate: e[t] = (softmax(r[t]) − onehot(y)) ⊙
σ'(U_L[t] − θ). ``error="membrane"`` takes the cross-entropy of the membranes themselves:
e[t] = softmax(U_L[t]) − onehot(y). That rewards an output neuron that stays just below threshold
over one that spikes (a spike subtracts θ from U_L), while the network is scored by its spikes; on
`snn-1x800-lif` it scored 0.7 points lower on validation (benchmarks/results/snn_mnist_cpu/).

Cost per time step: the forward matmul plus, at broadcast steps, one outer product per layer,
accumulated in place (``addmm_``), with membranes and traces updated in place. BPTT pays the
forward, the same outer products in its backward pass, and the graph. Broadcasting every k steps
(``error_every``) divides the outer products by k; ``spikefa bench spiking`` measures both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.encoders import Encoder
from spikefa.functional.feedback import derive_seed
from spikefa.functional.lif import beta_decay, count_scores, lif_update
from spikefa.nn.dfa import DFAFeedback
from spikefa.nn.layers import master_weight
from spikefa.nn.spiking import SpikeRecord, SpikingNet, scores, state_quantizer
from spikefa.schemas.validate import choices
from spikefa.schemas.vocab import OnlineError

ERRORS = choices(OnlineError)


def linear_of(synapse: nn.Module) -> nn.Linear:
    """The Linear inside a synapse (``Linear`` or ``Sequential(Flatten, Linear)``)."""
    found = [m for m in synapse.modules() if isinstance(m, nn.Linear)]
    if len(found) != 1 or any(isinstance(m, nn.Conv2d) for m in synapse.modules()):
        raise SpikefaError("online learners take fully connected spiking networks (an snn-mlp card, or nn.Linear "
                           f"layers between snnTorch neurons); got a synapse {synapse}")
    return found[0]


def _before(synapse: nn.Module, linear: nn.Linear) -> list[nn.Module]:
    """The parameter-free modules a synapse applies before its Linear (Flatten, Dropout)."""
    parts = list(synapse) if isinstance(synapse, nn.Sequential) else [synapse]
    return parts[:parts.index(linear)]


class OnlineDFA(nn.Module):
    """A spiking MLP trained by online DFA; ``forward`` is the network's own (inference).

    ``net`` is a `SpikingNet` (card-built) or, with ``layers`` read by
    `spikefa.nn.snntorch_net.read_snntorch`, the user's own snnTorch network, whose forward (one
    step, the user's own time loop) stays as the user wrote it. ``local_step(x [T, B, ...], y)`` learns
    from a whole sequence; the optimiser step is the user's."""

    def __init__(self, net: nn.Module, feedback: str = "random", seed: int = 0, scale: float | None = None,
                 dist: str = "gaussian", error_every: int = 1, error: str = "count", layers: Any = None) -> None:
        super().__init__()
        if error_every < 1:
            raise SpikefaError(f"online DFA error_every={error_every} must be >= 1")
        if error not in ERRORS:
            raise SpikefaError(f"online DFA error={error!r} is unknown: use one of {', '.join(ERRORS)}")
        self.net, self.error_every, self.error = net, int(error_every), error
        self._view = layers if layers is not None else net  # synapses, neurons, lif (plain attribute)
        self.layers = [linear_of(s) for s in self._view.synapses]
        self._before = [_before(s, m) for s, m in zip(self._view.synapses, self.layers)]
        classes = self.layers[-1].out_features
        fbs = []
        for i, layer in enumerate(self.layers[:-1]):
            nxt = self.layers[i + 1].weight.detach()
            s = float(nxt.float().std()) if scale is None else float(scale)
            fbs.append(DFAFeedback(feedback, (classes, layer.out_features), derive_seed(seed, i), s, dist))
        self.feedbacks = nn.ModuleList(fbs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The network's own forward (a SpikingNet: [T, B, ...] -> SpikeRecord; the user's network: as
        they wrote it)."""
        return self.net(*args, **kwargs)

    def _surrogates(self) -> list[Any]:
        """Each layer's surrogate derivative, with the parameters its neuron uses."""
        return list(self._view.surrogates)

    def feedback_matrix(self, index: int) -> torch.Tensor:
        """B_l [classes, n_l]; sign-congruent kinds follow sign(W_L ⋯ W_{l+1})."""
        fb = self.feedbacks[index]
        ref = None
        if fb.kind.sign_congruent:
            ref = self.layers[-1].weight.detach()
            for layer in reversed(self.layers[index + 1:-1]):
                ref = ref.matmul(layer.weight.detach())
        return fb.matrix(ref)

    def local_step(self, steps: Iterable[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """Walk the sequence [T, B, ...] once, accumulate −ΔW into ``.grad`` of the network's own
        weights, return the mean cross-entropy of the broadcast errors (for logging).

        The neurons are the network's own (``net.lif``: under QAT the target's β̂) and each membrane
        goes through the neuron's state quantizer when it has one, exactly as the network's forward
        steps them. Traces and updates are kept in the weights' dtype (autocast does not apply inside
        the learner: there is no backward pass to save memory on). Raises `SpikefaError` when the
        sequence has fewer steps than ``error_every``."""
        with torch.no_grad(), torch.autocast(y.device.type, enabled=False):
            return self._local_step(steps, y)

    def _local_step(self, steps: Iterable[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        lif = self._view.lif
        quants = [state_quantizer(n) for n in self._view.neurons]
        surrogates = self._surrogates()
        fbs = [self.feedback_matrix(i) for i in range(len(self.feedbacks))]
        for fb in self.feedbacks:
            fb.step += 1
        weights = [m.weight for m in self.layers]  # read once: fake-quantized under QAT, fixed within the step
        biases = [m.bias for m in self.layers]
        grads_w = [torch.zeros_like(w) for w in weights]
        grads_b = [torch.zeros_like(b) if b is not None else None for b in biases]
        mems: list[torch.Tensor] = []  # membranes and last spikes, updated in place (no graph)
        spikes: list[torch.Tensor] = []
        traces: list[torch.Tensor] = []  # presynaptic traces x̄_l
        bias_trace = 0.0
        onehot = F.one_hot(y, self.layers[-1].out_features).to(self.layers[-1].weight.dtype)
        loss, broadcasts, t = torch.zeros((), device=y.device), 0, 0
        count_error = self.error == "count"
        counts = memsum = torch.zeros(())
        for t, x_t in enumerate(steps, start=1):
            h = x_t.to(weights[0].dtype)
            bias_trace = lif[0].beta * bias_trace + 1.0
            for i, (w, b, p) in enumerate(zip(weights, biases, lif)):
                for op in self._before[i]:
                    h = op(h)
                h = h.flatten(1)
                if t == 1:
                    traces.append(h.clone())
                    mems.append(w.new_zeros(h.shape[0], w.shape[0]))
                    spikes.append(w.new_zeros(h.shape[0], w.shape[0]))
                else:
                    traces[i].mul_(p.beta).add_(h)
                mems[i] = lif_update(mems[i], F.linear(h, w, b), spikes[i], p.threshold, p.reset,
                                     beta_decay(p.beta), quantize=quants[i], inplace=True)
                spikes[i] = (mems[i] > p.threshold).to(mems[i].dtype)
                h = spikes[i]
            if count_error:  # the running read-out: spike counts so far, ties by the summed membrane
                if t == 1:
                    counts, memsum = spikes[-1].clone(), mems[-1].clone()
                else:
                    counts.add_(spikes[-1])
                    memsum.add_(mems[-1])
            if t % self.error_every == 0:
                if count_error:  # ∂CE(read-out)/∂U_L[t] through the surrogate of the output spikes
                    logits = count_scores(counts, memsum)
                    err = (torch.softmax(logits, 1) - onehot).mul_(surrogates[-1](mems[-1] - lif[-1].threshold))
                else:  # ∂CE(U_L[t])/∂U_L[t]
                    logits = mems[-1]
                    err = torch.softmax(logits, 1) - onehot
                loss += F.cross_entropy(logits, y)
                broadcasts += 1
                deltas = [(err @ fb.to(err.dtype)).mul_(sg(m - p.threshold))
                          for fb, m, p, sg in zip(fbs, mems, lif, surrogates)] + [err]
                for i, delta in enumerate(deltas):  # in place: no [n_out, n_in] temporary per step
                    grads_w[i].addmm_(delta.t(), traces[i])
                    if grads_b[i] is not None:
                        grads_b[i].add_(delta.sum(0), alpha=bias_trace)  # type: ignore[union-attr]
        if t == 0:
            raise SpikefaError("online DFA: the input sequence has T = 0 time steps; expected time-major "
                               "[T, B, ...] with T >= 1")
        if not broadcasts:
            raise SpikefaError(f"online DFA: error_every={self.error_every} is longer than the {t} time steps")
        norm = 1.0 / (broadcasts * max(len(y), 1))
        for layer, gw, gb in zip(self.layers, grads_w, grads_b):
            _accumulate(master_weight(layer, "weight"), gw * norm)
            if gb is not None:
                _accumulate(master_weight(layer, "bias"), gb * norm)
        return loss / broadcasts


def _accumulate(param: torch.Tensor, grad: torch.Tensor) -> None:
    """Add to ``param.grad`` (the rule owns this parameter; gradients of others are untouched)."""
    param.grad = grad.clone() if param.grad is None else param.grad + grad


class EncodedSNN(nn.Module):
    """A classifier over static inputs or binned events, wrapping a spiking network or learner.

    Static inputs [B, C, H, W] in [0, 1] are encoded one step at a time with a generator seeded
    from ``seed``: training draws continue one stream (saved with the model), evaluation redraws
    from a fixed seed so every evaluation sees the same spikes. Events [B, T, C, H, W] (uint8
    counts or floats) are used as they are, clipped to one spike per bin.
    """

    def __init__(self, net: nn.Module, encoder: Encoder, seed: int = 0) -> None:
        super().__init__()
        self.net, self.encoder, self.seed = net, encoder, int(seed)
        self._gen: torch.Generator | None = None
        self._gen_state: torch.Tensor | None = None

    def _steps(self, x: torch.Tensor) -> Iterable[torch.Tensor]:
        if x.ndim == 5:  # binned events [B, T, C, H, W]
            dtype = next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)
            return (x.transpose(0, 1) > 0).to(dtype)  # spikes in the network's dtype
        if self.training:
            if self._gen is None or self._gen.device != x.device:
                self._gen = torch.Generator(device=x.device).manual_seed(derive_seed(self.seed, 1001))
                if self._gen_state is not None:
                    self._gen.set_state(self._gen_state)
            gen = self._gen
        else:
            gen = torch.Generator(device=x.device).manual_seed(derive_seed(self.seed, 1002))
        return self.encoder.steps(x, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scores(self.net(self._steps(x)))

    def local_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """One online learning step when the wrapped learner has one (else None: use backward)."""
        step = getattr(self.net, "local_step", None)
        return None if step is None else step(self._steps(x), y)

    def get_extra_state(self) -> dict[str, Any]:
        state = self._gen.get_state() if self._gen is not None else self._gen_state
        return {"seed": self.seed, "generator": state}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.seed, self._gen_state, self._gen = int(state["seed"]), state["generator"], None
