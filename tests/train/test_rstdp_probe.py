"""benchmarks/rstdp_probe.py: training the decision layer on cached features, image by image, is the
harness's own image-by-image R-STDP step (the same bits)."""

from __future__ import annotations

import pytest
import torch

from spikefa.errors import SpikefaError
from spikefa.rules.registry import convert

from ..helpers import BENCHMARKS, load_script
from ..rules.test_conv_stdp import digits_like, rstdp_net


def test_cached_image_by_image_steps_equal_the_learners_own_step() -> None:
    mod = load_script(BENCHMARKS / "rstdp_probe.py")
    x, y = digits_like(12, seed=4)
    learners = []
    for _ in range(2):
        learner = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "frozen": True, "adapt_every": 5,
                                                             "dropout": 0.3})
        learner.epochs_done.fill_(learner.decision_from)
        learners.append(learner)
    whole, probe = learners
    start = whole.model[whole.decision_at].weight.clone()
    miss = whole.local_step(x, y)  # update=image: one decision and one R-STDP step per image
    h = mod.cached(probe, x, batch_size=5)
    right = sum(probe.reward_step(h[i:i + 1], y[i:i + 1]) for i in range(len(x)))
    a, b = whole.model[whole.decision_at].weight, probe.model[probe.decision_at].weight
    assert torch.equal(a, b) and not torch.equal(a, start)
    assert torch.equal(whole.factors, probe.factors) and torch.equal(whole.window, probe.window)
    assert float(miss) == pytest.approx(1.0 - right / len(x))
    assert mod.accuracy(probe, h, y, batch_size=7) == pytest.approx(float((probe(x).argmax(1) == y).float().mean()))


def test_reward_fields_are_typed_and_unknown_ones_refused() -> None:
    mod = load_script(BENCHMARKS / "rstdp_probe.py")
    reward = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp"}).reward
    assert mod.reward_fields(reward, ["r_plus=0.01", "adaptive=false", "adapt_every=50", "decision=final-potential"]) \
        == {"r_plus": 0.01, "adaptive": False, "adapt_every": 50, "decision": "final-potential"}
    with pytest.raises(SpikefaError, match="not a RewardSTDP field"):
        mod.reward_fields(reward, ["lr=0.1"])
    with pytest.raises(SpikefaError, match="r_plus='fast' is not allowed; expected a finite number"):
        mod.reward_fields(reward, ["r_plus=fast"])
