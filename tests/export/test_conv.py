"""Convolutional export end to end: the reader against the network's own forward pass, the integer
convolution and pools against explicit loops, per-channel quantisation, the checker's layer kinds
and limits per profile, and every writer (ONNX through onnxruntime, C through the compiler, NIR read
back and run) spike for spike against its reference, every layer."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from spikefa.export import c_writer
from spikefa.export.arith import apply_ops
from spikefa.export.check import ExportRefused, check
from spikefa.export.network import Op, read_layers
from spikefa.export.pipeline import export
from spikefa.export.quantize import QuantizedNet, quantize
from spikefa.export.simulate import dequantize, float_layers, int_currents, run_float, run_int
from spikefa.export.writers import EXPORTERS, split_ties

from .nets import (assert_every_verification_ran, card_run_dir, profile, require_every_verifier, spikes, tiny_conv_net,
                   variant)

NO_COMPILER = "no C compiler ($CC, cc, gcc or clang on PATH): the C artefact cannot be compiled and checked"

# (current pool, spike pool, conv options): every layer kind and conv option at least once
SHAPES = {
    "max-of-currents": ("max", "none", {}),
    "avg-stride2": ("avg", "none", {"stride": 2}),
    "sum-lp-groups": ("sum", "lp", {"groups": 2}),
    "avg-of-spikes-valid": ("none", "avg", {"padding": 0}),
    "sum-of-spikes": ("none", "sum", {}),
}


def _conv(name: str, **kw: object) -> nn.Module:
    pool, spike_pool, opts = SHAPES[name]
    return tiny_conv_net(pool, spike_pool=spike_pool, gain=3.0, **{**opts, **kw})  # type: ignore[arg-type]


def _x(seed: int = 1) -> torch.Tensor:
    return spikes(6, 3, 64, rate=0.4, seed=seed)


# ---------------------------------------------------------------- reader


@pytest.mark.parametrize("name", list(SHAPES))
def test_the_reader_runs_the_network_as_torch_does(name: str) -> None:
    """Every layer's op chain has torch's shapes, and the float simulation of the read layers gives
    the network's own output spikes (average pools folded into the weights change no spike here)."""
    net = _conv(name)
    layers, problems = read_layers(net)
    assert problems == [] and [l.kind for l in layers] == ["conv2d", "conv2d", "dense"]
    h = torch.zeros(1, *net.input_shape)
    for syn, layer in zip(net.synapses, layers):
        h = syn(h)
        assert layer.out_shape == tuple(h.shape[1:]) or layer.out_shape == (h[0].numel(),)
    x = _x()
    with torch.no_grad():
        want = net(x.reshape(6, 3, *net.input_shape)).spikes
    got = run_float(float_layers(layers), x)
    assert torch.equal(got.out, want) and all(int(s.sum()) > 0 for s in got.spikes)


def test_a_dense_net_with_a_known_input_shape_keeps_the_dense_graph() -> None:
    """A run directory sets net.input_shape, so the first layer's Flatten is a real op: the layer is
    still plain dense, and the NIR graph is the dense one (no Flatten node, flat input)."""
    nir = pytest.importorskip("nir")
    from spikefa.export.nir_writer import nir_graph

    from .nets import tiny_net

    net = tiny_net((20, 16, 5))
    net.input_shape = (1, 4, 5)
    qnet = quantize(net, profile("loihi2"))
    assert [op.kind for op in qnet.layers[0].ops] == ["flatten", "dense"] and not qnet.convolutional
    graph = nir_graph(qnet)
    assert sorted(graph.nodes) == ["fc0", "fc1", "input", "lif0", "lif1", "output"]
    assert isinstance(graph.nodes["fc0"], nir.Affine) and list(graph.nodes["input"].input_type["input"]) == [20]


def test_a_convolution_needs_the_input_shape_and_dilation_is_refused() -> None:
    net = _conv("max-of-currents")
    del net.input_shape
    assert check(net, profile("int8-edge")) == [
        f"layer {i}: a convolution or pool needs the input shape (C, H, W): pass input_shape or set net.input_shape"
        for i in (0, 1)]
    assert check(net, profile("int8-edge"), input_shape=(1, 8, 8)) == []
    net.input_shape = (1, 8, 8)
    net.synapses[1][1].dilation = (2, 2)
    (problem,) = check(net, profile("int8-edge"))
    assert problem.startswith("layer 1: Conv2d(dilation=(2, 2)") and "dilation 1" in problem


# ---------------------------------------------------------------- integer arithmetic vs explicit loops


def _loop_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int, groups: int) -> np.ndarray:
    n, c, h, wd = x.shape
    co, cig, k, _ = w.shape
    xp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), np.int64)
    xp[:, :, pad:pad + h, pad:pad + wd] = x
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, co, oh, ow), np.int64)
    for i, o, y, z in itertools.product(range(n), range(co), range(oh), range(ow)):
        g = o // (co // groups)
        patch = xp[i, g * cig:(g + 1) * cig, y * stride:y * stride + k, z * stride:z * stride + k]
        out[i, o, y, z] = int((patch * w[o]).sum()) + int(b[o])
    return out


def _loop_pool(x: np.ndarray, k: int, stride: int, pad: int, take: str) -> np.ndarray:
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = np.zeros((n, c, oh, ow), np.int64)
    for i, ch, y, z in itertools.product(range(n), range(c), range(oh), range(ow)):
        vals = [x[i, ch, yy, zz] for yy in range(y * stride - pad, y * stride - pad + k)
                for zz in range(z * stride - pad, z * stride - pad + k) if 0 <= yy < h and 0 <= zz < w]
        out[i, ch, y, z] = max(vals) if take == "max" else sum(vals)
    return out


@pytest.mark.parametrize(("stride", "pad", "groups"), [(1, 1, 1), (2, 0, 1), (2, 2, 2), (1, 1, 4)])
def test_integer_convolution_and_pools_match_explicit_loops(stride: int, pad: int, groups: int) -> None:
    """`apply_ops` (F.conv2d / pools in float64 on integers) against numpy loops in int64, with
    state-unit sized values (up to 2^30 so that float32 would not be exact)."""
    gen = torch.Generator().manual_seed(stride * 10 + pad + groups)
    x = torch.randint(0, 3, (2, 4, 9, 9), generator=gen)
    w = torch.randint(-2**20, 2**20, (4, 4 // groups, 3, 3), generator=gen)
    b = torch.randint(-2**28, 2**28, (4,), generator=gen)
    oh = (9 + 2 * pad - 3) // stride + 1
    conv = Op("conv2d", (4, 9, 9), (4, oh, oh), (3, 3), (stride, stride), (pad, pad), groups)
    want = _loop_conv(x.numpy(), w.numpy(), b.numpy(), stride, pad, groups)
    got = apply_ops(x.double(), (conv,), w.double(), b.double()).reshape(want.shape)
    assert np.array_equal(got.to(torch.int64).numpy(), want)
    for kind, take in (("sumpool2d", "sum"), ("maxpool2d", "max")):
        po = (oh + 2 - 3) // 2 + 1
        pool = Op(kind, (4, oh, oh), (4, po, po), (3, 3), (2, 2), (1, 1))
        got = apply_ops(x.double(), (conv, pool), w.double(), b.double()).reshape(2, 4, po, po)
        assert np.array_equal(got.to(torch.int64).numpy(), _loop_pool(want, 3, 2, 1, take))


def test_integer_currents_of_a_quantised_conv_layer_match_unfold_matmul() -> None:
    net = _conv("avg-stride2")
    q = quantize(net, profile("int8-edge")).layers[0]
    x = _x()
    got = int_currents(q, x)  # conv 3x3 pad 1 -> avg pool 2 (a sum pool on integers)
    cols = torch.nn.functional.unfold(x.reshape(-1, 1, 8, 8).to(torch.int64).double(), 3, padding=1)  # [N, 9, 64]
    conv = (q.weight_state.reshape(2, 9).double() @ cols).to(torch.int64) + q.bias[:, None]  # [N, 2, 64]
    pooled = conv.reshape(-1, 2, 4, 2, 4, 2).sum(dim=(3, 5))  # 2x2 windows summed
    assert torch.equal(got.reshape(-1, 2, 4, 4), pooled)


# ---------------------------------------------------------------- quantiser


def test_conv_kernels_are_quantised_per_output_channel_where_the_profile_says() -> None:
    net = _conv("max-of-currents")
    per_channel = quantize(net, profile("int8-edge")).layers[1]  # 4 channels, one unit and threshold each
    assert per_channel.unit.shape == (4,) and len(set(per_channel.unit.tolist())) == 4
    assert all(120 <= m <= 127 for m in per_channel.weight.abs().amax(dim=(1, 2, 3)).tolist())  # each its own grid
    per_tensor = quantize(net, profile("loihi2")).layers[1]
    assert len(set(per_tensor.unit.tolist())) == 1 and len(set(per_tensor.threshold.tolist())) == 1
    layer = read_layers(net)[0][1]
    w_hat = dequantize(quantize(net, profile("int8-edge")))[1].weight.double()
    step = (per_channel.unit * 2**per_channel.weight_shift)[:, None, None, None]
    assert bool(((w_hat - layer.weight).abs() <= step / 2 + 1e-12).all())
    assert dequantize(quantize(net, profile("int8-edge")))[1].threshold.shape == (4 * 16,)


# ---------------------------------------------------------------- checker


def test_profiles_without_conv_list_every_conv_and_pool() -> None:
    net = _conv("sum-lp-groups")
    problems = check(net, profile("xylo-audio2"))
    assert "layer 0: conv2d is not supported; xylo-audio2 takes dense, flatten" in problems
    assert "layer 0: sumpool2d is not supported; xylo-audio2 takes dense, flatten" in problems
    assert "layer 1: sumpool2d is not supported; xylo-audio2 takes dense, flatten" in problems
    assert "layer 1: conv2d is not supported; xylo-audio2 takes dense, flatten" in problems
    for name in ("spinnaker2", "ternary"):
        assert any("conv2d is not supported" in p for p in check(net, profile(name)))


def test_conv_profiles_take_what_their_chips_take() -> None:
    lif = _conv("max-of-currents")
    assert check(lif, profile("int8-edge")) == [] and check(lif, profile("mcu-int8")) == []
    assert "layer 0: maxpool2d is not supported; loihi2 takes dense, conv2d, sumpool2d, avgpool2d, flatten" \
        in check(lif, profile("loihi2"))
    assert check(_conv("avg-stride2"), profile("loihi2")) == []
    speck_ok = _conv("sum-of-spikes", beta=1.0)  # IF neurons, sum pool of spikes before the conv
    assert check(speck_ok, profile("speck")) == []
    speck = check(_conv("sum-lp-groups", beta=1.0), profile("speck"))
    assert "layer 0: sumpool2d of currents is not supported; speck pools spikes (before the weighted operation)" in speck
    assert "layer 1: conv2d groups 2 (grouped / depthwise convolution) is not supported by speck" in speck
    akida = check(_conv("avg-of-spikes-valid", beta=1.0), profile("akida"))
    assert akida == ["layer 1: avgpool2d of spikes is not supported; akida pools currents (after the weighted operation)"]
    assert check(_conv("avg-stride2", beta=1.0), profile("akida")) == []


def test_conv_limits_are_each_reported() -> None:
    tight = variant("int8-edge", layers={"kernel_max": 2, "strides": [1], "padding_max": 0, "groups": False,
                                         "channels_max": 3, "pool_kernels": [3], "kernel_memory": 20})
    problems = check(_conv("sum-lp-groups", stride=2), tight)
    for text in ("layer 0: conv2d kernel 3x3 > int8-edge's 2x2", "layer 1: conv2d stride [2, 2] is not supported",
                 "layer 0: conv2d padding [1, 1] > int8-edge's 0", "layer 1: conv2d groups 2",
                 "layer 1: conv2d 4 channels > int8-edge's 3", "layer 1: conv2d 36 weights > int8-edge's kernel "
                 "memory of 20", "layer 0: sumpool2d window 2x2 is not supported"):
        assert any(p.startswith(text) for p in problems), (text, problems)


# ---------------------------------------------------------------- writers, spike for spike


CASES = [(name, prof) for name in SHAPES for prof in ("int8-edge", "mcu-int8", "loihi2")
         if not (name == "max-of-currents" and prof == "loihi2")]
# the compiler is slow: every shape once, the profiles (and their roundings, scales) in turn
C_CASES = [("max-of-currents", "mcu-int8"), ("avg-stride2", "loihi2"), ("sum-lp-groups", "int8-edge"),
           ("avg-of-spikes-valid", "mcu-int8"), ("sum-of-spikes", "loihi2")]


@pytest.fixture(scope="module")
def quantised() -> dict:
    out = {}
    for i, (name, prof) in enumerate(CASES):
        reset = "zero" if i % 2 else "subtract"
        out[name, prof] = quantize(_conv(name, reset=reset), profile(prof))
    return out


@pytest.mark.parametrize(("name", "prof"), CASES)
def test_onnx_conv_matches_the_integer_simulator(name: str, prof: str, quantised: dict, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    qnet, x = quantised[name, prof], _x()
    EXPORTERS["onnx"].write(qnet, tmp_path)
    v = EXPORTERS["onnx"].verify(qnet, tmp_path, x)
    rec = run_int(qnet, x)
    assert v.mismatches == 0 and v.total == sum(int(s.numel()) for s in rec.spikes)
    assert all(int(s.sum()) > 0 for s in rec.spikes)


@pytest.mark.skipif(c_writer.find_compiler() is None, reason=NO_COMPILER)
@pytest.mark.parametrize(("name", "prof"), C_CASES)
def test_c_conv_matches_the_integer_simulator(name: str, prof: str, quantised: dict, tmp_path: Path) -> None:
    qnet, x = quantised[name, prof], _x()
    EXPORTERS["c"].write(qnet, tmp_path)
    v = EXPORTERS["c"].verify(qnet, tmp_path, x)
    assert v.mismatches == 0 and v.total == sum(int(s.numel()) for s in run_int(qnet, x).spikes)


@pytest.mark.parametrize(("name", "prof"), [c for c in CASES if c[0] != "max-of-currents"])
def test_nir_conv_reads_back_and_matches_the_float_simulation(name: str, prof: str, quantised: dict,
                                                              tmp_path: Path) -> None:
    nir = pytest.importorskip("nir")
    qnet, x = quantised[name, prof], _x()
    EXPORTERS["nir"].write(qnet, tmp_path)
    graph = nir.read(str(tmp_path / "model.nir"))
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert {"Input", "Conv2d", "Flatten", "Affine", "LIF", "Output"} <= kinds
    assert ("AvgPool2d" in kinds) == ("avg" in name) and ("SumPool2d" in kinds) == ("sum" in name)
    conv1 = graph.nodes["conv1"]
    assert tuple(conv1.output_type["output"]) == qnet.layers[1].ops[-1 if "of-spikes" in name else 0].out_shape \
        or "currents" not in name
    v = EXPORTERS["nir"].verify(qnet, tmp_path, x)
    assert v.mismatches == 0 and v.total == sum(int(s.numel()) for s in run_int(qnet, x).spikes)


def test_nir_refuses_max_pooling_by_name(quantised: dict, tmp_path: Path) -> None:
    pytest.importorskip("nir")
    with pytest.raises(ExportRefused, match="cannot export to 'int8-edge \\(nir\\)': 1 violation: layer 0: "
                                            "maxpool2d has no NIR node") as err:
        EXPORTERS["nir"].write(quantised["max-of-currents", "int8-edge"], tmp_path)
    assert "--formats onnx,c" in str(err.value)


def test_export_of_a_conv_net_writes_and_verifies_every_artefact(tmp_path: Path) -> None:
    require_every_verifier()
    summary = export(_conv("avg-stride2"), profile("int8-edge"), tmp_path, spikes=_x())
    assert summary["ok"] and summary["formats"] == ["onnx", "nir", "c"]
    assert_every_verification_ran(summary["verification"])
    assert [r["kind"] for r in summary["report"]] == ["conv2d", "conv2d", "dense"]


def test_the_snntorch_tutorial_conv_net_exports_to_int8_edge(tmp_path: Path) -> None:
    """benchmarks/nets/snn_conv.py's network (Conv2d → MaxPool2d → Leaky, init_hidden), read through
    SpikingNet.of, on a 1x16x16 input: ONNX and C spike for spike with the integer simulator."""
    pytest.importorskip("snntorch")
    require_every_verifier()
    from benchmarks.nets.snn_conv import tutorial_conv
    from spikefa.nn.spiking import SpikingNet

    torch.manual_seed(0)
    net = SpikingNet.of(tutorial_conv((1, 16, 16), 3))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(4.0)
    layers, problems = read_layers(net, (1, 16, 16))
    assert problems == [] and [[op.kind for op in l.ops] for l in layers] == [
        ["conv2d", "maxpool2d"], ["conv2d", "maxpool2d"], ["flatten", "dense"]]
    net.input_shape = (1, 16, 16)
    x = spikes(5, 2, 256, rate=0.5)
    summary = export(net, profile("int8-edge"), tmp_path, formats=["onnx", "c"], spikes=x)
    assert summary["ok"]
    assert_every_verification_ran(summary["verification"])
    assert int(run_int(quantize(net, profile("int8-edge")), x).spikes[0].sum()) > 0


def test_the_snn_lenet_card_reads_and_runs_in_integers() -> None:
    from spikefa.catalog import load_card
    from spikefa.nn.build import build

    net = build(load_card("snn-lenet"), (1, 8, 8), 3, seed=0)
    net.input_shape = (1, 8, 8)
    layers, problems = read_layers(net)
    assert problems == [] and [[op.kind for op in l.ops] for l in layers] == [
        ["conv2d", "maxpool2d"], ["conv2d", "maxpool2d"], ["flatten", "dense"]]
    assert [l.out_shape for l in layers] == [(12, 4, 4), (64, 2, 2), (3,)]
    assert check(net, profile("int8-edge")) == [] and any("maxpool2d" in p for p in check(net, profile("speck")))
    x = spikes(4, 2, 64, rate=0.5)
    rec = run_int(quantize(net, profile("int8-edge")), x)
    assert [tuple(s.shape) for s in rec.spikes] == [(4, 2, 192), (4, 2, 256), (4, 2, 3)]


# ---------------------------------------------------------------- ties


def test_split_ties_counts_disagreements_at_threshold_apart() -> None:
    theta = [torch.full((2,), 3.0)]
    want = [torch.tensor([[[0, 0], [0, 0]], [[1, 0], [0, 0]], [[0, 0], [0, 1]]])]  # [T=3, B=2, n=2]
    got = [want[0].clone()]
    got[0][0, 0, 1] = 1  # sample 0 disagrees first at t=0 where U = θ exactly: a tie, then it diverges
    got[0][1, 0, 0] = 0
    got[0][2, 1, 1] = 0  # sample 1 disagrees where U is far above θ: a real mismatch
    mem = torch.tensor([[[0.0, 3.0], [0.0, 0.0]], [[4.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 5.0]]])
    assert split_ties(got, want, [mem], theta) == (1, 2)
    assert split_ties(want, want, [mem], theta) == (0, 0)


def test_split_ties_traces_an_output_disagreement_to_a_hidden_tie() -> None:
    # Two layers, T = 2, B = 2, one neuron each. Sample 0: the hidden neuron sits exactly at θ at
    # t = 0 and the graph fires it; the output then fires at t = 1 far from its threshold. Sample 1:
    # the output differs with no hidden cause. Only the output is observed (snnTorch's reader).
    theta = [torch.full((1,), 2.0), torch.full((1,), 2.0)]
    want = [torch.zeros(2, 2, 1), torch.zeros(2, 2, 1)]
    mems = [torch.tensor([[[2.0], [0.0]], [[0.0], [0.0]]]), torch.tensor([[[0.0], [0.0]], [[0.5], [0.5]]])]
    got = [want[0].clone(), want[1].clone()]
    got[0][0, 0, 0] = 1
    got[1][1, 0, 0] = 1
    got[1][1, 1, 0] = 1
    observed = got[1].clone()
    assert split_ties(got, want, mems, theta) == (1, 2)  # every layer seen: sample 0's two spikes are ties
    assert split_ties(got, want, mems, theta, observed=observed) == (1, 1)  # output only: the same cause
    # the output-only comparison alone (the old snnTorch path) calls sample 0 a real mismatch
    assert split_ties(got[-1:], want[-1:], mems[-1:], theta[-1:]) == (2, 0)
    # a second reader that disagrees with run_graph in a sample is not excused by its tie
    other = observed.clone()
    other[0, 0, 0] = 1
    assert split_ties(got, want, mems, theta, observed=other) == (3, 0)


def _tie_net() -> QuantizedNet:
    """One IF neuron (speck: no decay), weight 1 unit, θ = 10 units, one unit = 0.1: in real units
    θ̂ = 1 and ten input spikes give U = 10 × 0.1, which float32 sums to 1.0000001 > θ̂ while the
    chip's integers stay at U = θ (no spike)."""
    from spikefa.export.arith import DecayCode
    from spikefa.export.quantize import QLayer

    unit = torch.tensor([0.1], dtype=torch.float64)
    layer = QLayer(torch.tensor([[1]]), 0, torch.tensor([0]), 0, torch.tensor([10]), unit, DecayCode("none", 0),
                   "zero", 1.0, 1.0)
    return QuantizedNet((layer,), profile("speck"), 8, 16, "saturate", ())


def test_nir_ties_with_the_integer_simulator_are_counted_apart(tmp_path: Path) -> None:
    pytest.importorskip("snntorch")
    pytest.importorskip("nir")
    from spikefa.export.nir_writer import integer_ties

    qnet, x = _tie_net(), torch.ones(12, 1, 1)
    ints = run_int(qnet, x)
    assert ints.mems[0][:, 0, 0].tolist() == [*range(1, 12), 1] and ints.out[:, 0, 0].tolist() == [0] * 10 + [1, 0]
    assert integer_ties(qnet, x) == 1  # t = 9: U = θ
    floats = run_float(dequantize(qnet), x).out[:, 0, 0].tolist()
    assert floats == [0] * 9 + [1, 0, 0]  # float32 fires at the tie
    EXPORTERS["nir"].write(qnet, tmp_path)
    v = EXPORTERS["nir"].verify(qnet, tmp_path, x)
    assert v.mismatches == 0 and v.ok and v.integer is not None
    assert v.integer["other"] == 0 and v.integer["ties"] > 0  # every disagreement with the chip is the tie's
    side = (tmp_path / "model.nir.json").read_text()
    assert "ties" in side and "U equals theta exactly" in side


# ---------------------------------------------------------------- a conv run directory through the CLI


def _conv_run_dir(tmp: Path) -> Path:
    """A run directory as `spikefa train` writes it for a small snn-lenet card (2 then 4 channels of
    3x3, 2x2 average pools) on 1x8x8 inputs; weights scaled up (x20) so that every layer spikes."""
    from spikefa.export.network import spiking_core
    from spikefa.runs import make_model
    from spikefa.schemas.run import RunConfig

    run, config = card_run_dir(tmp, "snn-lenet", "snn-lenet-tiny", {
        "channels = [12, 64]": "channels = [2, 4]", "kernel_size = 5": "kernel_size = 3", 'pool = "max"': 'pool = "avg"'})
    model = make_model(RunConfig.from_dict(config), (1, 8, 8), 3)
    with torch.no_grad():
        for m in spiking_core(model).modules():  # type: ignore[union-attr]
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(20.0)
    torch.save({"model": model.state_dict(), "input_shape": [1, 8, 8], "num_classes": 3}, run / "checkpoint.pt")
    return run


def test_the_cli_exports_a_conv_run_and_refuses_it_for_xylo(tmp_path: Path) -> None:
    require_every_verifier()
    from spikefa.export.network import from_run_dir

    from .test_check import _cli

    run = _conv_run_dir(tmp_path)
    net, meta = from_run_dir(run)
    assert net.input_shape == (1, 8, 8) and meta["input_shape"] == [1, 8, 8]
    code, err = _cli(["export", str(run), "--target", "xylo-audio2", "--out", str(tmp_path / "x")])
    assert code == 2 and "layer 0: conv2d is not supported; xylo-audio2 takes dense, flatten" in err
    out = tmp_path / "edge"
    assert _cli(["export", str(run), "--target", "int8-edge", "--out", str(out)]) == (0, "")
    import json

    summary = json.loads((out / "export.json").read_text())
    assert summary["ok"] and [r["kind"] for r in summary["report"]] == ["conv2d", "conv2d", "dense"]
    assert_every_verification_ran(summary["verification"])
    from spikefa.export.pipeline import verification_spikes

    golden = torch.load(out / "golden.pt")  # the verification's input and output spikes
    assert torch.equal(golden["spikes"].float(), verification_spikes(64))
    assert all(int(s.sum()) > 0 for s in run_int(quantize(net, profile("int8-edge")), verification_spikes(64)).spikes)


def test_scores_of_a_conv_output_layer_read_its_channel_units() -> None:
    """A network ending in a convolution: output_scores repeats each channel's unit over its positions,
    as dequantize does for the threshold."""
    from spikefa.export.simulate import output_scores

    net = _conv("avg-stride2")
    net.synapses = net.synapses[:2]
    net.neurons = net.neurons[:2]
    net.surrogates = net.surrogates[:2]
    qnet = quantize(net, profile("int8-edge"))
    rec = run_int(qnet, _x())
    unit = qnet.layers[-1].unit
    scores = output_scores(rec, unit)
    per_neuron = torch.stack([unit[n // 4] for n in range(16)])  # 4 channels of 2x2 positions
    want = rec.out.double().sum(0) + torch.sigmoid((rec.mem.double() * per_neuron).sum(0))
    assert qnet.layers[-1].size == 16 and scores.shape == (3, 16) and torch.equal(scores, want)
