"""The walk over a NIR graph that `spikefa.export.nir_import` maps: read it, check it is one chain
from its Input to its Output (no branch, merge, loop, nested graph or stray node: each refused
naming the node and the reason), and group the chain into layers (the synapse nodes before each
neuron node)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spikefa._optional import require
from spikefa.errors import SpikefaError

SYNAPSE_NODES = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten")
NEURON_NODES = ("LIF", "CubaLIF", "IF", "LI")


def read_graph(source: Any) -> Any:
    """A `nir.NIRGraph` from itself or from a ``.nir`` file; raises `SpikefaError` for anything else."""
    nir = require("nir")
    if isinstance(source, nir.NIRGraph):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise SpikefaError(f"NIR file {str(path)!r} does not exist; give a .nir file written by nir.write")
        try:
            graph = nir.read(str(path))
        except Exception as exc:  # h5py / nir raise many kinds
            why = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            raise SpikefaError(f"{path}: not a readable NIR file ({why})") from None
        if not isinstance(graph, nir.NIRGraph):
            raise SpikefaError(f"{path}: holds a single {type(graph).__name__} node, not a NIR graph")
        return graph
    raise SpikefaError(f"from_nir takes a nir.NIRGraph or a .nir path, got {type(source).__name__}")


def node_kind(node: Any) -> str:
    """A NIR node's kind: its class name (LIF, Affine, ...)."""
    return type(node).__name__


def _one(names: list[str], what: str) -> str:
    if len(names) != 1:
        raise SpikefaError(f"the NIR graph has {len(names)} {what} nodes ({', '.join(names) or 'none'}); "
                           f"spikefa maps graphs with exactly one")
    return names[0]


def _find_cycle(succ: dict[str, list[str]]) -> list[str] | None:
    """One directed cycle as a node list, or None (iterative DFS, colours white/grey/black)."""
    colour: dict[str, int] = {}
    for root in succ:
        if colour.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                colour[node], path = 1, path + [node]
            nexts = succ.get(node, [])
            if i < len(nexts):
                stack.append((node, i + 1))
                nxt = nexts[i]
                if colour.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                if not colour.get(nxt):
                    stack.append((nxt, 0))
            else:
                colour[node], path = 2, path[:-1]
    return None


def chain(graph: Any) -> list[tuple[str, Any]]:
    """The graph's nodes in order from its Input to its Output (both left out), or `SpikefaError`
    naming the node that makes it something else (a branch, a merge, a loop, a subgraph, a stray)."""
    nir = require("nir")
    nodes = graph.nodes
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise SpikefaError(f"NIR node {name!r} is a nested graph (NIRGraph, as snnTorch writes an RLeaky); "
                               "recurrent and nested graphs are not mapped onto a feed-forward SpikingNet")
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in dict.fromkeys(tuple(e) for e in graph.edges):
        for end in (a, b):
            if end not in nodes:
                raise SpikefaError(f"NIR edge ({a!r}, {b!r}) names node {end!r}, which the graph does not hold")
        succ[a].append(b)
        pred[b].append(a)
    loop = _find_cycle(succ)
    if loop:
        raise SpikefaError(f"NIR node {loop[0]!r} ({node_kind(nodes[loop[0]])}) is on a loop ({' -> '.join(loop)}): "
                           "recurrent connections are not mapped onto a feed-forward SpikingNet")
    for name in nodes:
        if len(succ[name]) > 1:
            raise SpikefaError(f"NIR node {name!r} ({node_kind(nodes[name])}) feeds {len(succ[name])} nodes "
                               f"({', '.join(succ[name])}): branches are not mapped onto a layered SpikingNet")
        if len(pred[name]) > 1:
            raise SpikefaError(f"NIR node {name!r} ({node_kind(nodes[name])}) sums {len(pred[name])} inputs "
                               f"({', '.join(pred[name])}): merges (skip connections) are not mapped")
    start = _one([n for n, v in nodes.items() if isinstance(v, nir.Input)], "Input")
    end = _one([n for n, v in nodes.items() if isinstance(v, nir.Output)], "Output")
    order, name = [], start
    while succ[name]:
        name = succ[name][0]
        order.append(name)
    stray = [n for n in nodes if n != start and n not in order]
    if stray:
        raise SpikefaError(f"NIR node {stray[0]!r} ({node_kind(nodes[stray[0]])}) is not on the path from {start!r} to "
                           f"{end!r}; spikefa maps one chain and never drops a node")
    if not order or order[-1] != end:
        raise SpikefaError(f"the NIR graph's path from {start!r} ends at {(order or [start])[-1]!r}, not at its "
                           f"Output {end!r}")
    return [(n, nodes[n]) for n in order[:-1]]


def input_shape(graph: Any) -> tuple[int, ...]:
    nir = require("nir")
    node = next(v for v in graph.nodes.values() if isinstance(v, nir.Input))
    shape = next(iter(node.input_type.values()), None)
    if shape is None:
        raise SpikefaError("the NIR graph's Input node states no shape; spikefa needs it to size the layers")
    return tuple(int(s) for s in np.atleast_1d(np.asarray(shape)))


Layer = tuple[list[tuple[str, Any]], tuple[str, Any]]


def layers_of(steps: list[tuple[str, Any]]) -> list[Layer]:
    """Group the chain into layers: the synapse nodes before each neuron node, and the neuron."""
    layers: list[Layer] = []
    ops: list[tuple[str, Any]] = []
    for name, node in steps:
        kind = node_kind(node)
        if kind in NEURON_NODES:
            weights = [n for n, v in ops if node_kind(v) in ("Affine", "Linear", "Conv2d")]
            if len(weights) != 1:
                raise SpikefaError(f"NIR node {name!r} ({kind}) has {len(weights)} weight nodes before it "
                                   f"({', '.join(weights) or 'none'}); spikefa maps one Affine / Linear / Conv2d "
                                   "per layer of neurons")
            if layers and not is_spiking(layers[-1][1][1]):
                prev = layers[-1][1][0]
                raise SpikefaError(f"NIR node {prev!r} (LI) feeds further layers: a leaky integrator outputs its "
                                   "membrane, not spikes; spikefa maps LI as the read-out layer only")
            layers.append((ops, (name, node)))
            ops = []
        elif kind in SYNAPSE_NODES:
            ops.append((name, node))
        else:
            raise SpikefaError(f"NIR node {name!r} ({kind}) is not mapped; spikefa reads "
                               f"{', '.join(SYNAPSE_NODES + NEURON_NODES)}")
    if ops:
        raise SpikefaError(f"NIR nodes {', '.join(n for n, _ in ops)} come after the last neuron; spikefa reads "
                           "the output layer's spikes: end the graph with a neuron node")
    if not layers:
        raise SpikefaError("the NIR graph holds no neuron node (LIF, CubaLIF, IF, LI); nothing to map")
    return layers


def is_spiking(node: Any) -> bool:
    return node_kind(node) != "LI"


__all__ = ["Layer", "NEURON_NODES", "SYNAPSE_NODES", "chain", "input_shape", "is_spiking", "layers_of", "node_kind",
           "read_graph"]
