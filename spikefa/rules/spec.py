"""The shape of a learning rule in the registry: options, conversion request, rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from torch import nn

from spikefa.errors import SpikefaError


ONLINE_ERRORS = ("count", "membrane")
"""What the broadcast error is the gradient of, at a broadcast step t: ``count`` (the default),
the cross-entropy of the running read-out (spike counts up to t, as `scores` reads the network),
through the surrogate of the output spikes; ``membrane``, the cross-entropy of the output
membranes U_L[t]."""


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
            if self.allowed is bool and isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            out = self.allowed(value)
        except (TypeError, ValueError):
            raise SpikefaError(f"rule {rule!r} option {key}={value!r} is not a {self.allowed.__name__}") from None
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


Converter = Callable[[nn.Module, Request], nn.Module]


@dataclass(frozen=True)
class Rule:
    """A learning rule: its name, the paper, allowed feedback kinds, options and its converter."""

    name: str
    summary: str
    reference: str
    feedbacks: tuple[str, ...]
    default_feedback: str | None
    apply: Converter
    options: Mapping[str, Option] = field(default_factory=dict)
