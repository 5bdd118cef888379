"""Small generated networks, batches and spike trains that several test files share."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.nn.spiking import SpikingNet
from spikefa.schemas.neuron import LIFParams
from spikefa.schemas.stdp import DiehlCookParams


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


class SkipNet(nn.Module):
    """Conv + residual + linear: FA must work on any module structure, not only Sequential."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1, stride=1)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.c1(x))
        h = h + torch.tanh(self.c2(h))
        return self.fc(h.flatten(1))


def grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """The parameter gradients of one cross-entropy backward."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [p.grad.clone() for p in model.parameters()]


def net(seed: int = 0, act: type[nn.Module] = nn.ReLU, sizes: tuple[int, int, int] = (10, 8, 4)) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(sizes[0], sizes[1]), act(), nn.Linear(sizes[1], sizes[2]))


def batch(seed: int, b: int = 32, d: int = 10, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g) + 0.3, torch.randint(0, classes, (b,), generator=g)


def spiking_net(sizes: list[int], reset: str = "subtract", beta: float = 0.8, seed: int = 0) -> SpikingNet:
    """A SpikingNet of Linear synapses with weights large enough to spike."""
    g = torch.Generator().manual_seed(seed)
    layers = [torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
    with torch.no_grad():
        for m in layers:
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.6)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return SpikingNet(layers, LIFParams(beta=beta, threshold=1.0, reset=reset, dt=1.0))  # type: ignore[arg-type]


F64 = torch.float64


def trains(steps: int, batch: int, n_in: int, n_out: int, seed: int = 0, p_pre: float = 0.15,
           p_post: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Bernoulli pre [T, B, in] and post [T, B, out] spike trains, float64."""
    g = torch.Generator().manual_seed(seed)
    pre = (torch.rand(steps, batch, n_in, generator=g) < p_pre).to(F64)
    post = (torch.rand(steps, batch, n_out, generator=g) < p_post).to(F64)
    return pre, post


def dc_params(**kw: object) -> DiehlCookParams:
    """A small Diehl & Cook network's parameters (16 inputs, 6 neurons, 40 ms), overridden by ``kw``."""
    base = dict(n_input=16, n_exc=6, time_ms=40.0, max_rate_hz=400.0, w_init=1.0, norm=6.0, max_boosts=0)
    base.update(kw)
    return DiehlCookParams(**base)  # type: ignore[arg-type]


def online_and_bptt_grads(net: SpikingNet, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Online DFA's gradients (membrane error) for one sequence x [T, B, in], after checking them
    against BPTT's gradient of the mean per-step membrane cross-entropy on the same net and spikes
    (where they must coincide: one layer, no reset)."""
    from spikefa.nn.online import OnlineDFA

    OnlineDFA(net, error="membrane").local_step(iter(x), y)
    online = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    mems = net(x).mem
    (sum(F.cross_entropy(m, y) for m in mems) / len(mems)).backward()
    for a, p in zip(online, net.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-5, atol=1e-6)
    return online


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(path: Path, name: str | None = None) -> ModuleType:
    """A script that is not a package module (benchmarks/*.py, a torchrun worker), imported from
    its file under `name` (default: the file's stem)."""
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
