"""The quantiser and the simulators: float runner vs SpikingNet, integer simulator vs a plain-Python
reference, scale invariance (weights, bias, threshold and state together), the per-layer report."""

from __future__ import annotations

import math

import pytest
import torch

from spikefa.export.check import ExportRefused
from spikefa.export.network import dense_layers
from spikefa.export.quantize import QuantizedNet, quantize, report_table
from spikefa.export.simulate import dequantize, float_layers, run_float, run_int

from .nets import profile, spikes, tiny_net, variant


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_float_runner_is_the_spiking_net(reset: str) -> None:
    net = tiny_net(reset=reset)
    x = spikes(15, 3, 20).reshape(15, 3, 1, 4, 5)
    with torch.no_grad():
        want = net(x)
    got = run_float(float_layers(dense_layers(net)[0]), x)
    assert torch.equal(got.out, want.spikes) and torch.allclose(got.mem, want.mem, atol=1e-6)
    assert want.spikes.sum() > 0


def reference(qnet: QuantizedNet, x: torch.Tensor) -> list[list[list[list[int]]]]:
    """Plain-Python integers, written from the arith docstring, not from the torch code."""
    half = 2 ** (qnet.state_bits - 1)
    h = x.reshape(x.shape[0], x.shape[1], -1).to(torch.int64).tolist()
    for q in qnet.layers:
        w, e, bias, th = q.weight.tolist(), q.weight_shift, q.bias.tolist(), q.threshold.tolist()
        c = q.decay
        out = []
        states = [[0] * len(w) for _ in h[0]]
        for x_t in h:
            row_out = []
            for b, xb in enumerate(x_t):
                s_b = []
                for i, wi in enumerate(w):
                    u = states[b][i]
                    cur = sum(wij << e for wij, xj in zip(wi, xb) if xj) + bias[i]
                    if c.kind == "multiplier":
                        p, d = u * c.value, 2**c.bits
                        dec = {"floor": p // d, "toward-zero": (1 if p >= 0 else -1) * (abs(p) // d),
                               "nearest": (p + d // 2) // d}[c.rounding]
                    elif c.kind == "shift":
                        dec = u - (u >> c.value)  # Python's >> floors
                    else:
                        dec = u
                    fired = u > th[i]
                    v = dec + cur - th[i] if (fired and q.reset == "subtract") else (cur if fired and q.reset == "zero" else dec + cur)
                    if qnet.overflow == "wrap":
                        v = (v + half) % (2 * half) - half
                    else:
                        v = max(-(half - 1), min(half - 1, v))
                    states[b][i] = v
                    s_b.append(int(v > th[i]))
                row_out.append(s_b)
            out.append(row_out)
        h = out
    return h


VARIANTS = {
    "loihi2": {},
    "xylo-shift": {"base": "xylo-audio2"},
    "floor-10bit-saturate": {"base": "int8-edge", "neuron": {"state_bits": 12, "threshold_bits": 12}},
    "nearest-wrap": {"base": "int8-edge", "neuron": {"state_bits": 12, "threshold_bits": 12, "overflow": "wrap",
                                                     "decay_rounding": "nearest"}},
    "toward-zero-4bit": {"base": "loihi2", "weights": {"bits": 4}},
}


def _variant(name: str):  # type: ignore[no-untyped-def]
    spec = dict(VARIANTS[name])
    base = spec.pop("base", name)
    return variant(base, **spec)


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_integer_simulator_matches_plain_python(name: str, reset: str) -> None:
    net = tiny_net((12, 7, 4), reset=reset, gain=6.0)
    x = spikes(10, 2, 12, rate=0.4)
    qnet = quantize(net, _variant(name))
    rec = run_int(qnet, x)
    assert rec.out.tolist() == reference(qnet, x)
    assert any(int(s.sum()) for s in rec.spikes)


def test_negative_states_and_saturation_are_exercised() -> None:
    net = tiny_net((12, 7, 4), gain=12.0)
    qnet = quantize(net, _variant("floor-10bit-saturate"))
    rec = run_int(qnet, spikes(10, 2, 12, rate=0.5))
    top = 2 ** (qnet.state_bits - 1) - 1
    assert int(rec.mem.min()) < 0 and int(rec.mem.abs().max()) <= top


def test_weights_bias_threshold_and_state_scale_together() -> None:
    net, scaled = tiny_net(), tiny_net()
    c = 7.5
    with torch.no_grad():
        for syn in scaled.synapses:
            lin = syn[-1] if isinstance(syn, torch.nn.Sequential) else syn
            lin.weight.mul_(c)
            lin.bias.mul_(c)
    x = spikes(12, 3, 20)
    layers = dense_layers(scaled)[0]
    only_weights = float_layers(layers)
    together = [type(f)(f.weight, f.bias, f.threshold * c, f.beta, f.reset) for f in only_weights]
    base = run_float(float_layers(dense_layers(net)[0]), x).out
    assert torch.equal(run_float(together, x).out, base)
    assert not torch.equal(run_float(only_weights, x).out, base)  # scaling only the weights changes the net
    from spikefa.export.network import DenseLayer
    from spikefa.functional.lif import LIFParams

    lifted = [DenseLayer(l.weight, l.bias, True, LIFParams(l.lif.beta, c, l.lif.reset, l.lif.dt)) for l in layers]
    a, b = quantize(net, profile("int8-edge")), quantize(lifted, profile("int8-edge"))
    for qa, qb in zip(a.layers, b.layers):
        assert torch.equal(qa.weight, qb.weight) and torch.equal(qa.threshold, qb.threshold)
        assert torch.allclose(qb.unit, qa.unit * c)


@pytest.mark.parametrize("name", ["int8-edge", "loihi2", "mcu-int8", "spinnaker2", "ternary", "xylo-audio2"])
def test_quantized_values_fit_the_profile(name: str) -> None:
    p = profile(name)
    qnet = quantize(tiny_net(), p)
    lo, hi = p.weights.levels()
    for q, r in zip(qnet.layers, qnet.report):
        assert int(q.weight.min()) >= lo and int(q.weight.max()) <= hi
        assert p.weights.exponent[0] <= q.weight_shift <= p.weights.exponent[1]
        mant = q.threshold >> p.neuron.threshold_shift
        assert bool((mant >= 1).all()) and int(mant.max()) <= p.neuron.threshold_max
        assert torch.equal(mant << p.neuron.threshold_shift, q.threshold)
        if p.weights.scale != "power-of-two":
            assert r.threshold_rel_error < 1e-12  # the scale is nudged so that θ/s is an integer
    assert "| layer |" in report_table(qnet)


def test_int8_is_close_to_float_and_the_report_measures_the_cost() -> None:
    net = tiny_net((30, 24, 6), gain=4.0)
    with torch.no_grad():
        net.synapses[0][1].weight[0, 0] = 5.0  # an outlier: 4-bit MSE clipping sacrifices it
    x = spikes(20, 8, 30)
    flt = run_float(float_layers(dense_layers(net)[0]), x).out
    q8 = quantize(net, profile("int8-edge"))
    agree = float((run_int(q8, x).out == flt).double().mean())
    assert agree > 0.97 and q8.report[0].weight_clipped == 0.0
    q4 = quantize(net, profile("int8-edge"), bits=4)
    assert q4.report[0].weight_clipped > 0 and q4.report[0].weight_rel_error > q8.report[0].weight_rel_error
    xylo = quantize(net, profile("xylo-audio2")).report[0]
    beta = float(torch.tensor(0.9))  # the β the network runs: snnTorch's Leaky holds it in float32
    assert xylo.beta_hat == 0.875 and math.isclose(xylo.tau_rel_error, math.log(beta) / math.log(0.875) - 1)
    assert torch.allclose(dequantize(q8)[0].threshold, torch.ones(24))


def test_unreadable_synapses_are_refused_not_dropped() -> None:
    """What the reader cannot take (a conv without the input shape, an unknown module) is refused by
    layer; convolutions themselves are read (tests/export/test_conv.py)."""
    from torch import nn

    from spikefa.schemas.neuron import LIFParams
    from spikefa.nn.spiking import SpikingNet

    spec = LIFParams(beta=0.9, threshold=1.0, reset="subtract", dt=1.0, surrogate="atan")
    net = SpikingNet([nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2)),
                      nn.Sequential(nn.Flatten(), nn.Linear(8, 3)), nn.Sequential(nn.Linear(3, 3), nn.ReLU())], spec)
    with pytest.raises(ExportRefused, match="layer 0: a convolution or pool needs the input shape") as err:
        quantize(net, profile("int8-edge"))
    assert "layer 2: ReLU is not supported by spikefa export" in str(err.value)
    with pytest.raises(ExportRefused) as err:
        quantize(net, profile("int8-edge"), input_shape=(1, 4, 4))
    assert err.value.violations == ["layer 2: ReLU is not supported by spikefa export; it takes Linear, Conv2d, "
                                    "AvgPool2d, MaxPool2d, LPPool2d(1, k) (sum pool), Flatten, Dropout, Identity"]
