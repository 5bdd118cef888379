"""Simulators over time-major spike inputs [T, B, ...]: the float LIF network (before or after
quantisation) and the bit-exact integer simulator, the reference every artefact is held against.

Both run layer by layer (a feed-forward net needs the whole spike train of layer l before layer
l+1), which is the same computation as stepping all layers per time step, and batches every
layer's synaptic currents over time: one matrix product for a dense layer, one pass of the
synapse's operations (`spikefa.export.arith.apply_ops`: convolution, pools, flatten) otherwise.
Neurons of a convolutional layer are its flattened output (C·H·W, row-major).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from spikefa.errors import SpikefaError
from spikefa.export.arith import apply_ops, current_bound, int_lif_step, int_syn_step
from spikefa.export.network import Layer, Op
from spikefa.export.quantize import QLayer, QuantizedNet, _amax
from spikefa.schemas.neuron import PerNeuron
from spikefa.functional.lif import beta_decay, count_scores, lif_update

_EXACT = 2.0**52  # float64 holds every integer below this exactly


class Record(NamedTuple):
    """Spikes of every layer ([T, B, n_l] each) and the output layer's membrane [T, B, classes]
    (state units for the integer simulator, real units for the float ones); `mems` holds every
    layer's membrane ([T, B, n_l] each)."""

    spikes: tuple[torch.Tensor, ...]
    mem: torch.Tensor
    mems: tuple[torch.Tensor, ...] = ()

    @property
    def out(self) -> torch.Tensor:
        return self.spikes[-1]


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """A float LIF layer: I = W·x + b (or the synapse's `ops`); per-neuron threshold; β (one, or one
    per neuron [n]); reset mode; α for a current-based neuron (J = α·J + I feeds the membrane)."""

    weight: torch.Tensor
    bias: torch.Tensor
    threshold: torch.Tensor
    beta: float | torch.Tensor
    reset: str
    ops: tuple[Op, ...] = ()  # () or one dense op: the matrix product
    alpha: float | None = None

    @property
    def dense(self) -> bool:
        """One matrix product on the flat input (a flatten in front of it changes nothing)."""
        return all(op.kind in ("flatten", "dense") for op in self.ops)

    def currents(self, h: torch.Tensor) -> torch.Tensor:
        """Synaptic currents [T, B, neurons] of inputs h [T, B, in]."""
        if self.dense:
            return h @ self.weight.T + self.bias
        t, b = h.shape[:2]
        return apply_ops(h.reshape(t * b, -1), self.ops, self.weight, self.bias).reshape(t, b, -1)


def float_layers(layers: Sequence[Layer], dtype: torch.dtype = torch.float32) -> list[FloatLayer]:
    """The unquantised network as `FloatLayer`s."""
    return [FloatLayer(l.weight.to(dtype), l.bias.to(dtype), l.threshold_neurons.to(dtype),
                       l.beta_neurons.to(dtype) if isinstance(l.lif.beta, PerNeuron)
                       else float(l.lif.beta), l.lif.reset, l.ops, l.lif.alpha) for l in layers]


def dequantize(qnet: QuantizedNet, dtype: torch.dtype = torch.float32) -> list[FloatLayer]:
    """The quantised network in real units (what the NIR graph holds): Ŵ = (w << e)·s, b̂ = b·s,
    θ̂ = θ·s, β̂ (per neuron where the codes are) and α̂ the decay codes'. Integer rounding of the
    decays and saturation are left out."""
    out = []
    for q in qnet.layers:
        unit = q.unit
        w_unit = unit.reshape(-1, *[1] * (q.weight.ndim - 1))
        beta = q.beta_hat
        out.append(FloatLayer((q.weight_state.double() * w_unit).to(dtype), (q.bias.double() * unit).to(dtype),
                              (q.threshold_neurons.double() * q.unit_neurons).to(dtype),
                              beta.to(dtype) if isinstance(beta, torch.Tensor) else beta, q.reset, q.ops,
                              None if q.syn_decay is None else q.syn_decay.beta))
    return out


def _flat(x: torch.Tensor) -> torch.Tensor:
    if x.ndim < 2 or x.shape[0] == 0:
        raise SpikefaError(f"spike input of shape {tuple(x.shape)} is not allowed; expected time-major [T, B, ...] "
                           "with T >= 1")
    return x.reshape(x.shape[0], x.shape[1], -1)


def run_float(layers: Sequence[FloatLayer], x: torch.Tensor) -> Record:
    """The float LIF network: `spikefa.functional.lif.lif_update` with per-neuron θ (and β where
    given); a current-based layer steps J = α·J + I first and feeds J to the membrane."""
    h = _flat(x).to(layers[0].weight.dtype)
    spikes: list[torch.Tensor] = []
    every: list[torch.Tensor] = []
    mem = torch.empty(0)
    for layer in layers:
        currents = layer.currents(h)
        u = torch.zeros_like(currents[0])
        j = torch.zeros_like(u)
        decay = beta_decay(torch.as_tensor(layer.beta, dtype=currents.dtype))
        out, mems = [], []
        for current in currents:
            if layer.alpha is not None:  # current-based: the synaptic current feeds the membrane
                j = layer.alpha * j + current
                current = j
            u = lif_update(u, current, (u > layer.threshold).to(u.dtype), layer.threshold, layer.reset, decay)
            out.append((u > layer.threshold).to(u.dtype))
            mems.append(u)
        h = torch.stack(out)
        spikes.append(h)
        mem = torch.stack(mems)
        every.append(mem)
    return Record(tuple(spikes), mem, tuple(every))


def run_int(qnet: QuantizedNet, x: torch.Tensor) -> Record:
    """The bit-exact integer simulator of `qnet` on binary spikes x [T, B, ...] (int64 states):
    `spikefa.export.arith.int_lif_step` per layer (per-neuron decay values where the layer has them),
    after `int_syn_step` for a current-based layer."""
    h = _flat(x)
    if h.numel() and not bool(((h == 0) | (h == 1)).all()):
        raise SpikefaError("the integer simulator takes binary spikes (0/1) as input")
    spikes: list[torch.Tensor] = []
    every: list[torch.Tensor] = []
    mem = torch.empty(0, dtype=torch.int64)
    for q in qnet.layers:
        currents = int_currents(q, h)
        u = torch.zeros_like(currents[0])
        j = torch.zeros_like(u)
        out, mems = [], []
        threshold = q.threshold_neurons
        for current in currents:
            if q.syn_decay is not None:  # J = sat(D_α(J) + I) feeds the membrane
                j = int_syn_step(current, j, q.syn_decay, qnet.state_bits, qnet.overflow)
                current = j
            s, u = int_lif_step(current, u, threshold, q.decay, q.reset, qnet.state_bits, qnet.overflow,
                                q.decay_values)
            out.append(s)
            mems.append(u)
        h = torch.stack(out)
        spikes.append(h)
        mem = torch.stack(mems)
        every.append(mem)
    return Record(tuple(spikes), mem, tuple(every))


def int_currents(q: QLayer, h: torch.Tensor) -> torch.Tensor:
    """Integer synaptic currents [T, B, neurons] of a layer on integer inputs h [T, B, in], state
    units: the synapse's operations in float64, exact below 2^52 (checked)."""
    w = q.weight_state
    if q.plain_dense:
        if _amax(w.abs().sum(dim=1)) + _amax(q.bias) >= _EXACT:
            raise SpikefaError("synaptic sums exceed the exact float64 range; lower the weight exponent")
        return torch.round(h.to(torch.float64) @ w.T.to(torch.float64)).to(torch.int64) + q.bias
    if current_bound(q.ops, w, q.bias, float(h.max()) if h.numel() else 1.0) >= _EXACT:
        raise SpikefaError("synaptic sums exceed the exact float64 range; lower the weight exponent")
    t, b = h.shape[:2]
    cur = apply_ops(h.reshape(t * b, -1).to(torch.float64), q.ops, w.double(), q.bias.double())
    return torch.round(cur).to(torch.int64).reshape(t, b, -1)


def output_scores(record: Record, unit: torch.Tensor | None = None) -> torch.Tensor:
    """Class scores [B, classes] as the network reads them (`spikefa.functional.lif.count_scores`);
    `unit` converts integer membranes to real units (one per neuron, or one per output channel of a
    convolutional output layer, repeated over its positions)."""
    if unit is None:
        return count_scores(record.out.sum(0), record.mem.sum(0))
    n = record.mem.shape[-1]
    if unit.numel() not in (1, n):
        unit = unit.repeat_interleave(n // unit.numel())
    mem = record.mem.to(torch.float64) * unit
    return count_scores(record.out.to(torch.float64).sum(0), mem.sum(0))
