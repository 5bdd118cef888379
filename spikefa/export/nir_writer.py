"""NIR writer: the quantised network in real units, node by node, plus a JSON sidecar.

Graph: ``input`` (C·H·W, flattened row-major) → ``fc{i}`` (nir.Affine: Ŵ, b̂) → ``lif{i}``
(nir.LIF, or nir.IF for β = 1) → … → ``output``. NIR's LIF is τ·dv/dt = (v_leak − v) + R·I; a
forward-Euler step of length dt gives v ← (1 − dt/τ)·v + (R·dt/τ)·I, so τ = dt/(1 − β̂) and
R = τ/dt reproduce U ← β̂·U + I exactly, with v_leak = 0, v_threshold = θ̂ and v_reset = 0.

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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spikefa._optional import require
from spikefa.export.quantize import QuantizedNet
from spikefa.export.simulate import dequantize, run_float
from spikefa.export.writers import Verification, count_mismatches

GRAPH, SIDECAR = "model.nir", "model.nir.json"
SNNTORCH_DT_S = 1e-4  # snntorch.import_nir's fixed time step


def nir_graph(qnet: QuantizedNet, dt_s: float | None = None) -> Any:
    """The `nir.NIRGraph` of `qnet`, time constants for a step of `dt_s` seconds (default: dt)."""
    nir = require("nir")
    dt = qnet.dt * 1e-3 if dt_s is None else dt_s
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([qnet.in_features])})}
    edges, prev = [], "input"
    for i, layer in enumerate(dequantize(qnet)):
        n = layer.weight.shape[0]
        nodes[f"fc{i}"] = nir.Affine(weight=layer.weight.numpy().astype(np.float32),
                                     bias=layer.bias.numpy().astype(np.float32))
        theta = layer.threshold.numpy().astype(np.float32)
        if layer.beta >= 1.0:
            nodes[f"lif{i}"] = nir.IF(r=np.full(n, 1.0 / dt, np.float32), v_threshold=theta,
                                      v_reset=np.zeros(n, np.float32))
        else:
            tau = dt / (1.0 - layer.beta)
            nodes[f"lif{i}"] = nir.LIF(tau=np.full(n, tau, np.float32), r=np.full(n, tau / dt, np.float32),
                                       v_leak=np.zeros(n, np.float32), v_threshold=theta,
                                       v_reset=np.zeros(n, np.float32))
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
        layers.append({
            "node": f"lif{i}", "reset": q.reset, "beta": q.decay.beta, "beta_float": q.beta,
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


def verify(qnet: QuantizedNet, out_dir: Path, spikes: torch.Tensor) -> Verification:
    """Read the graph back, import it with snnTorch and compare output spikes with spikefa's float
    simulation of the quantised network."""
    graph, side = read(out_dir)
    got = run_snntorch(to_snntorch(graph, side), spikes)
    want = run_float(dequantize(qnet), spikes).out
    return Verification("nir", "float simulation of the quantised network (spikefa.export.simulate.run_float)",
                        count_mismatches(got, want), int(want.numel()),
                        "nir.read + snntorch.import_from_nir (retimed to dt = 1e-4 s; sidecar reset applied)")
