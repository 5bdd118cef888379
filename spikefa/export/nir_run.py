"""spikefa's reading of a NIR graph: run a chain-shaped graph (Input → Affine / Linear / Conv2d /
SumPool2d / AvgPool2d / Flatten → LIF / IF / CubaLIF → … → Output) in float32 on spikes [T, B, ...],
every neuron node's spikes returned. LIF and IF are integrated by forward Euler over the sidecar's
dt (``tau_time_base_s``): v ← (1 − dt/τ)·v + (dt/τ)·v_leak + (R·dt/τ)·I, and v ← v + R·dt·I;
CubaLIF steps its synaptic current first, I_s ← (1 − dt/τ_syn)·I_s + (w_in·dt/τ_syn)·I, and feeds
I_s to its membrane as LIF with τ_mem; the reset
(NIR resets to v_reset, spikefa's sidecar names "subtract" or "zero") acts on the previous step's
spikes, as in `spikefa.export.arith`. The NIR writer verifies convolutional graphs with it, since
snnTorch's importer (1.0) has no SumPool2d.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import torch


def _chain(graph: Any) -> list[str]:
    nxt = {a: b for a, b in graph.edges}
    order, key = [], "input"
    while key in nxt:
        key = nxt[key]
        order.append(key)
    return order


def _pads(padding: Any) -> Any:
    return padding if isinstance(padding, str) else tuple(int(p) for p in np.atleast_1d(padding))


def _flatten(node: Any, h: torch.Tensor) -> torch.Tensor:
    start, end = int(node.start_dim), int(node.end_dim)
    return h.flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)


_STATELESS = {
    "Affine": lambda n, h: h @ torch.from_numpy(n.weight).T + torch.from_numpy(n.bias),
    "Linear": lambda n, h: h @ torch.from_numpy(n.weight).T,
    "Conv2d": lambda n, h: torch.nn.functional.conv2d(
        h, torch.from_numpy(n.weight), None if n.bias is None else torch.from_numpy(np.asarray(n.bias)),
        stride=tuple(int(s) for s in np.atleast_1d(n.stride)), padding=_pads(n.padding),
        dilation=tuple(int(d) for d in np.atleast_1d(n.dilation)), groups=int(n.groups)),
    "SumPool2d": lambda n, h: torch.nn.functional.avg_pool2d(h, tuple(n.kernel_size), tuple(n.stride),
                                                             tuple(n.padding), divisor_override=1),
    "AvgPool2d": lambda n, h: torch.nn.functional.avg_pool2d(h, tuple(n.kernel_size), tuple(n.stride),
                                                             tuple(n.padding)),
    "Flatten": _flatten,
}


def _synaptic_step(node: Any, cur: torch.Tensor, i_syn: torch.Tensor, dt: float) -> torch.Tensor:
    """Forward Euler of CubaLIF's τ_syn·dI/dt = −I + w_in·x over one dt."""
    k = dt / node.tau_syn.astype(np.float64)
    keep = torch.from_numpy((1.0 - k).astype(np.float32)).to(i_syn.dtype)
    gain = torch.from_numpy((node.w_in * k).astype(np.float32)).to(i_syn.dtype)
    return keep * i_syn + gain * cur


def _neuron_step(node: Any, cur: torch.Tensor, v: torch.Tensor, reset: str, dt: float) -> torch.Tensor:
    """Forward Euler of NIR's LIF τ·dv/dt = (v_leak − v) + R·I (IF: dv/dt = R·I; CubaLIF: as LIF with
    τ_mem and its synaptic current as I) over one dt, with the sidecar's reset (spikes of the
    previous step, subtract or zero) before it."""
    theta = torch.from_numpy(node.v_threshold).to(v.dtype)
    fired = (v > theta).to(v.dtype)
    if type(node).__name__ == "CubaLIF":
        node = SimpleNamespace(tau=node.tau_mem, r=node.r, v_leak=node.v_leak)
    if type(node).__name__ == "IF":
        gain, keep, leak = torch.from_numpy(node.r * dt).to(v.dtype), torch.ones((), dtype=v.dtype), 0.0
    else:
        k = dt / node.tau.astype(np.float64)
        gain = torch.from_numpy((node.r * k).astype(np.float32)).to(v.dtype)
        keep = torch.from_numpy((1.0 - k).astype(np.float32)).to(v.dtype)
        leak = torch.from_numpy((k * node.v_leak).astype(np.float32)).to(v.dtype)
    if reset == "zero":
        return keep * v * (1 - fired) + leak + gain * cur
    return keep * v + leak + gain * cur - fired * theta


def run_graph(graph: Any, side: dict[str, Any], x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Every neuron node's spikes [T, B, n] (flattened, in graph order) from running a chain-shaped
    NIR graph on x [T, B, ...] in float32: spikefa's reading of NIR's node semantics, with the
    sidecar's dt and reset modes (module docstring)."""
    dt = float(side["tau_time_base_s"])
    resets = {layer["node"]: layer["reset"] for layer in side["layers"]}
    order = _chain(graph)
    shape = tuple(int(s) for s in graph.nodes["input"].input_type["input"])
    states: dict[str, torch.Tensor] = {}
    out: dict[str, list[torch.Tensor]] = {k: [] for k in order
                                          if type(graph.nodes[k]).__name__ in ("LIF", "IF", "CubaLIF")}
    with torch.no_grad():
        for x_t in x.reshape(x.shape[0], x.shape[1], -1).float():
            h = x_t.reshape(x_t.shape[0], *shape)
            for key in order:
                node = graph.nodes[key]
                kind = type(node).__name__
                if kind in _STATELESS:
                    h = _STATELESS[kind](node, h)
                elif key in out:
                    if type(node).__name__ == "CubaLIF":
                        h = _synaptic_step(node, h, states.get(key + "/syn", torch.zeros_like(h)), dt)
                        states[key + "/syn"] = h
                    v = _neuron_step(node, h, states.get(key, torch.zeros_like(h)), resets[key], dt)
                    states[key] = v
                    h = (v > torch.from_numpy(node.v_threshold)).to(torch.float32)
                    out[key].append(h.reshape(h.shape[0], -1))
    return tuple(torch.stack(s) for s in out.values())


__all__ = ["run_graph"]
