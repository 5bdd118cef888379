"""Optional dependencies behind one door: a missing extra names the extra to install."""

from __future__ import annotations

import importlib
import importlib.util
import sys
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
    "biotorch": ("peers", "BioTorch in bench peers (then: pip install --no-deps biotorch==0.0.16)"),
    "bindsnet": ("peers", "BindsNET in bench peers (then: pip install --no-deps bindsnet==0.3.4)"),
}

# Packages whose own __init__ imports far more than spikefa uses: bindsnet's imports torchvision
# (whose PyPI wheel is built against a CUDA torch and fails to load beside the CPU build) and gym
# environments; its network, models and encoders need neither. For these the package is entered
# as a bare namespace (its __init__ skipped) and the listed submodules are imported first, in the
# order the package's own __init__ would reach them (bindsnet.network before bindsnet.learning).
_SKIP_INIT: dict[str, tuple[str, ...]] = {"bindsnet": ("bindsnet.network",)}


def _enter_without_init(package: str) -> None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"No module named {package!r}")
    bare = ModuleType(package)
    bare.__path__ = list(spec.submodule_search_locations)
    bare.__file__ = spec.origin
    sys.modules[package] = bare
    try:
        for first in _SKIP_INIT[package]:
            importlib.import_module(first)
    except BaseException:
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
        raise


class MissingExtraError(SpikefaError, ImportError):
    """An optional dependency is not installed."""


def require(module: str) -> ModuleType:
    """Import `module`, or raise one line saying which spikefa extra provides it."""
    top = module.partition(".")[0]
    try:
        if top in _SKIP_INIT and top not in sys.modules:
            _enter_without_init(top)
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        extra, purpose = _EXTRAS.get(module, _EXTRAS.get(top, ("all", module)))
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
