"""Encoders (spikefa/functional/encoders.py): seeded and time-major, stepwise equal to whole, the
measured spike rate is the stated one (RateEncoder.rate), the latency code's known values, and
refusals naming the value."""

from __future__ import annotations

import math

import pytest
import torch

from spikefa.errors import ConfigError
from spikefa.functional.encoders import DirectEncoder, LatencyEncoder, RateEncoder, make_encoder


@pytest.mark.parametrize("kind", ["bernoulli", "poisson"])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_rate_code_gives_its_stated_rate(kind: str, gain: float) -> None:
    x = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    enc = RateEncoder(400, gain, kind)  # type: ignore[arg-type]
    spikes = enc(x.expand(500, 4), torch.Generator().manual_seed(0))  # [T, B, 4]
    assert spikes.shape == (400, 500, 4) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    measured = spikes.mean(dim=(0, 1))
    stated = [gain * v if kind == "bernoulli" else 1 - math.exp(-gain * v) for v in x.tolist()]
    torch.testing.assert_close(enc.rate(x), torch.tensor(stated, dtype=torch.float64))
    # 200,000 draws per input: the standard error is below 1.2e-3, so 0.005 is > 4 sigma
    torch.testing.assert_close(measured, enc.rate(x), atol=0.005, rtol=0)


def test_poisson_rate_is_below_gain_times_x() -> None:
    """What the docstring warns: 0.63 spikes per step at gain·x = 1, not 1."""
    assert RateEncoder(5, 1.0, "poisson").rate(torch.ones(1)).item() == pytest.approx(1 - math.exp(-1))
    assert RateEncoder(5, 1.0, "bernoulli").rate(torch.ones(1)).item() == 1.0


@pytest.mark.parametrize("make", [lambda t: RateEncoder(t), lambda t: LatencyEncoder(t), lambda t: DirectEncoder(t),
                                  lambda t: make_encoder("rate", t)])
def test_zero_time_steps_are_refused_by_name(make: object) -> None:
    with pytest.raises(ConfigError, match=r"time_steps = 0 is not allowed; expected an integer >= 1"):
        make(0)  # type: ignore[operator]


def test_rate_refuses_inputs_outside_unit_interval() -> None:
    with pytest.raises(ConfigError, match=r"inputs must lie in \[0, 1\]"):
        RateEncoder(3, kind="poisson").rate(torch.tensor([1.5]))





def test_encoders_cover_the_kind_vocabulary() -> None:
    from spikefa.functional.encoders import ENCODERS
    from spikefa.schemas.validate import choices
    from spikefa.schemas.vocab import EncoderKind

    assert tuple(ENCODERS) == choices(EncoderKind)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: RateEncoder(3, gain=0.0), "rate encoder gain = 0.0 is not allowed; expected a number in (0, 1]"),
    (lambda: RateEncoder(3, gain=True), "rate encoder gain = true is not allowed; expected a finite number"),
    (lambda: RateEncoder(3, kind="gauss"),  # type: ignore[arg-type]
     "rate encoder kind = 'gauss' is not allowed; expected one of 'bernoulli', 'poisson'"),
    (lambda: LatencyEncoder(3, min_value=1.0), "latency encoder min_value = 1.0 is not allowed; expected a number in [0, 1)"),
    (lambda: DirectEncoder(2.5),  # type: ignore[arg-type]
     "direct encoder time_steps = 2.5 is not allowed; expected an integer"),
    (lambda: make_encoder("poisson", 3),  # type: ignore[arg-type]
     "encoder = 'poisson' is not allowed; expected one of 'rate', 'latency', 'direct'"),
])
def test_bad_settings_are_refused_naming_key_value_and_choices(make: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()  # type: ignore[operator]
    assert str(info.value) == message
