"""Alignment diagnostics: exact cases give zero angles; measuring changes nothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.rules.alignment import measure_alignment


def net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 10), nn.Tanh(), nn.Linear(10, 3))


def test_fa_with_b_equal_w_has_zero_angles() -> None:
    m = spikefa.convert(net(), "fa", seed=0)
    for layer in (m[0], m[2], m[4]):
        layer.feedback_fixed.copy_(layer.weight.detach())
    stats = measure_alignment(m, F.cross_entropy, torch.randn(8, 6), torch.randint(0, 3, (8,)))
    assert set(stats) == {f"layer{i}.{k}" for i in range(3) for k in ("update_angle", "feedback_angle")}
    assert max(stats.values()) < 1e-2


def test_random_feedback_is_misaligned_and_output_layer_exact() -> None:
    m = spikefa.convert(net(), "dfa", seed=0)
    stats = measure_alignment(m, F.cross_entropy, torch.randn(8, 6), torch.randint(0, 3, (8,)))
    assert stats["layer2.update_angle"] < 1e-3  # the output layer's update is exact in DFA
    assert stats["layer0.update_angle"] > 20 and "layer0.feedback_angle" in stats


def test_measuring_leaves_training_untouched() -> None:
    m = spikefa.convert(net(), "fa", "batch-random-sign", seed=0)
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    measure_alignment(m, F.cross_entropy, x, y)
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in m.parameters())


def test_measuring_a_spiking_model_draws_none_of_its_training_spikes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """FA on a spiking card: the alignment passes restore the encoder's training generator, so a run
    that measures every step ends on the same weights as one that never measures."""
    from spikefa.train import resolve_config, train

    weights = []
    for every in (0, 1):
        config = resolve_config("snn-1x800-lif", "fa", "digits", epochs=1, limit_train=64, limit_eval=16,
                                batch_size=32, align_every=every)
        train(config, tmp_path / f"a{every}", progress=False)
        weights.append(torch.load(tmp_path / f"a{every}" / "checkpoint.pt", weights_only=False)["model"])
    tensors = [k for k, v in weights[0].items() if isinstance(v, torch.Tensor)]
    assert tensors and all(torch.equal(weights[0][k], weights[1][k]) for k in tensors)
    assert torch.equal(weights[0]["_extra_state"]["generator"], weights[1]["_extra_state"]["generator"])
