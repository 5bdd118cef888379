"""``spikefa train --init-from RUN``: a run starts from another run's trained weights (QAT after
float training), the same network only, refused in one line otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefa.catalog import find_card
from spikefa.cli import main
from spikefa.errors import SpikefaError
from spikefa.export.network import spiking_core
from spikefa.export.qat import master_weight, qat_transform_for
from spikefa.runs.model import init_weights, load_run, resolve_config


def _card(tmp: Path, hidden: int = 16) -> Path:
    text = find_card("snn-1x800-lif").read_text().replace("hidden = [800]", f"hidden = [{hidden}]")
    text = text.replace('name = "snn-1x800-lif"', f'name = "snn-tiny-{hidden}"').replace("time_steps = 25", "time_steps = 6")
    path = tmp / f"snn-tiny-{hidden}.toml"
    path.write_text(text)
    return path


def _train(tmp: Path, out: str, *extra: str, hidden: int = 16) -> Path:
    run = tmp / out
    code = main(["train", "--model", str(_card(tmp, hidden)), "--rule", "bp", "--dataset", "digits", "--epochs", "1",
                 "--limit-train", "32", "--batch-size", "16", "--align-every", "0", "--no-progress", "--out", str(run),
                 *extra])
    assert code == 0
    return run


def _weights(run: Path, transform: bool = False) -> list[torch.Tensor]:
    net = spiking_core(load_run(run, qat_transform_for if transform else None).model)
    return [master_weight(m).detach().clone() for m in net.modules() if isinstance(m, torch.nn.Linear)]


def test_a_run_starts_from_the_float_runs_weights_and_records_where(tmp_path: Path) -> None:
    src = _train(tmp_path, "float")
    config = resolve_config(str(_card(tmp_path)), "bp", "digits", init_from=str(src), seed=5)
    start = init_weights(config)
    trained = _weights(src)
    assert torch.equal(start["net.synapses.0.1.weight"], trained[0])  # what the float run ended with
    # a seed that draws other weights: the fine-tuned run still starts from the float run's
    run = _train(tmp_path, "qat", "--qat", "int8-edge:4", "--state-bits", "4", "--init-from", str(src), "--seed", "5",
                 "--lr", "1e-12")
    assert json.loads((run / "config.json").read_text())["init_from"] == str(src)
    after = _weights(run, transform=True)
    for w0, w1 in zip(trained, after):
        assert torch.allclose(w0, w1, atol=1e-9)  # an lr of 1e-12 leaves the start where it was
    fresh = _train(tmp_path, "fresh", "--qat", "int8-edge:4", "--state-bits", "4", "--seed", "5", "--lr", "1e-12")
    assert not torch.allclose(_weights(fresh, transform=True)[0], trained[0])  # without it: the seed's draw


def test_init_from_refuses_another_network_a_qat_run_and_a_missing_checkpoint(tmp_path: Path) -> None:
    src = _train(tmp_path, "float")
    other = resolve_config(str(_card(tmp_path, hidden=12)), "bp", "digits", init_from=str(src))
    with pytest.raises(SpikefaError, match=r"\[architecture\] differs"):
        init_weights(other)
    qat = _train(tmp_path, "qat", "--qat", "int8-edge")
    with pytest.raises(SpikefaError, match="needs the same --qat and --state-bits"):
        init_weights(resolve_config(str(_card(tmp_path)), "bp", "digits", init_from=str(qat)))
    with pytest.raises(SpikefaError, match="needs the same --qat and --state-bits"):
        init_weights(resolve_config(str(_card(tmp_path)), "bp", "digits", init_from=str(qat), qat="int8-edge",
                                    state_bits=6))
    (src / "checkpoint.pt").unlink()
    with pytest.raises(SpikefaError, match="no checkpoint here"):
        init_weights(resolve_config(str(_card(tmp_path)), "bp", "digits", init_from=str(src)))
    code = main(["train", "--model", str(_card(tmp_path)), "--rule", "bp", "--dataset", "digits", "--epochs", "1",
                 "--limit-train", "16", "--no-progress", "--init-from", str(tmp_path / "nowhere"),
                 "--out", str(tmp_path / "x")])
    assert code == 2


def test_a_fine_tuned_low_bit_run_rebuilds_on_the_grid_it_trained_on(tmp_path: Path) -> None:
    """The threshold QAT places from the float run's weights is in the checkpoint; a rebuild (export,
    resume) places one from the seed's fresh weights first, and its grid must follow the loaded θ_l
    (it used to keep the fresh one: the export of such a run scored 28 % where training scored 95 %)."""
    from spikefa.export.profile import load_profile
    from spikefa.export.quantize import quantize
    from spikefa.export.simulate import run_int

    src = _train(tmp_path, "float")
    run = _train(tmp_path, "qat", "--qat", "int8-edge:4", "--state-bits", "4", "--init-from", str(src), "--seed", "3")
    net = spiking_core(load_run(run, qat_transform_for).model)
    qnet = quantize(net, load_profile("int8-edge").with_bits(4), state_bits=4)
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(6, 5, 64, generator=gen) < 0.4).double()
    with torch.no_grad():
        mem = net(x.float().reshape(6, 5, 1, 8, 8)).mem.double()
    grids = [m.parametrizations.weight[0].grid for m in net.modules() if isinstance(m, torch.nn.Linear)]
    for grid, layer, neuron in zip(grids, qnet.layers, net.neurons):
        assert grid.theta == float(neuron.threshold)  # the loaded θ_l, not the fresh build's
        assert torch.allclose(grid.unit.double(), layer.unit.double())
    units = mem / qnet.layers[-1].unit.double()
    assert torch.equal(units.round().to(torch.int64), run_int(qnet, x).mems[-1])


def test_a_relative_init_from_is_stored_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a resume or export from another folder still finds the source run
    config = resolve_config(str(_card(tmp_path)), "bp", "digits", init_from="runs/float")
    assert config.init_from == str(tmp_path / "runs" / "float")
