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
    assert "| mlp-1x2000-relu | hebb+local_lr=0.01 |" in report
    assert "| mlp-1x2000-relu | hebb+local_lr=0.01 | hebb+local_lr=0.01+frozen=true | 1 |" in report
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


def test_sweep_largest_stable_takes_the_largest_value_nothing_overflowed_at() -> None:
    from spikefa.experiments.sweep import Sweep, choose

    s = Sweep("local_lr", (1e-4, 1e-5, 1e-6), ("hebb", "oja"), "largest-stable")
    assert s.rounds() == [(1e-4,), (1e-5,), (1e-6,)]
    runs = {("hebb", 1e-4): {"diverged": "x"}, ("oja", 1e-4): {"diverged": None}}
    assert not s.settled(runs)  # one row overflowed at 1e-4: try the next value down
    runs.update({("hebb", 1e-5): {"diverged": None}, ("oja", 1e-5): {"diverged": None}})
    assert s.settled(runs) and choose(s, runs) == {"hebb": 1e-5, "oja": 1e-5}
    everything_diverged = {(r, v): {"diverged": "x"} for r in s.rows for v in s.values}
    assert choose(s, everything_diverged) == {"hebb": 1e-6, "oja": 1e-6}


def test_sweep_best_moving_prefers_validation_accuracy_among_rates_that_move_b() -> None:
    from spikefa.experiments.sweep import MOVED, Sweep, choose

    s = Sweep("plastic_lr", (1e-4, 1e-2, 1e-1), ("fa+plastic=hebb",), "best-moving")

    def run(val: float, moved: float, diverged: str | None = None) -> dict:
        return {"val_accuracy": val, "diverged": diverged,
                "feedback_motion": {"layer0": {"moved": moved}, "layer1": {"moved": moved}}}

    r = "fa+plastic=hebb"
    runs = {(r, 1e-4): run(0.99, MOVED / 10), (r, 1e-2): run(0.90, MOVED * 2), (r, 1e-1): run(0.95, MOVED * 20)}
    assert choose(s, runs) == {r: 1e-1}  # 1e-4 scores best but B does not move there
    runs[(r, 1e-1)] = run(0.0, 9.0, diverged="x")
    assert choose(s, runs) == {r: 1e-2}  # a diverged rate is never chosen
    runs = {(r, v): run(0.9, v) for v in s.values if v < MOVED}
    runs.update({(r, 1e-1): run(0.9, 0.04)})
    assert choose(s, runs) == {r: 1e-1}  # none reaches MOVED: the one that moved B most


def test_blog_findings_are_computed_from_the_rows() -> None:
    from spikefa.experiments.fa_hebbian import blog_findings

    def row(variant: str, mean: float | None, std: float = 0.1) -> dict:
        base = {"variant": variant, "seeds": 3, "diverged": 0 if mean is not None else 3}
        return base | ({"test_mean": mean, "test_std": std} if mean is not None else {})

    rows = [row("bp", 98.0), row("hebb+local_lr=1e-06", None), row("hebb+threshold=true+local_lr=1e-06", 80.0),
            row("oja+local_lr=1e-06", 60.0), row("oja+threshold=true+local_lr=1e-06", 80.1, 0.3)]
    controls = [{"variant": "hebb+local_lr=1e-06", "pairs": 0}]
    poor, oja = blog_findings(rows, controls)
    assert "**holds**" in poor and "diverged (3/3)" in poor
    assert "**holds in 1 of 2**" in oja  # 80.1 vs 80.0 is inside the seed spread
    rows[1] = row("hebb+local_lr=1e-06", 95.0)
    rows[3] = row("oja+local_lr=1e-06", 95.05)
    rows[4] = row("oja+threshold=true+local_lr=1e-06", 70.0)
    poor, oja = blog_findings(rows, controls)
    assert "**does not hold**" in poor and "**does not hold**" in oja
