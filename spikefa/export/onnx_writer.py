"""ONNX writer: one time step of the integer network, built node by node with ``onnx.helper``.

Inputs ``spikes_in`` (float32 [B, in], 0/1) and ``state{i}`` (int32 [B, n_i], int64 beyond 32
state bits); outputs ``spikes{i}`` (float32 0/1) and ``state{i}_next`` for every layer, so a host
loop (`run_onnx`) carries the state from step to step. A current-based layer (snnTorch's
``Synaptic``, NIR's ``CubaLIF``) has a second state, ``syn{i}`` → ``syn{i}_next``: the synaptic
current J = sat(D_α(J) + I) that feeds its membrane. Per-neuron decays (a per-neuron β) are a
constant vector of code values in the ``Mul`` / shift, per-neuron thresholds the ``theta`` vector.

Weights are int8 initialisers behind ``DequantizeLinear`` (the QDQ pattern) with scale 2^e and
zero point 0: the dequantised weight is already in state units, because the layer's real scale is
shared by weight, bias, threshold and state and never enters the arithmetic (it is kept in the
model's ``metadata_props``). The spike-weight product is exact in float32 (|Σ w·2^e| < 2^24 is
checked), then the state update runs in int64: bias, decay by `Mul` and an exact floor division
``(x − Mod(x, 2^k)) / 2^k`` (ONNX has no arithmetic right shift on signed integers), reset, and
saturation by Min/Max — the same steps as `spikefa.export.arith.int_lif_step`.

A convolutional layer runs its synapse's operations in float32 on the flat input reshaped to
(C, H, W): ``Conv`` (int8 QDQ kernel, strides, pads, group) with the bias in state units, sum (and
folded average) pools as a depthwise ``Conv`` with a ones kernel, ``MaxPool``, ``Flatten``; every
value is a multiple of the layer's grain 2^k (k: the weight exponent, or lower for a bias) below
2^24·2^k there (checked), so float32 is exact, and the result is cast to
int64 before the neuron update.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikefa._optional import require
from spikefa.export.arith import DecayCode, current_bound
from spikefa.export.check import ExportRefused
from spikefa.export.network import Op
from spikefa.export.quantize import QLayer, QuantizedNet
from spikefa.export.simulate import run_int
from spikefa.export.writers import Verification, count_mismatches

MODEL = "model.onnx"
OPSET = 17


class _Builder:
    """Collects nodes and initialisers; names are unique per layer prefix."""

    def __init__(self) -> None:
        self.oh = require("onnx").helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(require("onnx").numpy_helper.from_array(value, name))
        return name

    def op(self, kind: str, inputs: list[str], out: str, **attrs: Any) -> str:
        self.nodes.append(self.oh.make_node(kind, inputs, [out], name=out, **attrs))
        return out


def _floor_div(b: _Builder, x: str, bits: int | np.ndarray, p: str) -> str:
    d = b.const(f"{p}_d", np.asarray(2 ** np.asarray(bits, np.int64), np.int64))
    rem = b.op("Mod", [x, d], f"{p}_rem", fmod=0)  # sign of the divisor: 0 <= rem < d
    return b.op("Div", [b.op("Sub", [x, rem], f"{p}_exact"), d], f"{p}_q")


def _decay(b: _Builder, u: str, code: DecayCode, p: str, values: torch.Tensor | None = None) -> str:
    """D(u) of a decay code; per-neuron `values` [n] become a constant vector (broadcast over the batch)."""
    value = np.array(code.value, np.int64) if values is None else values.numpy().astype(np.int64)
    if code.kind == "none":
        return u
    if code.kind == "shift":
        return b.op("Sub", [u, _floor_div(b, u, value, f"{p}_sh")], f"{p}_decayed")
    prod = b.op("Mul", [u, b.const(f"{p}_m", value)], f"{p}_um")
    if code.rounding == "floor":
        return _floor_div(b, prod, code.bits, f"{p}_dec")
    if code.rounding == "nearest":
        half = b.const(f"{p}_half", np.array(2 ** (code.bits - 1), np.int64))
        return _floor_div(b, b.op("Add", [prod, half], f"{p}_umh"), code.bits, f"{p}_dec")
    mag = _floor_div(b, b.op("Abs", [prod], f"{p}_abs"), code.bits, f"{p}_dec")  # toward zero
    return b.op("Mul", [b.op("Sign", [prod], f"{p}_sign"), mag], f"{p}_decayed")


def _saturate(b: _Builder, x: str, qnet: QuantizedNet, p: str) -> str:
    half = 2 ** (qnet.state_bits - 1)
    if qnet.overflow == "wrap":
        shifted = b.op("Add", [x, b.const(f"{p}_h", np.array(half, np.int64))], f"{p}_wa")
        mod = b.op("Mod", [shifted, b.const(f"{p}_2h", np.array(2 * half, np.int64))], f"{p}_wm", fmod=0)
        return b.op("Sub", [mod, f"{p}_h"], f"{p}_sat")
    top = b.op("Min", [x, b.const(f"{p}_hi", np.array(half - 1, np.int64))], f"{p}_min")
    return b.op("Max", [top, b.const(f"{p}_lo", np.array(-(half - 1), np.int64))], f"{p}_sat")


def _weights(b: _Builder, q: QLayer, p: str, transpose: bool) -> str:
    w = q.weight.T if transpose else q.weight
    return b.op("DequantizeLinear", [b.const(f"{p}_w_q", w.numpy().astype(np.int8)),
                                     b.const(f"{p}_w_scale", np.array(2.0**q.weight_shift, np.float32)),
                                     b.const(f"{p}_w_zero", np.array(0, np.int8))], f"{p}_w")


def _dense_current(b: _Builder, q: QLayer, x: str, p: str) -> str:
    onnx = require("onnx")
    cur = b.op("Cast", [b.op("MatMul", [x, _weights(b, q, p, True)], f"{p}_mm")], f"{p}_mm64", to=onnx.TensorProto.INT64)
    return b.op("Add", [cur, b.const(f"{p}_bias", q.bias.numpy().astype(np.int64))], f"{p}_cur")


def _op_dense(b: _Builder, q: QLayer, op: Op, x: str, p: str) -> str:
    mm = b.op("MatMul", [x, _weights(b, q, p, True)], f"{p}_mm")
    return b.op("Add", [mm, b.const(f"{p}_bias", q.bias.numpy().astype(np.float32))], f"{p}_affine")


def _op_conv(b: _Builder, q: QLayer, op: Op, x: str, p: str) -> str:
    return b.op("Conv", [x, _weights(b, q, p, False), b.const(f"{p}_bias", q.bias.numpy().astype(np.float32))],
                f"{p}_conv", strides=list(op.stride), pads=[*op.padding, *op.padding], group=op.groups,
                kernel_shape=list(op.kernel))


def _op_sumpool(b: _Builder, q: QLayer, op: Op, x: str, p: str) -> str:
    c = op.in_shape[0]
    ones = b.const(f"{p}_ones", np.ones((c, 1, *op.kernel), np.float32))
    return b.op("Conv", [x, ones], f"{p}_sum", strides=list(op.stride), pads=[*op.padding, *op.padding], group=c,
                kernel_shape=list(op.kernel))


def _op_maxpool(b: _Builder, q: QLayer, op: Op, x: str, p: str) -> str:
    return b.op("MaxPool", [x], f"{p}_max", kernel_shape=list(op.kernel), strides=list(op.stride),
                pads=[*op.padding, *op.padding])


ONNX_OPS = {"flatten": lambda b, q, op, x, p: b.op("Flatten", [x], f"{p}_flat", axis=1), "dense": _op_dense,
            "conv2d": _op_conv, "sumpool2d": _op_sumpool, "avgpool2d": _op_sumpool, "maxpool2d": _op_maxpool}


def _ops_current(b: _Builder, q: QLayer, x: str, p: str) -> str:
    """The synapse's operations in float32 (exact integers), cast to int64 [B, neurons]."""
    onnx = require("onnx")
    shape = b.const(f"{p}_in_shape", np.array([-1, *q.ops[0].in_shape], np.int64))
    h = b.op("Reshape", [x, shape], f"{p}_in")
    for j, op in enumerate(q.ops):
        h = ONNX_OPS[op.kind](b, q, op, h, f"{p}_{j}")
    flat = b.op("Flatten", [h], f"{p}_out", axis=1)
    return b.op("Cast", [flat], f"{p}_cur", to=onnx.TensorProto.INT64)


def _layer(b: _Builder, qnet: QuantizedNet, i: int, x: str, state_type: int) -> tuple[str, str]:
    onnx = require("onnx")
    q, p = qnet.layers[i], f"l{i}"
    cur = _dense_current(b, q, x, p) if _plain_dense(q) else _ops_current(b, q, x, p)
    if q.syn_decay is not None:  # current-based: J = sat(D_α(J) + I) feeds the membrane
        j = b.op("Cast", [f"syn{i}"], f"{p}_j", to=onnx.TensorProto.INT64)
        jn = _saturate(b, b.op("Add", [_decay(b, j, q.syn_decay, f"{p}_syn"), cur], f"{p}_jpre"), qnet, f"{p}_js")
        b.op("Cast", [jn], f"syn{i}_next", to=state_type)
        cur = jn
    u = b.op("Cast", [f"state{i}"], f"{p}_u", to=onnx.TensorProto.INT64)
    theta = b.const(f"{p}_theta", q.threshold_neurons.numpy().astype(np.int64))
    fired = b.op("Greater", [u, theta], f"{p}_fired")
    decayed = _decay(b, u, q.decay, p, q.decay_values)
    if q.reset == "subtract":
        r = b.op("Cast", [fired], f"{p}_r", to=onnx.TensorProto.INT64)
        pre = b.op("Sub", [b.op("Add", [decayed, cur], f"{p}_acc"), b.op("Mul", [r, theta], f"{p}_rt")], f"{p}_pre")
    elif q.reset == "zero":
        kept = b.op("Where", [fired, b.const(f"{p}_zero", np.array(0, np.int64)), decayed], f"{p}_kept")
        pre = b.op("Add", [kept, cur], f"{p}_pre")
    else:
        pre = b.op("Add", [decayed, cur], f"{p}_pre")
    new = _saturate(b, pre, qnet, p)
    b.op("Cast", [new], f"state{i}_next", to=state_type)
    spikes = b.op("Cast", [b.op("Greater", [new, theta], f"{p}_s")], f"spikes{i}", to=onnx.TensorProto.FLOAT)
    return spikes, f"state{i}_next"


def _plain_dense(q: QLayer) -> bool:
    return q.plain_dense


def _grain(q: QLayer) -> int:
    """The largest power of two dividing every weight (in state units) and bias: float32 holds every
    multiple of it below 2^24 times it exactly."""
    nonzero = q.bias[q.bias != 0]
    low = min([q.weight_shift] + [int((v & -v).bit_length()) - 1 for v in nonzero.abs().tolist()])
    return 2**low


def _check(qnet: QuantizedNet) -> None:
    problems = []
    for i, q in enumerate(qnet.layers):
        if qnet.bits > 8:
            problems.append(f"layer {i}: {qnet.bits}-bit weights do not fit the int8 QDQ initialisers")
        if _plain_dense(q) and float(q.weight.abs().sum(dim=1).max()) >= 2**24:
            problems.append(f"layer {i}: |sum w| >= 2^24 is not exact in the float32 MatMul")
        elif not _plain_dense(q) and current_bound(q.ops, q.weight_state, q.bias) >= 2**24 * _grain(q):
            problems.append(f"layer {i}: synaptic sums may reach 2^24 grains, not exact in the float32 Conv")
    if problems:
        raise ExportRefused(f"{qnet.profile.name} (onnx)", problems)


def build_model(qnet: QuantizedNet, meta: dict[str, Any] | None = None) -> Any:
    """The `onnx.ModelProto` of one time step."""
    onnx = require("onnx")
    _check(qnet)
    oh, b = onnx.helper, _Builder()
    state_type = onnx.TensorProto.INT32 if qnet.state_bits <= 32 else onnx.TensorProto.INT64
    inputs = [oh.make_tensor_value_info("spikes_in", onnx.TensorProto.FLOAT, ["batch", qnet.in_features])]
    outputs = []
    x = "spikes_in"
    for i, q in enumerate(qnet.layers):
        n = q.size
        inputs.append(oh.make_tensor_value_info(f"state{i}", state_type, ["batch", n]))
        if q.syn_decay is not None:
            inputs.append(oh.make_tensor_value_info(f"syn{i}", state_type, ["batch", n]))
        x, _ = _layer(b, qnet, i, x, state_type)
        outputs += [oh.make_tensor_value_info(f"spikes{i}", onnx.TensorProto.FLOAT, ["batch", n]),
                    oh.make_tensor_value_info(f"state{i}_next", state_type, ["batch", n])]
        if q.syn_decay is not None:
            outputs.append(oh.make_tensor_value_info(f"syn{i}_next", state_type, ["batch", n]))
    graph = oh.make_graph(b.nodes, "spikefa_lif_step", inputs, outputs, b.inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", OPSET)], producer_name="spikefa")
    model.ir_version = 8
    props = {"spikefa.profile": qnet.profile.name, "spikefa.weight_bits": str(qnet.bits),
             "spikefa.dt_ms": repr(qnet.dt), "spikefa.state_bits": str(qnet.state_bits),
             "spikefa.layers": json.dumps([{"unit": q.unit.tolist(), "weight_shift": q.weight_shift,
                                            "reset": q.reset, "decay": q.decay.__dict__,
                                            "ops": [op.as_dict() for op in q.ops],
                                            **({} if q.decay_values is None else
                                               {"decay_values": q.decay_values.tolist()}),
                                            **({} if q.syn_decay is None else
                                               {"syn_decay": q.syn_decay.__dict__})} for q in qnet.layers]),
             "spikefa.meta": json.dumps(meta or {}, default=str)}
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def write(qnet: QuantizedNet, out_dir: Path, meta: dict[str, Any]) -> list[Path]:
    """Write ``model.onnx`` into `out_dir`."""
    onnx = require("onnx")
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(build_model(qnet, meta), str(out_dir / MODEL))
    return [out_dir / MODEL]


def run_onnx(path: Path, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Every layer's spikes [T, B, n] from running the one-step model over x [T, B, ...]."""
    ort = require("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    h = x.reshape(x.shape[0], x.shape[1], -1).numpy().astype(np.float32)
    carried = [i for i in sess.get_inputs() if i.name != "spikes_in"]  # state{i}, and syn{i} (current-based)
    states = {i.name: np.zeros((h.shape[1], i.shape[1]), np.int32 if i.type == "tensor(int32)" else np.int64)
              for i in carried}
    names = [o.name for o in sess.get_outputs()]
    layers = sum(i.name.startswith("state") for i in carried)
    spikes: list[list[np.ndarray]] = [[] for _ in range(layers)]
    for x_t in h:
        outs = dict(zip(names, sess.run(names, {"spikes_in": x_t, **states})))
        for k in range(layers):
            spikes[k].append(outs[f"spikes{k}"])
        states = {name: outs[f"{name}_next"] for name in states}
    return tuple(torch.from_numpy(np.stack(s)) for s in spikes)


def verify(qnet: QuantizedNet, out_dir: Path, spikes: torch.Tensor) -> Verification:
    """onnxruntime against the integer simulator, every layer's spikes."""
    got = run_onnx(out_dir / MODEL, spikes)
    want = run_int(qnet, spikes).spikes
    return Verification("onnx", "integer simulator (spikefa.export.simulate.run_int)",
                        sum(count_mismatches(g, w) for g, w in zip(got, want)), sum(int(w.numel()) for w in want),
                        "onnxruntime CPUExecutionProvider, every layer")
