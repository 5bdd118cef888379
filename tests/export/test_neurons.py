"""Per-neuron β and θ, and current-based neurons (snnTorch's Synaptic, NIR's CubaLIF), in export: the
integer step against an explicit loop in Python integers, the float semantics against snnTorch's own
neurons, per-neuron codes and thresholds against their definitions, the profiles' synaptic-current
constraint, and every writer spike for spike against its reference."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from spikefa.export.arith import encode_decay
from spikefa.export.check import check
from spikefa.export.network import read_layers
from spikefa.export.pipeline import export
from spikefa.export.quantize import QuantizedNet, quantize
from spikefa.export.simulate import float_layers, run_float, run_int
from spikefa.nn.spiking import SpikingNet

from .nets import assert_every_verification_ran, profile, require_every_verifier, spikes, tiny_conv_net, tiny_net

snn = pytest.importorskip("snntorch")


def synaptic_net(sizes: tuple[int, ...] = (10, 8, 4), *, alpha: float = 0.7, per_neuron: bool = True,
                 reset: str = "subtract", seed: int = 0, gain: float = 3.0) -> SpikingNet:
    """Linear + snnTorch Synaptic layers with seeded weights; per-neuron β and θ when asked."""
    gen = torch.Generator().manual_seed(seed)
    synapses, neurons = [], []
    for a, b in zip(sizes, sizes[1:]):
        lin = nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_((torch.rand(b, a, generator=gen) * 2 - 0.8) * gain / a**0.5)
            lin.bias.copy_((torch.rand(b, generator=gen) * 2 - 1) * 0.05)
        beta = 0.6 + 0.35 * torch.rand(b, generator=gen) if per_neuron else torch.tensor(0.85)
        theta = 0.8 + 0.6 * torch.rand(b, generator=gen) if per_neuron else torch.tensor(1.0)
        synapses.append(lin)
        neurons.append(snn.Synaptic(alpha=torch.tensor(alpha), beta=beta, threshold=theta, reset_mechanism=reset))
    return SpikingNet(synapses, neurons=neurons, dt=1.0)


# ---------------------------------------------------------------- an independent integer formulation


def _decay_int(u: int, kind: str, value: int, bits: int, rounding: str) -> int:
    """D(u) in Python integers (>> is a floor shift on negative ints)."""
    if kind == "none":
        return u
    if kind == "shift":
        return u - (u >> value)
    p = u * value
    if rounding == "toward-zero":
        return -((-p) >> bits) if p < 0 else p >> bits
    if rounding == "nearest":
        return (p + (1 << (bits - 1))) >> bits
    return p >> bits


def loop_reference(qnet: QuantizedNet, x: torch.Tensor) -> list[list[list[list[int]]]]:
    """Every layer's spikes [layer][t][b][neuron] of a dense quantised net, stepped neuron by neuron
    in Python ints: J ← sat(D_α(J) + Σ w·x << e + b); U ← sat(D_β(U) + J − r·θ) (or the zero
    reset); spike U > θ."""
    half = 2 ** (qnet.state_bits - 1)

    def sat(v: int) -> int:
        return max(-(half - 1), min(half - 1, v))

    h = x.reshape(x.shape[0], x.shape[1], -1).to(torch.int64).tolist()
    every = []
    for q in qnet.layers:
        w, bias, theta = q.weight.tolist(), q.bias.tolist(), q.threshold_neurons.tolist()
        values = q.decay_values.tolist() if q.decay_values is not None else [q.decay.value] * len(w)
        c = q.decay
        out = []
        n_b = len(h[0])
        u = [[0] * len(w) for _ in range(n_b)]
        j = [[0] * len(w) for _ in range(n_b)]
        for h_t in h:
            row_t = []
            for b in range(n_b):
                row = []
                for i in range(len(w)):
                    cur = sum(wi for wi, s in zip(w[i], h_t[b]) if s) * 2**q.weight_shift + bias[i]
                    if q.syn_decay is not None:
                        a = q.syn_decay
                        j[b][i] = sat(_decay_int(j[b][i], a.kind, a.value, a.bits, a.rounding) + cur)
                        cur = j[b][i]
                    fired = u[b][i] > theta[i]
                    d = _decay_int(u[b][i], c.kind, values[i], c.bits, c.rounding)
                    if q.reset == "zero":
                        v = (0 if fired else d) + cur
                    else:
                        v = d + cur - (theta[i] if fired and q.reset == "subtract" else 0)
                    u[b][i] = sat(v)
                    row.append(int(u[b][i] > theta[i]))
                row_t.append(row)
            out.append(row_t)
        every.append(out)
        h = out
    return every


@pytest.mark.parametrize("prof, reset", [("int8-edge", "subtract"), ("loihi2", "zero"), ("xylo-audio2", "subtract"),
                                         ("mcu-int8", "zero")])
@pytest.mark.parametrize("per_neuron", [True, False])
def test_integer_current_based_step_matches_an_explicit_int_loop(prof: str, reset: str, per_neuron: bool) -> None:
    net = synaptic_net(per_neuron=per_neuron, reset=reset, seed=1)
    qnet = quantize(net, profile(prof))
    assert all(q.current_based for q in qnet.layers) and qnet.layers[0].per_neuron_decay == per_neuron
    x = spikes(14, 3, 10, rate=0.4, seed=2)
    got = [s.tolist() for s in run_int(qnet, x).spikes]
    assert got == loop_reference(qnet, x)
    flat = torch.cat([torch.tensor(layer).flatten() for layer in got])
    assert 0 < int(flat.sum()) < flat.numel()  # spikes, not everywhere


def test_the_int_loop_would_see_a_missing_synaptic_current() -> None:
    """The reference is not blind: dropping the synaptic state (α ignored) changes the spikes."""
    net = synaptic_net(seed=1, alpha=0.9)
    qnet = quantize(net, profile("int8-edge"))
    plain = QuantizedNet(tuple(type(q)(**{**q.__dict__, "syn_decay": None}) for q in qnet.layers), qnet.profile,
                         qnet.bits, qnet.state_bits, qnet.overflow, qnet.report)
    x = spikes(14, 3, 10, rate=0.4, seed=2)
    assert [s.tolist() for s in run_int(plain, x).spikes] != loop_reference(qnet, x)


# ---------------------------------------------------------------- float semantics and the quantiser


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_float_layers_run_snntorchs_synaptic_and_per_neuron_leaky(reset: str) -> None:
    net = synaptic_net(reset=reset, seed=3).double()
    if reset == "zero":  # snnTorch's delayed zero reset also clears the new input; spikefa's (NIR's) does not
        for n in net.neurons:
            n.reset_delay = False
    x = spikes(20, 4, 10, rate=0.4, seed=4).double()
    layers, problems = read_layers(net)
    assert not problems and layers[0].lif.per_neuron and layers[0].lif.alpha == pytest.approx(0.7)
    want = net(x).spikes
    got = run_float(float_layers(layers, torch.float64), x).out
    assert want.sum() > 0 and torch.equal(got, want)


def test_per_neuron_codes_and_thresholds_follow_their_definitions() -> None:
    net = synaptic_net(seed=5)
    layers, _ = read_layers(net)
    for name in ("int8-edge", "loihi2", "xylo-audio2"):
        p = profile(name)
        n = p.neuron
        qnet = quantize(net, p)
        for layer, q in zip(layers, qnet.layers):
            want = [encode_decay(b, n.decay, n.decay_bits, n.decay_rounding, n.decay_shift_max).value
                    for b in layer.beta_neurons.tolist()]
            assert q.decay_values.tolist() == want
            assert len(set(want)) > 1 or n.decay == "shift"  # Xylo's shifts are coarse: β 0.6..0.95 may share k
            assert q.syn_decay == encode_decay(0.7, n.decay, n.decay_bits, n.decay_rounding, n.decay_shift_max)
            # θ_i in state units: within half a threshold step of θ_i / unit_i
            step = q.unit_neurons * 2**n.threshold_shift
            err = (q.threshold_neurons.double() * q.unit_neurons - layer.threshold_neurons).abs()
            assert bool((err <= step / 2 + 1e-12).all()) and q.threshold.numel() == q.size
            assert len(set(q.threshold.tolist())) > 1


def test_uniform_neurons_quantise_exactly_as_before() -> None:
    """One β and θ per layer: the per-neuron path is not taken (codes, thresholds per channel)."""
    qnet = quantize(tiny_net(), profile("int8-edge"))
    assert all(q.decay_values is None and q.syn_decay is None for q in qnet.layers)


def test_a_per_neuron_value_of_the_wrong_length_is_named() -> None:
    net = synaptic_net(seed=1)
    net.neurons[0].beta = torch.full((5,), 0.9)
    _, problems = read_layers(net)
    assert problems == ["layer 0: per-neuron β holds 5 values but the layer has 8 neurons; give one β per neuron "
                        "(C·H·W order) or one per layer"]


# ---------------------------------------------------------------- profiles


def test_profiles_that_run_one_state_per_neuron_list_current_based_layers() -> None:
    net = synaptic_net(per_neuron=False, seed=1)
    for name in ("loihi2", "int8-edge", "mcu-int8", "spinnaker2", "xylo-audio2"):
        assert not any("current-based" in v for v in check(net, profile(name))), name
    for name in ("akida", "speck", "ternary"):
        got = [v for v in check(net, profile(name)) if "current-based" in v]
        assert [v.split(":")[0] for v in got] == ["layer 0", "layer 1"], name
        assert f"{name} runs one state per neuron" in got[0]


# ---------------------------------------------------------------- every writer, spike for spike


@pytest.mark.parametrize("prof, reset", [("int8-edge", "subtract"), ("loihi2", "zero")])
def test_current_based_per_neuron_net_exports_with_parity(prof: str, reset: str, tmp_path: Path) -> None:
    require_every_verifier()
    net = synaptic_net(reset=reset, seed=6)
    x = spikes(16, 4, 10, rate=0.4, seed=7)
    summary = export(net, profile(prof), tmp_path, spikes=x)
    assert summary["ok"] and sorted(summary["verified"]) == ["c", "nir", "onnx"]
    assert_every_verification_ran(summary["verification"])
    assert run_int(quantize(net, profile(prof)), x).out.sum() > 0
    import nir

    graph = nir.read(str(tmp_path / "model.nir"))
    assert {type(graph.nodes[k]).__name__ for k in ("lif0", "lif1")} == {"CubaLIF"}
    assert len(set(graph.nodes["lif0"].tau_mem.tolist())) > 1  # per-neuron τ held natively


def test_nir_cubalif_reads_back_to_the_dequantised_network(tmp_path: Path) -> None:
    """The writer's CubaLIF (τ_syn = dt/(1 − α̂), w_in = τ_syn/dt) and the importer are inverses."""
    pytest.importorskip("nir")
    from spikefa.export.nir_import import from_nir
    from spikefa.export.simulate import dequantize

    net = synaptic_net(seed=8)
    export(net, profile("int8-edge"), tmp_path, formats=["nir"], verify=False)
    back = from_nir(tmp_path / "model.nir", dt=1e-3, reset="subtract", dtype=torch.float64)
    assert all(type(n).__name__ == "Synaptic" for n in back.neurons)
    x = spikes(20, 4, 10, rate=0.4, seed=9).double()
    want = run_float(dequantize(quantize(net, profile("int8-edge")), torch.float64), x).out
    with torch.no_grad():
        got = back(x).spikes
    assert want.sum() > 0 and (got != want).sum() <= 2  # float32 τ: at most a tie or two apart


def test_per_neuron_beta_and_theta_in_a_conv_net_export_with_parity(tmp_path: Path) -> None:
    """θ that differs within a conv channel: thresholds per neuron in state units, every writer."""
    require_every_verifier()
    net = tiny_conv_net("sum", gain=3.0, seed=2)
    gen = torch.Generator().manual_seed(3)
    shape = (2, 4, 4)  # the first layer's neurons: 2 channels, 8x8 summed over 2x2
    net.neurons[0].beta = 0.7 + 0.25 * torch.rand(shape, generator=gen)
    net.neurons[0].threshold = 0.6 + 0.8 * torch.rand(shape, generator=gen)
    layers, problems = read_layers(net)
    assert not problems and layers[0].size == 32
    x = spikes(12, 3, 64, rate=0.4, seed=4)
    with torch.no_grad():
        want = net(x.reshape(12, 3, 1, 8, 8)).spikes
    assert torch.equal(run_float(float_layers(layers), x).out, want)  # the reader holds the per-neuron values
    qnet = quantize(net, profile("int8-edge"))
    assert qnet.layers[0].threshold.numel() == 32 and qnet.layers[0].decay_values.numel() == 32
    summary = export(net, profile("int8-edge"), tmp_path, spikes=x)
    assert summary["ok"]
    assert_every_verification_ran(summary["verification"])
    assert run_int(qnet, x).spikes[0].sum() > 0


def test_a_low_bit_state_saturates_the_synaptic_current_as_the_int_loop_does(tmp_path: Path) -> None:
    """6-bit state (shared scale with the weights): J and U both saturate at ±31; ONNX and C agree."""
    from spikefa.export.writers import EXPORTERS

    net = synaptic_net(seed=10, gain=6.0)
    qnet = quantize(net, profile("int8-edge"), state_bits=6)
    x = spikes(14, 3, 10, rate=0.5, seed=11)
    got = [s.tolist() for s in run_int(qnet, x).spikes]
    assert got == loop_reference(qnet, x) and qnet.state_bits == 6
    assert max(int(m.max()) for m in run_int(qnet, x).mems) == 31  # the state does saturate here
    require_every_verifier()
    for fmt in ("onnx", "c"):
        EXPORTERS[fmt].write(qnet, tmp_path)
        v = EXPORTERS[fmt].verify(qnet, tmp_path, x)
        assert v.ok and v.total > 0, v


def test_a_current_based_conv_net_exports_with_parity(tmp_path: Path) -> None:
    """Synaptic neurons after a convolution and pools: the synaptic current per neuron C·H·W, every writer."""
    require_every_verifier()
    base = tiny_conv_net("avg", spike_pool="sum", gain=3.0, seed=4)
    net = SpikingNet(list(base.synapses), neurons=[snn.Synaptic(alpha=0.6, beta=0.85) for _ in base.synapses])
    net.input_shape = base.input_shape
    x = spikes(12, 3, 64, rate=0.4, seed=5)
    layers, problems = read_layers(net)
    assert not problems and all(l.current_based for l in layers)
    with torch.no_grad():
        want = net(x.reshape(12, 3, 1, 8, 8)).spikes
    assert want.sum() > 0 and torch.equal(run_float(float_layers(layers), x).out, want)
    summary = export(net, profile("int8-edge"), tmp_path, spikes=x)
    assert summary["ok"] and sorted(summary["verified"]) == ["c", "nir", "onnx"]
    assert_every_verification_ran(summary["verification"])
    assert all(s.sum() > 0 for s in run_int(quantize(net, profile("int8-edge")), x).spikes)
