"""The rule registry (spikefa/rules/registry.py): what ``convert`` returns for each kind of model,
and its refusals, each one line naming the argument and the fix."""

from __future__ import annotations

import pytest

import spikefa
from spikefa.catalog import load_card
from spikefa.errors import SpikefaError
from spikefa.nn.build import build
from spikefa.nn.layers import FALinear
from spikefa.nn.online import OnlineDFA
from spikefa.nn.spiking import SpikingNet
from spikefa.rules import convert

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
