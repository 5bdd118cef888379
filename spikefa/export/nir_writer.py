"""NIR writer: the quantised network in real units, node by node, plus a JSON sidecar.

Graph: ``input`` (C·H·W, flattened row-major) → ``fc{i}`` (nir.Affine: Ŵ, b̂) → ``lif{i}``
(nir.LIF, or nir.IF for β = 1; τ and v_threshold per neuron, so per-neuron β̂ and θ̂ are held
natively; nir.CubaLIF for a current-based layer, τ_syn = dt/(1 − α̂) and w_in = τ_syn/dt so that
I_syn ← α̂·I_syn + I) → … → ``output``. NIR's LIF is τ·dv/dt = (v_leak − v) + R·I; a
forward-Euler step of length dt gives v ← (1 − dt/τ)·v + (R·dt/τ)·I, so τ = dt/(1 − β̂) and
R = τ/dt reproduce U ← β̂·U + I exactly, with v_leak = 0, v_threshold = θ̂ and v_reset = 0.

A convolutional network's graph starts from ``input`` of shape (C, H, W) and holds one node per
synapse operation, with its input and output shapes: ``conv{i}`` (nir.Conv2d: Ŵ, b̂, stride,
padding; a grouped kernel written block-diagonal with groups 1, which nir 1.0 reads back),
``pool{i}_{j}`` (nir.SumPool2d, or nir.AvgPool2d with the weights — and the bias, for a pool of
currents — scaled back up by the window size that the quantiser folded into them), ``flatten{i}_{j}`` (nir.Flatten over the whole unbatched shape, start_dim 0), ``fc{i}``
(nir.Affine), then ``lif{i}`` with per-neuron parameters in the layer's output shape. NIR has no
max pool node: a network with max pooling is refused by this writer (ONNX and C take it).
snnTorch's importer reads no SumPool2d, so such graphs are verified by
`spikefa.export.nir_run.run_graph`, spikefa's own reading of NIR's node semantics.

What NIR cannot hold goes to ``model.nir.json``: dt and the time base the τ were computed for, the
reset mode (NIR resets to v_reset; "subtract" is spikefa's), β̂, the integer scales and exponents,
the profile, and which simulator is the reference for what.

snnTorch's importer (1.0) hard-codes dt = 1e-4 s, builds ``Leaky(reset_mechanism="zero",
reset_delay=False)`` (the same spikes as spikefa's reset-to-zero step) and maps nir.IF to β = 0.9.
`to_snntorch` therefore rescales every τ to that time base before importing (the discrete
dynamics depend only on dt/τ) and, as the sidecar says, rebuilds subtract-reset and IF layers as
``Leaky(reset_delay=True)`` with the imported β and threshold.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spikefa._optional import require
from spikefa.export.check import ExportRefused
from spikefa.export.network import Op
from spikefa.export.nir_run import run_graph
from spikefa.export.quantize import QLayer, QuantizedNet
from spikefa.export.simulate import FloatLayer, dequantize, run_float, run_int
from spikefa.export.writers import Verification, split_ties

GRAPH, SIDECAR = "model.nir", "model.nir.json"
SNNTORCH_DT_S = 1e-4  # snntorch.import_nir's fixed time step


def _neuron_node(nir: Any, beta: float | torch.Tensor, theta: np.ndarray, dt: float,
                 alpha: float | None = None, where: str = "") -> Any:
    """nir.LIF with τ = dt/(1 − β̂), R = τ/dt (nir.IF with R = 1/dt for β̂ = 1), arrays shaped like θ;
    β̂ one per layer or per neuron. A current-based layer is nir.CubaLIF with τ_syn = dt/(1 − α̂),
    w_in = τ_syn/dt (then I_syn ← α̂·I_syn + I) and τ_mem, R as LIF's."""
    shape = theta.shape
    betas = np.broadcast_to(beta.numpy() if isinstance(beta, torch.Tensor) else np.float64(beta),
                            (int(np.prod(shape)),)).reshape(shape).astype(np.float64)
    leaky = betas < 1.0
    if alpha is None and not leaky.any():
        return nir.IF(r=np.full(shape, 1.0 / dt, np.float32), v_threshold=theta, v_reset=np.zeros(shape, np.float32))
    if not leaky.all() or (alpha is not None and alpha >= 1.0):
        raise ExportRefused("nir", [f"{where}: β̂ = 1 (no leak) beside β̂ < 1, or α̂ = 1, has no finite NIR time "
                                    "constant (NIR's LIF / CubaLIF leak through τ); write this network as ONNX or C"])
    tau64 = dt / (1.0 - betas)
    tau, r = tau64.astype(np.float32), (tau64 / dt).astype(np.float32)
    if alpha is not None:
        tau_syn = dt / (1.0 - alpha)
        return nir.CubaLIF(tau_syn=np.full(shape, tau_syn, np.float32), tau_mem=tau, r=r,
                           v_leak=np.zeros(shape, np.float32), v_threshold=theta, v_reset=np.zeros(shape, np.float32),
                           w_in=np.full(shape, tau_syn / dt, np.float32))
    return nir.LIF(tau=tau, r=r,
                   v_leak=np.zeros(shape, np.float32), v_threshold=theta, v_reset=np.zeros(shape, np.float32))


def _typed(node: Any, op: Op) -> Any:
    node.input_type = {"input": np.array(op.in_shape)}
    node.output_type = {"output": np.array(op.out_shape)}
    return node


def _ungrouped(weight: np.ndarray, groups: int) -> np.ndarray:
    """A grouped kernel [C_out, C_in/g, k, k] as the same convolution with groups 1: block-diagonal
    [C_out, C_in, k, k] (nir 1.0 infers C_in as weight.shape[1], so grouped graphs do not read back)."""
    if groups == 1:
        return weight
    c_out, c_in_g = weight.shape[:2]
    full = np.zeros((c_out, c_in_g * groups, *weight.shape[2:]), weight.dtype)
    per = c_out // groups
    for co in range(c_out):
        g = co // per
        full[co, g * c_in_g:(g + 1) * c_in_g] = weight[co]
    return full


def _op_nodes(nir: Any, i: int, q: QLayer, layer: FloatLayer) -> list[tuple[str, Any]]:
    """The nodes of one synapse's operations, average pools unfolded (module docstring)."""
    k = next(j for j, op in enumerate(q.ops) if op.weighted)
    w_fold = math.prod(op.kernel[0] * op.kernel[1] for op in q.ops if op.kind == "avgpool2d")
    b_fold = math.prod(op.kernel[0] * op.kernel[1] for op in q.ops[k:] if op.kind == "avgpool2d")
    weight = (layer.weight.double() * w_fold).numpy().astype(np.float32)
    bias = (layer.bias.double() * b_fold).numpy().astype(np.float32)
    out = []
    for j, op in enumerate(q.ops):
        if op.kind == "conv2d":
            conv = nir.Conv2d(input_shape=op.in_shape[1:], weight=_ungrouped(weight, op.groups), stride=op.stride,
                              padding=op.padding, dilation=(1, 1), groups=1, bias=bias)
            out.append((f"conv{i}", _typed(conv, op)))
        elif op.kind == "dense":
            out.append((f"fc{i}", _typed(nir.Affine(weight=weight, bias=bias), op)))
        elif op.kind == "flatten":
            out.append((f"flatten{i}_{j}", nir.Flatten(input_type={"input": np.array(op.in_shape)}, start_dim=0)))
        else:
            cls = nir.AvgPool2d if op.kind == "avgpool2d" else nir.SumPool2d
            out.append((f"pool{i}_{j}", _typed(cls(kernel_size=np.array(op.kernel), stride=np.array(op.stride),
                                                   padding=np.array(op.padding)), op)))
    return out


def _conv_graph(qnet: QuantizedNet, dt: float) -> Any:
    nir = require("nir")
    pools = [f"layer {i}: maxpool2d has no NIR node (NIR pools by sum or average); write this network as ONNX "
             "or C (--formats onnx,c)" for i, q in enumerate(qnet.layers) if any(op.kind == "maxpool2d" for op in q.ops)]
    if pools:
        raise ExportRefused(f"{qnet.profile.name} (nir)", pools)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(qnet.layers[0].ops[0].in_shape)})}
    edges, prev = [], "input"
    for i, (q, layer) in enumerate(zip(qnet.layers, dequantize(qnet))):
        for name, node in _op_nodes(nir, i, q, layer):
            nodes[name] = node
            edges.append((prev, name))
            prev = name
        theta = layer.threshold.numpy().astype(np.float32).reshape(q.ops[-1].out_shape)
        nodes[f"lif{i}"] = _neuron_node(nir, layer.beta, theta, dt, layer.alpha, f"layer {i}")
        edges.append((prev, f"lif{i}"))
        prev = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array(qnet.layers[-1].ops[-1].out_shape)})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def nir_graph(qnet: QuantizedNet, dt_s: float | None = None) -> Any:
    """The `nir.NIRGraph` of `qnet`, time constants for a step of `dt_s` seconds (default: dt)."""
    nir = require("nir")
    dt = qnet.dt * 1e-3 if dt_s is None else dt_s
    if qnet.convolutional:
        return _conv_graph(qnet, dt)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([qnet.in_features])})}
    edges, prev = [], "input"
    for i, layer in enumerate(dequantize(qnet)):
        n = layer.weight.shape[0]
        nodes[f"fc{i}"] = nir.Affine(weight=layer.weight.numpy().astype(np.float32),
                                     bias=layer.bias.numpy().astype(np.float32))
        theta = layer.threshold.numpy().astype(np.float32)
        nodes[f"lif{i}"] = _neuron_node(nir, layer.beta, theta.reshape(n), dt, layer.alpha, f"layer {i}")
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        prev = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([qnet.layers[-1].weight.shape[0]])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def sidecar(qnet: QuantizedNet, dt_s: float, meta: dict[str, Any]) -> dict[str, Any]:
    """What NIR cannot hold (see the module docstring)."""
    layers = []
    for i, q in enumerate(qnet.layers):
        unit, thr = q.unit.tolist(), q.threshold.tolist()
        extra = {} if not qnet.convolutional else {"ops": [op.as_dict() for op in q.ops], "kind": q.kind,
                                                   "unit_per": "output channel" if q.kind == "conv2d" else "neuron"}
        beta_hat = q.beta_hat
        if q.decay_values is not None:
            extra = {**extra, "decay_values": q.decay_values.tolist()}
        if q.syn_decay is not None:
            extra = {**extra, "alpha": q.syn_decay.beta, "alpha_float": q.alpha,
                     "syn_decay": dataclasses.asdict(q.syn_decay)}
        layers.append({
            **extra, "node": f"lif{i}", "reset": q.reset,
            "beta": beta_hat.tolist() if isinstance(beta_hat, torch.Tensor) else beta_hat,
            "beta_float": q.beta.tolist() if isinstance(q.beta, torch.Tensor) else q.beta,
            "decay": dataclasses.asdict(q.decay), "weight_shift": q.weight_shift, "bias_shift": q.bias_shift,
            "unit": unit[0] if len(set(unit)) == 1 else unit,
            "threshold_int": thr[0] if len(set(thr)) == 1 else thr,
        })
    return {
        "format": "spikefa-nir-sidecar/1", "profile": qnet.profile.name, "weight_bits": qnet.bits,
        "dt_ms": qnet.dt, "tau_time_base_s": dt_s, "state_bits": qnet.state_bits, "overflow": qnet.overflow,
        "input": "flattened C*H*W spikes, row-major, one per time step", "layers": layers,
        "semantics": "U[t] = beta*U[t-1] + W x[t] + b - r[t]*theta (subtract) or beta*(1-r[t])*U[t-1] + W x[t] + b "
                     "(zero), r[t] = U[t-1] > theta, S[t] = U[t] > theta",
        "reference": "float graph: spikefa.export.simulate.run_float(dequantize(q)); integer arithmetic (decay "
                     "rounding, saturation): spikefa.export.simulate.run_int, which the ONNX and C artefacts match",
        "snntorch": "import_from_nir assumes dt = 1e-4 s and reset-to-zero: use spikefa.export.nir_writer.to_snntorch",
        "ties": "the chip fires on U > theta in integers; the graph holds real numbers (integers times the unit), so "
                "where U equals theta exactly a float run may land a rounding error above or below it and decide "
                "differently. The verification counts such disagreements (and what follows them in that sample) as "
                "ties, apart from real mismatches; the integer simulator (ONNX, C) is the chip's reference",
        "flatten": "nir.Flatten nodes flatten the whole unbatched shape (start_dim 0); batch dimensions are not in "
                   "NIR's types",
        "meta": meta,
    }


def write(qnet: QuantizedNet, out_dir: Path, meta: dict[str, Any]) -> list[Path]:
    """Write ``model.nir`` and ``model.nir.json`` into `out_dir`."""
    nir = require("nir")
    out_dir.mkdir(parents=True, exist_ok=True)
    dt_s = qnet.dt * 1e-3
    nir.write(str(out_dir / GRAPH), nir_graph(qnet, dt_s))
    (out_dir / SIDECAR).write_text(json.dumps(sidecar(qnet, dt_s, meta), indent=2) + "\n")
    return [out_dir / GRAPH, out_dir / SIDECAR]


def read(out_dir: Path) -> tuple[Any, dict[str, Any]]:
    """(graph read back with `nir.read`, sidecar)."""
    nir = require("nir")
    return nir.read(str(out_dir / GRAPH)), json.loads((out_dir / SIDECAR).read_text())


def _snntorch_tau(beta: float) -> np.float32:
    """A float32 τ for which snnTorch's ``1 - 1e-4 / tau`` (float32) is float32(β) exactly, when
    one lies within a few ulps of 1e-4 / (1 − β)."""
    want, tau = np.float32(beta), np.float32(SNNTORCH_DT_S / (1.0 - beta))
    for _ in range(64):
        got = np.float32(1) - np.float32(SNNTORCH_DT_S) / tau
        if got == want:
            break
        tau = np.nextafter(tau, np.float32(np.inf) if got < want else np.float32(0))
    return tau


def _retimed(graph: Any, side: dict[str, Any]) -> Any:
    """The graph on snnTorch's time base: every LIF τ for its dt (R = τ/dt is a ratio and stays),
    every IF's R as the per-step gain."""
    nir = require("nir")
    nodes = dict(graph.nodes)
    betas = {layer["node"]: float(layer["beta"]) for layer in side["layers"]}
    for key, node in nodes.items():
        if isinstance(node, nir.LIF):
            tau = np.full(node.tau.shape, _snntorch_tau(betas[key]), np.float32)
            nodes[key] = nir.LIF(tau=tau, r=node.r, v_leak=node.v_leak, v_threshold=node.v_threshold,
                                 v_reset=node.v_reset)
        elif isinstance(node, nir.IF):  # dv/dt = R·I: the per-step gain R·dt, which snnTorch wants as r = 1
            nodes[key] = nir.IF(r=(node.r * side["tau_time_base_s"]).astype(np.float32),
                                v_threshold=node.v_threshold, v_reset=node.v_reset)
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges))


def to_snntorch(graph: Any, side: dict[str, Any]) -> nn.Module:
    """snnTorch's own ``import_from_nir`` on `graph` retimed to its dt, with the sidecar's reset
    mode applied to the imported Leaky neurons (module docstring)."""
    require("nir")
    snn = require("snntorch")
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # the importer prints progress
        net = import_from_nir(_retimed(graph, side))
    for layer in side["layers"]:
        key, beta = layer["node"], float(layer["beta"])
        imported = getattr(net, key)
        if layer["reset"] != "zero" or beta >= 1.0:
            rebuilt = snn.Leaky(beta=imported.beta.detach().clone() if beta < 1.0 else 1.0,
                                threshold=imported.threshold.detach().clone(), reset_mechanism=layer["reset"],
                                init_hidden=True, reset_delay=True)
            setattr(net, key, rebuilt)
    return net


def run_snntorch(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Output spikes [T, B, classes] of an imported network on spikes x [T, B, ...]."""
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    out = []
    with torch.no_grad():
        for x_t in x.reshape(x.shape[0], x.shape[1], -1).float():
            y = net(x_t)
            out.append(y[0] if isinstance(y, tuple) else y)
    return torch.stack(out)


def _reference(qnet: QuantizedNet, spikes: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], list[Any], list[Any]]:
    """(float32 reference spikes per layer, float64 membranes per layer, float64 thresholds per layer)."""
    want = run_float(dequantize(qnet), spikes).spikes
    exact = dequantize(qnet, torch.float64)
    rec64 = run_float(exact, spikes.double())
    return want, list(rec64.mems), [layer.threshold for layer in exact]


def integer_ties(qnet: QuantizedNet, spikes: torch.Tensor) -> int:
    """How often the integer simulator's membrane equals a threshold exactly (U = θ, no spike there):
    the points where a float run of the graph may decide either way."""
    rec = run_int(qnet, spikes)
    return sum(int((u == q.threshold_neurons).sum()) for u, q in zip(rec.mems, qnet.layers))


def snntorch_reads(qnet: QuantizedNet) -> bool:
    """Whether snnTorch's importer (as `to_snntorch` retimes it) reads the graph: a dense network of
    LIF / IF layers with one β̂ each. Convolutional graphs (no SumPool2d there), per-neuron β̂ and
    CubaLIF layers are verified by `run_graph` instead."""
    return not qnet.convolutional and not any(q.per_neuron_decay or q.current_based for q in qnet.layers)


def verify(qnet: QuantizedNet, out_dir: Path, spikes: torch.Tensor) -> Verification:
    """Read the graph back and run it against spikefa's float simulation of the quantised network:
    every layer with `run_graph`, and, where snnTorch's importer reads the graph (`snntorch_reads`),
    its output layer through snnTorch, which is then what is counted. Disagreements at a membrane
    equal to its threshold are counted as ties, apart from real mismatches (`split_ties`); the
    cause of an output disagreement is looked for in every layer of `run_graph`, so a hidden-layer
    tie is a tie even where only snnTorch's output is compared."""
    graph, side = read(out_dir)
    want, mems, thetas = _reference(qnet, spikes)
    got = run_graph(graph, side, spikes)
    how = "nir.read + spikefa.export.nir_writer.run_graph (NIR node semantics, sidecar dt and reset), every layer"
    observed = None
    if snntorch_reads(qnet):
        observed = run_snntorch(to_snntorch(graph, side), spikes)
        how = ("nir.read + snntorch.import_from_nir (retimed to dt = 1e-4 s; sidecar reset applied), the output layer; "
               "causes traced through every layer by spikefa.export.nir_writer.run_graph")
    real, ties = split_ties(got, want, mems, thetas, observed=observed)
    if len(got) != len(want):
        real = max(real, 1)
    rec = run_int(qnet, spikes)
    ints = (rec.spikes, list(rec.mems), [q.threshold_neurons for q in qnet.layers])
    other, int_ties = split_ties(got, *ints, rel_tol=0.0, observed=observed)
    note = (f"{how}; against the integer simulator: {int_ties} tie disagreements (U = theta exactly), {other} others "
            "(decay rounding and saturation, integer arithmetic that NIR's float semantics do not hold)")
    return Verification("nir", "float simulation of the quantised network (spikefa.export.simulate.run_float)",
                        real, sum(int(w.numel()) for w in (want[-1:] if observed is not None else want)), note,
                        ties=ties,
                        integer={"ties": int_ties, "other": other})
