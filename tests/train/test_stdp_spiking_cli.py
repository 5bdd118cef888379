"""`spikefa train --rule stdp` on a spiking card (an snn-mlp card written by the test, the embedded
digits data): the hidden layer learns by pair STDP, the output layer by online DFA, so the read-out
is trained; ``frozen=true`` keeps the STDP layer bitwise at its initialisation (the random-feature
control) while the read-out still learns. Before-weights are the run's own network rebuilt from its
stored config (`spikefa.runs.make_model`: the same seed gives the same initialisation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefa.cli import main
from spikefa.runs import make_model
from spikefa.runs.model import read_config

CARD = """name = "tiny-snn"
description = "test"
reference = "test"
arch = "snn-mlp"
default_rule = "dfa"

[architecture]
hidden = [64]
bias = true

[neuron]
beta = 0.9
threshold = 1.0
reset = "subtract"
dt = 1.0
surrogate = "atan"

[encoder]
kind = "rate"
time_steps = 10
gain = 1.0

[defaults]
optimizer = "adam"
lr = 1e-2
batch_size = 32
epochs = 3
weight_decay = 0.0
momentum = 0.9
schedule = "constant"
standardize = false
"""
HIDDEN, HIDDEN_BIAS, OUTPUT = "net.net.synapses.0.1.weight", "net.net.synapses.0.1.bias", "net.net.synapses.1.weight"


Weights = dict[str, torch.Tensor]


def run(tmp_path: Path, name: str, *options: str) -> tuple[Weights, Weights, dict]:  # type: ignore[type-arg]
    card = tmp_path / "tiny-snn.toml"
    card.write_text(CARD)
    out = tmp_path / name
    opts = [a for o in options for a in ("--opt", o)]
    assert main(["train", "--model", str(card), "--rule", "stdp", *opts, "--dataset", "digits", "--limit-train", "512",
                 "--no-progress", "--out", str(out)]) == 0
    before = make_model(read_config(out), (1, 8, 8), 10).state_dict()
    after = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    summary = json.loads((out / "summary.json").read_text())
    losses = [row.split(",")[1] for row in (out / "metrics.csv").read_text().splitlines()[1:]]
    summary["logged_losses"] = losses
    return before, after, summary


def test_stdp_on_a_spiking_card_trains_the_read_out_and_beats_chance(tmp_path: Path) -> None:
    """Small signed STDP (bounds ±1) on the hidden layer: both layers move, the hidden bias (no STDP
    rule for it) stays, and the network beats chance (0.1) on ten digit classes. (The default
    brian2 constants run the hidden weights up to w_max, every hidden neuron then fires at every
    step and the read-out has nothing to read: chance; the test does not claim STDP helps.)"""
    before, after, summary = run(tmp_path, "stdp", "params=w_min=-1,w_max=1,a_plus=0.001,a_minus=-0.0012")
    assert not torch.equal(before[HIDDEN], after[HIDDEN]) and torch.equal(before[HIDDEN_BIAS], after[HIDDEN_BIAS])
    assert not torch.equal(before[OUTPUT], after[OUTPUT])
    assert summary["diverged"] is None and summary["test_accuracy"] > 0.2
    # the read-out learns from the labels, so its loss is logged (Diehl & Cook's STDP logs none)
    assert summary["logged_losses"] and all(float(v) > 0 for v in summary["logged_losses"])


def test_frozen_stdp_on_a_spiking_card_keeps_the_features_and_learns_the_read_out(tmp_path: Path) -> None:
    before, after, summary = run(tmp_path, "frozen", "frozen=true")
    assert torch.equal(before[HIDDEN], after[HIDDEN]) and torch.equal(before[HIDDEN_BIAS], after[HIDDEN_BIAS])
    assert not torch.equal(before[OUTPUT], after[OUTPUT])
    assert summary["test_accuracy"] > 0.5  # random spiking features + an online-DFA read-out


def test_stdp_refusals_on_a_spiking_card_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = tmp_path / "tiny-snn.toml"
    card.write_text(CARD)
    for option, part in (("layers=1", "is the output layer, which learns by online DFA"),
                         ("label_samples=5", "'label_samples' does not apply to SpikingNet")):
        code = main(["train", "--model", str(card), "--rule", "stdp", "--opt", option, "--dataset", "digits",
                     "--limit-train", "32", "--no-progress", "--out", str(tmp_path / "refused")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and part in err and "\n" not in err, err
