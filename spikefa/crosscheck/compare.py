"""The comparison protocol: one ``Record`` per (case, quantity, reference), and how it is measured.

* ``max_abs``: the largest |ours − reference| over every time step and element.
* ``max_rel``: ``max_abs`` divided by the largest |reference| (relative to the quantity's scale, so
  weights sitting at a bound of 0 do not divide by zero).
* ``first_step``: the first time step (0-based, one per dt) where the deviation exceeds the
  tolerance, None when it never does; for spikes, the first step whose rasters differ.
* ``passed``: max_abs ≤ tolerance. A record with ``enforced = False`` is reported for information
  (e.g. how far the nearest-spike mode is from Brian2's all-to-all synapse) and never fails a run:
  a mode with other semantics is *expected* to differ from that synapse (``verdict``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spikefa.errors import ConfigError


@dataclass(frozen=True)
class Record:
    """One measured deviation; ``as_json`` gives the CLI's JSON record."""

    case: str
    quantity: str
    reference: str
    max_abs: float
    max_rel: float
    first_step: int | None
    tolerance: float
    passed: bool
    enforced: bool = True
    note: str = ""

    @property
    def failed(self) -> bool:
        """True when this record makes the cross-check fail."""
        return self.enforced and not self.passed

    @property
    def verdict(self) -> str:
        """"pass" / "FAIL" for an enforced record; for an informational one, whether the expected
        difference (other semantics, stated in ``note``) showed up in this case."""
        if self.enforced:
            return "pass" if self.passed else "FAIL"
        return "differs, as expected (other semantics)" if not self.passed else "no difference here (not triggered)"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.case, "quantity": self.quantity, "reference": self.reference,
                "max_abs": self.max_abs, "max_rel": self.max_rel, "first_step": self.first_step,
                "tolerance": self.tolerance, "pass": self.passed if self.enforced else None,
                "exceeds": not self.passed, "enforced": self.enforced, "verdict": self.verdict, "note": self.note}


def _nonempty(caller: str, quantity: str, ours: np.ndarray) -> None:
    """A comparison over no time steps would pass vacuously: refuse T = 0."""
    if ours.ndim == 0 or len(ours) == 0:
        raise ConfigError(f"{caller}: {quantity} has shape {ours.shape}, T = 0 time steps; "
                          "give time-major arrays [T >= 1, ...]")


def series(case: str, quantity: str, ours: np.ndarray, ref: np.ndarray, tolerance: float, reference: str,
           enforced: bool = True, note: str = "", every: int = 1) -> Record:
    """Compare two time-major arrays [T, ...] of the same shape (row k = time step k·every)."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        raise ConfigError(f"compare.series: cannot compare {quantity}: shapes {ours.shape} and {ref.shape} differ")
    _nonempty("compare.series", quantity, ours)
    dev = np.abs(ours - ref).reshape(len(ours), -1) if ours.size else np.zeros((len(ours), 0))
    dev = np.where(np.isnan(dev), np.inf, dev)  # a NaN on one side is a failure, never a pass
    max_abs = float(dev.max()) if dev.size else 0.0
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    over = np.nonzero((dev > tolerance).any(axis=1))[0]
    return Record(case, quantity, reference, max_abs, max_abs / scale if scale > 0 else max_abs,
                  int(over[0]) * every if over.size else None, float(tolerance), max_abs <= tolerance, enforced, note)


def spikes(case: str, ours: np.ndarray, ref: np.ndarray, reference: str = "brian2") -> Record:
    """Compare two bool rasters [T, N]: max_abs = number of differing (step, neuron) entries, tolerance 0."""
    ours, ref = np.asarray(ours, dtype=bool), np.asarray(ref, dtype=bool)
    if ours.shape != ref.shape:
        raise ConfigError(f"compare.spikes: cannot compare spike_times: shapes {ours.shape} and {ref.shape} differ")
    _nonempty("compare.spikes", "spike_times", ours)
    diff = ours != ref
    count = int(diff.sum())
    rows = np.nonzero(diff.any(axis=1))[0]
    note = f"{int(ref.sum())} reference spikes, {int(ours.sum())} ours"
    return Record(case, "spike_times", reference, float(count), count / max(int(ref.sum()), 1),
                  int(rows[0]) if rows.size else None, 0.0, count == 0, True, note)


def scalar(case: str, quantity: str, ours: float, ref: float, tolerance: float, reference: str,
           scale: float, note: str = "") -> Record:
    """Compare two numbers; max_rel is relative to `scale` (given, as the quantity may be near 0)."""
    dev = float(abs(ours - ref)) if np.isfinite(ours) and np.isfinite(ref) else float("inf")
    return Record(case, quantity, reference, dev, dev / scale if scale > 0 else dev, None,
                  float(tolerance), bool(dev <= tolerance), True, note)
