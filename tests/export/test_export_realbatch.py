"""``spikefa export`` verifies every artefact on a real batch as well as on the random raster: the
run's first test examples through its own encoder (seeded), checked here against encoding them by
hand; a writer broken only on that batch fails the export; export.json and report.md list both
verifications, or say why only the random raster was used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefa.data import load_dataset
from spikefa.errors import SpikefaError
from spikefa.export import onnx_writer
from spikefa.export.network import from_run_dir
from spikefa.export.pipeline import export, real_batch
from spikefa.export.quantize import quantize
from spikefa.export.simulate import run_int
from spikefa.functional.encoders import encoder_of
from spikefa.runs.model import card_of, read_config

from .nets import profile, require_every_verifier
from .test_export_cli import _cli, _digits_run
from .test_export_cli_state import _maxpool_run
from .test_train_state_bits import _train


def _by_hand(run: Path, examples: int, seed: int) -> torch.Tensor:
    """The run's first test examples through its card's encoder, generator seeded `seed`."""
    encoder = encoder_of(card_of(read_config(run)).encoder)
    return encoder(load_dataset("digits").x_test[:examples], torch.Generator().manual_seed(seed))


def test_real_batch_is_the_runs_encoded_test_examples_and_every_writer_agrees_on_it(tmp_path: Path) -> None:
    require_every_verifier()
    code, run = _train(tmp_path)  # a tiny spiking card trained briefly on the bundled digits
    assert code == 0
    out = tmp_path / "edge"
    argv = ["export", str(run), "--target", "int8-edge", "--out", str(out), "--formats", "onnx,c,nir",
            "--verify-examples", "5", "--seed", "3", "--no-accuracy"]
    assert _cli(argv) == (0, "")
    summary = json.loads((out / "export.json").read_text())
    mine = _by_hand(run, 5, 3)
    steps = card_of(read_config(run)).encoder.time_steps
    assert mine.shape == (steps, 5, 1, 8, 8) and mine.sum() > 0
    golden = torch.load(out / "golden.pt")
    assert torch.equal(golden["real_spikes"].float(), mine)  # the batch the writers ran on
    assert not torch.equal(mine, _by_hand(run, 5, 4))  # the seed matters, so the equality above means something
    net, _ = from_run_dir(run)
    qnet = quantize(net, profile("int8-edge"))
    want = run_int(qnet, mine)
    assert torch.equal(golden["real_out"].long(), want.out.long())
    neurons = sum(s.shape[-1] for s in want.spikes)  # every layer's spikes compared, per step and example
    inputs = summary["verification_inputs"]
    assert inputs["real"]["shape"] == list(mine.shape) and inputs["real"]["examples"] == 5
    assert "first 5 test examples of 'digits'" in inputs["real"]["source"] and "seed 3" in inputs["real"]["source"]
    assert inputs["random"]["shape"] == [8, 4, 64] and inputs["real_note"] is None
    assert inputs["real"]["fired"] == sum(int(s.sum()) for s in want.spikes) > 0  # the check is not vacuous
    real = summary["verification_real"]
    assert [v["format"] for v in real] == ["onnx", "c", "nir"] and {v["input"] for v in real} == {"real"}
    for v in real:
        compared = want.spikes[-1].shape[-1] if v["format"] == "nir" else neurons  # snnTorch's reading: the output
        assert v["ok"] and v["mismatches"] == 0 and v["total"] == steps * 5 * compared, v
    assert [v["total"] for v in summary["verification"][:2]] == [8 * 4 * neurons] * 2
    assert summary["ok"] and summary["verified"] == ["onnx", "c", "nir"]
    report = (out / "report.md").read_text()
    assert ("On the random raster (Bernoulli(0.2) random raster, seed 0, spikes [8, 4, 64]; the integer simulator "
            f"fires {inputs['random']['fired']} spikes on it):") in report
    assert (f"On a real batch ({inputs['real']['source']}, spikes [{steps}, 5, 1, 8, 8]; the integer simulator fires "
            f"{inputs['real']['fired']} spikes on it):") in report
    random_part, real_part = report.split("On a real batch")
    for fmt in ("onnx", "c"):
        assert f"- {fmt}: agrees with the integer simulator (spikefa.export.simulate.run_int): 0 real mismatches of " \
               f"{8 * 4 * neurons} spikes." in random_part
        assert f"- {fmt}: agrees with the integer simulator (spikefa.export.simulate.run_int): 0 real mismatches of " \
               f"{steps * 5 * neurons} spikes." in real_part
    nir = real[2]
    assert (f"- nir: agrees with the {nir['reference']}: 0 real mismatches and {nir['ties']} tie disagreements of "
            f"{nir['total']} spikes") in real_part


def test_a_writer_wrong_only_on_the_real_batch_fails_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = _digits_run(tmp_path)
    honest = onnx_writer.run_onnx

    def broken(path, x):  # type: ignore[no-untyped-def]
        got = [s.clone() for s in honest(path, x)]
        if x.shape[1] == 6:  # the real batch only: the random raster has 4 examples
            got[-1][3, 2, 1] = 1 - got[-1][3, 2, 1]
        return got

    monkeypatch.setattr(onnx_writer, "run_onnx", broken)
    out = tmp_path / "broken"
    argv = ["export", str(run), "--target", "int8-edge", "--out", str(out), "--formats", "onnx",
            "--verify-examples", "6", "--no-accuracy"]
    assert _cli(argv) == (1, "")  # the exit of a disagreeing artefact, as on the random raster
    summary = json.loads((out / "export.json").read_text())
    (random,), (real,) = summary["verification"], summary["verification_real"]
    assert random["ok"] and random["mismatches"] == 0
    assert real["failed"] and real["mismatches"] == 1 and not summary["ok"] and summary["verified"] == []
    assert (out / "model.onnx").is_file()  # written, and reported as disagreeing
    report = (out / "report.md").read_text()
    assert "- onnx: DISAGREES with the integer simulator (spikefa.export.simulate.run_int): 1 real mismatches of " \
           f"{real['total']} spikes." in report.split("On a real batch")[1]
    assert "onnx: agrees" in report.split("On a real batch")[0]
    printed = capsys.readouterr().out
    assert (f"onnx: DISAGREES with the {real['reference']} (1/{real['total']} spikes differ) on the real batch "
            "(6 test examples)") in printed
    # the same break on the random raster instead fails the export alike (the Python API, real spikes given)
    def broken_on_random(path, x):  # type: ignore[no-untyped-def]
        got = [s.clone() for s in honest(path, x)]
        if x.shape[1] == 4:
            got[-1][3, 2, 1] = 1 - got[-1][3, 2, 1]
        return got

    monkeypatch.setattr(onnx_writer, "run_onnx", broken_on_random)
    summary = export(from_run_dir(run)[0], profile("int8-edge"), tmp_path / "py", formats=["onnx"],
                     real_spikes=_by_hand(run, 6, 0), real_source="six digits")
    (random,), (real,) = summary["verification"], summary["verification_real"]
    assert random["mismatches"] == 1 and real["ok"] and not summary["ok"] and summary["verified"] == []
    assert summary["verification_inputs"]["real"]["source"] == "six digits"


def test_a_conv_run_is_verified_on_its_real_images(tmp_path: Path) -> None:
    run = _maxpool_run(tmp_path)  # max pooling: NIR left out, ONNX and C verified on [T, B, 1, 8, 8] spikes
    checkpoint = torch.load(run / "checkpoint.pt")
    checkpoint["model"] = {k: v * 8 if k.endswith("weight") else v for k, v in checkpoint["model"].items()}
    torch.save(checkpoint, run / "checkpoint.pt")  # seeded weights scaled until the network fires
    out = tmp_path / "conv"
    assert _cli(["export", str(run), "--target", "int8-edge", "--out", str(out), "--verify-examples", "3",
                 "--limit", "20"]) == (0, "")
    summary = json.loads((out / "export.json").read_text())
    assert summary["verification_inputs"]["real"]["shape"] == [25, 3, 1, 8, 8]
    mine = _by_hand(run, 3, 0)
    assert torch.equal(torch.load(out / "golden.pt")["real_spikes"].float(), mine)
    want = run_int(quantize(from_run_dir(run)[0], profile("int8-edge")), mine).spikes
    assert summary["verification_inputs"]["real"]["fired"] == sum(int(s.sum()) for s in want)
    assert all(int(s.sum()) > 0 for s in want)  # every layer fires: the parity below is not of silence
    assert {v["format"] for v in summary["verification_real"]} == set(summary["formats"]) and summary["ok"]
    assert summary["deployment"]["samples"] == 20  # the accuracy's --limit is its own, not the real batch's
    report = (out / "report.md").read_text()
    assert "Accuracy on 20 test examples" in report and "On a real batch (the first 3 test examples" in report


def test_without_data_only_the_random_raster_is_used_and_said(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = _digits_run(tmp_path)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "dataset": "mnist", "data_dir": str(tmp_path / "none")}))
    out = tmp_path / "nodata"
    assert _cli(["export", str(run), "--target", "int8-edge", "--out", str(out), "--formats", "onnx"]) == (0, "")
    summary = json.loads((out / "export.json").read_text())
    note = summary["verification_inputs"]["real_note"]
    assert summary["verification_real"] is None and summary["verification_inputs"]["real"] is None and "mnist" in note
    assert summary["verified"] == ["onnx"]
    assert f"Real batch: not run ({note}); only the random raster was used." in (out / "report.md").read_text()
    assert "verified on the random raster only" in capsys.readouterr().out
    (tmp_path / "d").mkdir()
    run = _digits_run(tmp_path / "d")
    assert _cli(["export", str(run), "--target", "int8-edge", "--out", str(tmp_path / "zero"), "--formats", "onnx",
                 "--verify-examples", "0"]) == (0, "")
    zero = json.loads((tmp_path / "zero" / "export.json").read_text())
    assert zero["verification_real"] is None and zero["verification_inputs"]["real_note"] == "--verify-examples 0"
    assert zero["deployment"] is not None  # the data loaded: only the real batch was turned off
    code, err = _cli(["export", str(run), "--target", "int8-edge", "--out", str(tmp_path / "neg"),
                      "--verify-examples", "-1"])
    assert code == 2 and "\n" not in err and "--verify-examples -1 must be >= 0" in err
    with pytest.raises(SpikefaError, match="examples >= 1"):
        real_batch(torch.zeros(3, 4), encoder_of(card_of(read_config(run)).encoder), 0)
