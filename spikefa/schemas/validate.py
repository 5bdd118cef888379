"""The one validation style of every frozen config: types from the annotations, ranges by rule.

A config is a frozen dataclass deriving from `Validated`. On construction it

1. normalises what TOML and JSON hand over (lists become tuples, ints become floats where the
   annotation says ``float``), then type-checks every field against its annotation (``Literal``
   vocabularies, ``tuple[int, ...]``, finite ``float``, ``Real`` (a float that may be ±inf), ``int``,
   ``bool``, ``str``, ``X | None``; other annotations are not checked here);
2. runs its own ``check()`` for ranges and relations between fields, each through `require`.

A bad value raises `FieldError`: ``<LABEL> key = value is not allowed; expected <what>``, one line.
Parsers of files (`spikefa.schemas.card.parse_card`, the hardware profiles) re-raise it with the file
and the TOML section in front (`FieldError.located`). No torch here.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import NoneType, UnionType
from typing import Annotated, Any, ClassVar, Literal

from spikefa.errors import ConfigError

Real = Annotated[float, "may be infinite"]
"""A float field that may hold ±inf (an unbounded weight, an infinite time constant); never NaN."""


class FieldError(ConfigError):
    """One field holds a bad value; `located` adds the file and the section it came from."""

    def __init__(self, key: str, value: object, allowed: str, label: str = "") -> None:
        self.key, self.value, self.allowed, self.label = key, value, allowed, label
        prefix = f"{label} " if label else ""
        super().__init__(f"{prefix}{key} = {show(value)} is not allowed; expected {allowed}")

    def labeled(self, label: str) -> FieldError:
        """The same error with a label naming the config (``STDP``, ``LIF``) in front."""
        return FieldError(self.key, self.value, self.allowed, label)

    def located(self, source: str, section: str) -> ConfigError:
        """The same message, prefixed with the file and the dotted key (``defaults.lr``)."""
        return ConfigError(f"{source}: {dotted(section, self.key)} = {show(self.value)} is not allowed; "
                           f"expected {self.allowed}")


def show(value: object) -> str:
    """A value as a TOML file would spell it (``true``, ``[800, -1]``, ``'relu'``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def one_of(names: Mapping[str, object] | tuple[str, ...]) -> str:
    """``one of 'a', 'b'`` for a vocabulary (sorted for a mapping, in order for a tuple)."""
    items = sorted(names) if isinstance(names, Mapping) else list(names)
    return "one of " + ", ".join(repr(n) for n in items)


def choices(literal: Any) -> tuple[str, ...]:
    """The values of a ``Literal`` vocabulary, in order."""
    return tuple(typing.get_args(literal))


# ---------------------------------------------------------------- type checks from annotations


def _is_real(hint: Any) -> bool:
    return typing.get_origin(hint) is Annotated and typing.get_args(hint)[0] is float


def _matches(value: object, hint: Any) -> bool:
    """Whether `value` has the type `hint` names (the few types a config can hold)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return isinstance(value, str) and value in typing.get_args(hint)
    if origin in (UnionType, typing.Union):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is NoneType:
        return value is None
    if origin is tuple:  # tuple[int, ...]
        item = typing.get_args(hint)[0]
        return isinstance(value, tuple) and all(_matches(v, item) for v in value)
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    if _is_real(hint):
        return real and not math.isnan(value)  # type: ignore[arg-type]
    if hint is float:
        return real and math.isfinite(value)  # type: ignore[arg-type]
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (bool, str):
        return isinstance(value, hint)
    return True  # other annotations (mappings, nested configs) are checked by the config itself


def describe(hint: Any) -> str:
    """What an annotation allows, in words."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return one_of(tuple(typing.get_args(hint)))
    if origin in (UnionType, typing.Union):
        return " or ".join(describe(h) for h in typing.get_args(hint))
    if hint is NoneType:
        return "nothing (None)"
    if origin is tuple:
        return f"a list of {describe(typing.get_args(hint)[0])}s"
    if _is_real(hint):
        return "a number"
    names = {float: "a finite number", int: "an integer", bool: "true or false", str: "a string"}
    return names.get(hint, str(hint))


def _coerced(value: object, hint: Any) -> object:
    """Lists become tuples, ints become floats, where the annotation says so."""
    wants = [hint, *typing.get_args(hint)] if typing.get_origin(hint) in (UnionType, typing.Union) else [hint]
    if isinstance(value, list) and any(typing.get_origin(h) is tuple for h in wants):
        return tuple(value)
    if isinstance(value, int) and not isinstance(value, bool) and any(h is float or _is_real(h) for h in wants) \
            and not any(h is int for h in wants):
        return float(value)
    return value


def check_types(obj: Any, skip: tuple[str, ...] = ()) -> None:
    """Normalise, then type-check every dataclass field of `obj` against its annotation."""
    hints = typing.get_type_hints(type(obj), include_extras=True)
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value = _coerced(getattr(obj, f.name), hints[f.name])
        object.__setattr__(obj, f.name, value)
        if not _matches(value, hints[f.name]):
            raise FieldError(f.name, value, describe(hints[f.name]))


def require(key: str, value: object, ok: bool, allowed: str) -> None:
    """Raise `FieldError` for `key` unless `ok`."""
    if not ok:
        raise FieldError(key, value, allowed)


def positive_ints(key: str, values: tuple[int, ...], non_empty: bool) -> None:
    ok = all(v > 0 for v in values) and (bool(values) or not non_empty)
    require(key, values, ok, "a non-empty list of positive integers" if non_empty else "a list of positive integers")


class Validated:
    """Base of every frozen config: `check_types`, then the config's own `check`, on construction.

    ``LABEL`` names the config in messages (``STDP tau_pre = -1 is not allowed; ...``); sections of
    a file leave it empty so the file parser can name the file and section instead.
    ``UNCHECKED`` lists fields whose type the config checks itself.
    """

    LABEL: ClassVar[str] = ""
    UNCHECKED: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        try:
            check_types(self, self.UNCHECKED)
            self.check()
        except FieldError as err:
            raise (err.labeled(self.LABEL) if self.LABEL and not err.label else err) from None

    def check(self) -> None:
        """Ranges and relations between fields (override; call `require`)."""

    def as_dict(self) -> dict[str, Any]:
        """Field name -> value (shallow)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@contextmanager
def located(source: str, section: str) -> Iterator[None]:
    """Re-raise a `FieldError` with the file and section in front."""
    try:
        yield
    except FieldError as err:
        raise err.located(source, section) from None


def keys_of(cls: type, exclude: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(allowed, required) keys of a dataclass, in declaration order."""
    fields = [f for f in dataclasses.fields(cls) if f.name not in exclude]
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    return [f.name for f in fields], required


def check_keys(table: Mapping[str, Any], allowed: list[str], required: list[str], where: tuple[str, str]) -> None:
    """Unknown and missing keys of a table, named with the file and the section."""
    source, section = where
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(f"{source}: unknown key {dotted(section, key)!r} = {show(value)}; "
                              f"allowed keys: {', '.join(allowed)}")
    for key in required:
        if key not in table:
            raise ConfigError(f"{source}: missing required key {dotted(section, key)!r} "
                              f"(no value given); required keys: {', '.join(required)}")


def table_at(value: object, source: str, section: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: {section} = {show(value)} is not allowed; expected a table [{section}]")
    return value


def parse_section(cls: type, value: object, source: str, section: str, exclude: tuple[str, ...] = ()) -> Any:
    """Build dataclass `cls` from the table at `section` (file errors name the file and section)."""
    table = table_at(value, source, section)
    allowed, required = keys_of(cls, exclude)
    check_keys(table, allowed, required, (source, section))
    with located(source, section):
        return cls(**table)
