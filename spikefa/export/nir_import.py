"""Networks from other tools: a NIR graph (Pedersen et al. 2024, *Nat. Commun.* 15:8122) mapped onto
spikefa's `SpikingNet` (torch synapses + snnTorch neurons), to be quantised, checked and exported
like a native run.

    from spikefa.export.nir_import import from_nir
    net = from_nir("model.nir", dt=1e-3, reset="zero")   # dt in s, NIR's time unit
    record = net(spikes)                                  # spikes [T, B, ...] -> SpikeRecord

Nodes read: Affine, Linear, Conv2d, SumPool2d, AvgPool2d, Flatten (synapses) and LIF, CubaLIF, IF,
LI (neurons), in one chain from the Input node to the Output node. A layer is the synapse nodes
before a neuron node; each needs one Affine / Linear / Conv2d. Branches, merges, recurrence, nested
graphs, nodes off the chain and nodes after the last neuron are refused naming the node and the
reason; nothing is dropped.

**Discretisation.** NIR states ODEs in continuous time; spikefa steps them by forward Euler over
dt, as snnTorch's ``export_to_nir`` / ``import_from_nir`` (β = 1 − dt/τ, τ = dt/(1 − β)),
Norse and spikefa's own NIR writer do. Per neuron, with I the synapse output:

    LIF      τ·v̇ = (v_leak − v) + r·I      v[t] = β·v[t−1] + (1 − β)·v_leak + (r·dt/τ)·I[t],  β = 1 − dt/τ
    IF       v̇ = r·I                        v[t] = v[t−1] + r·dt·I[t]                         (β = 1)
    LI       as LIF, no spikes               θ = ∞, no reset (a read-out: class score = Σ v)
    CubaLIF  τ_syn·İ_s = −I_s + w_in·I       I_s[t] = α·I_s[t−1] + (dt/τ_syn)·w_in·I[t],  α = 1 − dt/τ_syn
             τ_mem·v̇ = (v_leak − v) + r·I_s v[t] = β·v[t−1] + (r·dt/τ_mem)·I_s[t]  (the new I_s, as snnTorch)
    spike    z[t] = H(v[t] − v_threshold)      (H(0) = 0)

Rockpool simulates its own networks with β = exp(−dt/τ); imported here they run the Euler step
(the two differ by O((dt/τ)²) per step).

The input gains (r·dt/τ, w_in·dt/τ_syn) and the leak (1 − β)·v_leak are folded into the synapse's
weight rows and bias; per-neuron thresholds are folded in too (row i divided by θ_i, θ = 1), so a
layer's θ is one number. Per-neuron τ stay per neuron (a tensor β in the ``Leaky`` / ``Synaptic``):
the float network runs them and the exporters take them (per-neuron decay codes); a per-neuron
τ_syn (α) and an LI read-out's θ = ∞ are refused by the exporters by name.

**What a NIR graph cannot say, and is asked for:** dt (a NIR graph holds time constants, never the
step) and the reset. NIR resets to v_reset; many tools write their subtract-reset neurons as
``v_reset = 0`` anyway (snnTorch's default ``Leaky``), so ``reset`` must be given: ``"zero"`` (NIR's
v ← v_reset, here v_reset = 0) or ``"subtract"`` (spikefa's and snnTorch's U[t] = β·U[t−1] + I[t] −
θ·z[t−1]). A nonzero v_reset, v_leak on a CubaLIF or before a pooling, and a gain that differs
within a channel of a convolution are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from spikefa._optional import require
from spikefa.errors import SpikefaError
from spikefa.export.nir_chain import (NEURON_NODES, SYNAPSE_NODES, chain, input_shape, is_spiking, layers_of, node_kind,
                                       read_graph)

RESETS = ("zero", "subtract")
WEIGHTED = (nn.Linear, nn.Conv2d)


@dataclass(frozen=True, eq=False)
class Neuron:
    """One NIR neuron node discretised (module docstring), per neuron (arrays shaped like the layer's
    output, or size 1): v[t] = β·v[t−1] + gain·I[t] + leak; α and θ = inf (LI) where they apply."""

    beta: np.ndarray
    gain: np.ndarray
    leak: np.ndarray
    threshold: np.ndarray
    alpha: np.ndarray | None = None
    spiking: bool = True


def _array(node: Any, name: str, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """A node parameter as float64, size 1 or shaped like the layer's neurons."""
    value = np.asarray(getattr(node, key), dtype=np.float64)
    if value.size == 1:
        return value.reshape(())
    if value.size != int(np.prod(shape)):
        raise SpikefaError(f"NIR node {name!r} ({type(node).__name__}): {key} has {value.size} values but the layer "
                           f"has {int(np.prod(shape))} neurons (shape {shape})")
    return value.reshape(shape)


def _decay(name: str, node: Any, key: str, tau: np.ndarray, dt: float) -> np.ndarray:
    if not bool(np.all(tau >= dt)):
        raise SpikefaError(f"NIR node {name!r} ({type(node).__name__}): {key} min {float(tau.min()):g} s < dt "
                           f"{dt:g} s; the forward-Euler decay 1 − dt/τ would be negative: give a dt no larger than every τ")
    return 1.0 - dt / tau


def _no_reset_level(name: str, node: Any, shape: tuple[int, ...]) -> None:
    if bool(np.any(_array(node, name, "v_reset", shape) != 0)):
        raise SpikefaError(f"NIR node {name!r} ({type(node).__name__}): v_reset ≠ 0 is not supported (an snnTorch "
                           "neuron resets to 0 or subtracts θ); shift the graph so that v_reset = 0")


def _threshold(name: str, node: Any, shape: tuple[int, ...]) -> np.ndarray:
    theta = _array(node, name, "v_threshold", shape)
    if not bool(np.all(theta > 0)):
        raise SpikefaError(f"NIR node {name!r} ({type(node).__name__}): v_threshold must be > 0, got min "
                           f"{float(theta.min()):g}")
    return theta


def _lif(name: str, node: Any, shape: tuple[int, ...], dt: float) -> Neuron:
    _no_reset_level(name, node, shape)
    tau = _array(node, name, "tau", shape)
    beta = _decay(name, node, "tau", tau, dt)
    return Neuron(beta, _array(node, name, "r", shape) * dt / tau, (1.0 - beta) * _array(node, name, "v_leak", shape),
                  _threshold(name, node, shape))


def _if(name: str, node: Any, shape: tuple[int, ...], dt: float) -> Neuron:
    _no_reset_level(name, node, shape)
    return Neuron(np.ones(()), _array(node, name, "r", shape) * dt, np.zeros(()), _threshold(name, node, shape))


def _li(name: str, node: Any, shape: tuple[int, ...], dt: float) -> Neuron:
    tau = _array(node, name, "tau", shape)
    beta = _decay(name, node, "tau", tau, dt)
    return Neuron(beta, _array(node, name, "r", shape) * dt / tau, (1.0 - beta) * _array(node, name, "v_leak", shape),
                  np.full((), np.inf), spiking=False)


def _cubalif(name: str, node: Any, shape: tuple[int, ...], dt: float) -> Neuron:
    _no_reset_level(name, node, shape)
    if bool(np.any(_array(node, name, "v_leak", shape) != 0)):
        raise SpikefaError(f"NIR node {name!r} (CubaLIF): v_leak ≠ 0 is not supported (snnTorch's Synaptic has no "
                           "membrane leak level and a bias would pass through the synaptic filter)")
    tau_syn, tau_mem = _array(node, name, "tau_syn", shape), _array(node, name, "tau_mem", shape)
    alpha = _decay(name, node, "tau_syn", tau_syn, dt)
    beta = _decay(name, node, "tau_mem", tau_mem, dt)
    gain = _array(node, name, "w_in", shape) * dt / tau_syn * _array(node, name, "r", shape) * dt / tau_mem
    return Neuron(beta, gain, np.zeros(()), _threshold(name, node, shape), alpha=alpha)


NEURONS: dict[str, Callable[[str, Any, tuple[int, ...], float], Neuron]] = {
    "LIF": _lif, "IF": _if, "LI": _li, "CubaLIF": _cubalif}
"""NIR neuron node kind -> its discretisation (module docstring)."""


def _pair(value: Any) -> tuple[int, int]:
    v = np.atleast_1d(np.asarray(value)).astype(int).tolist()
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _dense(name: str, node: Any) -> nn.Module:
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 2:
        raise SpikefaError(f"NIR node {name!r} ({type(node).__name__}): weight of shape {w.shape} is not mapped; "
                           "expected [out, in]")
    bias = getattr(node, "bias", None)
    lin = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
        if bias is not None:
            lin.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float64).reshape(-1)))
    return lin


def _conv(name: str, node: Any) -> nn.Module:
    w = np.asarray(node.weight, dtype=np.float64)
    groups = int(node.groups)
    padding = node.padding if isinstance(node.padding, str) else _pair(node.padding)
    conv = nn.Conv2d(w.shape[1] * groups, w.shape[0], (w.shape[2], w.shape[3]), stride=_pair(node.stride),
                     padding=padding, dilation=_pair(node.dilation), groups=groups, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
        conv.bias.copy_(torch.from_numpy(np.asarray(node.bias, dtype=np.float64).reshape(-1)))
    return conv


def _pool(divisor: int | None) -> Callable[[str, Any], nn.Module]:
    def make(name: str, node: Any) -> nn.Module:
        return nn.AvgPool2d(_pair(node.kernel_size), _pair(node.stride), _pair(node.padding), divisor_override=divisor)

    return make


def _flatten(name: str, node: Any) -> nn.Module:
    """NIR's dims leave out the batch; torch's count it."""
    start, end = int(node.start_dim), int(node.end_dim)
    return nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)


SYNAPSES: dict[str, Callable[[str, Any], nn.Module]] = {
    "Affine": _dense, "Linear": _dense, "Conv2d": _conv, "SumPool2d": _pool(1), "AvgPool2d": _pool(None),
    "Flatten": _flatten}
"""NIR synapse node kind -> the torch module computing it (SumPool2d: AvgPool2d with divisor 1)."""


def _uniform(a: np.ndarray) -> bool:
    return a.size == 1 or bool(np.all(a == a.reshape(-1)[0]))


def _per_channel(a: np.ndarray, channels: int) -> np.ndarray | None:
    """[C] from a per-neuron [C, H, W] array constant over each channel (or a scalar), else None."""
    if a.ndim == 0:
        return np.full(channels, float(a))
    flat = a.reshape(channels, -1)
    return flat[:, 0].copy() if bool(np.all(flat == flat[:, :1])) else None


def _fold(ops: list[nn.Module], scale: np.ndarray, offset: np.ndarray, where: str) -> list[nn.Module]:
    """Fold I ← scale·I + offset (per neuron) into the layer's weight node: its rows when it feeds
    the neuron directly (a Conv2d: per output channel), else only a uniform scale and no offset."""
    if _uniform(scale) and float(scale.reshape(-1)[0]) == 1.0 and not bool(np.any(offset != 0)):
        return ops
    last, weight = ops[-1], next(m for m in ops if isinstance(m, WEIGHTED))
    if isinstance(last, nn.Linear):
        s = np.broadcast_to(scale, (last.out_features,)).reshape(-1)
        c = np.broadcast_to(offset, (last.out_features,)).reshape(-1)
    elif isinstance(last, nn.Conv2d):
        s, c = _per_channel(scale, last.out_channels), _per_channel(offset, last.out_channels)
        if s is None or c is None:
            raise SpikefaError(f"{where}: input gain, leak or threshold differ within a channel of the Conv2d before "
                               "it; spikefa folds them into the convolution per output channel")
    elif _uniform(scale) and not bool(np.any(offset != 0)):
        s, c = np.full(weight.weight.shape[0], float(scale.reshape(-1)[0])), np.zeros(weight.weight.shape[0])
        last = weight
    else:
        raise SpikefaError(f"{where}: a per-neuron input gain or a leak level (v_leak) after a "
                           f"{type(last).__name__} is not mapped; they fold into the weight node only when it "
                           "feeds the neuron directly")
    return [_scaled(m, s, c) if m is last else m for m in ops]


def _scaled(module: nn.Module, s: np.ndarray, c: np.ndarray) -> nn.Module:
    """A copy of a Linear / Conv2d computing s ⊙ (W·x + b) + c per output unit."""
    out = module.weight.shape[0]
    st = torch.tensor(np.asarray(s, dtype=np.float64))
    ct = torch.tensor(np.asarray(c, dtype=np.float64))
    old_bias = module.bias if module.bias is not None else torch.zeros(out, dtype=torch.float64)
    if isinstance(module, nn.Linear):
        new: nn.Module = nn.Linear(module.in_features, out, bias=module.bias is not None or bool(ct.any()),
                                   dtype=torch.float64)
    else:
        new = module
    with torch.no_grad():
        weight = module.weight * st.reshape(-1, *([1] * (module.weight.ndim - 1)))
        bias = old_bias * st + ct
        new.weight.copy_(weight)
        if new.bias is not None:
            new.bias.copy_(bias)
    return new


def _tensor(a: np.ndarray) -> torch.Tensor:
    """A float64 tensor (snnTorch would store a Python float as float32): 0-dim when uniform."""
    return torch.tensor(float(a.reshape(-1)[0]) if _uniform(a) else np.asarray(a, dtype=np.float64),
                        dtype=torch.float64)


def _neuron_module(n: Neuron, reset: str) -> nn.Module:
    """The snnTorch neuron running `n` (θ already 1 where the node's thresholds differed)."""
    snn = require("snntorch")
    theta = _tensor(n.threshold.reshape(-1)[:1])
    if n.alpha is not None:  # Synaptic resets to zero at once with reset_delay=False: NIR's v ← 0
        return snn.Synaptic(alpha=_tensor(n.alpha), beta=_tensor(n.beta), threshold=theta, reset_mechanism=reset,
                            reset_delay=reset != "zero", spike_grad=snn.surrogate.atan())
    return snn.Leaky(beta=_tensor(n.beta), threshold=theta, reset_mechanism=reset if n.spiking else "none",
                     spike_grad=snn.surrogate.atan())


def _layer(index: int, ops: list[tuple[str, Any]], neuron: tuple[str, Any], shape: tuple[int, ...], dt: float,
           reset: str) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    """(synapse, neuron module, output shape) of one layer whose input has `shape` (no batch)."""
    modules = [SYNAPSES[node_kind(node)](name, node) for name, node in ops]
    if index == 0 and isinstance(modules[0], nn.Linear):
        modules.insert(0, nn.Flatten())  # image-shaped inputs reach a first Affine flattened
    try:
        with torch.no_grad():
            out = tuple(nn.Sequential(*modules)(torch.zeros(1, *shape, dtype=torch.float64)).shape[1:])
    except RuntimeError as exc:
        raise SpikefaError(f"NIR nodes {', '.join(n for n, _ in ops)} do not take an input of shape {shape}: "
                           f"{str(exc).splitlines()[0]}") from None
    name, node = neuron
    where = f"NIR node {name!r} ({node_kind(node)})"
    n = NEURONS[node_kind(node)](name, node, out, dt)
    scale, offset = n.gain, n.leak
    if n.spiking and not _uniform(n.threshold):  # U/θ_i: the same spikes with θ = 1
        scale, offset = scale / n.threshold, offset / n.threshold
        n = Neuron(n.beta, n.gain, n.leak, np.ones(()), n.alpha, n.spiking)
    modules = _fold(modules, np.asarray(scale, dtype=np.float64), np.asarray(offset, dtype=np.float64), where)
    synapse = modules[0] if len(modules) == 1 else nn.Sequential(*modules)
    return synapse, _neuron_module(n, reset), out


def from_nir(source: Any, *, dt: float | None = None, reset: str | None = None,
             dtype: torch.dtype = torch.float32) -> nn.Module:
    """The `spikefa.nn.spiking.SpikingNet` a NIR graph (a `nir.NIRGraph` or a ``.nir`` path) describes
    (module docstring: nodes, forward-Euler discretisation, folding).

    `dt` is the time step in seconds (NIR's time unit; the net's ``dt`` is stored in ms); `reset` is
    "zero" (NIR's v ← v_reset = 0) or "subtract" (snnTorch's / spikefa's θ subtraction); a graph
    states neither, so both are required. The net takes time-major spikes [T, B, *input shape] in
    `dtype`; ``net.input_shape`` is the graph's Input shape (no batch). Raises `SpikefaError` (one
    line) for a missing option and for every node or edge that
    cannot be mapped, naming the node and the reason.
    """
    from spikefa.nn.spiking import SpikingNet

    graph = read_graph(source)
    if dt is None:
        raise SpikefaError("dt is missing: a NIR graph holds time constants, not the time step; give dt in seconds "
                           "(from_nir(..., dt=1e-3) or spikefa export --dt 1e-3)")
    if not dt > 0:
        raise SpikefaError(f"dt = {dt!r} is not allowed; expected a time step in seconds > 0")
    layers = layers_of(chain(graph))
    if reset is None and any(is_spiking(n) for _, (_, n) in layers):
        raise SpikefaError("reset is missing: a NIR graph cannot say whether its neurons reset to v_reset or "
                           "subtract θ; give reset='zero' or 'subtract' (spikefa export --reset zero|subtract)")
    if reset is not None and reset not in RESETS:
        raise SpikefaError(f"reset = {reset!r} is not allowed; expected one of {', '.join(RESETS)}")
    shape = first = input_shape(graph)
    synapses, neurons = [], []
    for i, (ops, neuron) in enumerate(layers):
        synapse, module, shape = _layer(i, ops, neuron, shape, float(dt), reset or "zero")
        synapses.append(synapse)
        neurons.append(module)
    net = SpikingNet(synapses, neurons=neurons, dt=float(dt) * 1e3).to(dtype)
    net.input_shape = first  # the exporters size convolutions from it (spikefa.export.network)
    return net


__all__ = ["NEURONS", "NEURON_NODES", "SYNAPSES", "SYNAPSE_NODES", "Neuron", "from_nir", "read_graph"]
