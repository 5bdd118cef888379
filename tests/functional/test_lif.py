"""The pure LIF step against snnTorch's Leaky (two formulations), and its validation."""

from __future__ import annotations

import pytest
import torch

from spikefa.errors import ConfigError
from spikefa.functional.lif import LIFParams, LIFState, beta_decay, lif_run, lif_step, lif_update, rlif_run

snntorch = pytest.importorskip("snntorch")


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_lif_matches_snntorch_leaky(reset: str) -> None:
    g = torch.Generator().manual_seed(0)
    currents = torch.rand(60, 4, 7, generator=g) * 0.8  # float32: snnTorch keeps beta as a float32 tensor
    params = LIFParams(beta=0.9, threshold=1.0, reset=reset)
    spikes, mems = lif_run(currents, params)
    leaky = snntorch.Leaky(beta=0.9, threshold=1.0, reset_mechanism=reset)
    mem = torch.zeros(4, 7)
    for t in range(60):
        spk, mem = leaky(currents[t], mem)
        assert torch.equal(spk, spikes[t]), f"spikes differ at step {t}"
        assert torch.equal(mem, mems[t]), f"membrane differs at step {t}"
    assert spikes.sum() > 20  # the case exercises resets


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_in_place_update_is_bitwise_the_graph_step(reset: str) -> None:
    """lif_update in place (no graph, what the online learners run) against lif_step, over a run
    with resets."""
    g = torch.Generator().manual_seed(3)
    params = LIFParams(beta=0.83, threshold=0.7, reset=reset)
    state, mem, spk = LIFState(torch.zeros(5, 9)), torch.zeros(5, 9), torch.zeros(5, 9)
    fired = 0.0
    for _ in range(80):
        current = torch.randn(5, 9, generator=g) * 0.6
        want, state = lif_step(current, state, params)
        mem = lif_update(mem, current, spk, params.threshold, reset, beta_decay(params.beta), inplace=True)
        spk = (mem > params.threshold).to(mem.dtype)
        assert torch.equal(spk, want) and torch.equal(mem, state.mem)
        fired += float(want.sum())
    assert fired > 50


def test_surrogate_gradient_matches_snntorch_atan() -> None:
    x = torch.linspace(-1, 1, 41, dtype=torch.float64)
    a = x.clone().requires_grad_(True)
    lif_run(a.view(1, -1), LIFParams(beta=0.5, threshold=1e-9))[0].sum().backward()
    b = x.clone().requires_grad_(True)
    snntorch.surrogate.atan()(b - 1e-9).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("kwargs, key", [({"beta": 1.5}, "beta"), ({"beta": 0.9, "threshold": 0}, "threshold"),
                                         ({"beta": 0.9, "reset": "soft"}, "reset"), ({"beta": 0.9, "dt": -1}, "dt")])
def test_bad_params_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        LIFParams(**kwargs)


def test_tau_from_beta() -> None:
    import math

    assert LIFParams(beta=math.exp(-1 / 20), dt=1.0).tau_mem == pytest.approx(20.0)


def test_empty_time_axis_is_refused() -> None:
    with pytest.raises(ConfigError, match="T >= 1"):
        lif_run(torch.zeros(0, 2, 3), LIFParams(beta=0.9))


@pytest.mark.parametrize("reset", ["subtract", "none"])
def test_current_based_step_matches_snntorch_synaptic(reset: str) -> None:
    """LIFParams(alpha=...) is snnTorch's Synaptic: I_syn = α I_syn + I, U = β U + I_syn − r θ."""
    g = torch.Generator().manual_seed(1)
    currents = torch.rand(60, 4, 7, generator=g) * 0.5
    params = LIFParams(beta=0.9, threshold=1.0, reset=reset, alpha=0.8)
    spikes, mems = lif_run(currents, params)
    neuron = snntorch.Synaptic(alpha=0.8, beta=0.9, threshold=1.0, reset_mechanism=reset)
    syn, mem = torch.zeros(4, 7), torch.zeros(4, 7)
    for t in range(60):
        spk, syn, mem = neuron(currents[t], syn, mem)
        assert torch.equal(spk, spikes[t]) and torch.equal(mem, mems[t]), f"step {t}"
    assert spikes.sum() > 20


@pytest.mark.parametrize("reset", ["subtract", "none"])
def test_recurrent_run_matches_snntorch_rleaky(reset: str) -> None:
    """rlif_run is snnTorch's RLeaky (all-to-all) bit for bit: (β·U + I) + (V·s[t−1] + b) − r·θ."""
    g = torch.Generator().manual_seed(2)
    currents = torch.rand(50, 3, 6, generator=g) * 0.6
    neuron = snntorch.RLeaky(beta=0.9, linear_features=6, reset_mechanism=reset)
    with torch.no_grad():
        neuron.recurrent.weight.normal_(0, 0.5, generator=g)
    spikes, mems = rlif_run(currents, neuron.recurrent.weight.detach(), LIFParams(beta=0.9, reset=reset),
                           neuron.recurrent.bias.detach())
    spk, mem = torch.zeros(3, 6), torch.zeros(3, 6)
    with torch.no_grad():
        for t in range(50):
            spk, mem = neuron(currents[t], spk, mem)
            assert torch.equal(spk, spikes[t]) and torch.equal(mem, mems[t]), f"step {t}"
    assert spikes.sum() > 20
