"""Compare converted (synthetic) event recordings with a real N-MNIST recording, on statistics.

Quantities and tolerances (synthetic vs real; several synthetic recordings are averaged):
event count within ±35 % of the real count; duration (last minus first timestamp) within ±10 %;
ON fraction within ±0.10; and the three saccades (split by time at multiples of `saccade_us`,
105 ms in N-MNIST, Orchard et al. 2015) each holding 20-45 % of the synthetic events.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spikefa.errors import DataError

COUNT_TOL = 0.35
DURATION_TOL = 0.10
ON_FRACTION_TOL = 0.10
SACCADE_SHARE = (0.20, 0.45)


def event_stats(events: np.ndarray, saccade_us: int = 105_000, n_saccades: int = 3) -> dict[str, float]:
    """count, duration_us (last - first t), on_fraction, and saccade_<i> (share of events in saccade i)."""
    t = np.asarray(events["t"], dtype=np.int64)
    n = int(t.size)
    stats: dict[str, float] = {
        "count": float(n),
        "duration_us": float(t.max() - t.min()) if n else 0.0,
        "on_fraction": float(np.mean(np.asarray(events["p"]) > 0)) if n else 0.0,
    }
    which = np.clip(t // saccade_us, 0, n_saccades - 1)
    shares = np.bincount(which, minlength=n_saccades) / max(n, 1)
    for i, share in enumerate(shares):
        stats[f"saccade_{i}"] = float(share)
    return stats


def mean_stats(
    recordings: Sequence[np.ndarray], saccade_us: int = 105_000, n_saccades: int = 3
) -> dict[str, float]:
    """`event_stats` averaged over several recordings (at least one)."""
    if len(recordings) == 0:
        raise DataError("mean_stats: recordings is empty; pass at least one structured event array")
    all_stats = [event_stats(ev, saccade_us, n_saccades) for ev in recordings]
    return {key: float(np.mean([s[key] for s in all_stats])) for key in all_stats[0]}


def _relative(real: float, synth: float, tol: float) -> dict[str, object]:
    error = abs(synth - real) / real if real else float("inf")
    return {"real": real, "synth": synth, "tolerance": f"±{tol:.0%}", "pass": bool(error <= tol)}


def validate_against(
    real_events: np.ndarray,
    synth_events: np.ndarray | Sequence[np.ndarray],
    saccade_us: int = 105_000,
    n_saccades: int = 3,
) -> dict[str, object]:
    """Report {quantity: {real, synth, tolerance, pass}} plus "pass" (all quantities pass).

    `synth_events` is one structured array or a sequence of them (their statistics are averaged).
    """
    synth_list = [synth_events] if isinstance(synth_events, np.ndarray) else list(synth_events)
    if not synth_list:
        raise DataError("validate_against: synth_events is empty; pass one or more event arrays")
    real = event_stats(real_events, saccade_us, n_saccades)
    synth = mean_stats(synth_list, saccade_us, n_saccades)
    report: dict[str, object] = {
        "count": _relative(real["count"], synth["count"], COUNT_TOL),
        "duration_us": _relative(real["duration_us"], synth["duration_us"], DURATION_TOL),
        "on_fraction": {
            "real": real["on_fraction"],
            "synth": synth["on_fraction"],
            "tolerance": f"±{ON_FRACTION_TOL}",
            "pass": abs(synth["on_fraction"] - real["on_fraction"]) <= ON_FRACTION_TOL,
        },
    }
    low, high = SACCADE_SHARE
    for i in range(n_saccades):
        key = f"saccade_{i}"
        report[key] = {
            "real": real[key],
            "synth": synth[key],
            "tolerance": f"{low:.0%}-{high:.0%} of events",
            "pass": low <= synth[key] <= high,
        }
    report["pass"] = all(entry["pass"] for entry in report.values() if isinstance(entry, dict))
    return report
