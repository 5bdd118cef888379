"""Parsing shared by the command lines (``spikefa.cli`` and the subpackages' ``cli`` modules)."""

from __future__ import annotations

from collections.abc import Sequence

from spikefa.errors import SpikefaError


def comma_items(flag: str, text: str) -> list[str]:
    """``"a, b"`` -> ["a", "b"]: a comma list given to ``flag``. Raises SpikefaError on an empty item
    (``fa,,bp``, a trailing comma) instead of dropping it."""
    items = [v.strip() for v in text.split(",")]
    if not all(items):
        raise SpikefaError(f"{flag} {text!r} has an empty item; give a comma list, e.g. a,b")
    return items


def positive_ints(flag: str, text: str) -> list[int]:
    """``"8,4,2"`` -> [8, 4, 2]: a comma list of integers >= 1 given to ``flag``. Raises SpikefaError
    naming the flag on an empty item, a non-integer or a value below 1."""
    items = comma_items(flag, text)
    try:
        values = [int(v) for v in items]
    except ValueError:
        raise SpikefaError(f"{flag} {text!r} must be a comma list of integers, e.g. 8,4,2") from None
    if any(v < 1 for v in values):
        raise SpikefaError(f"{flag} {text!r} must list integers >= 1")
    return values


def rule_options(pairs: Sequence[str] | None) -> dict[str, str]:
    """``["beta=0.1", "hebbian=oja"]`` (repeated ``--opt``) -> {"beta": "0.1", "hebbian": "oja"}; dashes in
    keys become underscores. The rule checks the values. Raises SpikefaError on a pair without ``=``."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SpikefaError(f"--opt {pair!r} must look like key=value (spikefa list rules shows each rule's options)")
        out[key.strip().replace("-", "_")] = value.strip()
    return out
