"""The shape of a learning rule in the registry: options, conversion request, and what the training
harness must know about the rule (read by `spikefa.train`, which never compares a rule's name)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import torch
from torch import nn

from spikefa.errors import SpikefaError

ModelKind = Literal["rate", "spiking", "diehl-cook", "three-factor", "conv-stdp"]
"""What a converter takes: a rate-coded torch model, a `SpikingNet` (snn-* cards), the Diehl & Cook
network (arch diehl-cook), the three-factor STDP network (arch three-factor) or the convolutional STDP
network (arch conv-stdp)."""


def _coerce(kind: type, value: Any) -> Any:
    """A value of `kind` from a card (typed) or the command line (a string), never by truncation:
    2.7 is not an int, 5 is not a bool, and a float must be finite."""
    if isinstance(value, str):
        text = value.strip().lower()
        if kind is bool:
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return text in ("true", "1", "yes")
        value = int(text) if kind is int else float(text) if kind is float else value
    if kind is bool and not isinstance(value, bool):
        raise TypeError(value)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise TypeError(value)
        return float(value)
    return kind(value)


@dataclass(frozen=True)
class Option:
    """One rule option: its default, the allowed values (a tuple) or type, a line of help and,
    for numbers, the smallest allowed value (floats default to >= 0)."""

    default: Any
    allowed: tuple[Any, ...] | type
    help: str
    minimum: float | None = None

    def parse(self, rule: str, key: str, value: Any) -> Any:
        """Check (and, from a CLI string, convert) a value; errors name the rule, key and value."""
        if isinstance(self.allowed, tuple):
            if value not in self.allowed:
                raise SpikefaError(f"rule {rule!r} option {key}={value!r} is not allowed: use one of "
                                   f"{', '.join(map(str, self.allowed))}")
            return value
        try:
            out = _coerce(self.allowed, value)
        except (TypeError, ValueError):
            kind = {int: "an integer", float: "a finite number", bool: "true or false"}.get(self.allowed,
                                                                                            self.allowed.__name__)
            raise SpikefaError(f"rule {rule!r} option {key}={value!r} is not allowed; expected {kind}") from None
        if isinstance(out, float) and not out >= 0:
            raise SpikefaError(f"rule {rule!r} option {key}={value!r} must be >= 0")
        if self.minimum is not None and not out >= self.minimum:
            raise SpikefaError(f"rule {rule!r} option {key}={value!r} must be >= {self.minimum:g}")
        return out


@dataclass(frozen=True)
class Request:
    """Everything a converter needs besides the model."""

    feedback: str | None
    seed: int
    input_shape: tuple[int, ...] | None
    scale: float | None
    dist: str
    options: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class ParamGroup:
    """Parameters a rule trains with their own optimiser settings (a Hebbian layer's plain SGD at its
    local rate, so an adaptive optimiser does not hide the rule's dynamics)."""

    params: list[torch.Tensor]
    lr: float
    optimizer: Literal["sgd"] = "sgd"


Converter = Callable[[nn.Module, Request], nn.Module]
GroupsOf = Callable[[nn.Module, Mapping[str, Any]], list[ParamGroup]]


@dataclass(frozen=True)
class Rule:
    """A learning rule: its name, the paper, allowed feedback kinds, options, its converter, the
    models it takes, and what the harness must know about it:

    - ``owns_feedback``: it has feedback matrices (QAT quantizes them with the weights);
    - ``online``: it learns inside ``model.local_step(x, y)`` (returning the loss to log, or None
      when it has none) instead of through ``loss.backward()``;
    - ``unsupervised``: its local learning ignores the labels (no training loss to log); like
      ``online``, a bool or a callable of the converted model (`unsupervised_for`);
    - ``assigns_labels``: after each epoch ``model.assign_labels(x, y)`` reads the training data with
      learning off (label assignment, or fitting a read-out) before evaluation; like ``online``, a
      bool or a callable of the converted model (`assigns_labels_for`);
    - ``ends_epochs``: after each epoch ``model.end_epoch()`` (before label assignment and evaluation):
      a learner whose schedule counts epochs (the competitive rules' annealed local rates and their
      number of local epochs) keeps that count in its own state, so a resumed run continues it;
    - ``param_groups``: parameters it trains with their own optimiser settings;
    - ``layers``: the layer kinds whose learning it defines (None: any, as backprop); `convert`
      refuses a model with another kind of layer that has parameters (normalization layers excepted:
      their backward carries no weight transport), and a layer used at two places.
    """

    name: str
    summary: str
    reference: str
    feedbacks: tuple[str, ...]
    default_feedback: str | None
    apply: Converter
    options: Mapping[str, Option] = field(default_factory=dict)
    takes: tuple[ModelKind, ...] = ("rate", "spiking")
    layers: tuple[type[nn.Module], ...] | None = (nn.Linear, nn.Conv2d)
    owns_feedback: bool = False
    online: bool | Callable[[nn.Module], bool] = False
    unsupervised: bool | Callable[[nn.Module], bool] = False
    assigns_labels: bool | Callable[[nn.Module], bool] = False
    ends_epochs: bool = False
    param_groups: GroupsOf | None = None

    def learns_online(self, model: nn.Module) -> bool:
        """Whether the converted `model` learns in ``local_step`` (online DFA does on spiking nets only)."""
        return self.online(model) if callable(self.online) else self.online

    def unsupervised_for(self, model: nn.Module) -> bool:
        """Whether the converted `model` learns without labels (``stdp`` on the Diehl & Cook network; on
        a spiking network its online-DFA read-out learns from them and logs its loss)."""
        return self.unsupervised(model) if callable(self.unsupervised) else self.unsupervised

    def assigns_labels_for(self, model: nn.Module) -> bool:
        """Whether the converted `model` assigns labels after each epoch (``stdp`` does on the Diehl &
        Cook network only)."""
        return self.assigns_labels(model) if callable(self.assigns_labels) else self.assigns_labels
