"""`spikefa reproduce fa-hebbian --fast`, shrunk further, on generated-free embedded digits."""

from __future__ import annotations

from pathlib import Path

from spikefa.cli import main
from spikefa.experiments import EXPERIMENTS


# a row or two of every experiment (bp is in each), so the smoke run stays short
SMOKE_ROWS = ("bp,hebb,oja,hebb+unit_norm=true+local_lr=1e-05,sum+beta=0.0001+hebbian=oja,"
              "hebbian-descent+mode=full+factor=centred,dfa:binary,fa,fa+plastic=hebb,dfa+plastic=hebb")


def test_reproduce_fast_smoke(tmp_path: Path) -> None:
    code = main(["reproduce", "fa-hebbian", "--fast", "--dataset", "digits", "--limit-train", "128", "--epochs", "1",
                 "--out", str(tmp_path), "--no-progress", "--variants", SMOKE_ROWS])
    assert code == 0
    report = (tmp_path / "digits" / "report.md").read_text()
    for key, exp in EXPERIMENTS.items():
        assert exp.title in report
        assert (tmp_path / "digits" / f"{key}.png").is_file()
    assert "Protocol:" in report and "| mlp-2x800-tanh | dfa:binary |" in report
    assert "sum+beta=0.0001+hebbian=oja" in report
    # the blog's table: local_lr chosen by the sweep (largest first: nothing overflows in one step)
    assert "| mlp-1x2000-relu | hebb+local_lr=0.0001 |" in report
    assert "| mlp-1x2000-relu | hebb+local_lr=0.0001 | hebb+local_lr=0.0001+frozen=true | 1 |" in report
    assert "| mlp-1x2000-relu | hebb+unit_norm=true+local_lr=1e-05+frozen=true |" in report
    assert "frozen" not in "".join(line for line in report.splitlines() if line.startswith("| mlp-1x2000-relu | bp"))
    assert report.count("### The blog's findings, from these numbers") == 2
    assert "- Oja ahead of Hebb" in report and "- vanilla Hebbian learning poor on MNIST" in report
    # plastic feedback: the rate chosen on validation, B's motion reported, a fixed B does not move
    assert "| fa+plastic=hebb | 0.1 |" in report and "plastic_lr` in {0.0001, 0.001, 0.01, 0.1}" in report
    assert "| mlp-2x800-relu | fa | layer0 | 0 ± 0 |" in report
    assert "| mlp-2x800-relu | dfa+plastic=hebb+plastic_lr=" in report


def test_reproduce_rejects_unknown_experiment(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["reproduce", "fa-hebbian", "--only", "9-nope", "--out", str(tmp_path)]) == 2
    assert "9-nope" in capsys.readouterr().err


def test_reproduce_refuses_an_event_dataset_by_name() -> None:
    import pytest

    from spikefa.errors import SpikefaError
    from spikefa.experiments.fa_hebbian import _splits

    with pytest.raises(SpikefaError, match="--dataset 'nmnist-synth' holds events; the reproduced experiments"):
        _splits("nmnist-synth", None)
