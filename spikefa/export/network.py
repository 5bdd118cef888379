"""What the exporters read from a `SpikingNet`: one LIF layer per synapse, with the synapse's
operations in order and their shapes.

The neuron is `LIFParams`: β and θ one per layer or one per neuron (`PerNeuron`, in the layer's
neuron order), and for a current-based neuron (snnTorch's ``Synaptic``, NIR's ``CubaLIF``) α, the
synaptic current's decay per step (one per layer).

A synapse is a chain of operations (`Op`) with exactly one weighted operation, a fully connected
``nn.Linear`` or an ``nn.Conv2d`` (stride, zero padding, groups), and around it ``nn.Flatten``,
sum pooling (``nn.AvgPool2d(divisor_override=1)`` or ``nn.LPPool2d(1, k)``), average pooling
(``nn.AvgPool2d``) and max pooling (``nn.MaxPool2d``); ``nn.Dropout`` / ``nn.Identity`` pass
through. A pool before the weighted operation pools the previous layer's spikes; a pool after it
pools the synaptic currents (snnTorch's tutorial conv net: ``Conv2d → MaxPool2d → Leaky``).

An average pool is a sum pool divided by its window size k_h·k_w, and the division is folded into
the weights (``Layer.weight`` holds W / Π k_h·k_w) and, for a pool after the weighted operation,
into the bias: the integer arithmetic then only sums, and the float semantics are unchanged.
``Layer.pool_fold`` keeps the weights' factor; the NIR writer restores ``AvgPool2d`` nodes.

Weights are read through ``.weight`` / ``.bias`` whatever the module's class (rule converters
swap ``nn.Linear`` for FA/sign/QAT variants), so a parametrized (fake-quantised) network exports
the weights it computes with. What cannot be read (dilation, ceil mode, a padded average pool, two
weighted operations, another module) is reported by layer, never dropped: the constraint checker
lists it and export refuses.

Convolutions need the input's shape (C, H, W): give ``input_shape`` or set ``net.input_shape``
(`from_run_dir` does, from the run's data set).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.runs.checkpoint import CHECKPOINT
from spikefa.runs.model import load_run as _load_run
from spikefa.schemas.neuron import LIFParams, PerNeuron, values_of

Shape = tuple[int, ...]
WEIGHTED_KINDS = ("dense", "conv2d")
POOL_KINDS = ("sumpool2d", "avgpool2d", "maxpool2d")


@dataclass(frozen=True)
class Op:
    """One operation of a synapse: its kind, input and output shapes (one sample: (C, H, W) or
    (N,)), and for convolutions and pools the kernel, stride, zero padding and groups."""

    kind: str  # "flatten" | "dense" | "conv2d" | "sumpool2d" | "avgpool2d" | "maxpool2d"
    in_shape: Shape
    out_shape: Shape
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1

    @property
    def weighted(self) -> bool:
        return self.kind in WEIGHTED_KINDS

    @property
    def pool(self) -> bool:
        return self.kind in POOL_KINDS

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "in_shape": list(self.in_shape), "out_shape": list(self.out_shape),
                "kernel": list(self.kernel), "stride": list(self.stride), "padding": list(self.padding),
                "groups": self.groups}


def _dense_ops(weight: torch.Tensor) -> tuple[Op, ...]:
    return (Op("dense", (int(weight.shape[1]),), (int(weight.shape[0]),)),)


@dataclass(frozen=True, eq=False)
class Layer:
    """A LIF layer in real units: I = ops(x) (the weighted one adds b), then LIF with `lif`.

    ``weight`` is [out, in] (dense) or [C_out, C_in / groups, k_h, k_w] (conv), average pools
    folded in; ``bias`` [out channels]. Neurons are the last op's outputs, flattened row-major
    (channel first). Built with only (weight, bias, has_bias, lif) it is a plain dense layer."""

    weight: torch.Tensor
    bias: torch.Tensor  # zeros when the synapse has none
    has_bias: bool
    lif: LIFParams
    ops: tuple[Op, ...] = ()
    pool_fold: float = 1.0  # Π k_h·k_w of the average pools folded into weight and bias

    def __post_init__(self) -> None:
        if not self.ops:
            object.__setattr__(self, "ops", _dense_ops(self.weight))

    @property
    def weighted(self) -> Op:
        return next(op for op in self.ops if op.weighted)

    @property
    def kind(self) -> str:
        """``dense`` or ``conv2d``: the weighted operation's kind."""
        return self.weighted.kind

    @property
    def in_shape(self) -> Shape:
        return self.ops[0].in_shape

    @property
    def out_shape(self) -> Shape:
        return self.ops[-1].out_shape

    @property
    def fan_in(self) -> int:
        """Inputs of one neuron: in_features (dense), C_in / groups · k_h · k_w (conv)."""
        return int(math.prod(self.weight.shape[1:]))

    @property
    def in_features(self) -> int:
        return int(math.prod(self.in_shape))

    @property
    def size(self) -> int:
        """Neurons: the flattened output."""
        return int(math.prod(self.out_shape))

    @property
    def channels(self) -> int:
        """Output channels (one scale and threshold each): C_out (conv), neurons (dense)."""
        return int(self.weight.shape[0])

    @property
    def weight_count(self) -> int:
        """Stored weights (the kernel memory of a convolution)."""
        return int(self.weight.numel())

    @property
    def per_channel_neurons(self) -> int:
        """Neurons per output channel: H·W after the pools for a conv layer, 1 for dense."""
        return self.size // self.channels

    def _neurons(self, value: float | PerNeuron) -> torch.Tensor:
        return torch.tensor(values_of(value), dtype=torch.float64).expand(self.size).clone()

    @property
    def beta_neurons(self) -> torch.Tensor:
        """β of every neuron [size] (float64): one per layer repeated, or the `PerNeuron` values."""
        return self._neurons(self.lif.beta)

    @property
    def threshold_neurons(self) -> torch.Tensor:
        """θ of every neuron [size] (float64)."""
        return self._neurons(self.lif.threshold)

    @property
    def current_based(self) -> bool:
        """Whether the neuron has a synaptic current state (snnTorch's Synaptic, NIR's CubaLIF): α set."""
        return self.lif.alpha is not None


DenseLayer = Layer  # the dense-only name of earlier versions; a Layer built as (w, b, has_bias, lif) is dense


# ---------------------------------------------------------------- reading torch modules


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _out_side(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def _spatial(shape: Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise SpikefaError(f"{what} needs a (C, H, W) input; it gets shape {list(shape)} (add no Flatten before it)")
    return shape[0], shape[1], shape[2]


@dataclass
class _Read:
    """What reading one module gives: the op, and for the weighted op its tensors."""

    op: Op | None
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    fold: float = 1.0


def _read_flatten(m: nn.Module, shape: Shape) -> _Read:
    if (m.start_dim, m.end_dim) != (1, -1):
        raise SpikefaError(f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) is not supported; "
                           "export takes Flatten() (start_dim 1, end_dim -1)")
    return _Read(Op("flatten", shape, (int(math.prod(shape)),)))


def _read_linear(m: nn.Module, shape: Shape) -> _Read:
    w = m.weight.detach().to(torch.float64).clone()
    if len(shape) != 1 or shape[0] != w.shape[1]:
        raise SpikefaError(f"Linear with {w.shape[1]} inputs gets shape {list(shape)}; flatten to {w.shape[1]} first")
    b = getattr(m, "bias", None)
    return _Read(Op("dense", shape, (int(w.shape[0]),)), w, None if b is None else b.detach().to(torch.float64).clone())


def _read_conv(m: nn.Module, shape: Shape) -> _Read:
    c, h, w_ = _spatial(shape, "Conv2d")
    if _pair(m.dilation) != (1, 1) or m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise SpikefaError(f"Conv2d(dilation={m.dilation}, padding={m.padding!r}, padding_mode={m.padding_mode!r}) "
                           "is not supported; export takes dilation 1 and integer zero padding")
    w = m.weight.detach().to(torch.float64).clone()
    if w.shape[1] * m.groups != c:
        raise SpikefaError(f"Conv2d with {w.shape[1] * m.groups} input channels gets {c} channels")
    (kh, kw), (sh, sw), (ph, pw) = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
    out = (int(w.shape[0]), _out_side(h, kh, sh, ph), _out_side(w_, kw, sw, pw))
    b = getattr(m, "bias", None)
    return _Read(Op("conv2d", shape, out, (kh, kw), (sh, sw), (ph, pw), int(m.groups)), w,
                 None if b is None else b.detach().to(torch.float64).clone())


def _pool_op(kind: str, shape: Shape, kernel: Any, stride: Any, padding: Any, ceil: bool) -> Op:
    c, h, w = _spatial(shape, kind)
    if ceil:
        raise SpikefaError(f"{kind} with ceil_mode=True is not supported; export takes ceil_mode=False")
    k = _pair(kernel)
    s, p = _pair(stride if stride is not None else kernel), _pair(padding)
    return Op(kind, shape, (c, _out_side(h, k[0], s[0], p[0]), _out_side(w, k[1], s[1], p[1])), k, s, p)


def _read_avgpool(m: nn.Module, shape: Shape) -> _Read:
    if m.divisor_override == 1:  # a sum pool
        return _Read(_pool_op("sumpool2d", shape, m.kernel_size, m.stride, m.padding, m.ceil_mode))
    op = _pool_op("avgpool2d", shape, m.kernel_size, m.stride, m.padding, m.ceil_mode)
    if m.divisor_override is not None or op.padding != (0, 0):
        raise SpikefaError("AvgPool2d with padding or a divisor_override other than 1 is not supported (its "
                           "divisor varies at the border); export takes unpadded average or sum pools")
    return _Read(op, fold=float(op.kernel[0] * op.kernel[1]))


def _read_maxpool(m: nn.Module, shape: Shape) -> _Read:
    if _pair(m.dilation) != (1, 1) or m.return_indices:
        raise SpikefaError("MaxPool2d with dilation or return_indices is not supported")
    return _Read(_pool_op("maxpool2d", shape, m.kernel_size, m.stride, m.padding, m.ceil_mode))


def _read_lppool(m: nn.Module, shape: Shape) -> _Read:
    if float(m.norm_type) != 1.0:
        raise SpikefaError(f"LPPool2d(norm_type={m.norm_type}) is not supported; LPPool2d(1, k) is a sum pool")
    return _Read(_pool_op("sumpool2d", shape, m.kernel_size, m.stride, 0, m.ceil_mode))


READERS: dict[type[nn.Module], Callable[[nn.Module, Shape], _Read]] = {
    nn.Flatten: _read_flatten, nn.Linear: _read_linear, nn.Conv2d: _read_conv, nn.AvgPool2d: _read_avgpool,
    nn.MaxPool2d: _read_maxpool, nn.LPPool2d: _read_lppool,
    nn.Dropout: lambda m, shape: _Read(None), nn.Identity: lambda m, shape: _Read(None),
}
SUPPORTED = "Linear, Conv2d, AvgPool2d, MaxPool2d, LPPool2d(1, k) (sum pool), Flatten, Dropout, Identity"


def _reader(m: nn.Module) -> Callable[[nn.Module, Shape], _Read] | None:
    return next((fn for cls, fn in READERS.items() if isinstance(m, cls)), None)


def read_synapse(module: nn.Module, lif: LIFParams, shape: Shape | None) -> Layer:
    """One synapse and its neuron as a `Layer`; `shape` is one sample's input shape (None: taken
    from a first Linear's inputs). Raises `SpikefaError` with what is not supported."""
    parts = list(module) if isinstance(module, nn.Sequential) else [module]
    if shape is None:
        first = next((p for p in parts if not isinstance(p, (nn.Flatten, nn.Dropout, nn.Identity))), None)
        if not isinstance(first, nn.Linear):
            raise SpikefaError("a convolution or pool needs the input shape (C, H, W): pass input_shape or set "
                               "net.input_shape")
        shape = (int(first.weight.shape[1]),)
    ops: list[Op] = []
    weight = bias = None
    fold = fold_after = 1.0  # avg pools: all of them scale the weights, those after it the bias
    for m in parts:
        fn = _reader(m)
        if fn is None:
            raise SpikefaError(f"{type(m).__name__} is not supported by spikefa export; it takes {SUPPORTED}")
        got = fn(m, shape)
        if got.op is None or (got.op.kind == "flatten" and len(got.op.in_shape) == 1):
            continue  # pass-through modules and a flatten of already flat inputs do nothing
        if got.op.weighted:
            if weight is not None:
                raise SpikefaError("a synapse with two weighted operations (Linear / Conv2d) is not supported")
            weight, bias = got.weight, got.bias
        fold *= got.fold
        fold_after *= got.fold if weight is not None and not got.op.weighted else 1.0
        ops.append(got.op)
        shape = got.op.out_shape
    if weight is None:
        kinds = "+".join(type(p).__name__ for p in parts) or "empty"
        raise SpikefaError(f"{kinds} synapse has no weighted operation (nn.Linear or nn.Conv2d)")
    has_bias = bias is not None
    b = torch.zeros(weight.shape[0], dtype=torch.float64) if bias is None else bias
    return Layer(weight / fold, b / fold_after, has_bias, lif, tuple(ops), fold)


def input_shape_of(net: nn.Module, input_shape: Sequence[int] | None = None) -> Shape | None:
    """The one-sample input shape: `input_shape`, else ``net.input_shape``, else None."""
    shape = input_shape if input_shape is not None else getattr(net, "input_shape", None)
    return None if shape is None else tuple(int(s) for s in shape)


def read_layers(net: nn.Module, input_shape: Sequence[int] | None = None) -> tuple[list[Layer], list[str]]:
    """(layers, violations): every synapse of `net` as a `Layer`, and what could not be read."""
    synapses, lifs = getattr(net, "synapses", None), getattr(net, "lif", None)
    if synapses is None or lifs is None:
        return [], [f"{type(net).__name__} is not a SpikingNet (needs .synapses and .lif)"]
    layers: list[Layer] = []
    problems: list[str] = []
    shape = input_shape_of(net, input_shape)
    for i, (syn, lif) in enumerate(zip(synapses, lifs)):
        try:
            layer = read_synapse(syn, lif, shape)
        except SpikefaError as err:
            problems.append(f"layer {i}: {err}")
            shape = None
            continue
        for key, symbol in (("beta", "β"), ("threshold", "θ")):
            value = getattr(lif, key)
            if isinstance(value, PerNeuron) and len(value) != layer.size:
                problems.append(f"layer {i}: per-neuron {symbol} holds {len(value)} values but the layer has "
                                f"{layer.size} neurons; give one {symbol} per neuron (C·H·W order) or one per layer")
        layers.append(layer)
        shape = layer.out_shape
    return layers, problems


def dense_layers(net: nn.Module, input_shape: Sequence[int] | None = None) -> tuple[list[Layer], list[str]]:
    """`read_layers`, under the name of the dense-only reader it replaced (every layer kind)."""
    return read_layers(net, input_shape)


def from_run_dir(run_dir: str | Path, checkpoint: str = CHECKPOINT) -> tuple[nn.Module, dict[str, Any]]:
    """(network, meta) of a run directory written by ``spikefa train``: the `SpikingNet` inside the
    model `spikefa.runs.load_run` rebuilds from the run's own config (its stored card) and
    `checkpoint` (``checkpoint.pt``: the last epoch; ``best.pt``: the best validation epoch),
    fake-quantized as it was trained when the run used ``--qat``. ``net.input_shape`` is set to the
    run's (C, H, W), which convolutional layers need."""
    from spikefa.export.qat import qat_transform_for

    run = _load_run(run_dir, qat_transform_for, checkpoint)
    net = spiking_core(run.model)
    config = run.config
    if net is None:
        raise SpikefaError(f"{run_dir}: model {config.model!r} is not a spiking network; spikefa export takes spiking runs")
    net.input_shape = tuple(int(s) for s in run.input_shape)
    meta = {"run_dir": str(run_dir), "model": config.model, "rule": config.rule, "feedback": config.feedback,
            "dataset": config.dataset, "seed": config.seed, "data_dir": config.data_dir,
            "input_shape": list(run.input_shape), "num_classes": run.num_classes, "checkpoint": checkpoint}
    if "val_accuracy" in run.state:  # best.pt: which epoch validation chose
        meta["checkpoint_epoch"], meta["checkpoint_val_accuracy"] = run.state["epoch"], run.state["val_accuracy"]
    return net, meta


def spiking_core(model: nn.Module) -> nn.Module | None:
    """The `SpikingNet` inside a trained model (``EncodedSNN.net``, an online learner's net), or None."""
    return next((m for m in model.modules() if hasattr(m, "synapses") and hasattr(m, "lif")), None)


__all__ = ["DenseLayer", "Layer", "Op", "READERS", "dense_layers", "from_run_dir", "input_shape_of", "read_layers",
           "read_synapse", "spiking_core"]
