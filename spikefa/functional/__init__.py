"""Pure tensor functions (no modules, no state)."""

from spikefa.functional.metrics import angle_degrees

__all__ = ["angle_degrees"]
