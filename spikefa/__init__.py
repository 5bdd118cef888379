"""spikefa: biologically plausible learning rules for rate-coded and spiking networks."""

from spikefa._version import __version__
from spikefa.nn.build import build
from spikefa.rules.registry import convert

__all__ = ["__version__", "build", "convert"]
