"""The harness (spikefa/train/run.py and its neighbours): run-directory contents, crash-and-resume to
identical weights, grids, benchmarks, the optimiser a rule's parameter groups get (against a plain
SGD step and a shadow Adam), and a card's rule options under the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.catalog import load_card
from spikefa.errors import SpikefaError
from spikefa.schemas.run import RunConfig
from spikefa.train import resolve_config, resume, train
from spikefa.train.bench import bench_rules, write_bench
from spikefa.train.compare import parse_variant, run_grid, write_report, protocol_text
from spikefa.train.demo import demo_variants
from spikefa.train.run import make_optimizer

from ..helpers import batch, net

FAST = dict(limit_train=192, batch_size=32, align_every=2)


def test_run_directory_holds_everything(tmp_path: Path) -> None:
    config = resolve_config("mlp-1x800-tanh", "fa", "digits", epochs=2, **FAST)
    summary = train(config, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "summary.json", "checkpoint.pt", "curves.png", "alignment.png"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "val_accuracy", "test_accuracy", "layer0.update_angle", "layer0.feedback_angle"} <= set(rows[0])
    saved = json.loads((run / "summary.json").read_text())
    assert saved == summary
    assert {"test_accuracy", "val_accuracy", "epochs", "seconds"} <= set(saved) and saved["epochs"] == 2
    assert json.loads((run / "config.json").read_text())["feedback"] == "random"
    assert 0.0 <= saved["test_accuracy"] <= 1.0


@pytest.mark.parametrize("rule,feedback", [("fa", "batch-random-sign"), ("dfa", "random"), ("sign", None)])
def test_resume_reaches_the_same_weights(tmp_path: Path, rule: str, feedback: str | None) -> None:
    config = resolve_config("mlp-1x800-tanh", rule, "digits", feedback=feedback, epochs=3, **FAST)
    train(config, tmp_path / "whole", progress=False)
    with pytest.raises(_Crash):  # the process dies after epoch 1's checkpoint
        train(config, tmp_path / "crashed", progress=False, on_epoch=_crash_after(1))
    resume(tmp_path / "crashed", progress=False)
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "crashed" / "checkpoint.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 3
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]


class _Crash(Exception):
    pass


def _crash_after(n: int):  # type: ignore[no-untyped-def]
    def hook(row: dict) -> None:  # type: ignore[type-arg]
        if row["epoch"] == n:
            raise _Crash

    return hook


def test_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    config = resolve_config("mlp-1x800-tanh", "bp", "digits", epochs=1, **FAST)
    train(config, tmp_path / "r", progress=False)
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    with pytest.raises(SpikefaError, match="already holds a run"):
        train(config, tmp_path / "r", progress=False)
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before


def test_compare_grid_table_and_reuse(tmp_path: Path) -> None:
    summaries = run_grid("mlp-1x800-tanh", ["bp", "fa:binary"], "digits", [0, 1], tmp_path, progress=False,
                         epochs=1, **FAST)
    table = write_report(summaries, tmp_path, "t", protocol_text(summaries, tmp_path))
    assert "| bp | 2 |" in table and "| fa:binary | 2 |" in table and "Protocol:" in table
    assert "validation split (the dataset's default size) held out" in table
    per_rule = table.split("per rule: ")[1].split("\n")[0]
    assert "bp: adam lr 0.001 (cosine);" in per_rule  # bp has no options to list
    assert "fa:binary: adam lr 0.003 (cosine), options plastic=none, plastic_lr=0.0001." in per_rule
    assert (tmp_path / "curves.png").is_file() and (tmp_path / "results.json").is_file()
    stamp = (tmp_path / "runs" / "bp-seed0" / "summary.json").stat().st_mtime_ns
    said: list[str] = []
    run_grid("mlp-1x800-tanh", ["bp"], "digits", [0], tmp_path, progress=False, epochs=1, announce=said.append, **FAST)
    assert (tmp_path / "runs" / "bp-seed0" / "summary.json").stat().st_mtime_ns == stamp  # reused
    assert said[0].endswith("bp-seed0: finished with the same settings; reused, not retrained (delete it to train "
                            "it again)")
    assert said[1].endswith("also holds bp-seed1, fa-binary-seed0, fa-binary-seed1; they are not in this table")
    with pytest.raises(SpikefaError, match=r"bp-seed0 holds a run with other settings \(lr 0.001 there, 0.1 now\)"):
        run_grid("mlp-1x800-tanh", ["bp"], "digits", [0], tmp_path, progress=False, epochs=1, lr=0.1, **FAST)
    assert (tmp_path / "runs" / "bp-seed0" / "summary.json").stat().st_mtime_ns == stamp  # nothing touched


def test_variants_parse_and_demo_covers_every_rule() -> None:
    assert parse_variant("fa:sign") == ("fa", "sign", {}) and parse_variant("dfa") == ("dfa", "random", {})
    assert parse_variant("sum+beta=0.1+hebbian=oja") == ("sum", None, {"beta": "0.1", "hebbian": "oja"})
    with pytest.raises(SpikefaError, match="no option 'gamma'"):
        parse_variant("sum+gamma=1")
    with pytest.raises(SpikefaError):
        parse_variant("sign:random")
    from spikefa.rules import FEEDBACK_KINDS, RULES

    variants = demo_variants()
    rate_rules = {name for name, rule in RULES.items() if "rate" in rule.takes}
    assert {parse_variant(v)[0] for v in variants} == rate_rules  # the demo shows every rule for rate-coded nets
    assert {parse_variant(v)[1] for v in variants if v.startswith("dfa")} == set(FEEDBACK_KINDS)


def test_bench_reports_ratios(tmp_path: Path) -> None:
    result = bench_rules("mlp-2x800-tanh", ["bp", "fa", "dfa"], batch_size=8, input_shape=(1, 8, 8), rounds=1, steps=2)
    rows = {r["rule"]: r for r in result["rows"]}
    assert rows["bp"]["time_ratio"] == 1.0 and rows["fa"]["time_ratio"] > 0
    assert rows["dfa"]["saved_bytes"] < rows["bp"]["saved_bytes"]  # the cut graph keeps less for backward
    text = write_bench(result, tmp_path)
    assert "| dfa |" in text and (tmp_path / "bench_rules.json").is_file()


def test_accuracy_cells_show_spread_only_over_several_runs() -> None:
    from spikefa.train.compare import accuracy_cells, summarize_runs

    def run(acc: float) -> dict:
        return {"test_accuracy": acc, "val_accuracy": acc, "diverged": None, "epochs": 1, "seconds": 1.0}

    three = summarize_runs("bp", [run(0.97), run(0.98), run(0.99)])
    assert accuracy_cells(three) == ("98.00 ± 1.00", "98.00 ± 1.00")
    one = summarize_runs("bp", [run(0.97)])
    assert accuracy_cells(one) == ("97.00", "97.00")
    assert accuracy_cells({"seeds": 1, "diverged": 1}) == ("—", "—")


# ---------------------------------------------------------------- the optimiser of a rule's parameter groups


def _config(optimizer: str, **kw: object) -> RunConfig:
    return RunConfig(model="mlp-1x2000-relu", rule="hebb", dataset="digits", optimizer=optimizer, **kw)  # type: ignore[arg-type]


def test_make_optimizer_hidden_plain_sgd_output_adam() -> None:
    local_lr = 0.05
    model = spikefa.convert(net(6), "hebb", options={"local_lr": local_lr})
    config = _config("adam", lr=1e-2, weight_decay=1e-3, rule_options={"local_lr": local_lr})
    opt = make_optimizer(config, model)
    hidden = list(model.blocks[0].parameters())
    output = list(model.blocks[1].parameters())
    shadow = [nn.Parameter(p.detach().clone()) for p in output]
    ref_adam = torch.optim.Adam(shadow, lr=1e-2, weight_decay=1e-3)
    for step in range(3):
        x, y = batch(20 + step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        before = [p.detach().clone() for p in hidden]
        grads = [p.grad.clone() for p in hidden]
        for s, p in zip(shadow, output):
            s.grad = p.grad.clone()
        opt.step()
        ref_adam.step()
        for p, b, g in zip(hidden, before, grads):
            assert torch.allclose(p.detach(), b - local_lr * g, rtol=1e-6, atol=1e-7), step
        for p, s in zip(output, shadow):
            assert torch.allclose(p.detach(), s.detach(), rtol=1e-6, atol=1e-7), step
    # the output layer really took Adam steps (not SGD at local_lr)
    assert opt.state[output[0]]["step"] == 3 and not opt.state.get(hidden[0])


def test_make_optimizer_sgd_hidden_is_plain_sgd() -> None:
    local_lr = 0.05
    model = spikefa.convert(net(6), "hebb", options={"local_lr": local_lr})
    opt = make_optimizer(_config("sgd", lr=1e-2, momentum=0.9, rule_options={"local_lr": local_lr}), model)
    w = model.blocks[0][0].weight
    for step in range(2):
        x, y = batch(30 + step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        before, g = w.detach().clone(), w.grad.clone()
        opt.step()
        assert torch.allclose(w.detach(), before - local_lr * g, rtol=1e-6, atol=1e-7), step


# ---------------------------------------------------------------- a card's rule options


def test_preset_rule_options_apply_under_the_command_line() -> None:
    assert load_card("snn-1x800-lif").preset("dfa").options == {"error": "count", "error_every": 5}
    preset = resolve_config("snn-1x800-lif", "dfa", "mnist").rule_options
    assert preset["error_every"] == 5 and preset["error"] == "count"
    given = resolve_config("snn-1x800-lif", "dfa", "mnist", rule_options={"error_every": "2"})
    assert given.rule_options["error_every"] == 2 and given.rule_options["error"] == "count"
    assert resolve_config("snn-1x800-lif", "bp", "mnist").rule_options == {}


def test_prepare_data_returns_the_splits_record_standardized_on_the_device() -> None:
    from spikefa.data import Splits, load_dataset
    from spikefa.train.run import prepare_data

    config = resolve_config("mlp-1x800-tanh", "fa", "digits", limit_train=100, limit_eval=50, standardize=True)
    raw = load_dataset("digits")
    data = prepare_data(config)
    assert isinstance(data, Splits) and data.kind == "images" and data.standardized and not raw.standardized
    assert data.sizes() == {"train": 100, "val": 50, "test": 50} and data.classes == raw.classes
    x = raw.x_train[:100]
    mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    assert torch.equal(data.x_train, (x - mean) / std) and torch.equal(data.x_test, (raw.x_test[:50] - mean) / std)
    assert torch.equal(data.y_val, raw.y_val[:50])
    again = prepare_data(config, splits=data)  # already standardized: left as it is
    assert torch.equal(again.x_train, data.x_train)


def test_val_size_holds_out_that_many_training_examples() -> None:
    from spikefa.data import load_dataset
    from spikefa.train.run import prepare_data

    default = load_dataset("digits").sizes()
    data = prepare_data(resolve_config("mlp-1x800-tanh", "fa", "digits", val_size=200))
    sizes = data.sizes()
    assert sizes["val"] == 200 != default["val"] and sizes["test"] == default["test"]
    assert sizes["train"] + sizes["val"] == default["train"] + default["val"]
    with pytest.raises(SpikefaError, match="val_size"):
        resolve_config("mlp-1x800-tanh", "fa", "digits", val_size=0)
    config = resolve_config("mlp-1x800-tanh", "fa", "digits", val_size=200)
    with pytest.raises(SpikefaError, match="val_size = 200, but the splits given hold"):
        prepare_data(config, splits=load_dataset("digits"))  # splits loaded without it are refused, not used
    assert prepare_data(config, splits=load_dataset("digits", val_size=200)).sizes()["val"] == 200


def test_prepare_data_keeps_event_counts_and_loads_events_at_the_cards_T(monkeypatch: pytest.MonkeyPatch) -> None:
    from spikefa.data import Splits
    from spikefa.train import run as harness

    x, y = torch.randint(0, 3, (6, 4, 2, 3, 3), dtype=torch.uint8), torch.arange(6) % 2
    events = Splits("fake", "events", x, y, x, y, x, y, (2, 3, 3), 2, time_steps=4, bin_ms=1.0)
    asked: dict[str, object] = {}
    monkeypatch.setattr(harness, "load_dataset", lambda *a, **k: asked.update(args=a, **k) or events)
    config = resolve_config("snn-1x800-lif", "bp", "nmnist", limit_train=5, limit_eval=3)
    data = harness.prepare_data(config)
    assert asked == {"args": ("nmnist", None), "time_steps": load_card("snn-1x800-lif").encoder.time_steps,
                     "limit": 5, "progress": True, "val_size": None}
    harness.prepare_data(resolve_config("snn-1x800-lif", "bp", "nmnist", limit_train=5, val_size=6))
    assert asked["val_size"] == 6
    assert data.kind == "events" and not data.standardized and data.x_train.dtype == torch.uint8
    assert torch.equal(data.x_train, x[:5]) and data.sizes() == {"train": 5, "val": 3, "test": 3}
    with pytest.raises(SpikefaError, match="dataset 'nmnist' holds events: train it with a spiking card"):
        harness.prepare_data(resolve_config("mlp-1x800-tanh", "bp", "nmnist"))


def test_seconds_per_run_keeps_two_digits_below_ten_and_whole_seconds_above() -> None:
    from spikefa.train.compare import seconds_cell, table_row

    assert [seconds_cell(s) for s in (0.011, 0.5, 3.456, 9.94, 12.6, 1581.2)] == ["0.011", "0.5", "3.5", "9.9", "13", "1581"]
    row = {"variant": "fa", "seeds": 2, "test_mean": 90.0, "test_std": 0.5, "val_mean": 91.0, "val_std": 0.25,
           "diverged": 0, "epochs": 3, "seconds": 0.042}
    assert table_row(row) == "| fa | 2 | 90.00 ± 0.50 | 91.00 ± 0.25 | 3 | 0.042 |"


def test_the_progress_bar_shows_no_nan_loss_for_rules_without_one(capsys: pytest.CaptureFixture[str]) -> None:
    from spikefa.train.run import _Bar

    bar = _Bar(total=2, initial=0, desc="stdp", enabled=True)
    bar.step(float("nan"))
    bar.epoch({"epoch": 1, "train_loss": float("nan"), "val_accuracy": 0.8861})
    bar.step(0.5)
    bar.epoch({"epoch": 2, "train_loss": 0.25, "val_accuracy": 0.9})
    bar.close()
    err = capsys.readouterr().err
    assert "nan" not in err and "epoch 1 val 0.8861" in err and "epoch 2 loss 0.2500 val 0.9000" in err


def test_a_run_another_live_process_trains_is_refused_and_a_dead_ones_lock_taken_over(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from spikefa.runs.checkpoint import LOCK

    config = resolve_config("mlp-1x800-tanh", "fa", "digits", epochs=1, **FAST)
    run = tmp_path / "run"
    run.mkdir()
    host = os.uname().nodename
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / LOCK).write_text(f"{live.pid} {host}\n")  # a live process holds it
        with pytest.raises(SpikefaError, match=f"process {live.pid} is training this run now"):
            train(config, run, progress=False)
    finally:
        live.kill()
        live.wait()
    (run / LOCK).write_text(f"{os.getpid() + 1} node-elsewhere\n")  # another host's: its life cannot be checked
    with pytest.raises(SpikefaError, match="on host node-elsewhere is training this run now"):
        train(config, run, progress=False)
    assert not (run / "checkpoint.pt").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (run / LOCK).write_text(f"{int(dead.stdout)} {host}\n")  # left by a process that died (kill -9)
    train(config, run, progress=False)
    assert (run / "checkpoint.pt").is_file() and not (run / LOCK).exists()  # taken over, then released
    with pytest.raises(_Crash):  # released however the training ends
        resume_config = resolve_config("mlp-1x800-tanh", "fa", "digits", epochs=2, **FAST)
        train(resume_config, tmp_path / "crash", progress=False, on_epoch=_crash_after(1))
    assert not (tmp_path / "crash" / LOCK).exists()


def test_best_pt_holds_the_weights_of_the_best_validation_epoch(tmp_path: Path) -> None:
    fast = {**FAST, "align_every": 0}
    config = resolve_config("mlp-1x800-tanh", "fa", "digits", epochs=5, schedule="constant", lr=0.05, **fast)
    train(config, tmp_path / "run", progress=False)
    history = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["history"]
    vals = [r["val_accuracy"] for r in history]
    best_epoch = vals.index(max(vals)) + 1  # the first epoch reaching the maximum
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert best["epoch"] == best_epoch and best["val_accuracy"] == max(vals)
    # the same run stopped at that epoch (constant rate, same seed and shuffling) holds the same weights
    short = resolve_config("mlp-1x800-tanh", "fa", "digits", epochs=best_epoch, schedule="constant", lr=0.05, **fast)
    train(short, tmp_path / "short", progress=False)
    weights = torch.load(tmp_path / "short" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(best["model"][k], v) for k, v in weights.items())
