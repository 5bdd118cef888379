"""STDP and three-factor STDP on chosen ``nn.Linear`` layers of a spiking network: a user's own
snnTorch network (either style snnTorch teaches, read by `spikefa.nn.snntorch_net.read_snntorch`)
or a card-built `SpikingNet`. The user keeps their model, their forward and their optimiser;
``local_step(spikes [T, B, ...], y)`` learns from one time-major sequence.

`LayerSTDP` (pure pair STDP, unsupervised): the network runs over the sequence through its own
modules (the user's neurons step exactly as in the user's loop) and, after every time step t, each
chosen layer's weight W [out, in] takes one step of pair STDP
(`spikefa.functional.stdp_batched.stdp_step_batched`, the semantics of
`spikefa.schemas.stdp.STDPParams`: traces, bounds, order, clipping, w_min/w_max; Song, Miller &
Abbott 2000; Morrison et al. 2008 eqs. 3-6) with pre = the layer's input at t (the spikes reaching
the nn.Linear) and post = its neurons' spikes at t. The weight changes during the sequence, as in
Brian2: step t+1 runs with the weight step t left. For B = 1 this is the sequential rule of
`spikefa.functional.stdp.stdp_step` exactly; for B > 1 the per-sample updates of each pathway are
averaged (``reduction="mean"``) or summed. Nothing else of the network changes, so a network
read out by its output spikes stays at chance unless its output layer learns otherwise.

`STDPOnlineDFA` (rule ``stdp``): STDP features with an online-DFA read-out. The chosen hidden
layers learn by exactly `LayerSTDP`'s pair STDP (step by step, labels unused); every layer not
chosen, the output layer always, learns by online DFA (`spikefa.nn.online.OnlineDFA`, Nøkland
2016; Bellec et al. 2020) on the spikes the STDP layers emit, its gradient in ``.grad`` for the
user's optimiser. ``frozen`` keeps the chosen layers at their initialisation while the others still
learn (the random-feature control).

`ThreeFactorSTDP` (rule ``three-factor``) is online DFA (`spikefa.nn.online.OnlineDFA`) whose chosen
hidden layers learn by STDP eligibility instead of the surrogate eligibility: per sample b,

    E_b(T) = Σ_t λ^(T−t) Δ_b(t),   Δ_b(t) = A₋·y⁻_b(t)ᵀ s_b(t) + A₊·z_b(t)ᵀ x⁺_b(t)    (one STDP step)
    grad W_l = γ · (1/B) Σ_b m_b ⊙ E_b(T),   m_b = e_b·B_l,   e_b = softmax(r_b) − onehot(y_b)

(Frémaux & Gerstner 2016 eqs. 2-4; `spikefa.functional.eligibility`), where r is the network's own
read-out at the end of the sequence (spike counts, ties by the summed membrane: `scores`), B_l the
layer's fixed random DFA feedback (Nøkland 2016) and γ the option ``gain``. The output layer (and
hidden layers not chosen, e.g. convolutional ones) learn by online DFA, as with rule ``dfa``.
Equivalence with the card network (`spikefa.nn.stdp.three_factor.ThreeFactorNet.learn`): on the
same spike trains, A±, τ and τ_e, with e the same error, the chosen layer's update −η·grad is the
card's hidden update with learning rate η·γ exactly (plain SGD at rate η applies it). What differs
is only what surrounds it: the card's read-out is a non-spiking softmax on standardised spike counts
trained by the delta rule, here the output layer is the user's spiking layer trained by online DFA
(the delta rule through its surrogate); the card keeps each hidden row's norm after the update
(synaptic scaling), here the optimiser applies the gradient as it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.eligibility import elig_decay, stdp_traces, three_factor_delta_traces
from spikefa.functional.lif import count_scores
from spikefa.functional.stdp_batched import REDUCTIONS, stdp_step_batched
from spikefa.functional.stdp import stdp_init
from spikefa.nn.layers import master_weight
from spikefa.nn.online import OnlineDFA
from spikefa.nn.synapse import Synapse, accumulate_grad
from spikefa.nn.spiking import SpikingNet, step_neuron
from spikefa.schemas.stdp import STDPParams

Choice = Sequence[int | str] | None
"""Which layers learn: layer indices (0 = first layer of neurons; negative counts from the end) or
module names as ``model.named_modules()`` gives them (``"fc1"``, ``"1"`` in an nn.Sequential)."""


def view_of(model: nn.Module, min_layers: int, learner: str) -> Any:
    """What the learners step: a card-built `SpikingNet` itself, or a user's network read by
    `read_snntorch` (``.synapses``, ``.neurons``, ``.lif``)."""
    from spikefa.nn.snntorch_net import read_snntorch

    return model if isinstance(model, SpikingNet) else read_snntorch(model, min_layers, learner)


def choose_layers(model: nn.Module, layers: Sequence[nn.Module], chosen: Choice, rule: str,
                  hidden_only: bool) -> tuple[int, ...]:
    """Indices of the chosen layers; the default (None) is every hidden nn.Linear layer. Raises
    `SpikefaError` naming the module for an index out of range, an unknown name, a layer that is
    not an nn.Linear, or (``hidden_only``) the output layer."""
    names = {id(m): n for n, m in model.named_modules()}
    where = [f"layer {i} (module {names.get(id(m), '?')!r}, {type(m).__name__})" for i, m in enumerate(layers)]
    n = len(layers)
    if chosen is None:
        picked = [i for i, m in enumerate(layers[:-1]) if isinstance(m, nn.Linear)]
        if not picked:
            raise SpikefaError(f"rule {rule!r}: the network has no hidden nn.Linear layer to learn; choose layers with "
                               f"options={{'layers': [...]}} (indices 0..{n - 1} or module names)")
    else:
        picked = []
        for c in chosen:
            if isinstance(c, int):
                if not -n <= c < n:
                    raise SpikefaError(f"rule {rule!r}: layer index {c} is out of range; the network has {n} layers "
                                       f"of neurons (0..{n - 1}): {', '.join(where)}")
                picked.append(c % n)
            else:
                index = next((i for i, m in enumerate(layers) if names.get(id(m)) == c), None)
                if index is None:
                    raise SpikefaError(f"rule {rule!r}: no layer is the module {c!r}; the layers are "
                                       f"{', '.join(where)}")
                picked.append(index)
    for i in picked:
        if not isinstance(layers[i], nn.Linear):
            raise SpikefaError(f"rule {rule!r}: {where[i]} is not an nn.Linear; STDP learns nn.Linear layers only "
                               "(a convolution's shared weights have no pair-STDP rule here)")
        if hidden_only and i == n - 1:
            raise SpikefaError(f"rule {rule!r}: {where[i]} is the output layer, which learns by online DFA; choose "
                               "hidden nn.Linear layers")
    return tuple(sorted(set(picked)))


def _dt(params: STDPParams, net: nn.Module) -> float:
    """ms per step: the params' own dt, else the network's (snnTorch networks: 1 ms)."""
    return float(params.dt) if params.dt is not None else float(getattr(net, "dt", 1.0))


def _stdp_step(layer: nn.Module, pre: torch.Tensor, post: torch.Tensor, traces: dict[int, Any], index: int,
               params: STDPParams, dt: float, reduction: str) -> None:
    """One pair-STDP step of ``layer``'s weight in place, pre [B, in], post [B, out]; ``traces[index]``
    holds the layer's traces between steps (zero at the first)."""
    w = master_weight(layer, "weight")
    if index not in traces:
        traces[index] = stdp_init(pre, post, w.dtype)
    _, traces[index] = stdp_step_batched(pre, post, w.data, traces[index], params, dt,
                                         reduction, inplace=True)  # type: ignore[arg-type]


class LayerSTDP(nn.Module):
    """Pair STDP on chosen nn.Linear layers of a spiking network (module docstring); ``forward`` is
    the network's own. ``frozen`` runs the network without learning (the random-feature control)."""

    def __init__(self, net: nn.Module, layers: Choice = None, params: STDPParams | None = None,
                 reduction: str = "mean", frozen: bool = False) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise SpikefaError(f"STDP reduction={reduction!r} is unknown: use one of {', '.join(REDUCTIONS)}")
        self.net, self.params, self.reduction, self.frozen = net, params or STDPParams(), reduction, bool(frozen)
        object.__setattr__(self, "_view", view_of(net, 1, "STDP"))  # never a second registration of the modules
        self._synapses = [Synapse.of(s) for s in self._view.synapses]
        self.layers = [s.layer for s in self._synapses]
        self.chosen = choose_layers(net, self.layers, layers, "stdp", hidden_only=False)
        self.dt = _dt(self.params, net)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The network's own forward."""
        return self.net(*args, **kwargs)

    def local_step(self, steps: Iterable[torch.Tensor], y: torch.Tensor | None = None) -> None:
        """Run the sequence [T, B, ...] once with learning (unless frozen); labels are not used
        (STDP is unsupervised); returns None (no loss)."""
        self.run(steps, learn=not self.frozen)
        return None

    @torch.no_grad()
    def run(self, steps: Iterable[torch.Tensor], learn: bool = True, record: bool = False
            ) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """Step the network through [T, B, ...], updating the chosen weights after every step when
        ``learn``; with ``record`` returns each chosen layer's (pre [T, B, in], post [T, B, out])
        spikes, in the order of ``chosen``. Raises `SpikefaError` for T = 0."""
        states: list[Any] = [None] * len(self.layers)
        traces: dict[int, Any] = {}
        kept: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {i: [] for i in self.chosen}
        t = 0
        for t, x_t in enumerate(steps, start=1):
            h = x_t
            for i, (syn, neuron) in enumerate(zip(self._synapses, self._view.neurons)):
                x = syn.inputs(h)
                z = syn.layer(x)
                current = z
                for op in syn.after:
                    current = op(current)
                spk, states[i] = step_neuron(neuron, current, states[i])
                h = spk.to(current.dtype)
                if i not in kept:
                    continue
                if record:
                    kept[i].append((x.clone(), h.clone()))
                if learn:
                    _stdp_step(syn.layer, x, h, traces, i, self.params, self.dt, self.reduction)
        if t == 0:
            raise SpikefaError("STDP: the input sequence has T = 0 time steps; expected time-major [T, B, ...] "
                               "with T >= 1")
        if not record:
            return None
        return [(torch.stack([p for p, _ in kept[i]]), torch.stack([q for _, q in kept[i]])) for i in self.chosen]


class STDPOnlineDFA(OnlineDFA):
    """STDP features with an online-DFA read-out (rule ``stdp`` on a spiking network; module
    docstring). ``local_step(x [T, B, ...], y)`` runs the sequence once: after every step each chosen
    hidden nn.Linear layer's weight takes `LayerSTDP`'s pair-STDP step (in place: step t+1 runs with
    it), and the layers not chosen (the output layer always) accumulate online DFA's −ΔW in
    ``.grad`` (the user's optimiser steps them); returns the mean cross-entropy of the broadcast
    errors. ``frozen`` keeps the chosen layers at their initialisation (the random-feature control).
    The chosen layers' biases do not learn (STDP has no bias rule). Under QAT (parametrized weights)
    the network runs each sequence with the fake-quantized weights of its start, as online DFA reads
    them, while STDP moves the float weights step by step. Raises `SpikefaError` for an unknown
    ``reduction``, a chosen output layer or convolution, and what `OnlineDFA` refuses."""

    def __init__(self, net: nn.Module, layers: Choice = None, params: STDPParams | None = None,
                 reduction: str = "mean", frozen: bool = False, seed: int = 0, scale: float | None = None,
                 dist: str = "gaussian", input_shape: tuple[int, ...] | None = None) -> None:
        if reduction not in REDUCTIONS:
            raise SpikefaError(f"STDP reduction={reduction!r} is unknown: use one of {', '.join(REDUCTIONS)}")
        view = None if isinstance(net, SpikingNet) else view_of(net, 2, "STDP with an online-DFA read-out")
        super().__init__(net, "random", seed, scale, dist, layers=view, input_shape=input_shape)
        self.params, self.reduction, self.frozen = params or STDPParams(), reduction, bool(frozen)
        self.chosen = choose_layers(net, self.layers, layers, "stdp", hidden_only=True)
        self.dt = _dt(self.params, net)

    def local_step(self, steps: Iterable[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), torch.autocast(y.device.type, enabled=False):
            traces: dict[int, Any] = {}

            def learn(inputs: list[torch.Tensor], spikes: list[torch.Tensor], mems: list[torch.Tensor]) -> None:
                for i in self.chosen:
                    _stdp_step(self.layers[i], inputs[i], spikes[i], traces, i, self.params, self.dt, self.reduction)

            return self._local_step(steps, y, on_step=None if self.frozen else learn, skip=frozenset(self.chosen))


class ThreeFactorSTDP(OnlineDFA):
    """Three-factor STDP on chosen hidden nn.Linear layers, online DFA elsewhere (module docstring).
    ``local_step(x [T, B, ...], y)`` sets ``.grad`` of the network's weights (the user's optimiser
    steps them) and returns the mean cross-entropy of the online-DFA broadcasts. ``frozen`` keeps
    the chosen layers as they are (the random-feature control); the others still learn."""

    def __init__(self, net: nn.Module, layers: Choice = None, params: STDPParams | None = None,
                 tau_elig: float = math.inf, gain: float = 1.0, frozen: bool = False, seed: int = 0,
                 scale: float | None = None, dist: str = "gaussian", input_shape: tuple[int, ...] | None = None
                 ) -> None:
        view = None if isinstance(net, SpikingNet) else view_of(net, 2, "three-factor STDP")
        super().__init__(net, "random", seed, scale, dist, layers=view, input_shape=input_shape)
        self.params = params or STDPParams(a_plus=1.0, a_minus=-0.5, w_min=-math.inf, w_max=math.inf, clip="none")
        self.chosen = choose_layers(net, self.layers, layers, "three-factor", hidden_only=True)
        self.dt = _dt(self.params, net)
        self.lam = elig_decay(self.dt, tau_elig)  # also refuses a τ_e <= 0
        self.gain, self.frozen = float(gain), bool(frozen)
        stdp_traces(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), self.params, self.dt)  # refuses bounds/clip/order now

    def local_step(self, steps: Iterable[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), torch.autocast(y.device.type, enabled=False):
            kept: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {i: [] for i in self.chosen}
            out: list[torch.Tensor] = []  # [count, summed membrane] of the output layer

            def record(inputs: list[torch.Tensor], spikes: list[torch.Tensor], mems: list[torch.Tensor]) -> None:
                for i, trains in kept.items():
                    trains.append((inputs[i].clone(), spikes[i].clone()))
                if out:
                    out[0].add_(spikes[-1])
                    out[1].add_(mems[-1])
                else:
                    out.extend([spikes[-1].clone(), mems[-1].clone()])

            loss = self._local_step(steps, y, on_step=None if self.frozen else record, skip=frozenset(self.chosen))
            if not self.frozen:
                self._three_factor(kept, count_scores(out[0], out[1]), y)
            return loss

    def _three_factor(self, kept: dict[int, list[tuple[torch.Tensor, torch.Tensor]]], readout: torch.Tensor,
                      y: torch.Tensor) -> None:
        """Add γ·(1/B) Σ_b m_b ⊙ E_b(T) to each chosen layer's weight gradient."""
        e = torch.softmax(readout, 1) - torch.nn.functional.one_hot(y, readout.shape[1]).to(readout.dtype)
        for i, trains in kept.items():
            pre = torch.stack([p for p, _ in trains])
            post = torch.stack([q for _, q in trains])
            third = e @ self.feedback_matrix(i).to(e.dtype)  # m_b = e_b·B_l, [B, n_l]
            x_plus, y_minus = stdp_traces(pre, post, self.params, self.dt)
            delta = three_factor_delta_traces(third, pre, y_minus, post, x_plus, self.gain, self.lam)
            accumulate_grad(master_weight(self.layers[i], "weight"), -delta)
