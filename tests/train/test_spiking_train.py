"""Spiking cards through the harness: BPTT and online DFA learn, resume is exact, bench runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefa.train import Interrupted, resolve_config, resume, train
from spikefa.train.bench_spiking import bench_spiking, write_bench_spiking

FAST = dict(limit_train=512, limit_eval=96, batch_size=32, align_every=0)


@pytest.mark.parametrize("rule", ["bp", "dfa", "sign"])
def test_spiking_rules_learn_digits(tmp_path: Path, rule: str) -> None:
    """A smoke test of the whole path (card, encoder, harness). What each rule computes is checked
    against a reference elsewhere: BPTT's LIF step and surrogate against snnTorch
    (tests/functional/test_lif.py), online DFA against BPTT and explicit sums (tests/nn/test_online.py),
    sign symmetry against a plain-autograd FA (tests/nn/test_spiking.py)."""
    config = resolve_config("snn-1x800-lif", rule, "digits", epochs=2, lr=3e-3, **FAST)
    summary = train(config, tmp_path / rule, progress=False)
    assert summary["diverged"] is None
    assert summary["test_accuracy"] > 0.5  # chance is 0.1


def test_online_dfa_resume_reaches_the_same_weights(tmp_path: Path) -> None:
    config = resolve_config("snn-1x800-lif", "dfa", "digits", epochs=2, limit_train=64, limit_eval=32, batch_size=32)
    train(config, tmp_path / "whole", progress=False)

    def crash(row: dict) -> None:  # type: ignore[type-arg]
        raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="epoch 1 done.*--resume"):
        train(config, tmp_path / "crashed", progress=False, on_epoch=crash)
    resume(tmp_path / "crashed", progress=False)
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "crashed" / "checkpoint.pt", weights_only=False)["model"]
    tensors = [k for k, v in a.items() if isinstance(v, torch.Tensor)]
    assert tensors and all(torch.equal(a[k], b[k]) for k in tensors)
    assert torch.equal(a["_extra_state"]["generator"], b["_extra_state"]["generator"])


def test_bench_spiking_reports_ratio_and_flat_online_memory(tmp_path: Path) -> None:
    result = bench_spiking(batch_size=8, time_steps=(4, 16), timed_steps=4, rounds=1, steps=1,
                           input_shape=(1, 8, 8), error_every=(1, 2))
    text = write_bench_spiking(result, tmp_path)
    assert set(result["time_ratio"]) == {"bptt", "online-dfa", "online-dfa-k2"} and "online-dfa-k2" in text
    assert result["time_ratio"]["bptt"] == 1.0 and result["time_ratio"]["online-dfa"] > 0
    mem = result["memory_bytes"]
    assert mem["bptt"]["16"] > 1.5 * mem["bptt"]["4"]  # the graph across time grows with T
    assert mem["online-dfa"]["16"] <= 1.2 * mem["online-dfa"]["4"]  # online state does not
    assert json.loads((tmp_path / "bench_spiking.json").read_text())["card"] == "snn-1x800-lif"


def test_the_spiking_lenet_card_learns_by_online_dfa(tmp_path: Path) -> None:
    """The harness hands the input shape to online DFA, whose conv layers then get feedback onto their
    output maps: both convolutions move in one short epoch (the read-out's weights wait for the
    second conv layer's first spikes; its bias moves)."""
    from spikefa.runs import make_model

    config = resolve_config("snn-lenet", "dfa", "digits", epochs=1, limit_train=64, limit_eval=32, batch_size=32,
                            align_every=0)
    before = make_model(config, (1, 8, 8), 10).state_dict()
    train(config, tmp_path / "lenet", progress=False)
    after = torch.load(tmp_path / "lenet" / "checkpoint.pt", weights_only=False)["model"]
    moved = {k for k in before if "synapses" in k and not torch.equal(before[k], after[k])}
    assert {"net.net.synapses.0.0.weight", "net.net.synapses.1.0.weight", "net.net.synapses.2.1.bias"} <= moved, moved
