"""benchmarks/softhebb_readout.py: the cached-feature read-out equals the network's own read-out path."""

from __future__ import annotations

from types import ModuleType

import torch
from torch import nn

from spikefa.nn.build import build_softhebb_conv
from spikefa.nn.competitive import CompetitiveLearner, SoftHebbPlasticity
from spikefa.schemas.card import SoftHebbConvArch

from ..helpers import BENCHMARKS, load_script


def _script() -> ModuleType:
    return load_script(BENCHMARKS / "softhebb_readout.py")


def test_cached_features_then_head_equal_the_whole_network_in_eval_mode() -> None:
    """Body (everything before the read-out's dropout) then head (dropout, Linear) is the network's
    forward, so a read-out trained on the cache is the network's read-out."""
    mod = _script()
    arch = SoftHebbConvArch(channels=(4, 6), kernel_sizes=(3, 3), powers=(0.7, 1.4))
    learner = CompetitiveLearner(build_softhebb_conv(arch, (1, 8, 8), 3), SoftHebbPlasticity(), "softhebb")
    x = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    learner.train()
    learner.local_step(x, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0]))  # running statistics move
    body, head = mod.split_at_readout(learner.model, learner.readout_at)
    assert [type(m) for m in head] == [nn.Dropout, nn.Linear]
    learner.eval()
    f = mod.features(body, x, batch_size=3)
    torch.testing.assert_close(head.eval()(f), learner(x))


def test_readout_training_learns_separable_features() -> None:
    mod = _script()
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (300,), generator=g)
    f = torch.nn.functional.one_hot(y, 3).float() * 3 + 0.3 * torch.randn(300, 3, generator=g)
    torch.manual_seed(0)
    head = nn.Sequential(nn.Dropout(0.1), nn.Linear(3, 3))
    rows = mod.train_readout(head, f[:200], y[:200], {"val": (f[200:], y[200:])}, epochs=3, lr=0.05,
                             batch_size=32, seed=0)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["val"] > 0.9
