"""The unsupervised harness (spikefa/train/unsupervised.py): what a three-factor run reports."""

from __future__ import annotations

import torch

from spikefa.schemas.stdp import ThreeFactorParams


def test_train_three_factor_reports_test_only_when_asked() -> None:
    """Choosing constants on validation must not score the test split."""
    from spikefa.data.splits import Splits
    from spikefa.train.unsupervised import train_three_factor

    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 1, 4, 4, generator=g)
    y = torch.arange(24) % 3
    splits = Splits("tiny", "images", x[:12], y[:12], x[12:18], y[12:18], x[18:], y[18:], (1, 4, 4), 3)
    params = ThreeFactorParams(n_input=16, n_hidden=8, num_classes=3, time_ms=10.0)
    _, chosen = train_three_factor(splits, params, batch_size=4, test=False, progress=False)
    assert "val_accuracy" in chosen and not any(k.startswith("test_") for k in chosen)
    _, full = train_three_factor(splits, params, batch_size=4, progress=False)
    assert {"val_accuracy", "test_accuracy"} <= set(full)
