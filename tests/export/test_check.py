"""The constraint checker lists every violation; the CLI refuses with all of them and exit code 2;
``from_run_dir`` rebuilds a run; ``spikefa export`` writes and verifies every artefact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefa.catalog import find_card, load_card
from spikefa.errors import SpikefaError
from spikefa.export.check import ExportRefused, check
from spikefa.export.network import from_run_dir, spiking_core
from spikefa.schemas.run import RunConfig
from spikefa.runs import make_model

from .nets import assert_every_verification_ran, export_cli, profile, require_every_verifier, spikes, tiny_net


def test_every_violation_is_listed() -> None:
    net = tiny_net((784, 800, 10), gain=1.0)
    xylo = check(net, profile("xylo-audio2"))
    assert xylo == ["network: 784 inputs > xylo-audio2's 16", "network: 10 output neurons > xylo-audio2's 8"]
    speck = check(net, profile("speck"), bits=6)
    assert speck[0].startswith("weights: 6-bit weights are not offered")
    assert sum("neuron model 'lif'" in v for v in speck) == 2
    assert any("layer 0: 627200 synapses > speck's 65536 per layer" in v for v in speck)
    zero = tiny_net(reset="zero")
    assert any("reset 'zero' is not supported" in v for v in check(zero, profile("xylo-audio2")))
    assert check(tiny_net(), profile("loihi2")) == []


_cli = export_cli


def _run_dir(tmp: Path, net_sizes: tuple[int, ...] = (6, 8, 4)) -> Path:
    """A run directory as `spikefa train` writes it: a tiny spiking card, config.json, checkpoint.pt."""
    card = find_card("snn-1x800-lif").read_text().replace("hidden = [800]", f"hidden = {list(net_sizes[1:-1])}")
    card_path = tmp / "snn-tiny.toml"
    card_path.write_text(card.replace('name = "snn-1x800-lif"', 'name = "snn-tiny"'))
    run = tmp / "run"
    run.mkdir()
    config = {"model": str(card_path), "rule": "bp", "dataset": "digits", "standardize": False,
              "card": load_card(card_path).mapping}  # the run keeps its card
    (run / "config.json").write_text(json.dumps(config))
    shape = (1, 1, net_sizes[0])
    model = make_model(RunConfig.from_dict(config), shape, net_sizes[-1])
    spiking_core(model).load_state_dict(tiny_net(net_sizes, gain=4.0).state_dict())  # type: ignore[union-attr]
    torch.save({"model": model.state_dict(), "input_shape": list(shape), "num_classes": net_sizes[-1]},
               run / "checkpoint.pt")
    return run


def test_from_run_dir_rebuilds_the_network(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    net, meta = from_run_dir(run)
    x = spikes(6, 2, 6).reshape(6, 2, 1, 2, 3)
    with torch.no_grad():
        assert torch.equal(net(x).spikes, tiny_net((6, 8, 4), gain=4.0)(x).spikes)
    assert meta["model"].endswith("snn-tiny.toml") and meta["num_classes"] == 4
    with pytest.raises(SpikefaError, match="no config.json"):
        from_run_dir(tmp_path)


def test_cli_refuses_with_the_full_list_and_exit_2(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, (20, 30, 10))
    code, err = _cli(["export", str(run), "--target", "xylo-audio2", "--out", str(tmp_path / "x")])
    assert code == 2 and "\n" not in err
    assert "2 violations: network: 20 inputs > xylo-audio2's 16; network: 10 output neurons > xylo-audio2's 8" in err
    assert not (tmp_path / "x").exists()
    code, err = _cli(["export", str(run), "--target", "nowhere", "--out", str(tmp_path / "x")])
    assert code == 2 and "unknown hardware profile 'nowhere'" in err
    assert _cli(["export", str(run), "--out", "o"])[0] == 2


def test_cli_exports_and_verifies_every_artefact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_every_verifier()
    run = _run_dir(tmp_path)
    out = tmp_path / "edge"
    code, err = _cli(["export", str(run), "--target", "int8-edge", "--out", str(out)])
    assert (code, err) == (0, "")
    summary = json.loads((out / "export.json").read_text())
    assert summary["ok"] and {v["format"] for v in summary["verification"]} == {"onnx", "nir", "c"}
    assert_every_verification_ran(summary["verification"])
    for name in ("model.onnx", "model.nir", "model.nir.json", "spikefa_model.h", "spikefa_main.c", "report.md"):
        assert (out / name).is_file()
    assert "onnx: agrees with the integer simulator" in capsys.readouterr().out


def test_export_refused_is_a_spikefa_error() -> None:
    err = ExportRefused("t", ["a", "b"])
    assert isinstance(err, SpikefaError) and str(err) == "cannot export to 't': 2 violations: a; b"


def test_cli_sweep_on_the_bundled_digits(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, (64, 12, 10))  # digits: 8x8 inputs, 10 classes, no files to fetch
    code, err = _cli(["export", "sweep", str(run), "--targets", "int8-edge,xylo-audio2", "--bits", "8,4",
                      "--out", str(tmp_path / "sweep"), "--limit", "60"])
    assert (code, err) == (0, "")
    table = (tmp_path / "sweep" / "sweep.md").read_text()
    assert "| int8-edge | 8 |" in table and "refused: network: 64 inputs > xylo-audio2's 16" in table
    assert (tmp_path / "sweep" / "sweep.png").stat().st_size > 0
    assert _cli(["export", "sweep", str(run), "--bits", "8,x", "--targets", "loihi2", "--out", "o"])[0] == 2
    code, err = _cli(["export", "sweep", str(run), "--bits", "8,,4", "--targets", "loihi2", "--out", "o"])
    assert code == 2 and "--bits '8,,4' has an empty item" in err
    before = table
    code, err = _cli(["export", "sweep", str(run), "--targets", "int8-edge", "--bits", "4", "--out", str(tmp_path / "sweep")])
    assert code == 2 and "already holds a sweep (sweep.json); give --force" in err
    assert (tmp_path / "sweep" / "sweep.md").read_text() == before  # the earlier sweep is kept
    code, err = _cli(["export", "sweep", str(run), "--targets", "int8-edge", "--bits", "4", "--out", str(tmp_path / "sweep"),
                      "--limit", "60", "--force"])
    assert (code, err) == (0, "") and "| int8-edge | 8 |" not in (tmp_path / "sweep" / "sweep.md").read_text()
    code, err = _cli(["export", "sweep", str(run), "--targets", "xylo-audio2", "--bits", "8", "--out", str(tmp_path / "none"),
                      "--limit", "60"])
    assert code == 1 and "refused: network" in (tmp_path / "none" / "sweep.md").read_text()  # a script must not read success
    code, err = _cli(["export", "sweep", str(run), "--targets", "int8-edge,", "--out", str(tmp_path / "e")])
    assert code == 2 and "--targets 'int8-edge,' has an empty item" in err
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "dataset": "nmnist"}))  # the registry's kind decides
    code, err = _cli(["export", "sweep", str(run), "--targets", "int8-edge", "--out", str(tmp_path / "ev")])
    assert code == 2 and "dataset 'nmnist' holds events" in err and "\n" not in err.strip()


def test_a_synaptic_network_is_read_and_refused_only_where_the_profile_has_no_current_state() -> None:
    snn = pytest.importorskip("snntorch")
    from spikefa.export.network import dense_layers
    from spikefa.nn.spiking import SpikingNet

    net = SpikingNet([torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)), torch.nn.Linear(3, 2)],
                     neurons=[snn.Synaptic(alpha=0.5, beta=0.9), snn.Leaky(beta=0.9)])
    layers, problems = dense_layers(net)
    assert not problems and [l.current_based for l in layers] == [True, False] and layers[0].lif.alpha == 0.5
    current = [v for v in check(net, profile("ternary")) if "current-based" in v]
    assert len(current) == 1 and current[0].startswith("layer 0: current-based neurons (a synaptic current state, "
                                                       "alpha 0.5: snnTorch's Synaptic")
    assert not [v for v in check(net, profile("int8-edge")) if "current-based" in v]


def test_a_run_reads_its_stored_card_not_the_file(tmp_path: Path) -> None:
    """Export rebuilds from the card stored in config.json: deleting or changing the card file later
    changes nothing; a run directory from before stored cards reads the file and warns."""
    run = _run_dir(tmp_path)
    (tmp_path / "snn-tiny.toml").write_text("not a card any more")
    net, _ = from_run_dir(run)
    assert len(net.synapses) == 2
    config = json.loads((run / "config.json").read_text())
    del config["card"]
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(SpikefaError, match="snn-tiny.toml"), pytest.warns(UserWarning, match="predates stored cards"):
        from_run_dir(run)
