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

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.encoders import Encoder
from spikefa.functional.feedback import derive_seed, get_kind
from spikefa.functional.lif import beta_decay, count_scores, lif_update
from spikefa.nn.dfa import DFAFeedback
from spikefa.nn.layers import master_weight
from spikefa.nn.seeded import EVAL, SeededStreams
from spikefa.nn.snntorch_net import check_online, check_per_neuron
from spikefa.nn.spiking import scores, state_quantizer
from spikefa.nn.synapse import Back, Synapse, accumulate_grad, add_outer, presynaptic_filter
from spikefa.schemas.neuron import PerNeuron
from spikefa.schemas.validate import choices
from spikefa.schemas.vocab import OnlineError

ERRORS = choices(OnlineError)
CONV_FEEDBACK = ("position", "channel")
"""A conv layer's DFA feedback: one random column per output-map position (Nøkland 2016's B_l over
the flattened map), or one per channel shared by all its positions (the kernel is shared the same way)."""
StepHook = Callable[[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]], None]
"""Called after each time step with every layer's input, spikes and membrane (`OnlineDFA._local_step`)."""


def _values(value: Any, like: torch.Tensor) -> float | torch.Tensor:
    """β or θ as the learner computes with it: a float, or a tensor [n] in the weights' dtype."""
    return torch.tensor(tuple(value), dtype=like.dtype, device=like.device) if isinstance(value, PerNeuron) else value


class OnlineDFA(nn.Module):
    """A spiking MLP trained by online DFA; ``forward`` is the network's own (inference).

    ``net`` is a `SpikingNet` (card-built) or, with ``layers`` read by
    `spikefa.nn.snntorch_net.read_snntorch`, the user's own snnTorch network, whose forward (one
    step, the user's own time loop) stays as the user wrote it. ``local_step(x [T, B, ...], y)`` learns
    from a whole sequence; the optimiser step is the user's."""

    def __init__(self, net: nn.Module, feedback: str = "random", seed: int = 0, scale: float | None = None,
                 dist: str = "gaussian", error_every: int = 1, error: str = "count", layers: Any = None,
                 input_shape: tuple[int, ...] | None = None, conv_feedback: str = "position") -> None:
        super().__init__()
        if error_every < 1:
            raise SpikefaError(f"online DFA error_every={error_every} must be >= 1")
        if error not in ERRORS:
            raise SpikefaError(f"online DFA error={error!r} is unknown: use one of {', '.join(ERRORS)}")
        self.net, self.error_every, self.error = net, int(error_every), error
        # synapses, neurons, lif: a plain attribute, never a second registration of the network's modules
        object.__setattr__(self, "_view", layers if layers is not None else net)
        for i, neuron in enumerate(self._view.neurons):
            check_online(neuron, f"layer {i} ({type(neuron).__name__})")
        self._synapses = [Synapse.of(s) for s in self._view.synapses]
        for syn in self._synapses:
            _ = syn.padding  # refuses a conv padding the learner cannot step, naming the layer
        self.layers = [s.layer for s in self._synapses]
        for i, (neuron, layer) in enumerate(zip(self._view.neurons, self.layers)):
            check_per_neuron(neuron, layer, f"layer {i} ({type(neuron).__name__})")
        if not isinstance(self.layers[-1], nn.Linear):
            raise SpikefaError("online DFA needs an nn.Linear output layer (one neuron per class)")
        classes = self.layers[-1].out_features
        shapes = self._neuron_shapes(input_shape)
        if get_kind(feedback).sign_congruent and any(isinstance(m, nn.Conv2d) for m in self.layers[1:]):
            raise SpikefaError(f"online DFA feedback {feedback!r} takes the sign of the product of downstream weights, "
                               "which needs nn.Linear layers after every hidden layer; use 'random' or 'binary'")
        if (get_kind(feedback).sign_congruent and conv_feedback == "channel"
                and any(isinstance(m, nn.Conv2d) for m in self.layers[:-1])):
            raise SpikefaError(f"online DFA feedback {feedback!r} takes the sign of W_L ⋯ W_(l+1) per neuron, which "
                               "conv_feedback='channel' (one column per channel) cannot hold; use "
                               "conv_feedback='position' or feedback 'random' / 'binary'")
        if conv_feedback not in CONV_FEEDBACK:
            raise SpikefaError(f"online DFA conv_feedback={conv_feedback!r} is unknown: use one of "
                               f"{', '.join(CONV_FEEDBACK)}")
        fbs = []
        # per hidden layer, how many map positions share one feedback column (1: one per neuron)
        self._shared = [math.prod(shape[1:]) if conv_feedback == "channel" and len(shape) == 3 else 1
                        for shape in shapes[:-1]]
        for i, shape in enumerate(shapes[:-1]):
            nxt = self.layers[i + 1].weight.detach()
            s = float(nxt.float().std()) if scale is None else float(scale)
            fbs.append(DFAFeedback(feedback, (classes, math.prod(shape) // self._shared[i]), derive_seed(seed, i), s, dist))
        self.feedbacks = nn.ModuleList(fbs)

    def _neuron_shapes(self, input_shape: tuple[int, ...] | None) -> list[tuple[int, ...]]:
        """Each layer's neuron map without the batch: from the Linear sizes, or a dry run of the
        synapses on ``input_shape`` (needed by convolutional layers)."""
        if all(isinstance(m, nn.Linear) for m in self.layers):
            return [(m.out_features,) for m in self.layers]
        if input_shape is None:
            raise SpikefaError("online DFA on a convolutional network needs input_shape=(C, H, W) to size the "
                               "feedback onto each layer's output map")
        h = torch.zeros(1, *input_shape, dtype=self.layers[0].weight.dtype, device=self.layers[0].weight.device)
        shapes = []
        with torch.no_grad():
            for syn in self._synapses:
                x = syn.inputs(h)
                _, h = syn.currents(x, syn.layer.weight, syn.layer.bias)
                shapes.append(tuple(h.shape[1:]))
        return shapes

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The network's own forward (a SpikingNet: [T, B, ...] -> SpikeRecord; the user's network: as
        they wrote it)."""
        return self.net(*args, **kwargs)

    def _surrogates(self) -> list[Any]:
        """Each layer's surrogate derivative, with the parameters its neuron uses."""
        return list(self._view.surrogates)

    def feedback_matrix(self, index: int) -> torch.Tensor:
        """B_l [classes, n_l]; sign-congruent kinds follow sign(W_L ⋯ W_{l+1}); with
        ``conv_feedback="channel"`` a conv layer's [classes, C] columns repeated over its H·W positions."""
        fb = self.feedbacks[index]
        ref = None
        if fb.kind.sign_congruent:
            ref = self.layers[-1].weight.detach()
            for layer in reversed(self.layers[index + 1:-1]):
                ref = ref.matmul(layer.weight.detach())
        matrix = fb.matrix(ref)
        return matrix if self._shared[index] == 1 else matrix.repeat_interleave(self._shared[index], dim=1)

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

    def _local_step(self, steps: Iterable[torch.Tensor], y: torch.Tensor, on_step: StepHook | None = None,
                    skip: frozenset[int] = frozenset()) -> torch.Tensor:
        """`local_step`; ``on_step(inputs, spikes, mems)`` sees every layer's input, spikes and
        membrane after each time step (read-only: clone what you keep), and the layers in ``skip``
        get no update here (another rule learns them: `spikefa.nn.stdp.user`)."""
        lif = self._view.lif
        quants = [state_quantizer(n) for n in self._view.neurons]
        surrogates = self._surrogates()
        fbs = [self.feedback_matrix(i) for i in range(len(self.feedbacks))]
        for fb in self.feedbacks:
            fb.step += 1
        weights = [m.weight for m in self.layers]  # read once: fake-quantized under QAT, fixed within the step
        biases = [m.bias for m in self.layers]
        betas = [_values(p.beta, w) for p, w in zip(lif, weights)]  # floats, or [n] for per-neuron β / θ
        thetas = [_values(p.threshold, w) for p, w in zip(lif, weights)]
        grads_w = [torch.zeros_like(w) for w in weights]
        grads_b = [torch.zeros_like(b) if b is not None else None for b in biases]
        mems: list[torch.Tensor] = []  # membranes and last spikes, updated in place (no graph)
        spikes: list[torch.Tensor] = []
        traces: list[torch.Tensor] = []  # presynaptic traces x̄_l ([B, in], or [B, out, in] for a per-neuron β)
        backs: list[Back] = []  # this step's route of δ back through pooling
        inputs: list[torch.Tensor] = [torch.empty(0)] * len(lif)  # this step's layer inputs (for on_step)
        bias_traces: list[Any] = [0.0] * len(lif)
        syns: list[torch.Tensor | None] = [None] * len(lif)  # synaptic currents (current-based neurons)
        syn_traces: list[torch.Tensor | None] = [None] * len(lif)  # the input filtered by α
        syn_bias = [0.0] * len(lif)
        # recurrent weights (RLeaky): the layer's own last spikes are their presynaptic input (e-prop's
        # eligibility for recurrent weights, Bellec et al. 2020: the β-filtered presynaptic spikes)
        recs = [getattr(n, "recurrent", None) if type(n).__name__ == "RLeaky" else None for n in self._view.neurons]
        rec_w = [None if r is None else r.weight for r in recs]
        rec_b = [None if r is None else r.bias for r in recs]
        rec_gw = [None if w is None else torch.zeros_like(w) for w in rec_w]
        rec_gb = [None if b is None else torch.zeros_like(b) for b in rec_b]
        rec_traces: list[torch.Tensor | None] = [None] * len(lif)
        onehot = F.one_hot(y, self.layers[-1].out_features).to(self.layers[-1].weight.dtype)
        loss, broadcasts, t = torch.zeros((), device=y.device), 0, 0
        count_error = self.error == "count"
        counts = memsum = torch.zeros(())
        for t, x_t in enumerate(steps, start=1):
            h = x_t.to(weights[0].dtype)
            for i, (syn, w, b, p) in enumerate(zip(self._synapses, weights, biases, lif)):
                h = inputs[i] = syn.inputs(h)
                back, current = syn.currents(h, w, b)
                if p.alpha is not None:  # I_syn = α I_syn + I; its eligibility filters the input by α, then β
                    syn_bias[i] = p.alpha * syn_bias[i] + 1.0
                    if t == 1:
                        syns[i], syn_traces[i] = current.clone(), h.clone()
                    else:
                        syns[i].mul_(p.alpha).add_(current)  # type: ignore[union-attr]
                        syn_traces[i].mul_(p.alpha).add_(h)  # type: ignore[union-attr]
                    h, current = syn_traces[i], syns[i]  # type: ignore[assignment]
                bias_traces[i] = betas[i] * bias_traces[i] + (1.0 if p.alpha is None else syn_bias[i])
                if t == 1:
                    traces.append(presynaptic_filter(None, h, betas[i]))
                    backs.append(back)
                    mems.append(torch.zeros_like(current))
                    spikes.append(torch.zeros_like(current))
                else:
                    presynaptic_filter(traces[i], h, betas[i])
                decay = beta_decay(betas[i])
                if rec_w[i] is not None:  # V·s[t−1] joins; snnTorch sums (β·U + I) + V·s: the same order here
                    decay = _leak_then(betas[i], current)
                    current = F.linear(spikes[i], rec_w[i], rec_b[i])
                    rec_traces[i] = presynaptic_filter(rec_traces[i] if t > 1 else None, spikes[i], betas[i])
                backs[i] = back
                mems[i] = lif_update(mems[i], current, spikes[i], thetas[i], p.reset, decay, quantize=quants[i],
                                     inplace=True)
                spikes[i] = (mems[i] > thetas[i]).to(mems[i].dtype)
                h = spikes[i]
            if on_step is not None:
                on_step(inputs, spikes, mems)
            if count_error:  # the running read-out: spike counts so far, ties by the summed membrane
                if t == 1:
                    counts, memsum = spikes[-1].clone(), mems[-1].clone()
                else:
                    counts.add_(spikes[-1])
                    memsum.add_(mems[-1])
            if t % self.error_every == 0:
                if count_error:  # ∂CE(read-out)/∂U_L[t] through the surrogate of the output spikes
                    logits = count_scores(counts, memsum)
                    err = (torch.softmax(logits, 1) - onehot).mul_(surrogates[-1](mems[-1] - thetas[-1]))
                else:  # ∂CE(U_L[t])/∂U_L[t]
                    logits = mems[-1]
                    err = torch.softmax(logits, 1) - onehot
                loss += F.cross_entropy(logits, y)
                broadcasts += 1
                deltas = [(err @ fb.to(err.dtype)).view_as(m).mul_(sg(m - th))
                          for fb, m, th, sg in zip(fbs, mems, thetas, surrogates)] + [err]
                for i, delta in enumerate(deltas):
                    if i in skip:
                        continue
                    syn = self._synapses[i]
                    syn.accumulate(grads_w[i], grads_b[i], backs[i](delta), traces[i],
                                   bias_traces[i])
                    if rec_gw[i] is not None:
                        add_outer(rec_gw[i], rec_gb[i], delta, rec_traces[i], bias_traces[i])  # type: ignore[arg-type]
        if t == 0:
            raise SpikefaError("online DFA: the input sequence has T = 0 time steps; expected time-major "
                               "[T, B, ...] with T >= 1")
        if not broadcasts:
            raise SpikefaError(f"online DFA: error_every={self.error_every} is longer than the {t} time steps")
        norm = 1.0 / (broadcasts * max(len(y), 1))
        for i, (layer, gw, gb) in enumerate(zip([*self.layers, *recs], [*grads_w, *rec_gw], [*grads_b, *rec_gb])):
            if layer is None or i % len(lif) in skip:
                continue
            accumulate_grad(master_weight(layer, "weight"), gw * norm)
            if gb is not None:
                accumulate_grad(master_weight(layer, "bias"), gb * norm)
        return loss / broadcasts


def _leak_then(beta: float, current: torch.Tensor) -> Any:
    """D(U) = β·U + I (in place when asked): a recurrent layer's leak and input, before V·s."""
    def decay(u: torch.Tensor, inplace: bool) -> torch.Tensor:
        return u.mul_(beta).add_(current) if inplace else beta * u + current

    return decay


class EncodedSNN(SeededStreams):
    """A classifier over static inputs or binned events, wrapping a spiking network or learner.

    Static inputs [B, C, H, W] in [0, 1] are encoded one step at a time with a generator seeded
    from ``seed``: training draws continue one stream (saved with the model), evaluation redraws
    from a fixed seed so every evaluation sees the same spikes. Events [B, T, C, H, W] (uint8
    counts or floats) are used as they are, clipped to one spike per bin.
    """

    def __init__(self, net: nn.Module, encoder: Encoder, seed: int = 0) -> None:
        super().__init__(seed)
        self.net, self.encoder = net, encoder

    def _steps(self, x: torch.Tensor) -> Iterable[torch.Tensor]:
        if x.ndim == 5:  # binned events [B, T, C, H, W]
            dtype = next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)
            return (x.transpose(0, 1) > 0).to(dtype)  # spikes in the network's dtype
        gen = self.train_generator(x.device) if self.training else self.fixed_generator(EVAL, x.device)
        return self.encoder.steps(x, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scores(self.net(self._steps(x)))

    def local_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """One online learning step when the wrapped learner has one (else None: use backward)."""
        step = getattr(self.net, "local_step", None)
        return None if step is None else step(self._steps(x), y)
