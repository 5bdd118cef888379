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
