"""The one list of learning rules: name -> how a model is converted to learn by it.

Gradient-substitute rules change only which error reaches each layer, so a converted model is
trained with the user's own ``loss.backward(); optimizer.step()`` and any loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from spikefa.errors import SpikefaError
from spikefa.rules.feedback import FEEDBACK_KINDS, derive_seed

Converter = Callable[[nn.Module, str | None, int, "tuple[int, ...] | None", "float | None", str], nn.Module]


@dataclass(frozen=True)
class Rule:
    """A learning rule: its name, the paper, allowed feedback kinds and its converter."""

    name: str
    summary: str
    reference: str
    feedbacks: tuple[str, ...]
    default_feedback: str | None
    apply: Converter


def _bp(model: nn.Module, feedback: str | None, seed: int, input_shape: tuple[int, ...] | None,
        scale: float | None, dist: str) -> nn.Module:
    return model


def _fa(model: nn.Module, feedback: str | None, seed: int, input_shape: tuple[int, ...] | None,
        scale: float | None, dist: str) -> nn.Module:
    from spikefa.nn.layers import FA_LAYERS, fa_layer_from

    assert feedback is not None
    targets = [(n, m) for n, m in model.named_modules() if type(m) in FA_LAYERS]
    if not targets:
        raise SpikefaError("feedback alignment found no nn.Linear or nn.Conv2d layer to convert")
    for index, (name, module) in enumerate(targets):
        new = fa_layer_from(module, feedback, derive_seed(seed, index), scale, dist)
        if not name:
            return new
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
    return model


def _dfa(model: nn.Module, feedback: str | None, seed: int, input_shape: tuple[int, ...] | None,
         scale: float | None, dist: str) -> nn.Module:
    from spikefa.nn.dfa import DFASequential, split_blocks

    assert feedback is not None
    if not isinstance(model, nn.Sequential):
        raise SpikefaError(
            f"DFA needs a flat nn.Sequential model, got {type(model).__name__}: "
            "build it with spikefa.build(card) or nn.Sequential"
        )
    return DFASequential(split_blocks(model), feedback, seed, input_shape, scale, dist)


_ALL = tuple(FEEDBACK_KINDS)

RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("bp", "backpropagation (the reference)", "Rumelhart et al. 1986", (), None, _bp),
        Rule("fa", "feedback alignment: fixed feedback B in place of Wᵀ", "Lillicrap et al. 2016", _ALL, "random", _fa),
        Rule("sign", "sign symmetry: B = sign(W), uniform magnitude", "Liao et al. 2016; Xiao et al. 2018",
             ("sign",), "sign", _fa),
        Rule("dfa", "direct feedback alignment: output error broadcast by fixed B_l", "Nøkland 2016", _ALL, "random", _dfa),
    )
}


def get_rule(name: str) -> Rule:
    """Look a rule up, with an error that lists the known ones."""
    try:
        return RULES[name]
    except KeyError:
        raise SpikefaError(f"rule {name!r} is unknown: use one of {', '.join(RULES)}") from None


def resolve_feedback(rule: Rule, feedback: str | None) -> str | None:
    """The feedback kind a rule will use, checking it is one the rule accepts."""
    if feedback is None:
        return rule.default_feedback
    if feedback not in FEEDBACK_KINDS:
        raise SpikefaError(f"feedback kind {feedback!r} is unknown: use one of {', '.join(FEEDBACK_KINDS)}")
    if feedback not in rule.feedbacks:
        allowed = ", ".join(rule.feedbacks) or "none (it uses the exact transposed weights)"
        raise SpikefaError(f"rule {rule.name!r} does not take feedback {feedback!r}: allowed: {allowed}")
    return feedback


def convert(model: nn.Module, rule: str = "fa", feedback: str | None = None, seed: int = 0, *,
            input_shape: tuple[int, ...] | None = None, scale: float | None = None,
            dist: str = "gaussian") -> nn.Module:
    """Make ``model`` learn by ``rule``; returns the converted model (layers replaced in place).

    ``feedback`` picks the feedback kind (see ``spikefa.rules.FEEDBACK_KINDS``); every layer
    draws an independent B from ``seed``. DFA on convolutional models needs ``input_shape``.
    """
    r = get_rule(rule)
    kind = resolve_feedback(r, feedback)
    if dist not in ("gaussian", "uniform"):
        raise SpikefaError(f"feedback distribution {dist!r} is unknown: use 'gaussian' or 'uniform'")
    return r.apply(model, kind, int(seed), input_shape, scale, dist)
