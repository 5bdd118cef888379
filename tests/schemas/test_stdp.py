"""The STDP family's parameters (spikefa/schemas/stdp.py) validate on construction, naming the key and
the value."""

from __future__ import annotations

import pytest

from spikefa.errors import ConfigError
from spikefa.schemas.stdp import DiehlCookParams, ThreeFactorParams


def test_params_are_validated_with_the_key_and_value_in_the_message() -> None:
    with pytest.raises(ConfigError, match="n_exc = 0"):
        DiehlCookParams(n_exc=0)
    with pytest.raises(ConfigError, match="tau_mem = -1"):
        DiehlCookParams(tau_mem=-1.0)
    with pytest.raises(ConfigError, match="max_rate_hz = 2000"):
        DiehlCookParams(max_rate_hz=2000.0)
    with pytest.raises(ConfigError, match="reduction = 'max'"):
        DiehlCookParams(reduction="max")
    with pytest.raises(ConfigError, match="inhibition_delay_ms = 0.5"):
        DiehlCookParams(inhibition_delay_ms=0.5)
    assert DiehlCookParams(inhibition_delay_ms=2.0).inhibition_steps == 2
    assert DiehlCookParams(dt=0.5, inhibition_delay_ms=2.0).inhibition_steps == 4
    with pytest.raises(ConfigError, match="n_hidden = 0"):
        ThreeFactorParams(n_hidden=0)
    with pytest.raises(ConfigError, match="lr = -0.1"):
        ThreeFactorParams(lr=-0.1)
