"""The competitive learners (`spikefa.nn.competitive`): one `local_step` applies exactly the rule's
kernel to each local layer's own input and trains the read-out by its gradient; the frozen control
leaves the local layers bitwise unchanged; local learning follows its schedule (together, greedy,
stopping after ``local_epochs``); the reference initializations; refusals name the problem."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.competitive import (adaptive_rate, conv_patches, krotov_update, scaled_to_max,
                                            softhebb_activity, softhebb_update)
from spikefa.nn.competitive import CompetitiveLearner, KrotovPlasticity, RePU, SoftHebbPlasticity, Triangle


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8, bias=False), RePU(2.0), nn.Linear(8, 3))


def conv(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.BatchNorm2d(1, affine=False), nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect",
                                                                   bias=False),
                         Triangle(1.0), nn.MaxPool2d(4, 2, 1), nn.BatchNorm2d(4, affine=False),
                         nn.Conv2d(4, 5, 3, padding=1, bias=False), Triangle(0.7), nn.Flatten(),
                         nn.Linear(5 * 3 * 3, 3))


def data(shape: tuple[int, ...], seed: int = 1, n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def test_krotov_step_applies_the_kernel_and_the_readout_gradient() -> None:
    rule = KrotovPlasticity(p=3.0, k=2, delta=0.4, lr=0.1)
    learner = CompetitiveLearner(mlp(), rule, "krotov", seed=3, local_epochs=4)
    x, y = data((12,))
    w0 = learner.model[1].weight.clone()
    expected = w0 + 0.1 * scaled_to_max(krotov_update(x, w0, 3.0, 2, 0.4))
    readout = learner.model[3]
    logits = readout(RePU(2.0)(x @ w0.t()))
    expected_grad = torch.autograd.grad(F.cross_entropy(logits, y), readout.weight)[0]
    loss = learner.local_step(x, y)
    torch.testing.assert_close(learner.model[1].weight, expected)
    torch.testing.assert_close(readout.weight.grad, expected_grad)
    assert learner.model[1].weight.grad is None and float(loss) > 0


def test_krotov_rate_anneals_per_epoch() -> None:
    learner = CompetitiveLearner(mlp(), KrotovPlasticity(k=2, lr=0.1), "krotov", local_epochs=4)
    x, y = data((12,))
    learner.end_epoch()  # epoch 1 ends: ε = 0.1·(1 − 1/4)
    w0 = learner.model[1].weight.clone()
    learner.local_step(x, y)
    step = (learner.model[1].weight - w0).abs().max()
    assert float(step) == pytest.approx(0.075, rel=1e-5)


def test_softhebb_conv_step_applies_the_kernel_to_each_layers_input() -> None:
    rule = SoftHebbPlasticity(temperature=0.5, lr=0.05, lr_power=0.5, radius=3.0)
    learner = CompetitiveLearner(conv(), rule, "softhebb", seed=0)
    x, y = data((1, 6, 6))
    model = learner.model
    w1, w2 = model[1].weight.clone(), model[5].weight.clone()
    with torch.no_grad():
        h1 = model[0](x)  # the input the first conv sees (batch statistics)
        h2 = model[4](model[3](model[2](model[1](h1))))

    def expected(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        rows = conv_patches(h, (3, 3), (1, 1), (1, 1), (1, 1), "reflect" if w is w1 else "zeros")
        flat = w.reshape(w.shape[0], -1)
        u = rows @ flat.t()
        d = scaled_to_max(softhebb_update(rows, u, softhebb_activity(u, 0.5, True), flat))
        return w + (adaptive_rate(flat, 0.05, 0.5).unsqueeze(1) * d).view_as(w)

    learner.train()
    learner.local_step(x, y)
    torch.testing.assert_close(model[1].weight, expected(w1, h1))
    torch.testing.assert_close(model[5].weight, expected(w2, h2))


@pytest.mark.parametrize("make,rule", [(mlp, KrotovPlasticity(k=2)), (conv, SoftHebbPlasticity())])
def test_frozen_leaves_the_local_layers_bitwise_unchanged(make, rule) -> None:  # type: ignore[no-untyped-def]
    learner = CompetitiveLearner(make(), rule, "r", seed=1, frozen=True)
    opt = torch.optim.SGD([p for p in learner.parameters() if p.requires_grad], lr=0.5)
    before = [m.weight.clone() for m in learner.local_layers()]
    readout = learner.model[-1].weight.clone()
    x, y = data((12,) if make is mlp else (1, 6, 6))
    for _ in range(3):
        opt.zero_grad()
        learner.local_step(x, y)
        opt.step()
        learner.end_epoch()
    assert all(torch.equal(a, m.weight) for a, m in zip(before, learner.local_layers()))
    assert not torch.equal(readout, learner.model[-1].weight)  # the read-out did learn
    live = CompetitiveLearner(make(), rule, "r", seed=1)
    live.local_step(x, y)
    assert not torch.equal(before[0], live.local_layers()[0].weight)  # same start, learning on: it moves


def test_schedules_greedy_and_together() -> None:
    x, y = data((1, 6, 6))
    greedy = CompetitiveLearner(conv(), SoftHebbPlasticity(radius=3.0), "softhebb", local_epochs=2,
                                schedule="greedy")
    assert [i for i, _ in greedy.learning()] == [1]
    seen = []
    for _ in range(5):
        seen.append([(i, e) for i, e in greedy.learning()])
        greedy.end_epoch()
    assert seen == [[(1, 0)], [(1, 1)], [(5, 0)], [(5, 1)], []]
    together = CompetitiveLearner(conv(), SoftHebbPlasticity(radius=3.0), "softhebb", local_epochs=1)
    assert together.learning() == [(1, 0), (5, 0)]
    together.end_epoch()
    w = [m.weight.clone() for m in together.local_layers()]
    together.local_step(x, y)  # after its local epoch only the read-out learns
    assert all(torch.equal(a, m.weight) for a, m in zip(w, together.local_layers()))


def test_a_local_bias_is_zeroed_by_the_rules_init_and_stays() -> None:
    x, y = data((12,))
    for init in (True, False):
        model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
        bias = model[1].bias.clone()
        learner = CompetitiveLearner(model, KrotovPlasticity(k=2), "krotov", init=init)
        start = model[1].bias.clone()
        assert torch.equal(start, torch.zeros(8)) if init else torch.equal(start, bias)
        w = model[1].weight.clone()
        learner.local_step(x, y)
        assert torch.equal(model[1].bias, start) and not torch.equal(model[1].weight, w)


def test_one_rule_per_layer() -> None:
    rules = [SoftHebbPlasticity(lr=0.1, radius=3.0), SoftHebbPlasticity(lr=0.0, radius=3.0, adaptive=False)]
    learner = CompetitiveLearner(conv(), rules, "softhebb")
    w = [m.weight.clone() for m in learner.local_layers()]
    learner.local_step(*data((1, 6, 6)))
    moved = [not torch.equal(a, m.weight) for a, m in zip(w, learner.local_layers())]
    assert moved == [True, False]  # the second layer's rate is 0
    with pytest.raises(SpikefaError, match="3 plasticity settings for 2 local layers"):
        CompetitiveLearner(conv(), rules + rules[:1], "softhebb")


def test_reference_initializations() -> None:
    k = CompetitiveLearner(nn.Sequential(nn.Linear(400, 300, bias=False), nn.Linear(300, 2)),
                           KrotovPlasticity(sigma=0.5), "krotov", seed=0)
    assert float(k.model[0].weight.std()) == pytest.approx(0.5, rel=0.02)
    s = CompetitiveLearner(conv(), SoftHebbPlasticity(radius=7.0), "softhebb", seed=0)
    norms = torch.cat([m.weight.reshape(m.weight.shape[0], -1).norm(dim=1) for m in s.local_layers()])
    assert float(norms.pow(2).mean().sqrt()) == pytest.approx(7.0, rel=0.25)  # E‖w‖² = r²
    positive = CompetitiveLearner(nn.Sequential(nn.Linear(500, 6, bias=False), nn.Linear(6, 2)),
                                  SoftHebbPlasticity(radius=4.0), "softhebb")  # no batch norm before: U(0, ·)
    w = positive.model[0].weight
    assert float(w.min()) >= 0 and ((w.norm(dim=1) - 4.0).abs() < 0.5).all()
    kept = mlp()
    w0 = kept[1].weight.clone()
    CompetitiveLearner(kept, KrotovPlasticity(), "krotov", init=False)
    assert torch.equal(kept[1].weight, w0)


@pytest.mark.parametrize("model,match", [
    (nn.Sequential(nn.Linear(4, 2)), "at least one"),
    (nn.Sequential(nn.Linear(4, 3, bias=False), nn.Conv2d(3, 2, 1)), "nn.Linear read-out"),
    (nn.Sequential(nn.Conv2d(4, 4, 1, groups=2, bias=False), nn.Flatten(), nn.Linear(4, 2)), "groups=2"),
])
def test_refusals_name_the_problem(model: nn.Module, match: str) -> None:
    with pytest.raises(SpikefaError, match=match):
        CompetitiveLearner(model, SoftHebbPlasticity(), "softhebb")
    with pytest.raises(SpikefaError, match="flat nn.Sequential"):
        CompetitiveLearner(nn.Linear(3, 2), SoftHebbPlasticity(), "softhebb")


def test_local_features_give_each_layers_weight_and_its_response_after_the_activation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from spikefa.train.diagnostics import feature_diagnostics

    model = conv()
    learner = CompetitiveLearner(model, SoftHebbPlasticity(), "softhebb", seed=0)
    x = torch.rand(6, 1, 6, 6)
    learner.eval()
    (n1, w1, r1), (n2, w2, r2) = learner.local_features(x)
    assert (n1, n2) == ("model.1", "model.5") and w1.shape == (4, 1, 3, 3) and w2.shape == (5, 4, 3, 3)
    with torch.no_grad():  # each channel's largest response over its map, after the activation
        torch.testing.assert_close(r1, model[:3](x).amax(dim=(2, 3)))
        torch.testing.assert_close(r2, model[:7](x).amax(dim=(2, 3)))
    stats = feature_diagnostics(learner, x, (1, 6, 6), tmp_path, "t")
    assert set(stats) == {"model.1", "model.5"} and stats["model.1"]["units"] == 4
    assert (tmp_path / "features.png").is_file()  # the first conv layer's kernels read the image

    dense = CompetitiveLearner(mlp(), KrotovPlasticity(), "krotov", seed=0)
    ((name, w, r),) = dense.local_features(torch.rand(5, 1, 3, 4))
    assert name == "model.1" and w.shape == (8, 12) and r.shape == (5, 8) and (r >= 0).all()  # after RePU


def test_local_batch_presents_the_batch_in_chunks_and_the_readout_sees_every_chunk() -> None:
    """local_batch = 5 on a batch of 10 is two one-chunk steps in a row (each chunk's forward with the
    weights the previous chunk left), and the read-out's gradient is that of the whole batch on the
    features each chunk produced."""
    rule = SoftHebbPlasticity(temperature=0.5, lr=0.05, radius=3.0)
    x, y = data((1, 6, 6))
    chunked = CompetitiveLearner(conv(), rule, "softhebb", seed=0, local_batch=5)
    one = CompetitiveLearner(conv(), rule, "softhebb", seed=0)
    chunked.train(), one.train()
    chunked.local_step(x, y)
    features = []
    for part in x.split(5):
        with torch.no_grad():
            features.append(one.model[:-1](part))
        one.local_step(part, y[:5])  # the local updates of that chunk (its read-out gradient is not used)
    for a, b in zip(chunked.local_layers(), one.local_layers()):
        torch.testing.assert_close(a.weight, b.weight)
    readout = chunked.model[-1]
    expected = torch.autograd.grad(F.cross_entropy(readout(torch.cat(features)), y), readout.weight)[0]
    torch.testing.assert_close(readout.weight.grad, expected)
    # frozen, or after the local epochs, the batch goes through whole (no chunking to pay for)
    assert CompetitiveLearner(conv(), rule, "softhebb", local_batch=5, frozen=True).learning() == []

