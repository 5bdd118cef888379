"""What the exporters read from a `SpikingNet`: one fully connected LIF layer per synapse.

Weights are read through ``.weight`` / ``.bias`` whatever the module's class (rule converters
swap ``nn.Linear`` for FA/sign/QAT variants), so a parametrized (fake-quantised) network exports
the weights it computes with. Convolution and pooling stages are reported, not dropped: the
constraint checker lists them as violations and export refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.runs.model import load_run as _load_run
from spikefa.schemas.neuron import LIFParams


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """A fully connected LIF layer in real units: I = W·x + b, then LIF with `lif`."""

    weight: torch.Tensor  # [out, in]
    bias: torch.Tensor  # [out]; zeros when the synapse has none
    has_bias: bool
    lif: LIFParams

    @property
    def fan_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def size(self) -> int:
        return int(self.weight.shape[0])


def _linear_of(module: nn.Module, first: bool) -> tuple[nn.Module | None, str]:
    """The one Linear of a synapse (an optional leading Flatten in the first layer), or why not."""
    parts = list(module) if isinstance(module, nn.Sequential) else [module]
    if first and parts and isinstance(parts[0], nn.Flatten):
        parts = parts[1:]
    if len(parts) == 1 and isinstance(parts[0], nn.Linear):
        return parts[0], ""
    kinds = "+".join(type(p).__name__ for p in parts) or "empty"
    return None, f"{kinds} synapse is not supported by spikefa export (fully connected nn.Linear layers only)"


def dense_layers(net: nn.Module) -> tuple[list[DenseLayer], list[str]]:
    """(layers, violations): every synapse of `net` as a `DenseLayer`, and what could not be read."""
    synapses, lifs = getattr(net, "synapses", None), getattr(net, "lif", None)
    if synapses is None or lifs is None:
        return [], [f"{type(net).__name__} is not a SpikingNet (needs .synapses and .lif)"]
    layers: list[DenseLayer] = []
    problems: list[str] = []
    read: list[int] = []
    for i, (syn, lif) in enumerate(zip(synapses, lifs)):
        if lif.alpha is not None:
            problems.append(f"layer {i}: current-based neurons (snntorch.Synaptic, alpha {lif.alpha:g}) are not "
                            "exported yet; spikefa export takes Leaky (LIF) layers")
            continue
        linear, why = _linear_of(syn, first=i == 0)
        if linear is None:
            problems.append(f"layer {i}: {why}")
            continue
        read.append(i)
        with torch.no_grad():
            w = linear.weight.detach().to(torch.float64).clone()
            b = linear.bias
            bias = torch.zeros(w.shape[0], dtype=torch.float64) if b is None else b.detach().to(torch.float64).clone()
        layers.append(DenseLayer(w, bias, b is not None, lif))
    for (i, a), (j, b) in zip(zip(read, layers), zip(read[1:], layers[1:])):
        if j == i + 1 and a.size != b.fan_in:
            problems.append(f"layer {j}: fan-in {b.fan_in} does not match layer {i}'s {a.size} neurons")
    return layers, problems


def from_run_dir(run_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(network, meta) of a run directory written by ``spikefa train``: the `SpikingNet` inside the
    model `spikefa.runs.load_run` rebuilds from the run's own config (its stored card) and checkpoint,
    fake-quantized as it was trained when the run used ``--qat``."""
    from spikefa.export.qat import qat_transform_for

    run = _load_run(run_dir, qat_transform_for)
    net = spiking_core(run.model)
    config = run.config
    if net is None:
        raise SpikefaError(f"{run_dir}: model {config.model!r} is not a spiking network; spikefa export takes spiking runs")
    meta = {"run_dir": str(run_dir), "model": config.model, "rule": config.rule, "feedback": config.feedback,
            "dataset": config.dataset, "seed": config.seed, "data_dir": config.data_dir,
            "input_shape": list(run.input_shape), "num_classes": run.num_classes}
    return net, meta


def spiking_core(model: nn.Module) -> nn.Module | None:
    """The `SpikingNet` inside a trained model (``EncodedSNN.net``, an online learner's net), or None."""
    return next((m for m in model.modules() if hasattr(m, "synapses") and hasattr(m, "lif")), None)
