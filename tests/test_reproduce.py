"""`spikefa reproduce fa-hebbian --fast`, shrunk further, on generated-free embedded digits."""

from __future__ import annotations

from pathlib import Path

from spikefa.cli import main
from spikefa.experiments import EXPERIMENTS


def test_reproduce_fast_smoke(tmp_path: Path) -> None:
    code = main(["reproduce", "fa-hebbian", "--fast", "--dataset", "digits", "--limit-train", "128", "--epochs", "1",
                 "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    report = (tmp_path / "digits" / "report.md").read_text()
    for key, exp in EXPERIMENTS.items():
        assert exp.title in report
        assert (tmp_path / "digits" / f"{key}.png").is_file()
    assert "Protocol:" in report and "| mlp-2x800-tanh | dfa:binary |" in report
    assert "sum+beta=0.0001+hebbian=oja" in report


def test_reproduce_rejects_unknown_experiment(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["reproduce", "fa-hebbian", "--only", "9-nope", "--out", str(tmp_path)]) == 2
    assert "9-nope" in capsys.readouterr().err


def test_reproduce_refuses_an_event_dataset_by_name() -> None:
    import pytest

    from spikefa.errors import SpikefaError
    from spikefa.experiments.fa_hebbian import _splits

    with pytest.raises(SpikefaError, match="--dataset 'nmnist-synth' holds events; the reproduced experiments"):
        _splits("nmnist-synth", None)
