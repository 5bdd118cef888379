"""Spike rasters and currents for the cross-checks: numpy arrays both simulators read unchanged.

A raster is a bool array [T, n] (time-major, one row per dt step); Brian2 receives it as
``SpikeGeneratorGroup`` events at ``step·dt`` and spikefa as 0/1 tensors, so both see the same spikes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikefa.errors import ConfigError


def check_steps(caller: str, steps: Any, name: str = "steps") -> None:
    """A number of time steps must be an int >= 1: a one-line ConfigError naming `name` otherwise."""
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ConfigError(f"{caller}: {name} = {steps!r} is not allowed; expected an integer >= 1 (time steps)")


def check_time_major(caller: str, **arrays: Any) -> int:
    """Each array is time-major [T, n] with the same T >= 1; returns T. A one-line ConfigError
    naming the argument otherwise (an empty sequence would pass every comparison vacuously)."""
    lengths = {}
    for name, value in arrays.items():
        shape = np.shape(value)
        if len(shape) != 2:
            raise ConfigError(f"{caller}: {name} has shape {shape}; expected time-major [T, n]")
        if shape[0] == 0:
            raise ConfigError(f"{caller}: {name} has T = 0 time steps (shape {shape}); give at least one step")
        lengths[name] = shape[0]
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k} T = {v}" for k, v in lengths.items())
        raise ConfigError(f"{caller}: the time axes differ ({listed}); give every input the same T")
    return next(iter(lengths.values()))


def poisson(rng: np.random.Generator, steps: int, n: int, rate_hz: float, dt: float) -> np.ndarray:
    """Bernoulli(rate·dt) per step and neuron (rate in Hz, dt in ms): a discrete-time Poisson raster
    [steps, n]."""
    check_steps("trains.poisson", steps)
    return rng.random((steps, n)) < rate_hz * 1e-3 * dt


def at_steps(steps: int, n: int, spikes: dict[int, list[int]]) -> np.ndarray:
    """A raster [steps, n] with neuron i spiking at the listed steps (``{i: [s0, s1, ...]}``)."""
    check_steps("trains.at_steps", steps)
    raster = np.zeros((steps, n), dtype=bool)
    for i, when in spikes.items():
        raster[np.asarray(when, dtype=int), i] = True
    return raster


def events(raster: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(indices, times in ms) of a raster, sorted by time: what ``SpikeGeneratorGroup`` takes."""
    steps, idx = np.nonzero(raster)
    return idx.astype(np.int64), steps.astype(np.float64) * dt


def raster_from(indices: np.ndarray, times_ms: np.ndarray, steps: int, n: int, dt: float) -> np.ndarray:
    """The inverse of ``events``: spike times (multiples of dt ms) back to a raster [steps, n]."""
    check_steps("trains.raster_from", steps)
    raster = np.zeros((steps, n), dtype=bool)
    raster[np.rint(np.asarray(times_ms) / dt).astype(int), np.asarray(indices, dtype=int)] = True
    return raster
