"""Low-bit membrane state (MINT, Yin et al. 2023): the membrane in fewer bits than the profile's,
on the weights' grid (one scale for both); the integer simulator, ONNX and C saturate at the
narrow width spike for spike, and QAT trains through the same grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from spikefa.errors import ConfigError
from spikefa.export import c_writer
from spikefa.export.check import check
from spikefa.export.network import read_layers
from spikefa.export.qat import StateQuant, prepare_qat
from spikefa.export.quantize import quantize
from spikefa.export.simulate import dequantize, run_int
from spikefa.export.writers import EXPORTERS

from .nets import profile, spikes, tiny_conv_net, tiny_net


def test_low_bit_state_shares_the_weight_scale() -> None:
    """With a k-bit state, θ is min(⌊θ·q / max|W_i|⌋, 2^(k−2)) units per neuron, q = min(127, 2^(k−1) − 1)
    the largest weight the state can hold (the finest grid that holds every weight, coarser where
    the state cannot hold θ), and a weight is round(W / (θ / θ_int)) units: the formula written out
    here against the quantiser, for gains where the 4-bit grid must coarsen (gain 12) and not."""
    for gain in (4.0, 12.0):
        net = tiny_net((20, 16, 5), gain=gain)
        for k in (16, 8, 6, 4, 3):
            qnet = quantize(net, profile("int8-edge"), state_bits=k)
            assert qnet.state_bits == k and qnet.profile.neuron.shared_scale
            top = min(127, 2 ** (k - 1) - 1)
            for layer, q in zip(read_layers(net)[0], qnet.layers):
                theta = float(layer.lif.threshold)
                mant = torch.floor(theta * top / layer.weight.abs().amax(dim=1)).clamp(1, 2 ** (k - 2))
                assert q.threshold.tolist() == mant.to(torch.int64).tolist() and q.weight_shift == 0
                want = torch.round(layer.weight * mant[:, None] / theta).clamp(-top, top).to(torch.int64)
                assert torch.equal(q.weight, want)
            if k <= 6 and gain == 4.0:
                assert all(q.threshold.tolist() == [2 ** (k - 2)] * q.channels for q in qnet.layers)
            if k == 4 and gain == 12.0:  # max|W| ≈ 2.7θ > 7 units of θ/4: the grid coarsens
                assert min(int(q.threshold.min()) for q in qnet.layers) < 4
    full = quantize(net, profile("int8-edge"))
    assert full.state_bits == 32 and not full.profile.neuron.shared_scale


def test_state_bits_the_profile_cannot_take_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="state_bits = 40 is not allowed for profile 'int8-edge'"):
        quantize(tiny_net(), profile("int8-edge"), state_bits=40)
    with pytest.raises(ConfigError, match="too few for profile 'loihi2': its threshold is shifted left by 6 bits"):
        quantize(tiny_net(), profile("loihi2"), state_bits=4)
    assert check(tiny_net(), profile("int8-edge"), state_bits=2) == [
        "state: state_bits = 2 is not allowed for profile 'int8-edge'; expected an integer in [3, 32] "
        "(its state is 32 bits)"]
    assert check(tiny_net(), profile("int8-edge"), state_bits=4) == []


@pytest.mark.parametrize("conv", [False, True])
def test_narrow_state_saturates_alike_in_the_simulator_onnx_and_c(conv: bool, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    net = tiny_conv_net("avg", gain=3.0) if conv else tiny_net((20, 16, 5), gain=6.0)
    x = spikes(8, 3, 64 if conv else 20, rate=0.5)
    qnet = quantize(net, profile("mcu-int8"), state_bits=4)
    rec = run_int(qnet, x)
    assert max(int(u.abs().max()) for u in rec.mems) == 7  # the 4-bit state saturates somewhere
    assert all(int(s.sum()) > 0 for s in rec.spikes)
    formats = ["onnx"] + (["c"] if c_writer.find_compiler() else [])
    for fmt in formats:
        EXPORTERS[fmt].write(qnet, tmp_path)
        v = EXPORTERS[fmt].verify(qnet, tmp_path, x)
        assert v.mismatches == 0 and v.total == sum(int(s.numel()) for s in rec.spikes), fmt


def test_qat_with_low_bit_state_uses_the_shared_grid() -> None:
    net = prepare_qat(tiny_net((20, 16, 5), gain=4.0), profile("int8-edge"), state_bits=4)
    quants = [n.state_quant for n in net.neurons]
    assert all(isinstance(q, StateQuant) and q.top == 7 for q in quants)
    qnet = quantize(net, profile("int8-edge"), state_bits=4)
    lins = [m for m in net.modules() if isinstance(m, nn.Linear)]
    for lin, fq in zip(lins, dequantize(qnet, torch.float64)):
        assert torch.allclose(lin.weight.double(), fq.weight, atol=1e-6)
    rec = net(spikes(6, 2, 20, rate=0.5).reshape(6, 2, 1, 4, 5))
    unit = float(qnet.layers[-1].unit[0])
    assert float(rec.mem.detach().abs().max()) <= 7 * unit + 1e-6  # the membrane saturates at ±7 units in training too
    rec.mem.pow(2).mean().backward()
    assert all(lin.parametrizations.weight.original.grad is not None for lin in lins)
