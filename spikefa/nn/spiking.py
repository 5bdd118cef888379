"""Spiking networks built from cards: synapse modules (Linear / Conv2d+pool) feeding snnTorch
``Leaky`` neurons, stepped through time-major inputs [T, B, ...].

``SpikingNet`` holds ``synapses`` (one module per layer, plain torch so every rule converter can
walk them) and ``neurons`` (one ``snntorch.Leaky`` per layer, with the card's β, threshold, reset
and surrogate). ``lif`` keeps the same parameters as `LIFParams`, which the online learners and
the exporters read; `spikefa.functional.lif.lif_step` reproduces ``Leaky`` bitwise.

The output layer is a LIF layer too: a class's score is its spike count over the T steps (ties
broken by the summed membrane potential), so a chip that only reports spikes classifies alike.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikefa._optional import require
from spikefa.errors import SpikefaError
from spikefa.functional.lif import count_scores
from spikefa.nn.snntorch_net import neuron_params, read_snntorch, surrogate_name, surrogate_of
from spikefa.schemas.neuron import LIFParams

class SpikeRecord(NamedTuple):
    """Output-layer spikes and membrane potentials, both [T, B, classes]."""

    spikes: torch.Tensor
    mem: torch.Tensor


def scores(record: SpikeRecord) -> torch.Tensor:
    """Class scores [B, classes] (`spikefa.functional.lif.count_scores`): spike count, ties broken by
    the summed membrane."""
    return count_scores(record.spikes.sum(0), record.mem.sum(0))


def leaky(spec: LIFParams) -> nn.Module:
    """An snnTorch Leaky neuron for a neuron description (state passed explicitly)."""
    snn = require("snntorch")
    grads = {"atan": snn.surrogate.atan, "fast-sigmoid": snn.surrogate.fast_sigmoid}
    return snn.Leaky(beta=spec.beta, threshold=spec.threshold, reset_mechanism=spec.reset,
                     spike_grad=grads[spec.surrogate]())


def state_quantizer(neuron: nn.Module) -> object | None:
    """The ``state_quant`` a Leaky applies to its membrane after each step (QAT), or None."""
    quant = getattr(neuron, "state_quant", False)
    return quant if callable(quant) else None


def step_neuron(neuron: nn.Module, current: torch.Tensor, state: tuple[torch.Tensor, ...] | None
          ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """One step of an snnTorch neuron (``Leaky``: state (mem,); ``Synaptic``: (syn, mem); ``RLeaky``:
    (spk, mem), its last spikes feeding its recurrent weights) from a
    sequence's start (state None): explicit state, or the state an ``init_hidden`` neuron keeps
    (reset here at the first step). Returns (spikes, new state); the membrane is the state's last."""
    kind = type(neuron).__name__
    names = {"Synaptic": ("syn", "mem"), "RLeaky": ("spk", "mem")}.get(kind, ("mem",))
    if getattr(neuron, "init_hidden", False):
        if state is None:
            for name in names:
                setattr(neuron, name, torch.zeros_like(current))
        out = neuron(current)
        return (out[0] if isinstance(out, tuple) else out), tuple(getattr(neuron, n) for n in names)
    state = state if state is not None else tuple(torch.zeros_like(current) for _ in names)
    spk, *new = neuron(current, *state)
    return spk, ((spk, *new) if kind == "RLeaky" else tuple(new))  # RLeaky's state holds its last spikes


class SpikingNet(nn.Module):
    """Layers of (synapse, LIF); forward takes [T, B, ...] and returns the output `SpikeRecord`.

    The snnTorch ``Leaky`` modules in ``neurons`` are the one truth about β, θ and reset (QAT writes
    the target's β̂ into them); ``lif`` reads them back as `LIFParams` for the online learners and the
    exporters, with the network's dt (ms) and surrogate. Spikes keep the input's dtype.
    """

    def __init__(self, synapses: list[nn.Module], neuron: LIFParams | None = None, *,
                 neurons: list[nn.Module] | None = None, dt: float = 1.0) -> None:
        super().__init__()
        if (neuron is None) == (neurons is None):
            raise SpikefaError("SpikingNet takes a neuron description (card-built) or the neuron modules "
                               "(a user's snnTorch network), not both")
        self.synapses = nn.ModuleList(synapses)
        self.neurons = nn.ModuleList(neurons if neurons is not None else [leaky(neuron) for _ in synapses])
        self.dt = neuron.dt if neuron is not None else float(dt)
        where = [f"layer {i} ({type(n).__name__})" for i, n in enumerate(self.neurons)]
        self.surrogates = tuple(surrogate_of(n, w) for n, w in zip(self.neurons, where))

    @classmethod
    def of(cls, model: nn.Module) -> SpikingNet:
        """A user's snnTorch network (`spikefa.nn.snntorch_net.read_snntorch`) as a SpikingNet over
        its own modules (shared, not copied): what the harness trains and evaluates."""
        layers = read_snntorch(model)
        synapses = list(layers.synapses)
        if isinstance(synapses[0][0], nn.Linear):  # explicit-state forwards flatten the image themselves
            synapses[0] = nn.Sequential(nn.Flatten(), *synapses[0])
        return cls(synapses, neurons=list(layers.neurons))

    @property
    def lif(self) -> tuple[LIFParams, ...]:
        """The neuron of every layer, as it runs now."""
        return tuple(neuron_params(n, self.dt, surrogate_name(f)) for n, f in zip(self.neurons, self.surrogates))

    def forward(self, x: torch.Tensor) -> SpikeRecord:
        states: list[tuple[torch.Tensor, ...] | None] = [None] * len(self.synapses)
        out_spk, out_mem = [], []
        # Parametrized weights (QAT's fake quantization) are computed once per pass, not per step:
        # they cannot change while the sequence runs.
        with parametrize.cached():
            for x_t in x:
                h = x_t
                for i, (syn, neu) in enumerate(zip(self.synapses, self.neurons)):
                    current = syn(h)
                    h, states[i] = step_neuron(neu, current, states[i])
                    h = h.to(current.dtype)  # snnTorch's Leaky returns float32 spikes for float64 input
                out_spk.append(h)
                out_mem.append(states[-1][-1])
        if not out_spk:
            raise SpikefaError("SpikingNet input has T = 0 time steps; expected time-major [T, B, ...] with T >= 1")
        return SpikeRecord(torch.stack(out_spk), torch.stack(out_mem))  # type: ignore[arg-type]
