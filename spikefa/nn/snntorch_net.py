"""Read a user's own snnTorch network into the layers spikefa's online learners step.

snnTorch's tutorials write a network in one of two styles, and both are read the same way, by the
order in which the model registers its modules:

- an ``nn.Sequential`` whose neurons were made with ``init_hidden=True`` (state kept inside the
  neuron, reset with ``snntorch.utils.reset``), e.g.
  ``nn.Sequential(nn.Flatten(), nn.Linear(784, 100), snn.Leaky(beta=0.9, init_hidden=True),
  nn.Linear(100, 10), snn.Leaky(beta=0.9, init_hidden=True, output=True))``;
- a module with explicit state: ``self.fc1, self.lif1, self.fc2, self.lif2`` registered in that
  order and, in ``forward``, ``mem = self.lif1.init_leaky(); spk, mem = self.lif1(cur, mem)``.

A layer is the parameter-free modules before a synapse (``Flatten``, ``Dropout``), one ``nn.Linear``
or ``nn.Conv2d``, the pooling of its currents (``MaxPool2d`` / ``AvgPool2d``) and the ``snn.Leaky``
after it. The neurons stay the user's: β, θ and reset are read from each
neuron whenever the learner steps (`neuron_params`), never copied; β and θ may be one value per
layer or one per neuron of an ``nn.Linear`` layer (``Leaky(beta=torch.rand(n), threshold=...)``,
read as `spikefa.schemas.neuron.PerNeuron`). What spikefa does not handle is refused with one line
naming the module and what is supported: another neuron class (``RSynaptic``, ...), another layer
type, a learnable β or θ under online learning, per-neuron β or θ on a convolutional layer, a
surrogate other than snnTorch's ``atan`` / ``fast_sigmoid``, modules after the last neuron.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.lif import atan_grad, fast_sigmoid_grad
from spikefa.schemas.neuron import LIFParams, PerNeuron

PASS_THROUGH = (nn.Flatten, nn.Dropout, nn.Identity, nn.MaxPool2d, nn.AvgPool2d)
WEIGHTED = (nn.Linear, nn.Conv2d)  # the one weight layer of a layer, for every online learner
NEURONS = ("Leaky", "Synaptic", "RLeaky")
SUPPORTED = ("nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, snntorch.Leaky, "
             "snntorch.Synaptic and snntorch.RLeaky (all-to-all)")


def is_snntorch_neuron(module: nn.Module) -> bool:
    """Whether a module is one of snnTorch's spiking neurons (a ``snntorch.SpikingNeuron``)."""
    if not type(module).__module__.startswith("snntorch"):
        return False
    import snntorch

    return isinstance(module, snntorch.SpikingNeuron)


def uses_snntorch(model: nn.Module) -> bool:
    """Whether any module of `model` is an snnTorch neuron (the model is a user's snnTorch network)."""
    return any(is_snntorch_neuron(m) for m in model.modules())


def surrogate_of(neuron: nn.Module, where: str) -> Any:
    """The derivative of the neuron's spike_grad, for the surrogates snnTorch ships with parameters
    spikefa can read (atan's alpha, fast_sigmoid's slope)."""
    fn = getattr(neuron, "spike_grad", None)
    name = getattr(fn, "__qualname__", "")
    params = inspect.getclosurevars(fn).nonlocals if callable(fn) and hasattr(fn, "__code__") else {}
    if name.startswith("atan") or name.startswith("ATan"):
        return functools.partial(atan_grad, alpha=float(params.get("alpha", 2.0)))
    if name.startswith("fast_sigmoid"):
        return functools.partial(fast_sigmoid_grad, slope=float(params.get("slope", 25.0)))
    raise SpikefaError(f"{where}: surrogate {name or fn!r} is not supported by spikefa's online learners; use "
                       "snntorch.surrogate.atan() or fast_sigmoid()")


def rescale_surrogate(neuron: nn.Module, c: float) -> None:
    """Give `neuron` the surrogate of its network rescaled by c (θ → θ/c): snnTorch's atan with α·c
    (exactly c·σ'(c·x)) or fast_sigmoid with slope·c (the same width relative to θ). Other
    surrogates are left as they are (online learners refuse them anyway)."""
    from spikefa._optional import require

    try:
        derivative = surrogate_of(neuron, "")
    except SpikefaError:
        return
    surrogate = require("snntorch").surrogate
    (name, value), = derivative.keywords.items()
    neuron.spike_grad = surrogate.atan(alpha=value * c) if name == "alpha" else surrogate.fast_sigmoid(slope=value * c)


def refresh_surrogates(net: nn.Module) -> None:
    """Re-read a `SpikingNet`'s copy of each neuron's derivative (its online learners use them) after
    a neuron's surrogate changed; a no-op for other networks."""
    if hasattr(net, "surrogates") and hasattr(net, "neurons"):
        net.surrogates = tuple(surrogate_of(n, f"layer {i} ({type(n).__name__})") for i, n in enumerate(net.neurons))


def check_online(neuron: nn.Module, where: str) -> None:
    """What online learning cannot do with a neuron: a learnable β, θ or α (its update is not defined
    there); BPTT (bp, fa, sign) trains them."""
    for name, param in neuron.named_parameters(recurse=False):
        if param.requires_grad:
            raise SpikefaError(f"{where}: {type(neuron).__name__}(learn_{name}=True) is not supported by online "
                               "learning (its update is not defined there); train it with rule 'bp', 'fa' or "
                               "'sign', or fix it")


def _check_neuron(neuron: nn.Module, where: str) -> None:
    kind = type(neuron).__name__
    if kind not in NEURONS:
        raise SpikefaError(f"{where}: snntorch.{kind} is not supported by spikefa's online learners yet; "
                           f"supported: {SUPPORTED}")
    if kind == "Synaptic" and neuron.reset_mechanism == "zero":
        raise SpikefaError(f"{where}: Synaptic(reset_mechanism='zero') is not supported yet; use 'subtract' or "
                           "'none'")
    if kind == "RLeaky" and not isinstance(getattr(neuron, "recurrent", None), nn.Linear):
        raise SpikefaError(f"{where}: RLeaky needs all_to_all=True with linear_features (an nn.Linear recurrent "
                           "weight); one-to-one and convolutional recurrence are not supported yet")
    if kind == "RLeaky" and neuron.reset_mechanism == "zero":
        raise SpikefaError(f"{where}: RLeaky(reset_mechanism='zero') is not supported yet; use 'subtract' or 'none'")
    if kind == "Synaptic" and torch.as_tensor(neuron.alpha).numel() != 1:
        raise SpikefaError(f"{where}: a per-neuron α is not supported; give one α per layer")
    if getattr(neuron, "inhibition", False) or not getattr(neuron, "reset_delay", True):
        raise SpikefaError(f"{where}: Leaky with inhibition=True or reset_delay=False is not supported; "
                           "use the defaults")
    if float(neuron.graded_spikes_factor) != 1.0:
        raise SpikefaError(f"{where}: graded spikes (graded_spikes_factor != 1) are not supported yet")


def check_per_neuron(neuron: nn.Module, layer: nn.Module, where: str) -> None:
    """Per-neuron β or θ: one value per neuron of an nn.Linear layer (shape [n] or [1, n])."""
    for name in ("beta", "threshold"):
        value = torch.as_tensor(getattr(neuron, name))
        if value.numel() == 1:
            continue
        if not isinstance(layer, nn.Linear):
            raise SpikefaError(f"{where}: a per-neuron {name} after a {type(layer).__name__} is not supported; give "
                               f"one {name} per convolutional layer (per-neuron values work after an nn.Linear)")
        n = layer.out_features
        if value.numel() != n or value.shape[-1] != n:
            raise SpikefaError(f"{where}: {name} of shape {tuple(value.shape)} does not give one value per neuron of "
                               f"its nn.Linear ({n} neurons); use shape [{n}] or one value")


def surrogate_name(derivative: Any) -> str:
    """The spikefa name of a surrogate derivative made by `surrogate_of` ('atan' or 'fast-sigmoid')."""
    return "atan" if getattr(derivative, "func", None) is atan_grad else "fast-sigmoid"


@dataclass(frozen=True, eq=False)
class SnnTorchLayers:
    """The layers of a user's snnTorch network as the online learners see them: per layer the
    synapse (the user's own modules, in order) and the user's neuron. Not a module: the modules stay
    registered once, in the user's model."""

    synapses: tuple[nn.Sequential, ...]
    neurons: tuple[nn.Module, ...]
    surrogates: tuple[Any, ...]

    @property
    def lif(self) -> tuple[LIFParams, ...]:
        """The neuron of every layer as it is now (β, θ, reset, α read from the user's modules)."""
        return tuple(neuron_params(n, 1.0, surrogate_name(f)) for n, f in zip(self.neurons, self.surrogates))


def neuron_params(neuron: nn.Module, dt: float, surrogate: str) -> LIFParams:
    """The neuron an snnTorch ``Leaky`` or ``Synaptic`` runs now, read from the module (so QAT's β̂
    shows)."""
    alpha = getattr(neuron, "alpha", None) if type(neuron).__name__ == "Synaptic" else None
    return LIFParams(beta=_value(neuron.beta, "beta"), threshold=_value(neuron.threshold, "threshold"),
                     reset=neuron.reset_mechanism, dt=dt, surrogate=surrogate,  # type: ignore[arg-type]
                     alpha=None if alpha is None else float(alpha))


def _value(value: Any, name: str) -> float | PerNeuron:
    """A neuron's β or θ: a float, or `PerNeuron` values when it holds one per neuron (the float32
    values snnTorch computes with, exactly)."""
    t = torch.as_tensor(value).detach()
    return float(t) if t.numel() == 1 else PerNeuron(t.flatten().tolist(), name)


def read_snntorch(model: nn.Module, min_layers: int = 2, learner: str = "online DFA") -> SnnTorchLayers:
    """The layers of `model` in registration order (module docstring); raises `SpikefaError` naming
    the module for anything spikefa does not handle, or when it has fewer than ``min_layers`` layers
    of neurons (``learner`` names who needs them)."""
    children = list(model.named_children())  # explicit state: the tutorials register in call order
    synapses, neurons, surrogates, ops = [], [], [], []  # type: ignore[var-annotated]
    for name, module in children:
        where = f"module {name!r} ({type(module).__name__})"
        if is_snntorch_neuron(module):
            _check_neuron(module, where)
            if not any(isinstance(m, WEIGHTED) for m in ops):
                raise SpikefaError(f"{where}: a neuron without a synapse (nn.Linear / nn.Conv2d) before it; layers "
                                   "are read in the order the model registers its modules: register each synapse "
                                   "just before its neuron")
            synapses.append(nn.Sequential(*ops))
            neurons.append(module)
            surrogates.append(surrogate_of(module, where))
            ops = []
        elif isinstance(module, WEIGHTED + PASS_THROUGH):
            ops.append(module)
        else:
            raise SpikefaError(f"{where} is not supported in an snnTorch network by spikefa's online learners; "
                               f"supported: {SUPPORTED}")
    if ops:
        raise SpikefaError(f"modules {[type(m).__name__ for m in ops]} come after the last neuron; end the network "
                           "with a spiking neuron (the output layer is read out by its spikes)")
    if len(neurons) < min_layers:
        what = "two layers of neurons (a hidden and an output layer)" if min_layers == 2 else \
            f"{min_layers} layer(s) of neurons"
        raise SpikefaError(f"{learner} needs at least {what}; found {len(neurons)} in {type(model).__name__}")
    for syn, neuron, (name, _) in zip(synapses, neurons, [c for c in children if is_snntorch_neuron(c[1])]):
        if sum(isinstance(m, WEIGHTED) for m in syn) != 1:
            raise SpikefaError(f"a layer holds {sum(isinstance(m, WEIGHTED) for m in syn)} weight layers "
                               "(nn.Linear / nn.Conv2d) between two neurons; give each layer one")
        check_per_neuron(neuron, next(m for m in syn if isinstance(m, WEIGHTED)),
                          f"module {name!r} ({type(neuron).__name__})")
    return SnnTorchLayers(tuple(synapses), tuple(neurons), tuple(surrogates))
