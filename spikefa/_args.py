"""Parsing shared by the command lines (``spikefa.cli`` and the subpackages' ``cli`` modules)."""

from __future__ import annotations

from spikefa.errors import SpikefaError


def comma_items(flag: str, text: str) -> list[str]:
    """``"a, b"`` -> ["a", "b"]: a comma list given to ``flag``. Raises SpikefaError on an empty item
    (``fa,,bp``, a trailing comma) instead of dropping it."""
    items = [v.strip() for v in text.split(",")]
    if not all(items):
        raise SpikefaError(f"{flag} {text!r} has an empty item; give a comma list, e.g. a,b")
    return items
