"""`krotov` and `softhebb` as registered rules: `convert` builds their learners from a card's
network with the rule's options (checked like every rule's), refuses what they cannot train, and the
harness learns what it must know from their declarations only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikefa.catalog import load_card
from spikefa.errors import SpikefaError
from spikefa.nn.build import build
from spikefa.nn.competitive import CompetitiveLearner, KrotovPlasticity, SoftHebbPlasticity
from spikefa.rules.registry import RULES, check_card, convert


def test_declarations() -> None:
    for name in ("krotov", "softhebb"):
        rule = RULES[name]
        assert rule.learns_online(nn.Linear(1, 1)) and rule.ends_epochs and not rule.assigns_labels and not rule.unsupervised
        assert rule.takes == ("rate",) and not rule.owns_feedback and rule.param_groups is None
        assert "frozen" in rule.options and "local_epochs" in rule.options
    assert RULES["krotov"].layers == (nn.Linear,)
    assert RULES["softhebb"].layers == (nn.Linear, nn.Conv2d)


def test_convert_passes_the_options() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 6, bias=False), nn.ReLU(), nn.Linear(6, 3))
    learner = convert(net, "krotov", seed=2, options={"p": "4", "k": 3, "delta": 0.2, "local_epochs": 5,
                                                      "frozen": "true"})
    assert isinstance(learner, CompetitiveLearner)
    assert list(learner.plasticity.values()) == [KrotovPlasticity(p=4.0, k=3, delta=0.2, lr=0.04, sigma=1.0)]
    assert learner.frozen and learner.local_epochs == 5
    again = convert(nn.Sequential(nn.Flatten(), nn.Linear(16, 6, bias=False), nn.ReLU(), nn.Linear(6, 3)),
                    "krotov", seed=2)
    assert torch.equal(again.model[1].weight, learner.model[1].weight)  # the seed decides the initialization
    soft = convert(nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.Flatten(), nn.Linear(4 * 4 * 4, 2)),
                   "softhebb", options={"temperature": 0.5, "schedule": "greedy", "adaptive": False})
    assert list(soft.plasticity.values()) == [SoftHebbPlasticity(temperature=0.5, adaptive=False)]
    assert soft.schedule == "greedy"


def test_softhebb_rate_and_temperature_per_layer() -> None:
    def net() -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.Conv2d(4, 3, 3, bias=False), nn.Flatten(),
                             nn.Linear(3 * 2 * 2, 2))

    soft = convert(net(), "softhebb", options={"lr": "0.08,0.005", "temperature": "1.5"})
    assert [(p.lr, p.temperature) for p in soft.plasticity.values()] == [(0.08, 1.5), (0.005, 1.5)]
    for bad in ("0.1,0.2,0.3", "0.1,-1", "fast"):
        with pytest.raises(SpikefaError, match="expected one number ≥ 0, or 2 comma-separated"):
            convert(net(), "softhebb", options={"lr": bad})
    with pytest.raises(SpikefaError, match="expected one number > 0, or 2 comma-separated"):
        convert(net(), "softhebb", options={"temperature": "1,0"})
    with pytest.raises(SpikefaError, match="keeps every local layer at its initialisation; use --opt frozen=true"):
        convert(net(), "softhebb", options={"lr": "0,0"})


def test_softhebb_rate_zero_keeps_that_layer_at_its_initialisation() -> None:
    """lr=η,0: the second layer is a per-layer random-feature control, the first still learns."""
    net = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.Conv2d(4, 3, 3, bias=False), nn.Flatten(),
                        nn.Linear(3 * 2 * 2, 2))
    soft = convert(net, "softhebb", options={"lr": "0.08,0"})
    assert [p.lr for p in soft.plasticity.values()] == [0.08, 0.0]
    first, second = (soft.model[i] for i in (0, 1))
    before = [first.weight.clone(), second.weight.clone()]
    x = torch.randn(5, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    rules = list(soft.plasticity.values())
    rules[0].step(first, x, 0, 1)
    rules[1].step(second, first(x), 0, 1)
    assert not torch.equal(first.weight, before[0])
    assert torch.equal(second.weight, before[1])
    greedy = convert(nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.Conv2d(4, 3, 3, bias=False), nn.Flatten(),
                                   nn.Linear(3 * 2 * 2, 2)), "softhebb",
                     options={"lr": "0,0.08", "schedule": "greedy", "local_epochs": 2})
    assert greedy.plastic_layers == [1] and greedy.epochs_needed == 2  # no epochs for the layer that does not learn
    assert greedy.learning() == [(1, 0)]


@pytest.mark.parametrize("rule,net,options,match", [
    ("krotov", nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Flatten(), nn.Linear(8, 2)), {},
     "learns nn.Linear layers"),
    ("krotov", nn.Sequential(nn.Linear(4, 3, bias=False), nn.Linear(3, 2)), {"k": 1}, "k=1 must be >= 2"),
    ("softhebb", nn.Sequential(nn.Linear(4, 3, bias=False), nn.Linear(3, 2)), {"schedule": "random"},
     "schedule='random' is not allowed"),
    ("softhebb", nn.Sequential(nn.Linear(4, 3, bias=False), nn.Linear(3, 2)), {"tau": 1.0}, "has no option 'tau'"),
    ("softhebb", nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), {"lr": "0.1,0.2"}, "expected one number ≥ 0, or 1"),
])
def test_refusals(rule: str, net: nn.Module, options: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SpikefaError, match=match):
        convert(net, rule, options=options)


@pytest.mark.parametrize("name,rule", [("krotov-2000", "krotov"), ("softhebb-conv", "softhebb")])
def test_cards_build_and_convert(name: str, rule: str) -> None:
    card = load_card(name)
    check_card(card)
    assert card.default_rule == rule
    net = build(card, (1, 28, 28), 10, seed=0)
    learner = convert(net, rule, options=card.preset(rule).options)
    x = torch.rand(4, 1, 28, 28)
    learner.eval()
    assert learner(x).shape == (4, 10)
    bp = convert(build(card, (1, 28, 28), 10, seed=0), "bp")  # the same network by backprop: the baseline
    assert bp(x).shape == (4, 10)


def test_card_schemas_refuse_bad_values_naming_file_and_key() -> None:
    import tomllib
    from pathlib import Path

    from spikefa.catalog import find_card
    from spikefa.errors import ConfigError
    from spikefa.schemas.card import parse_card

    soft = Path(find_card("softhebb-conv")).read_text()
    krotov = Path(find_card("krotov-2000")).read_text()
    for text, old, new, key in [(soft, "kernel_sizes = [5, 3]", "kernel_sizes = [5]", "architecture.kernel_sizes"),
                                (soft, "dropout = 0.5", "dropout = 1.0", "architecture.dropout"),
                                (soft, 'pool = "max"', 'pool = "max"\nlast_pool = "avg"', "architecture.last_pool"),
                                (krotov, "power = 4.5", "power = 0.5", "architecture.power"),
                                (krotov, "hidden = [2000]", "hidden = []", "architecture.hidden")]:
        assert old in text
        with pytest.raises(ConfigError, match=f"bad.toml: {key} = .* is not allowed"):
            parse_card(tomllib.loads(text.replace(old, new)), "bad.toml")


def test_softhebb_last_pool_avg2_and_the_papers_three_blocks() -> None:
    """``last_pool = "avg2"`` pools the last block by average (2, stride 2) as the reference's third
    block, the others by the card's pool; the benchmark card of the paper's three blocks reads 1536 x
    3 x 3 features on MNIST and takes one rate and temperature per block from its preset."""
    from pathlib import Path

    import torch.nn.functional as F

    from spikefa.nn.build import build_softhebb_conv
    from spikefa.schemas.card import SoftHebbConvArch

    arch = SoftHebbConvArch(channels=(3, 4, 5), kernel_sizes=(3, 3, 1), powers=(1.0, 1.0, 1.0), last_pool="avg2")
    net = build_softhebb_conv(arch, (1, 12, 12), 2).eval()
    pools = [m for m in net if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert [type(m) for m in pools] == [nn.MaxPool2d, nn.MaxPool2d, nn.AvgPool2d]
    assert net[-1].in_features == 5 * 1 * 1  # 12 -> 6 -> 3 -> 1
    x = torch.rand(2, 1, 12, 12)
    before_last_pool = net[:list(net).index(pools[-1])](x)
    assert torch.equal(pools[-1](before_last_pool), F.avg_pool2d(before_last_pool, 2, 2))
    same = build_softhebb_conv(SoftHebbConvArch(channels=(3, 4, 5), kernel_sizes=(3, 3, 1), powers=(1.0,) * 3),
                               (1, 12, 12), 2)
    assert [type(m) for m in same if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))] == [nn.MaxPool2d] * 3

    card = load_card(Path(__file__).parents[2] / "benchmarks" / "cards" / "softhebb-conv-96-384-1536.toml")
    check_card(card)
    big = build(card, (1, 28, 28), 10, seed=0)
    assert big[-1].in_features == 1536 * 3 * 3
    learner = convert(big, "softhebb", options=card.preset("softhebb").options)
    assert [(p.lr, p.temperature) for p in learner.plasticity.values()] == [(0.08, 1.0), (0.005, 1.54), (0.01, 4.0)]
