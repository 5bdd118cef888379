"""The rule registry (spikefa/rules/registry.py): what ``convert`` returns for each kind of model,
and its refusals, each one line naming the argument and the fix."""

from __future__ import annotations

import pytest
import torch

import spikefa
from spikefa.catalog import load_card
from spikefa.errors import SpikefaError
from spikefa.nn.build import build
from spikefa.nn.layers import FALinear
from spikefa.nn.online import OnlineDFA
from spikefa.nn.spiking import SpikingNet
from spikefa.rules import convert
from spikefa.schemas.neuron import LIFParams

from ..helpers import SkipNet, mlp, net


def test_user_errors_are_one_line() -> None:
    for call, match in [
        (lambda: spikefa.convert(mlp(), "foo"), "rule 'foo' is unknown"),
        (lambda: spikefa.convert(mlp(), "fa", "bogus"), "feedback kind 'bogus' is unknown"),
        (lambda: spikefa.convert(mlp(), "sign", "random"), "does not take feedback 'random'"),
        (lambda: spikefa.convert(mlp(), "bp", "random"), "does not take feedback"),
        (lambda: spikefa.convert(SkipNet(), "dfa"), "flat nn.Sequential"),
    ]:
        with pytest.raises(SpikefaError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_dfa_rule_on_a_spiking_card_is_online_and_fa_converts_synapses() -> None:
    card = load_card("snn-1x800-lif")
    learner = convert(build(card, (1, 8, 8), 4), "dfa", seed=0)
    assert isinstance(learner, OnlineDFA)
    fa = convert(build(card, (1, 8, 8), 4), "fa", seed=0)
    assert isinstance(fa, SpikingNet) and sum(isinstance(m, FALinear) for m in fa.modules()) == 2


def test_plastic_dfa_rejects_oja_with_the_shape_reason() -> None:
    with pytest.raises(SpikefaError, match=r"(?s)Oja.*shape"):
        spikefa.convert(net(0), "dfa", "random", options={"plastic": "oja", "plastic_lr": 0.1})
    with pytest.raises(SpikefaError, match="fixed B"):
        spikefa.convert(net(0), "dfa", "sign", options={"plastic": "hebb", "plastic_lr": 0.1})


@pytest.mark.parametrize("rule", ["fa", "sign", "dfa", "hebb", "sum", "hebbian-descent"])
def test_a_module_used_twice_is_refused_not_half_converted(rule: str) -> None:
    """The issue's example: one Linear at two places would be converted at its first use only."""
    lin = torch.nn.Linear(6, 6)
    model = torch.nn.Sequential(lin, torch.nn.Tanh(), lin, torch.nn.Tanh(), torch.nn.Linear(6, 3))
    with pytest.raises(SpikefaError, match=r"Linear module '0' is used again as '2'") as err:
        spikefa.convert(model, rule, seed=0)
    assert "\n" not in str(err.value)
    assert type(model[0]) is torch.nn.Linear  # nothing was converted before the refusal


@pytest.mark.parametrize("layer", [torch.nn.Conv1d(1, 2, 3), torch.nn.Embedding(4, 3), torch.nn.Bilinear(3, 3, 3)])
def test_a_layer_the_rule_does_not_learn_is_refused_by_name(layer: torch.nn.Module) -> None:
    model = torch.nn.Sequential(torch.nn.Identity(), layer, torch.nn.Flatten(), torch.nn.LazyLinear(3))
    with pytest.raises(SpikefaError, match=rf"'1' is a {type(layer).__name__} with parameters"):
        spikefa.convert(model, "fa", seed=0)
    spikefa.convert(torch.nn.Sequential(torch.nn.Identity(), layer), "bp")  # backprop learns anything


def test_batch_norm_passes_and_alignment_lists_every_learning_layer() -> None:
    """Normalization layers stay on the gradient (no weight transport); the alignment diagnostics list
    them with the converted layers."""
    from spikefa.rules.alignment import measure_alignment, rule_layers

    model = spikefa.convert(torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.Tanh(),
                                                torch.nn.Linear(8, 3)), "fa", seed=0)
    layers = rule_layers(model)
    assert [type(m).__name__ for _, m, _ in layers] == ["FALinear", "BatchNorm1d", "FALinear"]
    assert layers[1][2] is None  # no feedback matrix: it learns by its own gradient
    stats = measure_alignment(model, torch.nn.functional.cross_entropy, torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1]))
    assert {"layer0.update_angle", "layer1.update_angle", "layer2.update_angle"} <= set(stats)


@pytest.mark.parametrize("value, kind", [("2.7", "an integer"), (True, "an integer"), ("inf", "an integer")])
def test_rule_options_are_never_truncated(value: object, kind: str) -> None:
    """error_every=2.7 used to become 2 without a word; now it is refused, naming what is allowed."""
    with pytest.raises(SpikefaError, match=rf"error_every={value!r} is not allowed; expected {kind}"):
        spikefa.convert(SpikingNet([torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)], LIFParams(beta=0.9)), "dfa",
                        options={"error_every": value})
