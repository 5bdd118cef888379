"""Encoders (spikefa/functional/encoders.py): seeded and time-major, stepwise equal to whole, the
rate and latency codes' known values, and refusals naming the value."""

from __future__ import annotations

import pytest
import torch

from spikefa.errors import ConfigError
from spikefa.functional.encoders import DirectEncoder, LatencyEncoder, RateEncoder, make_encoder


@pytest.mark.parametrize("encoder", [RateEncoder(30), RateEncoder(30, 0.5, "poisson"), LatencyEncoder(30),
                                     DirectEncoder(5)])
def test_encoders_are_seeded_and_time_major(encoder) -> None:  # type: ignore[no-untyped-def]
    x = torch.rand(4, 1, 6, 6)
    a = encoder(x, torch.Generator().manual_seed(1))
    b = torch.stack(list(encoder.steps(x, torch.Generator().manual_seed(1))))
    assert a.shape == (encoder.time_steps, 4, 1, 6, 6) and torch.equal(a, b)


def test_rate_encoder_rate_and_latency_order() -> None:
    x = torch.full((2000,), 0.3)
    s = RateEncoder(200)(x, torch.Generator().manual_seed(0))
    assert abs(float(s.mean()) - 0.3) < 0.01
    lat = LatencyEncoder(11)(torch.tensor([1.0, 0.5, 0.0]))
    assert lat[:, 0].argmax() == 0 and lat[:, 1].argmax() == 5 and lat[:, 2].sum() == 0
    with pytest.raises(ConfigError, match="inputs must lie in"):
        RateEncoder(3)(torch.tensor([1.5]))
    with pytest.raises(ConfigError, match="encoder = 'morse'"):
        make_encoder("morse", 3)
