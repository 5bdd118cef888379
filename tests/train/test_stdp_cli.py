"""The STDP family through the command line like every other rule: `list rules` shows them,
`spikefa train --rule stdp|stdp-readout|three-factor` writes a normal run directory, a run killed
with SIGKILL inside an epoch resumes from its last checkpoint to the same bits as an unbroken run,
and a rule refuses a model it does not train. Tiny networks on the embedded digits data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikefa.cli import main

CARDS = {
    "diehl-cook": """
[architecture]
n_exc = 16
time_ms = 40.0
max_rate_hz = 200.0
max_boosts = 0
""",
    "three-factor": """
[architecture]
n_hidden = 12
time_ms = 20.0
lr = 1e-3
""",
}
DEFAULTS = """
[defaults]
optimizer = "sgd"
lr = 1.0
batch_size = 8
epochs = 1
weight_decay = 0.0
momentum = 0.0
schedule = "constant"
standardize = false
"""


def card(tmp_path: Path, arch: str) -> Path:
    rule = "stdp" if arch == "diehl-cook" else "three-factor"
    path = tmp_path / f"tiny-{arch}.toml"
    path.write_text(f'name = "tiny-{arch}"\ndescription = "test"\nreference = "test"\narch = "{arch}"\n'
                    f'default_rule = "{rule}"\n{CARDS[arch]}{DEFAULTS}')
    return path


def train_args(card_path: Path, rule: str, out: Path) -> list[str]:
    return ["train", "--model", str(card_path), "--rule", rule, "--dataset", "digits", "--limit-train", "96",
            "--checkpoint-every", "4", "--no-progress", "--out", str(out)]


# A training process that kills itself with SIGKILL in the middle of its 7th batch (after the
# checkpoint at batch 4 of epoch 1 and before the one at the end of the epoch): nothing runs after it.
KILLER = """
import os, signal, sys
from spikefa.rules import RULES
calls = [0]
def wrap(cls):
    original = cls.local_step
    def local_step(self, x, y):
        calls[0] += 1
        if calls[0] == 7:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, x, y)
    cls.local_step = local_step
from spikefa.nn.stdp import learners
for cls in (learners.DiehlCookLearner, learners.ThreeFactorLearner):
    wrap(cls)
from spikefa.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_list_rules_shows_the_stdp_family(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "rules"]) == 0
    out = capsys.readouterr().out
    for rule in ("stdp", "stdp-readout", "three-factor"):
        assert rule in out


@pytest.mark.parametrize("arch, rule", [("diehl-cook", "stdp"), ("diehl-cook", "stdp-readout"),
                                        ("three-factor", "three-factor")])
def test_killed_run_resumes_to_the_same_bits(tmp_path: Path, arch: str, rule: str) -> None:
    path = card(tmp_path, arch)
    assert main(train_args(path, rule, tmp_path / "whole")) == 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed = subprocess.run([sys.executable, "-c", KILLER, *train_args(path, rule, tmp_path / "killed")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr  # SIGKILL, not a clean exit
    ckpt = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] == 0 and ckpt["progress"]["batch"] == 4  # the mid-epoch checkpoint survived
    assert not (tmp_path / "killed" / "summary.json").exists()
    assert main(["train", "--resume", str(tmp_path / "killed"), "--no-progress"]) == 0
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    tensors = [k for k, v in a["model"].items() if isinstance(v, torch.Tensor)]
    assert tensors and all(torch.equal(a["model"][k], b["model"][k]) for k in tensors)
    assert a["step"] == b["step"] == 12 and a["history"][-1]["val_accuracy"] == b["history"][-1]["val_accuracy"]
    summary = (tmp_path / "killed" / "summary.json").read_text()
    assert '"rule": "%s"' % rule in summary


def test_a_finished_run_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(train_args(card(tmp_path, "three-factor"), "three-factor", out)) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert "complete" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_rules_refuse_models_they_do_not_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--model", "mlp-1x800-tanh", "--rule", "stdp", "--dataset", "digits",
                 "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "rule 'stdp' does not train a rate model" in err and "diehl-cook" in err and "\n" not in err
    assert main(["train", "--model", str(card(tmp_path, "diehl-cook")), "--rule", "fa", "--dataset", "digits",
                 "--out", str(tmp_path / "b")]) == 2
    assert "rule 'fa' does not train a diehl-cook model" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
