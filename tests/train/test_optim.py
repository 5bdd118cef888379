"""`spikefa.train.optim.adam`: torch's fused Adam where the parameters allow it, the same steps as
torch's default Adam to float rounding, and the default where fusing is not possible."""

from __future__ import annotations

import torch
from torch import nn

from spikefa.train.optim import adam, fusable


def test_fused_on_cpu_floats_default_elsewhere() -> None:
    assert adam(nn.Linear(3, 2).parameters(), lr=1e-3).defaults["fused"] is True
    assert adam([{"params": nn.Linear(3, 2).parameters(), "lr": 1e-2}], lr=1e-3).defaults["fused"] is True
    meta = nn.Linear(3, 2, device="meta")
    assert not fusable(meta.parameters())
    assert not adam(meta.parameters(), lr=1e-3).defaults["fused"]
    assert not fusable([])
    assert not adam(nn.Linear(3, 2).parameters(), lr=1e-3, fused=False).defaults["fused"]


def test_qat_freeze_runs_keep_the_default_adam() -> None:
    """Fused Adam does not advance the weights' version counter, which freezing reads per step."""
    from spikefa.schemas.run import RunConfig
    from spikefa.train.run import make_optimizer

    p = nn.Parameter(torch.ones(3))
    fused = adam([p], lr=1e-3)
    p.grad = torch.ones(3)
    before = p._version
    fused.step()
    assert p._version == before  # what forces the default below (if torch changes this, fusing could stay)
    model = nn.Linear(3, 2)
    plain = dict(model="snn-1x800-lif", rule="bp", dataset="digits", qat="int8-edge:4")
    assert make_optimizer(RunConfig(**plain), model).defaults["fused"] is True  # type: ignore[arg-type]
    assert not make_optimizer(RunConfig(**plain, qat_freeze=0.1), model).defaults["fused"]  # type: ignore[arg-type]


def test_fused_steps_equal_the_default_adam() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    twin = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    twin.load_state_dict(net.state_dict())
    start = [p.detach().clone() for p in net.parameters()]
    fused = adam(net.parameters(), lr=1e-2, weight_decay=1e-3)
    plain = torch.optim.Adam(twin.parameters(), lr=1e-2, weight_decay=1e-3, foreach=False)
    for step in range(5):
        x = torch.randn(8, 6, generator=torch.Generator().manual_seed(step))
        for model, opt in ((net, fused), (twin, plain)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    assert all(not torch.equal(p, s) for p, s in zip(net.parameters(), start))  # the steps moved every tensor
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
