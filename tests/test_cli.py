"""The CLI: user errors are one line and exit code 2; commands write what they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikefa.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse exits by itself
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv,needle", [
    (["train", "--model", "mlp-1x800-tanh", "--rule", "nope", "--dataset", "digits", "--out", "X"], "rule 'nope'"),
    (["train", "--model", "mlp-1x800-tanh", "--rule", "sign", "--feedback", "random", "--dataset", "digits",
      "--out", "X"], "does not take feedback"),
    (["train", "--model", "no-such-card", "--rule", "fa", "--dataset", "digits", "--out", "X"], "no-such-card"),
    (["train", "--model", "mlp-1x800-tanh", "--rule", "fa", "--dataset", "mnist", "--data-dir", "/nonexistent/dir",
      "--out", "X"], "/nonexistent/dir"),
    (["train", "--model", "mlp-1x800-tanh", "--rule", "fa", "--dataset", "digits", "--out", "X", "--epochs", "0"],
     "must be >= 1"),
    (["train", "--resume", "/nonexistent/run"], "/nonexistent/run"),
    (["train", "--resume", "/nonexistent/run", "--epochs", "3"], "/nonexistent/run: no such run directory"),
    (["train", "--rule", "fa"], "needs --model"),
    (["compare", "--model", "mlp-1x800-tanh", "--rules", "bp,zz", "--out", "X"], "rule 'zz'"),
    (["compare", "--model", "mlp-1x800-tanh", "--rules", "fa,,bp", "--out", "X"], "--rules 'fa,,bp' has an empty item"),
    (["reproduce", "fa-hebbian", "--only", "1-blog,", "--out", "X"], "--only '1-blog,' has an empty item"),
    (["compare", "--model", "mlp-1x800-tanh", "--seeds", "0,,2", "--out", "X"], "--seeds '0,,2' is not a count"),
    (["bench", "spiking", "--time-steps", "10,,25"], "--time-steps '10,,25' has an empty item"),
    (["bench", "spiking", "--error-every", "1,x"], "--error-every '1,x' must be a comma list of integers"),
    (["bench", "peers", "--dc-sizes", "100,0"], "--dc-sizes '100,0' must list integers >= 1"),
    (["bench", "rules", "--input-shape", "28x28"], "CxHxW"),
    (["frobnicate"], "invalid choice"),
])
def test_user_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         argv: list[str], needle: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "X").exists()  # nothing half-written


def test_missing_data_points_at_the_cli_download_and_data_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPIKEFA_DATA", raising=False)
    train = ["train", "--model", "mlp-1x800-tanh", "--rule", "fa", "--dataset", "mnist", "--out", str(tmp_path / "X")]
    code, _, err = run_cli(capsys, *train, "--data-dir", str(tmp_path / "absent"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "`spikefa data download mnist [--data-dir DIR]`" in err and "--data-dir DIR" in err
    a_file = tmp_path / "train-images-idx3-ubyte.gz"
    a_file.write_bytes(b"\x1f\x8b")
    code, _, err = run_cli(capsys, *train, "--data-dir", str(a_file))
    assert code == 2 and f"--data-dir (data_dir=) {a_file} is a file, not a folder" in err
    assert f"(e.g. {tmp_path})" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("SPIKEFA_DATA", str(a_file))
    code, _, err = run_cli(capsys, *train)
    assert code == 2 and f"$SPIKEFA_DATA={a_file} is a file" in err
    code, _, err = run_cli(capsys, "data", "download", "mnist", "--data-dir", str(a_file), "--no-progress")
    assert code == 2 and f"--data-dir (root=) {a_file} is a file" in err and not (tmp_path / "X").exists()


def test_train_then_resume_from_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = ["--limit-train", "128", "--batch-size", "32", "--no-progress"]
    code, out, _ = run_cli(capsys, "train", "--model", "mlp-1x800-tanh", "--rule", "dfa", "--dataset", "digits",
                           "--epochs", "1", "--out", str(run), *common)
    assert code == 0 and "test accuracy" in out
    code, _, err = run_cli(capsys, "train", "--model", "mlp-1x800-tanh", "--rule", "dfa", "--dataset", "digits",
                           "--epochs", "1", "--out", str(run), *common)
    assert code == 2 and "--resume" in err
    code, _, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "2", "--lr", "0.5", "--seed", "0",
                           "--out", str(tmp_path / "elsewhere"))
    assert code == 2 and "takes only --epochs, --device and --no-progress (drop --seed, --out, --lr)" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "elsewhere").exists()
    assert json.loads((run / "summary.json").read_text())["epochs"] == 1  # a refused resume changes nothing
    code, out, _ = run_cli(capsys, "train", "--resume", str(run), "--epochs", "2", "--no-progress")
    assert code == 0 and out.startswith(f"{run}: resuming after epoch 1, to 2 epochs\n")  # said, even without a bar
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2
    # a run started on a GPU continues on a CPU with --device (and says where to, without one)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "device": "cuda"}))
    if not torch.cuda.is_available():
        code, out, _ = run_cli(capsys, "train", "--resume", str(run), "--no-progress")  # finished: nothing to run
        assert code == 0 and "the run is complete (2 epochs)" in out
        code, out, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3", "--no-progress")
        assert code == 2 and "no CUDA device is available; use --device cpu" in err and not out  # said first
        assert len(err.strip().splitlines()) == 1 and json.loads((run / "summary.json").read_text())["epochs"] == 2
    code, out, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3", "--device", "gpu", "--no-progress")
    assert code == 2 and err.strip() == ("spikefa: error: device 'gpu' is not a device torch knows; "
                                         "expected cpu, cuda, cuda:N or auto") and not out
    code, out, _ = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3", "--device", "cpu", "--no-progress")
    assert code == 0 and json.loads((run / "summary.json").read_text())["epochs"] == 3
    assert json.loads((run / "config.json").read_text())["device"] == "cpu"


@pytest.mark.parametrize("argv", [
    ["train", "--model", "mlp-1x800-tanh", "--rule", "fa", "--dataset", "digits"],
    ["compare", "--model", "mlp-1x800-tanh", "--rules", "fa"],
    ["demo"],
    ["export", "sweep", "RUN", "--targets", "int8-edge"],
])
@pytest.mark.parametrize("below", [False, True])
def test_an_out_through_a_file_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  argv: list[str], below: bool) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("kept")
    out = a_file / "run" if below else a_file
    code, _, err = run_cli(capsys, *argv, "--out", str(out))
    assert code == 2 and err.strip() == f"spikefa: error: --out {out}: {a_file} is a file, not a folder"
    assert a_file.read_text() == "kept"


def test_list_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    for what, name in [("rules", "dfa"), ("feedback", "batch-random-sign"), ("models", "lenet"), ("datasets", "mnist")]:
        code, out, _ = run_cli(capsys, "list", what)
        assert code == 0 and name in out
    code, out, _ = run_cli(capsys, "list", "datasets")  # one registry, each dataset with its kind
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    assert lines["mnist"] == "[images]" and lines["nmnist-synth"] == "[events]" and lines["shd"] == "[events]"
    code, out, _ = run_cli(capsys, "list", "targets")  # every profile `export --target` takes, with its summary
    from spikefa.export.profile import list_profiles

    assert code == 0 and [line.split()[0] for line in out.splitlines()] == list_profiles() and "Loihi 2" in out
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and "spikefa" in out


def test_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "spikefa.cli", "list", "rules"], capture_output=True, text=True)
    assert result.returncode == 0 and "sign" in result.stdout


def test_demo_fast(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "demo", "--out", str(tmp_path), "--epochs", "1", "--seeds", "1", "--limit-train", "256",
                           "--no-progress")
    assert code == 0
    table = (tmp_path / "table.md").read_text()
    assert "| bp |" in table and "| dfa:batch-random-sign |" in table and "| sign |" in table
    assert "1 epoch, the first 256 training examples only" in table  # a limited demo says so
    assert (tmp_path / "curves.png").is_file()


def _all_parsers() -> list[tuple[str, "argparse.ArgumentParser"]]:
    import argparse

    from spikefa.cli import build_parser

    out, todo = [], [("spikefa", build_parser())]
    while todo:
        name, parser = todo.pop()
        out.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [(f"{name} {sub}", p) for sub, p in action.choices.items()]
    return out


def test_every_option_has_help_and_states_its_default() -> None:
    import argparse

    parsers = _all_parsers()
    assert {"spikefa train", "spikefa compare", "spikefa crosscheck", "spikefa export", "spikefa list"} <= {
        n for n, _ in parsers}
    for name, parser in parsers:
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            if action.option_strings and not any(action.default is v for v in (None, False)):
                shown = formatter._get_help_string(action)  # what --help prints, before % expansion
                assert "default" in shown, f"{name} {action.option_strings[-1]}: the help does not state the default"


def test_train_help_says_what_comes_from_the_card(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "train", "--help")
    flat = " ".join(out.split())
    assert code == 0
    assert "Epochs, learning rate, batch size, optimiser, schedule and weight decay come from the model card" in flat
    assert "--seed SEED seed of the weights, feedback matrices, data order and spike encoders" in flat
    assert "(default: 0)" in flat
    for flag in ("--epochs N", "--lr LR", "--batch-size N"):
        assert f"{flag} " in flat and flat.split(f"{flag} ", 1)[1].split(" --", 1)[0].endswith(
            "(default: the model card's preset for the rule, else its [defaults])")


def test_list_models_shows_default_rule_and_presets(capsys: pytest.CaptureFixture[str]) -> None:
    from spikefa.catalog import list_cards, load_card

    code, out, _ = run_cli(capsys, "list", "models")
    assert code == 0
    for name in list_cards():
        card = load_card(name)
        block = out.split(f"\n{name} ", 1)[1] if not out.startswith(f"{name} ") else out[len(name):]
        rules_line = block.splitlines()[1].strip()
        assert rules_line.startswith(f"rules: {card.default_rule} (default")
        assert all(rule in rules_line for rule in card.presets)
        for rule, preset in card.presets.items():  # each preset's options, as the run would take them
            assert all(f"{k}={v}" in rules_line for k, v in preset.options.items())


def test_list_rules_states_choices_then_help_then_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "list", "rules")
    assert code == 0 and "= 'none'" not in out
    assert "--opt plastic=none|hebb|oja: train B by Hebb's or Oja's rule (HL x FA); default none" in out
    assert "--opt threshold=true|false: " in out and "--opt plastic_lr=FLOAT: " in out


def test_train_without_rule_takes_the_cards_default_rule(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from spikefa.catalog import load_card

    code, out, _ = run_cli(capsys, "train", "--model", "mlp-1x800-tanh", "--dataset", "digits", "--epochs", "1",
                           "--limit-train", "64", "--no-progress", "--out", str(tmp_path / "r"))
    assert code == 0 and "test accuracy" in out
    rule = json.loads((tmp_path / "r" / "config.json").read_text())["rule"]
    assert rule == load_card("mlp-1x800-tanh").default_rule
