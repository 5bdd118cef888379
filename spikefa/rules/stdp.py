"""The STDP family as registered rules: Diehl & Cook (2015) unsupervised STDP with label assignment
(``stdp``), STDP features with a delta-rule read-out (``stdp-readout``) and three-factor STDP
(``three-factor``). Each converts the network a card with ``arch = "diehl-cook"`` or
``"three-factor"`` builds into a learner of `spikefa.nn.stdp.learners`.

``stdp`` and ``three-factor`` also take a spiking network: your own snnTorch network (either style)
or an snn-* card's. Their chosen hidden ``nn.Linear`` layers learn (`spikefa.nn.stdp.user`): with
``stdp`` by pair STDP with the semantics of `spikefa.schemas.stdp.STDPParams` (unsupervised
features), with ``three-factor`` by STDP eligibility gated by the DFA-broadcast output error; the
rest of the network, the output layer always, learns by online DFA (the read-out). The converter
is picked by the model's class from a table, and options that belong to the other kind of model
are refused by name. Only the Diehl & Cook learners assign labels after an epoch
(``assigns_labels`` asks the converted model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.stdp_batched import REDUCTIONS
from spikefa.nn.stdp import DiehlCookNet, ThreeFactorNet
from spikefa.nn.stdp.learners import DiehlCookLearner, STDPReadoutLearner, ThreeFactorLearner
from spikefa.nn.stdp.user import STDPOnlineDFA, ThreeFactorSTDP
from spikefa.rules.spec import Converter, Option, Request, Rule
from spikefa.schemas.stdp import CHOICES, STDP_MODES, STDPParams

_FROZEN = Option(False, bool, "keep the STDP layer at its initialization (the random-feature control)")
_LABELS = Option(10000, int, "training images whose responses assign labels / train the read-out after each "
                 "epoch (learning off)", minimum=1)
_CONSTANTS = ("tau_pre", "tau_post", "a_plus", "a_minus", "w_min", "w_max", "dt")


class Layers:
    """The ``layers`` option: layer indices and/or module names, from a list, one value, or the
    command line's comma-separated text (``"0,fc2"``; digits are indices). Parsing gives a plain
    tuple (a run config stores it as a list), or None for the default."""

    def __new__(cls, value: Any) -> tuple[int | str, ...] | None:  # type: ignore[misc]
        if value is None:  # the default, as a stored run config hands it back
            return None
        items = value.split(",") if isinstance(value, str) else value if isinstance(value, list | tuple) else [value]
        out: list[int | str] = []
        for item in items:
            if isinstance(item, str) and item.strip().lstrip("-").isdigit():
                item = int(item.strip())
            elif isinstance(item, str):
                item = item.strip()
            if isinstance(item, bool) or not isinstance(item, int | str) or item == "":
                raise TypeError(value)
            out.append(item)
        if not out:
            raise TypeError(value)
        return tuple(out)


class Constants:
    """The ``params`` option: STDP constants (tau_pre, tau_post in ms; signed a_plus, a_minus; w_min,
    w_max; dt in ms) as a mapping or the command line's ``"a_plus=0.01,a_minus=-0.0105"`` (a plain
    dict of floats), or a whole `STDPParams`, constants and semantics, taken as it is (a mapping
    holding a semantic key, as a stored run config hands one back, is one too)."""

    def __new__(cls, value: Any) -> dict[str, float] | STDPParams | None:  # type: ignore[misc]
        if value is None or isinstance(value, STDPParams):
            return value
        if isinstance(value, str):
            value = dict(part.split("=", 1) for part in value.split(",") if part.strip())
        if not isinstance(value, Mapping):
            raise TypeError(value)
        if set(value) & set(CHOICES):
            return STDPParams(**{k: (float(v) if k in _CONSTANTS and v is not None else v) for k, v in value.items()})
        return {str(k).strip(): float(v) for k, v in value.items()}


class Tau(float):
    """A time constant in ms > 0 that may be infinite (``inf``: no decay)."""

    def __new__(cls, value: Any) -> Tau:
        if isinstance(value, bool):
            raise TypeError(value)
        out = super().__new__(cls, value)
        if not out > 0:
            raise ValueError(value)
        return out


# the names `spikefa list rules` and the option errors show (``--opt layers=LAYER_INDICES_OR_NAMES``)
Layers.__name__ = "layer_indices_or_names"
Constants.__name__ = "stdp_constants"
Tau.__name__ = "ms_or_inf"


def stdp_params(options: Mapping[str, Any], base: STDPParams | None = None) -> STDPParams:
    """The STDP a spiking-network rule runs: ``params`` taken whole, or its constants over ``base``
    (default: the named ``mode``'s semantics and STDPParams' constants). Errors name the field."""
    given = options.get("params")
    if isinstance(given, STDPParams):
        if options.get("mode", "brian2") != "brian2":
            raise SpikefaError("options params (a whole STDPParams) and mode both give the STDP semantics; give one")
        return given
    constants = dict(given or {})
    unknown = sorted(set(constants) - set(_CONSTANTS))
    if unknown:
        raise SpikefaError(f"option params: {unknown[0]!r} is not an STDP constant; use {', '.join(_CONSTANTS)} "
                           f"(the semantics {', '.join(CHOICES)} come with option mode or a whole STDPParams)")
    if base is not None:
        return STDPParams(**{**base.as_dict(), **constants})
    return STDPParams.from_mode(options.get("mode", "brian2"), **constants)


def _refuse_others(model: nn.Module, rule: str, req: Request, others: Mapping[str, Option]) -> None:
    """Refuse, by name, an option given a value although it belongs to the other kind of model."""
    for key, option in others.items():
        if req.options.get(key, option.default) != option.default:
            raise SpikefaError(f"rule {rule!r} option {key!r} does not apply to {type(model).__name__}; it is for "
                               f"{'spiking networks (your snnTorch network)' if key in _USER else 'the STDP cards'}")


def _by_class(table: tuple[tuple[type, Converter], ...], default: Converter) -> Converter:
    """The converter for the model's class (first match), else ``default``."""
    def convert(model: nn.Module, req: Request) -> nn.Module:
        return next((c for cls, c in table if isinstance(model, cls)), default)(model, req)

    return convert


def _stdp(model: nn.Module, req: Request) -> nn.Module:
    assert isinstance(model, DiehlCookNet)
    _refuse_others(model, "stdp", req, _USER_STDP)
    o = req.options
    return DiehlCookLearner(model, req.seed, o["label_samples"], o["frozen"])


def _stdp_readout(model: nn.Module, req: Request) -> nn.Module:
    assert isinstance(model, DiehlCookNet)
    o = req.options
    return STDPReadoutLearner(model, req.seed, o["label_samples"], o["frozen"], o["readout_epochs"], o["readout_lr"],
                              o["weight_decay"])


def _three_factor(model: nn.Module, req: Request) -> nn.Module:
    assert isinstance(model, ThreeFactorNet)
    _refuse_others(model, "three-factor", req, _USER_THREE)
    return ThreeFactorLearner(model, req.seed, req.options["frozen"])


def _user_stdp(model: nn.Module, req: Request) -> nn.Module:
    _refuse_others(model, "stdp", req, {"label_samples": _LABELS})
    o = req.options
    return STDPOnlineDFA(model, o["layers"], stdp_params(o), o["reduction"], o["frozen"], req.seed, req.scale,
                         req.dist, req.input_shape)


def _holds_diehl_cook(model: nn.Module) -> bool:
    """Whether the converted model holds a Diehl & Cook learner (label assignment after each epoch);
    a spiking network's STDP learner is read out by its own online-DFA-trained output layer."""
    return any(isinstance(m, DiehlCookLearner) for m in model.modules())


def _user_three_factor(model: nn.Module, req: Request) -> nn.Module:
    o = req.options
    base = STDPParams(a_plus=1.0, a_minus=-0.5, w_min=-math.inf, w_max=math.inf, clip="none")  # the card's
    return ThreeFactorSTDP(model, o["layers"], stdp_params(o, base), o["tau_elig"], o["gain"], o["frozen"], req.seed,
                           req.scale, req.dist, req.input_shape)


_LAYERS = Option(None, Layers, "spiking networks: the hidden nn.Linear layers that learn by STDP, by index (0 = "
                 "first layer of neurons) or module name, comma-separated (None: every hidden nn.Linear layer); the "
                 "others, the output layer always, learn by online DFA")
_PARAMS = Option(None, Constants, "spiking networks: STDP constants tau_pre, tau_post (ms), signed a_plus, a_minus, "
                 "w_min, w_max, dt (ms), e.g. a_plus=0.01,a_minus=-0.0105, over STDPParams' (in Python also a whole "
                 "STDPParams)")
_USER_STDP = {"layers": _LAYERS, "params": _PARAMS,
              "mode": Option("brian2", tuple(STDP_MODES), "spiking networks: the STDP semantics (traces, bounds, "
                             "order, clipping; spikefa.schemas.stdp.STDP_MODES)"),
              "reduction": Option("mean", REDUCTIONS, "spiking networks: combine the per-sample updates of a batch "
                                  "by their mean or sum")}
_USER_THREE = {"layers": _LAYERS,
               "params": Option(None, Constants, "spiking networks: the eligibility's STDP constants over the card's "
                                "(a_plus=1, a_minus=-0.5, tau 20 ms, unbounded), e.g. a_plus=1,a_minus=-0.5"),
               "tau_elig": Option(math.inf, Tau, "spiking networks: eligibility time constant τ_e in ms (inf: the "
                                  "eligibility sums the whole sequence)"),
               "gain": Option(1.0, float, "spiking networks: multiplies the chosen layers' three-factor gradient "
                              "(their learning rate relative to the optimiser's)")}
_USER = set(_USER_STDP) | set(_USER_THREE)


def stdp_rules() -> list[Rule]:
    """The STDP-family rules, in registry order."""
    return [
        Rule("stdp", "Diehl & Cook: unsupervised STDP, label assignment, all-activity vote; on a spiking "
             "network: pair STDP on chosen hidden nn.Linear layers, online DFA on the rest (the read-out)",
             "Diehl & Cook 2015; Song et al. 2000", (), None,
             _by_class(((DiehlCookNet, _stdp),), _user_stdp),
             {"label_samples": _LABELS, "frozen": _FROZEN, **_USER_STDP},
             takes=("diehl-cook", "spiking"), online=True, unsupervised=_holds_diehl_cook,
             assigns_labels=_holds_diehl_cook),
        Rule("stdp-readout", "STDP features (Diehl & Cook layer) + delta-rule read-out fitted after each epoch",
             "Diehl & Cook 2015; Widrow & Hoff 1960", (), None, _stdp_readout,
             {"label_samples": _LABELS, "frozen": _FROZEN,
              "readout_epochs": Option(30, int, "passes of the delta rule over the label samples", minimum=1),
              "readout_lr": Option(0.05, float, "learning rate of the read-out's delta rule"),
              "weight_decay": Option(1e-4, float, "the read-out's weight decay")},
             takes=("diehl-cook",), online=True, unsupervised=True, assigns_labels=True),
        Rule("three-factor", "three-factor STDP: STDP eligibility gated by the DFA-broadcast read-out error",
             "Frémaux & Gerstner 2016; Nøkland 2016", (), None,
             _by_class(((ThreeFactorNet, _three_factor),), _user_three_factor), {"frozen": _FROZEN, **_USER_THREE},
             takes=("three-factor", "spiking"), online=True, owns_feedback=True),
    ]
