"""Spike rasters and currents for the cross-checks: numpy arrays both simulators read unchanged.

A raster is a bool array [T, n] (time-major, one row per dt step); Brian2 receives it as
``SpikeGeneratorGroup`` events at ``step·dt`` and spikefa as 0/1 tensors, so both see the same spikes.
"""

from __future__ import annotations

import numpy as np


def poisson(rng: np.random.Generator, steps: int, n: int, rate_hz: float, dt: float) -> np.ndarray:
    """Bernoulli(rate·dt) per step and neuron: a discrete-time Poisson raster [steps, n]."""
    return rng.random((steps, n)) < rate_hz * 1e-3 * dt


def at_steps(steps: int, n: int, spikes: dict[int, list[int]]) -> np.ndarray:
    """A raster [steps, n] with neuron i spiking at the listed steps (``{i: [s0, s1, ...]}``)."""
    raster = np.zeros((steps, n), dtype=bool)
    for i, when in spikes.items():
        raster[np.asarray(when, dtype=int), i] = True
    return raster


def events(raster: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(indices, times in ms) of a raster, sorted by time: what ``SpikeGeneratorGroup`` takes."""
    steps, idx = np.nonzero(raster)
    return idx.astype(np.int64), steps.astype(np.float64) * dt


def raster_from(indices: np.ndarray, times_ms: np.ndarray, steps: int, n: int, dt: float) -> np.ndarray:
    """The inverse of ``events``: spike times (multiples of dt) back to a raster [steps, n]."""
    raster = np.zeros((steps, n), dtype=bool)
    raster[np.rint(np.asarray(times_ms) / dt).astype(int), np.asarray(indices, dtype=int)] = True
    return raster
