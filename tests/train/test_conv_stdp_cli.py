"""`conv-stdp` through the command line like every other rule: `spikefa train` on the embedded digits
data runs end to end in seconds and its linear read-out beats chance, `frozen=true` keeps the conv
layers bitwise at their initialization through a whole run, and a run resumed after an epoch ends with
the same bits (the STDP rate schedule's image count is part of the checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefa.cli import main
from spikefa.runs.model import make_model, read_config

CARD = """name = "tiny-conv-stdp"
description = "test"
reference = "test"
default_rule = "conv-stdp"
arch = "conv-stdp"
[architecture]
channels = [8, 16]
kernel_sizes = [3, 3]
thresholds = [3.0, 3.0]
steps = 8
dog_size = 5
[defaults]
optimizer = "adam"
lr = 3e-2
batch_size = 16
epochs = 3
weight_decay = 0.0
momentum = 0.0
schedule = "constant"
standardize = false
[presets.conv-stdp]
options = { local_epochs = 1, double_every = 100 }
"""


def train(card: Path, out: Path, *extra: str) -> int:
    return main(["train", "--model", str(card), "--rule", "conv-stdp", "--dataset", "digits", "--limit-train", "480",
                 "--no-progress", "--out", str(out), *extra])


@pytest.fixture
def card(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-conv-stdp.toml"
    path.write_text(CARD)
    return path


def test_list_rules_shows_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "rules"]) == 0
    assert "conv-stdp" in capsys.readouterr().out


def test_train_beats_chance_and_frozen_keeps_the_conv_layers(tmp_path: Path, card: Path) -> None:
    # the batch update keeps the suite fast; image-by-image (the default) is trained in the resume test
    assert train(card, tmp_path / "live", "--opt", "update=batch") == 0
    assert train(card, tmp_path / "frozen", "--opt", "frozen=true", "--opt", "update=batch") == 0
    summary = json.loads((tmp_path / "live" / "summary.json").read_text())
    assert summary["rule"] == "conv-stdp" and summary["epochs"] == 3 and summary["train_loss"] > 0
    assert summary["test_accuracy"] > 0.25  # 10 classes: chance is 0.1
    live = torch.load(tmp_path / "live" / "checkpoint.pt", weights_only=False)["model"]
    frozen = torch.load(tmp_path / "frozen" / "checkpoint.pt", weights_only=False)["model"]
    fresh = make_model(read_config(tmp_path / "frozen"), (1, 8, 8), 10)
    local = [f"model.{i}.weight" for i in fresh.local]
    start = fresh.state_dict()
    assert len(local) == 2 and all(torch.equal(frozen[k], start[k]) for k in local)  # bitwise the initialization
    assert all(not torch.equal(live[k], start[k]) for k in local)  # the same start, STDP on: they moved
    read_out = f"model.{fresh.readout_at}.weight"
    assert not torch.equal(frozen[read_out], start[read_out])  # the control's read-out learned
    assert int(live["model.1.images_seen"]) == 480 and int(live["model.3.images_seen"]) == 480  # greedy


def test_a_run_resumed_after_an_epoch_ends_with_the_same_bits(tmp_path: Path, card: Path) -> None:
    assert train(card, tmp_path / "whole", "--epochs", "2", "--limit-train", "160") == 0  # image by image
    assert train(card, tmp_path / "split", "--epochs", "1", "--limit-train", "160") == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--epochs", "2", "--no-progress"]) == 0
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_rstdp_readout_trains_end_to_end_and_beats_chance(tmp_path: Path, card: Path) -> None:
    path = tmp_path / "rstdp.toml"
    path.write_text(CARD.replace("channels = [8, 16]", "channels = [8, 20]"))  # 2 decision maps per class
    assert train(path, tmp_path / "r", "--limit-train", "960", "--epochs", "6", "--opt", "readout=rstdp", "--opt", "update=batch",
                 "--opt", "r_plus=0.05", "--opt", "r_minus=0.04", "--opt", "p_plus=0.005", "--opt", "p_minus=0.05") == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert 0.0 <= summary["train_loss"] < 0.7  # the fraction of training images punished or undecided


def test_paper_order_fits_the_read_out_once_and_resumes_after_a_crash_to_the_same_bits(
        tmp_path: Path, card: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """readout=fit with local_images: no optimiser and no training loss, no row for epoch 1 (nothing
    to score before the fit), the read-out fitted after epoch 2 (the last STDP epoch), each layer's
    STDP on local_images images; a run killed after epoch 1's checkpoint and resumed ends with the
    same bits; the frozen control is fitted after epoch 1 and stops there, saying so."""
    import spikefa.train.run as run_module

    opts = ["--opt", "readout=fit", "--opt", "local_images=100", "--opt", "update=batch"]
    assert train(card, tmp_path / "whole", "--epochs", "2", *opts) == 0
    summary = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert summary["train_loss"] is None and summary["test_accuracy"] > 0.25 and summary["optimizer"] is False
    rows = (tmp_path / "whole" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("2,") and ",nan," in rows[1]  # epoch 2 only; no rate: nan
    state = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    assert int(state["model.1.images_seen"]) == int(state["model.3.images_seen"]) == 100
    assert bool(state["readout_fitted"])

    class Crash(Exception):
        pass

    save = run_module._save

    def save_then_crash(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        save(*args, **kwargs)
        if args[6] == 1:  # the checkpoint after epoch 1
            raise Crash

    monkeypatch.setattr(run_module, "_save", save_then_crash)
    with pytest.raises(Crash):
        train(card, tmp_path / "crashed", "--epochs", "2", *opts)
    monkeypatch.setattr(run_module, "_save", save)
    assert main(["train", "--resume", str(tmp_path / "crashed"), "--no-progress"]) == 0
    other = torch.load(tmp_path / "crashed" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(state[k], other[k]) for k in state)

    capsys.readouterr()
    assert train(card, tmp_path / "frozen", "--epochs", "2", "--opt", "frozen=true", *opts) == 0
    assert "nothing learns after epoch 1" in capsys.readouterr().err
    frozen = json.loads((tmp_path / "frozen" / "summary.json").read_text())
    assert frozen["epochs"] == 1 and "epoch 2 was not run" in frozen["ended_early"]


def test_too_few_epochs_for_a_fitted_read_out_is_one_line_exit_2(tmp_path: Path, card: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert train(card, tmp_path / "short", "--epochs", "1", "--opt", "readout=fit") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--epochs 2" in err
    assert not (tmp_path / "short" / "checkpoint.pt").exists()
