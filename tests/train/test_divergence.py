"""Hebb's rule runs away (its known failure): the harness must stop, say where, and keep the last
good checkpoint; the CLI exits 1 with one line. Weight normalisation keeps the same run bounded."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest
import torch

from spikefa.rules import get_rule
from torch import nn

import spikefa
from spikefa.cli import main
from spikefa.train import resolve_config, train
from spikefa.train.loop import EXPLODE_AT, DivergenceError, check_weights
from spikefa.runs import CHECKPOINT, make_model
from spikefa.train.run import prepare_data

CARD = "mlp-1x2000-relu"  # ReLU: Hebb's ΔW = y xᵀ with y ∝ W grows geometrically
BATCH = 32


def hebb_config(limit_train: int, card: str = CARD, **options: object):  # type: ignore[no-untyped-def]
    return resolve_config(card, "hebb", "digits", rule_options={"local_lr": 1.0, **options},
                          limit_train=limit_train, epochs=3, batch_size=BATCH, align_every=0)


def parse(diverged: str) -> tuple[str, int, int]:
    """(parameter name, step, last good epoch) from the summary's reason."""
    m = re.fullmatch(r"rule hebb: (\S+) became (?:non-finite|exploding \(\|w\| = \S+\)) at step (\d+); "
                     r"(?:last good checkpoint: epoch (\d+)|no checkpoint \(diverged in epoch 1\))", diverged)
    assert m, diverged
    return m.group(1), int(m.group(2)), int(m.group(3) or 0)


def hebbian_parameter_names(config) -> set[str]:  # type: ignore[no-untyped-def]
    data = prepare_data(config)
    model = make_model(config, data.input_shape, data.num_classes)
    groups = get_rule(config.rule).param_groups(model, config.rule_options)  # what the rule declares
    own = {id(p) for g in groups for p in g.params}
    return {n for n, p in model.named_parameters() if id(p) in own}


def test_check_weights_names_the_tensor_and_the_step() -> None:
    model = spikefa.convert(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), "fa", "random")
    check_weights(model, 1, "fa")  # healthy: no error
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    with pytest.raises(DivergenceError, match=r"rule fa: 2\.weight became non-finite at step 7"):
        check_weights(model, 7, "fa")
    with torch.no_grad():
        model[2].weight[0, 0] = 0.0
        model[0].feedback_fixed[1, 1] = 2 * EXPLODE_AT  # a feedback matrix is watched too
    with pytest.raises(DivergenceError, match=r"0\.feedback_fixed became exploding .* at step 3"):
        check_weights(model, 3, "fa")


def test_vanilla_hebb_diverges_in_epoch_one_and_writes_no_checkpoint(tmp_path: Path) -> None:
    config = hebb_config(limit_train=256)  # 8 steps per epoch
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["diverged"], summary
    name, step, good = parse(summary["diverged"])
    assert name in hebbian_parameter_names(config)  # the Hebbian layer ran away, not the Adam-trained one
    assert 1 <= step <= 256 // BATCH and good == 0
    assert summary["epochs"] == 0 and summary["test_accuracy"] is None
    run = tmp_path / "run"
    assert not (run / CHECKPOINT).exists()  # nothing good to keep
    assert not (run / "metrics.csv").exists()
    assert json.loads((run / "summary.json").read_text()) == summary
    assert json.loads((run / "config.json").read_text())["rule_options"]["local_lr"] == 1.0


def test_divergence_after_good_epochs_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    config = hebb_config(limit_train=128)  # 4 steps per epoch
    per_epoch = 128 // BATCH
    run = tmp_path / "run"
    snapshots: dict[int, bytes] = {}

    def keep(row: dict) -> None:  # type: ignore[type-arg]
        snapshots[row["epoch"]] = (run / CHECKPOINT).read_bytes()

    summary = train(config, run, progress=False, on_epoch=keep)
    assert summary["diverged"], summary
    name, step, good = parse(summary["diverged"])
    assert 1 <= good < config.epochs, "this setting must diverge after at least one good epoch"
    assert summary["epochs"] == good and sorted(snapshots) == list(range(1, good + 1))
    assert name in hebbian_parameter_names(config)
    assert good * per_epoch < step <= (good + 1) * per_epoch  # the step is global and inside the bad epoch
    assert (run / CHECKPOINT).read_bytes() == snapshots[good]  # not overwritten by the broken state
    ckpt = torch.load(run / CHECKPOINT, weights_only=False)
    assert ckpt["epoch"] == good and ckpt["step"] == good * per_epoch
    for key, value in ckpt["model"].items():
        if value.is_floating_point():
            assert torch.isfinite(value).all() and value.abs().max() < EXPLODE_AT, key
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, good + 1))
    assert summary["test_accuracy"] == pytest.approx(float(rows[-1]["test_accuracy"]))


def test_cli_exits_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(["train", "--model", CARD, "--rule", "hebb", "--dataset", "digits", "--out", str(out),
                 "--opt", "local_lr=1.0", "--epochs", "3", "--limit-train", "256", "--batch-size", str(BATCH),
                 "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("spikefa: stopped: rule hebb: ") and "at step" in lines[0]
    assert lines[0].endswith(f"-> {out}")
    assert "Traceback" not in captured.err and "test accuracy" not in captured.out
    assert json.loads((out / "summary.json").read_text())["diverged"]


@pytest.mark.parametrize("limit_train", [256, 128])
def test_unit_norm_keeps_the_same_run_bounded(tmp_path: Path, limit_train: int) -> None:
    vanilla = train(hebb_config(limit_train), tmp_path / "vanilla", progress=False)
    assert vanilla["diverged"]  # the comparison is meaningful: these settings do diverge without it
    summary = train(hebb_config(limit_train, unit_norm=True), tmp_path / "norm", progress=False)
    assert summary["diverged"] is None and summary["epochs"] == 3
    assert math.isfinite(summary["train_loss"]) and 0.0 <= summary["test_accuracy"] <= 1.0
    ckpt = torch.load(tmp_path / "norm" / CHECKPOINT, weights_only=False)
    assert ckpt["epoch"] == 3 and ckpt["config"]["rule_options"]["unit_norm"] is True


def test_unit_norm_keeps_a_deeper_relu_net_bounded(tmp_path: Path) -> None:
    summary = train(hebb_config(256, card="mlp-2x800-relu", unit_norm=True), tmp_path / "r", progress=False)
    assert summary["diverged"] is None, summary["diverged"]
