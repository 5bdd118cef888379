"""Random-feature controls (issue #16): which variants get one is read from the rule's declaration
(a `frozen` option), never from its name; a frozen layer stays bit for bit at its initialisation;
compare prints rule − control paired by seed."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import spikefa
from spikefa.rules import registry
from spikefa.rules.spec import Option
from spikefa.runs.model import make_model
from spikefa.train import resolve_config, train
from spikefa.train.compare import (CONTROL_OPTION, control_of, paired_difference, run_grid, with_controls,
                                   write_report, protocol_text)

from ..helpers import batch, net

FAST = dict(limit_train=96, batch_size=32, epochs=1)


def test_control_follows_the_frozen_declaration() -> None:
    declares = {name for name, rule in registry.RULES.items() if CONTROL_OPTION in rule.options}
    assert {"hebb", "oja", "stdp", "stdp-readout", "three-factor"} <= declares
    assert not {"bp", "fa", "dfa", "sign", "sum", "hebbian-descent"} & declares
    assert control_of("hebb+unit_norm=true") == "hebb+unit_norm=true+frozen=true"
    assert control_of("three-factor") == "three-factor+frozen=true"
    for spec in ("bp", "fa:binary", "dfa+plastic=hebb", "sum+beta=0.01", "hebbian-descent", "hebb+frozen=true"):
        assert control_of(spec) is None, spec
    assert with_controls(["bp", "oja", "oja"]) == ["bp", "oja", "oja+frozen=true"]


def test_a_new_rule_that_declares_frozen_gets_a_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule added later (SoftHebb, Krotov) is picked up by its declaration alone."""
    plain = replace(registry.RULES["bp"], name="plugin-rule")
    monkeypatch.setitem(registry.RULES, "plugin-rule", plain)
    assert control_of("plugin-rule") is None
    local = replace(plain, options={CONTROL_OPTION: Option(False, bool, "keep the local layers at init")})
    monkeypatch.setitem(registry.RULES, "plugin-rule", local)
    assert control_of("plugin-rule") == "plugin-rule+frozen=true"


@pytest.mark.parametrize("unit_norm", [False, True])
def test_frozen_hidden_layer_stays_bit_for_bit(unit_norm: bool) -> None:
    x, y = batch(0, d=10)
    weights = {}
    for frozen in (True, False):
        model = spikefa.convert(net(0), "hebb", options={"frozen": frozen, "unit_norm": unit_norm, "local_lr": 0.01})
        hidden, out = model.blocks[0][0], model.blocks[-1][0]
        start_hidden, start_out = hidden.weight.detach().clone(), out.weight.detach().clone()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.05)
        for _ in range(5):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        weights[frozen] = (start_hidden, hidden.weight.detach(), start_out, out.weight.detach(), hidden.bias.detach())
    start, end, out0, out1, _ = weights[True]
    assert torch.equal(start, end)  # bit for bit
    assert not torch.equal(out0, out1)  # the read-out still learns
    if unit_norm:  # normalised once, at construction, as the Hebbian layer is before its first step
        bias = weights[True][4]
        rows = torch.cat([end, bias.unsqueeze(1)], 1).norm(dim=1)
        torch.testing.assert_close(rows, torch.ones_like(rows))
    learned_start, learned_end = weights[False][0], weights[False][1]
    assert not torch.equal(learned_start, learned_end)  # the same run without frozen does move


def test_frozen_control_run_keeps_its_initial_hidden_weights(tmp_path: Path) -> None:
    config = resolve_config("mlp-1x800-tanh", "hebb", "digits", rule_options={"frozen": True}, **FAST)
    train(config, tmp_path / "r", progress=False)
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)
    initial = make_model(config, tuple(state["input_shape"]), state["num_classes"]).state_dict()
    trained = state["model"]
    hidden = [k for k in trained if k.startswith("blocks.0.") and k.endswith("weight")]
    readout = [k for k in trained if k.startswith("blocks.1.") and k.endswith("weight")]
    assert hidden and readout
    assert all(torch.equal(trained[k], initial[k]) for k in hidden)
    assert not all(torch.equal(trained[k], initial[k]) for k in readout)


def test_compare_adds_the_control_beside_local_rules_only(tmp_path: Path) -> None:
    summaries = run_grid("mlp-1x800-tanh", ["bp", "oja+unit_norm=true+local_lr=0.01"], "digits", [0, 1], tmp_path,
                         progress=False, **FAST)
    labels = [s["variant"] for s in summaries]
    assert labels.count("oja+unit_norm=true+local_lr=0.01+frozen=true") == 2
    assert not any(label.startswith("bp+") for label in labels)
    table = write_report(summaries, tmp_path, "t", protocol_text(summaries, tmp_path))
    assert "| oja+unit_norm=true+local_lr=0.01+frozen=true | 2 |" in table
    row = next(line for line in table.splitlines()
               if line.startswith("| oja+unit_norm=true+local_lr=0.01 | oja+unit_norm=true+local_lr=0.01+frozen=true"))
    # the printed difference is the paired per-seed difference of the two runs' test accuracies
    rule = {s["seed"]: s["test_accuracy"] for s in summaries if s["variant"] == "oja+unit_norm=true+local_lr=0.01"}
    ctrl = {s["seed"]: s["test_accuracy"] for s in summaries if s["variant"].endswith("frozen=true")}
    diffs = [100 * (rule[k] - ctrl[k]) for k in (0, 1)]
    mean = sum(diffs) / 2
    std = (sum((d - mean) ** 2 for d in diffs)) ** 0.5  # n - 1 = 1
    assert f"| 2 | {mean:+.2f} ± {std:.2f} | " in row
    units = [next(iter(s["features"].values())) for s in summaries if s["variant"].startswith("oja")]
    assert len(units) == 4  # both seeds of the rule and of its control measured their local layer
    assert re.search(r"\| \d+\.\d / \d+\.\d \| \d+\.\d / \d+\.\d \|$", row), row
    saved = json.loads((tmp_path / "results.json").read_text())["controls"]
    assert [c["variant"] for c in saved] == ["oja+unit_norm=true+local_lr=0.01"]


def test_paired_difference_skips_diverged_and_unpaired_seeds() -> None:
    rule = [{"seed": 0, "test_accuracy": 0.9}, {"seed": 1, "test_accuracy": 0.8}, {"seed": 2, "diverged": "x",
                                                                                   "test_accuracy": None}]
    control = [{"seed": 0, "test_accuracy": 0.85}, {"seed": 2, "test_accuracy": 0.5}]
    d = paired_difference(rule, control)
    assert d["pairs"] == 1 and d["mean"] == pytest.approx(5.0)
    assert paired_difference(rule, [])["pairs"] == 0
