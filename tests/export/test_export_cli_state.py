"""``spikefa export`` with a low-bit membrane (``--state-bits``, defaulting to the run's QAT width),
the sweep's state-bit axis, report.md's tie disagreements apart from real mismatches, and a
max-pool network whose default formats leave NIR out (named, NIR's refusal stays)."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from spikefa.catalog import find_card, load_card
from spikefa.export.network import from_run_dir, spiking_core
from spikefa.export.pipeline import TIES_EXPLAINED, export, verification_section
from spikefa.export.quantize import quantize
from spikefa.export.simulate import output_scores, run_int
from spikefa.export.sweep import SweepRow, accuracy, sweep, sweep_series
from spikefa.export.writers import EXPORTERS, Exporter, Verification
from spikefa.runs import make_model
from spikefa.schemas.run import RunConfig

from .nets import profile, spikes, tiny_conv_net, tiny_net
from .test_export_cli import _cli, _digits_run
from .test_train_state_bits import _train


def _report_thresholds(summary: dict) -> list[list[int]]:
    return [list(r["threshold_int"]) for r in summary["report"]]


def _thresholds(qnet) -> list[list[int]]:  # type: ignore[no-untyped-def]
    return [[int(q.threshold.min()), int(q.threshold.max())] for q in qnet.layers]


def test_export_takes_the_runs_qat_state_width_unless_told(tmp_path: Path) -> None:
    code, run = _train(tmp_path, "--qat", "int8-edge", "--state-bits", "6")
    assert code == 0
    net, _ = from_run_dir(run)
    base = ["export", str(run), "--target", "int8-edge", "--no-verify", "--no-accuracy", "--formats", "onnx"]
    assert _cli(base + ["--out", str(tmp_path / "a")]) == (0, "")
    summary = json.loads((tmp_path / "a" / "export.json").read_text())
    assert summary["state_bits"] == 6 and summary["meta"]["qat_state_bits"] == 6
    assert _report_thresholds(summary) == _thresholds(quantize(net, profile("int8-edge"), state_bits=6))
    assert (tmp_path / "a" / "report.md").read_text().startswith("# int8-edge, 8-bit weights, 6-bit state\n")
    assert _cli(base + ["--out", str(tmp_path / "b"), "--state-bits", "5"]) == (0, "")
    summary = json.loads((tmp_path / "b" / "export.json").read_text())
    assert summary["state_bits"] == 5
    assert _report_thresholds(summary) == _thresholds(quantize(net, profile("int8-edge"), state_bits=5))
    assert _report_thresholds(summary) != _report_thresholds(json.loads((tmp_path / "a" / "export.json").read_text()))
    code, err = _cli(base + ["--out", str(tmp_path / "c"), "--state-bits", "4,2"])
    assert code == 2 and "\n" not in err and "export takes one state width" in err
    code, err = _cli(base + ["--out", str(tmp_path / "c"), "--state-bits", "2"])
    assert code == 2 and "\n" not in err and "state_bits = 2 is not allowed for profile 'int8-edge'" in err
    assert not (tmp_path / "c").exists()
    # the sweep without --state-bits runs the run's width, with it every width asked for
    assert _cli(["export", "sweep", str(run), "--targets", "int8-edge", "--bits", "8", "--out", str(tmp_path / "s"),
                 "--limit", "40", "--no-progress"]) == (0, "")
    rows = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert [(r["bits"], r["state_bits"], r["state_width"]) for r in rows] == [(8, 6, 6)]


def test_export_takes_the_runs_qat_weight_width_for_the_profile_it_trained_through(tmp_path: Path) -> None:
    code, run = _train(tmp_path, "--qat", "int8-edge:4")
    assert code == 0
    base = ["export", str(run), "--no-verify", "--no-accuracy", "--formats", "onnx"]
    assert _cli(base + ["--target", "int8-edge", "--out", str(tmp_path / "a")]) == (0, "")
    summary = json.loads((tmp_path / "a" / "export.json").read_text())
    assert summary["bits"] == 4 and summary["meta"]["qat_bits"] == 4
    assert _cli(base + ["--target", "int8-edge", "--bits", "8", "--out", str(tmp_path / "b")]) == (0, "")
    assert json.loads((tmp_path / "b" / "export.json").read_text())["bits"] == 8  # told otherwise
    assert _cli(base + ["--target", "loihi2", "--out", str(tmp_path / "c")]) == (0, "")
    assert json.loads((tmp_path / "c" / "export.json").read_text())["bits"] == 8  # another target: its own width
    assert _cli(["export", str(run), "--no-verify", "--formats", "onnx", "--target", "int8-edge",
                 "--out", str(tmp_path / "d")]) == (0, "")
    assert "trained through int8-edge's fake quantisation" in (tmp_path / "d" / "report.md").read_text()


def test_plain_run_exports_the_profiles_state_and_sweeps_the_state_axis(tmp_path: Path) -> None:
    run = _digits_run(tmp_path)
    out = tmp_path / "full"
    assert _cli(["export", str(run), "--target", "int8-edge", "--out", str(out), "--no-verify", "--no-accuracy",
                 "--formats", "onnx"]) == (0, "")
    assert json.loads((out / "export.json").read_text())["state_bits"] == profile("int8-edge").neuron.state_bits
    sw = tmp_path / "sweep"
    argv = ["export", "sweep", str(run), "--targets", "int8-edge", "--bits", "8,4", "--state-bits", "8,4,2",
            "--out", str(sw), "--limit", "60", "--batch-size", "30", "--no-progress"]
    assert _cli(argv) == (0, "")
    rows = json.loads((sw / "sweep.json").read_text())
    assert [(r["bits"], r["state_bits"]) for r in rows] == [(8, 8), (8, 4), (8, 2), (4, 8), (4, 4), (4, 2)]
    code, err = _cli(argv[:8] + ["2,99"] + argv[9:] + ["--force"])  # no cell could run: refused before any work
    assert code == 2 and "\n" not in err and "--state-bits 2,99: no target of the sweep takes any" in err
    refused = [r for r in rows if r["state_bits"] == 2]
    assert all(r["accuracy"] is None and "state_bits = 2 is not allowed" in r["status"] for r in refused)
    table = (sw / "sweep.md").read_text()
    assert "| target | bits | state bits |" in table and "| int8-edge | 4 | 4 |" in table
    # each accepted cell, a second way: the integer simulator on the same test spikes, by hand
    net, _ = from_run_dir(run)
    from spikefa.data import load_dataset
    from spikefa.export.sweep import rate_batches
    from spikefa.functional.encoders import encoder_of
    from spikefa.runs.model import card_of, read_config

    data = load_dataset("digits")
    batches = rate_batches(data.x_test[:60], data.y_test[:60], encoder_of(card_of(read_config(run)).encoder), 30, 0)
    for r in rows:
        if r["accuracy"] is None:
            continue
        qnet = quantize(net, profile("int8-edge"), r["bits"], state_bits=r["state_bits"])
        right = sum(int((output_scores(run_int(qnet, x), qnet.layers[-1].unit).argmax(1) == y).sum())
                    for x, y in batches())
        assert r["accuracy"] == right / 60 and r["state_width"] == r["state_bits"]


def test_sweep_state_axis_in_rows_and_plot_lines() -> None:
    net = tiny_net((20, 16, 5), gain=6.0)
    x = spikes(10, 16, 20, rate=0.4, seed=4)
    batches = [(x, torch.arange(16) % 5)]
    rows = sweep(net, ["int8-edge"], [8], batches, state_bits=[None, 4])
    full, narrow = rows
    assert (full.state_bits, full.state_width, narrow.state_bits, narrow.state_width) == (None, 32, 4, 4)
    for row, width in ((full, None), (narrow, 4)):
        qnet = quantize(net, profile("int8-edge"), 8, state_bits=width)
        want = accuracy(lambda s: output_scores(run_int(qnet, s), qnet.layers[-1].unit), batches)
        assert row.accuracy == want
    assert sweep_series(rows) == {"int8-edge, 32-bit state (profile)": [(8, 100 * full.accuracy)],
                                  "int8-edge, 4-bit state": [(8, 100 * narrow.accuracy)]}
    assert list(sweep_series([full])) == ["int8-edge"]  # one width: one line per target, as before
    refused = SweepRow("akida", 8, math.nan, 1.0, "refused: x", 4, 4)
    assert "akida, 4-bit state" not in sweep_series([full, refused])


def test_report_states_ties_apart_from_real_mismatches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A float artefact's verification with ties: report.md and stdout give both counts, the ties
    against the integer simulator too, and why ties happen; ties alone do not fail the export."""
    tied = Verification("nir", "float simulation", 0, 160, "note", ties=3, integer={"ties": 5, "other": 2})

    class Fake:
        @staticmethod
        def write(qnet, out_dir, meta):  # type: ignore[no-untyped-def]
            path = Path(out_dir) / "fake.nir"
            path.write_text("graph")
            return [path]

        @staticmethod
        def verify(qnet, out_dir, x):  # type: ignore[no-untyped-def]
            return tied

    monkeypatch.setitem(EXPORTERS, "nir", Exporter("nir", "fake", "fake", "float simulation"))
    monkeypatch.setitem(sys.modules, "fake", Fake)
    summary = export(tiny_net(gain=4.0), profile("int8-edge"), tmp_path, formats=["nir", "onnx"])
    assert summary["ok"] and summary["verification"][0]["ties"] == 3
    report = (tmp_path / "report.md").read_text()
    assert ("- nir: agrees with the float simulation: 0 real mismatches and 3 tie disagreements of 160 spikes; "
            "against the integer simulator (the chip's arithmetic): 5 tie disagreements and 2 others") in report
    assert TIES_EXPLAINED in report and "exactly at its threshold" in TIES_EXPLAINED
    onnx = summary["verification"][1]
    assert f"- onnx: agrees with the {onnx['reference']}: 0 real mismatches of {onnx['total']} spikes." in report
    real = Verification("nir", "float simulation", 4, 160, "", ties=1, integer={"ties": 0, "other": 4})
    text = verification_section([real.as_dict()])
    assert "- nir: DISAGREES with the float simulation: 4 real mismatches and 1 tie disagreements of 160" in text
    from spikefa.export.cli import _print_summary

    _print_summary(summary, str(tmp_path))
    assert "nir: agrees with the float simulation (0/160 spikes differ, 3 tie disagreements at U = θ apart)" in \
        capsys.readouterr().out
    assert verification_section([], verify=False) == "Verification: not run (--no-verify).\n"


def _maxpool_run(tmp: Path) -> Path:
    """A run directory of a spiking LeNet with max pooling on the 8x8 digits (seeded, untrained)."""
    text = find_card("snn-lenet").read_text().replace("channels = [12, 64]", "channels = [2, 3]")
    text = text.replace("kernel_size = 5", "kernel_size = 1").replace('name = "snn-lenet"', 'name = "snn-mp"')
    card = tmp / "snn-mp.toml"
    card.write_text(text)
    run = tmp / "mp-run"
    run.mkdir()
    config = {"model": str(card), "rule": "bp", "dataset": "digits", "card": load_card(card).mapping}
    (run / "config.json").write_text(json.dumps(config))
    model = make_model(RunConfig.from_dict(config), (1, 8, 8), 10)
    torch.save({"model": model.state_dict(), "input_shape": [1, 8, 8], "num_classes": 10}, run / "checkpoint.pt")
    return run


def test_max_pool_leaves_nir_out_of_default_formats_but_refuses_it_by_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("nir")
    run = _maxpool_run(tmp_path)
    assert any(type(m).__name__ == "MaxPool2d" for m in spiking_core(from_run_dir(run)[0]).modules())
    out = tmp_path / "default"
    code, err = _cli(["export", str(run), "--target", "int8-edge", "--out", str(out), "--no-accuracy"])
    assert (code, err) == (0, "")
    stdout = capsys.readouterr().out
    summary = json.loads((out / "export.json").read_text())
    assert "nir" in profile("int8-edge").formats and "nir" not in summary["formats"]
    assert set(summary["files"]) == set(profile("int8-edge").formats) - {"nir"}
    assert not list(out.glob("*.nir")) and summary["left_out"].keys() == {"nir"}
    assert "maxpool2d has no NIR node" in summary["left_out"]["nir"]
    assert f"nir: left out, it cannot represent this network ({summary['left_out']['nir']})" in stdout
    report = (out / "report.md").read_text()
    assert "Left out: nir, which cannot represent this network: layer 0: maxpool2d has no NIR node" in report
    assert "name --formats nir to have the refusal instead" in report
    code, err = _cli(["export", str(run), "--target", "int8-edge", "--out", str(tmp_path / "named"), "--formats", "nir",
                      "--no-accuracy"])
    assert code == 2 and "\n" not in err and "maxpool2d has no NIR node" in err
    # a network every format holds leaves nothing out
    summary = export(tiny_conv_net("avg"), profile("int8-edge"), tmp_path / "avg", verify=False)
    assert summary["left_out"] == {} and summary["formats"] == list(profile("int8-edge").formats)


def test_package_exports_the_readers() -> None:
    import spikefa.export as package
    from spikefa.export.network import Layer, read_layers
    from spikefa.export.nir_import import from_nir

    assert (package.Layer, package.read_layers, package.from_nir) == (Layer, read_layers, from_nir)
    assert {"Layer", "read_layers", "from_nir"} <= set(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)


def test_a_qat_runs_state_width_holds_only_for_the_profile_it_trained_for(tmp_path: Path) -> None:
    code, run = _train(tmp_path, "--qat", "int8-edge", "--state-bits", "6")
    assert code == 0
    base = ["export", str(run), "--no-verify", "--no-accuracy", "--formats", "onnx"]
    assert _cli(base + ["--target", "mcu-int8", "--out", str(tmp_path / "m")]) == (0, "")
    summary = json.loads((tmp_path / "m" / "export.json").read_text())
    assert summary["state_bits"] == profile("mcu-int8").neuron.state_bits  # not the 6 bits trained for int8-edge
    assert _cli(["export", "sweep", str(run), "--targets", "int8-edge,mcu-int8", "--bits", "8", "--out",
                 str(tmp_path / "s"), "--limit", "40", "--no-progress"]) == (0, "")
    rows = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert [(r["target"], r["state_width"]) for r in rows] == [("int8-edge", 6),
                                                               ("mcu-int8", profile("mcu-int8").neuron.state_bits)]


def test_an_export_that_cannot_work_says_so(tmp_path: Path) -> None:
    from spikefa.export.pipeline import export_warnings

    net = tiny_net(gain=4.0)
    qnet = quantize(net, profile("int8-edge"))
    assert export_warnings(qnet, {"random": {"fired": 12}, "real": None}) == []
    zeroed = replace(qnet, layers=(replace(qnet.layers[0], weight=torch.zeros_like(qnet.layers[0].weight)),
                                   *qnet.layers[1:]))
    warnings = export_warnings(zeroed, {"random": {"fired": 0}, "real": {"fired": 3}})
    assert len(warnings) == 2 and warnings[0].startswith("layer 0: every weight rounds to 0")
    assert "fires no spike on the random raster" in warnings[1]
    summary = export(net, profile("int8-edge"), tmp_path / "e", formats=["onnx"],
                     spikes=torch.zeros(4, 2, qnet.in_features))  # silent input: the check proves nothing
    assert summary["warnings"] == [w for w in summary["warnings"] if "fires no spike" in w] and summary["warnings"]
    assert "**Warning:** the integer simulator fires no spike" in (tmp_path / "e" / "report.md").read_text()


def test_a_layer_that_never_fires_is_named() -> None:
    from spikefa.export.pipeline import export_warnings
    from spikefa.export.sweep import Comparison

    qnet = quantize(tiny_net(gain=4.0), profile("int8-edge"))
    silent = Comparison(0.5, 0.1, 40, (0.03, 0.2), (0.0, 0.1), (0.03, 0.1))
    assert export_warnings(qnet, None, silent) == [
        "layer 0 never fires in the integer network on the 40 test examples (float: 0.0300 spikes per step)"]


def test_export_takes_the_best_validation_checkpoint_when_asked(tmp_path: Path) -> None:
    code, run = _train(tmp_path, "--epochs", "2")
    assert code == 0 and (run / "best.pt").is_file()
    best = torch.load(run / "best.pt", weights_only=False)
    base = ["export", str(run), "--target", "int8-edge", "--no-verify", "--no-accuracy", "--formats", "onnx"]
    assert _cli(base + ["--checkpoint", "best", "--out", str(tmp_path / "b")]) == (0, "")
    meta = json.loads((tmp_path / "b" / "export.json").read_text())["meta"]
    assert (meta["checkpoint"], meta["checkpoint_epoch"]) == ("best.pt", best["epoch"])
    assert meta["checkpoint_val_accuracy"] == best["val_accuracy"]
    assert _cli(base + ["--out", str(tmp_path / "l")]) == (0, "")
    assert json.loads((tmp_path / "l" / "export.json").read_text())["meta"]["checkpoint"] == "checkpoint.pt"
    (run / "best.pt").unlink()  # a run from before best.pt: said in one line
    code, err = _cli(base + ["--checkpoint", "best", "--out", str(tmp_path / "x")])
    assert code == 2 and "best.pt: no such checkpoint" in err and not (tmp_path / "x").exists()
