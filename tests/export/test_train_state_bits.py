"""``spikefa train --qat PROFILE --state-bits B``: the run stores the membrane width, resumes with
it, and the model rebuilt from the run directory runs its forward pass on the B-bit grid that
`spikefa.export.quantize` gives (checked against the integer simulator, step by step)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefa.catalog import find_card
from spikefa.cli import main
from spikefa.errors import SpikefaError
from spikefa.export.network import spiking_core
from spikefa.export.qat import StateQuant, qat_transform_for
from spikefa.export.quantize import quantize
from spikefa.export.simulate import run_int
from spikefa.runs.model import load_run
from spikefa.schemas.run import RunConfig

from .nets import profile, spikes


def _card(tmp: Path, hidden: int = 16) -> Path:
    text = find_card("snn-1x800-lif").read_text().replace("hidden = [800]", f"hidden = [{hidden}]")
    text = text.replace('name = "snn-1x800-lif"', 'name = "snn-tiny"').replace("time_steps = 25", "time_steps = 6")
    path = tmp / "snn-tiny.toml"
    path.write_text(text)
    return path


def _train(tmp: Path, *extra: str) -> tuple[int, Path]:
    run = tmp / "run"
    code = main(["train", "--model", str(_card(tmp)), "--rule", "bp", "--dataset", "digits", "--epochs", "1",
                 "--limit-train", "48", "--batch-size", "16", "--align-every", "0", "--no-progress", "--out", str(run),
                 *extra])
    return code, run


def test_train_with_a_low_bit_state_stores_it_resumes_and_runs_on_its_grid(tmp_path: Path) -> None:
    code, run = _train(tmp_path, "--qat", "int8-edge", "--state-bits", "6")
    assert code == 0
    stored = json.loads((run / "config.json").read_text())
    assert stored["qat"] == "int8-edge" and stored["state_bits"] == 6
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress"]) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=False)["epoch"] == 2
    assert json.loads((run / "config.json").read_text())["state_bits"] == 6  # resume kept it

    loaded = load_run(run, qat_transform_for)
    net = spiking_core(loaded.model)
    assert all(isinstance(n.state_quant, StateQuant) and n.state_quant.top == 31 for n in net.neurons)
    qnet = quantize(net, profile("int8-edge"), state_bits=6)
    assert qnet.state_bits == 6
    x = spikes(10, 8, 64, rate=0.5, seed=3)
    with torch.no_grad():
        mem = net(x.reshape(10, 8, 1, 8, 8)).mem.double()  # the output layer's membrane, real units
    units = mem / qnet.layers[-1].unit.double()
    assert torch.allclose(units, units.round(), atol=1e-3)  # every step lands on the 6-bit grid...
    assert int(units.round().abs().max()) <= 31  # ...and saturates at ±(2^5 − 1) units
    ref = run_int(qnet, x)
    agree = (units.round().to(torch.int64) == ref.mems[-1]).double().mean()
    assert float(agree) >= 0.99 and int(ref.mems[-1].abs().max()) > 0  # the integer simulator's membrane


def test_runs_without_state_bits_load_with_the_profiles_width() -> None:
    old = {"model": "snn-1x800-lif", "rule": "bp", "dataset": "digits", "qat": "int8-edge:4"}
    config = RunConfig.from_dict(old)  # a config.json written before the field
    assert config.state_bits is None
    net_full = _tiny_qat(config)
    assert all(n.state_quant.top == 2**31 - 1 for n in net_full.neurons)  # int8-edge's 32-bit state
    net_4 = _tiny_qat(RunConfig.from_dict({**old, "state_bits": 5}))
    assert all(n.state_quant.top == 15 for n in net_4.neurons)


def _tiny_qat(config: RunConfig) -> torch.nn.Module:
    from .nets import tiny_net

    net = tiny_net()
    transform = qat_transform_for(config)
    assert transform is not None
    transform(net)
    return net


def test_state_bits_are_refused_without_qat_and_beyond_the_profile(tmp_path: Path) -> None:
    with pytest.raises(SpikefaError, match="state_bits = 4 is not allowed; expected nothing without qat"):
        RunConfig(model="m", rule="bp", dataset="digits", state_bits=4)
    with pytest.raises(SpikefaError, match="state_bits = 2 is not allowed; expected an integer >= 3"):
        RunConfig(model="m", rule="bp", dataset="digits", qat="int8-edge", state_bits=2)
    with pytest.raises(SpikefaError, match="state_bits = 40 is not allowed for profile 'int8-edge'"):
        qat_transform_for(RunConfig(model="m", rule="bp", dataset="digits", qat="int8-edge", state_bits=40))
    code, run = _train(tmp_path, "--qat", "loihi2", "--state-bits", "4")
    assert code == 2 and not (run / "config.json").exists()  # refused before anything is written


def test_a_four_bit_state_moves_the_threshold_onto_the_weights_grid_and_learns(tmp_path: Path) -> None:
    """4 state bits with the card's θ = 1 put the weight step at θ/4 = 0.25, above every initial weight
    of the tiny card (|w| < 1/8): the network used to start silent (chance on snn-1x800-lif, so it was
    refused). The threshold now follows the weights: θ_l = 4·max|W_l|, every weight starts at −1, 0
    or +1 units, and the run trains, stores θ_l in its checkpoint and exports 4-unit thresholds."""
    code, run = _train(tmp_path, "--qat", "int8-edge", "--state-bits", "4")
    assert code == 0
    net = spiking_core(load_run(run, qat_transform_for).model)
    qnet = quantize(net, profile("int8-edge"), state_bits=4)
    thetas = [float(n.threshold) for n in net.neurons]
    weights = torch.load(run / "checkpoint.pt", weights_only=False)["model"]
    stored = [float(v) for k, v in weights.items() if k.endswith("neurons.0.threshold") or k.endswith("neurons.1.threshold")]
    assert stored == thetas and thetas[0] < 0.6  # moved from the card's 1.0, and in the checkpoint
    for theta, layer in zip(thetas, qnet.layers):
        assert int(layer.threshold.max()) <= 4 and int(layer.threshold.min()) >= 1
        assert abs(float(layer.threshold[0]) * float(layer.unit[0]) - theta) < 1e-6 * max(theta, 1.0)
    x = spikes(6, 8, 64, rate=0.3, seed=3)
    assert all(int(s.sum()) > 0 for s in run_int(qnet, x).spikes)  # the trained 4-bit network is not silent


def test_four_bit_state_qat_starts_ternary_on_every_layer() -> None:
    from spikefa.export.qat import prepare_qat

    from .nets import tiny_net

    net = prepare_qat(tiny_net((20, 16, 5), gain=0.5), profile("int8-edge"), 8, state_bits=4)
    lins = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    for lin, neuron in zip(lins, net.neurons):
        raw = lin.parametrizations.weight.original.detach()
        unit = float(raw.abs().max())
        assert float(neuron.threshold) == pytest.approx(4 * unit)
        units = lin.weight.detach() / unit
        assert torch.allclose(units, units.round(), atol=1e-5) and set(units.round().unique().tolist()) == {-1.0, 0.0, 1.0}
        assert 0.2 < float((units != 0).double().mean()) < 0.8
    from spikefa.functional.lif import atan_grad

    x = torch.linspace(-0.5, 0.5, 41, dtype=torch.float64)
    for neuron, derivative in zip(net.neurons, net.surrogates):  # rescaled by c = 1/θ_l with the network
        c = 1.0 / float(neuron.threshold)
        assert torch.allclose(derivative(x), c * atan_grad(c * x, 2.0))
        u = x.clone().requires_grad_(True)
        neuron.spike_grad(u).sum().backward()  # what BPTT differentiates
        assert torch.allclose(u.grad, c * atan_grad(c * x, 2.0), rtol=1e-5)
    hidden = run_int(quantize(net, profile("int8-edge"), 8, state_bits=4), spikes(8, 4, 20, rate=0.3)).spikes[0]
    assert int(hidden.sum()) > 0  # not silent
    thetas = [float(n.threshold) for n in net.neurons]
    with torch.no_grad():  # master weights far beyond what the state holds: the grid must not move
        for lin in lins:
            lin.parametrizations.weight.original.mul_(20.0)
    for lin, theta in zip(lins, thetas):
        units = lin.weight.detach() / (theta / 4)
        assert float(units.abs().max()) == pytest.approx(7.0) and torch.allclose(units, units.round(), atol=1e-5)
    assert all(q.threshold.tolist() == [4] * q.channels for q in quantize(net, profile("int8-edge"), 8, state_bits=4).layers)

def test_a_state_wide_enough_for_the_weights_keeps_the_cards_threshold() -> None:
    """8 state bits put the weight step at θ/64: most weights of this net are non-zero on it, so the
    card's θ stays, and so does its surrogate."""
    from spikefa.export.qat import prepare_qat

    from .nets import tiny_net

    net = prepare_qat(tiny_net((20, 16, 5), gain=1.0), profile("int8-edge"), 8, state_bits=8)
    assert [float(n.threshold) for n in net.neurons] == [1.0, 1.0]
    assert all(d.keywords == {"alpha": 2.0} for d in net.surrogates)
