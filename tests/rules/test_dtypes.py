"""Every rule's backward and every injected update under mixed precision (bf16 autocast on CPU;
fp16 on CUDA when a GPU is at hand) and in float64: training steps run, and every gradient arrives
in its own parameter's dtype. The matrix is rule x dtype x layer kind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spikefa

RATE_LINEAR = ["bp", "fa", "sign", "dfa", "hebb", "oja", "sum", "hebbian-descent", "fa+plastic=hebb",
               "dfa+plastic=hebb", "hebb+threshold=true+gradient_sparsity=true", "hebbian-descent+factor=oja"]
RATE_CONV = ["bp", "fa", "sign", "dfa"]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
PRECISIONS = ["autocast", "float64"]


def _rule(spec: str) -> tuple[str, dict[str, str]]:
    name, *opts = spec.split("+")
    return name, dict(o.split("=") for o in opts)


@contextlib.contextmanager
def precision(kind: str, device: str) -> Iterator[None]:
    if kind == "autocast":
        with torch.autocast(device, dtype=torch.bfloat16 if device == "cpu" else torch.float16):
            yield
    else:
        yield


def _prepare(model: nn.Module, kind: str, device: str) -> tuple[nn.Module, torch.dtype]:
    dtype = torch.float64 if kind == "float64" else torch.float32
    return model.to(device=device, dtype=dtype), dtype


def _check_grads(model: nn.Module) -> None:
    grads = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert grads
    for name, p in grads:
        assert p.grad is not None, name
        assert p.grad.dtype == p.dtype, (name, p.grad.dtype, p.dtype)
        assert torch.isfinite(p.grad).all(), name
    assert any(float(p.grad.abs().sum()) > 0 for _, p in grads)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", PRECISIONS)
@pytest.mark.parametrize("spec", RATE_LINEAR)
def test_rate_linear_rules(spec: str, kind: str, device: str) -> None:
    torch.manual_seed(0)
    name, options = _rule(spec)
    net = nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 4))
    model = spikefa.convert(net, name, seed=0, options=options)
    model, dtype = _prepare(model, kind, device)
    x, y = torch.randn(6, 8, dtype=dtype, device=device), torch.tensor([0, 1, 2, 3, 0, 1], device=device)
    for _ in range(2):  # twice: running means and plastic feedback are used after their first update
        model.zero_grad()
        with precision(kind, device):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        _check_grads(model)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", PRECISIONS)
@pytest.mark.parametrize("spec", RATE_CONV)
def test_rate_conv_rules(spec: str, kind: str, device: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    model = spikefa.convert(net, spec, seed=0, input_shape=(1, 8, 8))
    model, dtype = _prepare(model, kind, device)
    x, y = torch.randn(3, 1, 8, 8, dtype=dtype, device=device), torch.tensor([0, 4, 2], device=device)
    with precision(kind, device):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    _check_grads(model)


@pytest.mark.parametrize("kind", PRECISIONS)
@pytest.mark.parametrize("rule", ["bp", "fa", "sign", "dfa", "bp+qat", "dfa+qat"])
def test_spiking_rules_keep_the_parameter_dtype(rule: str, kind: str) -> None:
    """BPTT (bp, fa, sign), online DFA and QAT on a spiking network: spikes keep the input's dtype
    in float64 (snnTorch's Leaky returns float32 spikes), every gradient has its parameter's dtype."""
    from spikefa.export import load_profile, prepare_qat
    from spikefa.nn.spiking import SpikingNet, scores
    from spikefa.schemas.neuron import LIFParams

    torch.manual_seed(0)
    name, qat = rule.split("+")[0], rule.endswith("+qat")
    net = SpikingNet([nn.Sequential(nn.Flatten(), nn.Linear(10, 12)), nn.Linear(12, 4)], LIFParams(beta=0.9))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(4.0)
    model = spikefa.convert(net, name, seed=0)
    model, dtype = _prepare(model, kind, "cpu")
    if qat:
        prepare_qat(net, load_profile("int8-edge"), bits=8)
    x = (torch.rand(6, 5, 10) < 0.5).to(dtype)
    y = torch.tensor([0, 1, 2, 3, 0])
    with precision(kind, "cpu"):
        if hasattr(model, "local_step"):
            loss = model.local_step(x, y)
        else:
            record = model(x)
            assert record.spikes.dtype == (dtype if kind == "float64" else record.spikes.dtype)
            loss = F.cross_entropy(scores(record), y)
            loss.backward()
    assert torch.isfinite(loss)
    _check_grads(model)
