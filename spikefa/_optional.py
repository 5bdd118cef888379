"""Optional dependencies behind one door: a missing extra names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from spikefa.errors import SpikefaError

# module name -> (extra, what it is used for)
_EXTRAS: dict[str, tuple[str, str]] = {
    "matplotlib": ("plot", "plots"),
    "brian2": ("crosscheck", "Brian2 cross-checks"),
    "tonic": ("events", "tonic datasets"),
    "onnx": ("export", "ONNX export"),
    "onnxruntime": ("export", "ONNX verification"),
    "nir": ("export", "NIR export"),
    "nirtorch": ("export", "NIR import into snnTorch"),
    "numba": ("jit", "the compiled Diehl & Cook loop"),
}


class MissingExtraError(SpikefaError, ImportError):
    """An optional dependency is not installed."""


def require(module: str) -> ModuleType:
    """Import `module`, or raise one line saying which spikefa extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        extra, purpose = _EXTRAS.get(module, ("all", module))
        raise MissingExtraError(
            f"{module} is not installed: install spikefa[{extra}] to use {purpose}"
        ) from exc


def available(module: str) -> bool:
    """True when `module` can be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
