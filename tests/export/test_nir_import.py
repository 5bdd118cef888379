"""Networks from other tools: NIR graphs in the shapes snnTorch, Norse, SpikingJelly and Rockpool
write, mapped onto a SpikingNet, held spike for spike against an independent numpy stepping of NIR's
equations (and against snnTorch's own network / importer), then exported with parity; what cannot be
mapped is refused naming the node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from spikefa.errors import SpikefaError
from spikefa.export.nir_import import from_nir

from .nets import assert_every_verification_ran, profile, require_every_verifier

nir = pytest.importorskip("nir")
snn = pytest.importorskip("snntorch")


# ---------------------------------------------------------------- the reference: NIR's ODEs, stepped


def _pool_sum(x: np.ndarray, node: Any) -> np.ndarray:
    """Sum over each window, zero padding, by explicit slicing: x [B, C, H, W]."""
    (kh, kw), (sh, sw), (ph, pw) = (tuple(np.broadcast_to(np.asarray(v), (2,))) for v in
                                    (node.kernel_size, node.stride, node.padding))
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    h, w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (h, w))
    for i in range(h):
        for j in range(w):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].sum(axis=(2, 3))
    return out


def _conv(x: np.ndarray, node: Any) -> np.ndarray:
    """A plain loop over output positions and channels (stride, zero padding; groups = 1)."""
    w, b = np.asarray(node.weight, np.float64), np.asarray(node.bias, np.float64)
    (sh, sw), (ph, pw) = node.stride, node.padding
    kh, kw = w.shape[2:]
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    h, wd = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.zeros((x.shape[0], w.shape[0], h, wd))
    for i in range(h):
        for j in range(wd):
            patch = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = np.einsum("bchw,ochw->bo", patch, w) + b
    return out


def reference(graph: Any, x: np.ndarray, dt: float, reset: str) -> np.ndarray:
    """Step the graph's nodes literally (forward Euler of NIR's ODEs) over x [T, B, ...]; returns the
    output node's value per step [T, B, ...] (spikes, or an LI's membrane)."""
    order, name = [], next(n for n, v in graph.nodes.items() if isinstance(v, nir.Input))
    succ = dict(graph.edges)
    while name in succ:
        name = succ[name]
        order.append(name)
    state: dict[str, dict[str, np.ndarray]] = {}
    outputs = []
    for x_t in x.astype(np.float64):
        h = x_t
        for name in order[:-1]:
            node = graph.nodes[name]
            kind = type(node).__name__
            if kind in ("Affine", "Linear"):
                h = h.reshape(h.shape[0], -1) @ np.asarray(node.weight, np.float64).T
                h = h + np.asarray(node.bias, np.float64) if kind == "Affine" else h
            elif kind == "Conv2d":
                h = _conv(h, node)
            elif kind in ("SumPool2d", "AvgPool2d"):
                h = _pool_sum(h, node) / (np.prod(node.kernel_size) if kind == "AvgPool2d" else 1)
            elif kind == "Flatten":
                h = h.reshape(h.shape[0], -1)
            else:
                h = _neuron_step(node, h, state.setdefault(name, {}), dt, reset)
        outputs.append(h)
    return np.stack(outputs)


def _neuron_step(node: Any, current: np.ndarray, s: dict[str, np.ndarray], dt: float, reset: str) -> np.ndarray:
    kind = type(node).__name__
    shape = current.shape[1:]
    p = {k: np.asarray(v, np.float64).reshape(shape) if np.size(v) > 1 else float(np.asarray(v).reshape(-1)[0])
         for k, v in vars(node).items() if k not in ("input_type", "output_type", "metadata")}
    v = s.get("v", np.zeros_like(current))
    if kind == "CubaLIF":
        i_syn = s.get("i", np.zeros_like(current))
        i_syn = i_syn + dt / p["tau_syn"] * (-i_syn + p["w_in"] * current)
        s["i"] = i_syn
        v = v + dt / p["tau_mem"] * (p["v_leak"] - v + p["r"] * i_syn)
    elif kind == "IF":
        v = v + dt * p["r"] * current
    else:  # LIF, LI
        v = v + dt / p["tau"] * (p["v_leak"] - v + p["r"] * current)
    if kind == "LI":
        s["v"] = v
        return v
    if reset == "subtract":  # spikefa's / snnTorch's: θ subtracted at the step after the spike
        v = v - p["v_threshold"] * s.get("z", np.zeros_like(v))
    z = (v > p["v_threshold"]).astype(np.float64)
    s["z"], s["v"] = z, (np.where(z > 0, p["v_reset"], v) if reset == "zero" else v)
    return z


# ---------------------------------------------------------------- graphs as the tools write them


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _w(rng: np.random.Generator, out: int, inp: int, gain: float = 3.0) -> np.ndarray:
    return (rng.uniform(-1, 1, (out, inp)) * gain / inp**0.5).astype(np.float32)


def snntorch_shaped(seed: int = 0, dt: float = 1e-4) -> Any:
    """snnTorch's export_to_nir: Affine + LIF with τ = dt/(1 − β), r = τ/dt, v_leak = v_reset = 0,
    per-neuron arrays (here β differs per neuron in the hidden layer, θ per neuron)."""
    rng = _rng(seed)
    beta = rng.uniform(0.7, 0.95, 16)
    theta = rng.uniform(0.8, 1.2, 16).astype(np.float32)
    tau = (dt / (1 - beta)).astype(np.float32)
    tau_out = np.full(4, dt / (1 - 0.9), np.float32)
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([12])),
        "0": nir.Affine(weight=_w(rng, 16, 12), bias=rng.uniform(-0.1, 0.1, 16).astype(np.float32)),
        "1": nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(16, np.float32), v_threshold=theta,
                     v_reset=np.zeros(16, np.float32)),
        "2": nir.Affine(weight=_w(rng, 4, 16), bias=np.zeros(4, np.float32)),
        "3": nir.LIF(tau=tau_out, r=tau_out / dt, v_leak=np.zeros(4, np.float32), v_threshold=np.ones(4, np.float32),
                     v_reset=np.zeros(4, np.float32)),
        "output": nir.Output(output_type=np.array([4]))},
        edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")])


def norse_shaped(readout: str = "LIF", seed: int = 1) -> Any:
    """Norse's export: Linear (no bias) + LIF with τ = 1/tau_mem_inv in s, r = 1, a leak level and a
    threshold per neuron; an LI read-out (Norse's LICell) or a LIF one."""
    rng = _rng(seed)
    hidden = {"tau": np.full(10, 0.01), "r": np.ones(10), "v_leak": rng.uniform(0, 0.3, 10),
              "v_threshold": rng.uniform(0.2, 0.4, 10), "v_reset": np.zeros(10)}
    out = {"tau": np.full(3, 0.02), "r": np.ones(3), "v_leak": np.zeros(3)}
    last = nir.LI(**out) if readout == "LI" else nir.LIF(**out, v_threshold=np.full(3, 0.3), v_reset=np.zeros(3))
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([8])), "linear0": nir.Linear(weight=_w(rng, 10, 8, 6.0)),
        "lif0": nir.LIF(**hidden), "linear1": nir.Affine(weight=_w(rng, 3, 10, 6.0), bias=np.full(3, 0.05)),
        "readout": last, "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "linear0"), ("linear0", "lif0"), ("lif0", "linear1"), ("linear1", "readout"),
               ("readout", "output")])


def spikingjelly_shaped(seed: int = 2, dt: float = 1e-3) -> Any:
    """SpikingJelly's (and Sinabs') conv nets: Conv2d + IF (v += x per step: r·dt = 1), SumPool2d,
    Flatten, Affine + IF."""
    rng = _rng(seed)
    conv_w = (rng.uniform(-1, 1, (4, 2, 3, 3)) * 1.2).astype(np.float32)
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([2, 8, 8])),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=conv_w, stride=1, padding=1, dilation=1, groups=1,
                           bias=rng.uniform(0, 0.2, 4).astype(np.float32)),
        "if0": nir.IF(r=np.full((4, 8, 8), 1 / dt), v_threshold=np.ones((4, 8, 8)), v_reset=np.zeros((4, 8, 8))),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=_w(rng, 5, 64, 4.0), bias=np.zeros(5, np.float32)),
        "if1": nir.IF(r=np.full(5, 1 / dt), v_threshold=np.ones(5), v_reset=np.zeros(5)),
        "output": nir.Output(output_type=np.array([5]))},
        edges=[("input", "conv"), ("conv", "if0"), ("if0", "pool"), ("pool", "flat"), ("flat", "fc"),
               ("fc", "if1"), ("if1", "output")])


def sinabs_shaped(seed: int = 4, dt: float = 1e-3) -> Any:
    """A strided Conv2d whose currents are average-pooled before a LIF (gain r·dt/τ = 2, folded
    through the pooling), then Flatten, Affine + IF."""
    rng = _rng(seed)
    shape = (3, 2, 2)
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([1, 9, 9])),
        "conv": nir.Conv2d(input_shape=(9, 9), weight=(rng.uniform(-1, 1, (3, 1, 3, 3)) * 1.5).astype(np.float32),
                           stride=2, padding=1, dilation=1, groups=1, bias=np.zeros(3, np.float32)),
        "avg": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "lif": nir.LIF(tau=np.full(shape, 0.01), r=np.full(shape, 20.0), v_leak=np.zeros(shape),
                       v_threshold=np.full(shape, 0.5), v_reset=np.zeros(shape)),
        "flat": nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=_w(rng, 4, 12, 5.0), bias=np.full(4, 0.1, np.float32)),
        "if": nir.IF(r=np.full(4, 1 / dt), v_threshold=np.ones(4), v_reset=np.zeros(4)),
        "output": nir.Output(output_type=np.array([4]))},
        edges=[("input", "conv"), ("conv", "avg"), ("avg", "lif"), ("lif", "flat"), ("flat", "fc"), ("fc", "if"),
               ("if", "output")])


def rockpool_shaped(seed: int = 3) -> Any:
    """Rockpool's LinearTorch + LIFTorch: Linear (no bias) + CubaLIF with per-neuron τ_mem, r = 1,
    w_in = 1 (its time constants in s)."""
    rng = _rng(seed)

    def cuba(n: int) -> Any:
        return nir.CubaLIF(tau_syn=np.full(n, 0.004), tau_mem=rng.uniform(0.01, 0.03, n), r=np.ones(n),
                           v_leak=np.zeros(n), v_threshold=np.full(n, 0.05), v_reset=np.zeros(n), w_in=np.ones(n))

    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([6])), "0_LinearTorch": nir.Linear(weight=_w(rng, 9, 6, 5.0)),
        "1_LIFTorch": cuba(9), "2_LinearTorch": nir.Linear(weight=_w(rng, 3, 9, 5.0)), "3_LIFTorch": cuba(3),
        "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "0_LinearTorch"), ("0_LinearTorch", "1_LIFTorch"), ("1_LIFTorch", "2_LinearTorch"),
               ("2_LinearTorch", "3_LIFTorch"), ("3_LIFTorch", "output")])


def _spikes(shape: tuple[int, ...], t: int = 25, b: int = 6, rate: float = 0.3, seed: int = 5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, *shape, generator=gen) < rate).to(torch.float64)


def _float_parity(graph: Any, dt: float, reset: str, shape: tuple[int, ...]) -> tuple[torch.nn.Module, torch.Tensor]:
    net = from_nir(graph, dt=dt, reset=reset, dtype=torch.float64)
    x = _spikes(shape)
    with torch.no_grad():
        got = net(x).spikes.numpy()
    want = reference(graph, x.numpy(), dt, reset)
    assert want.sum() > 0 and want.sum() < want.size, "the reference must spike, and not everywhere"
    np.testing.assert_array_equal(got, want)
    return net, x


# ---------------------------------------------------------------- float parity, then export


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_snntorch_shaped_graph_matches_the_nir_equations_and_exports(reset: str, tmp_path: Path) -> None:
    graph = snntorch_shaped()
    net, x = _float_parity(graph, 1e-4, reset, (12,))
    assert net.dt == pytest.approx(0.1) and all(n.reset_mechanism == reset for n in net.neurons)
    # per-neuron β stays per neuron: the float net runs it, the exporters take it (per-neuron decay codes)
    assert net.neurons[0].beta.numel() == 16 and net.input_shape == (12,)
    require_every_verifier()
    from spikefa.export.pipeline import export

    summary = export(net, profile("int8-edge"), tmp_path / "out", spikes=x.float())
    assert summary["ok"] and summary["report"][0]["per_neuron"]
    assert_every_verification_ran(summary["verification"])
    graph = nir.read(str(tmp_path / "out" / "model.nir"))
    assert len(set(graph.nodes["lif0"].tau.tolist())) > 1  # NIR holds the per-neuron τ


def test_snntorch_import_from_nir_gives_the_same_spikes() -> None:
    """snnTorch's own importer (dt = 1e-4 s, reset to zero) as a second, independent reading."""
    from snntorch.import_nir import import_from_nir

    graph = snntorch_shaped(seed=4)
    for node in graph.nodes.values():  # its importer takes one θ per layer
        if isinstance(node, nir.LIF):
            node.v_threshold = np.ones_like(node.v_threshold)
    net = from_nir(graph, dt=1e-4, reset="zero")
    x = _spikes((12,), seed=6).float()
    theirs = import_from_nir(graph)
    state = None
    out = []
    with torch.no_grad():
        for x_t in x:
            spk, state = theirs(x_t, state)
            out.append(spk)
        assert torch.equal(net(x).spikes, torch.stack(out))
        assert torch.stack(out).sum() > 0


def _snntorch_net(seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(10, 12), snn.Leaky(beta=torch.full((12,), 0.85), threshold=torch.ones(12), init_hidden=True),
        torch.nn.Linear(12, 4), snn.Leaky(beta=torch.full((4,), 0.9), threshold=torch.ones(4), init_hidden=True,
                                          output=True))
    with torch.no_grad():
        net[0].weight.mul_(4)
        net[2].weight.mul_(4)
    return net


@pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")
def test_snntorchs_own_export_round_trips_to_the_same_spikes_and_exports(tmp_path: Path) -> None:
    """snnTorch's export_to_nir (per-neuron tensor β/θ, unbatched sample: what nir 1.0.6–1.0.8
    accept), written to a file and read back by path, then exported to int8-edge with parity."""
    from snntorch.export_nir import export_to_nir
    from snntorch.utils import reset as reset_hidden

    model = _snntorch_net()
    path = tmp_path / "snn.nir"
    nir.write(str(path), export_to_nir(model, torch.rand(10)))
    net = from_nir(path, dt=1e-4, reset="subtract")  # snnTorch's Leaky subtracts by default
    x = _spikes((10,), seed=7).float()
    reset_hidden(model)
    with torch.no_grad():
        theirs = torch.stack([model(x_t)[0] for x_t in x])
        assert torch.equal(net(x).spikes, theirs) and theirs.sum() > 0
    require_every_verifier()
    from spikefa.export.pipeline import export

    summary = export(net, profile("int8-edge"), tmp_path / "out", spikes=x)
    assert summary["ok"]
    assert_every_verification_ran(summary["verification"])


def test_norse_shaped_graph_with_leak_levels_and_li_readout() -> None:
    graph = norse_shaped("LI")
    net = from_nir(graph, dt=1e-3, reset="zero", dtype=torch.float64)
    x = _spikes((8,), seed=8)
    with torch.no_grad():
        rec = net(x)
    want = reference(graph, x.numpy(), 1e-3, "zero")  # the LI's membrane
    assert rec.spikes.sum() == 0 and np.abs(want).max() > 0.01
    np.testing.assert_allclose(rec.mem.numpy(), want, rtol=1e-9, atol=1e-12)
    assert float(net.neurons[-1].threshold) == float("inf") and net.neurons[-1].reset_mechanism == "none"
    from spikefa.export.check import ExportRefused
    from spikefa.export.pipeline import export

    with pytest.raises(ExportRefused, match=r"layer 1: a non-spiking read-out \(θ = inf, NIR's LI\) is not exported"):
        export(net, profile("int8-edge"), "never-written")
    assert not Path("never-written").exists()


def test_norse_shaped_graph_exports_with_parity(tmp_path: Path) -> None:
    graph = norse_shaped("LIF")
    net, x = _float_parity(graph, 1e-3, "zero", (8,))
    assert net.lif[0].beta == pytest.approx(0.9) and net.lif[0].threshold == 1.0  # per-neuron θ folded: θ = 1
    require_every_verifier()
    from spikefa.export.pipeline import export

    summary = export(net, profile("loihi2"), tmp_path / "out", spikes=x.float())
    assert summary["ok"] and summary["meta"] == {}
    assert_every_verification_ran(summary["verification"])


def test_spikingjelly_shaped_conv_graph_matches_the_nir_equations(tmp_path: Path) -> None:
    graph = spikingjelly_shaped()
    net, x = _float_parity(graph, 1e-3, "zero", (2, 8, 8))
    assert isinstance(net.synapses[0], torch.nn.Conv2d) and net.lif[0].beta == 1.0
    from spikefa.export.network import dense_layers

    assert net.input_shape == (2, 8, 8)  # from the graph's Input node: the conv layers are sized by it
    layers, problems = dense_layers(net)
    assert not problems and [op.kind for op in layers[1].ops] == ["sumpool2d", "flatten", "dense"]
    assert layers[1].pool_fold == 1.0  # a sum pool: the weights are not divided by the window
    require_every_verifier()
    from spikefa.export.pipeline import export
    from spikefa.export.quantize import quantize
    from spikefa.export.simulate import run_int

    summary = export(net, profile("int8-edge"), tmp_path / "out", spikes=x.float())
    assert summary["ok"] and sorted(summary["verified"]) == ["c", "nir", "onnx"]
    assert_every_verification_ran(summary["verification"])
    assert all(s.sum() > 0 for s in run_int(quantize(net, profile("int8-edge")), x.float()).spikes)
    graph = nir.read(str(tmp_path / "out" / "model.nir"))
    assert "SumPool2d" in {type(n).__name__ for n in graph.nodes.values()}


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_strided_conv_with_average_pooling_before_the_neuron(reset: str) -> None:
    net, _ = _float_parity(sinabs_shaped(), 1e-3, reset, (1, 9, 9))
    conv = net.synapses[0][0]
    assert isinstance(conv, torch.nn.Conv2d) and conv.stride == (2, 2)
    assert torch.allclose(conv.weight, 2 * torch.from_numpy(np.asarray(sinabs_shaped().nodes["conv"].weight,
                                                                       np.float64)))  # r·dt/τ = 2 folded


@pytest.mark.parametrize("reset, target", [("subtract", "int8-edge"), ("zero", "loihi2")])
def test_rockpool_shaped_cubalif_graph_matches_and_exports_with_parity(reset: str, target: str,
                                                                       tmp_path: Path) -> None:
    """Linear + CubaLIF with per-neuron τ_mem: a current-based layer with per-neuron β, exported to a
    target with a synaptic current state (ONNX, C, NIR CubaLIF), and refused by one without."""
    net, x = _float_parity(rockpool_shaped(), 1e-3, reset, (6,))
    assert type(net.neurons[0]).__name__ == "Synaptic" and net.lif[0].alpha == pytest.approx(0.75)
    require_every_verifier()
    from spikefa.export.check import ExportRefused
    from spikefa.export.pipeline import export
    from spikefa.export.quantize import quantize
    from spikefa.export.simulate import run_int

    summary = export(net, profile(target), tmp_path / "out", spikes=x.float())
    assert summary["ok"] and sorted(summary["verified"]) == ["c", "nir", "onnx"]
    assert_every_verification_ran(summary["verification"])
    qnet = quantize(net, profile(target))
    assert all(q.current_based and q.per_neuron_decay for q in qnet.layers)
    assert run_int(qnet, x.float()).out.sum() > 0
    graph = nir.read(str(tmp_path / "out" / "model.nir"))
    assert type(graph.nodes["lif0"]).__name__ == "CubaLIF"
    with pytest.raises(ExportRefused, match=r"layer 0: current-based neurons .* akida runs one state per neuron"):
        export(net, profile("akida"), tmp_path / "no")
    assert not (tmp_path / "no").exists()


# ---------------------------------------------------------------- what is refused, by name


def _edit(graph: Any, nodes: dict[str, Any] | None = None, edges: list[tuple[str, str]] | None = None) -> Any:
    return nir.NIRGraph(nodes={**graph.nodes, **(nodes or {})}, edges=list(graph.edges) + (edges or []))


@pytest.mark.parametrize("case, message", [
    ("branch", r"NIR node '1' \(LIF\) feeds 2 nodes \(2, extra\): branches are not mapped"),
    ("loop", r"NIR node '\d' \(\w+\) is on a loop \(.*\): recurrent connections are not mapped"),
    ("stray", r"NIR node 'stray' \(Affine\) is not on the path from 'input' to 'output'"),
    ("two inputs", r"the NIR graph has 2 Input nodes \(input, input_stray\)"),
    ("unknown", r"NIR node 'scale' \(Scale\) is not mapped; spikefa reads Affine"),
    ("after", r"NIR nodes tail come after the last neuron"),
    ("v_reset", r"NIR node '1' \(LIF\): v_reset ≠ 0 is not supported"),
    ("subgraph", r"NIR node 'rec' is a nested graph"),
    ("li inside", r"NIR node '1' \(LI\) feeds further layers: a leaky integrator outputs its membrane"),
    ("two weights", r"NIR node '3' \(LIF\) has 2 weight nodes before it \(2, again\)"),
])
def test_unmappable_graphs_are_refused_naming_the_node(case: str, message: str) -> None:
    g = snntorch_shaped()
    extra = nir.Affine(weight=np.ones((4, 16), np.float32), bias=np.zeros(4, np.float32))
    if case == "branch":
        g = _edit(g, {"extra": extra}, [("1", "extra")])
    elif case == "loop":
        g = _edit(g, {"rec": nir.Linear(weight=np.eye(16, dtype=np.float32))}, [("1", "rec"), ("rec", "1")])
    elif case == "stray":  # nir.NIRGraph gives an unconnected node its own Input; a file need not
        g.nodes["stray"] = extra
    elif case == "two inputs":
        g = _edit(g, {"stray": extra})
    elif case == "unknown":
        g.nodes["scale"] = nir.Scale(scale=np.ones(16))
        g.edges = [e for e in g.edges if e != ("1", "2")] + [("1", "scale"), ("scale", "2")]
    elif case == "after":
        g.nodes["tail"] = nir.Affine(weight=np.ones((2, 4), np.float32), bias=np.zeros(2, np.float32))
        g.edges = [e for e in g.edges if e != ("3", "output")] + [("3", "tail"), ("tail", "output")]
    elif case == "li inside":
        g.nodes["1"] = nir.LI(tau=g.nodes["1"].tau, r=g.nodes["1"].r, v_leak=g.nodes["1"].v_leak)
    elif case == "two weights":
        g.nodes["again"] = nir.Linear(weight=np.eye(4, dtype=np.float32))
        g.edges = [e for e in g.edges if e != ("2", "3")] + [("2", "again"), ("again", "3")]
    elif case == "v_reset":
        g.nodes["1"].v_reset = np.full(16, 0.1, np.float32)
    else:
        g.nodes["rec"] = nir.NIRGraph(nodes={"i": nir.Input(np.array([4])), "o": nir.Output(np.array([4]))},
                                      edges=[("i", "o")])
    with pytest.raises(SpikefaError, match=message) as err:
        from_nir(g, dt=1e-4, reset="zero")
    assert "\n" not in str(err.value)


def test_what_the_graph_cannot_say_is_asked_for() -> None:
    g = snntorch_shaped()
    with pytest.raises(SpikefaError, match=r"^dt is missing: .*give dt in seconds"):
        from_nir(g, reset="zero")
    with pytest.raises(SpikefaError, match=r"^reset is missing: .*give reset='zero' or 'subtract'"):
        from_nir(g, dt=1e-4)
    with pytest.raises(SpikefaError, match=r"tau min .* < dt 0.01 s"):
        from_nir(g, dt=1e-2, reset="zero")
    with pytest.raises(SpikefaError, match="reset = 'none' is not allowed"):
        from_nir(g, dt=1e-4, reset="none")
    with pytest.raises(SpikefaError, match="does not exist"):
        from_nir("nowhere.nir", dt=1e-4, reset="zero")


@pytest.mark.parametrize("beta, reset", [(0.9, "subtract"), (1.0, "zero")])
def test_spikefas_own_nir_export_reads_back_to_the_dequantised_network(beta: float, reset: str,
                                                                       tmp_path: Path) -> None:
    """spikefa's writer (τ = dt/(1 − β̂), R = τ/dt; IF with R = 1/dt) and this reader are inverses:
    the graph read back runs the spikes of the dequantised float network."""
    from spikefa.export.nir_writer import read
    from spikefa.export.pipeline import export
    from spikefa.export.quantize import quantize
    from spikefa.export.simulate import dequantize, run_float

    from .nets import spikes, tiny_net

    net = tiny_net(beta=beta, reset=reset, gain=4.0)
    export(net, profile("loihi2"), tmp_path, formats=["nir"], verify=False)
    graph, side = read(tmp_path)
    back = from_nir(tmp_path / "model.nir", dt=side["tau_time_base_s"], reset=side["layers"][0]["reset"],
                    dtype=torch.float64)
    x = spikes(20, 6, 20, seed=9).double()
    want = run_float(dequantize(quantize(net, profile("loihi2")), torch.float64), x).out
    with torch.no_grad():
        got = back(x).spikes
    assert want.sum() > 0 and torch.equal(got, want)


def test_a_gain_that_differs_within_a_conv_channel_is_refused() -> None:
    g = spikingjelly_shaped()
    r = np.asarray(g.nodes["if0"].r).copy()
    r[0, 0, 0] *= 2
    g.nodes["if0"].r = r
    with pytest.raises(SpikefaError, match=r"NIR node 'if0' \(IF\): input gain, leak or threshold differ within a "
                                           "channel of the Conv2d"):
        from_nir(g, dt=1e-3, reset="zero")
