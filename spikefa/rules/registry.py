"""The one list of learning rules: name -> how a model is converted to learn by it.

Gradient-substitute rules change only which error reaches each layer, so a converted model is
trained with the user's own ``loss.backward(); optimizer.step()`` and any loss.
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from spikefa.errors import ConfigError, SpikefaError
from spikefa.functional.feedback import FEEDBACK_KINDS, derive_seed
from spikefa.nn.conv_stdp import ConvSTDPNet
from spikefa.nn.dfa import DFASequential, split_blocks
from spikefa.nn.layers import FA_LAYERS, fa_layer_from
from spikefa.nn.online import ERRORS as ONLINE_ERRORS
from spikefa.nn.online import CONV_FEEDBACK, OnlineDFA
from spikefa.nn.snntorch_net import is_snntorch_neuron, read_snntorch, uses_snntorch
from spikefa.nn.spiking import SpikingNet
from spikefa.nn.stdp import DiehlCookNet, ThreeFactorNet
from spikefa.rules.competitive import competitive_rules
from spikefa.rules.conv_stdp import conv_stdp_rules
from spikefa.rules.local import local_rules
from spikefa.rules.spec import ModelKind, Option, Request, Rule
from spikefa.rules.stdp import stdp_rules
from spikefa.schemas.card import ModelCard

# what a converter is handed, by class; anything else is a rate-coded torch model
_KINDS: tuple[tuple[type, ModelKind], ...] = ((SpikingNet, "spiking"), (DiehlCookNet, "diehl-cook"),
                                              (ThreeFactorNet, "three-factor"), (ConvSTDPNet, "conv-stdp"))
_CARDS = {"rate": "a rate-coded network (an mlp, lenet or resnet card, or your own non-spiking torch model)",
          "spiking": "a spiking network (an snn-* card, or your own snnTorch network)",
          "diehl-cook": "a card with arch 'diehl-cook' (e.g. diehl-cook-400)",
          "three-factor": "a card with arch 'three-factor' (e.g. three-factor-400)",
          "conv-stdp": "a card with arch 'conv-stdp' (e.g. conv-stdp)"}


def model_kind(model: nn.Module) -> ModelKind:
    """Which kind of model a converter is handed (`spikefa.rules.spec.ModelKind`); a user's network
    with snnTorch neurons is a spiking one."""
    kind = next((kind for cls, kind in _KINDS if isinstance(model, cls)), None)
    return kind or ("spiking" if uses_snntorch(model) else "rate")


def _bp(model: nn.Module, req: Request) -> nn.Module:
    return model


def _fa(model: nn.Module, req: Request) -> nn.Module:
    assert req.feedback is not None
    plastic = req.options.get("plastic", "none")
    targets = [(n, m) for n, m in model.named_modules() if type(m) in FA_LAYERS]
    if not targets:
        raise SpikefaError("feedback alignment found no nn.Linear or nn.Conv2d layer to convert")
    for index, (name, module) in enumerate(targets):
        new = fa_layer_from(module, req.feedback, derive_seed(req.seed, index), req.scale, req.dist)
        if plastic != "none":
            new.make_plastic(plastic, req.options["plastic_lr"])  # type: ignore[operator]
        if not name:
            return new
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
    return model


def _dfa(model: nn.Module, req: Request) -> nn.Module:
    assert req.feedback is not None
    if model_kind(model) == "spiking":
        if req.options.get("plastic", "none") != "none":
            raise SpikefaError("plastic feedback is not offered for online DFA on spiking networks; use plastic=none")
        layers = None if isinstance(model, SpikingNet) else read_snntorch(model)
        return OnlineDFA(model, req.feedback, req.seed, req.scale, req.dist, req.options["error_every"],
                         req.options["error"], layers=layers, input_shape=req.input_shape,
                         conv_feedback=req.options["conv_feedback"])
    if not isinstance(model, nn.Sequential):
        raise SpikefaError(
            f"DFA needs a flat nn.Sequential model, got {type(model).__name__}: "
            "build it with spikefa.build(card) or nn.Sequential"
        )
    if req.options.get("plastic") == "oja":
        raise SpikefaError("DFA feedback cannot learn by Oja's rule: Oja's rule needs B shaped like W "
                           "([n_l, n_l-1]) but DFA's B_l is [classes, n_l]; use plastic=hebb")
    net = DFASequential(split_blocks(model), req.feedback, req.seed, req.input_shape, req.scale, req.dist)
    if req.options.get("plastic", "none") != "none":
        if net.feedback_kind.init is None or net.feedback_kind.sign_congruent:
            raise SpikefaError(f"plastic feedback needs a fixed B: use feedback 'random' or 'binary', "
                               f"not {req.feedback!r}")
        net.plastic_lr = float(req.options["plastic_lr"])
    return net


REFERENCE = "bp"
"""The rule every other is measured against (benchmark ratios, comparison plots)."""

_ALL = tuple(FEEDBACK_KINDS)
_PLASTIC_LR = Option(1e-4, float, "learning rate of the feedback matrices' Hebbian update")

RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("bp", "backpropagation (the reference)", "Rumelhart et al. 1986", (), None, _bp, layers=None),
        Rule("fa", "feedback alignment: fixed feedback B in place of Wᵀ", "Lillicrap et al. 2016", _ALL, "random", _fa,
             {"plastic": Option("none", ("none", "hebb", "oja"), "train B by Hebb's or Oja's rule (HL x FA)"),
              "plastic_lr": _PLASTIC_LR}, owns_feedback=True),
        Rule("sign", "sign symmetry: B = sign(W), uniform magnitude", "Liao et al. 2016; Xiao et al. 2018",
             ("sign",), "sign", _fa),
        Rule("dfa", "direct feedback alignment: output error broadcast by fixed B_l", "Nøkland 2016", _ALL, "random", _dfa,
             {"plastic": Option("none", ("none", "hebb", "oja"), "train B_l by Hebb's rule (HL x DFA)"),
              "plastic_lr": _PLASTIC_LR,
              "error_every": Option(1, int, "spiking networks (online DFA): broadcast the error every k time steps",
                                     minimum=1),
              "error": Option("count", ONLINE_ERRORS, "spiking networks (online DFA): the broadcast error is the "
                              "gradient of the cross-entropy of the running spike-count read-out (count) or "
                              "of the output membrane (membrane)"),
              "conv_feedback": Option("position", CONV_FEEDBACK, "spiking conv layers (online DFA): one random "
                                      "feedback column per output-map position (position) or one per channel, "
                                      "shared by its positions as the kernel is (channel)")},
             owns_feedback=True, online=lambda model: any(isinstance(m, OnlineDFA) for m in model.modules())),
        *local_rules(),
        *stdp_rules(),
        *competitive_rules(),
        *conv_stdp_rules(),
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


def resolve_options(rule: Rule, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rule's defaults updated by ``options``, each checked; unknown keys are errors."""
    given = dict(options or {})
    unknown = sorted(set(given) - set(rule.options))
    if unknown:
        allowed = ", ".join(rule.options) or "none"
        raise SpikefaError(f"rule {rule.name!r} has no option {unknown[0]!r}; its options: {allowed}")
    return {k: (o.parse(rule.name, k, given[k]) if k in given else o.default) for k, o in rule.options.items()}


def check_takes(rule: Rule, model: nn.Module) -> None:
    """Refuse, by name, a model the rule does not convert."""
    kind = model_kind(model)
    if kind not in rule.takes:
        wants = " or ".join(_CARDS[k] for k in rule.takes)
        raise SpikefaError(f"rule {rule.name!r} does not train a {kind} model ({type(model).__name__}); "
                           f"it takes {wants}")


# parameterized layers a rule may leave to the plain gradient: their backward moves no error across
# units through a weight matrix (the weight-transport problem the rules address); so do snnTorch
# neurons with a learnable β or θ (BPTT trains them)
NORMS: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


def check_layers(rule: Rule, model: nn.Module) -> None:
    """Refuse, naming the module and its type, a layer used at two places (only one use would be
    converted) or a parameterized layer the rule would silently leave on backprop."""
    first: dict[int, str] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if next(module.parameters(recurse=False), None) is None:
            continue
        where = name or "the model itself"
        if id(module) in first and rule.layers is not None:
            raise SpikefaError(f"rule {rule.name!r}: {type(module).__name__} module {first[id(module)]!r} is used "
                               f"again as {where!r}; give each use its own module (only one use would be converted)")
        first.setdefault(id(module), where)
        # the exact type, as the converters select layers: a subclass of nn.Linear would be left alone
        if rule.layers is not None and type(module) not in rule.layers + NORMS and not is_snntorch_neuron(module):
            kinds = ", ".join(f"nn.{k.__name__}" for k in rule.layers)
            raise SpikefaError(f"rule {rule.name!r} learns {kinds} layers; {where!r} is a {type(module).__name__} "
                               "with parameters that would stay on backprop: replace it, or train with rule 'bp'")


def check_card(card: ModelCard) -> None:
    """Each preset's rule options against the rule's declared ones, naming the card file (a preset of
    a rule not registered here, e.g. a plugin's, is checked when that rule runs; one whose name is a
    near miss of a registered rule's, ``[presets.dfaa]``, is refused as the typo it is)."""
    import difflib

    for rule, preset in card.presets.items():
        if rule not in RULES:
            near = difflib.get_close_matches(rule, list(RULES), n=1, cutoff=0.75)
            if near:
                raise ConfigError(f"{card.source}: [presets.{rule}] names no registered rule; did you mean "
                                  f"[presets.{near[0]}]? (spikefa list rules)")
            continue
        if not preset.options:
            continue
        try:
            resolve_options(RULES[rule], preset.options)
        except SpikefaError as exc:
            raise ConfigError(f"{card.source}: [presets.{rule}.options] {exc}") from None


def convert(model: nn.Module, rule: str = "fa", feedback: str | None = None, seed: int = 0, *,
            input_shape: tuple[int, ...] | None = None, scale: float | None = None,
            dist: str = "gaussian", options: Mapping[str, Any] | None = None) -> nn.Module:
    """Make ``model`` learn by ``rule``; returns the converted model (layers replaced in place).

    ``feedback`` picks the feedback kind (see ``spikefa.rules.FEEDBACK_KINDS``); every layer
    draws an independent B from ``seed``. DFA on convolutional models needs ``input_shape``.
    ``options`` are the rule's own (``spikefa list rules``), e.g. ``{"beta": 0.01}`` for ``sum``.
    Raises `SpikefaError` for an unknown rule, feedback kind or option, or a model the rule does
    not take (each rule declares which, `Rule.takes`).
    """
    r = get_rule(rule)
    kind = resolve_feedback(r, feedback)
    if dist not in ("gaussian", "uniform"):
        raise SpikefaError(f"feedback distribution {dist!r} is unknown: use 'gaussian' or 'uniform'")
    opts = resolve_options(r, options)
    check_takes(r, model)
    check_layers(r, model)
    return r.apply(model, Request(kind, int(seed), input_shape, scale, dist, opts))
