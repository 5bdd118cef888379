"""Your own snnTorch network from the command line: a model card names its factory
(`file.py:function`, relative to the card, or `package.module:function`); `spikefa train` builds it
under the run seed, trains it by online DFA or BPTT into a normal run directory whose config keeps
the factory's absolute path, and a bad factory is refused in one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefa.cli import main

pytest.importorskip("snntorch")

FACTORY = '''
import snntorch as snn
from torch import nn


def tutorial(input_shape, num_classes, hidden=12):
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), snn.Leaky(beta=0.9, init_hidden=True),
                         nn.Linear(hidden, num_classes), snn.Leaky(beta=0.9, init_hidden=True, output=True))


def not_a_module():
    return 3
'''

CARD = '''name = "mine"
description = "test"
reference = "test"
arch = "snntorch"
default_rule = "dfa"

[architecture]
factory = "{factory}"

[encoder]
kind = "rate"
time_steps = 6

[defaults]
optimizer = "adam"
lr = 1e-3
batch_size = 32
epochs = 1
weight_decay = 0.0
momentum = 0.9
schedule = "constant"
standardize = false
'''


def card(tmp_path: Path, factory: str) -> Path:
    (tmp_path / "nets").mkdir(exist_ok=True)
    (tmp_path / "nets" / "mine.py").write_text(FACTORY)
    (tmp_path / "cards").mkdir(exist_ok=True)
    path = tmp_path / "cards" / "mine.toml"
    path.write_text(CARD.format(factory=factory))
    return path


def args(path: Path, rule: str, out: Path) -> list[str]:
    return ["train", "--model", str(path), "--rule", rule, "--dataset", "digits", "--limit-train", "64",
            "--align-every", "0", "--no-progress", "--out", str(out)]


@pytest.mark.parametrize("rule", ["dfa", "bp"])
def test_a_factory_card_trains_into_a_run_directory(tmp_path: Path, rule: str) -> None:
    path = card(tmp_path, "../nets/mine.py:tutorial")
    assert main(args(path, rule, tmp_path / "run")) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    factory = config["card"]["architecture"]["factory"]
    assert factory == f"{(tmp_path / 'nets' / 'mine.py').resolve()}:tutorial"  # found again from anywhere
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["model"]
    assert any(k.endswith("synapses.0.1.weight") for k in state)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["epochs"] == 1


def test_the_same_seed_builds_the_same_network(tmp_path: Path) -> None:
    path = card(tmp_path, "../nets/mine.py:tutorial")
    for out in ("a", "b"):
        assert main(args(path, "dfa", tmp_path / out)) == 0
    a, b = (torch.load(tmp_path / o / "checkpoint.pt", weights_only=False)["model"] for o in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))


@pytest.mark.parametrize("factory, message", [
    ("../nets/missing.py:tutorial", "is not a file"),
    ("../nets/mine.py:nothing", "has no function 'nothing'"),
    ("../nets/mine.py:not_a_module", "not an nn.Module"),
    ("no_such_package.module:make", "cannot import no_such_package.module"),
])
def test_a_bad_factory_is_refused_by_name(tmp_path: Path, factory: str, message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = card(tmp_path, factory)
    assert main(args(path, "dfa", tmp_path / "run")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err and "factory" in err


FIXED_784 = '''
import snntorch as snn
from torch import nn


def mnist_only(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10), snn.Leaky(beta=0.9, init_hidden=True),
                         nn.Linear(10, num_classes), snn.Leaky(beta=0.9, init_hidden=True, output=True))
'''


def test_a_network_written_for_other_inputs_is_refused_in_one_line(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = card(tmp_path, "../nets/fixed.py:mnist_only")
    (tmp_path / "nets" / "fixed.py").write_text(FIXED_784)  # a 784-input net, trained on 8x8 digits
    assert main(args(path, "bp", tmp_path / "run")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not take dataset 'digits'" in err and "(1, 1, 8, 8)" in err
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_a_changed_factory_file_is_refused_at_export_in_one_line(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = card(tmp_path, "../nets/mine.py:tutorial")
    assert main(args(path, "bp", tmp_path / "run")) == 0
    (tmp_path / "nets" / "mine.py").write_text(FACTORY.replace("hidden=12", "hidden=7"))  # edited after training
    capsys.readouterr()
    assert main(["export", str(tmp_path / "run"), "--target", "int8-edge", "--out", str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "checkpoint.pt: the checkpoint does not fit the network" in err and "factory" in err
    assert not (tmp_path / "exp").exists()


def test_the_data_folder_is_stored_absolute_and_eval_can_be_limited(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = card(tmp_path, "../nets/mine.py:tutorial")
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main([*args(path, "bp", tmp_path / "run"), "--data-dir", "data", "--limit-eval", "20"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data_dir"] == str(tmp_path / "data") and config["limit_eval"] == 20


def test_a_missing_run_directory_is_named_as_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "nope"), "--target", "int8-edge", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no such run directory" in err


def test_a_card_passes_arguments_to_its_factory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = card(tmp_path, "../nets/mine.py:tutorial")
    path.write_text(path.read_text().replace('factory = "../nets/mine.py:tutorial"\n',
                                             'factory = "../nets/mine.py:tutorial"\narguments = { hidden = 5 }\n'))
    assert main(args(path, "bp", tmp_path / "run")) == 0
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["model"]
    weights = [v for k, v in state.items() if k.endswith("synapses.0.1.weight")]
    assert [tuple(w.shape) for w in weights] == [(5, 64)]  # hidden = 5, not the factory's default 12
    path.write_text(path.read_text().replace("arguments = { hidden = 5 }", "arguments = { width = 5 }"))
    capsys.readouterr()
    assert main(args(path, "bp", tmp_path / "run2")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "takes no argument 'width'" in err and "input_shape, num_classes, hidden" in err
    path.write_text(path.read_text().replace("arguments = { width = 5 }", "arguments = { num_classes = 3 }"))
    assert main(args(path, "bp", tmp_path / "run3")) == 2
    assert "num_classes come from the data" in capsys.readouterr().err
