"""`krotov` and `softhebb` through the command line like every other rule: `list rules` shows them,
`spikefa train` writes a normal run directory, `frozen=true` keeps the local layers at their
initialization through a whole run, and a run stopped after an epoch resumes to the same bits (the
local learning schedule is part of the checkpoint). Tiny networks on the embedded digits data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefa.cli import main
from spikefa.runs.model import make_model, read_config

ARCHS = {
    "krotov": 'arch = "krotov"\n[architecture]\nhidden = [12]\npower = 3.0\n',
    "softhebb": 'arch = "softhebb-conv"\n[architecture]\nchannels = [4, 6]\nkernel_sizes = [3, 3]\n'
                'powers = [0.7, 1.4]\n',
}
DEFAULTS = """
[defaults]
optimizer = "adam"
lr = 1e-2
batch_size = 16
epochs = 2
weight_decay = 0.0
momentum = 0.0
schedule = "constant"
standardize = false
"""


def card(tmp_path: Path, rule: str) -> Path:
    path = tmp_path / f"tiny-{rule}.toml"
    path.write_text(f'name = "tiny-{rule}"\ndescription = "test"\nreference = "test"\ndefault_rule = "{rule}"\n'
                    f'{ARCHS[rule]}{DEFAULTS}[presets.{rule}]\noptions = {{ local_epochs = 1, lr = 0.05 }}\n')
    return path


def train(card_path: Path, rule: str, out: Path, *extra: str) -> int:
    return main(["train", "--model", str(card_path), "--rule", rule, "--dataset", "digits", "--limit-train", "96",
                 "--no-progress", "--out", str(out), *extra])


def test_list_rules_shows_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "rules"]) == 0
    out = capsys.readouterr().out
    assert "krotov" in out and "softhebb" in out


@pytest.mark.parametrize("rule", ["krotov", "softhebb"])
def test_train_writes_a_run_directory_and_frozen_keeps_the_layers(tmp_path: Path, rule: str) -> None:
    path = card(tmp_path, rule)
    assert train(path, rule, tmp_path / "live") == 0
    assert train(path, rule, tmp_path / "frozen", "--opt", "frozen=true") == 0
    for name in ("config.json", "metrics.csv", "summary.json", "checkpoint.pt"):
        assert (tmp_path / "live" / name).is_file()
    summary = json.loads((tmp_path / "live" / "summary.json").read_text())
    assert summary["rule"] == rule and summary["epochs"] == 2 and summary["train_loss"] > 0
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    live = torch.load(tmp_path / "live" / "checkpoint.pt", weights_only=False)["model"]
    frozen = torch.load(tmp_path / "frozen" / "checkpoint.pt", weights_only=False)["model"]
    assert int(live["epochs_done"]) == 2
    fresh = make_model(read_config(tmp_path / "frozen"), (1, 8, 8), 10)
    local = [f"model.{i}.weight" for i in fresh.local]
    start = fresh.state_dict()
    assert local and all(torch.equal(frozen[k], start[k]) for k in local)  # bitwise the initialization
    assert all(not torch.equal(live[k], start[k]) for k in local)  # the same start, learning on: they moved


def test_a_run_resumed_after_an_epoch_ends_with_the_same_bits(tmp_path: Path) -> None:
    path = card(tmp_path, "softhebb")
    assert train(path, "softhebb", tmp_path / "whole") == 0
    assert train(path, "softhebb", tmp_path / "split", "--epochs", "1") == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--epochs", "2", "--no-progress"]) == 0
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
