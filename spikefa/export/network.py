"""What the exporters read from a `SpikingNet`: one fully connected LIF layer per synapse.

Weights are read through ``.weight`` / ``.bias`` whatever the module's class (rule converters
swap ``nn.Linear`` for FA/sign/QAT variants), so a parametrized (fake-quantised) network exports
the weights it computes with. Convolution and pooling stages are reported, not dropped: the
constraint checker lists them as violations and export refuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.lif import LIFParams


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
    """(network, meta) of a run directory written by ``spikefa train``.

    Expects ``config.json`` (a `spikefa.train.config.RunConfig`: model card, rule, feedback, seed,
    rule options) and ``checkpoint.pt`` whose ``"model"`` entry is the state dict of
    ``spikefa.train.run.make_model(config, input_shape, num_classes)`` (an ``EncodedSNN`` around
    the `SpikingNet`; the first module with ``.synapses`` and ``.lif`` is exported). ``input_shape`` / ``num_classes`` are read
    from the checkpoint when it stores them, else inferred from the first and last weights (a
    fully connected first layer only needs C·H·W, so (1, 1, C·H·W) builds the same network).
    """
    from spikefa.train.checkpoint import load_checkpoint
    from spikefa.train.config import RunConfig
    from spikefa.train.run import CHECKPOINT, make_model

    out = Path(run_dir)
    cfg_path = out / "config.json"
    if not cfg_path.is_file():
        raise SpikefaError(f"{out}: no config.json here; give a run directory made by `spikefa train`")
    config = RunConfig.from_dict(json.loads(cfg_path.read_text()), source=str(cfg_path))
    state = load_checkpoint(out / CHECKPOINT)
    weights = state["model"]
    shape, classes = state.get("input_shape"), state.get("num_classes")
    if shape is None or classes is None:
        mats = [v for k, v in weights.items() if k.endswith("weight") and v.ndim == 2 and "feedback" not in k]
        if not mats:
            raise SpikefaError(f"{out / CHECKPOINT}: cannot infer the input shape; store input_shape and num_classes")
        shape, classes = (1, 1, int(mats[0].shape[1])), int(mats[-1].shape[0])
    model = make_model(config, tuple(shape), int(classes))  # type: ignore[arg-type]
    model.load_state_dict(weights)
    model.eval()
    net = spiking_core(model)
    if net is None:
        raise SpikefaError(f"{out}: model {config.model!r} is not a spiking network; spikefa export takes spiking runs")
    meta = {"run_dir": str(out), "model": config.model, "rule": config.rule, "feedback": config.feedback,
            "dataset": config.dataset, "seed": config.seed, "data_dir": config.data_dir,
            "input_shape": list(shape), "num_classes": int(classes)}
    return net, meta


def spiking_core(model: nn.Module) -> nn.Module | None:
    """The `SpikingNet` inside a trained model (``EncodedSNN.net``, an online learner's net), or None."""
    return next((m for m in model.modules() if hasattr(m, "synapses") and hasattr(m, "lif")), None)


def load_run(run_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Alias of `from_run_dir` (the name the CLI uses)."""
    return from_run_dir(run_dir)
