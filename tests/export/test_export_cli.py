"""``spikefa export`` as a deployment answer: a .nir graph from another tool exported from the command
line; an --out folder holding an export refused unless --force; report.md's float vs integer test
accuracy and per-layer firing-rate EMD, each checked against a second computation; the sweep's bar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spikefa.errors import SpikefaError
from spikefa.export.network import dense_layers, spiking_core
from spikefa.export.quantize import quantize
from spikefa.export.simulate import float_layers, run_float, run_int
from spikefa.export.sweep import compare, emd, emd_cdf, sweep
from spikefa.nn.spiking import scores
from spikefa.runs import make_model
from spikefa.schemas.run import RunConfig

from .nets import card_run_dir, export_cli, profile, spikes, tiny_net


_cli = export_cli


def _digits_run(tmp: Path, hidden: int = 24) -> Path:
    """A run directory on the bundled digits (8x8 images, 10 classes): a tiny spiking card whose
    weights are seeded (no training), so the float net classifies above chance only by luck."""
    run, config = card_run_dir(tmp, "snn-1x800-lif", "snn-digits", {"hidden = [800]": f"hidden = [{hidden}]"})
    shape = (1, 8, 8)
    model = make_model(RunConfig.from_dict(config), shape, 10)
    spiking_core(model).load_state_dict(tiny_net((64, hidden, 10), gain=6.0).state_dict())  # type: ignore[union-attr]
    torch.save({"model": model.state_dict(), "input_shape": list(shape), "num_classes": 10}, run / "checkpoint.pt")
    return run


def test_force_guards_an_earlier_export(tmp_path: Path) -> None:
    run = _digits_run(tmp_path)
    out = tmp_path / "edge"
    base = ["export", str(run), "--target", "int8-edge", "--out", str(out), "--no-verify", "--no-accuracy"]
    assert _cli(base[:-2] + ["--formats", "onnx,nir,c", "--no-accuracy"]) == (0, "")  # verified: golden.pt written
    assert (out / "golden.pt").is_file()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"model.onnx", "spikefa_model.h", "export.json"} <= set(before)
    code, err = _cli(base + ["--bits", "4"])
    assert code == 2 and "\n" not in err and "already holds an export (export.json); give --force" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing written
    assert _cli(base + ["--bits", "4", "--formats", "nir", "--force"]) == (0, "")
    summary = json.loads((out / "export.json").read_text())
    assert summary["bits"] == 4 and summary["formats"] == ["nir"]
    assert not (out / "model.onnx").exists() and not (out / "spikefa_model.h").exists()  # the old artefacts went
    assert not (out / "golden.pt").exists()  # the earlier golden spikes are not this export's
    (tmp_path / "only-report").mkdir()
    (tmp_path / "only-report" / "report.md").write_text("# earlier\n")
    code, err = _cli(["export", str(run), "--target", "int8-edge", "--out", str(tmp_path / "only-report")])
    assert code == 2 and "already holds an export (report.md)" in err


def test_report_states_test_accuracy_and_rate_shift(tmp_path: Path) -> None:
    run = _digits_run(tmp_path)
    out = tmp_path / "acc"
    argv = ["export", str(run), "--target", "int8-edge", "--bits", "4", "--out", str(out), "--no-verify",
            "--limit", "90", "--batch-size", "40"]
    assert _cli(argv) == (0, "")
    dep = json.loads((out / "export.json").read_text())["deployment"]
    report = (out / "report.md").read_text()
    assert f"Accuracy on 90 test examples: float {100 * dep['float_accuracy']:.2f} %" in report
    assert f"integer (this export) {100 * dep['accuracy']:.2f} %" in report and "| layer | float rate |" in report
    # the same figures a second way: the SpikingNet itself (float), the sweep (integer), sorted rates (EMD)
    from spikefa.data import load_dataset
    from spikefa.export.network import from_run_dir
    from spikefa.export.sweep import rate_batches
    from spikefa.functional.encoders import encoder_of
    from spikefa.runs.model import card_of, read_config

    net, _ = from_run_dir(run)
    data = load_dataset("digits")
    batches = rate_batches(data.x_test[:90], data.y_test[:90], encoder_of(card_of(read_config(run)).encoder), 40, 0)
    with torch.no_grad():
        right = sum(int((scores(net(x)).argmax(1) == y).sum()) for x, y in batches())
    assert dep["float_accuracy"] == right / 90
    row = sweep(net, ["int8-edge"], [4], batches)[0]
    assert dep["accuracy"] == row.accuracy and dep["float_accuracy"] == row.float_accuracy
    qnet = quantize(net, profile("int8-edge"), 4)
    floats = float_layers(dense_layers(net)[0])
    x = torch.cat([b for b, _ in batches()], dim=1)
    rates_f = [s.double().sum((0, 1)).numpy() / (x.shape[0] * 90) for s in run_float(floats, x).spikes]
    rates_i = [s.double().sum((0, 1)).numpy() / (x.shape[0] * 90) for s in run_int(qnet, x).spikes]
    for layer, (f, q) in enumerate(zip(rates_f, rates_i)):
        assert dep["rate_emd"][layer] == pytest.approx(np.abs(np.sort(f) - np.sort(q)).mean(), abs=1e-12)
        assert dep["rates_float"][layer] == pytest.approx(f.mean(), abs=1e-12)
    assert dep["rates_float"][0] > 0


def test_report_says_why_accuracy_is_missing(tmp_path: Path) -> None:
    run = _digits_run(tmp_path)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "dataset": "mnist", "data_dir": str(tmp_path / "none")}))
    assert _cli(["export", str(run), "--target", "int8-edge", "--out", str(tmp_path / "o"), "--no-verify"]) == (0, "")
    report = (tmp_path / "o" / "report.md").read_text()
    assert report.splitlines()[2].startswith("Accuracy: not measured (") and "mnist" in report.splitlines()[2]
    assert json.loads((tmp_path / "o" / "export.json").read_text())["deployment"] is None


def test_compare_counts_every_batch_once() -> None:
    net = tiny_net(gain=4.0)
    qnet = quantize(net, profile("int8-edge"), 8)
    batches = [(spikes(9, 5, 20, seed=s), torch.arange(5) % 5) for s in range(3)]
    c = compare(net, qnet, iter(batches))  # a one-shot iterator is fine
    assert c.samples == 15 and len(c.rate_emd) == 2 and all(e >= 0 for e in c.rate_emd)
    with pytest.raises(SpikefaError, match="no labelled batches"):
        compare(net, qnet, [])


def test_emd_matches_its_definitions() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(40, generator=gen).double(), torch.rand(40, generator=gen).double() * 2
    sorted_mean = float((torch.sort(a).values - torch.sort(b).values).abs().mean())  # equal sizes: Σ|a(i) − b(i)|/n
    assert emd(a, b) == pytest.approx(sorted_mean, abs=1e-12)
    assert emd_cdf(a, b) == pytest.approx(sorted_mean, abs=1e-12)
    assert emd_cdf(a, a + 0.25) == pytest.approx(0.25) and emd_cdf(torch.zeros(1), torch.ones(1)) == 1.0
    c = torch.rand(17, generator=gen).double()  # unequal sizes: against scipy when it is here
    scipy_stats = pytest.importorskip("scipy.stats")
    assert emd_cdf(a, c) == pytest.approx(scipy_stats.wasserstein_distance(a.numpy(), c.numpy()), abs=1e-12)
    with pytest.raises(SpikefaError, match="non-empty"):
        emd([], [1.0])


def test_sweep_shows_progress_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    net = tiny_net(gain=4.0)
    batches = [(spikes(6, 4, 20, seed=3), torch.arange(4) % 5)]
    sweep(net, ["int8-edge"], [8, 4], batches, progress=True)
    err = capsys.readouterr().err
    assert "export sweep" in err and "3/3" in err
    sweep(net, ["int8-edge"], [8], batches)
    assert capsys.readouterr().err == ""


def test_cli_exports_a_nir_graph_from_another_tool(tmp_path: Path) -> None:
    nir = pytest.importorskip("nir")
    from .test_nir_import import snntorch_shaped

    graph = snntorch_shaped()
    for node in graph.nodes.values():  # one β per layer: what the exporters take
        if isinstance(node, nir.LIF):
            node.tau = np.full_like(node.tau, 1e-4 / (1 - 0.85))
            node.r = node.tau / 1e-4
    path = tmp_path / "model.nir"
    nir.write(str(path), graph)
    out = tmp_path / "nir-out"
    code, err = _cli(["export", str(path), "--target", "loihi2", "--out", str(out), "--no-verify"])
    assert code == 2 and err.startswith("spikefa: error: dt is missing") and "--dt 1e-3" in err
    code, err = _cli(["export", str(path), "--target", "loihi2", "--out", str(out), "--dt", "1e-4"])
    assert code == 2 and "reset is missing" in err and "--reset zero|subtract" in err
    assert not out.exists()
    code, err = _cli(["export", str(path), "--target", "loihi2", "--out", str(out), "--dt", "1e-4", "--reset", "zero",
                      "--no-verify"])
    assert (code, err) == (0, "")
    summary = json.loads((out / "export.json").read_text())
    assert summary["meta"] == {"source": str(path), "kind": "nir", "dt_s": 1e-4, "reset": "zero"}
    assert summary["report"][0]["beta"] == pytest.approx(0.85) and summary["deployment"] is None
    assert "not measured (a NIR graph brings no test data)" in (out / "report.md").read_text()
    run = _digits_run(tmp_path)
    code, err = _cli(["export", str(run), "--target", "loihi2", "--out", str(tmp_path / "r"), "--dt", "1e-3"])
    assert code == 2 and "--dt and --reset are for NIR graphs" in err
    code, err = _cli(["export", str(path), "--target", "loihi2", "--out", str(tmp_path / "r"), "--dt", "fast"])
    assert code == 2 and "--dt 'fast' must be a time step in seconds > 0" in err


def test_a_graph_spikefa_wrote_re_exports_with_its_sidecars_dt_and_reset(tmp_path: Path) -> None:
    pytest.importorskip("nir")
    run = _digits_run(tmp_path)
    assert _cli(["export", str(run), "--target", "loihi2", "--formats", "nir", "--no-verify", "--no-accuracy",
                 "--out", str(tmp_path / "first")]) == (0, "")
    side = json.loads((tmp_path / "first" / "model.nir.json").read_text())
    graph = tmp_path / "first" / "model.nir"
    assert _cli(["export", str(graph), "--target", "int8-edge", "--formats", "onnx", "--no-verify",
                 "--out", str(tmp_path / "again")]) == (0, "")
    meta = json.loads((tmp_path / "again" / "export.json").read_text())["meta"]
    assert meta["dt_s"] == side["tau_time_base_s"] and meta["reset"] == side["layers"][0]["reset"] == "subtract"
    assert meta["dt_from"] == meta["reset_from"] == str(graph) + ".json"
    assert _cli(["export", str(graph), "--target", "int8-edge", "--formats", "onnx", "--no-verify", "--reset", "zero",
                 "--out", str(tmp_path / "told")]) == (0, "")  # what the user gives wins
    meta = json.loads((tmp_path / "told" / "export.json").read_text())["meta"]
    assert meta["reset"] == "zero" and "reset_from" not in meta and "dt_from" in meta
    (tmp_path / "first" / "model.nir.json").unlink()  # a bare graph: both are asked for again
    code, err = _cli(["export", str(graph), "--target", "int8-edge", "--out", str(tmp_path / "bare")])
    assert code == 2 and "dt is missing" in err


def test_export_json_names_the_folder_the_test_images_came_from(tmp_path: Path) -> None:
    run = _digits_run(tmp_path)
    common = ["--target", "int8-edge", "--no-verify", "--limit", "20"]
    assert _cli(["export", str(run), *common, "--out", str(tmp_path / "a")]) == (0, "")
    assert "test_data_dir" not in json.loads((tmp_path / "a" / "export.json").read_text())["meta"]
    assert _cli(["export", str(run), *common, "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "b")]) == (0, "")
    meta = json.loads((tmp_path / "b" / "export.json").read_text())["meta"]
    assert meta["test_data_dir"] == str((tmp_path / "d").resolve()) and "data_dir" in meta  # beside the run's own
